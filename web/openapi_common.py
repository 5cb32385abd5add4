"""Pieces every part of the OpenAPI document uses: responses, errors, path ids and closed sets."""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: what each error status means, for every route that answers it (body: `Error`)
ERROR_MEANING = {
    400: "malformed request: a control character or NUL in the URL or a field, or a Host "
    "header links are not built for (ACCEPTANCE_ALLOWED_HOSTS)",
    401: "missing or invalid token or signature",
    403: "not allowed for this role",
    404: "not found (or not visible to this user)",
    409: "conflict",
    410: "the opportunity is closed: it takes no new deliveries",
    413: "body too large",
    414: "a path segment or a query value too long",
    415: "the body's content type is not read (webhooks: only JSON)",
    422: "invalid input; `detail` says what and how to fix it",
    429: "too many runs of this submission within the hour; `Retry-After` says when to retry",
    503: "a dependency (database, broker, artifact store) is unavailable",
}


def error_responses(*codes: int) -> dict[str, Any]:
    return {str(code): json_response(ERROR_REF, ERROR_MEANING[code]) for code in codes}


def path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def list_of(ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": ref},
            "next": {"type": ["string", "null"]},
        },
    }


FORGES = ("github", "gitlab", "gitea")
EVENTS = ("run.finished", "decision.recorded", "submission.state_changed")
FORGE_STATES = ("pending", "success", "failure", "error")
SUBMISSION_STATES = (
    "awaiting_delivery",
    "in_review",
    "changes_requested",
    "accepted",
    "rejected",
    "withdrawn",
)
DECISIONS = ("accepted", "changes_requested", "rejected")
