"""Celery tasks: thin shells around RunExecutor, the reconciler and the signer."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import or_, select

from acceptance.service.db import Database
from acceptance.service.events.delivery import EventPublisher
from acceptance.service.events.delivery import deliver as deliver_event
from acceptance.service.forge.delivery import Delivery, ForgeFeedback
from acceptance.service.forge.delivery import deliver as deliver_forge_status
from acceptance.service.mailer import deliver
from acceptance.service.models import Run, RunStatus, utcnow
from acceptance.service.notifications import Notifier
from acceptance.service.readiness import note_reconciler_pass
from acceptance.service.secretbox import SecretBox
from acceptance.settings import load_settings
from workers.celery_app import (
    EVENT_TASK,
    FORGE_TASK,
    MAIL_TASK,
    RECONCILE_TASK,
    RUN_TASK,
    SIGN_TASK,
    enqueue_event,
    enqueue_forge_status,
    enqueue_message,
    enqueue_run,
    make_celery,
)
from workers.runner import (
    Outcome,
    RunExecutor,
    holder_is_dead,
    remove_run_sandboxes,
    worker_name,
)
from workers.signer import Signer, SigningRefused, report_signer

log = logging.getLogger(__name__)

app = make_celery()

BUSY_RETRY_SECONDS = 15
#: backoff after platform failures (Docker or database down): 10 s, 40 s, 160 s
BACKOFF_BASE = 10
#: backoff between an email's attempts: 30 s, 2 min, 8 min, 32 min
MAIL_BACKOFF_BASE = 30


@cache
def _executor() -> RunExecutor:
    settings = load_settings()
    signer = report_signer(settings, app)
    db = Database(settings.database_url)
    notifier = Notifier(settings, db, functools.partial(enqueue_message, app))
    forge = ForgeFeedback(db, functools.partial(enqueue_forge_status, app))
    events = EventPublisher(db, functools.partial(enqueue_event, app))
    return RunExecutor(settings, db, signer=signer, notifier=notifier, forge=forge, events=events)


@cache
def _signer() -> Signer:
    """In `acceptance signer` only: the key is read from its file, never created here."""
    from acceptance.engine.signing import load_private_key

    settings = load_settings()
    return Signer(Database(settings.database_url), load_private_key(settings.signing_key))


@app.task(name=RUN_TASK, bind=True, acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
def run_task(self: Any, run_id: str) -> str:
    outcome = _executor().execute(run_id)
    if outcome == Outcome.BUSY:
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    if outcome == Outcome.RETRY:
        tries = self.request.retries or 0
        raise self.retry(countdown=BACKOFF_BASE * 4 ** min(tries, 3))
    return outcome


@app.task(name=MAIL_TASK, bind=True, acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
def mail_task(self: Any, message_id: str) -> str:
    """Deliver one kept email; the message's row counts the attempts and says when to stop."""
    executor = _executor()
    attempt = deliver(executor.db, executor.settings, message_id)
    if attempt.retry:
        tries = self.request.retries or 0
        raise self.retry(countdown=MAIL_BACKOFF_BASE * 4 ** min(tries, 3))
    return attempt.state


