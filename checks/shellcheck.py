"""The SAST check for shell deliveries: Debian's ShellCheck in the sandbox, judged here.

ShellCheck runs on the checkout's shell files (`*.sh`, `*.bash`, `*.bats`, `*.ksh`, and
files whose shebang runs sh, bash, dash, ksh or bats, through env too) with `--norc`, so no
`.shellcheckrc` of the delivery turns checks off, and `-f json1`. Its severities map to
the spec's levels: error -> high, warning -> medium, info and style -> low.

`# shellcheck disable=...` directives are the supplier's word, not the owner's, and
ShellCheck has no switch to ignore them. So the engine scans copies of the files in
which the `disable=` and `source=` keys of every directive are blanked (same bytes count,
same line and column numbers: other keys such as `shell=` stay; `source=/dev/null` would
hide a library and the SC1090 of a non-constant source), which lists every finding; the files that had such a directive are scanned again as delivered, and a
finding missing from that second scan is marked `suppressed`. A suppressed finding still
blocks unless `security.sast.allow_suppressions` is true: the policy bandit's `# nosec`
follows.

The files the shell files load (`source`, `.`, bats's `load`, `bash FILE`) are found by
checks/shell_sources.py and scanned beside them by checks/shellcheck_scan.py.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.options import SastSpec
from checks.report_text import MAX_LISTED_FINDINGS, clean_text
from checks.shebang import file_runs

CHECK_ID = "sast"
KIND = "sast"
ARTIFACT_NAME = "shellcheck.sarif"
SHELL_SUFFIXES = (".sh", ".bash", ".bats", ".ksh")
MAX_FILES = 5_000
#: the file names passed to one ShellCheck run, in all (the kernel's limit is 2 MiB)
MAX_ARGV_BYTES = 1024**2
MAX_FILE_BYTES = 2 * 1024**2
MAX_REPORT_BYTES = 20 * 1024**2
MAX_COMMENTS = 50_000
WIKI = "https://www.shellcheck.net/wiki/SC"
#: the shells a shebang may name (ShellCheck reads these dialects; bats files are bash)
_SHELLS = frozenset({b"sh", b"bash", b"dash", b"ksh", b"bats"})
_DIRECTIVE = re.compile(rb"#[ \t]*shellcheck[ \t]+([^\n]*)")
#: keys blanked in the copies that list findings: `disable=` hides findings and `source=`
#: points ShellCheck at another file (`source=/dev/null` hides a library and the SC1090 of a
#: non-constant source); checks/shell_sources.py follows the file a `source=` names instead
_DISABLE = re.compile(rb"(?<![\w-])(?:disable|source)=\S*")
#: ShellCheck's level -> the spec's severity (high, medium, low)
_LEVELS = {"error": "high", "warning": "medium", "info": "low", "style": "low"}
_RANK = {"low": 0, "medium": 1, "high": 2}
#: ShellCheck's "can't follow non-constant source" (SC1090)
NON_CONSTANT_SOURCE = 1090
_SEVERITIES = ("high", "medium", "low")


_SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note", "style": "note"}


@dataclass(frozen=True)
class ShellFinding:
    """One ShellCheck comment, sanitised."""

    code: int
    level: str
    filename: str
    line: int
    column: int
    message: str
    suppressed: bool = False

    @property
    def severity(self) -> str:
        return _LEVELS[self.level]

    @property
    def rank(self) -> int:
        return _RANK[self.severity]

    def key(self) -> tuple[str, int, int, int]:
        return (self.filename, self.line, self.column, self.code)

    def to_report(self, blocking: bool) -> dict[str, object]:
        # The same fields as bandit's findings, so the report's readers need no new case.
        return {
            "test_id": f"SC{self.code}",
            "test_name": self.level,
            "severity": self.severity,
            "confidence": "high",
            "filename": self.filename,
            "line": self.line,
            "column": self.column,
            "text": self.message,
            "cwe": None,
            "suppressed": self.suppressed,
            "more_info": f"{WIKI}{self.code}",
            "blocking": blocking,
        }


def shell_files(tree: Path, exclude: Sequence[str] = ()) -> list[str]:
    """The checkout's shell files (relative paths, sorted); links and `.git` are left out."""
    skipped = {e.strip().strip("/") for e in exclude if e.strip().strip("/") not in ("", ".")}
    found: list[str] = []
    for root, dirs, files in os.walk(tree):
        rel_root = os.path.relpath(root, tree)
        dirs[:] = sorted(
            d for d in dirs
            if d != ".git" and _relative(rel_root, d) not in skipped and not os.path.islink(os.path.join(root, d))
        )  # fmt: skip
        for name in sorted(files):
            rel = _relative(rel_root, name)
            path = os.path.join(root, name)
            if rel in skipped or os.path.islink(path) or not os.path.isfile(path):
                continue
            if name.endswith(SHELL_SUFFIXES) or file_runs(path, _SHELLS):
                found.append(rel)
    return found


