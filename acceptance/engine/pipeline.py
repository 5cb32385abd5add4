"""One acceptance run: checkout, dependencies, sandbox, checks, report."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acceptance import __version__
from acceptance.engine import envcache
from acceptance.engine.checkout import Checkout, GitLimits, checkout
from acceptance.engine.dependencies import (
    detect_install_plan,
    own_project_names,
    requirements_from_metadata,
)
from acceptance.engine.install_plan import InstallPlan, LocalProject
from acceptance.engine.prepared import PreparedEnvironments
from acceptance.engine.report import Reason, ReportInput, Verdict, build_statement, decide
from acceptance.engine.runtime_choice import SOURCE_DETECTED, RuntimeName, choose_runtime
from acceptance.engine.runtimes import runtime_for
from acceptance.engine.runtimes.command import run_command
from acceptance.engine.spec import Spec, SpecError, hash_tree
from acceptance.engine.test_command import TestCommand
from acceptance.engine.wheels import download_wheels
from acceptance.errors import PlatformError, SubmissionError, UserInputError
from acceptance.safefs import remove_tree
from checks import (
    audit_cache,
    command_tests,
    functional,
    hidden_tests,
    is_builtin,
    licence,
    licence_cache,
    quality,
    sast,
)
from checks import dependencies as dependency_audit
from checks import registered as registered_checks
from checks.hidden_inventory import (
    HIDDEN_DIR_NAME,
    InventoryError,
    base_id,
    hidden_test_inventory,
)
from checks.interface import (
    AppHost,
    CheckContext,
    CheckOutcome,
    CheckResult,
    CheckStatus,
    HostedCheck,
)
from checks.test_hooks import HookFinding, find_test_hooks
from sandbox.docker import SANDBOX_USER, DockerSandbox
from sandbox.image import TOOLS_VENV
from sandbox.interface import CommandResult, Sandbox, SandboxConfig, SandboxLimits

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]
#: re-runs of failed tests: each run as read back, and the JUnit path it was told to write
Reruns = list[tuple["functional.FunctionalRun", str]]
SandboxFactory = Callable[[SandboxConfig], Sandbox]

SRC_MOUNT = "/src"
HIDDEN_MOUNT = "/hidden"
WHEELS_MOUNT = "/wheels"
WORK_SRC = "/work/src"
VENV = "/work/venv"
MAX_JUNIT_BYTES = 20 * 1024**2
# The plugin's record, a few hundred bytes per test: room for ~100,000 tests.
MAX_EVENTS_BYTES = 64 * 1024**2
MAX_LISTING_BYTES = dependency_audit.MAX_LISTING_BYTES
LOG_EXCERPT = 4000
#: runtimes whose sandbox hosts the hosted checks once the project is installed (the
#: others leave them beside the sandbox, as before)
HOSTING_RUNTIMES = frozenset({RuntimeName.PYTHON})


@dataclass(frozen=True)
class EngineConfig:
    """How the engine runs: which image, where caches and scratch space live."""

    image: str
    cache_dir: Path
    work_dir: Path
    runtime: str | None = None
    git_limits: GitLimits = field(default_factory=GitLimits)
    allow_local_sources: bool = False
    allowed_hosts: frozenset[str] | None = None
    #: an OSV-compatible service to audit against; when unset, the offline store below
    osv_url: str | None = None
    #: the offline advisory store (`acceptance advisories import`), served on loopback per run
    advisories_db: Path | None = None
    #: all prepared environments together (`ACCEPTANCE_ENV_CACHE_SIZE`)
    env_cache_max_bytes: int = envcache.MAX_TOTAL_BYTES
    #: the npm registry (`ACCEPTANCE_NPM_REGISTRY`); None: npm_lockfile.NPM_REGISTRY
    npm_registry: str | None = None
    #: the shell runtime's image (sandbox/shell_image.py); None: the current code's tag
    shell_image: str | None = None


@dataclass(frozen=True)
class RunResult:
    """A finished run: the unsigned statement and its verdict."""

    statement: dict[str, Any]
    verdict: str
    reasons: tuple[Reason, ...]
    logs: dict[str, str]
    #: files the checks produced (SARIF, SBOM, JUnit...), by file name
    artifacts: dict[str, bytes] = field(default_factory=dict)


def _quiet(stage: str, message: str) -> None:
    return None


def run_acceptance(
    source: str,
    ref: str | None,
    spec: Spec,
    config: EngineConfig,
    progress: Progress = _quiet,
    sandbox_factory: SandboxFactory | None = None,
    context: Mapping[str, object] | None = None,
) -> RunResult:
    """Judge SOURCE at REF against SPEC; raise UserInputError only for unusable input.

    ``context`` (the service's run id, submission...) is recorded in the report as ``run``.
    """
    run = _Run(source, ref, spec, config, progress, sandbox_factory or DockerSandbox)
    run.report.run = context
    return run.execute()


class _Run:
    """Per-run state; lives for one call of run_acceptance."""

    def __init__(
        self,
        source: str,
        ref: str | None,
        spec: Spec,
        config: EngineConfig,
        progress: Progress,
        sandbox_factory: SandboxFactory,
    ) -> None:
        self.spec = spec
        self.config = config
        self.progress = progress
        self.sandbox_factory = sandbox_factory
        self.source = source
        self.ref = ref
        self.deadline = time.monotonic() + spec.limits.timeout
        self.logs: dict[str, str] = {}
        self.artifacts: dict[str, bytes] = {}
        self.outcomes: dict[str, CheckResult] = {}
        #: the dependency caches (acceptance.engine.envcache), set once the source is known
        self.prepared: PreparedEnvironments | None = None
        self.installed_listing: bytes | None = None
        #: the hidden tests' node ids (without parameters), read from the owner's files
        self.hidden_expected: tuple[str, ...] = ()
        #: places in the delivery that touch pytest's internals or the engine's (checks.test_hooks)
        self.test_hooks: list[HookFinding] = []
        #: the name the engine's metadata build reported for each local project, by path
        self.built_names: dict[str, str] = {}
        #: the checkout on the host, once made (hosted checks read it too)
        self.tree_path = Path()
        self.report = ReportInput(
            source_url=source,
            ref=ref,
            spec={
                "title": spec.title,
                "version": spec.version,
                "sha256": spec.sha256,
                "hidden_tests_sha256": spec.hidden_tests_sha256,
                # what the supplier's view may show of failing hidden tests (acceptance/service/supplier_view.py)
                "hidden_feedback": spec.functional.hidden_feedback,
            },
            started=dt.datetime.now(dt.UTC),
            environment={"engine": f"acceptance {__version__}"},
            limits={
                "cpus": spec.limits.cpus,
                "memory": spec.limits.memory,
                "pids": spec.limits.pids,
                "disk": spec.limits.disk,
                "output": spec.limits.output,
                "timeout": spec.limits.timeout,
                "functional_timeout": spec.functional.timeout,
                "test_timeout": spec.functional.test_timeout,
                "reruns": spec.functional.reruns,
            },
        )

    def execute(self) -> RunResult:
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.config.work_dir, prefix="run-"))
        try:
            self._judge(scratch)
            self._flag_test_hooks()
        except SubmissionError as exc:
            self.report.reasons.append(Reason(exc.reason, exc.message))
        except PlatformError as exc:
            self.report.platform_failed = True
            self.report.reasons.append(Reason("PLATFORM_ERROR", exc.message))
            log.warning("run_platform_error", extra={"error": exc.message})
        finally:
            # Not TemporaryDirectory: its rmtree recurses per level of a hostile tree.
            remove_tree(scratch)
        # The registry's order, whatever finished first: functional, sast, dependencies,
        # licence (then quality, listed only when the spec turns it on, then registered
        # checks); every check is listed, with what became of it, even when a stage failed first.
        order = [c.id for c in registered_checks() if c.listed_when_off or c.enabled(self.spec)]
        self.report.checks.extend(self.outcomes.get(name) or self._not_run(name) for name in order)
        # The signature covers the artifacts through their digests.
        self.report.artifacts = {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in self.artifacts.items()
        }
        self.report.finished = dt.datetime.now(dt.UTC)
        statement = build_statement(self.report)
        reasons = tuple(
            Reason(c, m)
            for c, m in zip(
                statement["predicate"]["reason_codes"],
                statement["predicate"]["reasons"],
                strict=False,
            )
        )
        return RunResult(statement, decide(self.report), reasons, self.logs, self.artifacts)

    def _flag_test_hooks(self) -> None:
        """A delivery that reaches into the test machinery is never accepted without a person."""
        if not self.test_hooks:
            return
        first = self.test_hooks[0]
        self.report.reasons.append(Reason(
            "SUSPICIOUS_TEST_HOOKS",
            f"the delivered code touches the test machinery in {len(self.test_hooks)} place(s) "
            f"(first: {first.path} line {first.line}, {first.what!r}): a person must review it "
            "before it can be accepted",
        ))  # fmt: skip
        result = self.outcomes.get("functional")
        if result is not None:
            details = {
                **result.details,
                "suspicious_test_hooks": [f.to_report() for f in self.test_hooks],
            }
            self.outcomes["functional"] = dataclasses.replace(result, details=details)

    def _run_registered_checks(self, tree: Path, *, hosting: bool) -> None:
        """Checks registered beside the built-in ones (checks.register): on the host, on the checkout.

        ``hosting``: the runtime hands its sandbox to hosted checks once the project is
        installed (`_run_hosted_checks`); those that want it wait for it.
        """
        context = CheckContext(tree=tree, spec=self.spec)
        for check in registered_checks():
            if is_builtin(check) or not check.enabled(self.spec):
                continue
            if hosting and isinstance(check, HostedCheck) and check.hosted(self.spec):
                continue
            with self._stage(check.id):
                outcome = check.run(context)
            self.outcomes[check.id] = outcome.result
            self.artifacts.update(outcome.artifacts)

    def _run_hosted_checks(
        self, sandbox: Sandbox, workdir: str, env: Mapping[str, str], environment: str
    ) -> None:
        """The hosted checks `_run_registered_checks` left, in the runtime's sandbox."""
        context = CheckContext(tree=self.tree_path, spec=self.spec)
        name = getattr(sandbox, "name", None)
        for check in registered_checks():
            if is_builtin(check) or not check.enabled(self.spec):
                continue
            if not isinstance(check, HostedCheck) or not check.hosted(self.spec):
                continue
            with self._stage(check.id):
                if isinstance(name, str):
                    host = AppHost(sandbox, name, workdir, env, environment)
                    outcome = check.run_hosted(context, host)
                else:  # a backend whose loopback cannot be shared: the check's own sandbox
                    outcome = check.run(context)
            self.outcomes[check.id] = outcome.result
            self.artifacts.update(outcome.artifacts)

    def _not_run(self, name: str) -> CheckResult:
        """The entry for a check that produced no result: turned off, or stopped by a failure."""
        check = next((c for c in registered_checks() if c.id == name), None)
        enabled = check.enabled(self.spec) if check is not None else True
        if not enabled:
            return CheckResult(
                name, name, CheckStatus.SKIPPED, "not checked: turned off in the spec"
            )
        cause = self.report.reasons[0] if self.report.reasons else None
        why = f"an earlier stage failed ({cause.code})" if cause else "the run ended before it"
        return CheckResult(name, name, CheckStatus.NOT_RUN, f"not run: {why}", "NOT_RUN")

    # -- stages -------------------------------------------------------------

    def _judge(self, scratch: Path) -> None:
        with self._stage("checkout"):
            tree = self._checkout(scratch / "checkout")
        self.test_hooks = find_test_hooks(tree.path)
        choice = choose_runtime(
            tree.path, self.spec.runtime, hidden_tests=self.spec.functional.hidden_tests is not None
        )
        self.report.runtime = choice.to_report()
        if (
            choice.source == SOURCE_DETECTED
            and choice.name is not RuntimeName.PYTHON
            and self.spec.functional.hidden_tests is not None
        ):
            # The owner's hidden tests are pytest: a delivery that stops looking like Python
            # must not be judged by a runtime that cannot run them.
            raise SubmissionError(
                "RUNTIME_MISMATCH",
                f"the repository looks like a {choice.name.value} delivery "
                f"({', '.join(choice.evidence) or 'no Python project file'}), but the "
                "opportunity's hidden tests are Python tests: deliver the Python project",
            )
        self.tree_path = tree.path
        self._run_registered_checks(tree.path, hosting=choice.name in HOSTING_RUNTIMES)
        runtime_for(choice.name).judge(self, tree, scratch)

    # -- what a runtime reaches (acceptance.engine.runtimes.interface.RunSession) --

    def stage(self, name: str) -> contextlib.AbstractContextManager[None]:
        return self._stage(name)

    def timed(self, name: str, work: Callable[..., Any], *args: Any) -> Any:
        return self._timed(name, work, *args)

    def remaining(self) -> float:
        return self._remaining()

    def open_sandbox(self, tree: Checkout, image: str, mounts: Mapping[Path, str]) -> Sandbox:
        config = SandboxConfig(
            image=image, limits=self._sandbox_limits(), readonly_mounts=mounts,
            runtime=self.config.runtime, labels=self._labels(tree),
        )  # fmt: skip
        sandbox = self.sandbox_factory(config)
        try:
            info = sandbox.start()
            self.report.environment.update({
                "image": {"id": info.image_id, "tag": info.image_tag},
                "runtime": info.runtime,
                "tools": _tools_from_labels(info.labels),
            })  # fmt: skip
        except BaseException:
            sandbox.close()  # the caller's close only guards a sandbox it was given
            raise
        return sandbox

    def sandbox_run(
        self, sandbox: Sandbox, argv: list[str], name: str, *, workdir: str = "/work",
        env: dict[str, str] | None = None, timeout: float | None = None, judge: bool = True,
    ) -> CommandResult:  # fmt: skip
        return self._sandbox_run(
            sandbox, argv, name, workdir=workdir, env=env, timeout=timeout, judge=judge
        )

    def copy_in(self, sandbox: Sandbox, script: str, name: str, what: str) -> None:
        self._copy_in(sandbox, script, name, what)

    def detect_licence(self, tree: Checkout) -> licence.LicenceEvidence | None:
        return self._detect_licence(tree)

    def add(self, outcome: CheckOutcome) -> None:
        self._add(outcome)

    def keep_artifact(self, name: str, data: bytes) -> None:
        self.artifacts[name] = data

    def flag_test_hooks(self, findings: Sequence[HookFinding]) -> None:
        self.test_hooks.extend(findings)

    def judge_python(self, tree: Checkout, scratch: Path) -> None:
        """The Python runtime's stages (acceptance.engine.runtimes.python), as before runtimes."""
        if os.path.lexists(tree.path / HIDDEN_DIR_NAME):
            # Results under this name are the owner's: a supplier's folder of that name is
            # refused, never merged with or mistaken for them; refused even without hidden
            # tests, as the report's readers take test ids under that name for the owner's.
            raise SubmissionError(
                "RESERVED_PATH",
                f"the repository has a '{HIDDEN_DIR_NAME}' entry at its root, a name the engine "
                "keeps for the owner's hidden tests: rename it and push again",
            )
        with self._stage("plan"):
            plan = detect_install_plan(tree.path, self.spec.install.requirements)
        self._record_plan(plan)
        wheels = self.config.cache_dir / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        hidden = self._stage_hidden_tests(scratch / "hidden")
        mounts = {tree.path: SRC_MOUNT, wheels: WHEELS_MOUNT}
        if hidden is not None:
            mounts[hidden] = HIDDEN_MOUNT
        self.prepared = PreparedEnvironments(
            self.config.cache_dir, wheels, tree.source, self.report.run,
            tools_python=f"{TOOLS_VENV}/bin/python", wheels_mount=WHEELS_MOUNT, src_mount=WORK_SRC,
            max_total_bytes=self.config.env_cache_max_bytes,
        )  # fmt: skip
        mounts.update(self.prepared.mounts())
        sandbox_config = SandboxConfig(
            image=self.config.image,
            limits=self._sandbox_limits(),
            readonly_mounts=mounts,
            runtime=self.config.runtime,
            labels=self._labels(tree),
        )
        # Host-side work (downloads, licence reading, the advisory audit) runs
        # in these threads while the sandbox works; sandbox stages stay in order.
        pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="run")
        try:
            licence_evidence = pool.submit(
                self._timed, "licence-detect", self._detect_licence, tree
            )
            sandbox: Sandbox | None = None
            try:
                with self._stage("sandbox"):
                    sandbox = self.sandbox_factory(sandbox_config)
                    info = sandbox.start()
                self.report.environment.update(
                    {
                        "image": {"id": info.image_id, "tag": info.image_tag},
                        "runtime": info.runtime,
                        "tools": _tools_from_labels(info.labels),
                        "python_version": info.labels.get("org.acceptance.python"),
                    }
                )
                download = pool.submit(
                    self._timed, "download", self._download,
                    [*plan.build_requirements, *plan.requirements], wheels,
                )  # fmt: skip
                self._in_sandbox(
                    sandbox, plan, wheels, hidden is not None, pool, download, licence_evidence,
                    scratch,
                )  # fmt: skip
            finally:
                if sandbox is not None:
                    sandbox.close()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _labels(self, tree: Checkout) -> dict[str, str]:
        labels = {"org.acceptance.commit": tree.commit}
        if self.report.run and "id" in self.report.run:
            # the service's run id: a worker taking over a run removes its orphans
            labels["org.acceptance.run"] = str(self.report.run["id"])
        return labels

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
        with self._stage("prepare"):
            self._prepare(sandbox)
        # Before the install: no supplier code has run yet, so nothing can have
        # touched the scanner or its report; build output is not scanned either.
        with self._stage("sast"):
            self._add(
                sast.run_sast(
                    sandbox, self.spec.security.sast, timeout=self._remaining(), target=SRC_MOUNT
                )
            )
        if self.spec.quality.enabled:
            # Before the install too: ruff and its output are untouched by supplier code.
            with self._stage("quality"):
                self._add(
                    quality.run_quality(
                        sandbox, self.spec.quality, timeout=self._remaining(), target=SRC_MOUNT
                    )
                )
        download.result()
        if plan.needs_sandbox_metadata:
            with self._stage("metadata"):
                extra = self._sandbox_metadata(sandbox, plan)
            with self._stage("download"):
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
            plan, sandbox=sandbox, image_id=str(self.report.environment["image"]["id"]),  # type: ignore[index]
            python_version=self._python_version(),
            run=lambda argv, name, env: self._sandbox_run(sandbox, argv, name, env=env),
            stage=self._stage, install=lambda p: self._install(sandbox, p), remaining=self._remaining,
        )  # fmt: skip
        self.report.environment["dependency_cache"] = self.prepared.notes
        audit: Future[CheckOutcome] | None = None
        if self.spec.security.dependencies.enabled:
            with self._stage("installed"):
                listing = self._installed(sandbox)
            self.installed_listing = listing
            audit = pool.submit(self._timed, "dependency-audit", self._audit, listing, scratch)
        else:
            self._add(
                dependency_audit.audit(
                    (), self.spec.security.dependencies, osv_url="", work_dir=scratch
                )
            )
        evidence = licence_evidence.result() or licence.LicenceEvidence(None, None, None)
        with self._stage("licence"):
            self._add(
                self.prepared.judge_licence(
                    sandbox,
                    evidence,
                    self.spec.licence,
                    timeout=min(300.0, self._remaining()),
                    installed_listing=self.installed_listing,
                )
            )
        layout: hidden_tests.HiddenLayout | None = None
        if hidden:
            with self._stage("hidden-snapshot"):
                layout = self._snapshot_for_hidden_tests(sandbox)
        command = self.spec.functional.command
        with self._stage("functional"):
            if command is None:
                supplier_run, supplier_reruns = self._functional(sandbox)
            else:
                command_run = self._command_tests(sandbox, command)

        # After the supplier's tests, in their environment, before the owner's hidden tests:
        # what a hosted check starts is the supplier's code, ended before those run.
        env = {"PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": VENV}
        environment = f"the Python runtime's sandbox: {VENV} and {WORK_SRC} as installed"
        self._run_hosted_checks(sandbox, WORK_SRC, env, environment)

        def own_tests(hidden_passed: int | None) -> CheckResult:
            """The supplier's tests judged: pytest's run, or the owner's command's."""
            if command is not None:
                min_passed = self.spec.functional.min_passed
                return command_tests.evaluate(min_passed, command_run, hidden_passed=hidden_passed)
            return functional.evaluate(
                self.spec.functional, supplier_run, hidden_passed=hidden_passed,
                reruns=supplier_reruns,
            )  # fmt: skip

        if layout is not None:
            # Last, after every process of the supplier's tests has ended: nothing they
            # ran can read the owner's tests, or be waiting for them (docs/security.md).
            # With the owner's command too, the hidden tests run with the engine's pytest.
            with self._stage("hidden-tests"):
                outcome = self._hidden_tests(sandbox, layout)
            self.outcomes["functional"] = hidden_tests.with_hidden(
                own_tests(outcome.passed), outcome
            )
        else:
            self.outcomes["functional"] = own_tests(None)
        if audit is not None:
            self._add(audit.result())

    def _detect_licence(self, tree: Checkout) -> licence.LicenceEvidence | None:
        if not self.spec.licence.enabled:
            return None
        # Cached by the bytes it reads (checks.licence_cache): a re-push loads no ScanCode index.
        return licence_cache.detect(
            tree.path, self.config.cache_dir / "licence", timeout=max(30.0, self._remaining())
        )

    def _installed(self, sandbox: Sandbox) -> bytes:
        """The venv's distributions as listed inside the sandbox, validated here."""
        result = self._sandbox_run(sandbox, dependency_audit.INSTALLED_COMMAND, "installed")
        if result.output_limit_hit or len(result.output) > MAX_LISTING_BYTES:
            raise SubmissionError(
                "INVALID_ARTIFACT", "the list of installed packages is larger than allowed"
            )
        if result.exit_code != 0:
            raise SubmissionError(
                "INVALID_ARTIFACT",
                f"the installed packages could not be listed: {_tail(result.text, 500)}",
            )
        dependency_audit.parse_installed(result.output)
        return result.output

    def _audit(self, listing: bytes, scratch: Path) -> CheckOutcome:
        spec = self.spec.security.dependencies
        installed = dependency_audit.parse_installed(listing)
        # Left out only when the engine itself installed a project of that name from the
        # checkout: a direct_url.json saying "file:" is a file any build can write.
        projects = self.prepared.projects if self.prepared is not None else ()
        exclude = dependency_audit.local_names(listing) & own_project_names(
            projects, self.built_names
        )
        work = scratch / "audit"
        timeout = max(30.0, self._remaining())
        if self.config.osv_url:
            return dependency_audit.audit(
                installed, spec, osv_url=self.config.osv_url, work_dir=work, timeout=timeout,
                exclude=exclude,
            )  # fmt: skip
        store = self.config.advisories_db
        if store is None:
            return _audit_unavailable("no advisory service is configured")
        # The same pins against the same store give the same findings (checks.audit_cache).
        return audit_cache.audit_offline(
            installed, spec, store=store, work_dir=work, timeout=timeout, exclude=exclude,
            cache_dir=self.config.cache_dir / "audits",
        )  # fmt: skip

    def _add(self, outcome: CheckOutcome) -> None:
        self.outcomes[outcome.result.id] = outcome.result
        for name, data in outcome.artifacts.items():
            self.artifacts[name] = data

    def _timed(self, name: str, work: Callable[..., Any], *args: Any) -> Any:
        """Run host-side work in a pool thread and record it as a stage."""
        with self._stage(name):
            return work(*args)

    def _checkout(self, dest: Path) -> Checkout:
        limits = GitLimits(
            timeout=min(self.config.git_limits.timeout, self._remaining()),
            max_bytes=self.config.git_limits.max_bytes,
            max_files=self.config.git_limits.max_files,
        )
        tree = checkout(
            self.source,
            self.ref,
            dest,
            limits,
            allow_local=self.config.allow_local_sources,
            allowed_hosts=self.config.allowed_hosts,
        )
        self.report.commit = tree.commit
        self.report.tree = tree.tree
        self.report.source_url = tree.source
        # The sandbox user must be able to read the tree through its read-only mount.
        os.chmod(tree.path, 0o755)
        return tree

    def _record_plan(self, plan: InstallPlan) -> None:
        self.report.install = {
            "requirements": list(plan.requirements),
            "build_requirements": list(plan.build_requirements),
            "local_projects": [
                {"path": p.path, "extras": list(p.extras), "editable": p.editable}
                for p in plan.local_projects
            ],
            "evidence": list(plan.evidence),
            "metadata_from_sandbox": plan.needs_sandbox_metadata,
        }

    def _download(self, requirements: list[str] | tuple[str, ...], wheels: Path) -> None:
        if not requirements:
            return
        python = self._python_version()
        wanted = list(dict.fromkeys(requirements))
        cached = self.prepared.cached_resolution(wanted, python) if self.prepared else None
        if cached is not None:
            self.progress(
                "download", f"resolution cached: {len(cached.wheels)} wheel(s), nothing fetched"
            )
            return
        result = download_wheels(
            wanted, wheels, python_version=python, timeout=max(30.0, self._remaining())
        )
        if self.prepared is not None:
            self.prepared.remember(wanted, python, result.files)
        self.progress("download", f"{len(result.files)} wheel(s) ready in {result.seconds:.1f} s")

    def _python_version(self) -> str | None:
        python = self.report.environment.get("python_version")
        return python if isinstance(python, str) else None

    def _stage_hidden_tests(self, dest: Path) -> Path | None:
        source = self.spec.functional.hidden_tests
        if source is None:
            return None
        # A copy only this process's user can read: mounted into the sandbox, it
        # stays unreadable to the sandbox user (the supplier's code), and only the
        # engine's own copy step, run as this user, reads it (`_hidden_tests`).
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
            unchanged = hash_tree(dest) == self.spec.hidden_tests_sha256
            why = ""
        except SpecError as exc:
            unchanged, why = False, f": {'; '.join(exc.problems)[:500]}"
        if not unchanged:
            raise UserInputError(
                f"the hidden tests in {source} changed after the spec was read{why}",
                hint="publish the spec and its hidden tests again, then rerun",
            )
        try:
            self.hidden_expected = hidden_test_inventory(dest)
        except InventoryError as exc:
            raise UserInputError(
                str(exc), hint="fix the hidden tests and publish the spec again"
            ) from None
        self.report.spec = {
            **self.report.spec,
            "hidden_tests_expected": len(self.hidden_expected),
            # The owner's inventory: what the supplier's view may name (never what a run says).
            "hidden_test_ids": list(self.hidden_expected),
        }
        return dest

    def _prepare(self, sandbox: Sandbox) -> None:
        script = (
            f"set -e; mkdir -p {functional.OUT_DIR}; cp -a {SRC_MOUNT}/. {WORK_SRC}/; "
            f"python3 -m venv --without-pip {VENV}"
        )
        self._copy_in(sandbox, script, "prepare", "the checkout")

    def _snapshot_for_hidden_tests(self, sandbox: Sandbox) -> hidden_tests.HiddenLayout:
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
        self._as_engine(
            sandbox, script, "hidden-snapshot",
            "could not keep a copy of the installed project for the hidden tests (files only "
            "the sandbox user can read?)",
        )  # fmt: skip
        return layout

    def _as_engine(self, sandbox: Sandbox, script: str, name: str, failure: str) -> None:
        """One shell step as this process's user (see `_engine_user`); its output stays here.

        The output may name the owner's files, and the failure sentence is the
        supplier's to read: it says what failed, not what cp printed.
        """
        done = self._sandbox_run(sandbox, ["sh", "-c", script], name, user=_engine_user())
        if done.exit_code != 0:
            raise SubmissionError(
                "DISK_LIMIT" if "No space" in done.text else "PREPARE_FAILED", failure
            )

    def _hidden_tests(
        self, sandbox: Sandbox, layout: hidden_tests.HiddenLayout
    ) -> hidden_tests.HiddenOutcome:
        """The owner's hidden tests in their own pytest process, under the engine's settings."""
        expected = self.hidden_expected
        timeout = min(float(self.spec.functional.timeout), self._remaining())
        if timeout < 1:
            return hidden_tests.hidden_not_run("the run had no time left for them", expected)
        # As this process's user, the only one that can read the staged copy: `mkdir`
        # fails if the folder exists, and the copy is read-only to the sandbox user.
        script = (
            f"set -e; umask 022; mkdir {layout.tests} {layout.out}; "
            f"cp -R {HIDDEN_MOUNT}/. {layout.tests}/; chmod -R a+rX {layout.tests}; "
            f"chmod 0777 {layout.out}"
        )
        self._as_engine(
            sandbox, script, "hidden-copy", "could not copy the hidden tests into the sandbox"
        )
        budget = Budget(timeout)
        argv = hidden_tests.hidden_pytest_command(layout, original_src=WORK_SRC)
        env = {
            "ACCEPTANCE_EVENTS": layout.events,
            "ACCEPTANCE_HIDDEN_DIR": layout.tests,
            **self._test_timeout_env(),
        }
        result = self._sandbox_run(
            sandbox, argv, "hidden-tests", workdir=layout.src, env=env, timeout=budget.left(),
            judge=False,
        )  # fmt: skip
        run = self._read_results(
            sandbox, result, layout.junit, layout.events, timeout, "hidden-junit.xml"
        )

        def again(attempt: int, targets: list[str]) -> tuple[functional.FunctionalRun, str]:
            junit, events = (
                f"{layout.out}/rerun-{attempt}.xml",
                f"{layout.out}/events-rerun-{attempt}.jsonl",
            )
            argv = hidden_tests.hidden_pytest_command(
                layout, original_src=WORK_SRC, junit=junit, targets=targets
            )
            rerun = self._sandbox_run(
                sandbox, argv, f"hidden-tests-rerun-{attempt}", workdir=layout.src,
                env={**env, "ACCEPTANCE_EVENTS": events}, timeout=budget.left(), judge=False,
            )  # fmt: skip
            return self._read_results(
                sandbox, rerun, junit, events, timeout, f"hidden-junit-rerun-{attempt}.xml"
            ), junit

        # Only node ids of tests the owner wrote: the events come from a process the
        # supplier's code shares, and they become arguments of the next one.
        known = set(expected)
        reruns = self._rerun_failures(run, budget, again, lambda t: base_id(t) in known)
        return hidden_tests.evaluate_hidden(
            run, expected, layout, reruns=reruns,
            flaky_passes=self.spec.functional.flaky == "pass",
        )  # fmt: skip

    def _copy_in(self, sandbox: Sandbox, script: str, name: str, what: str) -> None:
        result = self._sandbox_run(sandbox, ["sh", "-c", script], name)
        if result.exit_code != 0:
            raise SubmissionError(
                "DISK_LIMIT" if "No space" in result.text else "PREPARE_FAILED",
                f"could not copy {what} into the sandbox: {_tail(result.text, 500)}",
            )

    def _sandbox_metadata(self, sandbox: Sandbox, plan: InstallPlan) -> list[str]:
        requirements: list[str] = []
        for index, project in enumerate(plan.local_projects):
            out = f"/work/meta/{index}"
            build = self._sandbox_run(
                sandbox,
                [
                    f"{TOOLS_VENV}/bin/python",
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "--no-index",
                    "--find-links",
                    WHEELS_MOUNT,
                    "--progress-bar",
                    "off",
                    "--use-pep517",
                    "--wheel-dir",
                    out,
                    _project_path(project),
                ],
                f"metadata-{index}",
            )
            if build.exit_code != 0:
                raise SubmissionError(
                    "INSTALL_FAILED",
                    f"building the project at {project.path!r} failed: {_tail(build.text, 1500)}",
                )
            listing = self._sandbox_run(
                sandbox,
                [f"{TOOLS_VENV}/bin/python", "-I", "-c", _READ_METADATA, out],
                f"metadata-read-{index}",
            )
            name, lines = _built_metadata(listing.text, project.path)
            self.built_names[project.path] = name
            requirements.extend(requirements_from_metadata(lines, project.extras))
        return requirements

    def _install(self, sandbox: Sandbox, plan: InstallPlan) -> None:
        argv = [
            f"{TOOLS_VENV}/bin/python",
            "-m",
            "pip",
            "--python",
            f"{VENV}/bin/python",
            "install",
            "--no-index",
            "--find-links",
            WHEELS_MOUNT,
            "--progress-bar",
            "off",
            "--no-cache-dir",
            "--use-pep517",
        ]
        for project in plan.local_projects:
            argv.extend(
                ["-e", _project_path(project)] if project.editable else [_project_path(project)]
            )
        if plan.requirements:
            argv.append("--")
            argv.extend(plan.requirements)
        result = self._sandbox_run(sandbox, argv, "install")
        if result.timed_out:
            raise SubmissionError("TIMEOUT", "installing the dependencies did not finish in time")
        if result.memory_limit_hit:
            raise SubmissionError("MEMORY_LIMIT", "installing the dependencies ran out of memory")
        if result.exit_code != 0:
            raise _install_failure(result.text)

    def _functional(self, sandbox: Sandbox) -> tuple[functional.FunctionalRun, Reruns]:
        """The supplier's own tests, as they would run them, then their failures again."""
        spec = self.spec.functional
        env = {"ACCEPTANCE_EVENTS": functional.EVENTS_PATH, **self._test_timeout_env()}
        budget = Budget(min(float(spec.timeout), self._remaining()))
        result = self._sandbox_run(
            sandbox, functional.pytest_command(spec, python=f"{VENV}/bin/python"), "functional",
            workdir=WORK_SRC, env=env, timeout=budget.left(), judge=False,
        )  # fmt: skip
        run = self._read_results(
            sandbox,
            result,
            functional.JUNIT_PATH,
            functional.EVENTS_PATH,
            budget.total,
            "junit.xml",
        )
        summary = functional.parse_events(run.events)
        if summary.pytest_version:
            tools = self.report.environment.setdefault("tools", {})
            if isinstance(tools, dict):
                tools["pytest"] = summary.pytest_version

        def again(attempt: int, targets: list[str]) -> tuple[functional.FunctionalRun, str]:
            junit = f"{functional.OUT_DIR}/rerun-{attempt}.xml"
            events = f"{functional.OUT_DIR}/events-rerun-{attempt}.jsonl"
            argv = functional.pytest_command(
                spec, python=f"{VENV}/bin/python", junit=junit, targets=targets
            )
            rerun = self._sandbox_run(
                sandbox, argv, f"functional-rerun-{attempt}", workdir=WORK_SRC,
                env={**env, "ACCEPTANCE_EVENTS": events}, timeout=budget.left(), judge=False,
            )  # fmt: skip
            return self._read_results(
                sandbox, rerun, junit, events, budget.total, f"junit-rerun-{attempt}.xml"
            ), junit

        return run, self._rerun_failures(run, budget, again)

    def _command_tests(self, sandbox: Sandbox, command: TestCommand) -> command_tests.CommandRun:
        """The owner's test command instead of pytest, in the project's environment."""
        timeout = min(float(self.spec.functional.timeout), self._remaining())
        env = {"PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": VENV}
        run, artifacts = run_command(
            self, sandbox, command, workdir=WORK_SRC, timeout=timeout, env=env
        )
        self.artifacts.update(artifacts)
        return run

    def _rerun_failures(
        self,
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
        for attempt in range(1, self.spec.functional.reruns + 1):
            targets = [t for t in functional.rerun_targets(latest) if allowed(t)]
            if not targets or budget.left() < 1:
                break
            latest, junit = again(attempt, targets)
            reruns.append((latest, junit))
        return reruns

    def _test_timeout_env(self) -> dict[str, str]:
        limit = self.spec.functional.test_timeout
        return {"ACCEPTANCE_TEST_TIMEOUT": str(limit)} if limit else {}

    def _read_results(
        self,
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
            self.artifacts[artifact] = junit
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
            full_filesystems=(
                sandbox.full_filesystems() if result.exit_code != 0 or not junit else ()
            ),
            junit_problem=junit_problem,
            events_problem=events_problem,
        )

    # -- helpers ------------------------------------------------------------

    def _sandbox_run(
        self,
        sandbox: Sandbox,
        argv: list[str],
        name: str,
        *,
        workdir: str = "/work",
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        judge: bool = True,
        user: str | None = None,
    ) -> CommandResult:
        """Run one stage; with ``judge``, a limit it hit rejects the run with its reason code."""
        limit = self._remaining() if timeout is None else timeout
        if limit <= 0:
            raise SubmissionError(
                "TIMEOUT", f"the run exceeded its {self.spec.limits.timeout} s limit"
            )
        if user is None:
            result = sandbox.run(argv, timeout=limit, workdir=workdir, env=env)
        else:
            result = sandbox.run(argv, timeout=limit, workdir=workdir, env=env, user=user)
        self.logs[name] = result.text
        if result.output_truncated:
            self.logs[name] += "\n[output truncated at the limit]"
        if judge:
            self._judge_limits(sandbox, result, name)
        return result

    def _judge_limits(self, sandbox: Sandbox, result: CommandResult, name: str) -> None:
        # Build backends and setup.py run supplier code too: a fork bomb, a flood or
        # a full disk during the install is the submission's fault, named as such.
        doing = _STAGE_DOING.get(name.split("-", 1)[0], f"the {name} stage")
        limits = self.spec.limits
        if result.process_limit_hit:
            raise SubmissionError(
                "PROCESS_LIMIT", f"{doing} tried to start more than {limits.pids} processes"
            )
        if result.memory_limit_hit:
            raise SubmissionError("MEMORY_LIMIT", f"{doing} ran out of the memory limit")
        if result.timed_out:
            raise SubmissionError(
                "TIMEOUT", f"{doing} did not finish within the run's {limits.timeout} s limit"
            )
        if result.output_limit_hit:
            raise SubmissionError(
                "OUTPUT_LIMIT", f"{doing} printed more than the {limits.output}-byte output limit"
            )
        if result.exit_code != 0:
            full = sandbox.full_filesystems()
            if full:
                raise SubmissionError(
                    "DISK_LIMIT", f"{doing} filled the scratch space ({', '.join(full)})"
                )

    def _sandbox_limits(self) -> SandboxLimits:
        limits = self.spec.limits
        return SandboxLimits(
            cpus=limits.cpus,
            memory=limits.memory,
            pids=limits.pids,
            disk=limits.disk,
            output=limits.output,
            lifetime=max(1.0, self._remaining()),
        )

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        self.progress(name, "started")
        started = time.monotonic()
        status = "ok"
        try:
            yield
        except BaseException:
            status = "failed"
            raise
        finally:
            seconds = round(time.monotonic() - started, 3)
            self.report.stages.append({"name": name, "seconds": seconds, "status": status})
            self.progress(name, f"{status} in {seconds:.1f} s")


# What each sandbox stage does, for the sentence in a limit's reason.
_STAGE_DOING = {
    "prepare": "copying the checkout into the sandbox",
    "hidden": "copying the hidden tests into the sandbox",
    "metadata": "building the project's metadata",
    "install": "installing the dependencies",
    "installed": "listing the installed packages",
}


def _audit_unavailable(why: str) -> CheckOutcome:
    return CheckOutcome(
        CheckResult(
            dependency_audit.CHECK_ID,
            dependency_audit.KIND,
            CheckStatus.ERROR,
            f"the dependencies could not be audited: {why}; import advisories with "
            "`acceptance advisories import ARCHIVE` or set ACCEPTANCE_OSV_URL",
            dependency_audit.ERROR_REASON,
        )
    )


_MISSING = re.compile(r"No matching distribution found for ([^\s]+)")


def _install_failure(output: str) -> SubmissionError:
    """Why the install in the sandbox failed, from pip's output, pointing at the cause."""
    missing = _MISSING.search(output)
    if missing is None:
        return SubmissionError(
            "INSTALL_FAILED", f"installing the project failed: {_tail(output, 1500)}"
        )
    # The host resolved and downloaded every declared requirement before the install
    # (an unpublished one fails there, named as such): a requirement missing here was
    # asked for only by a build, so no wheel of it was ever fetched.
    return SubmissionError(
        "DEPENDENCY_UNAVAILABLE",
        f"the requirement {missing.group(1)!r} was asked for while building the project, but it "
        "is not among the requirements the project declares, so no wheel of it was downloaded: "
        "the sandbox installs offline, from the wheels fetched for the declared requirements",
        hint=(
            f"Declare {missing.group(1)!r} in [build-system] requires (for a build backend's "
            "own needs) or in the project's dependencies, then push again."
        ),
    )


# Runs inside the sandbox with the tools' Python: the built wheel's Name and Requires-Dist,
# as one JSON object per wheel. Only the wheel's own, top-level .dist-info counts: its
# data files may carry other dist-info folders (written into the venv on install).
_READ_METADATA = """
import email.parser, json, pathlib, sys, zipfile
for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        meta = email.parser.BytesParser().parsebytes(archive.read(name))
        requires = [str(r) for r in meta.get_all("Requires-Dist") or []]
        print(json.dumps({"name": str(meta.get("Name", "")), "requires_dist": requires}))
"""
_BUILT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?")


def _built_metadata(output: str, path: str) -> tuple[str, list[str]]:
    """(name, Requires-Dist lines) of the one wheel built for the project at PATH.

    Read back after the project's build ran: untrusted, so anything but exactly one
    well-formed record is the submission's fault.
    """
    records = [line for line in output.splitlines() if line.startswith("{")]
    problem = (
        "no wheel with readable metadata was built"
        if not records
        else "more than one wheel was built"
    )
    if len(records) == 1:
        try:
            record = json.loads(records[0])
        except ValueError:
            record = None
        name = record.get("name") if isinstance(record, dict) else None
        requires = record.get("requires_dist") if isinstance(record, dict) else None
        if (
            isinstance(name, str)
            and _BUILT_NAME.fullmatch(name)
            and isinstance(requires, list)
            and all(isinstance(line, str) for line in requires)
        ):
            return name, requires
        problem = "its metadata has no valid Name or Requires-Dist"
    raise SubmissionError(
        "INVALID_ARTIFACT",
        f"the metadata built for the project at {path!r} cannot be read: {problem}",
    )


class Budget:
    """One test step's time: its first run and its re-runs share it."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self._deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())


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


def _project_path(project: LocalProject) -> str:
    path = WORK_SRC if project.path in (".", "") else f"{WORK_SRC}/{project.path}"
    return f"{path}[{','.join(project.extras)}]" if project.extras else path


def _tail(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def _tools_from_labels(labels: Any) -> dict[str, str]:
    import json

    try:
        tools = json.loads(labels.get("org.acceptance.tools", "{}"))
    except (ValueError, AttributeError):
        tools = {}
    if not isinstance(tools, dict):
        tools = {}
    python = labels.get("org.acceptance.python") if hasattr(labels, "get") else None
    if python:
        tools["python"] = python
    return {str(k): str(v) for k, v in tools.items()}


__all__ = ["EngineConfig", "RunResult", "UserInputError", "Verdict", "run_acceptance"]
