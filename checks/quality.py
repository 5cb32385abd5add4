"""The quality check: ruff inside the sandbox with the owner's rules, judged on the host.

ruff parses supplier files, so it only ever runs inside the sandbox, from the image's tools
venv (pinned in sandbox/image.py, never the supplier's), through a small driver
(``_DRIVER``):

* **No supplier configuration.** ``--isolated`` ignores every ``pyproject.toml``,
  ``ruff.toml`` and ``.ruff.toml`` of the delivery (``select``, ``ignore``,
  ``extend-exclude``, ``per-file-ignores``...); the rules are the owner's ``--select``.
  ``--no-respect-gitignore`` and an explicit ``--exclude`` (which replaces ruff's default
  list: ``build``, ``venv``, ``dist``...) keep a delivery from hiding files by name.
* **No supplier suppression either, unless the spec lets it stand.** ``--ignore-noqa``
  makes ruff list every finding; the driver collects the comments that look like
  suppressions with ``tokenize`` (comments only, never strings) and the host decides with
  checks/suppressions.py which ones count (``quality.suppressions``).
* **Two outputs, both untrusted.** ruff's JSON and the driver's own JSON (version, files,
  comments) are read through byte caps and parsed defensively; paths are made relative to
  the checkout and text is cleaned and capped. The SARIF artifact is written here, on the
  host, from the validated findings.

A check that cannot judge (ruff missing, crashed, its output unreadable) is an ``error``,
never a pass.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from acceptance.engine.spec import QualityLevel, QualitySpec
from checks import ruff_rules
from checks.hidden_inventory import HIDDEN_DIR_NAME
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.sast import MAX_PATH_CHARS, _clean
from checks.suppressions import Suppression, covering, suppressions_in_file
from sandbox.interface import Sandbox, SandboxLimitError

CHECK_ID = "quality"
KIND = "quality"
TOOLS_RUFF = "/opt/acceptance/tools/bin/ruff"
TOOLS_PYTHON = "/opt/acceptance/tools/bin/python"
OUT_SUBDIR = "quality"
RUFF_REPORT = "ruff.json"
DRIVER_REPORT = "comments.json"
ARTIFACT_NAME = "quality.sarif"
MAX_RUFF_BYTES = 20 * 1024**2
MAX_DRIVER_BYTES = 20 * 1024**2
MAX_RESULTS = 100_000
MAX_COMMENTS = 50_000
MAX_COMMENT_CHARS = 2_000
MAX_FILES = 200_000
MAX_LISTED_FINDINGS = 500
MAX_LISTED_SUPPRESSIONS = 500
MAX_SUMMARY_LOCATIONS = 5
MAX_MESSAGE_CHARS = 300
RULE_URL_PREFIX = "https://docs.astral.sh/ruff/rules/"
#: finding rules the engine adds for suppressions the spec does not let stand
UNJUSTIFIED = "UNJUSTIFIED_SUPPRESSION"
FORBIDDEN = "FORBIDDEN_SUPPRESSION"
#: ruff's code for a file it cannot parse
SYNTAX_ERROR = "invalid-syntax"
#: finding rules the engine adds for files ruff did not lint as Python reads them
SOURCE_ENCODING = "ENCODING"
UNLINTED_FILE = "UNLINTED"
#: the check's reason when a delivered file keeps ruff from judging (crash, flood of findings)
UNJUDGEABLE = "QUALITY_UNJUDGEABLE"
#: Rust's exit code for a panic; a negative code is a signal (a stack overflow aborts)
RUST_PANIC_EXIT = 101
_CRASH_WORDS = ("panicked", "overflowed its stack", "stack overflow", "fatal runtime error")
#: characters a displayed path spells as an escape, so that two different files never look alike
_PATH_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

#: ruff's rule categories, ranked: what is wrong outright, what is likely wrong, what is taste
LEVEL_OF_CATEGORY: Mapping[str, QualityLevel] = {
    "correctness": QualityLevel.ERROR,
    "security": QualityLevel.ERROR,
    "suspicious": QualityLevel.WARNING,
    "performance": QualityLevel.WARNING,
    "complexity": QualityLevel.WARNING,
    "style": QualityLevel.STYLE,
    "formatting": QualityLevel.STYLE,
    "pedantic": QualityLevel.STYLE,
    "restriction": QualityLevel.STYLE,
}
_RUFF_CODE_RE = re.compile(r"[A-Z]{1,6}[0-9]{1,5}")
_RUFF_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_VERSION_RE = re.compile(r"ruff (\d+\.\d+\.\d+)")

# Runs as `python -I -c _DRIVER RUFF TARGET OUT SELECT EXCLUDE` with the tools venv.
# argv only: nothing from the checkout is read as configuration. ruff writes its JSON
# itself; the driver writes the version, ruff's exit codes and the suppression-like
# comments of every Python file ruff checked.
_DRIVER = r"""
import codecs, importlib.machinery, io, json, os, re, subprocess, sys, tokenize
ruff, target, out, select, exclude = sys.argv[1:6]
os.makedirs(out, exist_ok=True)
lint_json = os.path.join(out, "ruff.json")
status_json = os.path.join(out, "comments.json")
for stale in (lint_json, lint_json + ".tmp", status_json, status_json + ".tmp"):
    try:
        os.unlink(stale)
    except FileNotFoundError:
        pass
