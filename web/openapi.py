"""The OpenAPI 3.1 document of API v1, kept beside the routes it describes."""

from __future__ import annotations

from typing import Any

from acceptance.engine.schemas import MEDIA_TYPE, SCHEMAS
from acceptance.service.audit import Action, Subject

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: what each error status means, for every route that answers it (body: `Error`)
_MEANING = {
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


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json(_ERROR, _MEANING[code]) for code in codes}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def list_of(ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": ref}, "next": {"type": ["string", "null"]}},
    }


def document(base_url: str) -> dict[str, Any]:
    run_ref = {"$ref": "#/components/schemas/Run"}
    opportunity_ref = {"$ref": "#/components/schemas/Opportunity"}
    upload = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {"type": "string", "format": "binary", "description": "acceptance spec (YAML)"},
                        "hidden_tests": {
                            "type": "string",
                            "format": "binary",
                            "description": "tar.gz or zip of the hidden tests folder the spec names",
                        },
                        "keep_hidden_tests": {
                            "type": "string",
                            "enum": ["true", "false"],
                            "description": "new spec versions only: `true` keeps the previous "
                            "version's hidden tests (send no `hidden_tests` then)",
                        },
                    },
                }
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "acceptance", "version": "1"},
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/opportunities": {
                "post": {
                    "summary": "Publish an opportunity with its acceptance spec",
                    "requestBody": upload,
                    "responses": {"201": _json(opportunity_ref, "created"), **_errors(401, 403, 413, 422)},
                },
                "get": {
                    "summary": "List opportunities",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 200}},
                    ],
                    "responses": {"200": _json(list_of(opportunity_ref), "a page"), **_errors(401, 422)},
                },
            },
            "/api/v1/opportunities/{id}": {
                "get": {
                    "parameters": [_path_id("id")],
                    "responses": {"200": _json(opportunity_ref, "the opportunity"), **_errors(401, 404)},
                }
            },
            "/api/v1/opportunities/{id}/specs": {
                "post": {
                    "summary": "Publish a new spec version; earlier runs keep theirs",
                    "parameters": [_path_id("id")],
                    "requestBody": upload,
                    "responses": {"201": _json(opportunity_ref, "created"), **_errors(401, 403, 404, 409, 422)},
                }
            },
            "/api/v1/opportunities/{id}/close": {
                "post": {
                    "summary": "Close the opportunity (owner or admin): no new submission, run or "
                    "spec version from then on (409 `conflict`); webhooks answer 410; runs and "
                    "decisions stay readable; recorded in the audit trail",
                    "parameters": [_path_id("id")],
                    "responses": {
                        "200": _json(opportunity_ref, "the opportunity, with closed_at"),
                        **_errors(401, 403, 404, 409),
                    },
                }
            },
            "/api/v1/opportunities/{id}/submissions": {
                "post": {
                    "summary": "Register a supplier's repository",
                    "parameters": [_path_id("id")],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["repo_url", "supplier"],
                                    "properties": {
                                        "repo_url": {"type": "string"},
                                        "supplier": {"type": "string"},
                                        "branch": {"type": "string"},
                                        "forge": {"$ref": "#/components/schemas/ForgeInput"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            {"$ref": "#/components/schemas/NewSubmission"},
                            "created; webhook_secret is shown only now",
                        ),
                        **_errors(400, 401, 403, 404, 409, 422),
                    },
                }
            },
            "/api/v1/opportunities/{id}/specs/{version}": {
                "get": {
                    "summary": "One published spec version, as its owner uploaded it",
                    "parameters": [
                        _path_id("id"),
                        {"name": "version", "in": "path", "required": True,
                         "schema": {"type": "integer", "minimum": 1}},
                    ],  # fmt: skip
                    "responses": {
                        "200": {
                            "description": "the spec (YAML)",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 404),
                    },
                }
            },
            "/api/v1/submissions/{id}": {
                "get": {
                    "summary": "A submission with its webhook and status links (never its secret)",
                    "parameters": [_path_id("id")],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Submission"}, "the submission"),
                        **_errors(400, 401, 404),
                    },
                }
            },
            "/api/v1/opportunities/{id}/endpoints": {
                "post": {
                    "summary": "Add an event endpoint: its URL receives the opportunity's events signed "
                    "per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature); the "
                    "secret (whsec_...) is shown only now",
                    "parameters": [_path_id("id")],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["url", "events"],
                            "properties": {
                                "url": {"type": "string"},
                                "events": {"type": "array", "minItems": 1, "items": {"enum": list(_EVENTS)}},
                            },
                        }}},
                    },  # fmt: skip
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/NewEventEndpoint"}, "created"),
                        **_errors(400, 401, 403, 404, 422),
                    },
                },
                "get": {
                    "summary": "The opportunity's event endpoints (never their secrets)",
                    "parameters": [_path_id("id")],
                    "responses": {
                        "200": _json({"type": "object"}, "{items: [endpoint]}"),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/api/v1/endpoints/{id}": {
                "delete": {
                    "summary": "Remove an event endpoint and its delivery log",
                    "parameters": [_path_id("id")],
                    "responses": {"204": {"description": "removed"}, **_errors(401, 403, 404)},
                }
            },
            "/api/v1/endpoints/{id}/deliveries": {
                "get": {
                    "summary": "The endpoint's delivery log, newest first: event, state (queued, "
                    "retrying, delivered, failed), attempts, last HTTP status and error",
                    "parameters": [
                        _path_id("id"),
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    ],  # fmt: skip
                    "responses": {
                        "200": _json({"type": "object"}, "{endpoint, items: [delivery]}"),
                        **_errors(401, 403, 404, 422),
                    },
                }
            },
            "/api/v1/endpoints/{id}/deliveries/{delivery_id}/resend": {
                "post": {
                    "summary": "Send a delivery again (same webhook-id, signed anew; re-enables a "
                    "disabled endpoint)",
                    "parameters": [_path_id("id"), _path_id("delivery_id")],
                    "responses": {"202": _json({"type": "object"}, "queued"), **_errors(401, 403, 404)},
                }
            },
            "/api/v1/submissions/{id}/forge": {
                "put": {
                    "summary": "Set where the submission's runs send commit statuses (GitHub, GitLab, "
                    "Gitea/Forgejo); the token is stored encrypted and never shown again",
                    "parameters": [_path_id("id")],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ForgeInput"}}},
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Submission"}, "the submission"),
                        **_errors(400, 401, 403, 404, 422),
                    },
                },
                "delete": {
                    "summary": "Stop sending commit statuses for the submission (its token is deleted)",
                    "parameters": [_path_id("id")],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Submission"}, "the submission"),
                        **_errors(401, 403, 404),
                    },
                },
            },
            "/api/v1/submissions/{id}/runs": {
                "post": {
                    "summary": "Start a run (or a re-run) of a submission",
                    "parameters": [_path_id("id")],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"ref": {"type": "string"}}}
                            }
                        }
                    },
                    "responses": {"201": _json(run_ref, "queued"), **_errors(400, 401, 403, 404, 409, 422)},
                }
            },
            "/api/v1/runs": {
                "get": {
                    "summary": "List runs, newest first",
                    "parameters": [
                        {"name": name, "in": "query", "schema": {"type": "string"}}
                        for name in ("opportunity", "submission", "supplier", "verdict", "status", "cursor")
                    ]
                    + [{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 200}}],
                    "responses": {"200": _json(list_of(run_ref), "a page"), **_errors(401, 422)},
                }
            },
            "/api/v1/runs.csv": {
                "get": {
                    "summary": "The runs and every decision on them as CSV, with the runs list's "
                    "filters, all pages (at most 10,000 runs; 422 too_many_runs beyond); cells that "
                    "would start a formula are prefixed with a quote",
                    "parameters": [
                        {"name": name, "in": "query", "schema": {"type": "string"}}
                        for name in ("opportunity", "submission", "supplier", "verdict", "status")
                    ],
                    "responses": {
                        "200": {"description": "the CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/api/v1/runs/{id}": {
                "get": {
                    "parameters": [_path_id("id")],
                    "responses": {"200": _json(run_ref, "the run"), **_errors(401, 404)},
                }
            },
            "/api/v1/runs/{id}/report": {
                "get": {
                    "summary": "The signed report (DSSE envelope of an in-toto Statement)",
                    "parameters": [_path_id("id")],
                    "responses": {"200": _json({"type": "object"}, "the envelope"), **_errors(401, 404)},
                }
            },
            "/api/v1/runs/{id}/artifacts/{name}": {
                "get": {
                    "summary": "A file a check produced (JUnit XML, SARIF, SBOM, logs...), as an attachment",
                    "description": "`name` is a key of the run's `artifacts` and may contain `/` "
                    "(e.g. `logs/functional.log`). The report's predicate holds each file's sha256.",
                    "parameters": [
                        _path_id("id"),
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "the file's bytes",
                            "content": {
                                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                                "application/json": {"schema": {}},
                                "text/plain": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(401, 404, 503),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "the OpenAPI document")},
                }
            },
            "/api/v1/schemas/{name}.json": {
                "get": {
                    "summary": "A JSON Schema (draft 2020-12): the acceptance spec's (editors: "
                    "`# yaml-language-server: $schema=<this URL>`) or the report predicate's",
                    "security": [],
                    "parameters": [
                        {"name": "name", "in": "path", "required": True,
                         "schema": {"type": "string", "enum": list(SCHEMAS)}},
                    ],  # fmt: skip
                    "responses": {
                        "200": {
                            "description": "the schema; cacheable, with an ETag",
                            "content": {MEDIA_TYPE: {"schema": {"type": "object"}}},
                        },
                        "304": {"description": "not modified (If-None-Match)"},
                        **_errors(404),
                    },
                }
            },
            "/api/v1/keys": {
                "get": {
                    "summary": "Public keys that sign reports",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "keys with their key ids")},
                }
            },
            **_decision_paths(),
            "/api/v1/messages": {
                "get": {
                    "summary": "Admins only: the service's emails, newest first, with their "
                    "delivery state (queued, retrying, sent, failed), attempts and last error",
                    "parameters": [
                        {"name": "state", "in": "query",
                         "schema": {"type": "string", "enum": ["queued", "retrying", "sent", "failed"]}},
                        {"name": "submission", "in": "query", "schema": {"type": "string"}},
                        {"name": "run", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    ],  # fmt: skip
                    "responses": {
                        "200": _json({"type": "object"}, "{items: [message]}"),
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/api/v1/audit": {
                "get": {
                    "summary": "Admins only: the audit trail, newest first: who (a person's email "
                    "and id, or cli, webhook, system) did what (the action) to which record, when; "
                    "append-only, recorded in the same transaction as the change",
                    "parameters": [
                        {"name": "action", "in": "query",
                         "schema": {"type": "string", "enum": [a.value for a in Action]}},
                        {"name": "actor", "in": "query", "schema": {"type": "string"},
                         "description": "an email, a user id, or cli, webhook, system"},
                        {"name": "subject", "in": "query", "schema": {"type": "string"},
                         "description": "a record's id, or type:id (opportunity, submission, run, "
                                        "decision, user, token)"},
                        {"name": "since", "in": "query", "schema": {"type": "string"},
                         "description": "ISO 8601 date or time (UTC unless it says)"},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    ],  # fmt: skip
                    "responses": {
                        "200": _json(list_of({"$ref": "#/components/schemas/AuditEvent"}), "a page of events"),
                        **_errors(401, 403, 422),
                    },
                }
            },
            "/hooks/{submission_id}": {
                "post": {
                    "summary": "Webhook intake (GitHub, Gitea/Forgejo, GitLab, generic HMAC)",
                    "security": [],
                    "parameters": [_path_id("submission_id")],
                    "responses": {
                        "200": _json({"type": "object"}, "ping answered"),
                        "202": _json(
                            {"type": "object"},
                            "recorded: {run_id, duplicate}; a delivery seen before, or another "
                            "delivery of a commit already run (or queued) against the current spec "
                            "version, answers the existing run with duplicate true and a reason; "
                            "{run_id: null, reason} when the push starts no run",
                        ),
                        "429": {
                            **_json(_ERROR, _MEANING[429]),
                            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
                        },
                        **_errors(400, 401, 404, 410, 413, 415, 422),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "AuditEvent": {
                    "type": "object",
                    "required": ["id", "at", "actor", "action", "subject_type", "subject_id", "details"],
                    "properties": {
                        "id": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                        "actor": {"type": "string", "description": "an email, or cli, webhook, system"},
                        "actor_user_id": {"type": ["string", "null"]},
                        "action": {"type": "string", "enum": [a.value for a in Action]},
                        "subject_type": {"type": "string", "enum": [s.value for s in Subject]},
                        "subject_id": {"type": "string"},
                        "details": {"type": "object"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {"error": {"type": "string"}, "detail": {}},
                },
                "Opportunity": {
                    "type": "object",
                    "required": ["id", "title", "spec_sha256"],
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "spec_sha256": {"type": "string"},
                        "spec_version": {"type": "integer"},
                        "closed_at": {"type": ["string", "null"], "description": "set once closed"},
                        "specs": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Submission": {
                    "type": "object",
                    "required": ["id", "webhook_url", "status_url"],
                    "properties": {
                        "id": {"type": "string"},
                        "opportunity": {"type": "string"},
                        "supplier": {"type": "string"},
                        "repo_url": {"type": "string"},
                        "branch": {"type": ["string", "null"]},
                        "webhook_url": {"type": "string"},
                        "status_url": {"type": "string"},
                        "created_at": {"type": "string"},
                        "state": {"enum": list(_STATES)},
                        "accepted_run_id": {"type": ["string", "null"]},
                        "withdrawn_at": {"type": ["string", "null"]},
                        "forge": {
                            "oneOf": [{"$ref": "#/components/schemas/Forge"}, {"type": "null"}],
                            "description": "where runs' commit statuses go; never the token",
                        },
                    },
                },
                "NewEventEndpoint": {
                    "type": "object",
                    "required": ["id", "url", "events", "secret"],
                    "properties": {
                        "id": {"type": "string"},
                        "url": {"type": "string"},
                        "events": {"type": "array", "items": {"enum": list(_EVENTS)}},
                        "secret": {"type": "string", "description": "whsec_...: shown only now"},
                    },
                },
                "ForgeInput": {
                    "type": "object",
                    "required": ["kind"],
                    "additionalProperties": False,
                    "properties": {
                        "kind": {"enum": list(_FORGES)},
                        "token": {"type": "string", "description": "may write commit statuses; stored encrypted"},
                        "api_url": {
                            "type": "string",
                            "description": "default: https://api.github.com (GitHub), <host>/api/v4 "
                            "(GitLab), <host>/api/v1 (Gitea/Forgejo), from repo_url",
                        },
                        "repository": {
                            "type": "string",
                            "description": "owner/name (GitLab: the project path); default: repo_url's path",
                        },
                        "app_id": {"type": "string", "description": "GitHub App instead of a token: check runs"},
                        "installation_id": {"type": "string"},
                        "private_key": {"type": "string", "description": "the App's PEM key; stored encrypted"},
                    },
                },
                "Forge": {
                    "type": "object",
                    "properties": {
                        "kind": {"enum": list(_FORGES)},
                        "api_url": {"type": "string"},
                        "repository": {"type": "string"},
                        "token_set": {"type": "boolean"},
                        "app_id": {"type": ["string", "null"]},
                        "installation_id": {"type": ["string", "null"]},
                    },
                },
                "ForgeStatus": {
                    "type": "object",
                    "description": "the run's commit status on its submission's forge, and every attempt",
                    "properties": {
                        "wanted": {"enum": [*_FORGE_STATES, None]},
                        "delivered": {"enum": [*_FORGE_STATES, None]},
                        "delivered_at": {"type": ["string", "null"]},
                        "state": {"enum": ["queued", "retrying", "delivered", "failed", None]},
                        "attempts": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "at": {"type": "string"},
                                    "forge": {"enum": list(_FORGES)},
                                    "state": {"enum": list(_FORGE_STATES)},
                                    "http_status": {"type": ["integer", "null"]},
                                    "ok": {"type": "boolean"},
                                    "error": {"type": ["string", "null"]},
                                },
                            },
                        },
                    },
                },
                "Decision": _DECISION,
                "NewSubmission": {
                    "type": "object",
                    "required": ["id", "webhook_url", "webhook_secret", "status_url"],
                    "properties": {
                        "id": {"type": "string"},
                        "webhook_url": {"type": "string"},
                        "webhook_secret": {"type": "string"},
                        "status_url": {"type": "string"},
                    },
                },
                "Run": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"enum": ["queued", "running", "finished", "error"]},
                        "verdict": {"type": ["string", "null"]},
                        "commit": {"type": ["string", "null"]},
                        "tree": {"type": ["string", "null"], "description": "the commit's tree id"},
                        "reused_from": {
                            "type": ["string", "null"],
                            "description": "the run whose evidence this run's report re-signs for "
                            "its commit (same tree, same inputs); null when judged by this run",
                        },
                        "spec_sha256": {"type": "string"},
                        "queued_at": {"type": "string"},
                        "started_at": {"type": ["string", "null"]},
                        "finished_at": {"type": ["string", "null"]},
                        "report_url": {"type": ["string", "null"]},
                        "decision": {"enum": [*_DECISIONS, None]},
                        "decision_id": {"type": ["string", "null"]},
                        "submission_state": {"enum": list(_STATES)},
                        "accepted_delivery": {"type": "boolean"},
                        "forge_status": {
                            "oneOf": [{"$ref": "#/components/schemas/ForgeStatus"}, {"type": "null"}],
                            "description": "GET /api/v1/runs/{id} only",
                        },
                    },
                },
            },
        },
    }


_FORGES = ("github", "gitlab", "gitea")
_EVENTS = ("run.finished", "decision.recorded", "submission.state_changed")
_FORGE_STATES = ("pending", "success", "failure", "error")
_STATES = ("awaiting_delivery", "in_review", "changes_requested", "accepted", "rejected", "withdrawn")
_DECISIONS = ("accepted", "changes_requested", "rejected")
_DECISION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "run_id", "decision", "decided_by", "decided_at", "report_sha256",
                 "attestation_url", "override"],  # fmt: skip
    "properties": {
        "id": {"type": "string"},
        "run_id": {"type": "string"},
        "submission_id": {"type": "string"},
        "decision": {"enum": list(_DECISIONS)},
        "reason": {"type": ["string", "null"]},
        "override": {"type": "boolean", "description": "accepts a run whose verdict is rejected or error"},
        "decided_by": {"type": "string", "description": "the person's email"},
        "decided_by_id": {"type": "string"},
        "decided_at": {"type": "string"},
        "report_sha256": {"type": "string", "description": "sha256 of the run's signed report (DSSE envelope)"},
        "supersedes": {"type": ["string", "null"]},
        "signed": {"type": "boolean"},
        "attestation_url": {"type": "string"},
        "vsa_url": {"type": "string", "description": "the decision as a signed SLSA VSA v1"},
    },
}


