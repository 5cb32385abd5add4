"""The acceptance report: an in-toto Statement v1 whose predicate is our verdict."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checks.interface import CheckResult, CheckStatus

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:acceptance-service:acceptance-report:v1"


class Verdict:
    """The closed set of verdicts."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ERROR = "error"


@dataclass(frozen=True)
class Reason:
    """Why a run was not accepted: a stable code and a sentence a person understands."""

    code: str
    message: str


@dataclass
class ReportInput:
    """Everything a report is made of, gathered as the run goes."""

    source_url: str
    ref: str | None
    spec: Mapping[str, object]
    started: dt.datetime
    commit: str | None = None
    #: the commit's tree id: what was judged (acceptance.service.reuse reuses a verdict by it)
    tree: str | None = None
    finished: dt.datetime | None = None
    environment: dict[str, object] = field(default_factory=dict)
    limits: Mapping[str, object] = field(default_factory=dict)
    install: dict[str, object] = field(default_factory=dict)
    stages: list[dict[str, object]] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    platform_failed: bool = False
    #: sha256 and size of each artifact the checks produced, by file name
    artifacts: dict[str, dict[str, object]] = field(default_factory=dict)
    #: the service's context (run id, opportunity, submission, the run it supersedes)
    run: Mapping[str, object] | None = None
    #: `runtime` and `runtime_source` (acceptance.engine.runtime_choice); None before checkout
    runtime: Mapping[str, object] | None = None


def decide(report: ReportInput) -> str:
    """accepted only when every enabled check passed; error when the platform failed.

    A check the spec turned off is SKIPPED: listed under `not_checked`, never
    counted for or against. At least one check must have run and passed.
    """
    if report.platform_failed or any(c.status is CheckStatus.ERROR for c in report.checks):
        return Verdict.ERROR
    enabled = [c for c in report.checks if c.status is not CheckStatus.SKIPPED]
    if report.reasons or not enabled:
        return Verdict.REJECTED
    if all(c.status is CheckStatus.PASSED for c in enabled):
        return Verdict.ACCEPTED
    return Verdict.REJECTED


def all_reasons(report: ReportInput) -> list[Reason]:
    """Run-level reasons first, then one per check that did not pass."""
    reasons = list(report.reasons)
    for check in report.checks:
        if check.status in (CheckStatus.FAILED, CheckStatus.ERROR):
            reasons.append(
                Reason(check.reason_code or "CHECK_FAILED", f"{check.id}: {check.summary}")
            )
    return reasons


def build_statement(report: ReportInput) -> dict[str, Any]:
    """The in-toto Statement for this run."""
    verdict = decide(report)
    reasons = all_reasons(report)
    subject: dict[str, Any] = {"name": report.source_url, "digest": {}}
    if report.commit:
        subject["digest"] = {"gitCommit": report.commit}
    source: dict[str, Any] = {"url": report.source_url, "ref": report.ref, "commit": report.commit}
    if report.tree:
        source["tree"] = report.tree
    predicate: dict[str, Any] = {
        "verdict": verdict,
        "reasons": [r.message for r in reasons],
        "reason_codes": _unique(r.code for r in reasons),
        "spec": dict(report.spec),
        "source": source,
        "started": _timestamp(report.started),
        "finished": _timestamp(report.finished or dt.datetime.now(dt.UTC)),
        "environment": report.environment,
        "limits": dict(report.limits),
        "install": report.install,
        "stages": report.stages,
        "checks": [c.to_report() for c in report.checks],
        "not_checked": [
            {"id": c.id, "reason": c.summary, "status": c.status.value}
            for c in report.checks
            if c.status in (CheckStatus.SKIPPED, CheckStatus.NOT_RUN)
        ],
        "artifacts": dict(sorted(report.artifacts.items())),
    }
    if report.runtime is not None:
        predicate.update(report.runtime)
    if report.run is not None:
        predicate["run"] = dict(report.run)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def serialize(statement: Mapping[str, Any]) -> bytes:
    """Deterministic JSON bytes of a statement (the signed payload)."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unique(codes: Sequence[str] | Any) -> list[str]:
    seen: list[str] = []
    for code in codes:
        if code not in seen:
            seen.append(code)
    return seen
