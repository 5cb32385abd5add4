"""The SAST check: bandit inside the sandbox, judged on the host from its JSON report.

Bandit parses supplier files, so it only ever runs inside the sandbox. It runs through
a small driver (``_DRIVER``) on bandit's own API rather than the ``bandit`` command:

* **No supplier configuration.** The CLI walks every target for ``.bandit`` files
  (INI: ``skips``, ``exclude``, ``configfile``, even ``targets``; two of them make it
  exit 2) and reads ``pyproject.toml``/YAML only when given ``-c``. bandit never reads
  ``setup.cfg`` or ``tox.ini`` unless named with ``--ini``. The driver builds
  ``BanditConfig()`` with no file and an empty profile, so none of that is consulted.
* **One scan, both formats.** The CLI writes one format per run; the driver scans once
  and writes bandit's JSON formatter output (for judging) and its SARIF formatter output
  (the run artifact; best effort, the formatter has known crashes, bandit#1311).
* **Suppressions, exactly as bandit decides them.** The scan ignores ``# nosec``
  (``--ignore-nosec``) so every finding is listed; then only the files that have a
  finding *and* contain the bytes ``nosec`` are scanned again honouring the comments.
  A finding missing from that second scan is marked ``suppressed_by_nosec``. Bandit's
  nosec parsing (test ids, test names, blanket fallback when no id resolves, multi-line
  statements) is subtle, so we never re-implement it. A file whose suppression we cannot
  see (e.g. an exotic source encoding) only counts as unsuppressed: stricter, never laxer.

The host reads the JSON through a byte cap and parses it defensively; the driver's
stdout is never used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from checks.hidden_inventory import HIDDEN_DIR_NAME
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.options import SastSpec, Severity
from checks.report_text import MAX_LISTED_FINDINGS, MAX_PATH_CHARS, clean_text
from sandbox.interface import Sandbox, SandboxLimitError

CHECK_ID = "sast"
KIND = "sast"
TOOLS_PYTHON = "/opt/acceptance/tools/bin/python"
#: the engine's own virtualenv (outside the checkout, excluded anyway to be explicit)
ENGINE_VENV = "/work/venv"
REPORT_NAME = "bandit.json"
SARIF_NAME = "bandit.sarif"
ARTIFACT_NAME = "bandit.sarif"
MAX_REPORT_BYTES = 20 * 1024**2
MAX_SARIF_BYTES = 20 * 1024**2
#: results parsed from the report; a real checkout with more is not judgeable
MAX_RESULTS = 50_000
MAX_ERRORS = 10_000
MAX_LISTED_ERRORS = 200
MAX_SUMMARY_LOCATIONS = 5
MORE_INFO_PREFIX = "https://bandit.readthedocs.io/"

_RANK = {"LOW": Severity.LOW, "MEDIUM": Severity.MEDIUM, "HIGH": Severity.HIGH}
_TEST_ID_RE = re.compile(r"B\d{3}")
_TEST_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,100}")

# Runs as `python -I -c _DRIVER TARGET OUT_DIR EXCLUDED CONFIDENCE` with the tools venv.
# argv only: nothing from the checkout is read as configuration.
_DRIVER = r"""
import collections, json, logging, os, sys
logging.basicConfig(level=logging.ERROR, format="bandit %(name)s: %(message)s")
import bandit
from bandit.core import config as b_config, manager as b_manager

target, out, excluded, conf_level = sys.argv[1:5]
report = os.path.join(out, "bandit.json")
sarif = os.path.join(out, "bandit.sarif")
os.makedirs(out, exist_ok=True)
for stale in (report, sarif, report + ".tmp", sarif + ".tmp"):
    try:
        os.unlink(stale)
    except FileNotFoundError:
        pass

def scan(targets, recursive, ignore_nosec):
    # BanditConfig() with no file: defaults, no .bandit / pyproject / YAML is read.
    profile = {"include": set(), "exclude": set()}
    mgr = b_manager.BanditManager(
        b_config.BanditConfig(), "file", quiet=True, profile=profile, ignore_nosec=ignore_nosec
    )
    mgr.discover_files(targets, recursive, excluded)
    mgr.run_tests()
    return mgr

def render(mgr, fmt, path):
    with open(path, "w", encoding="utf-8") as handle:
        mgr.output_results(3, "LOW", conf_level, handle, fmt)
    with open(path, encoding="utf-8") as handle:
        return handle.read()

def key(item):
    return (item["filename"], item["test_id"], item["line_number"],
            item["col_offset"], item["end_col_offset"])

main = scan([target], True, True)
doc = json.loads(render(main, "json", report + ".tmp"))
status = {"bandit_version": bandit.__version__, "nosec_rescanned": 0}