status = {}
common = [ruff, "check", "--isolated", "--no-cache", "--no-respect-gitignore", "--force-exclude",
          "--select", select, "--exclude", exclude]
version = subprocess.run([ruff, "--version"], capture_output=True, text=True, timeout=120)
status["version"] = version.stdout.strip()[:100]
lint = subprocess.run(
    common + ["--ignore-noqa", "--exit-zero", "--output-format", "json", "--output-file", lint_json, target],
    cwd=target, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
)
status["lint_exit"] = lint.returncode
status["lint_stderr"] = lint.stderr[-2000:]
# Only what the host reads, so that many findings still fit the byte cap.
keep = ("code", "filename", "location", "message", "name", "noqa_row", "url")
try:
    with open(lint_json, encoding="utf-8") as handle:
        found = json.load(handle)
    with open(lint_json + ".tmp", "w", encoding="utf-8") as handle:
        json.dump([{k: item.get(k) for k in keep} for item in found], handle)
    os.replace(lint_json + ".tmp", lint_json)
except Exception as exc:
    status["compact_error"] = repr(exc)[:300]
listing = subprocess.run(common + ["--show-files", target], cwd=target, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, errors="replace")
status["files_exit"] = listing.returncode
files = [line for line in listing.stdout.splitlines() if line.startswith("/")]
status["files"] = len(files)
pattern = re.compile(r"noqa|(?:ruff|flake8|isort)\s*:", re.I)
comments, problems, encodings, sources = [], [], [], {}
# ruff reads every file as UTF-8 and ignores coding cookies; Python honours them. A file in
# another encoding is either unlinted (ruff cannot decode it) or linted as other text than
# Python runs (UTF-7 hides code in what ruff takes for a comment): the host blocks on both.
# CPython ends a line at a bare CR too, tokenize's readline only at LF: the cookie and the
# comments are read from the text with every line end made LF, as Python sees the lines.
for name in files:
    if not name.endswith((".py", ".pyi")):
        continue
    try:
        with open(name, "rb") as handle:
            data = handle.read()
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        declared = tokenize.detect_encoding(io.BytesIO(lines).readline)[0]
        data.decode("utf-8")
        if codecs.lookup(declared).name not in ("utf-8", "utf-8-sig", "ascii"):
            encodings.append([name, "declares " + declared[:40]])
        else:
            sources[name] = lines
    except UnicodeDecodeError:
        encodings.append([name, "not UTF-8"])
    except Exception as exc:
        encodings.append([name, type(exc).__name__])
    if len(encodings) >= 1000:
        break
