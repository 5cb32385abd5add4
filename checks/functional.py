"""The functional check: pytest inside the sandbox, judged on the host from JUnit XML."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from acceptance.spec import FunctionalSpec
from checks.interface import CheckResult, CheckStatus
from checks.junit import InvalidArtifact, JUnitResult, Outcome, parse_junit

CHECK_ID = "functional"
HIDDEN_DIR_NAME = "acceptance_hidden_tests"
OUT_DIR = "/work/out"
JUNIT_PATH = f"{OUT_DIR}/junit.xml"
EVENTS_PATH = f"{OUT_DIR}/events.jsonl"
MAX_LISTED_FAILURES = 50
MAX_RECORDED_CASES = 5000

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


@dataclass(frozen=True)
class EventSummary:
    """What the in-sandbox plugin reported while pytest ran (untrusted, cross-checked)."""

    collected: int | None = None
    hidden_collected: int | None = None
    hidden_deselected: tuple[str, ...] = ()
    pytest_version: str | None = None
    running: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)


def pytest_command(spec: FunctionalSpec, *, python: str, hidden: bool) -> list[str]:
    """The pytest invocation run inside /work/src."""
    argv = [
        python,
        "-m",
        "pytest",
        "-p",
        "acceptance_sandbox_plugin",
        "-p",
        "no:cacheprovider",
        "--color=no",
        "-o",
        "console_output_style=classic",
        f"--junitxml={JUNIT_PATH}",
        "-o",
        "junit_family=xunit2",
        "-rfE",
    ]
    paths = list(spec.paths)
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
    return EventSummary(
        collected=summary.get("collected"),  # type: ignore[arg-type]
        hidden_collected=summary.get("hidden_collected"),  # type: ignore[arg-type]
        hidden_deselected=tuple(deselected),
        pytest_version=summary.get("pytest_version"),  # type: ignore[arg-type]
        running=running,
        outcomes=outcomes,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def evaluate(spec: FunctionalSpec, run: FunctionalRun, *, has_hidden: bool) -> CheckResult:
    """Turn one pytest run into the functional check's verdict and evidence."""
    events = parse_events(run.events)
    if run.timed_out:
        return _limit_result(
            "TIMEOUT",
            f"the tests did not finish within {run.timeout} s"
            + (f"; {events.running} was running" if events.running else ""),
            events,
        )
    if run.memory_limit_hit:
        return _limit_result("MEMORY_LIMIT", "the tests ran out of the memory limit", events)
    if run.output_limit_hit:
        return _limit_result("OUTPUT_LIMIT", "the tests printed more than the output limit", events)
    if run.junit is None:
        meaning = _EXIT_MEANING.get(run.exit_code or -1, f"exit code {run.exit_code}")
        code = "NO_TESTS" if run.exit_code == 5 else "INVALID_ARTIFACT"
        return _result(
            CheckStatus.FAILED,
            f"pytest wrote no test results ({meaning})",
            code,
            None,
            events,
            run.exit_code,
        )
    try:
        junit = parse_junit(run.junit)
    except InvalidArtifact as exc:
        return _result(CheckStatus.FAILED, exc.message, "INVALID_ARTIFACT", None, events, run.exit_code)
    return _judge(spec, run, junit, events, has_hidden)


def _judge(
    spec: FunctionalSpec,
    run: FunctionalRun,
    junit: JUnitResult,
    events: EventSummary,
    has_hidden: bool,
) -> CheckResult:
    counts = f"{junit.passed} passed, {junit.failed} failed, {junit.errors} errors, {junit.skipped} skipped"
    problems: list[tuple[str, str]] = []
    if run.exit_code == 5 or not junit.cases:
        problems.append(("NO_TESTS", "no tests were collected"))
    if junit.failed or junit.errors:
        problems.append(("TESTS_FAILED", f"{junit.failed + junit.errors} test(s) failed or errored"))
    if junit.passed < spec.min_passed:
        problems.append(
            ("TOO_FEW_PASSED", f"{junit.passed} test(s) passed; the spec requires at least {spec.min_passed}")
        )
    if run.exit_code not in (0, 1, 5):
        problems.append(("TESTS_FAILED", f"pytest exited with {run.exit_code}: {_EXIT_MEANING.get(run.exit_code or -1, 'unknown')}"))
    if run.exit_code == 0 and (junit.failed or junit.errors):
        problems.append(("INVALID_ARTIFACT", "pytest reported success but its results list failures"))
    if run.exit_code == 1 and not (junit.failed or junit.errors):
        problems.append(("INVALID_ARTIFACT", "pytest reported failures that its results do not list"))
    if has_hidden:
        hidden_ran = sum(1 for case in junit.cases if _is_hidden_case(case.id))
        if events.hidden_deselected:
            problems.append(("HIDDEN_TESTS_DESELECTED", f"{len(events.hidden_deselected)} hidden test(s) were deselected by the project's configuration"))
        if hidden_ran == 0:
            problems.append(("HIDDEN_TESTS_NOT_RUN", "the owner's hidden tests did not run"))
    status = CheckStatus.FAILED if problems else CheckStatus.PASSED
    summary = counts if not problems else f"{counts}: " + "; ".join(m for _, m in problems)
    return _result(status, summary, problems[0][0] if problems else None, junit, events, run.exit_code)


def _is_hidden_case(case_id: str) -> bool:
    return case_id.startswith((f"{HIDDEN_DIR_NAME}/", f"{HIDDEN_DIR_NAME}."))


def _limit_result(code: str, message: str, events: EventSummary) -> CheckResult:
    partial = {
        "passed": sum(1 for o in events.outcomes.values() if o == "passed"),
        "failed": sum(1 for o in events.outcomes.values() if o == "failed"),
        "errors": 0,
        "skipped": sum(1 for o in events.outcomes.values() if o == "skipped"),
    }
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
            "failing_tests": sorted(n for n, o in events.outcomes.items() if o == "failed")[:MAX_LISTED_FAILURES],
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
    cases = junit.cases if junit else ()
    failing = [c for c in cases if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    details: dict[str, object] = {
        "tests": {
            "passed": junit.passed if junit else 0,
            "failed": junit.failed if junit else 0,
            "errors": junit.errors if junit else 0,
            "skipped": junit.skipped if junit else 0,
        },
        "failing_tests": [c.id for c in failing],
        "failures": [{"id": c.id, "message": c.message} for c in failing[:MAX_LISTED_FAILURES]],
        "results": [
            {"id": c.id, "outcome": c.outcome.value, "duration": round(c.duration, 3)}
            for c in cases[:MAX_RECORDED_CASES]
        ],
        "results_truncated": len(cases) > MAX_RECORDED_CASES,
        "exit_code": exit_code,
        "hidden_tests": sum(1 for c in cases if _is_hidden_case(c.id)),
    }
    return CheckResult(CHECK_ID, "functional", status, summary, code, details)


def failing_ids(result: CheckResult) -> Sequence[str]:
    """The failing test ids recorded in a functional result."""
    value = result.details.get("failing_tests", [])
    return [str(v) for v in value] if isinstance(value, list) else []
