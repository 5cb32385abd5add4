"""The functional check: pytest inside the sandbox, judged on the host from JUnit XML."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from checks import reruns as rerun_results
from checks.hidden_inventory import HIDDEN_DIR_NAME as HIDDEN_DIR_NAME
from checks.interface import CheckResult, CheckStatus
from checks.junit import InvalidArtifact, JUnitResult, Outcome, parse_junit
from checks.options import FunctionalSpec
from checks.runner_results import MAX_LISTED_FAILURES, MAX_RECORDED_CASES, shared_details
from sandbox.image import PLUGIN_DIR

CHECK_ID = "functional"
OUT_DIR = "/work/out"
JUNIT_PATH = f"{OUT_DIR}/junit.xml"
EVENTS_PATH = f"{OUT_DIR}/events.jsonl"
#: started by path, so no file of the checkout can stand in for it (sandbox/image/)
RUNNER = f"{PLUGIN_DIR}/acceptance_runner.py"
HIDDEN_INI = f"{PLUGIN_DIR}/hidden-pytest.ini"
#: the image's own interpreter, for the hidden tests (`-I -S`: no environment, no site)
SYSTEM_PYTHON = "/usr/bin/python3"

# pytest's documented exit codes
_EXIT_MEANING = {
    0: "all tests passed",
    1: "some tests failed",
    2: "the test run was interrupted (often a collection error)",
    3: "pytest hit an internal error",
    4: "pytest was called wrongly (usage error)",
    5: "no tests were collected",
}


@dataclass(frozen=True)
class FunctionalRun:
    """Raw material from the sandbox for one pytest run."""

    exit_code: int | None
    timed_out: bool
    timeout: int
    output_limit_hit: bool
    memory_limit_hit: bool
    junit: bytes | None
    events: bytes | None
    process_limit_hit: bool = False
    #: scratch filesystems the run left without space (e.g. "/tmp")
    full_filesystems: tuple[str, ...] = ()
    #: why the JUnit file could not be read (a link, too large), when it could not
    junit_problem: str | None = None
    #: why the plugin's event file could not be read, when it could not
    events_problem: str | None = None


@dataclass(frozen=True)
class EventSummary:
    """What the in-sandbox plugin reported while pytest ran (untrusted, cross-checked)."""

    collected: int | None = None
    hidden_collected: int | None = None
    hidden_deselected: tuple[str, ...] = ()
    pytest_version: str | None = None
    running: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)
    #: the plugin's last event: pytest's final exit status, the JUnit file's path and digest
    finish: dict[str, object] | None = None
    #: tests the plugin stopped at the per-test limit (`functional.test_timeout`)
    timed_out_tests: tuple[str, ...] = ()


def pytest_command(
    spec: FunctionalSpec,
    *,
    python: str,
    junit: str = JUNIT_PATH,
    targets: Sequence[str] | None = None,
) -> list[str]:
    """The supplier's tests, run inside /work/src as `python -m pytest` would run them.

    ``targets`` (node ids) replaces the spec's paths, for re-running failed tests.
    """
    argv = [
        python,
        RUNNER,
        "supplier",
        "--",
        "-p",
        "no:cacheprovider",
        "--color=no",
        "-o",
        "console_output_style=classic",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
        "-rfE",
    ]
    paths = list(spec.paths) if targets is None else list(targets)
    if paths:
        argv.append("--")
        argv.extend(paths)
    return argv


def parse_events(data: bytes | None) -> EventSummary:
    """Read the plugin's JSON lines defensively: bad lines are skipped, never trusted."""
    if not data:
        return EventSummary()
    summary: dict[str, object] = {}
    outcomes: dict[str, str] = {}
    running: str | None = None
    deselected: list[str] = []
    timeouts: list[str] = []
    finish: dict[str, object] | None = None
    for raw in data.splitlines():
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        nodeid = event.get("nodeid")
        if kind == "collected":
            summary["collected"] = _int(event.get("count"))
            summary["hidden_collected"] = _int(event.get("hidden"))
            version = event.get("pytest")
            summary["pytest_version"] = version[:40] if isinstance(version, str) else None
        elif kind == "deselected" and isinstance(event.get("hidden"), list):
            deselected.extend(str(n)[:500] for n in event["hidden"][:100])
        elif kind == "start" and isinstance(nodeid, str):
            running = nodeid[:500]
        elif kind == "report" and isinstance(nodeid, str):
            outcome = event.get("outcome")
            if isinstance(outcome, str) and (outcome != "passed" or event.get("when") == "call"):
                outcomes[nodeid[:500]] = outcome
            if event.get("when") == "teardown" and running == nodeid[:500]:
                running = None
        elif kind == "timeout" and isinstance(nodeid, str) and len(timeouts) < 100:
            timeouts.append(nodeid[:500])
        elif kind == "finish":
            finish = {
                "exitstatus": _int(event.get("exitstatus")),
                "junit_path": _str(event.get("junit_path")),
                "junit_sha256": _str(event.get("junit_sha256")),
            }
    return EventSummary(
        collected=summary.get("collected"),  # type: ignore[arg-type]
        hidden_collected=summary.get("hidden_collected"),  # type: ignore[arg-type]
        hidden_deselected=tuple(deselected),
        pytest_version=summary.get("pytest_version"),  # type: ignore[arg-type]
        running=running,
        outcomes=outcomes,
        finish=finish,
        timed_out_tests=tuple(dict.fromkeys(timeouts)),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value[:500] if isinstance(value, str) else None


def evaluate(
    spec: FunctionalSpec,
    run: FunctionalRun,
    *,
    hidden_passed: int | None = None,
    reruns: Sequence[tuple[FunctionalRun, str]] = (),
) -> CheckResult:
    """Turn the supplier's pytest run into the functional check's verdict and evidence.

    ``hidden_passed`` is how many of the owner's hidden tests passed in their own
    run (None without hidden tests): they count toward `min_passed`, and with
    them a repository may have no tests of its own.
    """
    events = parse_events(run.events)
    limit = limit_problem(run, events, "the tests")
    if limit is not None:
        return _limit_result(*limit, events)
    if run.junit_problem is not None:
        return _result(
            CheckStatus.FAILED, run.junit_problem, "INVALID_ARTIFACT", None, events, run.exit_code
        )
    if run.junit is None:
        code = "NO_TESTS" if run.exit_code == 5 else "INVALID_ARTIFACT"
        return _result(
            CheckStatus.FAILED,
            f"pytest wrote no test results ({exit_meaning(run.exit_code)})",
            code,
            None,
            events,
            run.exit_code,
        )
    try:
        junit = parse_junit(run.junit)
    except InvalidArtifact as exc:
        return _result(
            CheckStatus.FAILED, exc.message, "INVALID_ARTIFACT", None, events, run.exit_code
        )
    forged = forgery(run, junit, events)
    if forged is None:
        again, forged = read_reruns(reruns)
    if forged is not None:
        return _result(CheckStatus.FAILED, forged, "INVALID_ARTIFACT", junit, events, run.exit_code)
    merged, flaky = rerun_results.merge(junit, again, flaky_passes=_flaky_passes(spec))
    return _judge(spec, run, junit, events, hidden_passed, merged, flaky, len(reruns))


def _flaky_passes(spec: FunctionalSpec) -> bool:
    return spec.flaky == "pass"


def read_reruns(
    reruns: Sequence[tuple[FunctionalRun, str]],
) -> tuple[list[JUnitResult], str | None]:
    """The re-runs' results, each checked like a first run; or why one cannot be believed.

    A re-run that ran out of time or wrote nothing is no evidence either way:
    its tests stay as the earlier attempt left them.
    """
    results: list[JUnitResult] = []
    for run, junit_path in reruns:
        if run.junit_problem is not None:
            return results, f"a re-run's results are unusable: {run.junit_problem}"
        if run.junit is None or run.timed_out:
            continue
        try:
            junit = parse_junit(run.junit)
        except InvalidArtifact as exc:
            return results, f"a re-run's results are unusable: {exc.message}"
        forged = forgery(run, junit, parse_events(run.events), junit_path)
        if forged is not None:
            return results, f"a re-run's results cannot be believed: {forged}"
        results.append(junit)
    return results, None


def rerun_targets(run: FunctionalRun) -> list[str]:
    """Node ids of the tests that failed, as pytest named them; none when too many failed."""
    failed = [n for n, o in parse_events(run.events).outcomes.items() if o == "failed"]
    return failed if len(failed) <= rerun_results.MAX_RERUN_TESTS else []


def limit_problem(run: FunctionalRun, events: EventSummary, who: str) -> tuple[str, str] | None:
    """The limit a test run hit, as (reason code, sentence), or None."""
    # The root cause first: a fork bomb or a memory bomb usually also runs out of time.
    if run.process_limit_hit:
        return (
            "PROCESS_LIMIT",
            f"{who} tried to start more processes than the limit allows"
            + (" and were stopped" if run.timed_out else ""),
        )
    if run.memory_limit_hit:
        return "MEMORY_LIMIT", f"{who} ran out of the memory limit"
    if run.full_filesystems:
        return (
            "DISK_LIMIT",
            f"{who} filled the scratch space ({', '.join(run.full_filesystems)}) "
            "up to the disk limit (its size or its number of files)",
        )
    if run.output_limit_hit:
        return "OUTPUT_LIMIT", f"{who} printed more than the output limit"
    if run.timed_out:
        where = f"; {events.running} was running" if events.running else ""
        if events.collected is None:
            where = "; pytest had not finished collecting the tests (a hanging import?)"
        return "TIMEOUT", f"{who} did not finish within {run.timeout} s{where}"
    return None


def exit_meaning(exit_code: int | None) -> str:
    if exit_code is not None and exit_code > 128:
        return f"pytest was killed by signal {exit_code - 128}"
    return _EXIT_MEANING.get(exit_code if exit_code is not None else -1, f"exit code {exit_code}")


def forgery(
    run: FunctionalRun, junit: JUnitResult, events: EventSummary, junit_path: str = JUNIT_PATH
) -> str | None:
    """Why the JUnit file cannot be pytest's own account of this run, or None.

    The supplier's code shares pytest's process, so it can write any file; these
    checks make a forged or rewritten JUnit file disagree with what the engine's
    plugin recorded as pytest ran (see docs/security.md for what they cannot stop).
    """
    finish = events.finish
    if finish is None and run.events_problem:
        return f"the engine's record of the test run could not be read: {run.events_problem}"
    if finish is None:
        return (
            "pytest did not finish its session normally (the engine's plugin saw no end), "
            "so the results file was not written by it"
        )
    if finish.get("junit_path") != junit_path:
        return "the results were redirected away from the file the engine asked pytest to write"
    if finish.get("junit_sha256") != hashlib.sha256(run.junit or b"").hexdigest():
        return "the results file was changed after pytest wrote it"
    if finish.get("exitstatus") != run.exit_code:
        return (
            f"pytest ended its session with status {finish.get('exitstatus')} but the process "
            f"exited with {run.exit_code}: the exit status was altered"
        )
    seen_passed = [n for n, o in events.outcomes.items() if o == "passed"]
    if junit.passed > len(seen_passed):
        return (
            f"the results file lists {junit.passed} passing test(s) but pytest reported "
            f"only {len(seen_passed)} as passed"
        )
    passed = [case.id for case in junit.cases if case.outcome is Outcome.PASSED]
    # Ids that do not map back to a node id (rare class names) are only counted above.
    contradicted = [i for i in passed if events.outcomes.get(i, "passed") != "passed"]
    if contradicted:
        return (
            f"the results file lists {contradicted[0]} as passed but pytest reported it otherwise"
        )
    return None


def _judge(
    spec: FunctionalSpec,
    run: FunctionalRun,
    junit: JUnitResult,
    events: EventSummary,
    hidden_passed: int | None = None,
    merged: JUnitResult | None = None,
    flaky: Sequence[rerun_results.Flaky] = (),
    attempts: int = 0,
) -> CheckResult:
    """Judge the results; `junit` is pytest's first account (checked against its exit
    status), `merged` the same with the re-runs' verdict on flaky tests."""
    first, junit = junit, merged or junit
    counts = f"{junit.passed} passed, {junit.failed} failed, {junit.errors} errors, {junit.skipped} skipped"
    if flaky:
        counts += f", {len(flaky)} flaky"
    problems: list[tuple[str, str]] = []
    if (run.exit_code == 5 or not junit.cases) and hidden_passed is None:
        problems.append(("NO_TESTS", "no tests were collected"))
    if events.timed_out_tests:
        problems.append((
            "TEST_TIMEOUT",
            f"{len(events.timed_out_tests)} test(s) ran longer than the per-test limit and were "
            f"stopped, first {events.timed_out_tests[0]}",
        ))  # fmt: skip
    if junit.failed or junit.errors:
        problems.append(
            ("TESTS_FAILED", f"{junit.failed + junit.errors} test(s) failed or errored")
        )
    passed = junit.passed + (hidden_passed or 0)
    if passed < spec.min_passed:
        problems.append(
            (
                "TOO_FEW_PASSED",
                f"{passed} test(s) passed; the spec requires at least {spec.min_passed}",
            )
        )
    if run.exit_code not in (0, 1, 5):
        problems.append(
            ("TESTS_FAILED", f"pytest exited with {run.exit_code}: {exit_meaning(run.exit_code)}")
        )
    if run.exit_code == 0 and (first.failed or first.errors):
        problems.append(
            ("INVALID_ARTIFACT", "pytest reported success but its results list failures")
        )
    if run.exit_code == 1 and not (first.failed or first.errors):
        problems.append(
            ("INVALID_ARTIFACT", "pytest reported failures that its results do not list")
        )
    # Results that contradict pytest's own exit status cannot be trusted: that leads.
    problems.sort(key=lambda problem: problem[0] != "INVALID_ARTIFACT")
    status = CheckStatus.FAILED if problems else CheckStatus.PASSED
    summary = counts if not problems else f"{counts}: " + "; ".join(m for _, m in problems)
    result = _result(
        status, summary, problems[0][0] if problems else None, junit, events, run.exit_code
    )
    details = dict(result.details)
    details["flaky"] = [f.to_report() for f in flaky]
    details["reruns"] = attempts
    details["timed_out_tests"] = list(events.timed_out_tests)
    return dataclasses.replace(result, details=details)


def _limit_result(code: str, message: str, events: EventSummary) -> CheckResult:
    partial = event_counts(events.outcomes)
    return CheckResult(
        id=CHECK_ID,
        kind="functional",
        status=CheckStatus.FAILED,
        summary=message,
        reason_code=code,
        details={
            "tests": partial,
            "partial": True,
            "running_test": events.running,
            "failing_tests": sorted(n for n, o in events.outcomes.items() if o == "failed")[
                :MAX_LISTED_FAILURES
            ],
            # Every test that finished before the limit, with its outcome: partial, not lost.
            "results": [
                {"id": n, "outcome": o}
                for n, o in list(events.outcomes.items())[:MAX_RECORDED_CASES]
            ],
        },
    )


def _result(
    status: CheckStatus,
    summary: str,
    code: str | None,
    junit: JUnitResult | None,
    events: EventSummary,
    exit_code: int | None,
) -> CheckResult:
    details = shared_details(junit, exit_code)
    return CheckResult(CHECK_ID, "functional", status, summary, code, details)


def failing_ids(result: CheckResult) -> Sequence[str]:
    """The failing test ids recorded in a functional result."""
    value = result.details.get("failing_tests", [])
    return [str(v) for v in value] if isinstance(value, list) else []


def junit_counts(junit: JUnitResult | None) -> dict[str, int]:
    if junit is None:
        return {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    return {
        "passed": junit.passed,
        "failed": junit.failed,
        "errors": junit.errors,
        "skipped": junit.skipped,
    }


def event_counts(outcomes: dict[str, str]) -> dict[str, int]:
    return {
        "passed": sum(1 for o in outcomes.values() if o == "passed"),
        "failed": sum(1 for o in outcomes.values() if o == "failed"),
        "errors": 0,
        "skipped": sum(1 for o in outcomes.values() if o == "skipped"),
    }
