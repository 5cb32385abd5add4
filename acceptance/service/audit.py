"""The audit trail: who changed what and when, recorded in the transaction that makes the change.

`record` only adds a row to the caller's session, so the change and its record
commit together or not at all. The table is append-only (migration 0005's
trigger refuses UPDATE and DELETE); nothing here edits or removes a row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from acceptance.errors import UserInputError
from acceptance.service.models import AuditEvent, User, utcnow


class Action(str, Enum):
    """What was done: a closed set, so the log can be filtered and read in any language."""

    SPEC_PUBLISHED = "spec.published"
    OPPORTUNITY_CLOSED = "opportunity.closed"
    SUBMISSION_REGISTERED = "submission.registered"
    SUBMISSION_WITHDRAWN = "submission.withdrawn"
    RUN_REQUESTED = "run.requested"
    DECISION_RECORDED = "decision.recorded"
    USER_CREATED = "user.created"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    SESSION_SIGNED_OUT = "session.signed_out"


class Subject(str, Enum):
    """The kind of record an action changed."""

    OPPORTUNITY = "opportunity"
    SUBMISSION = "submission"
    RUN = "run"
    DECISION = "decision"
    USER = "user"
    TOKEN = "token"


@dataclass(frozen=True)
class Actor:
    """Who acted: a person (their id and email) or a named part of the service."""

    name: str
    user_id: str | None = None

    @classmethod
    def person(cls, user: User) -> Actor:
        return cls(name=user.email, user_id=user.id)


#: an administrator at the server's command line (`acceptance users ...`, `acceptance tokens ...`)
CLI = Actor("cli")
#: a forge's push delivery
WEBHOOK = Actor("webhook")
#: the service itself (and code that names no one)
SYSTEM = Actor("system")


def record(
    session: Session,
    actor: Actor | User,
    action: Action,
    subject: Subject,
    subject_id: str,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the caller's transaction: it commits with the change, or not at all."""
    who = Actor.person(actor) if isinstance(actor, User) else actor
    event = AuditEvent(
        at=utcnow(),
        actor_user_id=who.user_id,
        actor=who.name,
        action=Action(action).value,
        subject_type=Subject(subject).value,
        subject_id=subject_id,
        details=dict(details or {}),
    )
    session.add(event)
    return event


# ---------------------------------------------------------------- reading

#: the query string's filters of `GET /api/v1/audit`, `/audit` and `acceptance audit list`
FILTERS = ("action", "actor", "subject", "since")


@dataclass(frozen=True)
class AuditFilter:
    """Which events to read; empty fields filter nothing."""

    action: str | None = None
    #: an email, a named actor (`cli`, `webhook`, `system`) or a user id
    actor: str | None = None
    #: a record's id, or `type:id` (`submission:…`)
    subject: str | None = None
    since: dt.datetime | None = None


def parse_filter(values: Mapping[str, str | None]) -> AuditFilter:
    """Check the filters a person typed; UserInputError says which one is wrong and how to fix it."""
    action = (values.get("action") or "").strip() or None
    if action is not None and action not in {a.value for a in Action}:
        raise UserInputError(
            f"action: {action!r} is not an audited action",
            hint="use one of " + ", ".join(a.value for a in Action),
        )
    subject = (values.get("subject") or "").strip() or None
    if subject is not None and ":" in subject:
        kind = subject.split(":", 1)[0]
        if kind not in {s.value for s in Subject}:
            raise UserInputError(
                f"subject: {kind!r} is not a kind of record",
                hint="give an id, or type:id with type one of "
                + ", ".join(s.value for s in Subject),
            )
    return AuditFilter(
        action=action,
        actor=(values.get("actor") or "").strip().lower() or None,
        subject=subject,
        since=_parse_since(values.get("since")),
    )


_OFFSET_AFTER_SPACE = re.compile(r"(?<=\d) (\d\d:?\d\d)$")


def _parse_since(text: str | None) -> dt.datetime | None:
    if text is None or not text.strip():
        return None
    # An unencoded `+01:00` in a query string arrives as ` 01:00`: read it as meant.
    cleaned = _OFFSET_AFTER_SPACE.sub(r"+\1", text.strip()).replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        raise UserInputError(
            f"since: {text!r} is not a date",
            hint="write an ISO 8601 date or time, such as 2026-12-01 or 2026-12-01T09:30:00Z",
        ) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def events_query(wanted: AuditFilter) -> Select[AuditEvent]:
    """The events matching `wanted`, unordered (callers page them newest first)."""
    query = select(AuditEvent)
    if wanted.action is not None:
        query = query.where(AuditEvent.action == wanted.action)
    if wanted.actor is not None:
        query = query.where(
            or_(AuditEvent.actor == wanted.actor, AuditEvent.actor_user_id == wanted.actor)
        )
    if wanted.subject is not None:
        kind, _, subject_id = wanted.subject.rpartition(":")
        query = query.where(AuditEvent.subject_id == subject_id)
        if kind:
            query = query.where(AuditEvent.subject_type == kind)
    if wanted.since is not None:
        query = query.where(AuditEvent.at >= wanted.since)
    return query


def event_to_json(event: AuditEvent) -> dict[str, Any]:
    """An event as the API and `acceptance audit list --json` show it."""
    return {
        "id": event.id,
        "at": event.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "actor": event.actor,
        "actor_user_id": event.actor_user_id,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "details": event.details,
    }


def latest_events(session: Session, wanted: AuditFilter, limit: int) -> list[AuditEvent]:
    """The newest `limit` events matching `wanted`, newest first."""
    query = events_query(wanted).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(query))
