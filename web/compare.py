"""Run-to-run comparison in the JSON API (the diff itself: acceptance.engine.compare).

`GET /api/v1/runs/<id>/compare/<other>` says what changed in run <id> since run
<other> (the base): both readable by the caller, of the same opportunity
(usually the same submission), each ended with a signed report. Owners and
admins see the hidden tests by id; reviewers only their counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from acceptance.engine.compare import Comparison, compare_reports
from acceptance.engine.keyring import public_keys
from acceptance.errors import PlatformError, UserInputError
from acceptance.service.access import Conflict, can_manage, get_run
from acceptance.service.models import Run, User
from web.api_auth import authenticated
from web.api_errors import API_ERROR_HANDLERS
from web.dashboard.reportview import load_predicate

compare_api = Blueprint("compare_api", __name__, url_prefix="/api/v1")
for _error, _handler in API_ERROR_HANDLERS.items():
    compare_api.register_error_handler(_error, _handler)


class NotComparable(UserInputError):
    """The two runs cannot be compared (422); `kind` lets the dashboard say why in its language."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class NoReport(Conflict):
    """A run has not ended with a signed report yet (409)."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run {run.id} has no report to compare yet (status {run.status})")
        self.run_id = run.id


@dataclass(frozen=True)
class LoadedComparison:
    head: Run
    base: Run
    comparison: Comparison
    #: whether each report's signature verified with the service's keys
    head_verified: bool
    base_verified: bool
    hidden_ids: bool


def load_comparison(session: Session, user: User, head_id: str, base_id: str) -> LoadedComparison:
    """Both runs as `user` may read them, checked comparable, and their reports' diff."""
    head, base = get_run(session, user, head_id), get_run(session, user, base_id)
    if head.id == base.id:
        raise NotComparable("same_run", f"run {head.id} is compared with itself: name another run")
    if head.submission.opportunity_id != base.submission.opportunity_id:
        raise NotComparable(
            "other_opportunity",
            f"runs {head.id} and {base.id} belong to different opportunities: "
            "compare runs of the same submission (or at least of the same opportunity)",
        )
    from web.app import services

    found = services()
    keys = public_keys(found.settings)
    signed = []
    for run in (head, base):
        predicate = load_predicate(found.store, run, keys)
        if predicate is None:
            raise NoReport(run)
        if predicate.predicate is None:
            raise PlatformError(f"the report of run {run.id} cannot be read: {predicate.problem}")
        signed.append(predicate)
    assert signed[0].predicate is not None and signed[1].predicate is not None
    return LoadedComparison(
        head=head, base=base,
        comparison=compare_reports(signed[1].predicate, signed[0].predicate),
        head_verified=signed[0].keyid is not None, base_verified=signed[1].keyid is not None,
        hidden_ids=can_manage(user, head.submission.opportunity),
    )  # fmt: skip


def previous_run(session: Session, run: Run) -> Run | None:
    """The submission's latest run queued before `run` that ended with a report, or None."""
    query = (
        select(Run)
        .where(
            Run.submission_id == run.submission_id,
            Run.report_sha256.is_not(None),
            (Run.queued_at < run.queued_at)
            | ((Run.queued_at == run.queued_at) & (Run.id < run.id)),
        )
        .order_by(Run.queued_at.desc(), Run.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _run_json(run: Run, verified: bool) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "submission_id": run.submission_id,
        "commit": run.commit,
        "queued_at": run.queued_at.isoformat().replace("+00:00", "Z"),
        "verdict": run.verdict,
        "report_sha256": run.report_sha256,
        "signature_verified": verified,
    }


@compare_api.get("/runs/<run_id>/compare/<other_id>")
@authenticated
def compare_runs(run_id: str, other_id: str) -> Any:
    loaded = load_comparison(g.db, g.user, run_id, other_id)
    return jsonify(
        head=_run_json(loaded.head, loaded.head_verified),
        base=_run_json(loaded.base, loaded.base_verified),
        same_submission=loaded.head.submission_id == loaded.base.submission_id,
        **loaded.comparison.to_json(hidden_ids=loaded.hidden_ids),
    )
