"""Load and validate the versioned YAML acceptance spec written by a contract owner.

The top level: the `Spec` a run is judged by, `load_spec`/`parse_spec`, and the names other
code imports from here (each section's options live in its own `spec_*` module).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from acceptance.engine.runtime_choice import RuntimeName, parse_runtime

# The names importers use, kept here as the spec's one front door.
from acceptance.engine.spec_accessibility import (
    ACCESSIBILITY_STANDARDS,
    DEFAULT_SERVE_WAIT,
    MAX_ACCESSIBILITY_IGNORES,
    MAX_ACCESSIBILITY_PAGES,
    MAX_SERVE_ARGS,
    MAX_SERVE_COMMAND_CHARS,
    MAX_SERVE_PATH_CHARS,
    MAX_SERVE_PORT,
    MAX_SERVE_WAIT,
    MIN_SERVE_PORT,
    MIN_SERVE_WAIT,
    AccessibilityImpact,
    AccessibilityServe,
    AccessibilitySpec,
    read_accessibility,
)
from acceptance.engine.spec_fields import (
    MAX_NAME_BYTES,
    MAX_PATH_CHARS,
    MAX_PATHS,
    MAX_SIZE,
    SpecError,
    check_keys,
    read_section,
)
from acceptance.engine.spec_functional import (
    FLAKY_POLICIES,
    FUNCTIONAL_KEYS,
    HIDDEN_FEEDBACK_LEVELS,
    MAX_RERUNS,
    read_functional,
)
from acceptance.engine.spec_hidden import (
    MAX_HIDDEN_BYTES,
    MAX_HIDDEN_DIRS,
    MAX_HIDDEN_FILES,
    MAX_TREE_PROBLEMS,
    hash_tree,
    hidden_hash,
    hidden_tests_name_problem,
    read_hidden_inventory,
)
from acceptance.engine.spec_licence import (
    LICENCE_DEPENDENCY_MODES,
    MAX_LICENCE_ID_CHARS,
    MAX_LICENCES,
    read_licence,
)
from acceptance.engine.spec_limits import (
    INSTALL_KEYS,
    LIMIT_KEYS,
    MAX_CPUS,
    MAX_REQUIREMENT_CHARS,
    MAX_REQUIREMENTS,
    MAX_TIMEOUT,
    InstallSpec,
    Limits,
    read_install,
    read_limits,
)
from acceptance.engine.spec_quality import (
    MAX_QUALITY_RULES,
    QUALITY_ANY,
    QUALITY_SUPPRESSIONS,
    quality_selector_problem,
    read_quality,
)
from acceptance.engine.spec_security import (
    MAX_ADVISORY_IGNORES,
    MAX_DATA_AGE,
    MIN_DATA_AGE,
    SecuritySpec,
    parse_age,
    read_security,
)
from acceptance.engine.spec_yaml import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_SPEC_BYTES,
    canonical_json,
    dump_canonical,
    json_problems,
    load_document,
)
from acceptance.quoting import CONTROL_RE, describe, describe_int, os_reason
from acceptance.sizes import parse_size
from checks.options import (
    QUALITY_DEFAULT_RULES,
    DependencyAuditSpec,
    FunctionalSpec,
    LicenceSpec,
    QualityLevel,
    QualitySpec,
    SastSpec,
    Severity,
)

SUPPORTED_VERSIONS: frozenset[int] = frozenset({1})
MAX_TITLE_CHARS = 200
TOP_KEYS = (
    "version", "title", "functional", "install", "limits", "security", "licence", "quality",
    "accessibility", "runtime",
)  # fmt: skip


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


def load_spec(path: Path) -> Spec:
    """Read, parse and validate the spec file at ``path``; its folder is the base dir."""
    origin = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise SpecError([f"file: cannot read {origin}: {os_reason(exc)}"], origin=origin) from None
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
    document = load_document(text, origin)
    if not isinstance(document, dict):
        problem = f"document: the top level must be a mapping of keys, got {describe(document)}"
        raise SpecError([problem], origin=origin)
    problems: list[str] = []
    version = _version(document, problems)
    if version is not None and version not in SUPPORTED_VERSIONS:
        # Later versions may add fields; judging them by version 1 rules would only mislead.
        raise SpecError(problems, origin=origin)
    check_keys(document, "", TOP_KEYS, problems)
    title = _title(document, problems)
    functional = read_functional(
        read_section(document, "functional", FUNCTIONAL_KEYS, problems), base_dir, problems
    )
    install = read_install(read_section(document, "install", INSTALL_KEYS, problems), problems)
    limits = read_limits(read_section(document, "limits", LIMIT_KEYS, problems), problems)
    if functional.timeout > limits.timeout:
        problems.append(
            f"functional.timeout: {functional.timeout} seconds exceeds limits.timeout "
            f"({limits.timeout}); raise limits.timeout or lower functional.timeout"
        )
    security = read_security(document.get("security"), problems)
    licence = read_licence(document.get("licence"), problems)
    quality = read_quality(document.get("quality"), problems)
    accessibility = read_accessibility(document.get("accessibility"), problems)
    runtime = parse_runtime(document, problems)
    if runtime is RuntimeName.SHELL and functional.hidden_tests is not None:
        problems.append(
            "functional.hidden_tests: hidden tests run with pytest, so only a python runtime "
            "takes them for now; remove them or the shell runtime"
        )
    hidden_sha = hidden_hash(functional.hidden_tests, problems)
    hidden_ids = read_hidden_inventory(functional.hidden_tests, problems) if hidden_sha else ()
    json_problems(document, "", problems)
    if problems:
        raise SpecError(problems, origin=origin)
    return Spec(
        version=version if version is not None else 1,
        title=title,
        functional=functional,
        install=install,
        limits=limits,
        sha256=hashlib.sha256(dump_canonical(document)).hexdigest(),
        hidden_tests_sha256=hidden_sha,
        path=None,
        security=security,
        licence=licence,
        quality=quality,
        accessibility=accessibility,
        hidden_test_ids=hidden_ids,
        runtime=runtime,
    )


def _version(document: dict[object, object], problems: list[str]) -> int | None:
    """Return the declared version, or ``None`` when it is missing or malformed."""
    if "version" not in document:
        problems.append("version: required; add `version: 1` at the top of the spec")
        return None
    value = document["version"]
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"version: must be an integer such as 1, got {describe(value)}")
        return None
    if value not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        problems.append(
            f"version: unsupported version {describe_int(value)}; "
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
        problems.append(f"title: must be a string, got {describe(value)}")
        return ""
    title = value.strip()
    if not title:
        problems.append("title: must not be empty")
    elif len(title) > MAX_TITLE_CHARS:
        problems.append(f"title: must be at most {MAX_TITLE_CHARS} characters, got {len(title)}")
    elif CONTROL_RE.search(title):
        problems.append("title: must be a single line without control characters")
    return title


__all__ = [
    "ACCESSIBILITY_STANDARDS",
    "AccessibilityImpact",
    "AccessibilityServe",
    "AccessibilitySpec",
    "DEFAULT_SERVE_WAIT",
    "DependencyAuditSpec",
    "FLAKY_POLICIES",
    "FunctionalSpec",
    "HIDDEN_FEEDBACK_LEVELS",
    "InstallSpec",
    "LICENCE_DEPENDENCY_MODES",
    "LicenceSpec",
    "Limits",
    "MAX_ACCESSIBILITY_IGNORES",
    "MAX_ACCESSIBILITY_PAGES",
    "MAX_ADVISORY_IGNORES",
    "MAX_ALIASES",
    "MAX_CPUS",
    "MAX_DATA_AGE",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "MAX_HIDDEN_BYTES",
    "MAX_HIDDEN_DIRS",
    "MAX_HIDDEN_FILES",
    "MAX_LICENCES",
    "MAX_LICENCE_ID_CHARS",
    "MAX_NAME_BYTES",
    "MAX_PATHS",
    "MAX_PATH_CHARS",
    "MAX_QUALITY_RULES",
    "MAX_REQUIREMENTS",
    "MAX_REQUIREMENT_CHARS",
    "MAX_RERUNS",
    "MAX_SERVE_ARGS",
    "MAX_SERVE_COMMAND_CHARS",
    "MAX_SERVE_PATH_CHARS",
    "MAX_SERVE_PORT",
    "MAX_SERVE_WAIT",
    "MAX_SIZE",
    "MAX_SPEC_BYTES",
    "MAX_TIMEOUT",
    "MAX_TITLE_CHARS",
    "MAX_TREE_PROBLEMS",
    "MIN_DATA_AGE",
    "MIN_SERVE_PORT",
    "MIN_SERVE_WAIT",
    "QUALITY_ANY",
    "QUALITY_DEFAULT_RULES",
    "QUALITY_SUPPRESSIONS",
    "QualityLevel",
    "QualitySpec",
    "SUPPORTED_VERSIONS",
    "SastSpec",
    "SecuritySpec",
    "Severity",
    "Spec",
    "SpecError",
    "canonical_json",
    "hash_tree",
    "hidden_tests_name_problem",
    "load_spec",
    "parse_age",
    "parse_size",
    "parse_spec",
    "quality_selector_problem",
]
