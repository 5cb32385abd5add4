"""The Celery application: JSON only, late acks, one task at a time per process."""

from __future__ import annotations

from celery import Celery

from acceptance.settings import Settings, load_settings

RUN_TASK = "acceptance.run"
RECONCILE_TASK = "acceptance.reconcile"
SIGN_TASK = "acceptance.sign"
#: one email to deliver (acceptance.service.mailer), on the service queue: never behind hours of runs
MAIL_TASK = "acceptance.mail"
#: one run's commit status to its forge (acceptance.service.forge), on the service queue too
FORGE_TASK = "acceptance.forge_status"
#: one signed event to an owner's endpoint (acceptance.service.events), on the service queue too
EVENT_TASK = "acceptance.event"
RUNS_QUEUE = "runs"
#: intake-side work (reconciling) stays off the queue that sandbox runs fill
SERVICE_QUEUE = "service"
#: reports to sign, consumed only by `acceptance signer` (the one process holding the key)
SIGNING_QUEUE = "signing"
#: the signer's Celery node name (%h: this host), apart from a worker's `celery@%h`
SIGNER_NODE = "signer@%h"
#: signers' answers wait this long in the result backend for a worker to read them
RESULT_EXPIRES = 3600
#: above the longest hard time limit a run can get (the spec caps limits.timeout)
VISIBILITY_TIMEOUT = 8 * 24 * 3600


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = Celery("acceptance", broker=settings.broker_url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # Only the sign task has a result (the envelope), kept in the broker's Redis.
        task_ignore_result=True,
        result_backend=settings.broker_url,
        result_expires=RESULT_EXPIRES,
        # A worker gives a run back when the broker is down: seconds, not Celery's 20 retries.
        result_backend_transport_options={"retry_policy": {"max_retries": 3}},
        # A run is acknowledged only when it is done: a worker that dies mid-run
        # leaves the message to be delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        broker_connection_retry_on_startup=True,
        task_default_queue=RUNS_QUEUE,
        task_routes={
            RUN_TASK: {"queue": RUNS_QUEUE},
            RECONCILE_TASK: {"queue": SERVICE_QUEUE},
            SIGN_TASK: {"queue": SIGNING_QUEUE},
            MAIL_TASK: {"queue": SERVICE_QUEUE},
            FORGE_TASK: {"queue": SERVICE_QUEUE},
            EVENT_TASK: {"queue": SERVICE_QUEUE},
        },
        beat_schedule={
            # the interval goes along, so the pass is noted with the scheduler's own
            "reconcile": {
                "task": RECONCILE_TASK,
                "schedule": settings.reconcile_every,
                "kwargs": {"every": settings.reconcile_every},
            },  # fmt: skip
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


def time_limits(run_timeout: int) -> tuple[int, int]:
    """(soft, hard) Celery limits for a run whose spec allows `run_timeout` seconds."""
    soft = run_timeout + 120  # clone, image checks and signing around the sandbox time
    return soft, soft + 60


def enqueue_run(app: Celery, run_id: str, run_timeout: int) -> None:
    soft, hard = time_limits(run_timeout)
    app.send_task(
        RUN_TASK, args=[run_id], queue=RUNS_QUEUE, soft_time_limit=soft, time_limit=hard,
        ignore_result=True,  # nothing to wait for: no subscription to a result that never comes
    )  # fmt: skip


def enqueue_message(app: Celery, message_id: str) -> None:
    """Hand a committed email (acceptance.service.notifications) to a worker."""
    app.send_task(MAIL_TASK, args=[message_id], queue=SERVICE_QUEUE, ignore_result=True)


def enqueue_forge_status(app: Celery, run_id: str) -> None:
    """Have a worker send the commit status a committed run calls for now (acceptance.service.forge)."""
    app.send_task(FORGE_TASK, args=[run_id], queue=SERVICE_QUEUE, ignore_result=True)


def enqueue_event(app: Celery, delivery_id: str) -> None:
    """Have a worker send a committed event delivery (acceptance.service.events) to its endpoint."""
    app.send_task(EVENT_TASK, args=[delivery_id], queue=SERVICE_QUEUE, ignore_result=True)
