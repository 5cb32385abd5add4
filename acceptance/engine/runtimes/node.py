"""The Node.js runtime: locked npm packages fetched on the host, node:test, the npm audit.

Runs in the node image variant (sandbox/node_image.py: Debian's nodejs and npm). The
lockfile is required and checked (acceptance/engine/npm_lockfile.py); the packages are
fetched on the host with no script run (acceptance/engine/npm_fetch.py), checked folder
by folder against the lockfile, copied into the sandbox in place of any node_modules the
delivery carries, and `npm rebuild` runs their install scripts there, offline, as the
sandbox user. Tests: checks/node_tests.py. The audit: checks/npm_audit.py. Licences: the
repository's, and each npm package's (checks/npm_licences.py). SAST: the engine's ESLint
with eslint-plugin-security (checks/eslint.py), and, when the spec asks, quality with ESLint's
recommended rules (checks/quality_eslint.py), both on the checkout as delivered, after the
copy and before `npm rebuild`, so no supplier code has run when their reports are written.
"""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from acceptance.engine.checkout import Checkout
from acceptance.engine.npm_fetch import FetchedModules, fetch_node_modules
from acceptance.engine.npm_lockfile import NPM_REGISTRY, LockedPackage, read_project
from acceptance.engine.runtime_choice import RuntimeName
from acceptance.engine.runtimes.command import judge_command
from acceptance.engine.runtimes.interface import RunSession
from acceptance.errors import SubmissionError, UserInputError
from checks import eslint, licence, node_tests, npm_audit, quality_eslint
from checks.eslint_rules import node_sources
from checks.interface import CheckOutcome
from checks.npm_licences import judge_npm_licences
from checks.options import LicenceSpec
from checks.report_text import clean_text
from sandbox.interface import Sandbox
from sandbox.node_image import node_image_tag

if TYPE_CHECKING:
    from acceptance.engine.pipeline import EngineConfig

SRC_MOUNT = "/src"
DEPS_MOUNT = "/deps"
WORK_SRC = "/work/src"
OUT_DIR = "/work/out"
MAX_REPORT_BYTES = 20 * 1024**2


