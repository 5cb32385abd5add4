"""Recording an event for each subscribed endpoint, and sending it signed, retrying for a day.

Each event is kept per endpoint as an `EventDelivery` with the exact body sent, then
handed (after commit) to the worker's event task. Every attempt signs the body anew
with the current time (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`), so a receiver's
freshness check passes on a retry, while `webhook-id` stays the same for its
deduplication. A receiver that does not answer 2xx is tried again with a backoff for
up to a day (`GIVE_UP_AFTER`); then the delivery fails, and an endpoint with no
successful delivery for a day is disabled. Nothing here touches the run or the
decision the event is about.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from acceptance.engine.source_policy import check_endpoint
from acceptance.errors import PlatformError, UserInputError
from acceptance.service.db import Database
from acceptance.service.decisions import SubmissionState, submission_state
from acceptance.service.events import payloads
from acceptance.service.events.endpoints import DECISION_RECORDED, RUN_FINISHED, STATE_CHANGED
from acceptance.service.models import (
    Decision,
    EventDelivery,
    EventEndpoint,
    Run,
    Submission,
    utcnow,
)
from acceptance.service.secretbox import SecretBox
from acceptance.settings import Settings

log = logging.getLogger(__name__)

#: a delivery not taken within this long fails; an endpoint with no success in it is disabled
GIVE_UP_AFTER = dt.timedelta(hours=24)
#: seconds to connect to an endpoint and for its answer
EVENT_TIMEOUT = 10.0
_MAX_ERROR = 1000


class DeliveryState:
    QUEUED, RETRYING, DELIVERED, FAILED = "queued", "retrying", "delivered", "failed"


@dataclass(frozen=True)
class Attempt:
    state: str
    retry: bool = False
    #: the endpoint this attempt disabled (its owner is told by email)
    disabled_endpoint: str | None = None


def message_id(delivery: EventDelivery) -> str:
    """The delivery's `webhook-id`: the same on every attempt."""
    return f"msg_{delivery.id}"


