"""Celery tasks: thin shells around RunExecutor, the reconciler and the signer."""

from __future__ import annotations

import datetime as dt
import logging
import os
from functools import cache
from typing import Any

from sqlalchemy import or_, select

from acceptance.db import Database
from acceptance.models import Run, RunStatus, utcnow
from acceptance.settings import load_settings
from workers.celery_app import RECONCILE_TASK, RUN_TASK, SIGN_TASK, enqueue_run, make_celery
from workers.runner import Outcome, RunExecutor, holder_is_dead
from workers.signer import Signer, SigningRefused, report_signer

log = logging.getLogger(__name__)

app = make_celery()

#: a queued run not picked up for this long may have lost its broker message
REQUEUE_AFTER = float(os.environ.get("ACCEPTANCE_REQUEUE_AFTER", "600"))
BUSY_RETRY_SECONDS = 15
#: backoff after platform failures (Docker or database down): 10 s, 40 s, 160 s
BACKOFF_BASE = 10


@cache
def _executor() -> RunExecutor:
    settings = load_settings()
    signer = report_signer(settings, app)
    return RunExecutor(settings, Database(settings.database_url), signer=signer)


@cache
def _signer() -> Signer:
    """In `acceptance signer` only: the key is read from its file, never created here."""
    from acceptance.signing import load_private_key

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


@app.task(name=RECONCILE_TASK)  # type: ignore[untyped-decorator]
def reconcile_task() -> int:
    return reconcile(_executor())


# A refusal is an expected answer: logged by the signer, not as a crash with a traceback.
@app.task(name=SIGN_TASK, ignore_result=False, throws=(SigningRefused,))  # type: ignore[untyped-decorator]
def sign_task(run_id: str, attempt: int, statement: str) -> dict[str, Any]:
    """`{envelope, key_id}` for a run's serialized statement (base64), or SigningRefused."""
    return _signer().sign(run_id, attempt, statement)


def reconcile(executor: RunExecutor, requeue_after: float = REQUEUE_AFTER) -> int:
    """Re-enqueue runs whose message may be lost: stale in `queued`, or held by a dead worker."""
    now = utcnow()
    stale = now - dt.timedelta(seconds=requeue_after)
    requeued: list[tuple[str, int]] = []
    with executor.db.session() as session:
        candidates = session.scalars(
            select(Run).where(
                or_(
                    (Run.status == RunStatus.QUEUED.value) & (Run.enqueued_at < stale),
                    Run.status == RunStatus.RUNNING.value,
                )
            )
        ).all()
        for run in candidates:
            if run.status == RunStatus.RUNNING.value:
                lease_over = run.lease_until is not None and run.lease_until <= now
                if not lease_over and not holder_is_dead(run.worker):
                    continue
                run.status = RunStatus.QUEUED.value
                run.stage = None
            run.enqueued_at = now
            requeued.append((run.id, executor._spec_timeout(run)))
    for run_id, timeout in requeued:
        log.warning("run_requeued", extra={"run": run_id})
        enqueue_run(app, run_id, timeout)
    return len(requeued)
