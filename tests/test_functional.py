"""The functional verdict from pytest's exit code, JUnit XML and the plugin's events."""

from __future__ import annotations

import hashlib
import json

from acceptance.spec import FunctionalSpec
from checks.functional import JUNIT_PATH, FunctionalRun, evaluate, parse_events, pytest_command
from checks.interface import CheckStatus
from checks.junit import Outcome, parse_junit


def junit(*cases: str) -> bytes:
    body = "".join(cases)
    return f'<testsuites><testsuite name="pytest">{body}</testsuite></testsuites>'.encode()


PASS = '<testcase classname="tests.test_a" name="test_ok" time="0.01"/>'
FAIL = '<testcase classname="tests.test_a" name="test_bad" time="0.01"><failure message="boom">trace</failure></testcase>'
HIDDEN = '<testcase classname="acceptance_hidden_tests.test_h" name="test_owner" time="0.01"/>'


def plugin_events(
    data: bytes | None, exit_code: int | None, *, seen: bytes | None = None, **finish: object
) -> bytes:
    """The event stream the engine's plugin writes for a run that produced `data`.

    `seen`: the results the tests really had, when `data` is a forgery.
    """
    events: list[dict[str, object]] = [{"event": "collected", "count": 0, "hidden": 0, "pytest": "9.2.0"}]
    ran = data if seen is None else seen
    for case in parse_junit(ran).cases if ran else ():
        outcome = {Outcome.ERROR: "failed"}.get(case.outcome, case.outcome.value)
        when = "setup" if outcome == "skipped" else "call"
        events.append({"event": "report", "nodeid": case.id, "when": when, "outcome": outcome})
    end: dict[str, object] = {
        "event": "finish",
        "exitstatus": exit_code,
        "junit_path": JUNIT_PATH,
        "junit_sha256": hashlib.sha256(data).hexdigest() if data else None,
    }
    events.append({**end, **finish})
    return b"\n".join(json.dumps(e).encode() for e in events)


def run(exit_code: int | None = 0, data: bytes | None = None, **flags: object) -> FunctionalRun:
    """A pytest run as the sandbox reports it; the plugin's events agree with `data` by default."""
    fields: dict[str, object] = {
        "exit_code": exit_code,
        "timed_out": False,
        "timeout": 300,
        "output_limit_hit": False,
        "memory_limit_hit": False,
        "junit": data,
        "events": plugin_events(data, exit_code),
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
    # Results contradicting pytest's exit status cannot be trusted: that is the reason given.
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "pytest reported success but its results list failures" in result.summary
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


def test_results_without_the_plugins_end_of_session_are_not_pytests() -> None:
    # A conftest that writes its own JUnit file and calls os._exit(0).
    result = evaluate(FunctionalSpec(), run(0, junit(PASS), events=None), has_hidden=False)
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "did not finish its session normally" in result.summary


def test_an_unreadable_event_record_is_named_as_such() -> None:
    problem = "/work/out/events.jsonl is larger than the 67108864-byte limit"
    result = evaluate(FunctionalSpec(), run(0, junit(PASS), events=None, events_problem=problem), has_hidden=False)
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "record of the test run could not be read" in result.summary


def test_results_rewritten_after_pytest_wrote_them_are_caught() -> None:
    real = junit(FAIL)
    events = plugin_events(real, 1)
    result = evaluate(FunctionalSpec(), run(1, junit(PASS), events=events), has_hidden=False)
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "changed after pytest wrote it" in result.summary


def test_results_redirected_elsewhere_are_caught() -> None:
    data = junit(PASS)
    events = plugin_events(data, 0, junit_path="/tmp/elsewhere.xml")
    result = evaluate(FunctionalSpec(), run(0, data, events=events), has_hidden=False)
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "redirected" in result.summary


def test_an_altered_exit_status_is_caught() -> None:
    data = junit(PASS)
    result = evaluate(FunctionalSpec(), run(0, data, events=plugin_events(data, 1)), has_hidden=False)
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "exit status was altered" in result.summary


def test_passes_the_plugin_never_saw_are_caught() -> None:
    # Forged before pytest's end, so the digest matches, while the run itself saw a failure.
    data = junit(PASS)
    events = plugin_events(data, 0, seen=junit(FAIL.replace("test_bad", "test_ok")))
    result = evaluate(FunctionalSpec(), run(0, data, events=events), has_hidden=False)
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "only 0 as passed" in result.summary


def test_limits_name_the_root_cause_before_the_timeout() -> None:
    bomb = evaluate(
        FunctionalSpec(), run(None, None, timed_out=True, process_limit_hit=True), has_hidden=False
    )
    assert bomb.reason_code == "PROCESS_LIMIT"
    full = evaluate(FunctionalSpec(), run(1, None, full_filesystems=("/tmp",)), has_hidden=False)
    assert full.reason_code == "DISK_LIMIT" and "/tmp" in full.summary
    hang = evaluate(FunctionalSpec(), run(None, None, timed_out=True, events=b""), has_hidden=False)
    assert hang.reason_code == "TIMEOUT" and "collecting" in hang.summary


def test_an_unreadable_results_file_is_an_invalid_artifact() -> None:
    problem = "the JUnit results file is unusable: /work/out/junit.xml is a symbolic link"
    result = evaluate(FunctionalSpec(), run(0, None, junit_problem=problem), has_hidden=False)
    assert result.reason_code == "INVALID_ARTIFACT" and "symbolic link" in result.summary
    killed = evaluate(FunctionalSpec(), run(137, None), has_hidden=False)
    assert "killed by signal 9" in killed.summary


def test_events_parser_skips_garbage() -> None:
    summary = parse_events(b'not json\n[1]\n{"event": "collected", "count": true}\n\xff\n')
    assert summary.collected is None
    assert summary.outcomes == {}


def test_pytest_command_separates_paths_from_options() -> None:
    argv = pytest_command(FunctionalSpec(paths=("tests",)), python="/py", hidden=False)
    assert argv[:3] == ["/py", "-m", "pytest"]
    assert argv[-2:] == ["--", "tests"]
