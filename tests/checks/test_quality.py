"""The quality check on the host: the spec key, the suppression parser, judging ruff's output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acceptance.cli import main
from acceptance.engine.spec import (
    QUALITY_DEFAULT_RULES,
    QualityLevel,
    QualitySpec,
    SpecError,
    parse_spec,
    quality_selector_problem,
)
from checks import ruff_rules
from checks.interface import CheckStatus
from checks.quality import (
    MAX_LISTED_FINDINGS,
    MAX_RUFF_BYTES,
    evaluate_quality,
    excluded_paths,
    quality_command,
)
from checks.suppressions import Scope, parse_comment, suppressions_in_file
from sandbox.image import TOOL_REQUIREMENTS
from tests.conftest import write_spec

# ---------------------------------------------------------------- the spec


def _quality(body: str) -> QualitySpec:
    return parse_spec(f"version: 1\ntitle: t\n{body}", Path(".")).quality


def _problems(body: str) -> tuple[str, ...]:
    with pytest.raises(SpecError) as info:
        parse_spec(f"version: 1\ntitle: t\n{body}", Path("."))
    return info.value.problems


def test_quality_is_off_unless_the_spec_turns_it_on() -> None:
    assert _quality("") == QualitySpec(enabled=False)
    assert not _quality("quality: false\n").enabled
    assert not _quality("quality:\n").enabled


def test_quality_true_means_the_defaults() -> None:
    spec = _quality("quality: true\n")
    assert spec == QualitySpec(enabled=True)
    assert spec.rules == QUALITY_DEFAULT_RULES == ("E4", "E7", "E9", "F")
    assert spec.default_rules and spec.fail_on is QualityLevel.STYLE
    assert spec.suppressions == "justified"


def test_every_field_is_read() -> None:
    spec = _quality(
        "quality: {rules: [e, F401, plr09, ALL], fail_on: Warning, suppressions: forbidden,"
        " exclude: [migrations, ./docs/conf.py]}\n"
    )
    assert spec.rules == ("E", "F401", "PLR09", "ALL")
    assert not spec.default_rules
    assert spec.fail_on is QualityLevel.WARNING
    assert spec.suppressions == "forbidden"
    assert spec.exclude == ("migrations", "./docs/conf.py")
    assert _quality("quality: {rules: default, fail_on: any}\n") == QualitySpec(enabled=True)
    assert not _quality("quality: {enabled: false, rules: [F]}\n").enabled


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("quality: yes please\n", "quality: must be a mapping of keys, true (on with defaults)"),
        ("quality: {rule: [F]}\n", "quality.rule: unknown key; did you mean 'rules'?"),
        ("quality: {rules: F}\n", "quality.rules: must be `default` or a list of ruff rule codes"),
        ("quality: {rules: []}\n", "quality.rules: an empty list would check nothing"),
        (
            "quality: {rules: [XYZ1]}\n",
            "quality.rules[0]: is not a code or prefix of a stable rule of ruff 0.17.6",
        ),
        ("quality: {rules: [P]}\n", "quality.rules[0]: is not a code or prefix"),
        ("quality: {rules: ['E5;rm']}\n", "quality.rules[0]: must be a ruff rule code or prefix"),
        ("quality: {rules: [F, f]}\n", "quality.rules[1]: 'f' duplicates quality.rules[0]"),
        (
            "quality: {fail_on: high}\n",
            "quality.fail_on: must be any or one of style, warning, error",
        ),
        (
            "quality: {suppressions: never}\n",
            "quality.suppressions: must be one of justified, allowed, forbidden",
        ),
        ("quality: {suppressions: no}\n", "write one of the words, e.g. `suppressions: justified`"),
        ("quality: {exclude: [../etc]}\n", "quality.exclude[0]: must not contain '..' components"),
        ("quality: {exclude: ['src/*.py']}\n", "quality.exclude[0]: must be a plain path (no glob"),
        ("quality: {exclude: [.]}\n", "to turn the check off write `quality: false`"),
        ("quality: {exclude: ['--select=ALL']}\n", "must not start with '-'"),
    ],
)
def test_invalid_quality_sections_say_what_is_wrong(body: str, expected: str) -> None:
    problems = _problems(body)
    assert any(expected in problem for problem in problems), problems


def test_a_preview_rule_is_refused_with_the_reason() -> None:
    preview = sorted(ruff_rules.PREVIEW_RULES)[0]
    problem = quality_selector_problem(preview)
    assert problem is not None and "preview rule of ruff 0.17.6" in problem


def test_the_rule_table_is_the_pinned_ruff() -> None:
    assert f"ruff=={ruff_rules.RUFF_VERSION}" in TOOL_REQUIREMENTS
    assert ruff_rules.RULES["F401"] == ("unused-import", "suspicious")
    for selector in ("ALL", "E", "E5", "E501", "F", "PL", "PLR", "PLR0913", "C", "C90", "T20", "S"):
        assert quality_selector_problem(selector) is None, selector


def test_the_cli_refuses_an_invalid_quality_section_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "spec", "quality: {rules: [NOPE1], fail_on: loud}\n")
    code = main(["check", str(tmp_path), "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 2
    assert "quality.rules[0]" in err and "quality.fail_on" in err


# ---------------------------------------------------------------- suppression comments


@pytest.mark.parametrize(
    ("comment", "scope", "rules", "reason"),
    [
        ("# noqa", Scope.LINE, (), None),
        ("#NOQA", Scope.LINE, (), None),
        ("# noqa -- this one says why but names nothing", Scope.LINE, (), None),
        ("# noqa: E501", Scope.LINE, ("E501",), None),
        ("# noqa: E501 -- too short", Scope.LINE, ("E501",), None),
        (
            "# noqa:E501,f401 -- the URL cannot be split",
            Scope.LINE,
            ("E501", "F401"),
            "the URL cannot be split",
        ),
        (
            "# noqa: E501 F401 --   kept   for the plugin loader",
            Scope.LINE,
            ("E501", "F401"),
            "kept for the plugin loader",
        ),
        (
            "# noqa: F401 -- see issue #12 for the loader",
            Scope.LINE,
            ("F401",),
            "see issue #12 for the loader",
        ),
        (
            "# noqa: F401 -- kept for plugins # type: ignore",
            Scope.LINE,
            ("F401",),
            "kept for plugins",
        ),
        ("# ruff: noqa", Scope.FILE, (), None),
        ("# flake8: noqa -- generated by a tool, never edited", Scope.FILE, (), None),
        (
            "# ruff: noqa: F401 -- re-exports for the public API",
            Scope.FILE,
            ("F401",),
            "re-exports for the public API",
        ),
        (
            "# ruff: ignore[F401] -- the loader imports it by name",
            Scope.LINE,
            ("F401",),
            "the loader imports it by name",
        ),
        ("# ruff: ignore[unused-import]", Scope.LINE, ("unused-import",), None),
        (
            "# ruff: file-ignore[E501] -- a table of long URLs",
            Scope.FILE,
            ("E501",),
            "a table of long URLs",
        ),
        (
            "# ruff: disable[E501] -- a table of long URLs",
            Scope.RANGE,
            ("E501",),
            "a table of long URLs",
        ),
    ],
)
def test_suppression_comments_are_classified(
    comment: str, scope: Scope, rules: tuple[str, ...], reason: str | None
) -> None:
    (found,) = suppressions_in_file("a.py", [(4, comment)])
    assert (found.scope, found.rules, found.reason) == (scope, rules, reason)
    assert found.justified is (reason is not None)
    assert found.line == 4


def test_comments_that_only_mention_noqa_are_not_suppressions() -> None:
    assert parse_comment("# we do not use noqa here", 1) == []
    assert parse_comment("# ruff: enable[E501]", 1)[0].scope is None
    assert suppressions_in_file("a.py", [(1, "# ruff: enable[E501]")]) == []


def test_two_directives_in_one_comment_are_both_read() -> None:
    found = suppressions_in_file("a.py", [(3, "# noqa: E501 -- long URL kept whole  # noqa")])
    assert [(s.rules, s.justified) for s in found] == [(("E501",), True), ((), False)]


def test_a_range_runs_to_its_enable_or_to_the_end() -> None:
    closed, open_ended = suppressions_in_file(
        "a.py",
        [
            (2, "# ruff: disable[E501] -- a table of long URLs"),
            (9, "# ruff: enable[E501]"),
            (12, "# ruff: disable[F401]"),
        ],
    )
    assert (closed.line, closed.end_line) == (2, 9)
    assert closed.covers("a.py", 5, "E501", "line-too-long")
    assert not closed.covers("a.py", 10, "E501", "line-too-long")
    assert not closed.covers("b.py", 5, "E501", "line-too-long")
    assert open_ended.covers("a.py", 10_000, "F401", "unused-import")


def test_coverage_matches_codes_or_names_exactly() -> None:
    (by_name,) = suppressions_in_file(
        "a.py", [(1, "# ruff: ignore[unused-import] -- kept for plugins")]
    )
    assert by_name.covers("a.py", 1, "F401", "unused-import")
    assert not by_name.covers("a.py", 2, "F401", "unused-import")
    (by_code,) = suppressions_in_file("a.py", [(1, "# noqa: E50 -- a prefix is not a code")])
    assert not by_code.covers("a.py", 1, "E501", "line-too-long")


@given(st.text(max_size=300))
def test_any_comment_text_parses_without_error(text: str) -> None:
    for found in suppressions_in_file("a.py", [(1, "#" + text)]):
        assert found.justified is (bool(found.rules) and found.reason is not None)
        assert found.reason is None or len(found.reason) <= 300


# ---------------------------------------------------------------- judging the output


def _ruff_item(**over: object) -> dict[str, object]:
    item: dict[str, object] = {
        "cell": None,
        "code": "F401",
        "filename": "/src/demo/__init__.py",
        "location": {"row": 1, "column": 8},
        "end_location": {"row": 1, "column": 10},
        "message": "`os` imported but unused",
        "name": "unused-import",
        "noqa_row": 1,
        "severity": "error",
        "url": "https://docs.astral.sh/ruff/rules/unused-import",
        "fix": None,
    }
    item.update(over)
    return item


def _driver(comments: list[list[object]] | None = None, **over: object) -> bytes:
    doc: dict[str, object] = {
        "version": "ruff 0.17.6",
        "lint_exit": 0,
        "lint_stderr": "",
        "files_exit": 0,
        "files": 2,
        "comments": comments or [],
        "comment_errors": [],
        "encodings": [],
        "unlinted": [],
        "compiled": [],
    }
    doc.update(over)
    return json.dumps(doc).encode()


def _judge(
    items: list[dict[str, object]],
    comments: list[list[object]] | None = None,
    spec: QualitySpec | None = None,
) -> tuple[CheckStatus, str | None, dict[str, object]]:
    outcome = evaluate_quality(
        json.dumps(items).encode(),
        _driver(comments),
        spec or QualitySpec(enabled=True),
        target="/src",
    )
    details = dict(outcome.result.details)
    details["summary"] = outcome.result.summary
    details["artifacts"] = outcome.artifacts
    return outcome.result.status, outcome.result.reason_code, details


def test_a_clean_checkout_passes_and_states_the_rules_and_version() -> None:
    status, code, details = _judge([])
    assert (status, code) == (CheckStatus.PASSED, None)
    assert details["tool"] == {"name": "ruff", "version": "0.17.6"}
    assert details["settings"] == {
        "rules": ["E4", "E7", "E9", "F"], "default_rules": True, "fail_on": "style",
        "suppressions": "justified", "exclude": [],
    }  # fmt: skip
    assert details["summary"] == "no ruff finding at any level"


def test_a_finding_fails_with_its_place_and_level() -> None:
    status, code, details = _judge([_ruff_item()])
    assert (status, code) == (CheckStatus.FAILED, "QUALITY_FINDINGS")
    (finding,) = details["findings"]  # type: ignore[misc]
    assert finding == {
        "rule": "F401", "name": "unused-import", "level": "warning", "file": "demo/__init__.py",
        "line": 1, "column": 8, "message": "`os` imported but unused",
        "url": "https://docs.astral.sh/ruff/rules/unused-import", "suppressed": False,
        "blocking": True,
    }  # fmt: skip
    assert details["summary"] == "1 ruff finding(s) at any level (demo/__init__.py:1 F401)"


@pytest.mark.parametrize(
    ("policy", "comment", "status", "code"),
    [
        ("justified", "# noqa: F401 -- the loader imports it by name", CheckStatus.PASSED, None),
        ("justified", "# noqa: F401", CheckStatus.FAILED, "UNJUSTIFIED_SUPPRESSION"),
        (
            "justified",
            "# noqa -- the loader imports it by name",
            CheckStatus.FAILED,
            "UNJUSTIFIED_SUPPRESSION",
        ),
        ("allowed", "# noqa", CheckStatus.PASSED, None),
        (
            "forbidden",
            "# noqa: F401 -- the loader imports it by name",
            CheckStatus.FAILED,
            "FORBIDDEN_SUPPRESSION",
        ),
    ],
)
def test_suppressions_follow_the_spec(
    policy: str, comment: str, status: CheckStatus, code: str | None
) -> None:
    spec = QualitySpec(enabled=True, suppressions=policy)
    got = _judge([_ruff_item()], [["/src/demo/__init__.py", 1, comment]], spec)
    assert got[:2] == (status, code), got[2]["summary"]
    suppressions = got[2]["suppressions"]
    assert isinstance(suppressions, list) and suppressions[0]["file"] == "demo/__init__.py"


def test_an_unjustified_suppression_silences_nothing() -> None:
    _, code, details = _judge([_ruff_item()], [["/src/demo/__init__.py", 1, "# noqa: F401"]])
    assert code == "UNJUSTIFIED_SUPPRESSION"
    blocking = [(f["rule"], f["line"]) for f in details["findings"] if f["blocking"]]  # type: ignore[attr-defined]
    assert sorted(blocking) == [("F401", 1), ("UNJUSTIFIED_SUPPRESSION", 1)]
    assert "1 unjustified suppression(s) (demo/__init__.py:1)" in str(details["summary"])


def test_a_justified_suppression_of_another_rule_does_not_cover() -> None:
    comment = "# noqa: E501 -- the URL cannot be split"
    _, code, _ = _judge([_ruff_item()], [["/src/demo/__init__.py", 1, comment]])
    assert code == "QUALITY_FINDINGS"


def test_fail_on_filters_by_level() -> None:
    style = _ruff_item(code="E741", name="ambiguous-variable-name", message="Ambiguous `l`")
    spec = QualitySpec(enabled=True, fail_on=QualityLevel.WARNING)
    status, _, details = _judge([style], spec=spec)
    assert status is CheckStatus.PASSED
    assert details["counts"] == {"error": 0, "warning": 0, "style": 1}
    status, code, _ = _judge(
        [_ruff_item(code=None, name="invalid-syntax", noqa_row=None)], spec=spec
    )
    assert (status, code) == (CheckStatus.FAILED, "QUALITY_FINDINGS")


def test_the_sarif_artifact_lists_findings_and_justifications() -> None:
    comment = "# noqa: F401 -- the loader imports it by name"
    _, _, details = _judge([_ruff_item()], [["/src/demo/__init__.py", 1, comment]])
    sarif = json.loads(details["artifacts"]["quality.sarif"])  # type: ignore[index]
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0" and run["tool"]["driver"]["version"] == "0.17.6"
    (result,) = run["results"]
    assert result["ruleId"] == "F401"
    assert (
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "demo/__init__.py"
    )
    assert result["suppressions"] == [
        {"kind": "inSource", "justification": "the loader imports it by name"}
    ]


def test_hostile_text_is_cleaned_and_capped() -> None:
    item = _ruff_item(
        filename="/src/\x1b[31mred\u202e.py",
        message="x\x00\x1b]8;;http://evil\x07" + "y" * 5000,
        url="javascript:alert(1)",
    )
    _, _, details = _judge([item])
    (finding,) = details["findings"]  # type: ignore[misc]
    # invisible characters are spelled out, never dropped: two files never read the same
    assert finding["file"] == "\\u001b[31mred\\u202e.py"
    assert "\x1b" not in finding["file"] and "\u202e" not in finding["file"]
    assert "\x00" not in finding["message"] and "\x1b" not in finding["message"]
    assert len(finding["message"]) <= 300
    assert finding["url"] is None


def test_the_listing_is_capped() -> None:
    items = [
        _ruff_item(location={"row": n, "column": 1}, noqa_row=n)
        for n in range(1, MAX_LISTED_FINDINGS + 50)
    ]
    _, _, details = _judge(items)
    assert len(details["findings"]) == MAX_LISTED_FINDINGS  # type: ignore[arg-type]
    assert details["findings_truncated"] is True


@pytest.mark.parametrize(
    ("ruff_json", "driver", "says"),
    [
        (b"[", _driver(), "ruff's report is not valid JSON"),
        (b"{}", _driver(), "ruff's report is not a list"),
        (json.dumps([_ruff_item(code="rm -rf")]).encode(), _driver(), "is not a ruff rule code"),
        (
            json.dumps([_ruff_item(location={"row": True, "column": 1})]).encode(),
            _driver(),
            "location",
        ),
        (b"x" * (MAX_RUFF_BYTES + 1), _driver(), "larger than"),
        (b"[]", _driver(version=""), "ruff did not report its version"),
        (
            b"[]",
            _driver(lint_exit=2, lint_stderr="ruff failed: Cause: panic"),
            "ruff exited with code 2",
        ),
        (
            b"[]",
            _driver(comments=[["a.py", "one", "# noqa"]]),
            "comments[0] is not [file, line, text]",
        ),
        (None, _driver(), "ruff exited with code 0"),
        (b"[]", b"\xff", "the driver's report is not valid JSON"),
    ],
)
def test_output_that_cannot_be_judged_is_an_error_never_a_pass(
    ruff_json: bytes | None, driver: bytes, says: str
) -> None:
    outcome = evaluate_quality(ruff_json, driver, QualitySpec(enabled=True), target="/src")
    assert outcome.result.status is CheckStatus.ERROR
    assert outcome.result.reason_code == "QUALITY_TOOL_ERROR"
    assert says in outcome.result.summary


def test_the_command_isolates_ruff_from_the_supplier() -> None:
    spec = QualitySpec(enabled=True, rules=("E", "F"), exclude=("migrations", "./docs/"))
    argv = quality_command(spec, target="/src", out_dir="/work/out")
    assert argv[:3] == ["/opt/acceptance/tools/bin/python", "-I", "-c"]
    assert argv[4:] == [
        "/opt/acceptance/tools/bin/ruff", "/src", "/work/out/quality", "E,F",
        "/src/.git,/src/acceptance_hidden_tests,/src/migrations,/src/docs",
    ]  # fmt: skip
    driver = argv[3]
    for flag in (
        "--isolated",
        "--ignore-noqa",
        "--no-respect-gitignore",
        "--no-cache",
        "--exclude",
    ):
        assert flag in driver
    assert excluded_paths(QualitySpec(enabled=True), target="/src/") == [
        "/src/.git",
        "/src/acceptance_hidden_tests",
    ]


# ---------------------------------------------------------------- comparing runs


def test_a_comparison_lists_quality_findings_new_and_fixed() -> None:
    from acceptance.engine.compare import compare_reports

    def predicate(*findings: tuple[str, str, int, str]) -> dict[str, object]:
        listed = [
            {"rule": r, "file": f, "line": n, "message": m, "level": "warning", "blocking": True}
            for r, f, n, m in findings
        ]
        return {
            "verdict": "rejected",
            "checks": [
                {"id": "quality", "kind": "quality", "status": "failed", "findings": listed}
            ],
        }

    before = predicate(
        ("F401", "a.py", 1, "`os` imported but unused"), ("E711", "a.py", 9, "Comparison to None")
    )
    # The F401 moved down two lines: the same finding, not a new one.
    after = predicate(
        ("F401", "a.py", 3, "`os` imported but unused"),
        ("UNJUSTIFIED_SUPPRESSION", "b.py", 2, "blanket noqa"),
    )
    diff = compare_reports(before, after).to_json(hidden_ids=False)["quality"]
    assert [(c["rule"], c["file"], c["lines"], c["severity"]) for c in diff["new"]] == [
        ("UNJUSTIFIED_SUPPRESSION", "b.py", [2], "warning")
    ]
    assert [(c["rule"], c["lines"]) for c in diff["fixed"]] == [("E711", [9])]
    assert diff["unavailable"] is False
    assert compare_reports({"checks": []}, after).quality.unavailable


@pytest.mark.parametrize(
    ("exit_code", "stderr"),
    [
        (-6, "thread 'main' has overflowed its stack\nfatal runtime error: stack overflow"),
        (101, "thread 'main' panicked at crates/ruff_linter/src/x.rs:1:1"),
    ],
)
def test_a_delivery_that_crashes_ruff_fails_the_check_as_the_suppliers_to_fix(
    exit_code: int, stderr: str
) -> None:
    outcome = evaluate_quality(
        None, _driver(lint_exit=exit_code, lint_stderr=stderr), QualitySpec(enabled=True)
    )
    assert outcome.result.status is CheckStatus.FAILED
    assert outcome.result.reason_code == "QUALITY_UNJUDGEABLE"
    assert f"exit code {exit_code}" in outcome.result.summary


def test_more_findings_than_the_engine_reads_fail_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from checks import quality_output

    monkeypatch.setattr(quality_output, "MAX_RESULTS", 3)
    items = [_ruff_item(location={"row": n, "column": 1}) for n in range(1, 6)]
    outcome = evaluate_quality(json.dumps(items).encode(), _driver(), QualitySpec(enabled=True))
    assert outcome.result.status is CheckStatus.FAILED
    assert outcome.result.reason_code == "QUALITY_UNJUDGEABLE"
    assert "more than 3 problems" in outcome.result.summary


def test_a_file_not_in_utf8_or_skipped_by_ruff_always_blocks() -> None:
    driver = _driver(
        encodings=[["/work/src/lib/a.py", "declares utf-7"], ["/work/src/lib/b.py", "not UTF-8"]],
        unlinted=["/work/src/lib/c.py: Permission denied (os error 13)"],
    )
    spec = QualitySpec(enabled=True, fail_on=QualityLevel.ERROR)
    outcome = evaluate_quality(b"[]", driver, spec)
    assert outcome.result.status is CheckStatus.FAILED
    assert outcome.result.reason_code == "QUALITY_FINDINGS"
    findings = outcome.result.details["findings"]
    assert {(f["file"], f["rule"], f["blocking"]) for f in findings} == {  # type: ignore[union-attr]
        ("lib/a.py", "ENCODING", True),
        ("lib/b.py", "ENCODING", True),
        ("lib/c.py", "UNLINTED", True),
    }


def test_a_driver_report_without_the_encoding_lists_is_an_error() -> None:
    doc = json.loads(_driver())
    del doc["encodings"]
    outcome = evaluate_quality(b"[]", json.dumps(doc).encode(), QualitySpec(enabled=True))
    assert outcome.result.status is CheckStatus.ERROR
    assert outcome.result.reason_code == "QUALITY_TOOL_ERROR"


def test_a_justified_noqa_in_a_lookalike_file_silences_only_its_own_file() -> None:
    lookalike = "/src/lib/core\u200b.py"
    items = [_ruff_item(filename="/src/lib/core.py", code="F401", location={"row": 1, "column": 1})]
    comments: list[list[object]] = [[lookalike, 1, "# noqa: F401 -- kept for the plugin loader"]]
    status, code, details = _judge(items, comments)
    assert (status, code) == (CheckStatus.FAILED, "QUALITY_FINDINGS")
    (finding,) = details["findings"]  # type: ignore[misc]
    assert finding["file"] == "lib/core.py" and not finding["suppressed"]
    (suppression,) = details["suppressions"]  # type: ignore[misc]
    assert suppression["file"] == "lib/core\\u200b.py"


def test_isort_action_comments_are_suppressions_of_unsorted_imports() -> None:
    found = suppressions_in_file(
        "a.py",
        [
            (1, "# isort: skip_file"),
            (3, "# ruff: isort: off -- generated block kept in the order it loads"),
            (9, "# isort: on"),
            (12, "# isort: skip"),
        ],
    )
    assert [(s.scope, s.rules, s.justified) for s in found] == [
        (Scope.FILE, ("I001",), False),
        (Scope.RANGE, ("I001",), True),
        (Scope.LINE, ("I001",), False),
    ]
    assert found[1].end_line == 9
    assert parse_comment("# isort: splitting hairs", 1) == []


def test_compiled_files_and_unreadable_comments_always_block() -> None:
    driver = _driver(
        compiled=["/work/src/lib/__pycache__/core.cpython-311.pyc", "/work/src/lib/fast.so"],
        comment_errors=[["/work/src/lib/d.py", "TokenError"]],
    )
    spec = QualitySpec(enabled=True, fail_on=QualityLevel.ERROR)
    outcome = evaluate_quality(b"[]", driver, spec)
    assert (outcome.result.status, outcome.result.reason_code) == (
        CheckStatus.FAILED,
        "QUALITY_FINDINGS",
    )
    findings = outcome.result.details["findings"]
    assert {(f["file"], f["rule"], f["blocking"]) for f in findings} == {  # type: ignore[union-attr]
        ("lib/__pycache__/core.cpython-311.pyc", "UNLINTED", True),
        ("lib/fast.so", "UNLINTED", True),
        ("lib/d.py", "UNLINTED", True),
    }


def test_comments_past_the_cap_make_the_delivery_unjudgeable() -> None:
    outcome = evaluate_quality(b"[]", _driver(comments_truncated=True), QualitySpec(enabled=True))
    assert (outcome.result.status, outcome.result.reason_code) == (
        CheckStatus.FAILED,
        "QUALITY_UNJUDGEABLE",
    )
    assert "action comments" in outcome.result.summary


def test_a_driver_report_without_the_compiled_list_is_an_error() -> None:
    doc = json.loads(_driver())
    del doc["compiled"]
    outcome = evaluate_quality(b"[]", json.dumps(doc).encode(), QualitySpec(enabled=True))
    assert (outcome.result.status, outcome.result.reason_code) == (
        CheckStatus.ERROR,
        "QUALITY_TOOL_ERROR",
    )


def test_isort_split_is_a_suppression_of_unsorted_imports() -> None:
    found = suppressions_in_file(
        "a.py", [(4, "# isort: split"), (7, "# ruff: isort: split -- the plugin must load first")]
    )
    assert [(s.line, s.scope, s.rules, s.justified) for s in found] == [
        (4, Scope.LINE, ("I001",), False),
        (7, Scope.LINE, ("I001",), True),
    ]


def test_a_reason_keeps_no_surrogate_control_or_format_character() -> None:
    text = "# noqa: F401 -- kept \ud800 for the\u202e plugin\x07 loader"
    (found,) = suppressions_in_file("a.py", [(1, text)])
    assert found.reason == "kept for the plugin loader"
    json.dumps(found.to_report(), ensure_ascii=False).encode("utf-8")


def _run_driver(tree: Path, out: Path) -> dict[str, object]:
    """The sandbox's driver run on the host, with the host's ruff."""
    argv = quality_command(QualitySpec(enabled=True), target=str(tree), out_dir=str(out))
    argv[0], argv[4] = sys.executable, str(Path(sys.executable).with_name("ruff"))
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    doc = json.loads((out / "quality" / "comments.json").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_the_driver_reads_cookies_as_python_does_and_lists_compiled_files(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    (tree / "lib" / "__pycache__").mkdir(parents=True)
    files = {
        # a bare CR ends line 1 for CPython: the cookie on line 2 counts
        "lib/cr_utf7.py": b"\r# -*- coding: utf-7 -*-\r\nX = 1\r\n",
        # other spellings of UTF-8 are UTF-8
        "lib/utf8_cookie.py": b"# -*- coding: utf8 -*-\nX = 1  # noqa: F401 -- kept for the loader\n",
        "lib/utf_8_cookie.py": b"# coding=UTF_8\nX = 1\n",
        "lib/__pycache__/core.cpython-311.pyc": b"\x00",
        "lib/fast.abi3.so": b"\x7fELF",
        "lib/data.txt": b"not code",
    }
    for rel, data in files.items():
        (tree / rel).write_bytes(data)
    (tree / ".git").mkdir()
    (tree / ".git" / "objects.pyc").write_bytes(b"\x00")

    doc = _run_driver(tree, tmp_path / "out")

    assert doc["encodings"] == [[str(tree / "lib/cr_utf7.py"), "declares utf-7"]]
    assert sorted(doc["compiled"]) == [  # type: ignore[arg-type]
        str(tree / "lib/__pycache__/core.cpython-311.pyc"),
        str(tree / "lib/fast.abi3.so"),
    ]
    assert doc["comments"] == [
        [str(tree / "lib/utf8_cookie.py"), 2, "# noqa: F401 -- kept for the loader"]
    ]
