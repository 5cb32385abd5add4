"""The quality check for shell deliveries: ShellCheck's checks, suppressions judged like ruff's.

The same ShellCheck runs as the shell SAST check (checks/shellcheck_scan.py): the shell
files and the files they load, `--norc` (a delivery's `.shellcheckrc` turns nothing off),
on copies whose `disable=` and `source=` directive keys are blanked, so every finding is
listed; the files with directives are scanned again as delivered, and what that scan no
longer reports is what the directives silence. The directives themselves are read here,
on the host, from the delivered bytes (`# shellcheck disable=SC2086 # the reason`), and
checks/quality.py's `judge_lint` decides which stand (`quality.suppressions`), exactly as
for ruff's `# noqa`: with `justified`, a directive must name its checks (never `all` or a
range) and give a reason of at least three words after a `#` (or ` -- `); an unjustified
or blanket one is an `UNJUSTIFIED_SUPPRESSION` finding at its line and silences nothing.

Levels: ShellCheck's error -> error, warning -> warning, info and style -> style. The
rules are ShellCheck's default checks (`quality.rules: default`); a spec listing ruff's
rules is `not_run` (RUNTIME_CHECK_UNAVAILABLE), never passed. A file that is not scanned
(too large, past the caps) is an `UNLINTED` finding that always blocks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from checks.interface import CheckOutcome, CheckStatus
from checks.options import QualityLevel, QualitySpec
from checks.quality import (
    UNJUDGEABLE,
    LintTool,
    _failed,
    _unlinted,
    judge_lint,
)
from checks.quality_other_linters import rules_unavailable
from checks.quality_output import Finding
from checks.shellcheck import WIKI, ShellFinding, _parse
from checks.shellcheck_scan import Collected, ScanFailure, ScanPlan, collect, document
from checks.suppressions import Scope, Suppression, _reason
from sandbox.interface import Sandbox

#: the effective rule set the report states
RULE_SET = "shellcheck:default"
REPORT_NAME = "shellcheck-quality"
#: directives read in all; past it the check fails (the delivery's doing)
MAX_DIRECTIVES = 50_000
MAX_READ_BYTES = 2 * 1024**2
_LEVELS = {"error": QualityLevel.ERROR, "warning": QualityLevel.WARNING,
           "info": QualityLevel.STYLE, "style": QualityLevel.STYLE}  # fmt: skip
#: a directive: a comment (at the line's start or after a blank or `;`) starting `shellcheck`
_DIRECTIVE = re.compile(rb"(?:^|(?<=[ \t;]))#[ \t]*shellcheck[ \t]+([^\n]*)", re.MULTILINE)
_CODE = re.compile(r"^(?:SC)?([0-9]{1,5})$", re.IGNORECASE)
_RANGE = re.compile(r"^(?:SC)?[0-9]{1,5}-(?:SC)?[0-9]{1,5}$", re.IGNORECASE)


@dataclass(frozen=True)
class DirectiveSuppression(Suppression):
    """A `# shellcheck disable=` directive: it silences exactly what ShellCheck, reading the
    file as delivered, no longer reports below it (never a finding it still reports)."""

    silenced: frozenset[tuple[int, str]] = frozenset()

    def covers(self, file: str, line: int, code: str, name: str) -> bool:
        return file == self.file and (line, code.upper()) in self.silenced


def not_available(spec: QualitySpec) -> CheckOutcome | None:
    """Skipped when off; `not_run` when the rules are ruff's selectors: never a pass."""
    return rules_unavailable(spec, "a shell delivery", f"ShellCheck's default checks ({RULE_SET})")


def run_shellcheck_quality(
    sandbox: Sandbox,
    spec: QualitySpec,
    plan: ScanPlan,
    *,
    plain_root: str,
    original_root: str,
    out_dir: str,
    timeout: float,
    version: str | None = None,
) -> CheckOutcome:
    """ShellCheck on the plan's files in the sandbox; the findings and directives judged here."""
    early = not_available(spec)
    if early is not None:
        return early
    try:
        found = collect(
            sandbox, plan, plain_root=plain_root, original_root=original_root,
            out_dir=out_dir, timeout=timeout, report_name=REPORT_NAME,
        )  # fmt: skip
    except ScanFailure as failure:
        if failure.flood:
            return _unjudgeable(spec, f"ShellCheck found more than the engine reads ({failure})")
        if failure.kind in ("TIMEOUT", "MEMORY_LIMIT"):
            return _failed(spec, CheckStatus.FAILED, failure.kind, failure.message)
        return _failed(
            spec, CheckStatus.ERROR, "QUALITY_TOOL_ERROR",
            f"the linter could not judge: {failure.message}",
        )  # fmt: skip
    directives = {name: _read(plan.tree / name) for name in sorted(plan.scanned)}
    return evaluate_shellcheck_quality(found, directives, spec, plan.unscanned, version)


