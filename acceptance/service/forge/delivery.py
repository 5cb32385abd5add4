"""Sending a run's commit status to its forge, and keeping every attempt.

The worker's forge task calls `deliver` with a run id whenever the run's status
may have changed (queued, ended). It sends what the run calls for *now*, under
a lock on the run's `forge_statuses` row, so a `pending` retried late never
replaces the verdict. Each request is kept as a `ForgeAttempt`. A forge that is
down, slow or refusing is retried by the task with a backoff; nothing here ever
touches the run itself, so its verdict stands whatever the forge does.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from acceptance.engine.source_policy import check_endpoint
from acceptance.errors import PlatformError, UserInputError
from acceptance.service.artifacts import ArtifactStore
from acceptance.service.db import Database
from acceptance.service.forge import gitea, github, gitlab
from acceptance.service.forge.check_runs import check_run, wanted_check
from acceptance.service.forge.credentials import forge_target
from acceptance.service.forge.github_app import CheckRunProgress, send_check_run
from acceptance.service.forge.interface import FORGE_TIMEOUT, ForgeError, ForgeKind, StatusSender
from acceptance.service.forge.status import commit_status, wanted_state
from acceptance.service.models import ForgeAttempt, ForgeStatus, Run, Submission, utcnow
from acceptance.service.secretbox import SecretBox
from acceptance.settings import Settings

log = logging.getLogger(__name__)

#: attempts at one state, the first included, before it is given up (about 3 hours with the backoff)
MAX_ATTEMPTS = 8
_MAX_ERROR = 1000
SENDERS: dict[ForgeKind, StatusSender] = {
    ForgeKind.GITHUB: github.send_status,
    ForgeKind.GITLAB: gitlab.send_status,
    ForgeKind.GITEA: gitea.send_status,
}
_UPSERT: dict[str, Any] = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


class ForgeState:
    QUEUED, RETRYING, DELIVERED, FAILED = "queued", "retrying", "delivered", "failed"


@dataclass(frozen=True)
class Attempt:
    """What one delivery did: where the run's status stands after it, and whether to try again."""

    state: str
    retry: bool = False


@dataclass(frozen=True)
class Delivery:
    """What `deliver` needs: the service's settings, database, artifacts and secrets."""

    settings: Settings
    db: Database
    store: ArtifactStore
    box: SecretBox
    #: seconds for the forge to connect and answer
    timeout: float = FORGE_TIMEOUT


def deliver(
    delivery: Delivery, run_id: str, senders: Mapping[ForgeKind, StatusSender] | None = None
) -> Attempt:
    """Send what run `run_id` calls for now (a commit status, or a check run with a GitHub App), once."""
    senders = senders or SENDERS
    with delivery.db.session() as session:
        row = _locked_row(session, run_id)
        run = session.get(Run, run_id)
        if row is None or run is None:
            return Attempt("missing")
        submission: Submission = run.submission
        if submission.forge_kind is None:
            return Attempt("no_forge")
        try:
            target = forge_target(submission, delivery.box)
        except PlatformError as exc:  # the secrets key changed: no token to send, ever
            row.state, row.last_error = ForgeState.FAILED, exc.message[:_MAX_ERROR]
            return Attempt(row.state)
        if target is None:
            return Attempt("no_forge")
        wanted = wanted_check(run) if target.is_app else wanted_state(run).value
        if row.wanted != wanted:
            row.wanted, row.attempts, row.state = wanted, 0, ForgeState.QUEUED
        if row.delivered == wanted:
            row.state = ForgeState.DELIVERED
            return Attempt(row.state)
        if row.state == ForgeState.FAILED:
            return Attempt(row.state)
        predicate = _predicate(delivery.store, run)
        progress = CheckRunProgress(row.check_run_id, row.annotations_sent)
        send: Callable[[], int]
        if target.is_app:
            update = check_run(run, predicate, delivery.settings.public_url)
            if update is None:  # a run of a branch: its commit is known once it is checked out
                return Attempt("no_commit")
            send = functools.partial(
                send_check_run, target, update, progress, timeout=delivery.timeout
            )
        else:
            status = commit_status(run, predicate, delivery.settings.public_url)
            if status is None:
                return Attempt("no_commit")
            send = functools.partial(senders[target.kind], target, status, timeout=delivery.timeout)
        row.attempts += 1
        attempt = ForgeAttempt(run_id=run_id, forge=target.kind.value, state=wanted, at=utcnow())
        session.add(attempt)
        try:
            # Checked before every request, not only at registration: a host name may
            # resolve elsewhere since.
            check_endpoint(target.api_url, delivery.settings.git_allowed_hosts, "forge.api_url")
            attempt.http_status = send()
        except (ForgeError, UserInputError) as exc:
            failure = exc if isinstance(exc, ForgeError) else ForgeError(exc.message, retry=False)
            attempt.http_status, attempt.error = failure.http_status, failure.message[:_MAX_ERROR]
            out_of_tries = row.attempts >= MAX_ATTEMPTS
            row.state = (
                ForgeState.RETRYING if failure.retry and not out_of_tries else ForgeState.FAILED
            )
            row.last_error = attempt.error
            log.warning(
                "forge_status_not_sent",
                extra={"run": run_id, "forge": target.kind.value, "state": wanted,
                       "attempt": row.attempts, "http_status": failure.http_status, "why": attempt.error},
            )  # fmt: skip
            return Attempt(row.state, retry=row.state == ForgeState.RETRYING)
        finally:  # how far a check run got, even when an attempt stopped half-way
            row.check_run_id, row.annotations_sent = (
                progress.check_run_id,
                progress.annotations_sent,
            )
        attempt.ok = True
        row.delivered, row.delivered_at, row.state, row.last_error = (
            wanted,
            utcnow(),
            ForgeState.DELIVERED,
            None,
        )
        log.info(
            "forge_status_sent", extra={"run": run_id, "forge": target.kind.value, "state": wanted}
        )
        return Attempt(row.state)


