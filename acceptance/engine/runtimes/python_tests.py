"""The Python runtime's tests: the supplier's pytest run and its re-runs, the owner's
command, and the owner's hidden tests (staged, snapshotted, run last).

Moved out of acceptance/engine/pipeline.py unchanged (issue 15). The results come back
from the sandbox as untrusted evidence (JUnit and the engine plugin's events), read
through the sandbox's capped, no-follow reads.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

from acceptance.engine.runtimes.command import run_command
from acceptance.engine.runtimes.interface import RunSession
from acceptance.engine.runtimes.python_install import HIDDEN_MOUNT, VENV, WORK_SRC
from acceptance.engine.spec import SpecError, hash_tree
from acceptance.errors import PlatformError, SubmissionError, UserInputError
from checks import command_tests, functional, hidden_tests
from checks.hidden_inventory import InventoryError, base_id, hidden_test_inventory
from checks.options import TestCommand
from sandbox.docker import SANDBOX_USER
from sandbox.interface import CommandResult, Sandbox

#: re-runs of failed tests: each run as read back, and the JUnit path it was told to write
Reruns = list[tuple["functional.FunctionalRun", str]]

MAX_JUNIT_BYTES = 20 * 1024**2
# The plugin's record, a few hundred bytes per test: room for ~100,000 tests.
MAX_EVENTS_BYTES = 64 * 1024**2


class Budget:
    """One test step's time: its first run and its re-runs share it."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self._deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())


def supplier_tests(
    session: RunSession, sandbox: Sandbox
) -> tuple[functional.FunctionalRun, Reruns]:
    """The supplier's own tests, as they would run them, then their failures again."""
    spec = session.spec.functional
    env = {"ACCEPTANCE_EVENTS": functional.EVENTS_PATH, **_test_timeout_env(session)}
    budget = Budget(min(float(spec.timeout), session.remaining()))
    result = session.sandbox_run(
        sandbox, functional.pytest_command(spec, python=f"{VENV}/bin/python"), "functional",
        workdir=WORK_SRC, env=env, timeout=budget.left(), judge=False,
    )  # fmt: skip
    run = _read_results(
        session,
        sandbox,
        result,
        functional.JUNIT_PATH,
        functional.EVENTS_PATH,
        budget.total,
        "junit.xml",
    )
    summary = functional.parse_events(run.events)
    if summary.pytest_version:
        tools = session.report.environment.setdefault("tools", {})
        if isinstance(tools, dict):
            tools["pytest"] = summary.pytest_version

    def again(attempt: int, targets: list[str]) -> tuple[functional.FunctionalRun, str]:
        junit = f"{functional.OUT_DIR}/rerun-{attempt}.xml"
        events = f"{functional.OUT_DIR}/events-rerun-{attempt}.jsonl"
        argv = functional.pytest_command(
            spec, python=f"{VENV}/bin/python", junit=junit, targets=targets
        )
        rerun = session.sandbox_run(
            sandbox, argv, f"functional-rerun-{attempt}", workdir=WORK_SRC,
            env={**env, "ACCEPTANCE_EVENTS": events}, timeout=budget.left(), judge=False,
        )  # fmt: skip
        return _read_results(
            session, sandbox, rerun, junit, events, budget.total, f"junit-rerun-{attempt}.xml"
        ), junit

    return run, _rerun_failures(session, run, budget, again)


def owner_command(
    session: RunSession, sandbox: Sandbox, command: TestCommand
) -> command_tests.CommandRun:
    """The owner's test command instead of pytest, in the project's environment."""
    timeout = min(float(session.spec.functional.timeout), session.remaining())
    env = {"PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": VENV}
    run, artifacts = run_command(
        session, sandbox, command, workdir=WORK_SRC, timeout=timeout, env=env
    )
    for name, data in artifacts.items():
        session.keep_artifact(name, data)
    return run


