"""What every check returns: a verdict with evidence, never an exception for a failure."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


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