# A file bandit could not scan but Python can compile (e.g. an expression nested past
# bandit's recursion limit) would run unscanned: say which ones. compile() runs nothing.
for error in doc["errors"]:
    try:
        with open(error["filename"], "rb") as handle:
            compile(handle.read(), error["filename"], "exec", dont_inherit=True)
        error["valid_python"] = True
    except BaseException:
        error["valid_python"] = False

candidates = []
for name in sorted({issue.fname for issue in main.results}):
    try:
        with open(name, "rb") as handle:
            if b"nosec" in handle.read():
                candidates.append(name)
    except OSError:
        pass
if candidates:
    try:
        honoured = scan(candidates, False, False)
        kept = collections.Counter(
            key(item) for item in json.loads(render(honoured, "json", report + ".tmp"))["results"]
        )
        rescanned = set(candidates) - {name for name, _ in honoured.get_skipped()}
        for item in doc["results"]:
            if item["filename"] in rescanned:
                if kept[key(item)] > 0:
                    kept[key(item)] -= 1
                else:
                    item["suppressed_by_nosec"] = True
        status["nosec_rescanned"] = len(rescanned)
    except Exception as exc:
        status["nosec_error"] = repr(exc)[:500]

try:
    render(main, "sarif", sarif + ".tmp")
    os.replace(sarif + ".tmp", sarif)
except Exception as exc:
    status["sarif_error"] = repr(exc)[:500]

doc["acceptance"] = status
with open(report + ".tmp", "w", encoding="utf-8") as handle:
    json.dump(doc, handle, sort_keys=True, indent=1)
os.replace(report + ".tmp", report)
"""


class _Invalid(Exception):
    """The report is not what bandit writes."""


@dataclass(frozen=True)
class Finding:
    """One bandit finding, sanitised."""

    test_id: str
    test_name: str
    severity: Severity
    confidence: Severity
    filename: str
    line: int
    text: str
    cwe: str | None
    suppressed: bool
    more_info: str | None

    def to_report(self) -> dict[str, object]:
        """The finding as listed in the check's details."""
        return {
            "test_id": self.test_id,
            "test_name": self.test_name,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "filename": self.filename,
            "line": self.line,
            "text": self.text,
            "cwe": self.cwe,
            "suppressed": self.suppressed,
            "more_info": self.more_info,
        }


# ---------------------------------------------------------------- sandbox side


def excluded_paths(spec: SastSpec, *, target: str = "/work/src") -> list[str]:
    """Absolute paths bandit skips: the spec's, plus .git, the hidden tests and the venv.

    Bandit's own default exclusions (``.svn,CVS,.bzr,.hg,.git,__pycache__,.tox,.eggs,*.egg``)
    are substring matches anywhere in a path, so a supplier could hide a file by naming it
    ``x_CVS.py``; we replace them with exact paths under the checkout.
    """
    root = target.rstrip("/")
    paths = [f"{root}/.git", f"{root}/{HIDDEN_DIR_NAME}", ENGINE_VENV]
    for rel in spec.exclude:
        clean = rel.strip().strip("/")
        while clean.startswith("./"):
            clean = clean[2:]
        if not clean or clean == "." or ".." in clean.split("/"):
            continue
        # bandit splits -x on commas; `?` matches the comma in its glob matching
        paths.append(f"{root}/{clean.replace(',', '?')}")
    return list(dict.fromkeys(paths))


def sast_command(
    spec: SastSpec, *, target: str = "/work/src", out_dir: str = "/work/out"
) -> list[str]:
    """The argv run inside the sandbox: bandit's API through the tools venv, isolated."""
    return [
        TOOLS_PYTHON,
        "-I",
        "-c",
        _DRIVER,
        target,
        out_dir,
        ",".join(excluded_paths(spec, target=target)),
        spec.confidence.value.upper(),
    ]


def run_sast(
    sandbox: Sandbox,
    spec: SastSpec,
    *,
    timeout: float,
    target: str = "/work/src",
    out_dir: str = "/work/out",
) -> CheckOutcome:
    """Scan the checkout at ``target`` inside ``sandbox`` and judge the report on the host."""
    if not spec.enabled:
        return _skipped()
    result = sandbox.run(
        sast_command(spec, target=target, out_dir=out_dir),
        timeout=timeout,
        workdir="/tmp",
        max_output=64 * 1024,
    )
    if result.timed_out:
        return _failed(spec, "TIMEOUT", f"bandit did not finish within {timeout:g} s")
    if result.memory_limit_hit:
        return _failed(spec, "MEMORY_LIMIT", "bandit ran out of the memory limit")
    # Both reports in one read: every read is a round trip into the sandbox.
    report_read, sarif_read = sandbox.read_files(
        [
            (f"{out_dir.rstrip('/')}/{REPORT_NAME}", MAX_REPORT_BYTES),
            (f"{out_dir.rstrip('/')}/{SARIF_NAME}", MAX_SARIF_BYTES),
        ]
    )
    try:
        report = report_read.value()
    except SandboxLimitError as exc:
        return _failed(spec, "INVALID_ARTIFACT", exc.message)
    if report is None:
        return _failed(
            spec,
            "INVALID_ARTIFACT",
            f"bandit wrote no report (exit code {result.exit_code})",
            extra={"exit_code": result.exit_code},
        )
    sarif = sarif_read.data if sarif_read.error is None else None
    return evaluate_sast(report, spec, sarif=sarif, target=target)


