"""What a runtime is, and what the pipeline offers it (issue 15's runtime seam, issue 16).

A runtime owns everything that depends on the delivery's language: the sandbox image,
what is installed, how the tests run and are counted, which scanner reads the code, how
dependencies are audited and whose licences are judged. The pipeline owns the rest:
checkout, the runtime's choice, checks registered beside the sandbox, limits, stages,
the report. A runtime reaches the run only through `RunSession`, so adding one (node,
PowerShell) touches its module and the registry, not the pipeline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from acceptance.engine.checkout import Checkout
from acceptance.engine.report import ReportInput
from acceptance.engine.runtime_choice import RuntimeName
from acceptance.engine.spec import Spec
from acceptance.engine.wheels import DownloadResult
from checks.interface import CheckOutcome
from checks.licence import LicenceEvidence
from checks.test_hooks import HookFinding
from sandbox.interface import CommandResult, Sandbox

if TYPE_CHECKING:  # the pipeline's config type; the pipeline imports this module
    from acceptance.engine.pipeline import EngineConfig


class RunSession(Protocol):
    """The run, as a runtime sees it (implemented by the pipeline's per-run state)."""

    spec: Spec
    config: EngineConfig
    report: ReportInput
    #: a line of progress for the person watching, by stage name
    progress: Callable[[str, str], None]

    def stage(self, name: str) -> contextlib.AbstractContextManager[None]: ...

    def timed(self, name: str, work: Callable[..., Any], *args: Any) -> Any: ...

    def remaining(self) -> float: ...

    def open_sandbox(self, tree: Checkout, image: str, mounts: Mapping[Path, str]) -> Sandbox:
        """Create and start the run's sandbox with the spec's limits; record the image."""
        ...

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
        """One command in the sandbox; with ``judge``, a limit it hit rejects the run.

        ``user``: another uid:gid than the sandbox user's, for the engine's own steps.
        """
        ...

    def copy_in(self, sandbox: Sandbox, script: str, name: str, what: str) -> None: ...

    def detect_licence(self, tree: Checkout) -> LicenceEvidence | None: ...

    def add(self, outcome: CheckOutcome) -> None: ...

    def keep_artifact(self, name: str, data: bytes) -> None: ...

    def flag_test_hooks(self, findings: Sequence[HookFinding]) -> None:
        """Places that reach into the test machinery: the run needs a person (SUSPICIOUS_TEST_HOOKS)."""
        ...

    def run_hosted_checks(
        self, sandbox: Sandbox, workdir: str, env: Mapping[str, str], environment: str
    ) -> None:
        """The registered checks that run against the installed project, in this sandbox."""
        ...

    def download_wheels(
        self, requirements: list[str], dest: Path, *, python_version: str | None, timeout: float
    ) -> DownloadResult:
        """Wheels fetched on the host (acceptance.engine.wheels), for the sandbox's offline install."""
        ...


class Runtime(Protocol):
    """One language's way of judging a delivery."""

    @property
    def name(self) -> RuntimeName: ...

    def image(self, config: EngineConfig) -> str:
        """The sandbox image this runtime's stages run in."""
        ...

    def judge(self, session: RunSession, tree: Checkout, scratch: Path) -> None:
        """Install, test, scan, audit and judge the licence; each check's outcome via `session.add`.

        A failure of the delivery is a SubmissionError or a failed check; UserInputError
        and PlatformError mean the run cannot be judged, as everywhere in the engine.
        """
        ...