def _relative(root: str, name: str) -> str:
    return name if root in ("", ".") else f"{root}/{name}"


def neutralise(data: bytes) -> tuple[bytes, bool]:
    """`data` with every directive's `disable=...` blanked (same length); and whether any was."""
    changed = False

    def blank(match: re.Match[bytes]) -> bytes:
        nonlocal changed
        # the keys run to a `#`: what follows is the directive's own comment (its reason)
        keys, sep, comment = match.group(1).partition(b"#")
        cleared = _DISABLE.sub(lambda m: b" " * len(m.group(0)), keys)
        if cleared == keys:
            return match.group(0)
        changed = True
        if not cleared.strip():
            # A directive with no key left: the whole comment goes (its reason too), or
            # ShellCheck would complain about an empty directive (SC1072, SC1073).
            return b" " * len(match.group(0))
        return match.group(0)[: match.start(1) - match.start(0)] + cleared + sep + comment

    return _DIRECTIVE.sub(blank, data), changed


def stage_copies(tree: Path, files: Sequence[str], dest: Path) -> tuple[list[str], list[str]]:
    """Write the neutralised copies under `dest`: (files staged, files that had directives).

    A file too large to scan, and every file past MAX_FILES, is left out of the copies
    and reported by the caller as not scanned (never as clean).
    """
    staged: list[str] = []
    with_directives: list[str] = []
    argv_bytes = 0
    for rel in files:
        # ShellCheck gets the files as arguments: past these caps the rest is reported
        # as not scanned (the check fails), never as clean.
        argv_bytes += len(rel.encode()) + 3
        if len(staged) >= MAX_FILES or argv_bytes > MAX_ARGV_BYTES:
            break
        source = tree / rel
        try:
            if source.is_symlink() or source.stat().st_size > MAX_FILE_BYTES:
                continue
            data = source.read_bytes()
        except OSError:
            continue
        clean, changed = neutralise(data)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(clean)
        os.chmod(target, 0o644)
        staged.append(rel)
        if changed:
            with_directives.append(rel)
    for root, dirs, _files in os.walk(dest):
        os.chmod(root, 0o755)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
    return staged, with_directives


def evaluate_shellcheck(
    report: bytes,
    spec: SastSpec,
    as_delivered: bytes | None,
    *,
    directive_files: Sequence[str] = (),
    unscanned: Sequence[str] | Mapping[str, str] = (),
    version: str | None = None,
) -> CheckOutcome:
    """Judge ShellCheck's json1 report (and the as-delivered one, for suppressions).

    `unscanned`: files not scanned, each with why (a list: "too large to scan").
    """
    why = (
        dict(unscanned) if isinstance(unscanned, Mapping)
        else dict.fromkeys(unscanned, "too large to scan")
    )  # fmt: skip
    try:
        findings = _parse(report)
        kept_by_directive = (
            {f.key() for f in _parse(as_delivered)} if as_delivered is not None else None
        )
    except ValueError as exc:
        return _failed(spec, "INVALID_ARTIFACT", f"ShellCheck's report is unusable: {exc}")
    directive_set = set(directive_files)
    if kept_by_directive is not None:
        findings = [
            ShellFinding(f.code, f.level, f.filename, f.line, f.column, f.message, suppressed=True)
            if f.filename in directive_set and f.key() not in kept_by_directive else f
            for f in findings
        ]  # fmt: skip
    findings.sort(key=lambda f: (-f.rank, f.filename, f.line, f.column, f.code))
    blocking = [
        f for f in findings
        # a non-constant source loads a file nobody can name, so the scan cannot reach it:
        # it blocks whatever fail_on and allow_suppressions say (checks/shellcheck_scan.py
        # drops the ones a `source=` directive settles)
        if f.code == NON_CONSTANT_SOURCE
        or (f.rank >= _RANK[str(spec.fail_on.value)] and not (f.suppressed and spec.allow_suppressions))
    ]  # fmt: skip
    blocking_keys = {f.key() for f in blocking}
    counts = {s: sum(1 for f in findings if f.severity == s) for s in _SEVERITIES}
    suppressed = sum(1 for f in findings if f.suppressed)
    details: dict[str, object] = {
        "findings": [f.to_report(f.key() in blocking_keys) for f in findings[:MAX_LISTED_FINDINGS]],
        "findings_truncated": len(findings) > MAX_LISTED_FINDINGS,
        "errors": [
            {"filename": name, "reason": reason} for name, reason in list(why.items())[:200]
        ],
        "errors_truncated": len(why) > 200,
        "counts": counts,
        "suppressed": suppressed,
        "settings": _settings(spec),
        "tool": {"name": "shellcheck", "version": version},
    }
    sarif = _sarif(findings, version)
    level = spec.fail_on.value
    extras = []
    if suppressed:
        how = "allowed by the spec" if spec.allow_suppressions else "not allowed by the spec"
        extras.append(f"{suppressed} under # shellcheck disable ({how})")
    if blocking:
        places = ", ".join(f"{f.filename}:{f.line} SC{f.code}" for f in blocking[:5]) + (
            ", ..." if len(blocking) > 5 else ""
        )
        summary = "; ".join(
            [f"{len(blocking)} finding(s) at or above {level} in {places}", *extras]
        )
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, summary, "SAST_FINDINGS", details),
            {ARTIFACT_NAME: sarif},
        )
    if why:
        named = ", ".join(f"{name}: {reason}" for name, reason in list(why.items())[:5])
        summary = f"{len(why)} shell file(s) not scanned ({named}); code the scanner cannot read is not accepted"
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, summary, "SAST_UNSCANNABLE", details),
            {ARTIFACT_NAME: sarif},
        )
    below = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    summary = "; ".join(
        [f"no findings at or above {level}" + (f" ({below} in all)" if findings else ""), *extras]
    )
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.PASSED, summary, None, details),
        {ARTIFACT_NAME: sarif},
    )


