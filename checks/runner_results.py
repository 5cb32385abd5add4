"""What every functional runner reports the same way: limits hit, counts, the details.

pytest, bats, node:test and the owner's own command read their results differently,
but each one's check has the same `details` shape (the dashboard, comparisons, the
supplier view and the runs export read all of them alike) and names the same limits
with the same codes, root cause first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from checks.interface import CheckResult, CheckStatus
from checks.junit import JUnitResult, Outcome

#: failures listed with their messages in a report
MAX_LISTED_FAILURES = 50
#: test cases recorded one by one in a report (the counts cover every case)
MAX_RECORDED_CASES = 5000
#: the codes of a run a limit stopped: its results are partial
LIMIT_CODES = frozenset({"PROCESS_LIMIT", "MEMORY_LIMIT", "DISK_LIMIT", "OUTPUT_LIMIT", "TIMEOUT"})


class LimitedRun(Protocol):
    """What a test run's exec says about the sandbox's limits."""

    @property
    def timed_out(self) -> bool: ...
    @property
    def timeout(self) -> int: ...
    @property
    def output_limit_hit(self) -> bool: ...
    @property
    def memory_limit_hit(self) -> bool: ...
    @property
    def process_limit_hit(self) -> bool: ...
    @property
    def full_filesystems(self) -> tuple[str, ...]: ...


def limit_hit(run: LimitedRun, subject: str = "the tests") -> tuple[str, str] | None:
    """The limit the run hit as (code, summary), root cause first (a fork bomb also times out)."""
    if run.process_limit_hit:
        return "PROCESS_LIMIT", f"{subject} tried to start more processes than the limit allows"
    if run.memory_limit_hit:
        return "MEMORY_LIMIT", f"{subject} ran out of the memory limit"
    if run.full_filesystems:
        return (
            "DISK_LIMIT",
            f"{subject} filled the scratch space ({', '.join(run.full_filesystems)})",
        )
    if run.output_limit_hit:
        return "OUTPUT_LIMIT", f"{subject} printed more than the output limit"
    if run.timed_out:
        return "TIMEOUT", f"{subject} did not finish within {run.timeout} s"
    return None


def counts(junit: JUnitResult) -> str:
    """The counts every summary starts with."""
    return (
        f"{junit.passed} passed, {junit.failed} failed, {junit.errors} errors, "
        f"{junit.skipped} skipped"
    )


def verdict(
    junit: JUnitResult, problems: Sequence[tuple[str, str]]
) -> tuple[CheckStatus, str, str | None]:
    """Status, summary and reason code from the counts and the problems found, first first."""
    if not problems:
        return CheckStatus.PASSED, counts(junit), None
    return (
        CheckStatus.FAILED,
        f"{counts(junit)}: " + "; ".join(message for _, message in problems),
        problems[0][0],
    )


def shared_details(junit: JUnitResult | None, exit_code: int | None) -> dict[str, object]:
    """The details shared by every runner's check: counts, failures, cases, exit status."""
    cases = junit.cases if junit else ()
    failing = [c for c in cases if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    return {
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
        "hidden_tests": 0,
    }


def runner_result(
    check_id: str,
    status: CheckStatus,
    summary: str,
    code: str | None,
    junit: JUnitResult | None,
    exit_code: int | None,
    extra: Mapping[str, object],
) -> CheckResult:
    """A runner's functional check: the shared details, the runner's own, `partial` past a limit."""
    details = {**shared_details(junit, exit_code), **extra}
    if code in LIMIT_CODES:
        details["partial"] = True
    return CheckResult(check_id, "functional", status, summary, code, details)