status["encodings"] = encodings
# Files Python imports that are not source (bytecode, which an unchecked-hash .pyc makes run
# instead of the linted .py, and extension modules): ruff never reads them.
compiled_suffixes = tuple(importlib.machinery.BYTECODE_SUFFIXES + importlib.machinery.EXTENSION_SUFFIXES)
skipped_dirs = set(exclude.split(","))
compiled = []
for folder, dirs, names in os.walk(target):
    dirs[:] = sorted(d for d in dirs if os.path.join(folder, d) not in skipped_dirs)
    in_cache = os.path.basename(folder) == "__pycache__"
    compiled += [os.path.join(folder, n) for n in sorted(names) if in_cache or n.endswith(compiled_suffixes)]
    if len(compiled) >= 1000:
        break
status["compiled"] = compiled[:1000]
# Files ruff skipped with only a warning (its io-error rule is the owner's to select).
status["unlinted"] = [line.split("Failed to lint ", 1)[1][:2000]
                      for line in lint.stderr.splitlines() if "Failed to lint " in line][:1000]
# Past the cap, or after a tokenize error, comments go unread: the host does not judge such
# a delivery, since isort's action comments act whether or not the engine read them.
status["comments_truncated"] = False
for name, lines in sources.items():
    try:
        for token in tokenize.tokenize(io.BytesIO(lines).readline):
            if token.type == tokenize.COMMENT and pattern.search(token.string):
                if len(comments) >= 50000:
                    status["comments_truncated"] = True
                    break
                comments.append([name, token.start[0], token.string[:2000]])
    except Exception as exc:
        problems.append([name, type(exc).__name__])
    if status["comments_truncated"]:
        break
status["comments"] = comments
status["comment_errors"] = problems[:1000]
with open(status_json + ".tmp", "w", encoding="utf-8") as handle:
    json.dump(status, handle)
os.replace(status_json + ".tmp", status_json)
"""


class _Invalid(Exception):
    """The output is not what ruff or the driver writes."""


class _TooManyFindings(Exception):
    """ruff found more than the engine reads: the delivery, not the platform, is the cause."""


@dataclass(frozen=True)
class Finding:
    """One ruff finding (or a suppression the spec does not let stand), sanitised."""

    rule: str
    name: str
    level: QualityLevel
    file: str
    line: int
    column: int
    message: str
    url: str | None
    #: the suppression that silences it, when the spec lets that suppression stand
    suppressed_by: Suppression | None = None

    def to_report(self, blocking: bool) -> dict[str, object]:
        """The finding as listed in the check's details."""
        entry: dict[str, object] = {
            "rule": self.rule,
            "name": self.name,
            "level": self.level.value,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "url": self.url,
            "suppressed": self.suppressed_by is not None,
            "blocking": blocking,
        }
        if self.suppressed_by is not None:
            entry["suppression_reason"] = self.suppressed_by.reason
        return entry


# ---------------------------------------------------------------- sandbox side


def excluded_paths(spec: QualitySpec, *, target: str) -> list[str]:
    """Absolute paths ruff skips: .git, the hidden tests' name, and the spec's."""
    root = target.rstrip("/")
    # The pipeline refuses a delivery with the hidden tests' name: excluded only for safety.
    paths = [f"{root}/.git", f"{root}/{HIDDEN_DIR_NAME}"]
    for rel in spec.exclude:
        clean = rel.strip().strip("/")
        while clean.startswith("./"):
            clean = clean[2:]
        if clean and clean != "." and ".." not in clean.split("/"):
            paths.append(f"{root}/{clean}")
    return list(dict.fromkeys(paths))


def quality_command(spec: QualitySpec, *, target: str, out_dir: str) -> list[str]:
    """The argv run inside the sandbox: the driver through the tools venv, isolated."""
    return [
        TOOLS_PYTHON,
        "-I",
        "-c",
        _DRIVER,
        TOOLS_RUFF,
        target,
        f"{out_dir.rstrip('/')}/{OUT_SUBDIR}",
        ",".join(spec.rules),
        ",".join(excluded_paths(spec, target=target)),
    ]


