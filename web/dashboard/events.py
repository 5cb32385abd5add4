"""An opportunity's event endpoints on the dashboard: each endpoint's delivery log and "send again"."""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from acceptance.service.access import Forbidden, can_manage, get_opportunity
from acceptance.service.events.delivery import resend
from acceptance.service.events.endpoints import endpoints_of
from acceptance.service.models import EventDelivery, EventEndpoint
from web.dashboard.auth import signed_in
from web.dashboard.errors import install_error_pages
from web.dashboard.forms import ActionForm

event_endpoints = Blueprint("event_endpoints", __name__)
install_error_pages(event_endpoints)

#: deliveries shown per endpoint (the API's log pages further back)
SHOWN_DELIVERIES = 20
EVENT_LABELS = {
    "run.finished": _l("Run finished"),
    "decision.recorded": _l("Decision recorded"),
    "submission.state_changed": _l("Submission state changed"),
}
DELIVERY_LABELS = {
    "queued": _l("Waiting to be sent"),
    "retrying": _l("Not taken yet: it will be tried again"),
    "delivered": _l("Delivered"),
    "failed": _l("Given up"),
}


def _services() -> Any:
    from web.app import services

    return services()


def _managed_opportunity(opportunity_id: str) -> Any:
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    if not can_manage(g.user, opportunity):
        raise Forbidden("only the opportunity's owner (or an admin) sees its event endpoints")
    return opportunity


@event_endpoints.get("/opportunities/<opportunity_id>/endpoints")
@signed_in
def index(opportunity_id: str) -> Any:
    """The opportunity's endpoints, each with its latest deliveries."""
    opportunity = _managed_opportunity(opportunity_id)
    found = [
        (endpoint, list(g.db.scalars(
            select(EventDelivery).where(EventDelivery.endpoint_id == endpoint.id)
            .order_by(EventDelivery.created_at.desc(), EventDelivery.id.desc()).limit(SHOWN_DELIVERIES)
        )))
        for endpoint in endpoints_of(g.db, opportunity.id)
    ]  # fmt: skip
    return render_template(
        "dashboard/endpoints.html", opportunity=opportunity, endpoints=found, action_form=ActionForm(),
        EVENT_LABELS=EVENT_LABELS, DELIVERY_LABELS=DELIVERY_LABELS,
    )  # fmt: skip


@event_endpoints.post(
    "/opportunities/<opportunity_id>/endpoints/<endpoint_id>/deliveries/<delivery_id>/resend"
)
@signed_in
def send_again(opportunity_id: str, endpoint_id: str, delivery_id: str) -> WerkzeugResponse:
    """Send a delivery again (re-enabling a disabled endpoint), with a day of tries from now."""
    opportunity = _managed_opportunity(
        opportunity_id
    )  # the CSRF token was checked before (web.dashboard)
    endpoint = g.db.get(EventEndpoint, endpoint_id)
    delivery = g.db.get(EventDelivery, delivery_id)
    if endpoint is None or endpoint.opportunity_id != opportunity.id:
        abort(404)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        abort(404)
    endpoint.disabled_at, endpoint.disabled_reason = None, None
    resend(g.db, delivery)
    from workers.celery_app import enqueue_event

    g.after_commit.append(functools.partial(enqueue_event, _services().celery, delivery.id))
    flash(gettext("The event will be sent again."), "info")
    return redirect(url_for("event_endpoints.index", opportunity_id=opportunity.id), code=303)
