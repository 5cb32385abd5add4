"""The Python runtime: pip-installed dependencies, pytest, bandit, pip-audit, licensecheck.

Its stages are the pipeline's original ones, moved here unchanged (issue 15): the plan,
the sandbox, prepare, bandit (and ruff) before any supplier code runs, metadata and the
offline install (acceptance/engine/runtimes/python_install.py), the installed listing
and its audit, the licences, the supplier's tests or the owner's command, the hosted
checks, then the owner's hidden tests, last (python_tests.py). A Python delivery's report
is exactly what it was before runtimes existed (tests/test_golden_report.py).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from acceptance.engine.checkout import Checkout
from acceptance.engine.dependencies import detect_install_plan
from acceptance.engine.install_plan import InstallPlan
from acceptance.engine.prepared import PreparedEnvironments
from acceptance.engine.runtime_choice import RuntimeName
from acceptance.engine.runtimes import python_install as inst
from acceptance.engine.runtimes import python_tests as tests
from acceptance.engine.runtimes.interface import RunSession
from acceptance.engine.runtimes.python_install import (
    HIDDEN_MOUNT,
    SRC_MOUNT,
    VENV,
    WHEELS_MOUNT,
    WORK_SRC,
)
from acceptance.errors import SubmissionError
from checks import command_tests, functional, hidden_tests, licence, quality, sast
from checks import dependencies as dependency_audit
from checks.hidden_inventory import HIDDEN_DIR_NAME
from checks.interface import CheckOutcome, CheckResult
from sandbox.image import TOOLS_VENV
from sandbox.interface import Sandbox

if TYPE_CHECKING:
    from acceptance.engine.pipeline import EngineConfig


class PythonRuntime:
    """Judges Python deliveries in the main sandbox image."""

    @property
    def name(self) -> RuntimeName:
        return RuntimeName.PYTHON

    def image(self, config: EngineConfig) -> str:
        return config.image

    def judge(self, session: RunSession, tree: Checkout, scratch: Path) -> None:
        _PythonRun(session).judge(tree, scratch)


class _PythonRun:
    """One Python judgement's state (the runtime object itself is shared by every run)."""

    def __init__(self, session: RunSession) -> None:
        self.session = session
        self.spec = session.spec
        #: the dependency caches (acceptance.engine.envcache), set once the source is known
        self.prepared: PreparedEnvironments | None = None
        self.installed_listing: bytes | None = None
        #: the hidden tests' node ids (without parameters), read from the owner's files
        self.hidden_expected: tuple[str, ...] = ()
        #: the name the engine's metadata build reported for each local project, by path
        self.built_names: dict[str, str] = {}

    def judge(self, tree: Checkout, scratch: Path) -> None:
        session = self.session
        if os.path.lexists(tree.path / HIDDEN_DIR_NAME):
            # Results under this name are the owner's: a supplier's folder of that name is
            # refused, never merged with or mistaken for them; refused even without hidden
            # tests, as the report's readers take test ids under that name for the owner's.
            raise SubmissionError(
                "RESERVED_PATH",
                f"the repository has a '{HIDDEN_DIR_NAME}' entry at its root, a name the engine "
                "keeps for the owner's hidden tests: rename it and push again",
            )
        with session.stage("plan"):
            plan = detect_install_plan(tree.path, self.spec.install.requirements)
        inst.record_plan(session, plan)
        config = session.config
        wheels = config.cache_dir / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        staged = tests.stage_hidden_tests(session, scratch / "hidden")
        mounts = {tree.path: SRC_MOUNT, wheels: WHEELS_MOUNT}
        if staged is not None:
            mounts[staged[0]] = HIDDEN_MOUNT
            self.hidden_expected = staged[1]
        self.prepared = PreparedEnvironments(
            config.cache_dir, wheels, tree.source, session.report.run,
            tools_python=f"{TOOLS_VENV}/bin/python", wheels_mount=WHEELS_MOUNT, src_mount=WORK_SRC,
            max_total_bytes=config.env_cache_max_bytes,
        )  # fmt: skip
        mounts.update(self.prepared.mounts())
        # Host-side work (downloads, licence reading, the advisory audit) runs
        # in these threads while the sandbox works; sandbox stages stay in order.
        pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="run")
        try:
            licence_evidence = pool.submit(
                session.timed, "licence-detect", session.detect_licence, tree
            )
            sandbox: Sandbox | None = None
            try:
                with session.stage("sandbox"):
                    sandbox = session.open_sandbox(tree, config.image, mounts)
                # The image's Python, from its label (recorded with the tools by open_sandbox).
                tools = session.report.environment.get("tools")
                found = tools.get("python") if isinstance(tools, dict) else None
                session.report.environment["python_version"] = found
                download = pool.submit(
                    session.timed, "download", self._download,
                    [*plan.build_requirements, *plan.requirements], wheels,
                )  # fmt: skip
                self._in_sandbox(
                    sandbox, plan, wheels, staged is not None, pool, download, licence_evidence,
                    scratch,
                )  # fmt: skip
            finally:
                if sandbox is not None:
                    sandbox.close()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _download(self, requirements: list[str] | tuple[str, ...], wheels: Path) -> None:
        inst.download(self.session, self.prepared, requirements, wheels)

    def _in_sandbox(
        self,
        sandbox: Sandbox,
        plan: InstallPlan,
        wheels: Path,
        hidden: bool,
        pool: ThreadPoolExecutor,
        download: Future[None],
        licence_evidence: Future[licence.LicenceEvidence | None],
        scratch: Path,
    ) -> None:
        session, spec = self.session, self.spec
        with session.stage("prepare"):
            script = (
                f"set -e; mkdir -p {functional.OUT_DIR}; cp -a {SRC_MOUNT}/. {WORK_SRC}/; "
                f"python3 -m venv --without-pip {VENV}"
            )
            session.copy_in(sandbox, script, "prepare", "the checkout")
        # Before the install: no supplier code has run yet, so nothing can have
        # touched the scanner or its report; build output is not scanned either.
        with session.stage("sast"):
            session.add(
                sast.run_sast(
                    sandbox, spec.security.sast, timeout=session.remaining(), target=SRC_MOUNT
                )
            )
        if spec.quality.enabled:
            # Before the install too: ruff and its output are untouched by supplier code.
            with session.stage("quality"):
                session.add(
                    quality.run_quality(
                        sandbox, spec.quality, timeout=session.remaining(), target=SRC_MOUNT
                    )
                )
        download.result()
        if plan.needs_sandbox_metadata:
            with session.stage("metadata"):
                extra = inst.sandbox_metadata(session, sandbox, plan, self.built_names)
            with session.stage("download"):
                self._download(extra, wheels)
            plan = InstallPlan(
                requirements=(*plan.requirements, *extra),
                build_requirements=plan.build_requirements,
                local_projects=plan.local_projects,
                needs_sandbox_metadata=False,
                evidence=plan.evidence,
            )
        assert self.prepared is not None
        self.prepared.install(
            plan, sandbox=sandbox, image_id=str(session.report.environment["image"]["id"]),  # type: ignore[index]
            python_version=inst.python_version(session),
            run=lambda argv, name, env: session.sandbox_run(sandbox, argv, name, env=env),
            stage=session.stage, install=lambda p: inst.install(session, sandbox, p),
            remaining=session.remaining,
        )  # fmt: skip
        session.report.environment["dependency_cache"] = self.prepared.notes
        audit: Future[CheckOutcome] | None = None
        if spec.security.dependencies.enabled:
            with session.stage("installed"):
                listing = inst.installed(session, sandbox)
            self.installed_listing = listing
            audit = pool.submit(
                session.timed, "dependency-audit", inst.audit, session, self.prepared,
                self.built_names, listing, scratch,
            )  # fmt: skip
        else:
            session.add(
                dependency_audit.audit((), spec.security.dependencies, osv_url="", work_dir=scratch)
            )
        evidence = licence_evidence.result() or licence.LicenceEvidence(None, None, None)
        with session.stage("licence"):
            session.add(
                self.prepared.judge_licence(
                    sandbox,
                    evidence,
                    spec.licence,
                    timeout=min(300.0, session.remaining()),
                    installed_listing=self.installed_listing,
                )
            )
        layout: hidden_tests.HiddenLayout | None = None
        if hidden:
            with session.stage("hidden-snapshot"):
                layout = tests.snapshot_for_hidden_tests(session, sandbox)
        command = spec.functional.command
        with session.stage("functional"):
            if command is None:
                supplier_run, supplier_reruns = tests.supplier_tests(session, sandbox)
            else:
                command_run = tests.owner_command(session, sandbox, command)

        # After the supplier's tests, in their environment, before the owner's hidden tests:
        # what a hosted check starts is the supplier's code, ended before those run.
        env = {"PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": VENV}
        environment = f"the Python runtime's sandbox: {VENV} and {WORK_SRC} as installed"
        session.run_hosted_checks(sandbox, WORK_SRC, env, environment)

        def own_tests(hidden_passed: int | None) -> CheckResult:
            """The supplier's tests judged: pytest's run, or the owner's command's."""
            if command is not None:
                min_passed = spec.functional.min_passed
                return command_tests.evaluate(min_passed, command_run, hidden_passed=hidden_passed)
            return functional.evaluate(
                spec.functional, supplier_run, hidden_passed=hidden_passed,
                reruns=supplier_reruns,
            )  # fmt: skip

        if layout is not None:
            # Last, after every process of the supplier's tests has ended: nothing they
            # ran can read the owner's tests, or be waiting for them (docs/security.md).
            # With the owner's command too, the hidden tests run with the engine's pytest.
            with session.stage("hidden-tests"):
                outcome = tests.run_hidden_tests(session, sandbox, layout, self.hidden_expected)
            session.add(CheckOutcome(hidden_tests.with_hidden(own_tests(outcome.passed), outcome)))
        else:
            session.add(CheckOutcome(own_tests(None)))
        if audit is not None:
            session.add(audit.result())
