"""The SAST check for Node.js deliveries: the engine's ESLint in the sandbox, judged here.

ESLint 9 with eslint-plugin-security, both pinned and installed into the node image at
build time (sandbox/node_tools.py), runs through the engine's runner
(sandbox/image/acceptance_eslint_runner.mjs) on the read-only checkout, before any
supplier code runs (npm rebuild comes after). The configuration is the engine's: no
eslint.config.*, .eslintrc* or package.json "eslintConfig" of the delivery is read, and
the plugin is the image's copy (the runner's imports resolve beside it, never in the
delivery's node_modules).

Inline comments (`/* eslint-disable */`, `// eslint-disable-next-line rule -- why`,
`/* eslint rule: off */`) are the supplier's word, not the owner's: the first pass
ignores them all and lists every finding; the files that mention "eslint" are linted
again as delivered, and a finding that pass does not report is marked `suppressed` (with
ESLint's justification, the text after ` -- `). A suppressed finding still blocks unless
`security.sast.allow_suppressions` is true, as bandit's `# nosec` and ShellCheck's
directives. Levels: checks/eslint_rules.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from checks.eslint_rules import NodeSources, rule_level, rule_url
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.sast import MAX_LISTED_FINDINGS, _clean
from sandbox.interface import Sandbox, SandboxLimitError

CHECK_ID = "sast"
KIND = "sast"
ARTIFACT_NAME = "eslint.sarif"
#: where the node image keeps the engine's ESLint (sandbox/node_tools.py)
ESLINT_DIR = "/opt/acceptance/eslint"
RUNNER = f"{ESLINT_DIR}/acceptance_eslint_runner.mjs"
REPORT_NAME = "eslint.json"
MAX_REPORT_BYTES = 20 * 1024**2
#: findings the runner writes at most; past it the check cannot judge what it did not read
MAX_MESSAGES = 50_000
_RANK = {"low": 0, "medium": 1, "high": 2}
_SEVERITIES = ("high", "medium", "low")


class SastOptions(Protocol):
    """What the check reads of the spec's `security.sast` (acceptance.engine.spec.SastSpec)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def fail_on(self) -> Enum: ...

    @property
    def confidence(self) -> Enum: ...

    @property
    def exclude(self) -> tuple[str, ...]: ...

    @property
    def allow_suppressions(self) -> bool: ...


@dataclass(frozen=True)
class EslintFinding:
    """One ESLint message, validated, with the spec's levels."""

    rule: str
    filename: str
    line: int
    column: int
    message: str
    severity: str
    confidence: str
    cwe: str | None
    suppressed: bool = False
    justification: str = ""

    def key(self) -> tuple[int, int, str]:
        return (self.line, self.column, self.rule)

    def to_report(self, blocking: bool) -> dict[str, object]:
        # The same fields as bandit's findings, so the report's readers need no new case.
        return {
            "test_id": self.rule,
            "test_name": self.rule.removeprefix("security/"),
            "severity": self.severity,
            "confidence": self.confidence,
            "filename": self.filename,
            "line": self.line,
            "column": self.column,
            "text": self.message,
            "cwe": self.cwe,
            "suppressed": self.suppressed,
            "suppression_reason": self.justification or None,
            "more_info": rule_url(self.rule),
            "blocking": blocking,
        }


def eslint_command(
    root: str, report: str, sources: NodeSources, exclude: Sequence[str]
) -> list[str]:
    """Run in the sandbox: the engine's runner on `root`, its JSON into `report`."""
    ignores = [p for e in exclude if (s := e.strip().strip("/")) for p in (s, f"{s}/**")]
    options = {
        "mode": "sast", "root": root, "out": report, "ignores": ignores,
        "extra_files": list(sources.extra), "max_messages": MAX_MESSAGES,
    }  # fmt: skip
    return ["node", RUNNER, json.dumps(options)]


def run_eslint(
    sandbox: Sandbox,
    spec: SastOptions,
    sources: NodeSources,
    *,
    root: str,
    out_dir: str,
    timeout: float,
    version: dict[str, str] | None = None,
) -> CheckOutcome:
    """ESLint over `root` in the sandbox; its report read back through the caps and judged."""
    if not spec.enabled:
        return skipped()
    path = f"{out_dir}/{REPORT_NAME}"
    result = sandbox.run(
        eslint_command(root, path, sources, spec.exclude),
        timeout=timeout, workdir="/tmp", max_output=64 * 1024,
    )  # fmt: skip
    if result.timed_out:
        return _failed(spec, "TIMEOUT", f"ESLint did not finish within {timeout:g} s")
    if result.memory_limit_hit:
        return _failed(spec, "MEMORY_LIMIT", "ESLint ran out of the memory limit")
    try:
        data = sandbox.read_files([(path, MAX_REPORT_BYTES)])[0].value()
    except SandboxLimitError as exc:
        return _failed(spec, "INVALID_ARTIFACT", exc.message)
    if data is None or result.exit_code != 0:
        tail = _clean(result.text[-400:], 400)
        return _error(spec, f"ESLint wrote no usable report (exit code {result.exit_code}): {tail}")
    return evaluate_eslint(data, spec, sources.unscanned, version=version)