class EventPublisher:
    """Records an event for each enabled endpoint that wants it, then hands the deliveries to `send`."""

    def __init__(self, db: Database, send: Callable[[str], None]) -> None:
        self.db = db
        self.send = send

    def run_finished(
        self, run_id: str, before: SubmissionState | None, base: str | None
    ) -> list[str]:
        def compose(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
            run = session.get(Run, run_id)
            if run is None:
                return []
            made = [(run.submission.opportunity_id, RUN_FINISHED, payloads.run_finished(run, base))]
            return made + _state_event(session, run.submission, before)

        return self._record(RUN_FINISHED, run_id, compose)

    def decision_recorded(
        self, decision_id: str, before: SubmissionState | None, base: str | None
    ) -> list[str]:
        def compose(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
            decision = session.get(Decision, decision_id)
            if decision is None:
                return []
            submission = decision.submission
            made = [
                (
                    submission.opportunity_id,
                    DECISION_RECORDED,
                    payloads.decision_recorded(decision, base),
                )
            ]
            return made + _state_event(session, submission, before)

        return self._record(DECISION_RECORDED, decision_id, compose)

    def state_changed(self, submission_id: str, before: SubmissionState | None) -> list[str]:
        def compose(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
            submission = session.get(Submission, submission_id)
            return _state_event(session, submission, before) if submission is not None else []

        return self._record(STATE_CHANGED, submission_id, compose)

    def _record(
        self,
        event: str,
        about: str,
        compose: Callable[[Session], list[tuple[str, str, dict[str, Any]]]],
    ) -> list[str]:
        """Keep one delivery per (event, endpoint that wants it); never raises (the event happened)."""
        try:
            with self.db.session() as session:
                made: list[EventDelivery] = []
                now = utcnow()
                for opportunity_id, name, data in compose(session):
                    for endpoint in _subscribed(session, opportunity_id, name):
                        made.append(EventDelivery(endpoint_id=endpoint.id, event=name,
                                                  body=payloads.body(name, data, now), created_at=now))  # fmt: skip
                session.add_all(made)
                session.flush()
                ids = [d.id for d in made]
        except Exception:  # noqa: BLE001 - an event must never undo or fail what it reports
            log.exception("event_not_recorded", extra={"event": event, "about": about})
            return []
        for delivery_id in ids:
            try:
                self.send(delivery_id)
            except Exception:  # noqa: BLE001 - the broker may be down: the row says `queued`
                log.warning("event_not_enqueued", extra={"delivery": delivery_id}, exc_info=True)
        return ids


def _state_event(
    session: Session, submission: Submission, before: SubmissionState | None
) -> list[tuple[str, str, dict[str, Any]]]:
    after = submission_state(session, submission).state
    if before is None or before == after:
        return []
    data = payloads.state_changed(submission, before.value, after.value)
    return [(submission.opportunity_id, STATE_CHANGED, data)]


def _subscribed(session: Session, opportunity_id: str, event: str) -> list[EventEndpoint]:
    found = session.scalars(
        select(EventEndpoint).where(
            EventEndpoint.opportunity_id == opportunity_id, EventEndpoint.disabled_at.is_(None)
        )
    )
    return [e for e in found if event in (e.events or [])]


def deliver(
    db: Database,
    settings: Settings,
    box: SecretBox,
    delivery_id: str,
    *,
    timeout: float = EVENT_TIMEOUT,
) -> Attempt:
    """Send delivery `delivery_id` once, signed now, and record how it went."""
    with db.session() as session:
        delivery = session.scalar(
            select(EventDelivery)
            .where(EventDelivery.id == delivery_id)
            .with_for_update(skip_locked=True)
        )
        if delivery is None:  # gone, or another worker is sending it right now
            return Attempt("missing")
        if delivery.state in (DeliveryState.DELIVERED, DeliveryState.FAILED):
            return Attempt(delivery.state)
        endpoint = session.get(EventEndpoint, delivery.endpoint_id)
        assert endpoint is not None  # the foreign key cascades
        if endpoint.disabled_at is not None:
            delivery.state, delivery.last_error = DeliveryState.FAILED, "the endpoint is disabled"
            return Attempt(delivery.state)
        now = utcnow()
        delivery.attempts += 1
        delivery.last_attempt_at = now
        status: int | None = None
        try:
            check_endpoint(endpoint.url, settings.git_allowed_hosts, "url")
            secret = box.open(endpoint.secret_encrypted)
            status = _post(endpoint.url, message_id(delivery), now, delivery.body, secret, timeout)
        except (
            UserInputError,
            PlatformError,
        ) as exc:  # not allowed any more, or no key: no retry helps
            delivery.state, delivery.last_error = DeliveryState.FAILED, exc.message[:_MAX_ERROR]
            return Attempt(delivery.state)
        except requests.RequestException as exc:
            problem: str | None = f"{type(exc).__name__}: {exc}"
        else:
            problem = None if 200 <= status < 300 else f"the endpoint answered {status}"
        delivery.last_status = status
        if problem is None:
            delivery.state, delivery.delivered_at, delivery.last_error = (
                DeliveryState.DELIVERED,
                now,
                None,
            )
            log.info("event_delivered", extra={"delivery": delivery.id, "event": delivery.event})
            return Attempt(delivery.state)
        delivery.last_error = problem[:_MAX_ERROR]
        if now - delivery.created_at < GIVE_UP_AFTER:
            delivery.state = DeliveryState.RETRYING
            log.warning("event_not_delivered", extra={"delivery": delivery.id, "why": problem})
            return Attempt(delivery.state, retry=True)
        delivery.state = DeliveryState.FAILED
        disabled = _disable_if_failing(session, endpoint, now)
        return Attempt(delivery.state, disabled_endpoint=endpoint.id if disabled else None)


def _post(url: str, msg_id: str, at: dt.datetime, body: str, secret: str, timeout: float) -> int:
    signature = Webhook(secret).sign(msg_id, at, body)
    response = requests.post(
        url, data=body.encode(), timeout=timeout, allow_redirects=False,  # never sent on elsewhere
        headers={
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature,
        },
    )  # fmt: skip
    return response.status_code


def _disable_if_failing(session: Session, endpoint: EventEndpoint, now: dt.datetime) -> bool:
    """Disable an endpoint that took no delivery for a day (it was tried all along)."""
    recent_success = session.scalar(
        select(EventDelivery.id)
        .where(
            EventDelivery.endpoint_id == endpoint.id,
            EventDelivery.delivered_at >= now - GIVE_UP_AFTER,
        )
        .limit(1)
    )
    if recent_success is not None:
        return False
    endpoint.disabled_at = now
    endpoint.disabled_reason = "no delivery succeeded for a day"
    log.warning("event_endpoint_disabled", extra={"endpoint": endpoint.id})
    return True


def resend(session: Session, delivery: EventDelivery) -> None:
    """Queue a delivery again from now (a day of tries anew); the caller hands it to the task."""
    delivery.state, delivery.attempts, delivery.created_at = DeliveryState.QUEUED, 0, utcnow()


def delivery_json(delivery: EventDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": message_id(delivery),
        "event": delivery.event,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": payloads._iso(delivery.created_at),
        "last_attempt_at": payloads._iso(delivery.last_attempt_at),
        "delivered_at": payloads._iso(delivery.delivered_at),
    }