def evaluate_shellcheck_quality(
    found: Collected,
    files: Mapping[str, bytes | None],
    spec: QualitySpec,
    unscanned: Mapping[str, str] = {},
    version: str | None = None,
) -> CheckOutcome:
    """Judge ShellCheck's comments and the delivered files' directives; never raises."""
    early = not_available(spec)
    if early is not None:
        return early
    try:
        plain = _parse(document(found.plain))
        delivered = _parse(document(found.as_delivered)) if found.as_delivered else []
    except ValueError as exc:
        return _failed(
            spec, CheckStatus.ERROR, "QUALITY_TOOL_ERROR", f"ShellCheck's report is unusable: {exc}"
        )
    directives: list[Suppression] = []
    for name, data in files.items():
        directives += directives_in_file(name, data or b"", MAX_DIRECTIVES - len(directives))
        if len(directives) > MAX_DIRECTIVES:
            return _unjudgeable(
                spec, f"the delivered files hold more than {MAX_DIRECTIVES} shellcheck directives"
            )
    kept = {f.key() for f in delivered}
    with_directives = {d.file for d in directives}
    silenced = [f for f in plain if f.filename in with_directives and f.key() not in kept]
    suppressions = _extents(directives, silenced)
    raw = [_finding(f) for f in plain]
    unlinted = [_unlinted(name, f"not linted: {why}") for name, why in unscanned.items()]
    return judge_lint(
        spec, raw, suppressions, unlinted,
        tool=LintTool("shellcheck", version or "unknown", "https://www.shellcheck.net/"),
        details={"files_checked": len(files)}, rules=[RULE_SET],
    )  # fmt: skip


def directives_in_file(file: str, data: bytes, limit: int | None = None) -> list[Suppression]:
    """The `# shellcheck disable=...` directives of one file, each with its reason (if any);
    reading stops past `limit` directives."""
    found: list[Suppression] = []
    line, counted = 1, 0
    for match in _DIRECTIVE.finditer(data):
        if limit is not None and len(found) > limit:
            break
        line += data.count(b"\n", counted, match.start())
        counted = match.start()
        text = match.group(1).decode("utf-8", errors="replace")
        keys, reason = _split_reason(text)
        rules: list[str] = []
        blanket = False
        disables = False
        for key in keys.split():
            name, _, value = key.partition("=")
            if name != "disable":
                continue
            for item in value.split(","):
                code = _CODE.match(item.strip())
                if code is not None:
                    rules.append(f"SC{int(code.group(1))}")
                    disables = True
                elif item.strip().lower() == "all" or _RANGE.match(item.strip()):
                    blanket = disables = True
        if not disables:
            continue
        found.append(Suppression(
            file, line, Scope.RANGE, () if blanket else tuple(dict.fromkeys(rules)),
            _reason(f"-- {reason}") if reason and not blanket else None,
            "shellcheck disable", end_line=line,
        ))  # fmt: skip
    return found


def _split_reason(text: str) -> tuple[str, str | None]:
    """The directive's keys and its justification: after a `#` (ShellCheck's own form) or ` -- `."""
    for marker in ("#", " -- "):
        keys, sep, reason = text.partition(marker)
        if sep:
            return keys, reason.strip()
    return text, None


def _extents(
    directives: Sequence[Suppression], silenced: Sequence[ShellFinding]
) -> list[Suppression]:
    """Each directive with the findings it silenced (ShellCheck decided which): a silenced
    finding belongs to the nearest directive at or above it naming its check, or blanket."""
    owned: dict[int, set[tuple[int, str]]] = {id(d): set() for d in directives}
    for f in silenced:
        code = f"SC{f.code}"
        owner = max(
            (d for d in directives
             if d.file == f.filename and d.line <= f.line and (not d.rules or code in d.rules)),
            key=lambda d: d.line, default=None,
        )  # fmt: skip
        if owner is not None:
            owned[id(owner)].add((f.line, code))
    return [
        DirectiveSuppression(
            d.file,
            d.line,
            d.scope,
            d.rules,
            d.reason,
            d.directive,
            end_line=max([d.line, *(line for line, _ in owned[id(d)])]),
            silenced=frozenset(owned[id(d)]),
        )  # fmt: skip
        for d in directives
    ]


def _finding(f: ShellFinding) -> Finding:
    code = f"SC{f.code}"
    return Finding(
        code, code.lower(), _LEVELS[f.level], f.filename, f.line, f.column, f.message,
        f"{WIKI}{f.code}",
    )  # fmt: skip


def _read(path: Path) -> bytes | None:
    try:
        if path.is_symlink():
            return None
        with open(path, "rb") as handle:
            return handle.read(MAX_READ_BYTES)
    except OSError:
        return None


def _unjudgeable(spec: QualitySpec, why: str) -> CheckOutcome:
    return _failed(
        spec, CheckStatus.FAILED, UNJUDGEABLE,
        f"the linter could not judge the delivery: {why}; fix or remove the file that stops "
        "it (nothing was passed unlinted)",
    )  # fmt: skip
