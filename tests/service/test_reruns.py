"""Re-runs of failed tests: flaky tests named, consistent failures kept, forged re-runs refused."""

from __future__ import annotations

from acceptance.engine.spec import FunctionalSpec
from checks.functional import OUT_DIR, evaluate, rerun_targets
from checks.interface import CheckStatus
from checks.junit import Outcome, parse_junit
from checks.reruns import MAX_RERUN_TESTS, merge
from tests.engine.test_functional import FAIL, PASS, junit, plugin_events, run

RERUN_JUNIT = f"{OUT_DIR}/rerun-1.xml"
FLIPPED = FAIL.replace('><failure message="boom">trace</failure></testcase>', "/>")


def rerun(data: bytes, exit_code: int, path: str = RERUN_JUNIT) -> tuple[object, str]:
    return run(exit_code, data, events=plugin_events(data, exit_code, junit_path=path)), path


def test_a_test_that_fails_then_passes_is_flaky_and_still_fails_by_default() -> None:
    first = run(1, junit(PASS, FAIL))
    result = evaluate(FunctionalSpec(), first, reruns=[rerun(junit(FLIPPED), 0)])  # type: ignore[list-item]
    assert result.status is CheckStatus.FAILED
    assert "1 flaky" in result.summary
    flaky = result.details["flaky"]
    assert isinstance(flaky, list) and flaky[0]["id"] == "tests/test_a.py::test_bad"
    assert [a["outcome"] for a in flaky[0]["attempts"]] == ["failed", "passed"]
    assert flaky[0]["counted_as"] == "failed"


def test_flaky_pass_counts_it_as_passed() -> None:
    spec = FunctionalSpec(flaky="pass")
    result = evaluate(spec, run(1, junit(PASS, FAIL)), reruns=[rerun(junit(FLIPPED), 0)])  # type: ignore[list-item]
    assert result.status is CheckStatus.PASSED, result.summary
    assert result.details["tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 0}
    assert "1 flaky" in result.summary


def test_a_test_failing_on_every_attempt_is_failed_not_flaky() -> None:
    spec = FunctionalSpec(flaky="pass")
    again = [rerun(junit(FAIL), 1), rerun(junit(FAIL), 1, f"{OUT_DIR}/rerun-2.xml")]
    result = evaluate(spec, run(1, junit(PASS, FAIL)), reruns=again)  # type: ignore[arg-type]
    assert result.status is CheckStatus.FAILED
    assert result.details["flaky"] == []
    assert result.reason_code == "TESTS_FAILED"


def test_a_rerun_cannot_add_tests_or_flip_ones_that_did_not_fail() -> None:
    first = parse_junit(junit(PASS, FAIL))
    extra = PASS.replace("test_ok", "test_new")
    merged, flaky = merge(first, [parse_junit(junit(extra, FAIL))], flaky_passes=True)
    assert [c.id for c in merged.cases] == ["tests/test_a.py::test_ok", "tests/test_a.py::test_bad"]
    assert merged.cases[1].outcome is Outcome.FAILED and flaky == ()


def test_a_forged_rerun_is_not_believed() -> None:
    data = junit(FLIPPED)
    # The events say the re-run wrote the first run's results file.
    forged = run(0, data, events=plugin_events(data, 0))
    result = evaluate(FunctionalSpec(), run(1, junit(PASS, FAIL)), reruns=[(forged, RERUN_JUNIT)])
    assert result.reason_code == "INVALID_ARTIFACT"
    assert "re-run" in result.summary


def test_only_failed_tests_are_rerun_and_not_when_too_many_failed() -> None:
    assert rerun_targets(run(1, junit(PASS, FAIL))) == ["tests/test_a.py::test_bad"]
    many = "".join(FAIL.replace("test_bad", f"test_bad{i}") for i in range(MAX_RERUN_TESTS + 1))
    assert rerun_targets(run(1, junit(many))) == []


def test_a_timed_out_test_fails_the_check_with_its_name() -> None:
    data = junit(PASS, FAIL)
    events = (
        plugin_events(data, 1)
        + b'\n{"event": "timeout", "nodeid": "tests/test_a.py::test_bad", "seconds": 2}'
    )
    result = evaluate(FunctionalSpec(), run(1, data, events=events))
    assert result.reason_code == "TEST_TIMEOUT"
    assert "tests/test_a.py::test_bad" in result.summary
    assert result.details["timed_out_tests"] == ["tests/test_a.py::test_bad"]