# ---------------------------------------------------------------- host side


def evaluate_sast(
    report_json: bytes,
    spec: SastSpec,
    *,
    sarif: bytes | None = None,
    target: str = "/work/src",
) -> CheckOutcome:
    """Judge bandit's JSON report against ``spec``; never raises for bad input.

    ``target`` is where the checkout was scanned; file names are reported relative to it.
    """
    if not spec.enabled:
        return _skipped()
    try:
        findings, errors, tool = _parse_report(report_json, target.rstrip("/") + "/")
    except _Invalid as exc:
        return _failed(spec, "INVALID_ARTIFACT", f"bandit's report is unusable: {exc}")
    kept = [f for f in findings if f.confidence.rank >= spec.confidence.rank]
    blocking = [
        f
        for f in kept
        if f.severity.rank >= spec.fail_on.rank and not (f.suppressed and spec.allow_suppressions)
    ]
    kept.sort(key=lambda f: (-f.severity.rank, -f.confidence.rank, f.filename, f.line, f.test_id))
    blocking.sort(key=lambda f: (-f.severity.rank, f.filename, f.line, f.test_id))
    blocking_ids = {id(f) for f in blocking}
    counts = {s.value: sum(1 for f in kept if f.severity is s) for s in reversed(Severity)}
    suppressed = sum(1 for f in kept if f.suppressed)
    details: dict[str, object] = {
        # `blocking`: at or above fail_on and not a suppression the owner allowed.
        "findings": [
            {**f.to_report(), "blocking": id(f) in blocking_ids} for f in kept[:MAX_LISTED_FINDINGS]
        ],
        "findings_truncated": len(kept) > MAX_LISTED_FINDINGS,
        "errors": errors[:MAX_LISTED_ERRORS],
        "errors_truncated": len(errors) > MAX_LISTED_ERRORS,
        "counts": counts,
        "suppressed": suppressed,
        "settings": _settings(spec),
        "tool": tool,
    }
    artifacts = {ARTIFACT_NAME: sarif} if sarif else {}
    summary = _summary(spec, kept, blocking, counts, suppressed, len(errors))
    if blocking:
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, summary, "SAST_FINDINGS", details),
            artifacts,
        )
    # Fail closed: valid Python the scanner could not read would run unexamined.
    unscanned = [str(e["filename"]) for e in errors if e["valid_python"]]
    if unscanned:
        shown = ", ".join(unscanned[:MAX_SUMMARY_LOCATIONS]) + (
            ", ..." if len(unscanned) > MAX_SUMMARY_LOCATIONS else ""
        )
        summary = (
            f"{len(unscanned)} file(s) of valid Python could not be scanned by bandit ({shown}); "
            "code the scanner cannot read is not accepted. " + summary
        )
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, summary, "SAST_UNSCANNABLE", details),
            artifacts,
        )
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.PASSED, summary, None, details), artifacts
    )