def _decision_paths() -> dict[str, Any]:
    """Decisions on finished runs and the submission's state (web.decisions)."""
    decision_ref = {"$ref": "#/components/schemas/Decision"}
    body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["decision"],
                    "properties": {
                        "decision": {"enum": list(_DECISIONS)},
                        "reason": {
                            "type": "string",
                            "description": "required unless accepting a run whose verdict is accepted; "
                            "at least 20 characters to accept a rejected or error verdict (an override)",
                        },
                    },
                }
            }
        },
    }
    return {
        "/api/v1/runs/{id}/decision": {
            "post": {
                "summary": "Record the owner's decision on a finished run (a later one supersedes it)",
                "parameters": [_path_id("id")],
                "requestBody": body,
                "responses": {"201": _json(decision_ref, "recorded, then signed"), **_errors(400, 401, 403, 404, 409, 422)},
            },
            "get": {
                "summary": "The decision in force on a run",
                "parameters": [_path_id("id")],
                "responses": {"200": _json(decision_ref, "the decision"), **_errors(401, 404)},
            },
        },
        "/api/v1/decisions/{id}": {
            "get": {
                "parameters": [_path_id("id")],
                "responses": {"200": _json(decision_ref, "the decision"), **_errors(401, 404)},
            }
        },
        "/api/v1/decisions/{id}/attestation": {
            "get": {
                "summary": "The signed decision (DSSE envelope of an in-toto Statement, "
                "predicate urn:acceptance-service:acceptance-decision:v1)",
                "parameters": [_path_id("id")],
                "responses": {"200": _json({"type": "object"}, "the envelope"), **_errors(401, 404, 503)},
            }
        },
        "/api/v1/decisions/{id}/certificate.pdf": {
            "get": {
                "summary": "The acceptance certificate (PDF, English and French) of an acceptance in "
                "force; 404 for any other decision. Finance users may read it (and nothing else)",
                "parameters": [_path_id("id")],
                "responses": {
                    "200": {"description": "the certificate", "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                    **_errors(401, 404, 503),
                },
            }
        },
        "/api/v1/runs/{id}/compare/{other}": {
            "get": {
                "summary": "What changed in run {id} since run {other} (same opportunity, usually the same "
                "submission): verdict, check statuses, tests newly failing / newly passing / added / "
                "removed, SAST findings new and fixed, vulnerabilities new and fixed, licence changes",
                "description": "Tests by id (the hidden tests by id for the opportunity's owner and "
                "admins, as counts for reviewers); SAST findings by rule, file and a line-independent "
                "fingerprint; vulnerabilities by package, version and advisory id. 422 when the runs "
                "belong to different opportunities, 409 when one has no report yet.",
                "parameters": [_path_id("id"), _path_id("other")],
                "responses": {
                    "200": _json({"type": "object"}, "the comparison"),
                    **_errors(401, 404, 409, 422, 503),
                },
            }
        },
        "/api/v1/decisions/{id}/vsa": {
            "get": {
                "summary": "The decision as a signed SLSA Verification Summary Attestation v1 (DSSE envelope, "
                "predicate https://slsa.dev/verification_summary/v1; verificationResult PASSED only for "
                "an acceptance)",
                "parameters": [_path_id("id")],
                "responses": {"200": _json({"type": "object"}, "the envelope"), **_errors(401, 404, 503)},
            }
        },
        "/api/v1/submissions/{id}/decisions": {
            "get": {
                "summary": "Every decision on a submission's runs, newest first",
                "parameters": [_path_id("id")],
                "responses": {"200": _json(list_of(decision_ref), "the decisions"), **_errors(401, 404)},
            }
        },
        "/api/v1/submissions/{id}/withdraw": {
            "post": {
                "summary": "Withdraw (close) a submission: no decision from then on",
                "parameters": [_path_id("id")],
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Submission"}, "withdrawn"),
                    **_errors(401, 403, 404, 409),
                },
            }
        },
    }
