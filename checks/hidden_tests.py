"""The owner's hidden tests: their own pytest process, judged against the inventory.

The supplier's tests are judged in checks/functional.py; this module runs
nothing itself. It says how the engine starts the hidden tests (a fresh folder,
the engine's ini file, the image's interpreter and pytest), judges what that
run reported against the tests the owner wrote (checks/hidden_inventory.py),
and folds the outcome into the functional check. Its sentences carry counts
only: reasons are shown to the supplier (docs/security.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from checks import reruns as rerun_results
from checks.functional import (
    HIDDEN_INI,
    RUNNER,
    SYSTEM_PYTHON,
    FunctionalRun,
    event_counts,
    exit_meaning,
    forgery,
    junit_counts,
    limit_problem,
    parse_events,
    read_reruns,
)
from checks.hidden_inventory import HIDDEN_DIR_NAME, base_id
from checks.interface import CheckResult, CheckStatus
from checks.junit import InvalidArtifact, JUnitResult, Outcome, parse_junit
from checks.runner_results import MAX_LISTED_FAILURES, MAX_RECORDED_CASES


@dataclass(frozen=True)
class HiddenLayout:
    """Where one run's hidden tests live in the sandbox: a fresh folder of a random name.

    The engine creates it (as another user than the sandbox's) after the
    supplier's tests have ended, so nothing of theirs can be waiting there.
    """

    base: str

    @property
    def venv(self) -> str:
        """The run venv as the install left it, copied before the supplier's tests ran."""
        return f"{self.base}/venv"

    @property
    def src(self) -> str:
        """The checkout as the install left it, copied before the supplier's tests ran."""
        return f"{self.base}/src"

    @property
    def tests(self) -> str:
        return f"{self.base}/{HIDDEN_DIR_NAME}"

    @property
    def out(self) -> str:
        return f"{self.base}/out"

    @property
    def junit(self) -> str:
        return f"{self.out}/junit.xml"

    @property
    def events(self) -> str:
        return f"{self.out}/events.jsonl"


def hidden_pytest_command(
    layout: HiddenLayout,
    *,
    original_src: str,
    junit: str | None = None,
    targets: Sequence[str] | None = None,
) -> list[str]:
    """The owner's hidden tests, under the engine's configuration only.

    `-c` names the engine's ini file, so no ini, `pyproject.toml`, `setup.cfg`
    or `tox.ini` of the repository is read; rootdir and confcutdir are the
    engine's fresh folder, so no `conftest.py` of the supplier's is loaded.
    """
    return [
        SYSTEM_PYTHON, "-I", "-S", RUNNER, "hidden", layout.venv, layout.src, original_src, "--",
        "-c", HIDDEN_INI, f"--rootdir={layout.base}", f"--confcutdir={layout.base}",
        "-p", "no:cacheprovider", "--color=no", "-o", "console_output_style=classic",
        f"--junitxml={junit or layout.junit}", "-o", "junit_family=xunit2", "-rfE", "--",
        *([f"{layout.base}/{t}" for t in targets] if targets is not None else [layout.tests]),
    ]  # fmt: skip


@dataclass(frozen=True)
class HiddenOutcome:
    """What the hidden tests' own run showed: problems (code, sentence) and evidence.

    The sentences carry counts only, never a hidden test's name, message or
    output: reasons are shown to the supplier (docs/security.md, "What the
    supplier sees"). Names and messages stay in ``details``, for the owner.
    """

    problems: tuple[tuple[str, str], ...]
    details: dict[str, object]

    @property
    def passed(self) -> int:
        tests = self.details.get("tests")
        return int(tests.get("passed", 0)) if isinstance(tests, dict) else 0


def evaluate_hidden(
    run: FunctionalRun,
    expected: Sequence[str],
    layout: HiddenLayout,
    *,
    reruns: Sequence[tuple[FunctionalRun, str]] = (),
    flaky_passes: bool = False,
) -> HiddenOutcome:
    """Judge the hidden tests' run against the inventory made from the owner's files."""
    events = parse_events(run.events)
    details: dict[str, object] = {"expected": len(expected), "exit_code": run.exit_code}
    # Not the running test's name: it is the owner's, and the sentence is the supplier's
    # to read (what the code under test can write as a "start" event included).
    limit = limit_problem(run, dataclasses.replace(events, running=None), "the hidden tests")
    if limit is not None:
        outcomes = events.outcomes
        details["tests"] = event_counts(outcomes)
        details["failing_tests"] = sorted(n for n, o in outcomes.items() if o == "failed")
        details["running_test"] = events.running
        details["partial"] = True
        return HiddenOutcome((limit,), details)
    problem: tuple[str, str] | None = None
    junit: JUnitResult | None = None
    if run.junit_problem is not None:
        problem = ("INVALID_ARTIFACT", "the hidden tests' results file is unusable")
        details["integrity"] = run.junit_problem
    elif run.junit is None:
        problem = (
            "HIDDEN_TESTS_NOT_RUN",
            f"pytest wrote no results for the hidden tests ({exit_meaning(run.exit_code)})",
        )
    else:
        try:
            junit = parse_junit(run.junit)
        except InvalidArtifact as exc:
            problem = ("INVALID_ARTIFACT", "the hidden tests' results file is unusable")
            details["integrity"] = exc.message
    again: list[JUnitResult] = []
    if junit is not None:
        forged = forgery(run, junit, events, layout.junit)
        if forged is None:
            again, forged = read_reruns(reruns)
        if forged is not None:
            problem = (
                "INVALID_ARTIFACT",
                "the hidden tests' results do not match what pytest reported as it ran",
            )
            details["integrity"] = forged
    if problem is not None:
        details["tests"] = junit_counts(junit)
        return HiddenOutcome((problem,), details)
    assert junit is not None
    merged, flaky = rerun_results.merge(junit, again, flaky_passes=flaky_passes)
    details["flaky"] = [f.to_report() for f in flaky]
    details["reruns"] = len(reruns)
    problems = _hidden_problems(run, junit, merged, expected, details)
    if events.timed_out_tests:
        problems.insert(0, (
            "TEST_TIMEOUT",
            f"{len(events.timed_out_tests)} hidden test(s) ran longer than the per-test limit "
            "and were stopped",
        ))  # fmt: skip
        problems.sort(key=lambda problem: problem[0] != "INVALID_ARTIFACT")
    return HiddenOutcome(tuple(problems), details)


def _hidden_problems(
    run: FunctionalRun,
    first: JUnitResult,
    junit: JUnitResult,
    expected: Sequence[str],
    details: dict[str, object],
) -> list[tuple[str, str]]:
    first_failing = [c for c in first.cases if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    cases = junit.cases
    failing = [c for c in cases if c.outcome in (Outcome.FAILED, Outcome.ERROR)]
    skipped = [c for c in cases if c.outcome is Outcome.SKIPPED]
    ran = {base_id(c.id) for c in cases}
    missing = sorted(set(expected) - ran)
    # A collection error is reported under its module, not as a test: it is a failure, not extra.
    unexpected = sorted(
        c.id for c in cases if base_id(c.id) not in expected and c.outcome is not Outcome.ERROR
    )
    details.update(
        tests=junit_counts(junit),
        failing_tests=[c.id for c in failing],
        failures=[{"id": c.id, "message": c.message} for c in failing[:MAX_LISTED_FAILURES]],
        skipped_tests=[c.id for c in skipped][:MAX_LISTED_FAILURES],
        results=[
            {"id": c.id, "outcome": c.outcome.value, "duration": round(c.duration, 3)}
            for c in cases[:MAX_RECORDED_CASES]
        ],
        missing=missing[:MAX_LISTED_FAILURES],
        unexpected=unexpected[:MAX_LISTED_FAILURES],
    )
    problems: list[tuple[str, str]] = []
    if not expected:
        problems.append((
            "HIDDEN_TESTS_NOT_RUN",
            "the owner's hidden tests hold no test pytest would collect (test_*.py files "
            "with test_* functions): the owner must publish them again",
        ))  # fmt: skip
    if run.exit_code == 0 and first_failing:
        problems.append(
            (
                "INVALID_ARTIFACT",
                "pytest reported success but the hidden tests' results list failures",
            )
        )
    if run.exit_code == 1 and not first_failing:
        problems.append(
            (
                "INVALID_ARTIFACT",
                "pytest reported failures that the hidden tests' results do not list",
            )
        )
    if failing:
        problems.append(("TESTS_FAILED", f"{len(failing)} hidden test(s) failed or errored"))
    if skipped:
        # Code under test can raise pytest's skip or xfail: a hidden test must pass.
        problems.append(
            (
                "HIDDEN_TESTS_NOT_RUN",
                f"{len(skipped)} hidden test(s) were skipped instead of passing",
            )
        )
    if missing or unexpected:
        problems.append((
            "HIDDEN_TESTS_NOT_RUN",
            f"{len(missing)} of the {len(expected)} hidden test(s) the owner wrote did not run"
            + (f", and {len(unexpected)} result(s) name tests the owner did not write" if unexpected else "")
            + " (named in the report)",
        ))  # fmt: skip
    if run.exit_code not in (0, 1):
        problems.append(
            (
                "TESTS_FAILED",
                f"pytest exited with {run.exit_code} on the hidden tests: {exit_meaning(run.exit_code)}",
            )
        )
    problems.sort(key=lambda problem: problem[0] != "INVALID_ARTIFACT")
    return problems


def hidden_not_run(why: str, expected: Sequence[str]) -> HiddenOutcome:
    """The hidden tests could not be started (e.g. no time left): that fails the check."""
    return HiddenOutcome(
        (("HIDDEN_TESTS_NOT_RUN", f"the hidden tests did not run: {why}"),),
        {
            "expected": len(expected),
            "tests": junit_counts(None),
            "missing": list(expected)[:MAX_LISTED_FAILURES],
        },
    )


def with_hidden(result: CheckResult, hidden: HiddenOutcome) -> CheckResult:
    """The supplier's functional result with the hidden tests' outcome folded in."""
    tests = hidden.details.get("tests")
    tally = tests if isinstance(tests, dict) else junit_counts(None)
    line = f"hidden tests: {tally.get('passed', 0)} passed, {tally.get('failed', 0)} failed, {tally.get('errors', 0)} errors"
    flaky = hidden.details.get("flaky")
    if isinstance(flaky, list) and flaky:
        line += f", {len(flaky)} flaky"
    messages = "; ".join(message for _, message in hidden.problems)
    summary = f"{result.summary}; {line}" + (f": {messages}" if messages else "")
    failed = result.status is CheckStatus.FAILED or bool(hidden.problems)
    # Forged evidence leads; then the owner's criteria; then the supplier's own tests.
    reason = result.reason_code
    if hidden.problems and reason != "INVALID_ARTIFACT":
        reason = hidden.problems[0][0]
    details = dict(result.details)
    own = details.get("tests")
    own_tally = own if isinstance(own, dict) else junit_counts(None)
    # `tests` counts every test the check ran, as a by-hand run of both folders would (and as
    # reports always have); the supplier's own share is kept beside it for their view.
    details["own_tests"] = own_tally
    details["tests"] = {
        key: int(own_tally.get(key, 0)) + int(tally.get(key, 0)) for key in junit_counts(None)
    }
    details["hidden"] = hidden.details
    details["hidden_tests"] = sum(int(v) for v in tally.values() if isinstance(v, int))
    return CheckResult(
        result.id,
        result.kind,
        CheckStatus.FAILED if failed else result.status,
        summary,
        reason,
        details,
    )
