"""Queueing runs: by a person, or by a verified push (deduplicated, rate-limited); runs as JSON.

Callers own the transaction (``Database.session()``) and enqueue runs only
after it committed, so a worker never looks for a row that is not there yet.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from acceptance.errors import UserInputError
from acceptance.service.access import (
    check_open,
)
from acceptance.service.audit import Action, Subject, record
from acceptance.service.models import (
    Run,
    RunStatus,
    SpecVersion,
    Submission,
    User,
    utcnow,
)
from acceptance.service.opportunities import current_spec

log = logging.getLogger(__name__)


def create_run(
    session: Session,
    submission: Submission,
    *,
    trigger: str,
    ref: str | None,
    commit: str | None = None,
    delivery_id: str | None = None,
    commit_message: str | None = None,
    spec: SpecVersion | None = None,
    rerun_of: Run | None = None,
    requested_by: User | None = None,
) -> tuple[Run, bool]:
    """Record a queued run; returns (run, created). A known delivery id returns its run.

    `spec` is the submission's current spec version when the caller has loaded it already.
    `rerun_of` is the run a person asked to run again (the dashboard's "Run again").
    `requested_by` is the person who started it (the audit trail records who).
    """
    check_open(submission.opportunity)
    dialect = session.get_bind().dialect.name
    if delivery_id is not None and dialect not in _UPSERT:
        existing = session.scalar(
            select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
        )
        if existing is not None:
            return existing, False
    if spec is None:
        spec = _current_spec_version(session, submission)
    previous = None
    if trigger == "manual":  # a push is new work, even for a commit judged before
        previous = _rerun_of(session, submission, commit or _full_commit(ref), spec, rerun_of)
    if delivery_id is not None and dialect in _UPSERT:
        # Webhook intake, on every push's path: one INSERT ... ON CONFLICT DO NOTHING
        # instead of a look-up, a savepoint and an insert. A delivery seen before (or
        # recorded by a concurrent request) inserts nothing and its run is looked up.
        statement = (
            _UPSERT[dialect](Run)
            .values(
                submission_id=submission.id,
                spec_version_id=spec.id,
                trigger=trigger,
                delivery_id=delivery_id,
                ref=ref,
                commit=commit,
                commit_message=commit_message,
            )  # fmt: skip
            .on_conflict_do_nothing(index_elements=[Run.submission_id, Run.delivery_id])
            .returning(Run)
        )
        inserted = session.scalar(statement)
        if inserted is not None:
            return inserted, True
        existing = session.scalar(
            select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
        )
        if existing is None:  # pragma: no cover - the conflict names an existing row
            raise UserInputError("the delivery could not be recorded; send it again")
        return existing, False
    run = Run(
        submission_id=submission.id,
        spec_version=spec,
        trigger=trigger,
        delivery_id=delivery_id,
        ref=ref,
        commit=commit,
        commit_message=commit_message,
        supersedes_id=previous.id if previous is not None else None,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        # Another request recorded the same delivery between our check and insert.
        existing = session.scalar(
            select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
        )
        if existing is None:
            raise
        return existing, False
    if requested_by is not None:
        details = {
            "submission": submission.id, "ref": ref, "spec_version": spec.version,
            "supersedes": run.supersedes_id,
        }  # fmt: skip
        record(session, requested_by, Action.RUN_REQUESTED, Subject.RUN, run.id, details)
    return run, True


#: a commit id as git prints it in full (SHA-1 or SHA-256); a shorter ref may name anything
_FULL_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _full_commit(ref: str | None) -> str | None:
    """``ref`` when it is a full commit id (lower-cased, as runs record commits), else None."""
    if ref is None or not _FULL_COMMIT.fullmatch(ref.lower()):
        return None
    return ref.lower()


_ENDED = (RunStatus.FINISHED.value, RunStatus.ERROR.value)


def _rerun_of(
    session: Session,
    submission: Submission,
    commit: str | None,
    spec: SpecVersion,
    chosen: Run | None = None,
) -> Run | None:
    """The run a manual run of ``commit`` against ``spec`` re-does, or None.

    Only a run of the submission that ended (finished, or error) for the very same
    commit and spec version: a run of another commit, or of this commit against
    another spec, judged something else and is not superseded. That is ``chosen``
    (the run a person asked to run again) when it qualifies, else the latest such
    run. A branch or tag resolves to a commit only when the run checks it out, so a
    run of one supersedes nothing.
    """
    if commit is None:
        return None
    if (
        chosen is not None
        and chosen.submission_id == submission.id
        and chosen.commit == commit
        and chosen.spec_version_id == spec.id
        and chosen.status in _ENDED
    ):
        return chosen
    return session.scalar(
        select(Run)
        .where(
            Run.submission_id == submission.id,
            Run.commit == commit,
            Run.spec_version_id == spec.id,
            Run.status.in_(_ENDED),
        )
        .order_by(Run.queued_at.desc())
        .limit(1)
    )


#: INSERT constructs with ON CONFLICT, by dialect (both have it: PostgreSQL 9.5, SQLite 3.24)
_UPSERT: dict[str, Any] = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


def _current_spec_version(session: Session, submission: Submission) -> SpecVersion:
    # One query for the current spec version (what current_spec() picks), loaded so the
    # caller's run.spec_version needs none: webhook intake is on every push's path.
    spec = session.scalar(
        select(SpecVersion)
        .where(SpecVersion.opportunity_id == submission.opportunity_id)
        .order_by(SpecVersion.version.desc())
        .limit(1)
    )
    return spec if spec is not None else current_spec(submission.opportunity)


#: the span ACCEPTANCE_RUNS_PER_HOUR counts webhook runs over
RATE_WINDOW = dt.timedelta(hours=1)


class RateLimited(UserInputError):
    """A submission started as many webhook runs as allowed within the hour."""

    code = "runs:rate-limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, hint=f"send the push again in {retry_after} seconds")
        #: whole seconds until one more run is allowed
        self.retry_after = retry_after


@dataclass(frozen=True)
class WebhookRun:
    """The run a push delivery is answered with, and whether the delivery created it."""

    run: Run
    created: bool
    #: why no new run was queued (None when `created`)
    reason: str | None = None


def create_webhook_run(
    session: Session,
    submission: Submission,
    *,
    ref: str | None,
    commit: str,
    delivery_id: str,
    commit_message: str | None = None,
    runs_per_hour: int = 0,
) -> WebhookRun:
    """Queue the run a verified push asks for, unless one already answers it.

    The same delivery id gets its run back; so does any other delivery of the
    same commit while a webhook run of it against the current spec version is
    queued, running or finished (only one that ended in `error`, a platform
    failure, may be run again). Beyond `runs_per_hour` webhook runs of the
    submission within the hour (0: no limit; `error` runs do not count),
    RateLimited says when to try again.

    Deliveries of one submission take turns: its row is locked (SELECT ... FOR
    NO KEY UPDATE) until the caller's transaction ends, so two deliveries at once can
    neither both find no run of a commit nor both take the hour's last run.
    SQLite has no row locks; it serialises writers as a whole.
    """
    # FOR NO KEY UPDATE: deliveries wait for each other, but not other inserts of runs
    # (their foreign key takes only FOR KEY SHARE on the submission).
    session.execute(
        select(Submission.id).where(Submission.id == submission.id).with_for_update(key_share=True)
    )
    check_open(submission.opportunity)
    known = session.scalar(
        select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
    )
    if known is not None:
        return WebhookRun(
            known, created=False, reason=f"delivery {delivery_id} was received before"
        )
    spec = _current_spec_version(session, submission)
    same = session.scalar(
        select(Run)
        .where(
            Run.submission_id == submission.id,
            Run.spec_version_id == spec.id,
            Run.commit == commit,
            Run.trigger == "webhook",
            Run.status != RunStatus.ERROR.value,
        )
        .order_by(Run.queued_at.desc())
        .limit(1)
    )
    if same is not None:
        log.info("webhook_same_commit", extra={"run": same.id, "submission": submission.id})
        return WebhookRun(
            same, created=False,
            reason=f"commit {commit} already has run {same.id} ({same.status}) "
                   f"against spec version {spec.version}",
        )  # fmt: skip
    if runs_per_hour > 0:
        check_webhook_rate(session, submission, runs_per_hour)
    run, created = create_run(
        session, submission, trigger="webhook", ref=ref, commit=commit, delivery_id=delivery_id,
        commit_message=commit_message, spec=spec,
    )  # fmt: skip
    return WebhookRun(run, created=created, reason=None if created else "delivery received before")


def check_webhook_rate(session: Session, submission: Submission, limit: int) -> None:
    """RateLimited when `limit` counted webhook runs were queued within the past hour."""
    now = utcnow()
    # The limit-th newest counted run: while it is inside the window, the window is full,
    # and one more run is allowed when it leaves the window.
    nth_newest = session.scalar(
        select(Run.queued_at)
        .where(
            Run.submission_id == submission.id,
            Run.trigger == "webhook",
            Run.status != RunStatus.ERROR.value,
            Run.queued_at > now - RATE_WINDOW,
        )
        .order_by(Run.queued_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if nth_newest is None:
        return
    retry_after = max(1, math.ceil((nth_newest + RATE_WINDOW - now).total_seconds()))
    log.warning("webhook_rate_limited", extra={"submission": submission.id, "limit": limit})
    raise RateLimited(
        f"this submission started {limit} runs from pushes within the hour, the most allowed "
        "(ACCEPTANCE_RUNS_PER_HOUR)",
        retry_after=retry_after,
    )


def run_to_json(run: Run, base_url: str) -> dict[str, Any]:
    return {
        "id": run.id,
        "submission": run.submission_id,
        "opportunity": run.submission.opportunity_id,
        "supplier": run.submission.supplier,
        "status": run.status,
        "stage": run.stage,
        "verdict": run.verdict,
        "reason_codes": run.reason_codes,
        "reasons": run.reasons,
        "trigger": run.trigger,
        "ref": run.ref,
        "commit": run.commit,
        "tree": run.tree,
        "reused_from": run.reused_from_id,
        "spec_version": run.spec_version.version,
        "spec_sha256": run.spec_version.spec_sha256,
        "supersedes": run.supersedes_id,
        "queued_at": _iso(run.queued_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "attempts": run.attempts,
        "error": run.error,
        "stages": run.stages,
        "key_id": run.key_id,
        "report_url": f"{base_url}/api/v1/runs/{run.id}/report" if run.report_sha256 else None,
        "artifacts": sorted(run.artifacts),
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def latest_runs(session: Session, ids: Sequence[str]) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.id.in_(ids))))