@app.task(name=FORGE_TASK, bind=True, acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
def forge_task(self: Any, run_id: str) -> str:
    """Send the commit status run `run_id` calls for now; the forge_statuses row says when to stop."""
    executor = _executor()
    attempt = deliver_forge_status(
        Delivery(executor.settings, executor.db, executor.store, _secret_box()), run_id
    )
    if attempt.retry:
        tries = self.request.retries or 0
        raise self.retry(countdown=executor.settings.forge_retry_seconds * 4 ** min(tries, 4))
    return attempt.state


#: the longest wait between an event's attempts (they go on for a day: acceptance.service.events.delivery)
EVENT_BACKOFF_CAP = 3600


@app.task(name=EVENT_TASK, bind=True, acks_late=True, max_retries=None)  # type: ignore[untyped-decorator]
def event_task(self: Any, delivery_id: str) -> str:
    """Send one signed event; the delivery's row says when to stop (a day after it was made)."""
    executor = _executor()
    attempt = deliver_event(executor.db, executor.settings, _secret_box(), delivery_id)
    if attempt.disabled_endpoint is not None and executor.notifier is not None:
        executor.notifier.endpoint_disabled(attempt.disabled_endpoint)  # never raises
    if attempt.retry:
        tries = self.request.retries or 0
        base = executor.settings.event_retry_seconds
        raise self.retry(countdown=min(base * 2 ** min(tries, 20), EVENT_BACKOFF_CAP))
    return attempt.state


@cache
def _secret_box() -> SecretBox:
    return SecretBox(_executor().settings.secrets_key)


@app.task(name=RECONCILE_TASK)  # type: ignore[untyped-decorator]
def reconcile_task(every: float | None = None) -> int:
    """One reconciler pass, noted in the broker's Redis with the scheduler's interval `every`."""
    requeued = reconcile(_executor())
    note_reconciler_pass(_executor().settings, every or _executor().settings.reconcile_every)
    return requeued


# A refusal is an expected answer: logged by the signer, not as a crash with a traceback.
@app.task(name=SIGN_TASK, ignore_result=False, throws=(SigningRefused,))  # type: ignore[untyped-decorator]
def sign_task(run_id: str, attempt: int, statement: str) -> dict[str, Any]:
    """`{envelope, key_id}` for a run's serialized statement (base64), or SigningRefused."""
    return _signer().sign(run_id, attempt, statement)


def reconcile(executor: RunExecutor, requeue_after: float | None = None) -> int:
    """Re-enqueue runs whose message may be lost: stale in `queued`, or held by a dead worker.

    A queued run counts as stale after `requeue_after` seconds (the setting
    ACCEPTANCE_REQUEUE_AFTER unless given): its broker message may have been lost.

    A run taken over from a dead worker loses that worker's sandbox containers first.
    """
    now = utcnow()
    wait = executor.settings.requeue_after if requeue_after is None else requeue_after
    stale = now - dt.timedelta(seconds=wait)

    def lost(run: Run) -> bool:
        if run.status == RunStatus.QUEUED.value:
            return run.enqueued_at < stale
        return run.status == RunStatus.RUNNING.value and _holder_gone(run, now)

    return _requeue(
        executor.db,
        or_(
            (Run.status == RunStatus.QUEUED.value) & (Run.enqueued_at < stale),
            Run.status == RunStatus.RUNNING.value,
        ),
        lost,
    )


def reconcile_this_host(db: Database) -> int:
    """Re-enqueue the runs held by dead workers of this host, removing their sandboxes.

    What `acceptance worker` does before it starts, so one host recovers from a
    killed worker on restart with no scheduler; a scheduler's reconciler does the
    same for every host, once leases run out.
    """
    host = worker_name().rpartition(":")[0]

    def lost(run: Run) -> bool:
        return run.status == RunStatus.RUNNING.value and holder_is_dead(run.worker)

    held_here = (Run.status == RunStatus.RUNNING.value) & Run.worker.startswith(
        f"{host}:", autoescape=True
    )
    return _requeue(db, held_here, lost)


def _holder_gone(run: Run, now: dt.datetime) -> bool:
    """Whether the worker holding a running run is gone: its lease is over or, here, its pid."""
    lease_over = run.lease_until is not None and run.lease_until <= now
    return lease_over or holder_is_dead(run.worker)


def _requeue(db: Database, where: Any, lost: Callable[[Run], bool]) -> int:
    """Queue again, and send, every run matching `where` that `lost` says has no live holder.

    Safe with several reconcilers at once (workers starting together, a scheduler):
    each run is looked at again under its row lock, and a row another one holds is
    skipped, so a run is re-sent at most once per takeover; a second message would
    find it claimed anyway.
    """
    with db.session() as session:
        candidates = [run.id for run in session.scalars(select(Run).where(where)) if lost(run)]
    if not candidates:
        return 0
    requeued: list[tuple[str, int]] = []
    with db.session() as session:
        locked = session.scalars(
            select(Run).where(Run.id.in_(candidates)).with_for_update(skip_locked=True)
        )
        taken_over: list[str] = []
        for run in locked:
            if not lost(run):  # claimed, finished or re-sent meanwhile
                continue
            if run.status == RunStatus.RUNNING.value:
                taken_over.append(run.id)
                run.status = RunStatus.QUEUED.value
                run.stage = None
            run.enqueued_at = utcnow()
            requeued.append((run.id, run.spec_version.run_timeout))
        # Under the row locks: no new attempt can have started a sandbox of these runs yet.
        remove_run_sandboxes(taken_over)
    for run_id, timeout in requeued:
        log.warning("run_requeued", extra={"run": run_id})
        enqueue_run(app, run_id, timeout)
    return len(requeued)