def run_quality(
    sandbox: Sandbox,
    spec: QualitySpec,
    *,
    timeout: float,
    target: str = "/work/src",
    out_dir: str = "/work/out",
) -> CheckOutcome:
    """Lint the checkout at ``target`` inside ``sandbox`` and judge the output on the host."""
    if not spec.enabled:
        return _skipped()
    result = sandbox.run(
        quality_command(spec, target=target, out_dir=out_dir),
        timeout=timeout,
        workdir="/tmp",
        max_output=64 * 1024,
    )
    if result.timed_out:
        return _failed(
            spec, CheckStatus.FAILED, "TIMEOUT", f"ruff did not finish within {timeout:g} s"
        )
    if result.memory_limit_hit:
        return _failed(spec, CheckStatus.FAILED, "MEMORY_LIMIT", "ruff ran out of the memory limit")
    folder = f"{out_dir.rstrip('/')}/{OUT_SUBDIR}"
    lint_read, driver_read = sandbox.read_files(
        [
            (f"{folder}/{RUFF_REPORT}", MAX_RUFF_BYTES),
            (f"{folder}/{DRIVER_REPORT}", MAX_DRIVER_BYTES),
        ]
    )
    try:
        lint, driver = lint_read.value(), driver_read.value()
    except SandboxLimitError as exc:
        # Only the delivery's files make ruff's output (or the comments) outgrow the caps.
        return _unjudgeable(spec, f"ruff's output about the delivered files: {exc.message}")
    if driver is None:
        tail = _clean(result.text[-300:]) if result.output else ""
        return _failed(
            spec,
            CheckStatus.ERROR,
            "QUALITY_TOOL_ERROR",
            f"the linter did not run (exit code {result.exit_code}) {tail}".strip(),
        )
    return evaluate_quality(lint, driver, spec, target=target)


# ---------------------------------------------------------------- host side


def evaluate_quality(
    lint_json: bytes | None, driver_json: bytes, spec: QualitySpec, *, target: str = "/work/src"
) -> CheckOutcome:
    """Judge ruff's JSON and the driver's comments against ``spec``; never raises for bad input."""
    if not spec.enabled:
        return _skipped()
    root = target.rstrip("/") + "/"
    try:
        status = _parse_driver(driver_json, root)
        said = _clean(status.stderr, 300) or "no message"
        if status.lint_exit != 0 and _crashed(status.lint_exit, status.stderr):
            return _unjudgeable(
                spec, f"ruff crashed on the delivered files (exit code {status.lint_exit}): {said}"
            )
        if status.lint_exit != 0 or lint_json is None:
            raise _Invalid(f"ruff exited with code {status.lint_exit}: {said}")
        raw = _parse_ruff(lint_json, root)
        if status.comments_truncated:
            raise _TooManyFindings(
                "the delivered files hold more suppression-like comments than the engine reads "
                "(isort's action comments act even when unread)"
            )
    except _TooManyFindings as exc:
        return _unjudgeable(spec, str(exc))
    except _Invalid as exc:
        return _failed(
            spec, CheckStatus.ERROR, "QUALITY_TOOL_ERROR", f"the linter could not judge: {exc}"
        )
    suppressions = [
        s
        for file, comments in sorted(status.comments.items())
        for s in suppressions_in_file(file, comments)
    ]
    findings = [_with_suppression(f, suppressions, spec.suppressions) for f in raw]
    # A file not linted as Python reads it always blocks, like a suppression that cannot stand.
    policy_findings = [
        *_unlinted_findings(status),
        *_suppression_findings(suppressions, spec.suppressions),
    ]
    blocking = [
        f for f in findings if f.suppressed_by is None and f.level.rank >= spec.fail_on.rank
    ]
    blocking_policy = policy_findings  # a suppression the spec does not let stand always blocks
    ordered = sorted(
        [*policy_findings, *findings],
        key=lambda f: (f.suppressed_by is not None, -f.level.rank, f.file, f.line, f.rule),
    )
    blocking_ids = {id(f) for f in [*blocking, *blocking_policy]}
    details: dict[str, object] = {
        "findings": [f.to_report(id(f) in blocking_ids) for f in ordered[:MAX_LISTED_FINDINGS]],
        "findings_truncated": len(ordered) > MAX_LISTED_FINDINGS,
        "counts": _counts(findings),
        "suppressions": [s.to_report() for s in suppressions[:MAX_LISTED_SUPPRESSIONS]],
        "suppressions_truncated": len(suppressions) > MAX_LISTED_SUPPRESSIONS,
        "suppression_counts": {
            "total": len(suppressions),
            "justified": sum(1 for s in suppressions if s.justified),
            "unjustified": sum(1 for s in suppressions if not s.justified),
            "silenced_findings": sum(1 for f in findings if f.suppressed_by is not None),
        },
        "files_checked": status.files,
        "unreadable_comments": status.comment_errors,
        "comments_truncated": status.comments_truncated,
        "settings": _settings(spec),
        "tool": {"name": "ruff", "version": status.version},
    }
    artifacts = {ARTIFACT_NAME: sarif_document(ordered, status.version, spec)}
    summary = _summary(spec, findings, blocking, policy_findings, suppressions)
    # A suppression the spec does not let stand names the check's reason even beside
    # ordinary findings: it is what the supplier has to change first.
    if any(f.rule in (UNJUSTIFIED, FORBIDDEN) for f in policy_findings):
        code = UNJUSTIFIED if spec.suppressions == "justified" else FORBIDDEN
    elif policy_findings:
        code = "QUALITY_FINDINGS"
    elif blocking:
        code = "QUALITY_FINDINGS"
    else:
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.PASSED, summary, None, details), artifacts
        )
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, summary, code, details), artifacts
    )


