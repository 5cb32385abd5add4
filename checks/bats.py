"""The functional check for shell deliveries: Debian's bats in the sandbox, judged here.

bats runs the spec's `functional.paths` (default `tests/`) with its JUnit report
formatter writing into a folder whose name is chosen per run. The report is read back
as untrusted evidence through the same hardened parser as pytest's (checks/junit.py),
then checked against what the supplier's tests cannot rewrite afterwards:

* the number of tests `bats --count` found before any test ran (a forged or padded
  report lists other tests than bats was given);
* bats's own exit status, observed by the engine (0 only when every test passed).

What they cannot stop is a test file that redefines bats's own functions (it is sourced
into bats's shell, as a conftest.py is imported into pytest): docs/security.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from checks.interface import CheckResult, CheckStatus
from checks.junit import InvalidArtifact, JUnitResult, Outcome, parse_junit
from checks.runner_results import limit_hit, runner_result, verdict

CHECK_ID = "functional"
KIND = "functional"
#: what bats runs when the spec names no paths
DEFAULT_PATHS: tuple[str, ...] = ("tests",)
REPORT_NAME = "report.xml"
#: what bats (1.7 and later) writes in the failure of a test it stopped at BATS_TEST_TIMEOUT
TIMEOUT_MESSAGE = "failed due to timeout"
#: the name given to bats's report of a file that failed as a whole
FILE_FAILURE = "(the whole file)"
_UNNAMED = re.compile(rb'(<testcase\s[^<>]*?\bname=)""')


class BatsOptions(Protocol):
    """What bats reads of the spec's `functional` (spec_functional.FunctionalSpec)."""

    @property
    def paths(self) -> tuple[str, ...]: ...

    @property
    def min_passed(self) -> int: ...

    @property
    def test_timeout(self) -> int | None: ...


MAX_COUNT_OUTPUT = 4096


@dataclass(frozen=True)
class BatsRun:
    """One bats run as the engine saw it: the exec's state and the report read back."""

    exit_code: int | None
    timed_out: bool
    timeout: int
    output_limit_hit: bool
    memory_limit_hit: bool
    process_limit_hit: bool
    junit: bytes | None
    #: tests `bats --count` found before the run; None when it could not count
    expected: int | None
    full_filesystems: tuple[str, ...] = ()
    junit_problem: str | None = None
    output_tail: str = ""


def test_paths(spec: BatsOptions) -> list[str]:
    """The spec's paths as bats arguments: `./` first, so none reads as an option."""
    return [p if p.startswith("./") else f"./{p}" for p in spec.paths or DEFAULT_PATHS]


def count_command(spec: BatsOptions) -> list[str]:
    """`bats --count`: the tests the files define, read before any of them runs."""
    return ["bats", "--count", "--recursive", *test_paths(spec)]


def bats_command(spec: BatsOptions, out_dir: str) -> list[str]:
    """bats with its JUnit formatter on stdout, into `out_dir`; its stderr is the run's log.

    Not `--report-formatter`: bats writes that report in a background process that may
    still be writing when bats exits (and the sandbox ends every process left then).
    """
    script = 'out="$1"; shift; exec bats --formatter junit "$@" > "$out"'
    return ["sh", "-c", script, "sh", f"{out_dir}/{REPORT_NAME}", "--recursive", *test_paths(spec)]


def parse_count(output: bytes) -> int | None:
    """The number `bats --count` printed, or None if it printed anything else."""
    text = output.decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() and len(text) <= 9 else None


