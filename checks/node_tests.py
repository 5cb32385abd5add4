"""The functional check for Node.js deliveries: node:test's TAP report, read and checked.

The engine runs Node's test runner itself, never the delivery's `npm test`: a script the
supplier writes could write the very report the engine reads. It asks for the TAP report
in a file whose folder is named at random for the run (`--test-reporter=tap
--test-reporter-destination=...`); Debian bookworm's Node 18 has no JUnit reporter. The
files are the spec's `functional.paths`, else those of a `node --test [paths]` test
script, else Node's own discovery; any other test script fails the check, saying so
(`NODE_TEST_SCRIPT_UNSUPPORTED`). The report is believed only when Node's summary in it
agrees with its test points and the exit status the engine observed agrees with its
failures (0 with none, non-zero with some).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from checks.interface import CheckResult, CheckStatus
from checks.junit import InvalidArtifact, JUnitResult
from checks.node_tap import TapReport, parse_tap
from checks.runner_results import limit_hit, runner_result, verdict

CHECK_ID = "functional"
KIND = "functional"
REPORT_NAME = "results.tap"
#: npm's placeholder script: no tests, and an exit status of 1
NPM_PLACEHOLDER = 'echo "Error: no test specified" && exit 1'


@dataclass(frozen=True)
class NodeTestRun:
    """One test run as the engine saw it."""

    runner: str
    exit_code: int | None
    timed_out: bool
    timeout: int
    output_limit_hit: bool
    memory_limit_hit: bool
    process_limit_hit: bool
    report: bytes | None
    full_filesystems: tuple[str, ...] = ()
    report_problem: str | None = None
    output_tail: str = ""


def reporter_options(report_path: str) -> list[str]:
    """Node's TAP reporter into the engine's file."""
    return ["--test-reporter=tap", f"--test-reporter-destination={report_path}"]


class UnsupportedScript(ValueError):
    """package.json's test script is not one the engine can run itself."""


def test_command(
    test_script: str | None, paths: tuple[str, ...], report_path: str
) -> tuple[str, list[str]]:
    """(runner, argv): `node --test`, run by the engine with its reporter, never `npm test`.

    The spec's `functional.paths` win; else the arguments of a `node --test ...` test
    script; else Node's own discovery. Any other test script raises UnsupportedScript:
    a script the supplier writes can write the report itself, so it is never what runs.
    """
    flags: list[str] = []
    files = list(paths)
    runner = "node --test"
    if not paths and test_script is not None and test_script.strip() != NPM_PLACEHOLDER:
        flags, files = _node_test_script(test_script)
        runner = "node --test (package.json's test script)"
    files = [p if p.startswith(("./", "/")) else f"./{p}" for p in files]
    return runner, ["node", "--test", *flags, *reporter_options(report_path), "--", *files]


def _node_test_script(script: str) -> tuple[list[str], list[str]]:
    """The flags and paths of a `node --test [flags] [paths]` script; UnsupportedScript otherwise."""
    refused = UnsupportedScript(
        f"package.json's test script is {_show(script)}: the engine runs node:test itself and "
        "reads scripts of the form `node --test [paths]` only (another runner, a build step or "
        "shell syntax could write the results the engine reads); name the test files in the "
        "spec's functional.paths or use that form"
    )
    try:
        tokens = shlex.split(script)
    except ValueError as exc:
        raise refused from exc
    if len(tokens) < 2 or tokens[0] != "node" or "--test" not in tokens[1:] or len(tokens) > 50:
        raise refused
    flags: list[str] = []
    files: list[str] = []
    for token in tokens[1:]:
        if token == "--test" or token.startswith("--test-reporter"):
            continue  # the engine's own reporter replaces the script's
        if token in _ALLOWED_FLAGS or token.startswith(_ALLOWED_FLAG_PREFIXES):
            flags.append(token)
        elif token.startswith("-") or any(ch in token for ch in _SHELL_CHARACTERS):
            raise refused
        else:
            files.append(token)
    return flags, files


_ALLOWED_FLAGS = ("--test-only",)
_ALLOWED_FLAG_PREFIXES = ("--test-name-pattern=",)
_SHELL_CHARACTERS = set(";&|<>$`(){}\\\n")


def _show(text: str) -> str:
    return repr("".join(ch if ch.isprintable() else "?" for ch in text)[:120])


def unsupported_script(why: str) -> CheckResult:
    """The functional check when the test script is not one the engine runs."""
    run = NodeTestRun("npm test", None, False, 0, False, False, False, None)
    return _result(CheckStatus.FAILED, why, "NODE_TEST_SCRIPT_UNSUPPORTED", None, run)


def evaluate(min_passed: int, run: NodeTestRun) -> CheckResult:
    """The functional verdict for a node:test run; never raises for hostile input."""
    limit = limit_hit(run)
    if limit is not None:
        return _result(CheckStatus.FAILED, limit[1], limit[0], None, run)
    if run.report_problem is not None:
        return _result(CheckStatus.FAILED, run.report_problem, "INVALID_ARTIFACT", None, run)
    if not run.report:
        why = (
            f"`{run.runner}` wrote no node:test results (exit code {run.exit_code}); the engine "
            "counts tests from Node's own test runner (node:test) only"
        )
        tail = f": {run.output_tail}" if run.output_tail else ""
        return _result(CheckStatus.FAILED, why + tail, "NO_TESTS", None, run)
    try:
        tap = parse_tap(run.report)
    except InvalidArtifact as exc:
        return _result(CheckStatus.FAILED, exc.message, "INVALID_ARTIFACT", None, run)
    forged = _forgery(run, tap)
    if forged is not None:
        return _result(CheckStatus.FAILED, forged, "INVALID_ARTIFACT", tap.result, run)
    junit = tap.result
    problems: list[tuple[str, str]] = []
    if not junit.cases:
        problems.append(("NO_TESTS", "no tests were found"))
    if junit.failed or junit.errors:
        problems.append(
            ("TESTS_FAILED", f"{junit.failed + junit.errors} test(s) failed or errored")
        )
    if junit.passed < min_passed:
        problems.append(
            (
                "TOO_FEW_PASSED",
                f"{junit.passed} test(s) passed; the spec requires at least {min_passed}",
            )
        )
    return _result(*verdict(junit, problems), junit, run)


def _forgery(run: NodeTestRun, tap: TapReport) -> str | None:
    """Why the report cannot be Node's own account of this run, or None."""
    junit = tap.result
    summary = tap.summary
    if "tests" not in summary or "pass" not in summary or "fail" not in summary:
        return "the TAP report has no summary from Node's test runner (# tests, # pass, # fail)"
    failing = junit.failed + junit.errors
    if summary["pass"] != junit.passed:
        return (
            f"Node's summary counts {summary['pass']} passed test(s) but the report lists "
            f"{junit.passed}: the results were not written by Node for this run"
        )
    if summary["fail"] + summary.get("cancelled", 0) == 0 and failing:
        return "Node's summary counts no failure but the report lists failing tests"
    if summary["fail"] + summary.get("cancelled", 0) > 0 and not failing:
        return "Node's summary counts failures but the report lists none"
    if run.exit_code == 0 and failing:
        return "the test runner reported success but its results list failures"
    if run.exit_code != 0 and not failing:
        return f"the test runner exited with {run.exit_code} but its results list no failure"
    return None


def _result(
    status: CheckStatus, summary: str, code: str | None, junit: JUnitResult | None, run: NodeTestRun
) -> CheckResult:
    """The check with the same details as the pytest and bats ones."""
    extra = {"runner": run.runner}
    return runner_result(CHECK_ID, status, summary, code, junit, run.exit_code, extra)
