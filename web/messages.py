"""Emails in the web process: handing events to the notifier, and the admins' list of messages.

The web process composes the emails of decisions and withdrawals (it knows the
request's host for links) and leaves their delivery to the workers' mail task.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from acceptance.service.decisions import SubmissionState
from acceptance.service.events.delivery import EventPublisher
from acceptance.service.models import Message, MessageState, Role
from acceptance.service.notifications import Notifier
from web.api_auth import authenticated
from web.api_errors import API_ERROR_HANDLERS, ApiError

messages_api = Blueprint("messages_api", __name__, url_prefix="/api/v1")
for _error, _handler in API_ERROR_HANDLERS.items():
    messages_api.register_error_handler(_error, _handler)

MAX_LIMIT = 200
STATES = tuple(state.value for state in MessageState)


def notifier() -> Notifier:
    from web.app import services
    from workers.celery_app import enqueue_message

    found = services()
    return Notifier(found.settings, found.db, functools.partial(enqueue_message, found.celery))


def publisher() -> EventPublisher:
    from web.app import services
    from workers.celery_app import enqueue_event

    found = services()
    return EventPublisher(found.db, functools.partial(enqueue_event, found.celery))


def after_decision(decision_id: str, before: SubmissionState | None, base: str) -> None:
    """Once the decision is committed: its emails and the owner's events (never raises)."""
    notifier().decision_recorded(decision_id, before, base)
    publisher().decision_recorded(decision_id, before, base)


def after_state_change(submission_id: str, before: SubmissionState | None, base: str) -> None:
    """Once a change of state no run or decision caused is committed (a withdrawal): emails, events."""
    notifier().state_changed(submission_id, before, base)
    publisher().state_changed(submission_id, before)


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "event": message.event,
        "audience": message.audience,
        "recipient": message.recipient,
        "language": message.language,
        "subject": message.subject,
        "submission_id": message.submission_id,
        "run_id": message.run_id,
        "decision_id": message.decision_id,
        "state": message.state,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "created_at": _iso(message.created_at),
        "last_attempt_at": _iso(message.last_attempt_at),
        "sent_at": _iso(message.sent_at),
    }


@messages_api.get("/messages")
@authenticated
def list_messages() -> Any:
    """Admins only: the newest emails first, with their delivery state (`?state=`, `?limit=`)."""
    if g.user.role != Role.ADMIN.value:
        raise ApiError(403, "forbidden", "only admins read the service's emails")
    query = select(Message).order_by(Message.created_at.desc(), Message.id.desc())
    state = request.args.get("state")
    if state:
        if state not in STATES:
            raise ApiError(422, "invalid_input", f"state: one of {', '.join(STATES)}")
        query = query.where(Message.state == state)
    for name in ("submission", "run"):
        value = request.args.get(name)
        if value:
            column = Message.submission_id if name == "submission" else Message.run_id
            query = query.where(column == value)
    raw = request.args.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(422, "invalid_input", f"limit: a whole number from 1 to {MAX_LIMIT}")
    return jsonify(items=[message_json(m) for m in g.db.scalars(query.limit(int(raw)))])


def _iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