def skipped() -> CheckOutcome:
    """`security.sast` turned off in the spec."""
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
    )


def evaluate_eslint(
    report: bytes,
    spec: SastOptions,
    unscanned: Sequence[tuple[str, str]] = (),
    *,
    version: dict[str, str] | None = None,
) -> CheckOutcome:
    """Judge the runner's report: findings, suppressions, files ESLint could not parse."""
    try:
        parsed = _parse(report)
    except ValueError as exc:
        return _error(spec, f"ESLint's report is unusable: {exc}")
    findings, unparsed, truncated, tool, checked = parsed
    tool = tool or dict(version or {})
    confidence = _RANK[str(spec.confidence.value)]
    kept = [f for f in findings if _RANK[f.confidence] >= confidence]
    kept.sort(key=lambda f: (-_RANK[f.severity], -_RANK[f.confidence], f.filename, f.line, f.rule))
    blocking = [
        f for f in kept
        if _RANK[f.severity] >= _RANK[str(spec.fail_on.value)]
        and not (f.suppressed and spec.allow_suppressions)
    ]  # fmt: skip
    blocking_ids = {id(f) for f in blocking}
    errors: list[dict[str, str]] = [
        *unparsed, *({"filename": n, "reason": r} for n, r in unscanned)
    ]  # fmt: skip
    counts = {s: sum(1 for f in kept if f.severity == s) for s in _SEVERITIES}
    suppressed = sum(1 for f in kept if f.suppressed)
    details: dict[str, object] = {
        "findings": [f.to_report(id(f) in blocking_ids) for f in kept[:MAX_LISTED_FINDINGS]],
        "findings_truncated": len(kept) > MAX_LISTED_FINDINGS or truncated,
        "errors": errors[:200],
        "errors_truncated": len(errors) > 200,
        "counts": counts,
        "suppressed": suppressed,
        "files_checked": checked,
        "settings": _settings(spec),
        "tool": {"name": "eslint", "version": tool.get("eslint"), "plugins": {
            "eslint-plugin-security": tool.get("eslint-plugin-security"),
        }},
    }  # fmt: skip
    artifacts = {ARTIFACT_NAME: _sarif(kept, tool)}
    level = spec.fail_on.value
    extras = []
    if suppressed:
        how = "allowed by the spec" if spec.allow_suppressions else "not allowed by the spec"
        extras.append(f"{suppressed} under an eslint-disable comment ({how})")
    if blocking:
        places = ", ".join(f"{f.filename}:{f.line} {f.rule}" for f in blocking[:5]) + (
            ", ..." if len(blocking) > 5 else ""
        )
        summary = "; ".join(
            [f"{len(blocking)} finding(s) at or above {level} in {places}", *extras]
        )
        return _outcome(CheckStatus.FAILED, summary, "SAST_FINDINGS", details, artifacts)
    if truncated:
        summary = (
            f"ESLint reported more than {MAX_MESSAGES} findings; the check does not judge what "
            "it did not read"
        )
        return _outcome(CheckStatus.FAILED, summary, "SAST_UNSCANNABLE", details, artifacts)
    if errors:
        shown = ", ".join(f"{e['filename']} ({e['reason']})" for e in errors[:5])
        summary = (
            f"{len(errors)} file(s) ESLint could not scan: {shown}; code the scanner cannot "
            "read is not accepted"
        )
        return _outcome(CheckStatus.FAILED, summary, "SAST_UNSCANNABLE", details, artifacts)
    below = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    summary = "; ".join(
        [f"no findings at or above {level}" + (f" ({below} in all)" if kept else ""), *extras]
    )
    return _outcome(CheckStatus.PASSED, summary, None, details, artifacts)


_Parsed = tuple[list[EslintFinding], list[dict[str, str]], bool, dict[str, str], int]


def _parse(report: bytes) -> _Parsed:
    """The runner's JSON, every field type-checked; ValueError when it is not that."""
    try:
        document = json.loads(report)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({str(exc)[:100]})") from None
    if not isinstance(document, dict) or document.get("format") != 1:
        raise ValueError("not the engine's ESLint report")
    files, truncated = document.get("files"), document.get("truncated")
    checked, tool = document.get("files_checked"), document.get("tool")
    if not isinstance(files, list) or not isinstance(truncated, bool) or not _count(checked):
        raise ValueError("no list of files, truncation flag or count")
    versions = (
        {str(k): _clean(str(v), 40) for k, v in tool.items() if isinstance(v, str)}
        if isinstance(tool, dict) else {}
    )  # fmt: skip
    findings: list[EslintFinding] = []
    unparsed: list[dict[str, str]] = []
    total = 0
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ValueError("a file entry without a path")
        name = _clean(str(entry["path"]), 1000)
        messages = entry.get("messages")
        if not isinstance(messages, list):
            raise ValueError(f"{name}: no list of messages")
        total += len(messages)
        if total > MAX_MESSAGES:
            raise ValueError(f"more than {MAX_MESSAGES} messages")
        found: list[EslintFinding] = []
        for item in messages:
            rule, fatal, line, column, text = _message(item, name)
            if fatal or rule is None:
                unparsed.append({"filename": name, "reason": _clean(text, 300)})
                continue
            level = rule_level(rule, text)
            found.append(EslintFinding(
                rule, name, line, column, text, level.severity, level.confidence, level.cwe
            ))  # fmt: skip
        findings.extend(_mark_suppressed(found, entry.get("as_delivered"), name))
    return findings, unparsed, truncated, versions, int(checked)  # type: ignore[arg-type]