def _parse_report(
    data: bytes, root: str
) -> tuple[list[Finding], list[dict[str, object]], dict[str, object]]:
    if not isinstance(data, bytes | bytearray):
        raise _Invalid("not bytes")
    if len(data) > MAX_REPORT_BYTES:
        raise _Invalid(f"larger than {MAX_REPORT_BYTES} bytes")
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Invalid(f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise _Invalid("the top level is not an object")
    results = doc.get("results")
    errors = doc.get("errors", [])
    if not isinstance(results, list) or not isinstance(errors, list):
        raise _Invalid("'results' and 'errors' must be lists")
    if len(results) > MAX_RESULTS:
        raise _Invalid(f"more than {MAX_RESULTS} results")
    if len(errors) > MAX_ERRORS:
        raise _Invalid(f"more than {MAX_ERRORS} errors")
    findings = [_finding(item, index, root) for index, item in enumerate(results)]
    parsed_errors: list[dict[str, object]] = []
    for index, item in enumerate(errors):
        if not isinstance(item, dict):
            raise _Invalid(f"errors[{index}] is not an object")
        filename, reason = item.get("filename"), item.get("reason")
        if not isinstance(filename, str) or not isinstance(reason, str):
            raise _Invalid(f"errors[{index}] lacks a filename or reason")
        parsed_errors.append({
            "filename": _relpath(filename, root),
            "reason": clean_text(reason),
            "valid_python": item.get("valid_python") is True,
        })  # fmt: skip
    tool: dict[str, object] = {"name": "bandit"}
    status = doc.get("acceptance")
    if isinstance(status, dict):
        version = status.get("bandit_version")
        if isinstance(version, str):
            tool["version"] = clean_text(version, 40)
        for key in ("nosec_error", "sarif_error"):
            value = status.get(key)
            if isinstance(value, str):
                tool[key] = clean_text(value)
    return findings, parsed_errors, tool


def _finding(item: object, index: int, root: str) -> Finding:
    where = f"results[{index}]"
    if not isinstance(item, dict):
        raise _Invalid(f"{where} is not an object")
    test_id = item.get("test_id")
    if not isinstance(test_id, str) or not _TEST_ID_RE.fullmatch(test_id):
        raise _Invalid(f"{where}.test_id is not a bandit test id")
    severity = _level(item.get("issue_severity"))
    confidence = _level(item.get("issue_confidence"))
    if severity is None or confidence is None:
        raise _Invalid(f"{where} has an unknown severity or confidence")
    filename = item.get("filename")
    line = item.get("line_number")
    text = item.get("issue_text")
    if not isinstance(filename, str) or not isinstance(text, str):
        raise _Invalid(f"{where} lacks a filename or text")
    if not isinstance(line, int) or isinstance(line, bool) or not 0 <= line < 10**9:
        raise _Invalid(f"{where}.line_number is not a line number")
    suppressed = item.get("suppressed_by_nosec", False)
    if not isinstance(suppressed, bool):
        raise _Invalid(f"{where}.suppressed_by_nosec is not a boolean")
    name = item.get("test_name")
    more_info = item.get("more_info")
    return Finding(
        test_id=test_id,
        test_name=name if isinstance(name, str) and _TEST_NAME_RE.fullmatch(name) else "",
        severity=severity,
        confidence=confidence,
        filename=_relpath(filename, root),
        line=line,
        text=clean_text(text),
        cwe=_cwe(item.get("issue_cwe")),
        suppressed=suppressed,
        more_info=clean_text(more_info, 300)
        if isinstance(more_info, str) and more_info.startswith(MORE_INFO_PREFIX)
        else None,
    )


def _level(value: object) -> Severity | None:
    return _RANK.get(value) if isinstance(value, str) else None


def _cwe(value: object) -> str | None:
    if isinstance(value, dict):
        cwe_id = value.get("id")
        if isinstance(cwe_id, int) and not isinstance(cwe_id, bool) and 0 < cwe_id < 10**6:
            return f"CWE-{cwe_id}"
    return None


def _relpath(path: str, root: str) -> str:
    clean = clean_text(path, MAX_PATH_CHARS)
    return clean[len(root) :] if clean.startswith(root) else clean


def _summary(
    spec: SastSpec,
    kept: Sequence[Finding],
    blocking: Sequence[Finding],
    counts: Mapping[str, int],
    suppressed: int,
    errors: int,
) -> str:
    level = spec.fail_on.value
    extras: list[str] = []
    if suppressed:
        how = "allowed by the spec" if spec.allow_suppressions else "not allowed by the spec"
        extras.append(f"{suppressed} marked # nosec ({how})")
    if errors:
        extras.append(f"{errors} file(s) could not be scanned")
    if blocking:
        per = ", ".join(
            f"{n} {s.value}"
            for s in reversed(Severity)
            if (n := sum(1 for f in blocking if f.severity is s))
        )
        places = ", ".join(f"{f.filename}:{f.line}" for f in blocking[:MAX_SUMMARY_LOCATIONS])
        if len(blocking) > MAX_SUMMARY_LOCATIONS:
            places += ", ..."
        noun = "finding" if len(blocking) == 1 else "findings"
        head = f"{len(blocking)} {noun} at or above {level} ({per}) in {places}"
    else:
        below = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        head = f"no findings at or above {level}" + (f" ({below} in all)" if kept else "")
    return "; ".join([head, *extras])


def _settings(spec: SastSpec) -> dict[str, object]:
    return {
        "fail_on": spec.fail_on.value,
        "confidence": spec.confidence.value,
        "exclude": list(spec.exclude),
        "allow_suppressions": spec.allow_suppressions,
    }


def _skipped() -> CheckOutcome:
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
    )


def _failed(
    spec: SastSpec, code: str, message: str, *, extra: Mapping[str, object] | None = None
) -> CheckOutcome:
    details: dict[str, object] = {
        "findings": [],
        "errors": [],
        "counts": {"high": 0, "medium": 0, "low": 0},
        "settings": _settings(spec),
        **(extra or {}),
    }
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, clean_text(message), code, details)
    )
