"""What `acceptance worker` does as it starts, so a run is never stranded by a killed worker.

1. Before Celery starts, the runs this host's dead workers held go back to the
   queue, their sandbox containers removed: one host recovers on a restart,
   with no scheduler.
2. Without `--beat`, once the worker is up, it waits a few reconciler intervals
   for a pass of the reconciler (noted in the broker's Redis by whichever worker
   runs it) and warns once if none comes: runs held by workers on other hosts,
   and queued runs whose broker message was lost, need a scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis

from acceptance.service.db import Database
from acceptance.service.readiness import STALE_INTERVALS, last_reconciler_pass, redis_client
from acceptance.settings import Settings
from workers.tasks import reconcile_this_host

log = logging.getLogger(__name__)

#: added to the wait for a reconciler pass: a scheduler started with this worker needs a moment
STARTUP_GRACE = 5.0
#: the sentence a worker without a scheduler logs once at start
NO_SCHEDULER = (
    "no scheduler seems to be running (no reconciler pass within {seconds:.0f} s): this worker "
    "took back its own host's runs as it started, but runs held by workers that died on other "
    "hosts, and queued runs whose broker message was lost, are recovered only by the reconciler; "
    "run `acceptance scheduler` (with a worker on the `service` queue) or one worker with --beat"
)


def recover_this_host(db: Database) -> int:
    """Re-queue the runs this host's dead workers held; never keeps the worker from starting."""
    started = time.monotonic()
    try:
        requeued = reconcile_this_host(db)
    except Exception:  # noqa: BLE001 - a scheduler's reconciler recovers them later
        log.warning("startup_recovery_failed", exc_info=True)
        return 0
    seconds = round(time.monotonic() - started, 2)
    level = logging.WARNING if requeued else logging.INFO
    log.log(level, "startup_recovery", extra={"requeued": requeued, "seconds": seconds})
    return requeued


def warn_without_scheduler(settings: Settings, every: float | None = None) -> None:
    """Once the worker is ready: watch for a reconciler pass, warn once when none comes."""
    every = settings.reconcile_every if every is None else every
    from celery import signals

    def start_watching(**_: Any) -> None:
        threading.Thread(
            target=watch_for_scheduler, args=(settings.broker_url, every),
            name="scheduler-watch", daemon=True,
        ).start()  # fmt: skip

    signals.worker_ready.connect(start_watching, weak=False)


def watch_for_scheduler(
    broker_url: str, every: float, *, poll: float = 1.0, grace: float = STARTUP_GRACE
) -> bool:
    """True as soon as a recent reconciler pass is noted; False (and one warning) after the wait."""
    wait = STALE_INTERVALS * every + grace
    deadline = time.monotonic() + wait
    try:
        client = redis_client(broker_url)
    except ValueError:  # a broker that is not Redis: passes cannot be noted, nothing to tell
        return True
    with client:
        while not _recent_pass(client):
            if time.monotonic() >= deadline:
                log.warning("no_scheduler", extra={"detail": NO_SCHEDULER.format(seconds=wait)})
                return False
            time.sleep(min(poll, every))
    return True


def _recent_pass(client: redis.Redis) -> bool:
    try:
        last = last_reconciler_pass(client)
    except redis.RedisError:
        return False
    return last is not None and not last.stale
