"""The audit trail in the API: `GET /api/v1/audit`, admins only, newest first."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from acceptance.service.audit import FILTERS, event_to_json, events_query, parse_filter
from acceptance.service.models import AuditEvent, Role
from web.api_auth import authenticated
from web.api_errors import API_ERROR_HANDLERS, ApiError
from web.api_paging import page

audit_api = Blueprint("audit_api", __name__, url_prefix="/api/v1")
for _error, _handler in API_ERROR_HANDLERS.items():
    audit_api.register_error_handler(_error, _handler)


@audit_api.get("/audit")
@authenticated
def list_audit() -> Any:
    """Admins only: who changed what and when (`?action=`, `?actor=`, `?subject=`, `?since=`, paged)."""
    if g.user.role != Role.ADMIN.value:
        raise ApiError(403, "forbidden", "only admins read the audit trail")
    unknown = sorted(set(request.args) - {*FILTERS, "cursor", "limit"})
    if unknown:
        raise ApiError(
            422, "invalid_input",
            f"unknown filter(s): {', '.join(unknown)}; use {', '.join(FILTERS)}, cursor or limit",
        )  # fmt: skip
    query = events_query(parse_filter(request.args))
    items, next_cursor = page(g.db, query, AuditEvent.at, AuditEvent.id)
    return jsonify(items=[event_to_json(e) for e in items], next=next_cursor)
