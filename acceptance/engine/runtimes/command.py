"""The owner's test command (`functional.command`) in any runtime's sandbox, results read back.

Every runtime calls this instead of its default runner when the spec names a command:
the results path is cleared first (a file the delivery carries there is never read), the
command runs in the copy of the checkout as the sandbox user, with the spec's limits and
no network, then the path is checked (no link on the way) and the file read through the
sandbox's capped, no-follow read. The verdict is checks/command_tests.py's.
"""

from __future__ import annotations

from collections.abc import Mapping

from acceptance.engine.runtimes.interface import RunSession
from acceptance.errors import SubmissionError
from checks import command_tests
from checks.interface import CheckOutcome
from checks.options import TestCommand
from checks.report_text import clean_text
from sandbox.interface import Sandbox

#: the variable naming the results file's absolute path, for commands that want it
RESULTS_VARIABLE = "ACCEPTANCE_RESULTS"


def run_command(
    session: RunSession,
    sandbox: Sandbox,
    command: TestCommand,
    *,
    workdir: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> tuple[command_tests.CommandRun, dict[str, bytes]]:
    """Run the owner's command once; its run as the engine saw it, and the results artifact."""
    target = f"{workdir}/{command.results_path}"
    prepared = session.sandbox_run(
        sandbox, ["sh", "-c", command_tests.PREPARE_SCRIPT, "sh", target],
        "functional-prepare", timeout=60, judge=False,
    )  # fmt: skip
    if prepared.exit_code != 0:
        why = clean_text(prepared.text.strip()[-300:], 300) or f"exit code {prepared.exit_code}"
        return _unusable(command, why), {}
    result = session.sandbox_run(
        sandbox, list(command.argv), "functional", workdir=workdir,
        env={**(env or {}), RESULTS_VARIABLE: target}, timeout=timeout, judge=False,
    )  # fmt: skip
    report: bytes | None = None
    problem: str | None = None
    if not result.timed_out:
        report, problem = _read(session, sandbox, target)
    run = command_tests.CommandRun(
        command=command.written,
        results_format=command.results_format,
        results_path=command.results_path,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        timeout=int(timeout),
        output_limit_hit=result.output_limit_hit,
        memory_limit_hit=result.memory_limit_hit,
        process_limit_hit=result.process_limit_hit,
        report=report,
        full_filesystems=sandbox.full_filesystems() if result.exit_code != 0 or not report else (),
        report_problem=problem,
        output_tail=clean_text(result.text[-300:], 300) if report is None else "",
    )
    artifacts = {command_tests.ARTIFACT[command.results_format]: report} if report else {}
    return run, artifacts


def judge_command(
    session: RunSession, sandbox: Sandbox, command: TestCommand, *, workdir: str,
    env: Mapping[str, str] | None = None,
) -> CheckOutcome:  # fmt: skip
    """The functional check of a runtime without hidden tests: the command, run and judged."""
    spec = session.spec.functional
    budget = min(float(spec.timeout), session.remaining())
    run, artifacts = run_command(
        session, sandbox, command, workdir=workdir, timeout=budget, env=env
    )
    return CheckOutcome(command_tests.evaluate(spec.min_passed, run), artifacts)


def _read(session: RunSession, sandbox: Sandbox, target: str) -> tuple[bytes | None, str | None]:
    """The results file, read only when its path resolves to itself (no link on the way)."""
    resolved = session.sandbox_run(
        sandbox, ["sh", "-c", command_tests.RESOLVE_SCRIPT, "sh", target],
        "functional-results", timeout=60, judge=False,
    )  # fmt: skip
    if resolved.exit_code != 0:
        return None, f"its path {clean_text(resolved.text.strip(), 100) or 'is not usable'}"
    try:
        read = sandbox.read_files([(target, command_tests.MAX_RESULTS_BYTES)])[0]
        return read.value(), None
    except SubmissionError as exc:  # a link, a folder or special file, too large
        return None, exc.message


def _unusable(command: TestCommand, why: str) -> command_tests.CommandRun:
    return command_tests.CommandRun(
        command=command.written, results_format=command.results_format,
        results_path=command.results_path, exit_code=None, timed_out=False, timeout=0,
        output_limit_hit=False, memory_limit_hit=False, process_limit_hit=False, report=None,
        report_problem=why,
    )  # fmt: skip
