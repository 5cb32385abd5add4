"""The quality check for Node.js deliveries (issue 17): ESLint's directive comments read as
suppressions, and the runner's quality report judged like ruff's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acceptance.engine.spec import QualityLevel, QualitySpec
from checks.eslint_suppressions import suppressions_in_file
from checks.interface import CheckStatus
from checks.quality_eslint import evaluate_eslint_quality
from checks.suppressions import Scope

ON = QualitySpec(enabled=True)
TYPES = {"no-unused-vars": "problem", "no-empty": "suggestion", "no-debugger": "problem"}


def _c(
    line: int, text: str, kind: str = "Line", end: int | None = None
) -> tuple[int, int, str, str]:
    return (line, end or line, kind, text)


# ---------------------------------------------------------------- directives


def test_next_line_with_rules_and_a_reason_is_justified_and_covers_the_next_line() -> None:
    [s] = suppressions_in_file(
        "a.js", [_c(3, " eslint-disable-next-line no-unused-vars -- kept for the public API")]
    )
    assert (s.line, s.scope, s.rules, s.justified) == (4, Scope.LINE, ("no-unused-vars",), True)
    assert s.reason == "kept for the public API"
    assert s.covers("a.js", 4, "no-unused-vars", "no-unused-vars")
    assert not s.covers("a.js", 3, "no-unused-vars", "no-unused-vars")
    assert not s.covers("a.js", 4, "no-empty", "no-empty")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (" eslint-disable-line", "blanket"),
        (" eslint-disable-line no-empty", "no reason"),
        (" eslint-disable-line no-empty -- ok", "a reason of one word"),
        (" eslint-disable-line -- the whole line is generated", "blanket with a reason"),
        (" eslint-disable-line no-empty --no spaces around the dashes", "not ESLint's separator"),
    ],
)
def test_unjustified_forms(text: str, why: str) -> None:
    [s] = suppressions_in_file("a.js", [_c(2, text)])
    assert not s.justified, why


def test_disable_enable_ranges_and_a_blanket_disable_to_the_end() -> None:
    found = suppressions_in_file("a.js", [
        _c(1, " eslint-disable no-console, no-alert -- the CLI talks to its user", "Block"),
        _c(5, " eslint-enable no-console, no-alert ", "Block"),
        _c(7, " eslint-disable ", "Block"),
    ])  # fmt: skip
    first, blanket = found
    assert (first.scope, first.line, first.end_line, first.justified) == (Scope.RANGE, 1, 5, True)
    assert first.covers("a.js", 3, "no-alert", "no-alert")
    assert not first.covers("a.js", 6, "no-alert", "no-alert")
    assert (blanket.blanket, blanket.end_line) == (True, None)
    assert blanket.covers("a.js", 10_000, "no-debugger", "no-debugger")


def test_inline_configuration_is_a_file_wide_suppression_of_the_rules_it_names() -> None:
    [s] = suppressions_in_file(
        "a.js",
        [_c(9, ' eslint no-unused-vars: off, "no-empty": [2, {allowEmptyCatch: true}] ', "Block")],
    )
    assert (s.scope, s.rules, s.justified) == (Scope.FILE, ("no-unused-vars", "no-empty"), False)
    assert s.covers("a.js", 1, "no-empty", "no-empty")


def test_what_eslint_itself_ignores_is_not_a_suppression() -> None:
    comments = [
        _c(1, " eslint no-empty: off"),  # inline config in a // comment
        _c(2, " eslint-disable-line no-empty", "Block", end=3),  # a -line directive over lines
        _c(4, " this mentions eslint-disable but does not start with it"),
        _c(5, " eslint-env node"),
        _c(6, "eslint-disable-next-lines no-empty"),  # another word
    ]
    assert suppressions_in_file("a.js", comments) == []


# ---------------------------------------------------------------- judging


def _report(files_: list[dict[str, Any]], **over: Any) -> bytes:
    document = {"format": 1, "mode": "quality", "tool": {"eslint": "9.39.5"}, "files_checked": 2,
                "truncated": False, "comments_truncated": False, "rule_types": TYPES, "files": files_}  # fmt: skip
    return json.dumps({**document, **over}).encode()


def _msg(rule: str | None, line: int, **over: Any) -> dict[str, Any]:
    return {"rule": rule, "fatal": False, "severity": 2, "line": line, "column": 5,
            "message": f"{rule} here", **over}  # fmt: skip


def test_a_clean_delivery_passes_stating_the_rule_set_and_tool() -> None:
    outcome = evaluate_eslint_quality(_report([]), ON)
    result = outcome.result
    assert result.status is CheckStatus.PASSED, result.summary
    assert result.details["settings"]["rules"] == ["eslint:recommended"]  # type: ignore[index]
    assert result.details["tool"] == {"name": "eslint", "version": "9.39.5"}
    sarif = json.loads(outcome.artifacts["quality.sarif"])
    assert sarif["runs"][0]["tool"]["driver"]["name"] == "eslint"


def test_a_justified_suppression_silences_and_an_unjustified_one_is_a_finding() -> None:
    files = [{
        "path": "lib/a.js",
        "messages": [_msg("no-unused-vars", 4), _msg("no-empty", 8)],
        "comments": [
            [3, 3, "Line", " eslint-disable-next-line no-unused-vars -- kept for the public API"],
            [8, 8, "Line", " eslint-disable-line"],
        ],
        "as_delivered": None,
    }]  # fmt: skip
    result = evaluate_eslint_quality(_report(files), ON).result
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "UNJUSTIFIED_SUPPRESSION")
    findings = {(f["rule"], f["line"]): f for f in result.details["findings"]}  # type: ignore[union-attr]
    assert findings[("no-unused-vars", 4)]["suppressed"] is True
    assert findings[("no-unused-vars", 4)]["suppression_reason"] == "kept for the public API"
    assert findings[("UNJUSTIFIED_SUPPRESSION", 8)]["blocking"] is True
    assert findings[("no-empty", 8)]["blocking"] is True  # a blanket silences nothing
    assert "lib/a.js:8" in result.summary
    listed = result.details["suppressions"]
    assert [(s["line"], s["justified"]) for s in listed] == [(4, True), (8, False)]  # type: ignore[union-attr]


def test_allowed_suppressions_silence_even_a_blanket_one() -> None:
    files = [{"path": "a.js", "messages": [_msg("no-empty", 8)],
              "comments": [[8, 8, "Line", " eslint-disable-line"]], "as_delivered": None}]  # fmt: skip
    spec = QualitySpec(enabled=True, suppressions="allowed")
    assert evaluate_eslint_quality(_report(files), spec).result.status is CheckStatus.PASSED


def test_levels_follow_eslints_rule_kinds_and_fail_on() -> None:
    files = [{"path": "a.js", "messages": [_msg("no-empty", 2)], "as_delivered": None}]
    spec = QualitySpec(enabled=True, fail_on=QualityLevel.ERROR)
    result = evaluate_eslint_quality(_report(files), spec).result
    assert result.status is CheckStatus.PASSED  # a suggestion is a warning, below error
    assert result.details["findings"][0]["level"] == "warning"  # type: ignore[index]
    assert evaluate_eslint_quality(_report(files), ON).result.reason_code == "QUALITY_FINDINGS"


def test_unparsable_and_unpassable_files_are_unlinted_and_block() -> None:
    fatal = _msg(None, 1, fatal=True, message="Parsing error: Unexpected token")
    files = [{"path": "broken.js", "messages": [fatal], "as_delivered": None}]
    why = "a node script whose name ESLint reads as a pattern"
    result = evaluate_eslint_quality(_report(files), ON, [("bin/[x]", why)]).result
    assert result.reason_code == "QUALITY_FINDINGS"
    unlinted = {f["file"] for f in result.details["findings"] if f["rule"] == "UNLINTED"}  # type: ignore[union-attr]
    assert unlinted == {"broken.js", "bin/[x]"}


@pytest.mark.parametrize(
    ("over", "code", "status"),
    [
        ({"truncated": True}, "QUALITY_UNJUDGEABLE", CheckStatus.FAILED),
        ({"comments_truncated": True}, "QUALITY_UNJUDGEABLE", CheckStatus.FAILED),
        ({"comments_truncated": "no"}, "QUALITY_TOOL_ERROR", CheckStatus.ERROR),
        ({"rule_types": []}, "QUALITY_TOOL_ERROR", CheckStatus.ERROR),
        ({"format": 2}, "QUALITY_TOOL_ERROR", CheckStatus.ERROR),
        ({"files": [{"path": "a.js", "messages": [], "comments": [[2, 1, "Line", "x"]]}]},
         "QUALITY_TOOL_ERROR", CheckStatus.ERROR),
        ({"files": [{"path": "a.js", "messages": [], "comments": [[1, 1, "Shebang", "x"]]}]},
         "QUALITY_TOOL_ERROR", CheckStatus.ERROR),
    ],
)  # fmt: skip
def test_a_report_it_cannot_read_or_judge_is_never_a_pass(
    over: dict[str, Any], code: str, status: CheckStatus
) -> None:
    result = evaluate_eslint_quality(_report([], **over), ON).result
    assert (result.status, result.reason_code) == (status, code)


def test_ruff_rules_in_the_spec_are_not_run_on_a_node_delivery() -> None:
    spec = QualitySpec(enabled=True, rules=("E", "F"), default_rules=False)
    result = evaluate_eslint_quality(_report([]), spec).result
    assert (result.status, result.reason_code) == (CheckStatus.NOT_RUN, "RUNTIME_CHECK_UNAVAILABLE")


def test_the_dashboard_links_eslint_rule_pages_and_nothing_else() -> None:
    from web.dashboard.report_checks import _lint_finding

    def url(value: str) -> str | None:
        return _lint_finding({"rule": "no-empty", "url": value}).url

    assert url("https://eslint.org/docs/latest/rules/no-empty") is not None
    assert url("https://typescript-eslint.io/rules/no-unused-vars") is not None
    assert url("https://docs.astral.sh/ruff/rules/unused-import") is not None
    assert url("https://eslint.org.evil.example/rules/x") is None
    assert url("javascript:alert(1)") is None
