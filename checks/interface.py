"""What every check returns: a verdict with evidence, never an exception for a failure."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sandbox.interface import Sandbox


class CheckStatus(str, enum.Enum):
    """The closed set of check outcomes written into reports."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    #: turned off by the spec
    SKIPPED = "skipped"
    #: enabled, but an earlier stage failed before it could run: never a pass
    NOT_RUN = "not_run"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome; `details` holds the kind-specific report fields."""

    id: str
    kind: str
    status: CheckStatus
    summary: str
    reason_code: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)

    def to_report(self) -> dict[str, object]:
        """The check as it appears in `predicate.checks`."""
        entry: dict[str, object] = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "summary": self.summary,
        }
        if self.reason_code:
            entry["reason_code"] = self.reason_code
        entry.update(self.details)
        return entry


@dataclass(frozen=True)
class CheckOutcome:
    """A check's result plus the files it produced (SARIF, SBOM...), by file name."""

    result: CheckResult
    artifacts: Mapping[str, bytes] = field(default_factory=dict)


class CheckId(str, enum.Enum):
    """The built-in checks' stable ids, in report order (as written into `predicate.checks`)."""

    FUNCTIONAL = "functional"
    SAST = "sast"
    DEPENDENCIES = "dependencies"
    LICENCE = "licence"
    QUALITY = "quality"


class Stage(str, enum.Enum):
    """When and where a check runs in a run."""

    #: on the host, on the checked-out delivery, before the sandbox starts
    BESIDE_SANDBOX = "beside_sandbox"
    #: in the sandbox before the install: no supplier code has run yet
    BEFORE_INSTALL = "before_install"
    #: in the sandbox with the project installed
    AFTER_INSTALL = "after_install"


@dataclass(frozen=True)
class CheckContext:
    """What a check run beside the sandbox reads: the delivery's checkout (read-only) and the spec."""

    tree: Path
    #: the parsed acceptance spec (acceptance.engine.spec.Spec); a check reads its own section
    spec: object


@dataclass(frozen=True)
class AppHost:
    """The runtime's sandbox once the project is installed: where a check may start the app.

    The pipeline hands it to a hosted check after the supplier's own tests and before the
    owner's hidden tests; the check must leave no process behind in it.
    """

    sandbox: Sandbox
    #: the sandbox's name, whose loopback another sandbox may join (its network namespace)
    name: str
    #: where the installed checkout is, and the environment its tests ran with
    workdir: str
    env: Mapping[str, str]
    #: what the report says the app ran with ("the Python runtime's sandbox: ...")
    environment: str


@runtime_checkable
class HostedCheck(Protocol):
    """A registered check that, for some specs, runs in the runtime's sandbox (AppHost)."""

    def hosted(self, spec: object) -> bool: ...

    def run_hosted(self, context: CheckContext, host: AppHost) -> CheckOutcome: ...


class Check(Protocol):
    """One check: a stable id, the stage it needs, the spec section it owns, and `run`."""

    @property
    def id(self) -> str: ...

    @property
    def stage(self) -> Stage: ...

    #: the dotted spec section the check owns ("security.sast"); None when it owns none
    @property
    def spec_section(self) -> str | None: ...

    #: False: the report lists the check only when the spec turns it on (quality)
    @property
    def listed_when_off(self) -> bool: ...

    def enabled(self, spec: object) -> bool: ...

    def run(self, context: CheckContext) -> CheckOutcome: ...
