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

from checks.eslint_report import (
    MAX_MESSAGES,
    MAX_REPORT_BYTES,
    REPORT_NAME,
    EslintFinding,
    InvalidReport,
    eslint_command,
    parse_report,
)
from checks.eslint_rules import NodeSources, rule_url
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.options import SastSpec
from checks.report_text import MAX_LISTED_FINDINGS, clean_text
from sandbox.interface import Sandbox, SandboxLimitError

CHECK_ID = "sast"
KIND = "sast"
ARTIFACT_NAME = "eslint.sarif"
_RANK = {"low": 0, "medium": 1, "high": 2}
_SEVERITIES = ("high", "medium", "low")


def run_eslint(
    sandbox: Sandbox,
    spec: SastSpec,
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
        tail = clean_text(result.text[-400:], 400)
        return _error(spec, f"ESLint wrote no usable report (exit code {result.exit_code}): {tail}")
    return evaluate_eslint(data, spec, sources.unscanned, version=version)


def skipped() -> CheckOutcome:
    """`security.sast` turned off in the spec."""
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
    )


def evaluate_eslint(
    report: bytes,
    spec: SastSpec,
    unscanned: Sequence[tuple[str, str]] = (),
    *,
    version: dict[str, str] | None = None,
) -> CheckOutcome:
    """Judge the runner's report: findings, suppressions, files ESLint could not parse."""
    try:
        parsed = parse_report(report)
    except InvalidReport as exc:
        return _error(spec, f"ESLint's report is unusable: {exc}")
    findings, unparsed, truncated = parsed.findings, parsed.unparsed, parsed.truncated
    tool, checked = parsed.tool or dict(version or {}), parsed.files_checked
    confidence = _RANK[str(spec.confidence.value)]
    kept = [f for f in findings if _RANK[f.confidence] >= confidence]
    kept.sort(key=lambda f: (-_RANK[f.severity], -_RANK[f.confidence], f.filename, f.line, f.rule))
    blocking = [
        f for f in kept
        if _RANK[f.severity] >= _RANK[str(spec.fail_on.value)]
        and not (f.suppressed and spec.allow_suppressions)
    ]  # fmt: skip
    blocking_ids = {id(f) for f in blocking}
    # the host and the runner may both name a file (a compiled addon): once is enough
    errors = list({
        e["filename"]: e for e in [*unparsed, *({"filename": n, "reason": r} for n, r in unscanned)]
    }.values())  # fmt: skip
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
            "typescript-eslint": tool.get("typescript-eslint"),
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


def _settings(spec: SastSpec) -> dict[str, object]:
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


def _empty_details(spec: SastSpec) -> dict[str, object]:
    return {
        "findings": [], "errors": [], "counts": {"high": 0, "medium": 0, "low": 0},
        "settings": _settings(spec), "tool": {"name": "eslint"},
    }  # fmt: skip


def _failed(spec: SastSpec, code: str, message: str) -> CheckOutcome:
    return CheckOutcome(
        CheckResult(
            CHECK_ID, KIND, CheckStatus.FAILED, clean_text(message), code, _empty_details(spec)
        )
    )


def _error(spec: SastSpec, message: str) -> CheckOutcome:
    """No usable report: never a pass. As for ShellCheck, the run is rejected rather than
    left unjudged, since delivered code can crash a parser (a stack overflow on nesting)."""
    return _failed(spec, "INVALID_ARTIFACT", message)
