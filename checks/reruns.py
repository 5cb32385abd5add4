"""Failing tests run again: a test that failed and then passed is flaky.

A verdict decides a payment, so it should not hinge on one unlucky run; nor
may re-runs hide a real failure. The engine re-runs only the tests that failed,
by node id, in a fresh pytest process, up to `functional.reruns` times
(acceptance/engine/runtimes/python_tests.py). This module only combines what those runs reported:
a test failing on every attempt stays failed; one that passed on a later
attempt is flaky, listed with each attempt, and counts as passed only when the
spec says `flaky: pass`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from checks.junit import JUnitResult, Outcome, TestCase

#: more failing tests than this are not re-run: a broken suite is not flaky
MAX_RERUN_TESTS = 100
_FAILED = (Outcome.FAILED, Outcome.ERROR)


@dataclass(frozen=True)
class Flaky:
    """One test that failed, then passed on a re-run."""

    id: str
    attempts: tuple[TestCase, ...]
    counted_as: Outcome

    def to_report(self) -> dict[str, object]:
        return {
            "id": self.id,
            "counted_as": self.counted_as.value,
            "attempts": [
                {"outcome": a.outcome.value, "message": a.message, "duration": round(a.duration, 3)}
                for a in self.attempts
            ],
        }


def merge(
    first: JUnitResult, reruns: Sequence[JUnitResult], *, flaky_passes: bool
) -> tuple[JUnitResult, tuple[Flaky, ...]]:
    """The first run's results with the re-runs' verdict on its failures, and the flaky tests.

    Only tests that failed in the first run are looked at: a re-run cannot add
    tests, nor change one that passed or was skipped.
    """
    attempts: dict[str, list[TestCase]] = {
        case.id: [case] for case in first.cases if case.outcome in _FAILED
    }
    for rerun in reruns:
        for case in rerun.cases:
            if case.id in attempts and attempts[case.id][-1].outcome in _FAILED:
                attempts[case.id].append(case)
    flaky = {
        test_id: tries
        for test_id, tries in attempts.items()
        if any(t.outcome is Outcome.PASSED for t in tries[1:])
    }
    counted = Outcome.PASSED if flaky_passes else Outcome.FAILED
    cases = tuple(
        dataclasses.replace(case, outcome=Outcome.PASSED, message="")
        if flaky_passes and case.id in flaky
        else case
        for case in first.cases
    )
    found = tuple(Flaky(test_id, tuple(tries), counted) for test_id, tries in flaky.items())
    return JUnitResult(cases=cases), found