def _locked_row(session: Session, run_id: str) -> ForgeStatus | None:
    """The run's status row, created if need be and locked until the session ends.

    A second delivery of the same run waits here for the first (at most one forge
    time-out), then sees what the first did.
    """
    if session.get(Run, run_id) is None:
        return None
    dialect = session.get_bind().dialect.name
    if dialect in _UPSERT:
        session.execute(_UPSERT[dialect](ForgeStatus).values(run_id=run_id, state=ForgeState.QUEUED, attempts=0)
                        .on_conflict_do_nothing(index_elements=[ForgeStatus.run_id]))  # fmt: skip
    return session.scalar(select(ForgeStatus).where(ForgeStatus.run_id == run_id).with_for_update())


def _predicate(store: ArtifactStore, run: Run) -> dict[str, Any] | None:
    """The run's signed report's predicate, for its first reason; None when there is none to read.

    Our own report from our own store: the status line needs its sentences, not its proof.
    """
    if not run.report_sha256:
        return None
    data = store.get(run.report_sha256)
    if data is None:
        return None
    try:
        statement = json.loads(base64.b64decode(json.loads(data)["payload"], validate=True))
        predicate = statement["predicate"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return predicate if isinstance(predicate, dict) else None


class ForgeFeedback:
    """Hands a run whose status may have changed to the forge task, when its submission has a forge."""

    def __init__(self, db: Database, send: Callable[[str], None]) -> None:
        self.db = db
        self.send = send

    def run_changed(self, run_id: str, *, started: bool = False) -> bool:
        """True when handed over; never raises (a forge's status must not fail what it reports).

        `started`: a worker took the run or began a stage, which only a check run says
        (`in_progress` and the stage); a commit status stays `pending`, so nothing is sent.
        """
        try:
            with self.db.session() as session:
                found = session.execute(
                    select(Submission.forge_kind, Submission.forge_app_id)
                    .join(Run, Run.submission_id == Submission.id)
                    .where(Run.id == run_id)
                ).first()
            if (
                found is None
                or found.forge_kind is None
                or (started and found.forge_app_id is None)
            ):
                return False
            self.send(run_id)
            return True
        except Exception:  # noqa: BLE001 - the broker or the database may be down: the run stands
            log.warning("forge_status_not_enqueued", extra={"run": run_id}, exc_info=True)
            return False


def attempts_json(session: Session, run_id: str) -> dict[str, Any] | None:
    """The run's commit status on its forge and every attempt, for the API and the dashboard."""
    row = session.get(ForgeStatus, run_id)
    attempts = list(
        session.scalars(
            select(ForgeAttempt).where(ForgeAttempt.run_id == run_id).order_by(ForgeAttempt.at)
        )
    )
    if row is None and not attempts:
        return None
    return {
        "wanted": row.wanted if row else None,
        "delivered": row.delivered if row else None,
        "delivered_at": _iso(row.delivered_at) if row else None,
        "state": row.state if row else None,
        "attempts": [
            {
                "at": _iso(a.at),
                "forge": a.forge,
                "state": a.state,
                "http_status": a.http_status,
                "ok": a.ok,
                "error": a.error,
            }
            for a in attempts
        ],  # fmt: skip
    }


def _iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None
