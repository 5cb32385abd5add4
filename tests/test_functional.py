"""The functional verdict from pytest's exit code, JUnit XML and the plugin's events."""

from __future__ import annotations

import json

from acceptance.spec import FunctionalSpec
from checks.functional import FunctionalRun, evaluate, parse_events, pytest_command
from checks.interface import CheckStatus


def junit(*cases: str) -> bytes:
    body = "".join(cases)
    return f'<testsuites><testsuite name="pytest">{body}</testsuite></testsuites>'.encode()


PASS = '<testcase classname="tests.test_a" name="test_ok" time="0.01"/>'
FAIL = '<testcase classname="tests.test_a" name="test_bad" time="0.01"><failure message="boom">trace</failure></testcase>'
HIDDEN = '<testcase classname="acceptance_hidden_tests.test_h" name="test_owner" time="0.01"/>'


def run(exit_code: int | None = 0, data: bytes | None = None, **flags: object) -> FunctionalRun:
    fields: dict[str, object] = {
        "exit_code": exit_code,
        "timed_out": False,
        "timeout": 300,
        "output_limit_hit": False,
        "memory_limit_hit": False,
        "junit": data,
        "events": None,
    }
    fields.update(flags)
    return FunctionalRun(**fields)  # type: ignore[arg-type]


def test_all_passing_is_passed_with_counts() -> None:
    result = evaluate(FunctionalSpec(), run(0, junit(PASS, PASS.replace("test_ok", "test_ok2"))), has_hidden=False)
    assert result.status is CheckStatus.PASSED
    assert result.details["tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 0}


def test_a_failure_fails_and_lists_the_test() -> None:
    result = evaluate(FunctionalSpec(), run(1, junit(PASS, FAIL)), has_hidden=False)
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "TESTS_FAILED"
    assert result.details["failing_tests"] == ["tests/test_a.py::test_bad"]


def test_fewer_passes_than_min_passed_fails() -> None:
    result = evaluate(FunctionalSpec(min_passed=3), run(0, junit(PASS)), has_hidden=False)
    assert result.reason_code == "TOO_FEW_PASSED"


def test_no_tests_collected_fails() -> None:
    result = evaluate(FunctionalSpec(min_passed=0), run(5, junit()), has_hidden=False)
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "NO_TESTS"


def test_success_exit_without_results_is_an_invalid_artifact() -> None:
    # e.g. a conftest calling sys.exit(0) before pytest wrote anything
    result = evaluate(FunctionalSpec(), run(0, None), has_hidden=False)
    assert result.reason_code == "INVALID_ARTIFACT"


def test_exit_code_contradicting_the_results_is_caught() -> None:
    result = evaluate(FunctionalSpec(), run(0, junit(PASS, FAIL)), has_hidden=False)
    assert result.status is CheckStatus.FAILED
    assert "INVALID_ARTIFACT" in result.summary or result.reason_code == "TESTS_FAILED"
    forged = evaluate(FunctionalSpec(), run(1, junit(PASS)), has_hidden=False)
    assert forged.reason_code == "INVALID_ARTIFACT"


def test_hidden_tests_must_have_run() -> None:
    missing = evaluate(FunctionalSpec(), run(0, junit(PASS)), has_hidden=True)
    assert missing.reason_code == "HIDDEN_TESTS_NOT_RUN"
    ran = evaluate(FunctionalSpec(), run(0, junit(PASS, HIDDEN)), has_hidden=True)
    assert ran.status is CheckStatus.PASSED
    assert ran.details["hidden_tests"] == 1


def test_timeout_keeps_partial_results_and_the_running_test() -> None:
    events = b"\n".join(
        json.dumps(e).encode()
        for e in [
            {"event": "collected", "count": 2, "hidden": 0, "pytest": "9.2.0"},
            {"event": "start", "nodeid": "t.py::a"},
            {"event": "report", "nodeid": "t.py::a", "when": "call", "outcome": "passed"},
            {"event": "report", "nodeid": "t.py::a", "when": "teardown", "outcome": "passed"},
            {"event": "start", "nodeid": "t.py::b"},
        ]
    )
    result = evaluate(FunctionalSpec(), run(None, None, timed_out=True, events=events, timeout=5), has_hidden=False)
    assert result.reason_code == "TIMEOUT"
    assert result.details["running_test"] == "t.py::b"
    assert result.details["tests"]["passed"] == 1  # type: ignore[index]
    assert "t.py::b was running" in result.summary


def test_events_parser_skips_garbage() -> None:
    summary = parse_events(b'not json\n[1]\n{"event": "collected", "count": true}\n\xff\n')
    assert summary.collected is None
    assert summary.outcomes == {}


def test_pytest_command_separates_paths_from_options() -> None:
    argv = pytest_command(FunctionalSpec(paths=("tests",)), python="/py", hidden=False)
    assert argv[:3] == ["/py", "-m", "pytest"]
    assert argv[-2:] == ["--", "tests"]
