"""The functional check when the owner names the test command (`functional.command`).

The owner's command runs instead of the runtime's default runner (pytest, bats,
node:test) and writes its results to `functional.results.path` in JUnit XML or TAP.
That file is read back as untrusted evidence, through the same hardened parsers as
every other runner's results (checks/junit.py; TAP: checks/tap_results.py), and
believed only as far as what the engine saw itself allows:

* the file is removed before the command starts and must be a regular file, reached
  without a link, afterwards: a results file delivered in the repository is never read;
* the command's exit status decides too: non-zero fails the check, whatever the file says;
* no test listed is `NO_TESTS`, never a pass; `min_passed` applies.

What it cannot check: the command runs the supplier's code, which can write the results
file itself while the command exits 0 (the same in-process limit as a pytest conftest.py,
docs/security.md); the engine's own runners cross-check more (pytest's plugin, bats's
count), so a custom command is for suites they cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.interface import CheckResult, CheckStatus
from checks.junit import InvalidArtifact, JUnitResult, parse_junit
from checks.runner_results import limit_hit, runner_result, verdict
from checks.tap_results import parse_tap_results

CHECK_ID = "functional"
KIND = "functional"
RUNNER = "command"
MAX_RESULTS_BYTES = 20 * 1024**2
#: the results file's artifact name, by format
ARTIFACT = {"junit": "test-command-results.xml", "tap": "test-command-results.tap"}

#: run as the sandbox user before the command: the results path must hold nothing the
#: delivery put there (removed), and must not be a folder
PREPARE_SCRIPT = """
p="$1"
rm -f -- "$p" 2>/dev/null
if [ -e "$p" ] || [ -L "$p" ]; then
  echo "the results path $p is a folder or cannot be removed before the command runs"
  exit 3
fi
mkdir -p -- "$(dirname -- "$p")" 2>/dev/null || true
"""
#: run after the command (every process it left is gone): the path must resolve to itself,
#: so no component is a link (a link leading out of the checkout, or to another file)
RESOLVE_SCRIPT = """
p="$1"
[ -e "$p" ] || [ -L "$p" ] || exit 0
r=$(realpath -e -- "$p" 2>/dev/null) || { echo "cannot be resolved"; exit 4; }
[ "$r" = "$p" ] || { echo "leads through a link"; exit 4; }
"""


@dataclass(frozen=True)
class CommandRun:
    """One run of the owner's test command, as the engine saw it."""

    command: str
    results_format: str
    results_path: str
    exit_code: int | None
    timed_out: bool
    timeout: int
    output_limit_hit: bool
    memory_limit_hit: bool
    process_limit_hit: bool
    #: the results file's bytes; None when it was absent
    report: bytes | None
    full_filesystems: tuple[str, ...] = ()
    #: why the results file could not be used (a link, a folder, too large)
    report_problem: str | None = None
    output_tail: str = ""


def parse_results(results_format: str, data: bytes) -> JUnitResult:
    """JUnit XML or TAP into the test cases every functional judge reads."""
    if results_format == "tap":
        return parse_tap_results(data, max_bytes=MAX_RESULTS_BYTES)
    return parse_junit(data, max_bytes=MAX_RESULTS_BYTES)


def evaluate(min_passed: int, run: CommandRun, *, hidden_passed: int | None = None) -> CheckResult:
    """The functional verdict for the owner's command; never raises for hostile input.

    ``hidden_passed``: the owner's hidden tests that passed in their own run (pytest,
    Python only), counted toward `min_passed`; with them the command may list no test.
    """
    limit = limit_hit(run, "the test command")
    if limit is not None:
        return _result(CheckStatus.FAILED, limit[1], limit[0], None, run)
    if run.report_problem is not None:
        why = f"the results file {run.results_path} is unusable: {run.report_problem}"
        return _result(CheckStatus.FAILED, why, "INVALID_ARTIFACT", None, run)
    if run.report is None:
        why = (
            f"the test command wrote no results file at {run.results_path} (exit code "
            f"{run.exit_code}); it must write its {run.results_format} results there"
        )
        tail = f": {run.output_tail}" if run.output_tail else ""
        return _result(CheckStatus.FAILED, why + tail, "INVALID_ARTIFACT", None, run)
    try:
        junit = parse_results(run.results_format, run.report)
    except InvalidArtifact as exc:
        return _result(CheckStatus.FAILED, exc.message, "INVALID_ARTIFACT", None, run)
    problems: list[tuple[str, str]] = []
    if not junit.cases and hidden_passed is None:
        problems.append(("NO_TESTS", f"the results file {run.results_path} lists no test"))
    if junit.failed or junit.errors:
        problems.append(
            ("TESTS_FAILED", f"{junit.failed + junit.errors} test(s) failed or errored")
        )
    if run.exit_code != 0:
        problems.append((
            "TESTS_FAILED",
            f"the test command exited with {run.exit_code}"
            + ("" if junit.failed or junit.errors else " although its results list no failure")
            + "; a non-zero exit status fails the check",
        ))  # fmt: skip
    passed = junit.passed + (hidden_passed or 0)
    if passed < min_passed:
        problems.append(
            ("TOO_FEW_PASSED", f"{passed} test(s) passed; the spec requires at least {min_passed}")
        )
    return _result(*verdict(junit, problems), junit, run)


def _result(
    status: CheckStatus, summary: str, code: str | None, junit: JUnitResult | None, run: CommandRun
) -> CheckResult:
    """The check with the same details as the other runners', plus the command and its file."""
    extra = {
        "runner": RUNNER,
        "command": run.command,
        "results_file": {"format": run.results_format, "path": run.results_path},
    }
    return runner_result(CHECK_ID, status, summary, code, junit, run.exit_code, extra)
