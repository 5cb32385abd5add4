"""One acceptance run: checkout, the runtime's choice, registered checks, limits, the report.

What depends on the delivery's language (install, tests, scanners, audit, licences) is
the runtime's (acceptance/engine/runtimes), reached through `_Run` as its `RunSession`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acceptance import __version__
from acceptance.engine import envcache
from acceptance.engine.checkout import Checkout, GitLimits, checkout
from acceptance.engine.report import Reason, ReportInput, Verdict, build_statement, decide
from acceptance.engine.runtime_choice import SOURCE_DETECTED, RuntimeName, choose_runtime
from acceptance.engine.runtimes import runtime_for
from acceptance.engine.spec import Spec
from acceptance.engine.wheels import DownloadResult, download_wheels
from acceptance.errors import PlatformError, SubmissionError, UserInputError
from acceptance.safefs import remove_tree
from checks import is_builtin, licence, licence_cache
from checks import registered as registered_checks
from checks.interface import (
    AppHost,
    CheckContext,
    CheckOutcome,
    CheckResult,
    CheckStatus,
    HostedCheck,
)
from checks.test_hooks import HookFinding, find_test_hooks
from sandbox.docker import DockerSandbox
from sandbox.interface import CommandResult, Sandbox, SandboxConfig, SandboxLimits

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]
SandboxFactory = Callable[[SandboxConfig], Sandbox]

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
        #: places in the delivery that touch pytest's internals or the engine's (checks.test_hooks)
        self.test_hooks: list[HookFinding] = []
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
        return RunResult(statement, decide(self.report), self.logs, self.artifacts)

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
        installed (`run_hosted_checks`); those that want it wait for it.
        """
        context = CheckContext(tree=tree, spec=self.spec)
        for check in registered_checks():
            if is_builtin(check) or not check.enabled(self.spec):
                continue
            if hosting and isinstance(check, HostedCheck) and check.hosted(self.spec):
                continue
            with self.stage(check.id):
                outcome = check.run(context)
            self.outcomes[check.id] = outcome.result
            self.artifacts.update(outcome.artifacts)

    def run_hosted_checks(
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
            with self.stage(check.id):
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
        with self.stage("checkout"):
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

    def keep_artifact(self, name: str, data: bytes) -> None:
        self.artifacts[name] = data

    def flag_test_hooks(self, findings: Sequence[HookFinding]) -> None:
        self.test_hooks.extend(findings)

    def download_wheels(
        self, requirements: list[str], dest: Path, *, python_version: str | None, timeout: float
    ) -> DownloadResult:
        # Through the session, so tests without the network replace this module's name.
        return download_wheels(requirements, dest, python_version=python_version, timeout=timeout)

    def _labels(self, tree: Checkout) -> dict[str, str]:
        labels = {"org.acceptance.commit": tree.commit}
        if self.report.run and "id" in self.report.run:
            # the service's run id: a worker taking over a run removes its orphans
            labels["org.acceptance.run"] = str(self.report.run["id"])
        return labels

    def detect_licence(self, tree: Checkout) -> licence.LicenceEvidence | None:
        if not self.spec.licence.enabled:
            return None
        # Cached by the bytes it reads (checks.licence_cache): a re-push loads no ScanCode index.
        return licence_cache.detect(
            tree.path, self.config.cache_dir / "licence", timeout=max(30.0, self.remaining())
        )

    def add(self, outcome: CheckOutcome) -> None:
        self.outcomes[outcome.result.id] = outcome.result
        for name, data in outcome.artifacts.items():
            self.artifacts[name] = data

    def timed(self, name: str, work: Callable[..., Any], *args: Any) -> Any:
        """Run host-side work in a pool thread and record it as a stage."""
        with self.stage(name):
            return work(*args)

    def _checkout(self, dest: Path) -> Checkout:
        limits = GitLimits(
            timeout=min(self.config.git_limits.timeout, self.remaining()),
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

    def copy_in(self, sandbox: Sandbox, script: str, name: str, what: str) -> None:
        result = self.sandbox_run(sandbox, ["sh", "-c", script], name)
        if result.exit_code != 0:
            raise SubmissionError(
                "DISK_LIMIT" if "No space" in result.text else "PREPARE_FAILED",
                f"could not copy {what} into the sandbox: {_tail(result.text, 500)}",
            )

    # -- helpers ------------------------------------------------------------

    def sandbox_run(
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
        limit = self.remaining() if timeout is None else timeout
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
            lifetime=max(1.0, self.remaining()),
        )

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
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


def _tail(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def _tools_from_labels(labels: Any) -> dict[str, str]:
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