def stage_hidden_tests(session: RunSession, dest: Path) -> tuple[Path, tuple[str, ...]] | None:
    """The owner's hidden tests copied for this run, checked, and their node ids listed."""
    spec = session.spec
    source = spec.functional.hidden_tests
    if source is None:
        return None
    # A copy only this process's user can read: mounted into the sandbox, it
    # stays unreadable to the sandbox user (the supplier's code), and only the
    # engine's own copy step, run as this user, reads it (`run_hidden_tests`).
    shutil.copytree(source, dest, symlinks=True)
    for root, _dirs, files in os.walk(dest):
        os.chmod(root, 0o700)
        for name in files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, 0o600)
    # The folder was checked (no links, no special files) and hashed when the spec
    # was read; what the sandbox gets must be exactly that tree, not whatever a link
    # or file swapped in since then points at.
    try:
        unchanged = hash_tree(dest) == spec.hidden_tests_sha256
        why = ""
    except SpecError as exc:
        unchanged, why = False, f": {'; '.join(exc.problems)[:500]}"
    if not unchanged:
        raise UserInputError(
            f"the hidden tests in {source} changed after the spec was read{why}",
            hint="publish the spec and its hidden tests again, then rerun",
        )
    try:
        expected = hidden_test_inventory(dest)
    except InventoryError as exc:
        raise UserInputError(
            str(exc), hint="fix the hidden tests and publish the spec again"
        ) from None
    session.report.spec = {
        **session.report.spec,
        "hidden_tests_expected": len(expected),
        # The owner's inventory: what the supplier's view may name (never what a run says).
        "hidden_test_ids": list(expected),
    }
    return dest, expected


def snapshot_for_hidden_tests(session: RunSession, sandbox: Sandbox) -> hidden_tests.HiddenLayout:
    """Copy the venv and the checkout as the install left them, before the supplier's tests.

    The copies belong to this process's user, read-only to the sandbox user: the
    supplier's tests can rewrite `/work/src` and `/work/venv`, not what the hidden
    tests import. The folder's random name is made here, so nothing can be waiting.
    """
    layout = hidden_tests.HiddenLayout(f"/work/.acceptance-{secrets.token_hex(16)}")
    script = (
        f"set -e; umask 022; mkdir {layout.base}; "
        f"cp -R -P --preserve=mode,timestamps {VENV} {layout.venv}; "
        f"cp -R -P --preserve=mode,timestamps {WORK_SRC} {layout.src}; "
        f"chmod -R go-w,a+rX {layout.venv} {layout.src}"
    )
    _as_engine(
        session, sandbox, script, "hidden-snapshot",
        "could not keep a copy of the installed project for the hidden tests (files only "
        "the sandbox user can read?)",
    )  # fmt: skip
    return layout


def run_hidden_tests(
    session: RunSession,
    sandbox: Sandbox,
    layout: hidden_tests.HiddenLayout,
    expected: tuple[str, ...],
) -> hidden_tests.HiddenOutcome:
    """The owner's hidden tests in their own pytest process, under the engine's settings."""
    spec = session.spec.functional
    timeout = min(float(spec.timeout), session.remaining())
    if timeout < 1:
        return hidden_tests.hidden_not_run("the run had no time left for them", expected)
    # As this process's user, the only one that can read the staged copy: `mkdir`
    # fails if the folder exists, and the copy is read-only to the sandbox user.
    script = (
        f"set -e; umask 022; mkdir {layout.tests} {layout.out}; "
        f"cp -R {HIDDEN_MOUNT}/. {layout.tests}/; chmod -R a+rX {layout.tests}; "
        f"chmod 0777 {layout.out}"
    )
    _as_engine(
        session, sandbox, script, "hidden-copy", "could not copy the hidden tests into the sandbox"
    )
    budget = Budget(timeout)
    argv = hidden_tests.hidden_pytest_command(layout, original_src=WORK_SRC)
    env = {
        "ACCEPTANCE_EVENTS": layout.events,
        "ACCEPTANCE_HIDDEN_DIR": layout.tests,
        **_test_timeout_env(session),
    }
    result = session.sandbox_run(
        sandbox, argv, "hidden-tests", workdir=layout.src, env=env, timeout=budget.left(),
        judge=False,
    )  # fmt: skip
    run = _read_results(
        session, sandbox, result, layout.junit, layout.events, timeout, "hidden-junit.xml"
    )

    def again(attempt: int, targets: list[str]) -> tuple[functional.FunctionalRun, str]:
        junit, events = (
            f"{layout.out}/rerun-{attempt}.xml",
            f"{layout.out}/events-rerun-{attempt}.jsonl",
        )
        argv = hidden_tests.hidden_pytest_command(
            layout, original_src=WORK_SRC, junit=junit, targets=targets
        )
        rerun = session.sandbox_run(
            sandbox, argv, f"hidden-tests-rerun-{attempt}", workdir=layout.src,
            env={**env, "ACCEPTANCE_EVENTS": events}, timeout=budget.left(), judge=False,
        )  # fmt: skip
        return _read_results(
            session, sandbox, rerun, junit, events, timeout, f"hidden-junit-rerun-{attempt}.xml"
        ), junit

    # Only node ids of tests the owner wrote: the events come from a process the
    # supplier's code shares, and they become arguments of the next one.
    known = set(expected)
    reruns = _rerun_failures(session, run, budget, again, lambda t: base_id(t) in known)
    return hidden_tests.evaluate_hidden(
        run, expected, layout, reruns=reruns, flaky_passes=spec.flaky == "pass",
    )  # fmt: skip


