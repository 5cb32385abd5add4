"""An opportunity's event endpoints: registered with a secret shown once, listed, removed."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from acceptance.engine.source_policy import check_endpoint
from acceptance.errors import UserInputError
from acceptance.service.models import EventEndpoint, Opportunity, User
from acceptance.service.secretbox import SecretBox

RUN_FINISHED, DECISION_RECORDED, STATE_CHANGED = (
    "run.finished", "decision.recorded", "submission.state_changed",
)  # fmt: skip
EVENTS = (RUN_FINISHED, DECISION_RECORDED, STATE_CHANGED)
#: Standard Webhooks' secret prefix; the rest is base64 of the key's bytes
SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32
MAX_ENDPOINTS = 20
_MAX_URL = 2000


def new_secret() -> str:
    """A signing secret as Standard Webhooks' libraries take it: `whsec_` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def check_events(value: object) -> list[str]:
    """The event types asked for: a non-empty list of known ones, each once, in EVENTS' order."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UserInputError(
            f"events: a non-empty list of event types is required ({', '.join(EVENTS)})"
        )
    unknown = sorted(set(value) - set(EVENTS))
    if unknown:
        raise UserInputError(
            f"events: unknown {', '.join(unknown)}; the types are {', '.join(EVENTS)}"
        )
    return [e for e in EVENTS if e in value]


def create_endpoint(
    session: Session, user: User, opportunity: Opportunity, *, url: object, events: object,
    box: SecretBox, allowed_hosts: frozenset[str] | None,
) -> tuple[EventEndpoint, str]:  # fmt: skip
    """Register `url` for `events` of the opportunity; returns the endpoint and its secret (shown once)."""
    if not isinstance(url, str) or not url.strip() or len(url) > _MAX_URL:
        raise UserInputError(f"url: an https:// URL of at most {_MAX_URL} characters is required")
    url = url.strip()
    check_endpoint(url, allowed_hosts, "url")
    chosen = check_events(events)
    if len(endpoints_of(session, opportunity.id)) >= MAX_ENDPOINTS:
        raise UserInputError(
            f"an opportunity has at most {MAX_ENDPOINTS} endpoints",
            hint="remove one you no longer use",
        )
    secret = new_secret()
    endpoint = EventEndpoint(
        opportunity_id=opportunity.id, url=url, events=chosen, secret_encrypted=box.seal(secret),
        created_by=user.id,
    )  # fmt: skip
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def endpoints_of(session: Session, opportunity_id: str) -> Sequence[EventEndpoint]:
    return session.scalars(
        select(EventEndpoint)
        .where(EventEndpoint.opportunity_id == opportunity_id)
        .order_by(EventEndpoint.created_at)
    ).all()


def endpoint_json(endpoint: EventEndpoint) -> dict[str, Any]:
    """An endpoint as the API shows it: never its secret."""
    return {
        "id": endpoint.id,
        "opportunity": endpoint.opportunity_id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "created_at": _iso(endpoint.created_at),
        "disabled_at": _iso(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
    }


def _iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None
