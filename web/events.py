"""An opportunity's event endpoints (signed per Standard Webhooks) and their delivery log."""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from acceptance.service.access import Forbidden, NotFound, can_manage, get_opportunity
from acceptance.service.events.delivery import delivery_json, resend
from acceptance.service.events.endpoints import create_endpoint, endpoint_json, endpoints_of
from acceptance.service.models import EventDelivery, EventEndpoint, Opportunity
from web.api_auth import authenticated
from web.api_errors import API_ERROR_HANDLERS, ApiError

events_api = Blueprint("events_api", __name__, url_prefix="/api/v1")
for _error, _handler in API_ERROR_HANDLERS.items():
    events_api.register_error_handler(_error, _handler)

#: deliveries one page of the log shows
MAX_LIMIT = 200


def _services() -> Any:
    from web.app import services

    return services()


def _managed(opportunity: Opportunity) -> Opportunity:
    if not can_manage(g.user, opportunity):
        raise Forbidden("only the opportunity's owner (or an admin) manages its event endpoints")
    return opportunity


def _endpoint(endpoint_id: str) -> EventEndpoint:
    endpoint: EventEndpoint | None = g.db.get(EventEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no event endpoint {endpoint_id}")
    _managed(get_opportunity(g.db, g.user, endpoint.opportunity_id))
    return endpoint


@events_api.post("/opportunities/<opportunity_id>/endpoints")
@authenticated
def add_endpoint(opportunity_id: str) -> Any:
    """`{url, events}` → 201 with the signing secret, shown this once."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            400, "invalid_json", 'send {"url": "https://...", "events": ["run.finished"]}'
        )
    opportunity = _managed(get_opportunity(g.db, g.user, opportunity_id))
    found = _services()
    endpoint, secret = create_endpoint(
        g.db, g.user, opportunity, url=body.get("url"), events=body.get("events"),
        box=found.box, allowed_hosts=found.settings.git_allowed_hosts,
    )  # fmt: skip
    return jsonify({**endpoint_json(endpoint), "secret": secret}), 201


@events_api.get("/opportunities/<opportunity_id>/endpoints")
@authenticated
def list_endpoints(opportunity_id: str) -> Any:
    opportunity = _managed(get_opportunity(g.db, g.user, opportunity_id))
    return jsonify(items=[endpoint_json(e) for e in endpoints_of(g.db, opportunity.id)])


@events_api.delete("/endpoints/<endpoint_id>")
@authenticated
def remove_endpoint(endpoint_id: str) -> Any:
    g.db.delete(_endpoint(endpoint_id))
    return "", 204


@events_api.get("/endpoints/<endpoint_id>/deliveries")
@authenticated
def list_deliveries(endpoint_id: str) -> Any:
    """The endpoint's delivery log, newest first (`?limit=`, at most 200)."""
    endpoint = _endpoint(endpoint_id)
    try:
        limit = min(MAX_LIMIT, max(1, int(request.args.get("limit", 50))))
    except ValueError:
        raise ApiError(422, "invalid_input", "limit: a whole number from 1 to 200") from None
    found = g.db.scalars(
        select(EventDelivery)
        .where(EventDelivery.endpoint_id == endpoint.id)
        .order_by(EventDelivery.created_at.desc(), EventDelivery.id.desc())
        .limit(limit)
    )
    return jsonify(endpoint=endpoint_json(endpoint), items=[delivery_json(d) for d in found])


@events_api.post("/endpoints/<endpoint_id>/deliveries/<delivery_id>/resend")
@authenticated
def resend_delivery(endpoint_id: str, delivery_id: str) -> Any:
    """Send a delivery again (the same `webhook-id`, signed anew), with a day of tries from now."""
    endpoint = _endpoint(endpoint_id)
    delivery = g.db.get(EventDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound(f"no delivery {delivery_id} to this endpoint")
    if endpoint.disabled_at is not None:
        endpoint.disabled_at, endpoint.disabled_reason = None, None  # sending again re-enables it
    resend(g.db, delivery)
    from workers.celery_app import enqueue_event

    g.after_commit.append(functools.partial(enqueue_event, _services().celery, delivery.id))
    return jsonify(delivery_json(delivery)), 202