def _as_engine(session: RunSession, sandbox: Sandbox, script: str, name: str, failure: str) -> None:
    """One shell step as this process's user (see `_engine_user`); its output stays here.

    The output may name the owner's files, and the failure sentence is the
    supplier's to read: it says what failed, not what cp printed.
    """
    done = session.sandbox_run(sandbox, ["sh", "-c", script], name, user=_engine_user())
    if done.exit_code != 0:
        raise SubmissionError(
            "DISK_LIMIT" if "No space" in done.text else "PREPARE_FAILED", failure
        )


def _engine_user() -> str:
    """This process's uid:gid, for the engine's own steps inside the sandbox.

    The staged hidden tests belong to it (mode 0700), so the sandbox user
    cannot read them; it must therefore never be the sandbox user itself.
    """
    uid, gid = os.getuid(), os.getgid()
    if f"{uid}:{gid}" == SANDBOX_USER or uid == int(SANDBOX_USER.split(":")[0]):
        raise PlatformError(
            f"the worker runs as uid {uid}, the sandbox user's: the hidden tests could not be "
            "kept from the supplier's code; run the worker as another user"
        )
    return f"{uid}:{gid}"


def _rerun_failures(
    session: RunSession,
    first: functional.FunctionalRun,
    budget: Budget,
    again: Callable[[int, list[str]], tuple[functional.FunctionalRun, str]],
    allowed: Callable[[str], bool] = lambda node_id: True,
) -> Reruns:
    """Re-run the tests that failed, in fresh processes, up to `functional.reruns` times.

    Only while the test step's own time lasts; a test that passed once is
    not run again, one that keeps failing is tried each time.
    """
    reruns: Reruns = []
    if (
        first.timed_out
        or first.process_limit_hit
        or first.memory_limit_hit
        or first.output_limit_hit
    ):
        return reruns
    latest = first
    for attempt in range(1, session.spec.functional.reruns + 1):
        targets = [t for t in functional.rerun_targets(latest) if allowed(t)]
        if not targets or budget.left() < 1:
            break
        latest, junit = again(attempt, targets)
        reruns.append((latest, junit))
    return reruns


def _test_timeout_env(session: RunSession) -> dict[str, str]:
    limit = session.spec.functional.test_timeout
    return {"ACCEPTANCE_TEST_TIMEOUT": str(limit)} if limit else {}


def _read_results(
    session: RunSession,
    sandbox: Sandbox,
    result: CommandResult,
    junit_path: str,
    events_path: str,
    timeout: float,
    artifact: str,
) -> functional.FunctionalRun:
    """A pytest run's JUnit file and the plugin's events, read back as untrusted evidence."""
    junit: bytes | None = None
    junit_problem: str | None = None
    # One read for both files (after the stragglers are gone): each read is a round trip.
    wanted = [(events_path, MAX_EVENTS_BYTES)]
    if not result.timed_out:
        wanted.append((junit_path, MAX_JUNIT_BYTES))
    events_read, *junit_read = sandbox.read_files(wanted)
    if junit_read:
        try:
            junit = junit_read[0].value()
        except SubmissionError as exc:
            # e.g. the tests replaced it with a link to another file, or blew it up
            junit_problem = f"the JUnit results file is unusable: {exc.message}"
    if junit:
        session.keep_artifact(artifact, junit)
    events_problem: str | None = None
    try:
        events = events_read.value()
    except SubmissionError as exc:
        events, events_problem = None, exc.message
    return functional.FunctionalRun(
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        timeout=int(timeout),
        output_limit_hit=result.output_limit_hit,
        memory_limit_hit=result.memory_limit_hit,
        junit=junit,
        events=events,
        process_limit_hit=result.process_limit_hit,
        # Only when something went wrong: a passing run with its results in
        # hand is judged by them (and the check is one more exec).
        full_filesystems=(sandbox.full_filesystems() if result.exit_code != 0 or not junit else ()),
        junit_problem=junit_problem,
        events_problem=events_problem,
    )
