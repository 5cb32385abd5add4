"""Keyset pagination for the JSON API's lists: newest first, with an opaque cursor."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from flask import g, request
from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from acceptance.service.access import can_read
from acceptance.service.models import Opportunity
from web.api_errors import ApiError

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page(
    session: Session, query: Any, time_column: Any, id_column: Any
) -> tuple[list[Any], str | None]:
    """Keyset pagination, newest first: `{items, next}` with an opaque cursor."""
    try:
        limit = min(MAX_PAGE_SIZE, max(1, int(request.args.get("limit", PAGE_SIZE))))
    except ValueError:
        raise ApiError(422, "invalid_input", "limit: a whole number is required") from None
    cursor = request.args.get("cursor")
    if cursor:
        moment, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(time_column < moment, and_(time_column == moment, id_column < last_id))
        )
    rows = list(
        session.scalars(query.order_by(time_column.desc(), id_column.desc()).limit(limit + 1))
    )
    visible = [r for r in rows if not isinstance(r, Opportunity) or can_read(g.user, r)]
    if len(rows) <= limit:
        return visible, None
    last = rows[limit - 1]
    return visible[:limit], _encode_cursor(
        getattr(last, time_column.key), getattr(last, id_column.key)
    )


def _encode_cursor(moment: dt.datetime, last_id: str) -> str:
    raw = json.dumps([moment.isoformat(), last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, last_id = json.loads(raw)
        return dt.datetime.fromisoformat(moment), str(last_id)
    except (ValueError, TypeError) as exc:
        raise ApiError(422, "invalid_input", "cursor: not a cursor this API gave out") from exc