@dataclass(frozen=True)
class _DriverStatus:
    version: str
    lint_exit: int
    stderr: str
    files: int
    comments: dict[str, list[tuple[int, str]]]
    comment_errors: list[dict[str, str]]
    comments_truncated: bool
    #: (file, what is wrong) for each Python file not in UTF-8 or declaring another encoding
    encodings: list[tuple[str, str]]
    #: files ruff skipped with a "Failed to lint" warning (as ruff named them)
    unlinted: list[str]
    #: bytecode and extension modules (and anything in __pycache__): importable, never linted
    compiled: list[str]


def _load(data: bytes, limit: int, what: str) -> object:
    if not isinstance(data, bytes | bytearray):
        raise _Invalid(f"{what} is not bytes")
    if len(data) > limit:
        raise _Invalid(f"{what} is larger than {limit} bytes")
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Invalid(f"{what} is not valid JSON ({type(exc).__name__})") from None


def _parse_driver(data: bytes, root: str) -> _DriverStatus:
    doc = _load(data, MAX_DRIVER_BYTES, "the driver's report")
    if not isinstance(doc, dict):
        raise _Invalid("the driver's report is not an object")
    version_text = doc.get("version")
    match = _VERSION_RE.search(version_text) if isinstance(version_text, str) else None
    if match is None:
        raise _Invalid("ruff did not report its version (is it installed in the image?)")
    lint_exit, files, stderr = doc.get("lint_exit"), doc.get("files"), doc.get("lint_stderr", "")
    if not isinstance(lint_exit, int) or isinstance(lint_exit, bool):
        raise _Invalid("the driver's report has no ruff exit code")
    if not isinstance(files, int) or isinstance(files, bool) or not 0 <= files <= MAX_FILES:
        raise _Invalid("the driver's report has no file count")
    raw_comments, raw_errors = doc.get("comments"), doc.get("comment_errors", [])
    if not isinstance(raw_comments, list) or len(raw_comments) > MAX_COMMENTS:
        raise _Invalid("the driver's comments are not a list (or too many)")
    if not isinstance(raw_errors, list):
        raise _Invalid("the driver's comment errors are not a list")
    comments: dict[str, list[tuple[int, str]]] = {}
    for index, item in enumerate(raw_comments):
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], int)
            and not isinstance(item[1], bool)
            and 0 < item[1] < 10**9
            and isinstance(item[2], str)
        ):
            raise _Invalid(f"comments[{index}] is not [file, line, text]")
        # The comment's own text is parsed, not shown: only cap it; reasons are cleaned later.
        comments.setdefault(_relpath(item[0], root), []).append(
            (item[1], item[2][:MAX_COMMENT_CHARS])
        )
    errors = [
        {"file": _relpath(str(item[0]), root), "error": _clean(str(item[1]), 100)}
        for item in raw_errors[:100]
        if isinstance(item, list) and len(item) == 2
    ]
    raw_encodings, raw_unlinted = doc.get("encodings"), doc.get("unlinted")
    if not isinstance(raw_encodings, list) or not isinstance(raw_unlinted, list):
        raise _Invalid("the driver's report has no encoding or skipped-file list")
    encodings = [
        (_relpath(item[0], root), _clean(item[1], 100))
        for item in raw_encodings[:1000]
        if isinstance(item, list) and len(item) == 2 and all(isinstance(i, str) for i in item)
    ]
    if len(encodings) != min(len(raw_encodings), 1000):
        raise _Invalid("the driver's encodings are not [file, problem] pairs")
    unlinted = [
        _clean(item, MAX_PATH_CHARS).removeprefix(root)
        for item in raw_unlinted[:1000]
        if isinstance(item, str)
    ]
    raw_compiled = doc.get("compiled")
    if not isinstance(raw_compiled, list) or not all(isinstance(i, str) for i in raw_compiled):
        raise _Invalid("the driver's report has no list of compiled files")
    compiled = [_relpath(item, root) for item in raw_compiled[:1000]]
    return _DriverStatus(
        match.group(1),
        lint_exit,
        stderr if isinstance(stderr, str) else "",
        files,
        comments,
        errors,
        doc.get("comments_truncated") is True,
        encodings,
        unlinted,
        compiled,
    )


