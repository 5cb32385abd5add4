"""The shell (bash) runtime: nothing installed, bats for the tests, ShellCheck for SAST and quality.

Runs in the shell image variant (sandbox/shell_image.py: Debian's bash, bats and
shellcheck). A shell delivery declares no packages, so there is nothing to install and
no dependency to audit (`dependencies` is skipped, saying so); the repository's own
licence is judged as for any delivery. ShellCheck runs before the tests, so no supplier
code has run when its report is written.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from acceptance.engine.checkout import Checkout
from acceptance.engine.runtime_choice import RuntimeName
from acceptance.engine.runtimes.command import judge_command
from acceptance.engine.runtimes.interface import RunSession
from acceptance.errors import SubmissionError, UserInputError
from checks import bats, licence, quality_shellcheck, shellcheck_scan
from checks.bats_hooks import find_bats_hooks
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.report_text import clean_text
from sandbox.interface import Sandbox
from sandbox.shell_image import shell_image_tag

if TYPE_CHECKING:
    from acceptance.engine.pipeline import EngineConfig

SRC_MOUNT = "/src"
SCAN_MOUNT = "/scan"
WORK_SRC = "/work/src"
OUT_DIR = "/work/out"
MAX_JUNIT_BYTES = 20 * 1024**2
NOTHING_TO_INSTALL = "shell runtime: nothing to install (bash, bats and shellcheck are the image's)"


class ShellRuntime:
    """Judges bash deliveries tested with bats."""

    @property
    def name(self) -> RuntimeName:
        return RuntimeName.SHELL

    def image(self, config: EngineConfig) -> str:
        return config.shell_image or shell_image_tag()

    def judge(self, session: RunSession, tree: Checkout, scratch: Path) -> None:
        spec = session.spec
        if spec.functional.hidden_tests is not None:
            raise UserInputError(
                "the spec has hidden tests, which run with pytest, but the repository is a shell "
                "delivery (detected from its *.bats files)",
                hint="set `runtime: python` if it is a Python delivery, or remove the hidden tests",
            )
        session.flag_test_hooks(find_bats_hooks(tree.path))
        session.report.install = {
            "requirements": [], "build_requirements": [], "local_projects": [],
            "evidence": [NOTHING_TO_INSTALL], "metadata_from_sandbox": False,
        }  # fmt: skip
        sast = spec.security.sast
        scan = scratch / "shellcheck"
        scan.mkdir(parents=True)
        # the shell files and the files they load, staged as neutralised copies
        plan = shellcheck_scan.ScanPlan(tree.path, scan, sast.exclude)
        if sast.enabled:
            plan = shellcheck_scan.plan_scan(tree.path, scan, sast.exclude)
        # quality reads the same copies (the same blanking), with its own `exclude`
        lint_plan = shellcheck_scan.ScanPlan(tree.path, scan, spec.quality.exclude)
        if spec.quality.enabled and spec.quality.default_rules:
            lint_plan = shellcheck_scan.plan_scan(tree.path, scan, spec.quality.exclude)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run")
        try:
            evidence = pool.submit(session.timed, "licence-detect", session.detect_licence, tree)
            with session.stage("sandbox"):
                sandbox = session.open_sandbox(
                    tree, self.image(session.config), {tree.path: SRC_MOUNT, scan: SCAN_MOUNT}
                )
            try:
                with session.stage("prepare"):
                    session.copy_in(
                        sandbox, f"set -e; mkdir -p {OUT_DIR}; cp -a {SRC_MOUNT}/. {WORK_SRC}/",
                        "prepare", "the checkout",
                    )  # fmt: skip
                with session.stage("sast"):
                    session.add(shellcheck_scan.scan(
                        sandbox, sast, plan, plain_root=SCAN_MOUNT, original_root=SRC_MOUNT,
                        out_dir=OUT_DIR, timeout=session.remaining(),
                        version=_tool(session, "shellcheck"),
                    ))  # fmt: skip
                if spec.quality.enabled:
                    with session.stage("quality"):
                        session.add(quality_shellcheck.run_shellcheck_quality(
                            sandbox, spec.quality, lint_plan, plain_root=SCAN_MOUNT,
                            original_root=SRC_MOUNT, out_dir=OUT_DIR, timeout=session.remaining(),
                            version=_tool(session, "shellcheck"),
                        ))  # fmt: skip
                session.add(_no_dependencies(spec.security.dependencies.enabled))
                found = evidence.result() or licence.LicenceEvidence(None, None, None)
                with session.stage("licence"):
                    # No installed package: the repository's own licence is the whole check.
                    session.add(CheckOutcome(licence.judge_licence(found, spec.licence, None)))
                with session.stage("functional"):
                    session.add(self._tests(session, sandbox))
            finally:
                sandbox.close()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _tests(self, session: RunSession, sandbox: Sandbox) -> CheckOutcome:
        """bats on the spec's paths, its report read back and checked (checks/bats.py)."""
        spec = session.spec.functional
        if spec.command is not None:  # the owner's command instead of bats (runtimes/command.py)
            return judge_command(session, sandbox, spec.command, workdir=WORK_SRC)
        budget = min(float(spec.timeout), session.remaining())
        counted = session.sandbox_run(
            sandbox, bats.count_command(spec), "functional-count", workdir=WORK_SRC,
            timeout=min(60.0, budget), judge=False,
        )  # fmt: skip
        expected = bats.parse_count(counted.output) if counted.exit_code == 0 else None
        # A name chosen now: nothing the delivery ran before can have put a report there.
        out_dir = f"{OUT_DIR}/bats-{secrets.token_hex(8)}"
        session.sandbox_run(sandbox, ["mkdir", out_dir], "functional-prepare")
        env = {"BATS_TEST_TIMEOUT": str(spec.test_timeout)} if spec.test_timeout else {}
        left = max(1.0, budget - counted.seconds)
        result = session.sandbox_run(
            sandbox, bats.bats_command(spec, out_dir), "functional", workdir=WORK_SRC, env=env,
            timeout=left, judge=False,
        )  # fmt: skip
        junit: bytes | None = None
        problem: str | None = None
        if not result.timed_out:
            try:
                junit = sandbox.read_files([(f"{out_dir}/{bats.REPORT_NAME}", MAX_JUNIT_BYTES)])[
                    0
                ].value()
            except SubmissionError as exc:
                problem = f"the JUnit results file is unusable: {exc.message}"
        run = bats.BatsRun(
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            timeout=int(left),
            output_limit_hit=result.output_limit_hit,
            memory_limit_hit=result.memory_limit_hit,
            process_limit_hit=result.process_limit_hit,
            junit=junit,
            expected=expected,
            full_filesystems=sandbox.full_filesystems()
            if result.exit_code != 0 or not junit
            else (),
            junit_problem=problem,
            output_tail=clean_text(counted.text[-300:], 300) if expected is None else "",
        )
        return CheckOutcome(bats.evaluate_bats(spec, run), {"junit.xml": junit} if junit else {})


def _tool(session: RunSession, name: str) -> str | None:
    tools = session.report.environment.get("tools")
    version = tools.get(name) if isinstance(tools, dict) else None
    return str(version) if version else None


def _no_dependencies(enabled: bool) -> CheckOutcome:
    summary = (
        "not checked: a shell delivery declares no packages, so there is nothing to audit"
        if enabled else "not checked: turned off in the spec"
    )  # fmt: skip
    return CheckOutcome(CheckResult("dependencies", "dependencies", CheckStatus.SKIPPED, summary))