def _parse(report: bytes) -> list[ShellFinding]:
    """ShellCheck's json1 output, every field type-checked; ValueError when it is not that."""
    try:
        document = json.loads(report)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({str(exc)[:100]})") from None
    comments = document.get("comments") if isinstance(document, dict) else None
    if not isinstance(comments, list):
        raise ValueError("no list of comments")
    if len(comments) > MAX_COMMENTS:
        raise ValueError(f"more than {MAX_COMMENTS} comments")
    findings: list[ShellFinding] = []
    for item in comments:
        if not isinstance(item, dict):
            raise ValueError("a comment is not an object")
        code, level, line, column = (
            item.get("code"),
            item.get("level"),
            item.get("line"),
            item.get("column"),
        )
        name, message = item.get("file"), item.get("message")
        if not (
            isinstance(code, int) and not isinstance(code, bool) and 0 < code < 100_000
            and level in _LEVELS and isinstance(name, str) and isinstance(message, str)
            and isinstance(line, int) and isinstance(column, int) and line >= 0 and column >= 0
        ):  # fmt: skip
            raise ValueError("a comment lacks a valid code, level, file, line, column or message")
        filename = clean_text(name[2:] if name.startswith("./") else name, 1000)
        findings.append(ShellFinding(code, str(level), filename, line, column, clean_text(message)))
    return findings


def _sarif(findings: Sequence[ShellFinding], version: str | None) -> bytes:
    """A SARIF 2.1.0 log of the findings, for code-scanning tools."""
    rules = sorted({f.code for f in findings})
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ShellCheck", "version": version or "unknown",
                "informationUri": "https://www.shellcheck.net/",
                "rules": [{"id": f"SC{code}", "helpUri": f"{WIKI}{code}"} for code in rules],
            }},
            "results": [
                {
                    "ruleId": f"SC{f.code}",
                    "level": _SARIF_LEVELS[f.level],
                    "message": {"text": f.message},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": f.filename},
                        "region": {"startLine": max(1, f.line), "startColumn": max(1, f.column)},
                    }}],
                    **({"suppressions": [{"kind": "inSource"}]} if f.suppressed else {}),
                }
                for f in findings
            ],
        }],
    }  # fmt: skip
    return json.dumps(document, indent=2, sort_keys=True).encode()


def _settings(spec: SastSpec) -> dict[str, object]:
    return {
        "fail_on": spec.fail_on.value,
        "exclude": list(spec.exclude),
        "allow_suppressions": spec.allow_suppressions,
    }


def _failed(spec: SastSpec, code: str, message: str) -> CheckOutcome:
    details: dict[str, object] = {
        "findings": [], "errors": [], "counts": {"high": 0, "medium": 0, "low": 0},
        "settings": _settings(spec), "tool": {"name": "shellcheck"},
    }  # fmt: skip
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, clean_text(message), code, details)
    )