def _parse_ruff(data: bytes, root: str) -> list[Finding]:
    doc = _load(data, MAX_RUFF_BYTES, "ruff's report")
    if not isinstance(doc, list):
        raise _Invalid("ruff's report is not a list")
    if len(doc) > MAX_RESULTS:
        raise _TooManyFindings(
            f"ruff found more than {MAX_RESULTS} problems in the delivered files, more than "
            "the engine reads"
        )
    return [_finding(item, index, root) for index, item in enumerate(doc)]


def _finding(item: object, index: int, root: str) -> Finding:
    where = f"ruff's report[{index}]"
    if not isinstance(item, dict):
        raise _Invalid(f"{where} is not an object")
    code, filename, message = item.get("code"), item.get("filename"), item.get("message")
    if code is None:
        code = SYNTAX_ERROR
    if not isinstance(code, str) or not (code == SYNTAX_ERROR or _RUFF_CODE_RE.fullmatch(code)):
        raise _Invalid(f"{where}.code is not a ruff rule code")
    if not isinstance(filename, str) or not isinstance(message, str):
        raise _Invalid(f"{where} lacks a filename or message")
    location = item.get("location")
    row = location.get("row") if isinstance(location, dict) else None
    column = location.get("column") if isinstance(location, dict) else None
    if not _line_number(row) or not _line_number(column):
        raise _Invalid(f"{where}.location is not a row and column")
    noqa_row = item.get("noqa_row")
    line = noqa_row if _line_number(noqa_row) else row
    name = item.get("name")
    known = ruff_rules.RULES.get(code)
    if code == SYNTAX_ERROR:
        level, rule_name = QualityLevel.ERROR, SYNTAX_ERROR
    elif known is not None:
        level, rule_name = LEVEL_OF_CATEGORY.get(known[1], QualityLevel.WARNING), known[0]
    else:
        # A rule this engine's table does not know: ranked in the middle, never dropped.
        level = QualityLevel.WARNING
        rule_name = name if isinstance(name, str) and _RUFF_NAME_RE.fullmatch(name) else ""
    url = item.get("url")
    return Finding(
        rule=code,
        name=rule_name[:100],
        level=level,
        file=_relpath(filename, root),
        line=int(line),  # type: ignore[arg-type]
        column=int(column),  # type: ignore[arg-type]
        message=_clean(message, MAX_MESSAGE_CHARS),
        url=_clean(url, 200) if isinstance(url, str) and url.startswith(RULE_URL_PREFIX) else None,
    )


def _line_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**9