def evaluate_bats(spec: BatsOptions, run: BatsRun) -> CheckResult:
    """The functional verdict for a bats run; never raises for hostile input."""
    limit = limit_hit(run)
    if limit is not None:
        return _result(CheckStatus.FAILED, limit[1], limit[0], None, run)
    if run.junit_problem is not None:
        return _result(CheckStatus.FAILED, run.junit_problem, "INVALID_ARTIFACT", None, run)
    if run.expected is None:
        why = f"bats could not count the tests (exit code {run.exit_code})"
        tail = f": {run.output_tail}" if run.output_tail else ""
        return _result(CheckStatus.FAILED, why + tail, "TESTS_FAILED", None, run)
    if run.junit is None:
        if run.expected == 0:
            return _result(CheckStatus.FAILED, "no tests were found", "NO_TESTS", None, run)
        why = f"bats wrote no test results (exit code {run.exit_code})"
        tail = f": {run.output_tail}" if run.output_tail else ""
        return _result(CheckStatus.FAILED, why + tail, "INVALID_ARTIFACT", None, run)
    try:
        junit = parse_junit(_name_file_failures(run.junit))
    except InvalidArtifact as exc:
        return _result(CheckStatus.FAILED, exc.message, "INVALID_ARTIFACT", None, run)
    forged = _forgery(run, junit)
    if forged is not None:
        return _result(CheckStatus.FAILED, forged, "INVALID_ARTIFACT", junit, run)
    problems: list[tuple[str, str]] = []
    if not junit.cases:
        problems.append(("NO_TESTS", "no tests were found"))
    timed_out = _timed_out(spec, junit)
    if timed_out:
        problems.append((
            "TEST_TIMEOUT",
            f"{len(timed_out)} test(s) ran longer than the per-test limit and were stopped, "
            f"first {timed_out[0]}",
        ))  # fmt: skip
    if junit.failed or junit.errors:
        problems.append(
            ("TESTS_FAILED", f"{junit.failed + junit.errors} test(s) failed or errored")
        )
    if run.expected is not None and len(junit.cases) < run.expected:
        problems.append((
            "TESTS_FAILED",
            f"bats ran {len(junit.cases)} of the {run.expected} tests it counted (a test file "
            "that does not parse, or a failing setup_file, stops the tests after it)",
        ))  # fmt: skip
    if junit.passed < spec.min_passed:
        problems.append(
            (
                "TOO_FEW_PASSED",
                f"{junit.passed} test(s) passed; the spec requires at least {spec.min_passed}",
            )
        )
    result = _result(*verdict(junit, problems), junit, run)
    return CheckResult(
        result.id, result.kind, result.status, result.summary, result.reason_code,
        {**result.details, "timed_out_tests": timed_out},
    )  # fmt: skip


def _name_file_failures(data: bytes) -> bytes:
    """bats reports a file that failed as a whole (a syntax error, a failing setup_file) as
    a test case with an empty name, which the JUnit parser refuses: give it a name."""
    return _UNNAMED.sub(b'\\1"' + FILE_FAILURE.encode() + b'"', data)


def _timed_out(spec: BatsOptions, junit: JUnitResult) -> list[str]:
    """Tests bats stopped at `BATS_TEST_TIMEOUT` (its failure message says so)."""
    if not spec.test_timeout:
        return []
    return [
        c.id for c in junit.cases
        if c.outcome is Outcome.FAILED and TIMEOUT_MESSAGE in c.message
    ]  # fmt: skip


def _forgery(run: BatsRun, junit: JUnitResult) -> str | None:
    """Why the report cannot be bats's own account of this run, or None."""
    failing = junit.failed + junit.errors
    # Fewer results than counted is what a file that does not parse, or a failing
    # setup_file, gives (bats then reports one failure for the file): never more, and
    # never fewer from a run bats says passed.
    counted = run.expected or 0
    if len(junit.cases) > counted or (run.exit_code == 0 and len(junit.cases) != counted):
        return (
            f"the results list {len(junit.cases)} test(s) but bats counted {run.expected} in the "
            "test files before they ran: the results were not written by bats for this run"
        )
    if run.exit_code == 0 and failing:
        return "bats reported success but its results list failures"
    if run.exit_code != 0 and not failing:
        return f"bats exited with {run.exit_code} but its results list no failure"
    return None


def _result(
    status: CheckStatus, summary: str, code: str | None, junit: JUnitResult | None, run: BatsRun
) -> CheckResult:
    """The check with the same details as the pytest one, so every reader reads both."""
    extra = {"runner": "bats", "expected_tests": run.expected}
    return runner_result(CHECK_ID, status, summary, code, junit, run.exit_code, extra)
