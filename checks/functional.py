"""The functional check: pytest inside the sandbox, judged on the host from JUnit XML."""

from __future__ import annotations

import hashlib
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
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value[:500] if isinstance(value, str) else None


def evaluate(spec: FunctionalSpec, run: FunctionalRun, *, has_hidden: bool) -> CheckResult:
    """Turn one pytest run into the functional check's verdict and evidence."""
    events = parse_events(run.events)
    # The root cause first: a fork bomb or a memory bomb usually also runs out of time.
    if run.process_limit_hit:
        return _limit_result(
            "PROCESS_LIMIT",
            "the tests tried to start more processes than the limit allows"
            + (" and were stopped" if run.timed_out else ""),
            events,
        )
    if run.memory_limit_hit:
        return _limit_result("MEMORY_LIMIT", "the tests ran out of the memory limit", events)
    if run.full_filesystems:
        return _limit_result(
            "DISK_LIMIT",
            f"the tests filled the scratch space ({', '.join(run.full_filesystems)}) "
            "up to the disk limit (its size or its number of files)",
            events,
        )
    if run.output_limit_hit:
        return _limit_result("OUTPUT_LIMIT", "the tests printed more than the output limit", events)
    if run.timed_out:
        where = f"; {events.running} was running" if events.running else ""
        if events.collected is None:
            where = "; pytest had not finished collecting the tests (a hanging import?)"
        return _limit_result(
            "TIMEOUT", f"the tests did not finish within {run.timeout} s{where}", events
        )
    if run.junit_problem is not None:
        return _result(
            CheckStatus.FAILED, run.junit_problem, "INVALID_ARTIFACT", None, events, run.exit_code
        )
    if run.junit is None:
        code = "NO_TESTS" if run.exit_code == 5 else "INVALID_ARTIFACT"
        return _result(
            CheckStatus.FAILED,
            f"pytest wrote no test results ({_exit_meaning(run.exit_code)})",
            code,
            None,
            events,
            run.exit_code,
        )
    try:
        junit = parse_junit(run.junit)
    except InvalidArtifact as exc:
        return _result(CheckStatus.FAILED, exc.message, "INVALID_ARTIFACT", None, events, run.exit_code)
    forged = _forgery(run, junit, events)
    if forged is not None:
        return _result(CheckStatus.FAILED, forged, "INVALID_ARTIFACT", junit, events, run.exit_code)
    return _judge(spec, run, junit, events, has_hidden)


def _exit_meaning(exit_code: int | None) -> str:
    if exit_code is not None and exit_code > 128:
        return f"pytest was killed by signal {exit_code - 128}"
    return _EXIT_MEANING.get(exit_code if exit_code is not None else -1, f"exit code {exit_code}")


def _forgery(run: FunctionalRun, junit: JUnitResult, events: EventSummary) -> str | None:
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
    if finish.get("junit_path") != JUNIT_PATH:
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
        return f"the results file lists {contradicted[0]} as passed but pytest reported it otherwise"
    if sum(map(_is_hidden_case, passed)) > sum(map(_is_hidden_case, seen_passed)):
        return "the results file lists hidden tests as passed that pytest did not report as passed"
    return None


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
        problems.append(("TESTS_FAILED", f"pytest exited with {run.exit_code}: {_exit_meaning(run.exit_code)}"))
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
    # Results that contradict pytest's own exit status cannot be trusted: that leads.
    problems.sort(key=lambda problem: problem[0] != "INVALID_ARTIFACT")
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