def _with_suppression(
    finding: Finding, suppressions: Sequence[Suppression], policy: str
) -> Finding:
    """The finding with the suppression that silences it, if the spec lets that one stand."""
    if policy == "forbidden" or finding.rule == SYNTAX_ERROR:
        return finding
    standing = suppressions if policy == "allowed" else [s for s in suppressions if s.justified]
    found = covering(standing, finding.file, finding.line, finding.rule, finding.name)
    if found is None:
        return finding
    return Finding(**{**finding.__dict__, "suppressed_by": found})


def _suppression_findings(suppressions: Sequence[Suppression], policy: str) -> list[Finding]:
    """Each suppression the spec does not let stand, as a finding at its line."""
    if policy == "allowed":
        return []
    findings: list[Finding] = []
    for s in suppressions:
        if policy == "justified" and s.justified:
            continue
        what = f"{s.directive} ({', '.join(s.rules)})" if s.rules else f"blanket {s.directive}"
        if policy == "forbidden":
            rule, message = FORBIDDEN, f"{what}: the spec allows no suppression"
        elif s.blanket:
            rule = UNJUSTIFIED
            message = f"{what} silences every rule; name the rules and say why after ' -- '"
        else:
            rule = UNJUSTIFIED
            message = f"{what} gives no reason; add ' -- ' and at least 3 words saying why"
        findings.append(
            Finding(
                rule,
                rule.lower().replace("_", "-"),
                QualityLevel.ERROR,
                s.file,
                s.line,
                1,
                message,
                None,
            )
        )
    return findings


def _counts(findings: Sequence[Finding]) -> dict[str, int]:
    live = [f for f in findings if f.suppressed_by is None]
    return {
        level.value: sum(1 for f in live if f.level is level) for level in reversed(QualityLevel)
    }


