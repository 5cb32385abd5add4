"""Input no route can use, refused before any route runs: one guard instead of a check per handler.

Ids, tokens and filters from the URL go straight into database look-ups, and
PostgreSQL refuses NUL in text: a `%00` in a path or a query string, or a
`\\u0000` (or a lone surrogate) in a JSON or form field, would fail in the
query and answer 500. No id, token or filter is kilobytes long either. So the
guard answers 400 (a control character, NUL, a lone surrogate, nesting too
deep) or 414 (a path segment or a query value too long) before routing goes
further, with the API's JSON error or, for a browser, the dashboard's page.

Webhook bodies are left to `web.webhooks`, which reads them field by field
after checking their signature and size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from flask import Flask, Response, jsonify, make_response, request

from web.dashboard.errors import bad_address_page, bad_form_page
from web.dashboard.supplier import wants_html

#: longer than any id, token, language code or artifact name the routes take
MAX_SEGMENT_CHARS = 256
#: longer than any filter value, cursor or `next` link the pages give out
MAX_QUERY_VALUE_CHARS = 2048
#: more than any page asks for (the live views send one `id` per run shown)
MAX_QUERY_PARAMETERS = 1000
#: JSON objects and arrays nested deeper than this are refused (no API body nests beyond 3)
MAX_JSON_DEPTH = 64

#: C0 controls and DEL: never part of a path or a query value the routes accept
_URL_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
#: what PostgreSQL cannot store in text (NUL) and no encoder accepts (lone surrogates)
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
#: routes answered in JSON whatever the client accepts
_MACHINE_PREFIXES = ("/api/", "/hooks/", "/metrics", "/healthz", "/readyz")


class Part(str, Enum):
    """Which part of the request is refused: its address or its content."""

    ADDRESS = "address"
    CONTENT = "content"


@dataclass(frozen=True)
class Refusal:
    status: int
    error: str
    detail: str
    part: Part


def init_app(app: Flask) -> None:
    """Check every request before the app's other hooks and its routes see it."""
    app.before_request_funcs.setdefault(None, []).insert(0, _guard)


def _guard() -> Response | None:
    refusal = address_problem(request.path, list(request.args.items(multi=True)))
    if refusal is None and request.blueprint != "hooks":
        refusal = content_problem()
    return None if refusal is None else _answer(refusal)


def address_problem(path: str, query: list[tuple[str, str]]) -> Refusal | None:
    """Why the (decoded) path or query cannot name anything here, or None."""
    if _URL_CONTROLS.search(path):
        return _bad_address("the path contains a control character (such as NUL)")
    if any(len(segment) > MAX_SEGMENT_CHARS for segment in path.split("/")):
        return Refusal(
            414, "uri_too_long", f"a path segment is longer than {MAX_SEGMENT_CHARS} characters",
            Part.ADDRESS,
        )  # fmt: skip
    if len(query) > MAX_QUERY_PARAMETERS:
        return _bad_address(f"more than {MAX_QUERY_PARAMETERS} query parameters")
    for name, value in query:
        shown = repr(name[:40])
        if _URL_CONTROLS.search(name) or _URL_CONTROLS.search(value):
            return _bad_address(
                f"query parameter {shown} contains a control character (such as NUL)"
            )
        if len(name) > MAX_QUERY_VALUE_CHARS or len(value) > MAX_QUERY_VALUE_CHARS:
            return Refusal(
                414, "uri_too_long",
                f"query parameter {shown} is longer than {MAX_QUERY_VALUE_CHARS} characters",
                Part.ADDRESS,
            )  # fmt: skip
    return None


def content_problem() -> Refusal | None:
    """Why a form or JSON body holds text no route can store, or None."""
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # Uploaded files are bytes, not text: only the text fields are checked.
        for name, value in request.form.items(multi=True):
            if _UNSTORABLE.search(name) or _UNSTORABLE.search(value):
                return _bad_content(
                    f"form field {name[:40]!r} contains NUL or an unpaired surrogate"
                )
        return None
    if not request.is_json:
        return None
    try:
        body = request.get_json(silent=True)  # cached: the route reads the same object
    except RecursionError:
        return _bad_content("the JSON body is nested too deeply")
    return json_problem(body)


def json_problem(document: Any) -> Refusal | None:
    """Why a parsed JSON document holds text no route can store, or nests too deeply; or None."""
    pending: list[tuple[Any, str, int]] = [(document, "$", 0)]
    while pending:
        value, where, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return _bad_content(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return _bad_content(f"{where[:80]} contains NUL or an unpaired surrogate")
        elif isinstance(value, dict):
            for key, item in value.items():
                if _UNSTORABLE.search(key):
                    return _bad_content(
                        f"a key in {where[:80]} contains NUL or an unpaired surrogate"
                    )
                pending.append((item, f"{where}.{key}", depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
    return None


def _bad_address(detail: str) -> Refusal:
    return Refusal(400, "bad_request", detail, Part.ADDRESS)


def _bad_content(detail: str) -> Refusal:
    return Refusal(400, "bad_request", detail, Part.CONTENT)


def _answer(refusal: Refusal) -> Response:
    if _wants_page():
        page = bad_address_page if refusal.part is Part.ADDRESS else bad_form_page
        return make_response(page(refusal.status))
    response = jsonify(error=refusal.error, detail=refusal.detail)
    response.status_code = refusal.status
    return response


def _wants_page() -> bool:
    return not request.path.startswith(_MACHINE_PREFIXES) and wants_html()