class NodeRuntime:
    """Judges Node.js deliveries tested with node:test."""

    @property
    def name(self) -> RuntimeName:
        return RuntimeName.NODE

    def image(self, config: EngineConfig) -> str:
        return getattr(config, "node_image", None) or node_image_tag()

    def judge(self, session: RunSession, tree: Checkout, scratch: Path) -> None:
        spec = session.spec
        if spec.functional.hidden_tests is not None:
            raise UserInputError(
                "the spec has hidden tests, which run with pytest, but the repository is a "
                "Node.js delivery",
                hint="set `runtime: python` if it is a Python delivery, or remove the hidden tests",
            )
        with session.stage("plan"):
            registry = getattr(session.config, "npm_registry", None) or NPM_REGISTRY
            project = read_project(tree.path, registry)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run")
        try:
            evidence = pool.submit(session.timed, "licence-detect", session.detect_licence, tree)
            with session.stage("download"):
                fetched = fetch_node_modules(
                    project, scratch / "npm", session.config.cache_dir,
                    timeout=max(30.0, session.remaining()), max_bytes=spec.limits.disk,
                    registry=registry, max_total_bytes=session.config.env_cache_max_bytes,
                )  # fmt: skip
            session.report.install = _install_record(project.lockfile_name, fetched)
            modules = fetched.project_dir / "node_modules"
            mounts = {tree.path: SRC_MOUNT}
            if modules.is_dir():
                mounts[modules] = DEPS_MOUNT
            with session.stage("sandbox"):
                sandbox = session.open_sandbox(tree, self.image(session.config), mounts)
            try:
                self._copy(session, sandbox, modules.is_dir())
                with session.stage("sast"):
                    session.add(self._sast(session, sandbox, tree))
                if spec.quality.enabled:
                    with session.stage("quality"):
                        session.add(self._quality(session, sandbox, tree))
                self._rebuild(session, sandbox, modules.is_dir())
                with session.stage("audit"):
                    pairs = [(p.name, p.version) for p in fetched.installed]
                    session.add(npm_audit.audit_npm(
                        pairs, spec.security.dependencies, session.config.advisories_db
                    ))  # fmt: skip
                found = evidence.result() or licence.LicenceEvidence(None, None, None)
                with session.stage("licence"):
                    session.add(_licence(found, spec.licence, fetched.installed))
                with session.stage("functional"):
                    session.add(self._tests(session, sandbox, project.test_script))
            finally:
                sandbox.close()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _copy(self, session: RunSession, sandbox: Sandbox, has_modules: bool) -> None:
        """The checkout copied without its node_modules, the fetched one instead (nothing runs)."""
        with session.stage("prepare"):
            # A delivered node_modules (or a link of that name) is never used: the engine's
            # fetched and checked folder replaces it.
            copy = f"cp -a {DEPS_MOUNT} {WORK_SRC}/node_modules; " if has_modules else ""
            session.copy_in(
                sandbox,
                f"set -e; mkdir -p {OUT_DIR}; cp -a {SRC_MOUNT}/. {WORK_SRC}/; "
                f"rm -rf {WORK_SRC}/node_modules; {copy}",
                "prepare", "the checkout and its npm packages",
            )  # fmt: skip

    def _sast(self, session: RunSession, sandbox: Sandbox, tree: Checkout) -> CheckOutcome:
        """The engine's ESLint on the read-only checkout, into a folder named now."""
        sast = session.spec.security.sast
        if not sast.enabled:
            return eslint.skipped()
        out_dir = f"{OUT_DIR}/eslint-{secrets.token_hex(8)}"
        session.sandbox_run(sandbox, ["mkdir", out_dir], "sast-prepare")
        tools = session.report.environment.get("tools")
        versions = {
            k: str(tools[k]) for k in ("eslint", "eslint-plugin-security", "typescript-eslint")
            if isinstance(tools, dict) and tools.get(k)
        }  # fmt: skip
        return eslint.run_eslint(
            sandbox, sast, node_sources(tree.path, sast.exclude), root=SRC_MOUNT,
            out_dir=out_dir, timeout=session.remaining(), version=versions,
        )  # fmt: skip

    def _quality(self, session: RunSession, sandbox: Sandbox, tree: Checkout) -> CheckOutcome:
        """ESLint's recommended rules on the read-only checkout (checks/quality_eslint.py)."""
        spec = session.spec.quality
        early = quality_eslint.not_available(spec)
        if early is not None:
            return early
        out_dir = f"{OUT_DIR}/quality-{secrets.token_hex(8)}"
        session.sandbox_run(sandbox, ["mkdir", out_dir], "quality-prepare")
        return quality_eslint.run_eslint_quality(
            sandbox, spec, node_sources(tree.path, spec.exclude), root=SRC_MOUNT,
            out_dir=out_dir, timeout=session.remaining(),
        )  # fmt: skip

    def _rebuild(self, session: RunSession, sandbox: Sandbox, has_modules: bool) -> None:
        """The packages' install scripts, in the sandbox, offline, after SAST read the code."""
        if not has_modules:
            return
        with session.stage("install"):
            # Install scripts run here only: in the sandbox, offline, as the sandbox user.
            result = session.sandbox_run(
                sandbox, ["npm", "rebuild", "--no-audit", "--no-fund", "--offline"],
                "install-rebuild", workdir=WORK_SRC,
            )  # fmt: skip
            if result.exit_code != 0:
                raise SubmissionError(
                    "INSTALL_FAILED",
                    "the npm packages' install scripts failed (npm rebuild, in the sandbox, "
                    f"offline): {clean_text(result.text[-1200:], 1200)}",
                )

    def _tests(
        self, session: RunSession, sandbox: Sandbox, test_script: str | None
    ) -> CheckOutcome:
        """node:test run by the engine, its TAP report read back and checked."""
        spec = session.spec.functional
        if spec.command is not None:  # the owner's command instead of node:test
            path = f"{WORK_SRC}/node_modules/.bin:/usr/local/bin:/usr/bin:/bin"
            return judge_command(
                session, sandbox, spec.command, workdir=WORK_SRC, env={"PATH": path}
            )
        budget = min(float(spec.timeout), session.remaining())
        # A name chosen now: nothing the delivery ran before can have put a report there.
        out_dir = f"{OUT_DIR}/node-{secrets.token_hex(8)}"
        session.sandbox_run(sandbox, ["mkdir", out_dir], "functional-prepare")
        report_path = f"{out_dir}/{node_tests.REPORT_NAME}"
        try:
            runner, argv = node_tests.test_command(test_script, spec.paths, report_path)
        except node_tests.UnsupportedScript as exc:
            return CheckOutcome(node_tests.unsupported_script(str(exc)))
        result = session.sandbox_run(
            sandbox, argv, "functional", workdir=WORK_SRC, timeout=budget, judge=False
        )
        report: bytes | None = None
        problem: str | None = None
        if not result.timed_out:
            try:
                report = sandbox.read_files([(report_path, MAX_REPORT_BYTES)])[0].value()
            except SubmissionError as exc:  # a link, a special file, too large
                problem = f"the TAP results file is unusable: {exc.message}"
        run = node_tests.NodeTestRun(
            runner=runner,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            timeout=int(budget),
            output_limit_hit=result.output_limit_hit,
            memory_limit_hit=result.memory_limit_hit,
            process_limit_hit=result.process_limit_hit,
            report=report,
            full_filesystems=sandbox.full_filesystems()
            if result.exit_code != 0 or not report
            else (),
            report_problem=problem,
            output_tail=clean_text(result.text[-300:], 300) if not report else "",
        )
        return CheckOutcome(
            node_tests.evaluate(spec.min_passed, run), {"results.tap": report} if report else {}
        )


def _install_record(lockfile: str, fetched: FetchedModules) -> dict[str, object]:
    return {
        "requirements": [f"{p.name}@{p.version}" for p in fetched.installed],
        "build_requirements": [], "local_projects": [],
        "evidence": [
            f"{lockfile}: {len(fetched.installed)} package(s) "
            + ("prepared for an earlier run from the same lockfile and checked again"
               if fetched.reused else
               f"fetched from {fetched.registry} by npm {fetched.npm_version} on the host with "
               "scripts off")
            + f" ({fetched.seconds:.1f} s, {fetched.size} bytes), install scripts run by npm "
            "rebuild in the sandbox, offline"
        ],
        "metadata_from_sandbox": False,
    }  # fmt: skip


def _licence(
    found: licence.LicenceEvidence, spec: LicenceSpec, installed: tuple[LockedPackage, ...]
) -> CheckOutcome:
    """The repository's licence, and each installed npm package's judged against it."""
    if not installed or spec.dependencies == "off" or found.spdx is None or found.unsafe:
        return CheckOutcome(licence.judge_licence(found, spec, None))
    judged = judge_npm_licences([(p.name, p.version, p.licence) for p in installed], found.spdx)
    listing = json.dumps([asdict(d) for d in judged], indent=1).encode()
    return CheckOutcome(
        licence.judge_licence(found, spec, judged), {"dependency-licences.json": listing}
    )