def _relpath(path: str, root: str) -> str:
    """The path under the checkout, spelled so that two different files never read the same.

    Suppressions are matched to findings by this string: dropping a zero-width character
    (as text cleaning does) would let a justified ``noqa`` in ``core\u200b.py`` silence
    ``core.py``. Invisible characters and backslashes are escaped instead, and a path too
    long to show keeps a digest of the whole.
    """
    rel = path[len(root) :] if path.startswith(root) else path
    shown = "".join(
        "\\\\" if ch == "\\"
        else f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _PATH_ESCAPED_CATEGORIES
        else ch
        for ch in rel[: MAX_PATH_CHARS * 8]
    )  # fmt: skip
    if len(shown) <= MAX_PATH_CHARS and len(rel) <= MAX_PATH_CHARS * 8:
        return shown
    digest = hashlib.sha256(rel.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{shown[: MAX_PATH_CHARS - 20]}…{digest}"


def _crashed(exit_code: int, stderr: str) -> bool:
    """ruff died on what it read (a panic, a signal such as a stack overflow's abort)."""
    lowered = stderr.lower()
    return exit_code < 0 or exit_code == RUST_PANIC_EXIT or any(w in lowered for w in _CRASH_WORDS)


def _unlinted_findings(status: _DriverStatus) -> list[Finding]:
    """A blocking finding per Python file ruff did not read as Python does."""
    findings = [
        Finding(
            SOURCE_ENCODING,
            "source-encoding",
            QualityLevel.ERROR,
            file,
            1,
            1,
            f"the file is not plain UTF-8 ({problem}): Python would run other text than the "
            "linter read; save it as UTF-8 without a coding declaration",
            None,
        )
        for file, problem in status.encodings
    ]
    findings += [
        Finding(
            UNLINTED_FILE,
            "unlinted-file",
            QualityLevel.ERROR,
            what.split(": ", 1)[0][:MAX_PATH_CHARS],
            1,
            1,
            _clean(f"ruff could not lint this file ({what}); make it readable UTF-8 Python", 300),
            None,
        )
        for what in status.unlinted
        # a file already named for its encoding is the same problem said once
        if what.split(": ", 1)[0] not in {file for file, _ in status.encodings}
    ]
    findings += [
        _unlinted(
            error["file"],
            f"its comments could not be read ({error['error']}), so its suppressions cannot be "
            "judged; make it valid Python",
        )
        for error in status.comment_errors
    ]
    findings += [
        _unlinted(
            file,
            "compiled code Python can import instead of the linted source; deliver the source "
            "only (remove bytecode, __pycache__ and extension modules from the repository)",
        )
        for file in status.compiled
    ]
    return findings


def _unlinted(file: str, why: str) -> Finding:
    """A blocking finding for a file the linter did not judge."""
    return Finding(
        UNLINTED_FILE, "unlinted-file", QualityLevel.ERROR, file, 1, 1, _clean(why, 300), None
    )


def _unjudgeable(spec: QualitySpec, why: str) -> CheckOutcome:
    """Failed, the supplier's to fix: a delivered file kept the linter from judging."""
    return _failed(
        spec,
        CheckStatus.FAILED,
        UNJUDGEABLE,
        f"the linter could not judge the delivery: {why}; "
        "fix or remove the file that stops it (nothing was passed unlinted)",
    )


def _summary(
    spec: QualitySpec,
    findings: Sequence[Finding],
    blocking: Sequence[Finding],
    policy: Sequence[Finding],
    suppressions: Sequence[Suppression],
) -> str:
    level = "any level" if spec.fail_on is QualityLevel.STYLE else f"{spec.fail_on.value} or above"
    parts: list[str] = []
    if policy:
        word = "unjustified" if spec.suppressions == "justified" else "forbidden"
        places = ", ".join(f"{f.file}:{f.line}" for f in policy[:MAX_SUMMARY_LOCATIONS])
        more = ", ..." if len(policy) > MAX_SUMMARY_LOCATIONS else ""
        parts.append(f"{len(policy)} {word} suppression(s) ({places}{more})")
    if blocking:
        places = ", ".join(f"{f.file}:{f.line} {f.rule}" for f in blocking[:MAX_SUMMARY_LOCATIONS])
        more = ", ..." if len(blocking) > MAX_SUMMARY_LOCATIONS else ""
        parts.append(f"{len(blocking)} ruff finding(s) at {level} ({places}{more})")
    else:
        live = sum(1 for f in findings if f.suppressed_by is None)
        parts.append(f"no ruff finding at {level}" + (f" ({live} below it)" if live else ""))
    justified = sum(1 for s in suppressions if s.justified)
    if justified and spec.suppressions != "forbidden":
        parts.append(f"{justified} justified suppression(s) listed with their reasons")
    return "; ".join(parts)


def _settings(spec: QualitySpec) -> dict[str, object]:
    return {
        "rules": list(spec.rules),
        "default_rules": spec.default_rules,
        "fail_on": spec.fail_on.value,
        "suppressions": spec.suppressions,
        "exclude": list(spec.exclude),
    }


def sarif_document(findings: Sequence[Finding], version: str, spec: QualitySpec) -> bytes:
    """SARIF 2.1.0 of the findings; a silenced one carries its suppression and reason."""
    rules: dict[str, dict[str, object]] = {}
    results: list[dict[str, object]] = []
    for f in findings:
        rule: dict[str, object] = {"id": f.rule, "name": f.name}
        if f.url:
            rule["helpUri"] = f.url
        rules.setdefault(f.rule, rule)
        result: dict[str, object] = {
            "ruleId": f.rule,
            "level": {"error": "error", "warning": "warning"}.get(f.level.value, "note"),
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }
            ],
        }
        if f.suppressed_by is not None:
            result["suppressions"] = [
                {"kind": "inSource", "justification": f.suppressed_by.reason or ""}
            ]
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ruff",
                        "version": version,
                        "informationUri": "https://docs.astral.sh/ruff/",
                        "rules": list(rules.values()),
                    }
                },
                "properties": {"acceptance": _settings(spec)},
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=1, sort_keys=True).encode()


def _skipped() -> CheckOutcome:
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
    )


def _failed(spec: QualitySpec, status: CheckStatus, code: str, message: str) -> CheckOutcome:
    details: dict[str, object] = {
        "findings": [],
        "suppressions": [],
        "counts": {level.value: 0 for level in reversed(QualityLevel)},
        "settings": _settings(spec),
    }
    return CheckOutcome(CheckResult(CHECK_ID, KIND, status, _clean(message), code, details))
