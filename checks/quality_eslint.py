"""The quality check for Node.js deliveries: ESLint's recommended rules, judged like ruff's.

The same engine's ESLint and runner as the node SAST check (checks/eslint.py), in
`quality` mode: `@eslint/js`'s recommended rules with Node's and ES2024's globals, no
configuration of the delivery, inline comments off, so every finding is listed. The
runner also hands back the comments that mention "eslint", as ESLint's parser read them;
checks/eslint_suppressions.py reads their directives, and checks/quality.py's
`judge_lint` decides which suppressions stand (`quality.suppressions`) exactly as it does
for ruff's `# noqa`: an unjustified or blanket one is an `UNJUSTIFIED_SUPPRESSION`
finding at its line.

Levels come from ESLint's own kind of each rule: problem -> error, suggestion ->
warning, layout -> style. TypeScript is parsed by typescript-eslint's parser, with its
no-unused-vars in place of the core one (which misreads enums, overloads and type-only
names) and `no-undef`, `no-redeclare` and `no-dupe-class-members` off. A file ESLint
cannot parse is an `UNLINTED` finding that always blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from checks.eslint_report import (
    MAX_COMMENTS,
    MAX_MESSAGES,
    MAX_REPORT_BYTES,
    REPORT_NAME,
    InvalidReport,
    eslint_command,
    parse_report,
)
from checks.eslint_rules import CORE_DOCS, TYPESCRIPT_DOCS, NodeSources
from checks.eslint_suppressions import suppressions_in_file
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
from checks.report_text import clean_text
from sandbox.interface import Sandbox, SandboxLimitError

#: the effective rule set the report states
RULE_SET = "eslint:recommended"
_LEVELS = {"problem": QualityLevel.ERROR, "suggestion": QualityLevel.WARNING,
           "layout": QualityLevel.STYLE}  # fmt: skip
_CRASH_WORDS = ("Maximum call stack size exceeded", "JavaScript heap out of memory")


def not_available(spec: QualitySpec) -> CheckOutcome | None:
    """A spec whose rules are ruff's selectors cannot be judged by ESLint: never a pass."""
    return rules_unavailable(spec, "a Node.js delivery", f"ESLint's recommended rules ({RULE_SET})")


def run_eslint_quality(
    sandbox: Sandbox,
    spec: QualitySpec,
    sources: NodeSources,
    *,
    root: str,
    out_dir: str,
    timeout: float,
) -> CheckOutcome:
    """ESLint's recommended rules over `root` in the sandbox, judged here."""
    early = not_available(spec)
    if early is not None:
        return early
    path = f"{out_dir}/{REPORT_NAME}"
    result = sandbox.run(
        eslint_command(root, path, sources, spec.exclude, mode="quality"),
        timeout=timeout, workdir="/tmp", max_output=64 * 1024,
    )  # fmt: skip
    if result.timed_out:
        return _failed(
            spec, CheckStatus.FAILED, "TIMEOUT", f"ESLint did not finish within {timeout:g} s"
        )
    if result.memory_limit_hit:
        return _failed(
            spec, CheckStatus.FAILED, "MEMORY_LIMIT", "ESLint ran out of the memory limit"
        )
    try:
        data = sandbox.read_files([(path, MAX_REPORT_BYTES)])[0].value()
    except SandboxLimitError as exc:
        return _unjudgeable(spec, f"ESLint's report about the delivered files: {exc.message}")
    said = clean_text(result.text[-300:], 300)
    if data is None or result.exit_code != 0:
        if any(word in result.text for word in _CRASH_WORDS):
            return _unjudgeable(spec, f"ESLint crashed on the delivered files: {said}")
        return _failed(
            spec, CheckStatus.ERROR, "QUALITY_TOOL_ERROR",
            f"the linter did not run (exit code {result.exit_code}) {said}".strip(),
        )  # fmt: skip
    return evaluate_eslint_quality(data, spec, sources.unscanned)


def evaluate_eslint_quality(
    report: bytes, spec: QualitySpec, unscanned: Sequence[tuple[str, str]] = ()
) -> CheckOutcome:
    """Judge the runner's quality report; never raises for bad input."""
    early = not_available(spec)
    if early is not None:
        return early
    try:
        parsed = parse_report(report)
    except InvalidReport as exc:
        return _failed(
            spec, CheckStatus.ERROR, "QUALITY_TOOL_ERROR", f"the linter could not judge: {exc}"
        )
    if parsed.truncated:
        return _unjudgeable(spec, f"ESLint reported more than {MAX_MESSAGES} findings")
    if parsed.comments_truncated:
        return _unjudgeable(
            spec, f"the delivered files hold more than {MAX_COMMENTS} eslint comments"
        )
    raw = [
        Finding(
            f.rule, f.rule, _LEVELS.get(parsed.rule_types.get(f.rule, ""), QualityLevel.WARNING),
            f.filename, f.line, f.column, f.message, _url(f.rule),
        )
        for f in parsed.findings
    ]  # fmt: skip
    suppressions = [
        s
        for file, comments in sorted(parsed.comments.items())
        for s in suppressions_in_file(file, comments)
    ]
    named = {e["filename"] for e in parsed.unparsed}
    unlinted = [
        _unlinted(e["filename"], f"ESLint could not parse this file ({e['reason']})")
        for e in parsed.unparsed
    ] + [_unlinted(name, f"not linted: {why}") for name, why in unscanned if name not in named]
    return judge_lint(
        spec, raw, suppressions, unlinted,
        tool=LintTool("eslint", parsed.tool.get("eslint", "unknown"), "https://eslint.org/"),
        details={"files_checked": parsed.files_checked}, rules=[RULE_SET],
    )  # fmt: skip


def _url(rule: str) -> str | None:
    if rule.startswith("@typescript-eslint/"):
        return f"{TYPESCRIPT_DOCS}{rule.removeprefix('@typescript-eslint/')}"
    return f"{CORE_DOCS}{rule}" if "/" not in rule else None


def _unjudgeable(spec: QualitySpec, why: str) -> CheckOutcome:
    return _failed(
        spec, CheckStatus.FAILED, UNJUDGEABLE,
        f"the linter could not judge the delivery: {why}; fix or remove the file that stops "
        "it (nothing was passed unlinted)",
    )  # fmt: skip