def _message(item: object, name: str) -> tuple[str | None, bool, int, int, str]:
    if not isinstance(item, dict):
        raise ValueError(f"{name}: a message is not an object")
    rule, fatal, text = item.get("rule"), item.get("fatal"), item.get("message")
    line, column = item.get("line"), item.get("column")
    if not (
        (rule is None or (isinstance(rule, str) and 0 < len(rule) <= 200))
        and isinstance(fatal, bool) and isinstance(text, str) and _count(line) and _count(column)
    ):  # fmt: skip
        raise ValueError(f"{name}: a message lacks a valid rule, line, column or text")
    assert isinstance(line, int) and isinstance(column, int)  # checked by _count
    return (_clean(rule, 200) if rule else None, fatal, line, column, _clean(text))


def _mark_suppressed(
    found: list[EslintFinding], as_delivered: object, name: str
) -> list[EslintFinding]:
    """A finding the as-delivered pass did not report is one the supplier's comments silence."""
    if as_delivered is None:
        return found
    if not isinstance(as_delivered, dict):
        raise ValueError(f"{name}: the as-delivered pass is not an object")
    active, silenced = as_delivered.get("active"), as_delivered.get("suppressed")
    if not isinstance(active, list) or not isinstance(silenced, list):
        raise ValueError(f"{name}: the as-delivered pass lacks its lists")
    kept = {_key(k, name) for k in active}
    reasons: dict[tuple[int, int, str], str] = {}
    for item in silenced:
        if not isinstance(item, list) or len(item) != 4 or not isinstance(item[3], str):
            raise ValueError(f"{name}: a suppressed message is not [line, column, rule, reason]")
        reasons[_key(item[:3], name)] = _clean(item[3], 300)
    return [
        f
        if f.key() in kept
        else replace(f, suppressed=True, justification=reasons.get(f.key(), ""))
        for f in found
    ]


def _key(item: object, name: str) -> tuple[int, int, str]:
    if not (isinstance(item, list) and len(item) == 3 and _count(item[0]) and _count(item[1])):
        raise ValueError(f"{name}: a message key is not [line, column, rule]")
    return (int(item[0]), int(item[1]), _clean(str(item[2]), 200) if item[2] else "")


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _sarif(findings: Sequence[EslintFinding], tool: dict[str, str]) -> bytes:
    """A SARIF 2.1.0 log of the findings, for code-scanning tools."""
    rules = sorted({f.rule for f in findings})
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ESLint", "version": tool.get("eslint") or "unknown",
                "informationUri": "https://eslint.org/",
                "rules": [
                    {"id": r, **({"helpUri": u} if (u := rule_url(r)) else {})} for r in rules
                ],
            }},
            "results": [
                {
                    "ruleId": f.rule,
                    "level": "error" if f.severity == "high" else "warning" if f.severity == "medium" else "note",
                    "message": {"text": f.message},
                    "properties": {"severity": f.severity, "confidence": f.confidence},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": f.filename},
                        "region": {"startLine": max(1, f.line), "startColumn": max(1, f.column)},
                    }}],
                    **({"suppressions": [{
                        "kind": "inSource", **({"justification": f.justification} if f.justification else {}),
                    }]} if f.suppressed else {}),
                }
                for f in findings
            ],
        }],
    }  # fmt: skip
    return json.dumps(document, indent=2, sort_keys=True).encode()


def _settings(spec: SastOptions) -> dict[str, object]:
    return {
        "fail_on": spec.fail_on.value,
        "confidence": spec.confidence.value,
        "exclude": list(spec.exclude),
        "allow_suppressions": spec.allow_suppressions,
    }


def _outcome(
    status: CheckStatus, summary: str, code: str | None, details: dict[str, object],
    artifacts: dict[str, bytes],
) -> CheckOutcome:  # fmt: skip
    return CheckOutcome(CheckResult(CHECK_ID, KIND, status, summary, code, details), artifacts)


def _empty_details(spec: SastOptions) -> dict[str, object]:
    return {
        "findings": [], "errors": [], "counts": {"high": 0, "medium": 0, "low": 0},
        "settings": _settings(spec), "tool": {"name": "eslint"},
    }  # fmt: skip


def _failed(spec: SastOptions, code: str, message: str) -> CheckOutcome:
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, _clean(message), code, _empty_details(spec))
    )


def _error(spec: SastOptions, message: str) -> CheckOutcome:
    """No usable report: never a pass. As for ShellCheck, the run is rejected rather than
    left unjudged, since delivered code can crash a parser (a stack overflow on nesting)."""
    return _failed(spec, "INVALID_ARTIFACT", message)
