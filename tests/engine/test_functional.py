"""The functional verdict from pytest's exit code, JUnit XML and the plugin's events."""

from __future__ import annotations

import hashlib
import json

from acceptance.engine.spec import FunctionalSpec
from checks.functional import JUNIT_PATH, FunctionalRun, evaluate, parse_events, pytest_command
from checks.hidden_tests import (
    HiddenLayout,
    evaluate_hidden,
    hidden_not_run,
    hidden_pytest_command,
    with_hidden,
)
from checks.interface import CheckStatus
from checks.junit import Outcome, parse_junit


def junit(*cases: str) -> bytes:
    body = "".join(cases)
    return f'<testsuites><testsuite name="pytest">{body}</testsuite></testsuites>'.encode()


PASS = '<testcase classname="tests.test_a" name="test_ok" time="0.01"/>'
FAIL = '<testcase classname="tests.test_a" name="test_bad" time="0.01"><failure message="boom">trace</failure></testcase>'
HIDDEN = '<testcase classname="acceptance_hidden_tests.test_h" name="test_owner" time="0.01"/>'


def plugin_events(
    data: bytes | None,
    exit_code: int | None,
    *,
    seen: bytes | None = None,
    junit_path: str = JUNIT_PATH,
    **finish: object,
) -> bytes:
    """The event stream the engine's plugin writes for a run that produced `data`.

    `seen`: the results the tests really had, when `data` is a forgery.
    """
    events: list[dict[str, object]] = [
        {"event": "collected", "count": 0, "hidden": 0, "pytest": "9.2.0"}
    ]
    ran = data if seen is None else seen
    for case in parse_junit(ran).cases if ran else ():
        outcome = {Outcome.ERROR: "failed"}.get(case.outcome, case.outcome.value)
        when = "setup" if outcome == "skipped" else "call"
        events.append({"event": "report", "nodeid": case.id, "when": when, "outcome": outcome})
    end: dict[str, object] = {
        "event": "finish",
        "exitstatus": exit_code,
        "junit_path": junit_path,
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
    result = evaluate(FunctionalSpec(), run(0, junit(PASS, PASS.replace("test_ok", "test_ok2"))))
    assert result.status is CheckStatus.PASSED
    assert result.details["tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 0}


def test_a_failure_fails_and_lists_the_test() -> None:
    result = evaluate(FunctionalSpec(), run(1, junit(PASS, FAIL)))
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "TESTS_FAILED"
    assert result.details["failing_tests"] == ["tests/test_a.py::test_bad"]


def test_fewer_passes_than_min_passed_fails() -> None:
    result = evaluate(FunctionalSpec(min_passed=3), run(0, junit(PASS)))
    assert result.reason_code == "TOO_FEW_PASSED"


def test_no_tests_collected_fails() -> None:
    result = evaluate(FunctionalSpec(min_passed=0), run(5, junit()))
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "NO_TESTS"


def test_success_exit_without_results_is_an_invalid_artifact() -> None:
    # e.g. a conftest calling sys.exit(0) before pytest wrote anything
    result = evaluate(FunctionalSpec(), run(0, None))
    assert result.reason_code == "INVALID_ARTIFACT"


def test_exit_code_contradicting_the_results_is_caught() -> None:
    result = evaluate(FunctionalSpec(), run(0, junit(PASS, FAIL)))
    assert result.status is CheckStatus.FAILED
    # Results contradicting pytest's exit status cannot be trusted: that is the reason given.
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "pytest reported success but its results list failures" in result.summary
    forged = evaluate(FunctionalSpec(), run(1, junit(PASS)))
    assert forged.reason_code == "INVALID_ARTIFACT"


LAYOUT = HiddenLayout("/work/.acceptance-0123")
EXPECTED = ("acceptance_hidden_tests/test_h.py::test_owner",)
HIDDEN_FAIL = (
    '<testcase classname="acceptance_hidden_tests.test_h" name="test_owner" time="0.01">'
    '<failure message="CANARY owner detail">trace</failure></testcase>'
)


def hidden_run(exit_code: int, data: bytes | None, **flags: object) -> FunctionalRun:
    events = plugin_events(data, exit_code, junit_path=LAYOUT.junit)
    return run(exit_code, data, events=events, **flags)


def test_hidden_tests_pass_only_when_every_expected_test_ran_and_passed() -> None:
    outcome = evaluate_hidden(hidden_run(0, junit(HIDDEN)), EXPECTED, LAYOUT)
    assert outcome.problems == ()
    merged = with_hidden(evaluate(FunctionalSpec(), run(0, junit(PASS)), hidden_passed=1), outcome)
    assert merged.status is CheckStatus.PASSED
    assert merged.details["hidden_tests"] == 1
    assert "hidden tests: 1 passed, 0 failed" in merged.summary


def test_missing_renamed_and_extra_hidden_results_fail_naming_them_in_details_only() -> None:
    renamed = HIDDEN.replace("test_owner", "test_owner_fake")
    outcome = evaluate_hidden(hidden_run(0, junit(renamed)), EXPECTED, LAYOUT)
    codes = [code for code, _ in outcome.problems]
    assert codes == ["HIDDEN_TESTS_NOT_RUN"]
    assert outcome.details["missing"] == list(EXPECTED)
    assert outcome.details["unexpected"] == ["acceptance_hidden_tests/test_h.py::test_owner_fake"]
    # The sentence (shown to the supplier) names no hidden test.
    assert "test_owner" not in outcome.problems[0][1]
    merged = with_hidden(evaluate(FunctionalSpec(), run(0, junit(PASS)), hidden_passed=0), outcome)
    assert merged.status is CheckStatus.FAILED
    assert merged.reason_code == "HIDDEN_TESTS_NOT_RUN"


def test_parametrized_hidden_results_count_for_their_function() -> None:
    cases = HIDDEN.replace('name="test_owner"', 'name="test_owner[1]"') + HIDDEN.replace(
        'name="test_owner"', 'name="test_owner[2]"'
    )
    outcome = evaluate_hidden(hidden_run(0, junit(cases)), EXPECTED, LAYOUT)
    assert outcome.problems == ()
    assert outcome.passed == 2


def test_failing_and_skipped_hidden_tests_fail_without_their_messages_in_the_summary() -> None:
    failed = evaluate_hidden(hidden_run(1, junit(HIDDEN_FAIL)), EXPECTED, LAYOUT)
    assert [c for c, _ in failed.problems] == ["TESTS_FAILED"]
    merged = with_hidden(evaluate(FunctionalSpec(), run(0, junit(PASS)), hidden_passed=0), failed)
    assert merged.reason_code == "TESTS_FAILED"
    assert "CANARY" not in merged.summary
    failures = failed.details["failures"]
    assert isinstance(failures, list)
    assert failures[0]["id"] == "acceptance_hidden_tests/test_h.py::test_owner"
    assert "CANARY owner detail" in failures[0]["message"]  # kept for the owner
    skipped = HIDDEN.replace("/>", '><skipped message="x"/></testcase>')
    outcome = evaluate_hidden(hidden_run(0, junit(skipped)), EXPECTED, LAYOUT)
    assert [c for c, _ in outcome.problems] == ["HIDDEN_TESTS_NOT_RUN"]


def test_hidden_results_written_elsewhere_or_changed_are_invalid() -> None:
    data = junit(HIDDEN)
    # The events say pytest wrote the supplier's results path, not the hidden one.
    wrong_path = run(0, data, events=plugin_events(data, 0))
    outcome = evaluate_hidden(wrong_path, EXPECTED, LAYOUT)
    assert [c for c, _ in outcome.problems] == ["INVALID_ARTIFACT"]
    changed = run(0, data, events=plugin_events(junit(HIDDEN_FAIL), 0, junit_path=LAYOUT.junit))
    assert [c for c, _ in evaluate_hidden(changed, EXPECTED, LAYOUT).problems] == [
        "INVALID_ARTIFACT"
    ]


def test_hidden_tests_that_could_not_start_fail_the_check() -> None:
    outcome = hidden_not_run("the run had no time left for them", EXPECTED)
    merged = with_hidden(evaluate(FunctionalSpec(), run(0, junit(PASS)), hidden_passed=0), outcome)
    assert merged.status is CheckStatus.FAILED
    assert merged.reason_code == "HIDDEN_TESTS_NOT_RUN"


def test_a_repository_without_tests_of_its_own_is_judged_by_the_hidden_ones() -> None:
    empty = evaluate(FunctionalSpec(), run(5, junit()), hidden_passed=1)
    assert empty.status is CheckStatus.PASSED
    alone = evaluate(FunctionalSpec(), run(5, junit()))
    assert alone.reason_code == "NO_TESTS"


def test_hidden_command_uses_only_the_engines_configuration() -> None:
    argv = hidden_pytest_command(LAYOUT, original_src="/work/src")
    assert argv[:3] == ["/usr/bin/python3", "-I", "-S"]
    assert argv[argv.index("-c") + 1] == "/opt/acceptance/lib/hidden-pytest.ini"
    assert f"--rootdir={LAYOUT.base}" in argv and f"--confcutdir={LAYOUT.base}" in argv
    assert argv[-1] == LAYOUT.tests


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
    result = evaluate(FunctionalSpec(), run(None, None, timed_out=True, events=events, timeout=5))
    assert result.reason_code == "TIMEOUT"
    assert result.details["running_test"] == "t.py::b"
    assert result.details["tests"]["passed"] == 1  # type: ignore[index]
    assert "t.py::b was running" in result.summary


def test_results_without_the_plugins_end_of_session_are_not_pytests() -> None:
    # A conftest that writes its own JUnit file and calls os._exit(0).
    result = evaluate(FunctionalSpec(), run(0, junit(PASS), events=None))
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "did not finish its session normally" in result.summary


def test_an_unreadable_event_record_is_named_as_such() -> None:
    problem = "/work/out/events.jsonl is larger than the 67108864-byte limit"
    result = evaluate(FunctionalSpec(), run(0, junit(PASS), events=None, events_problem=problem))
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "record of the test run could not be read" in result.summary


def test_results_rewritten_after_pytest_wrote_them_are_caught() -> None:
    real = junit(FAIL)
    events = plugin_events(real, 1)
    result = evaluate(FunctionalSpec(), run(1, junit(PASS), events=events))
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "changed after pytest wrote it" in result.summary


def test_results_redirected_elsewhere_are_caught() -> None:
    data = junit(PASS)
    events = plugin_events(data, 0, junit_path="/tmp/elsewhere.xml")
    result = evaluate(FunctionalSpec(), run(0, data, events=events))
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "redirected" in result.summary


def test_an_altered_exit_status_is_caught() -> None:
    data = junit(PASS)
    result = evaluate(FunctionalSpec(), run(0, data, events=plugin_events(data, 1)))
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "exit status was altered" in result.summary


def test_passes_the_plugin_never_saw_are_caught() -> None:
    # Forged before pytest's end, so the digest matches, while the run itself saw a failure.
    data = junit(PASS)
    events = plugin_events(data, 0, seen=junit(FAIL.replace("test_bad", "test_ok")))
    result = evaluate(FunctionalSpec(), run(0, data, events=events))
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "only 0 as passed" in result.summary


def test_limits_name_the_root_cause_before_the_timeout() -> None:
    bomb = evaluate(FunctionalSpec(), run(None, None, timed_out=True, process_limit_hit=True))
    assert bomb.reason_code == "PROCESS_LIMIT"
    full = evaluate(FunctionalSpec(), run(1, None, full_filesystems=("/tmp",)))
    assert full.reason_code == "DISK_LIMIT" and "/tmp" in full.summary
    hang = evaluate(FunctionalSpec(), run(None, None, timed_out=True, events=b""))
    assert hang.reason_code == "TIMEOUT" and "collecting" in hang.summary


def test_an_unreadable_results_file_is_an_invalid_artifact() -> None:
    problem = "the JUnit results file is unusable: /work/out/junit.xml is a symbolic link"
    result = evaluate(FunctionalSpec(), run(0, None, junit_problem=problem))
    assert result.reason_code == "INVALID_ARTIFACT" and "symbolic link" in result.summary
    killed = evaluate(FunctionalSpec(), run(137, None))
    assert "killed by signal 9" in killed.summary


def test_events_parser_skips_garbage() -> None:
    summary = parse_events(b'not json\n[1]\n{"event": "collected", "count": true}\n\xff\n')
    assert summary.collected is None
    assert summary.outcomes == {}


def test_pytest_command_separates_paths_from_options() -> None:
    argv = pytest_command(FunctionalSpec(paths=("tests",)), python="/py")
    # The runner by its path, not `-m pytest -p name`: no checkout file can stand in for it.
    assert argv[:3] == ["/py", "/opt/acceptance/lib/acceptance_runner.py", "supplier"]
    assert argv[-2:] == ["--", "tests"]
