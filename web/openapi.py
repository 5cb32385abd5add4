"""The OpenAPI 3.1 document of API v1, kept beside the routes it describes."""

from __future__ import annotations

from typing import Any

from acceptance.engine.schemas import MEDIA_TYPE, SCHEMAS
from acceptance.service.audit import Action
from web.openapi_common import (
    ERROR_MEANING,
    ERROR_REF,
    EVENTS,
    error_responses,
    json_response,
    list_of,
    path_id,
)
from web.openapi_components import components
from web.openapi_decisions import decision_paths
from web.openapi_runs import run_paths


def document(base_url: str) -> dict[str, Any]:
    opportunity_ref = {"$ref": "#/components/schemas/Opportunity"}
    upload = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "spec": {
                            "type": "string",
                            "format": "binary",
                            "description": "acceptance spec (YAML)",
                        },
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
                    "responses": {
                        "201": json_response(opportunity_ref, "created"),
                        **error_responses(401, 403, 413, 422),
                    },
                },
                "get": {
                    "summary": "List opportunities",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "maximum": 200},
                        },
                    ],
                    "responses": {
                        "200": json_response(list_of(opportunity_ref), "a page"),
                        **error_responses(401, 422),
                    },
                },
            },
            "/api/v1/opportunities/{id}": {
                "get": {
                    "parameters": [path_id("id")],
                    "responses": {
                        "200": json_response(opportunity_ref, "the opportunity"),
                        **error_responses(401, 404),
                    },
                }
            },
            "/api/v1/opportunities/{id}/specs": {
                "post": {
                    "summary": "Publish a new spec version; earlier runs keep theirs",
                    "parameters": [path_id("id")],
                    "requestBody": upload,
                    "responses": {
                        "201": json_response(opportunity_ref, "created"),
                        **error_responses(401, 403, 404, 409, 422),
                    },
                }
            },
            "/api/v1/opportunities/{id}/close": {
                "post": {
                    "summary": "Close the opportunity (owner or admin): no new submission, run or "
                    "spec version from then on (409 `conflict`); webhooks answer 410; runs and "
                    "decisions stay readable; recorded in the audit trail",
                    "parameters": [path_id("id")],
                    "responses": {
                        "200": json_response(opportunity_ref, "the opportunity, with closed_at"),
                        **error_responses(401, 403, 404, 409),
                    },
                }
            },
            "/api/v1/opportunities/{id}/submissions": {
                "post": {
                    "summary": "Register a supplier's repository",
                    "parameters": [path_id("id")],
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
                        "201": json_response(
                            {"$ref": "#/components/schemas/NewSubmission"},
                            "created; webhook_secret is shown only now",
                        ),
                        **error_responses(400, 401, 403, 404, 409, 422),
                    },
                }
            },
            "/api/v1/opportunities/{id}/specs/{version}": {
                "get": {
                    "summary": "One published spec version, as its owner uploaded it",
                    "parameters": [
                        path_id("id"),
                        {
                            "name": "version",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1},
                        },
                    ],  # fmt: skip
                    "responses": {
                        "200": {
                            "description": "the spec (YAML)",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **error_responses(401, 404),
                    },
                }
            },
            "/api/v1/submissions/{id}": {
                "get": {
                    "summary": "A submission with its webhook and status links (never its secret)",
                    "parameters": [path_id("id")],
                    "responses": {
                        "200": json_response(
                            {"$ref": "#/components/schemas/Submission"}, "the submission"
                        ),
                        **error_responses(400, 401, 404),
                    },
                }
            },
            "/api/v1/opportunities/{id}/endpoints": {
                "post": {
                    "summary": "Add an event endpoint: its URL receives the opportunity's events signed "
                    "per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature); the "
                    "secret (whsec_...) is shown only now",
                    "parameters": [path_id("id")],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["url", "events"],
                                    "properties": {
                                        "url": {"type": "string"},
                                        "events": {
                                            "type": "array",
                                            "minItems": 1,
                                            "items": {"enum": list(EVENTS)},
                                        },
                                    },
                                }
                            }
                        },
                    },  # fmt: skip
                    "responses": {
                        "201": json_response(
                            {"$ref": "#/components/schemas/NewEventEndpoint"}, "created"
                        ),
                        **error_responses(400, 401, 403, 404, 422),
                    },
                },
                "get": {
                    "summary": "The opportunity's event endpoints (never their secrets)",
                    "parameters": [path_id("id")],
                    "responses": {
                        "200": json_response({"type": "object"}, "{items: [endpoint]}"),
                        **error_responses(401, 403, 404),
                    },
                },
            },
            "/api/v1/endpoints/{id}": {
                "delete": {
                    "summary": "Remove an event endpoint and its delivery log",
                    "parameters": [path_id("id")],
                    "responses": {
                        "204": {"description": "removed"},
                        **error_responses(401, 403, 404),
                    },
                }
            },
            "/api/v1/endpoints/{id}/deliveries": {
                "get": {
                    "summary": "The endpoint's delivery log, newest first: event, state (queued, "
                    "retrying, delivered, failed), attempts, last HTTP status and error",
                    "parameters": [
                        path_id("id"),
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                    ],  # fmt: skip
                    "responses": {
                        "200": json_response({"type": "object"}, "{endpoint, items: [delivery]}"),
                        **error_responses(401, 403, 404, 422),
                    },
                }
            },
            "/api/v1/endpoints/{id}/deliveries/{delivery_id}/resend": {
                "post": {
                    "summary": "Send a delivery again (same webhook-id, signed anew; re-enables a "
                    "disabled endpoint)",
                    "parameters": [path_id("id"), path_id("delivery_id")],
                    "responses": {
                        "202": json_response({"type": "object"}, "queued"),
                        **error_responses(401, 403, 404),
                    },
                }
            },
            "/api/v1/submissions/{id}/forge": {
                "put": {
                    "summary": "Set where the submission's runs send commit statuses (GitHub, GitLab, "
                    "Gitea/Forgejo); the token is stored encrypted and never shown again",
                    "parameters": [path_id("id")],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ForgeInput"}
                            }
                        },
                    },
                    "responses": {
                        "200": json_response(
                            {"$ref": "#/components/schemas/Submission"}, "the submission"
                        ),
                        **error_responses(400, 401, 403, 404, 422),
                    },
                },
                "delete": {
                    "summary": "Stop sending commit statuses for the submission (its token is deleted)",
                    "parameters": [path_id("id")],
                    "responses": {
                        "200": json_response(
                            {"$ref": "#/components/schemas/Submission"}, "the submission"
                        ),
                        **error_responses(401, 403, 404),
                    },
                },
            },
            **run_paths(),
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": json_response({"type": "object"}, "the OpenAPI document")},
                }
            },
            "/api/v1/schemas/{name}.json": {
                "get": {
                    "summary": "A JSON Schema (draft 2020-12): the acceptance spec's (editors: "
                    "`# yaml-language-server: $schema=<this URL>`) or the report predicate's",
                    "security": [],
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(SCHEMAS)},
                        },
                    ],  # fmt: skip
                    "responses": {
                        "200": {
                            "description": "the schema; cacheable, with an ETag",
                            "content": {MEDIA_TYPE: {"schema": {"type": "object"}}},
                        },
                        "304": {"description": "not modified (If-None-Match)"},
                        **error_responses(404),
                    },
                }
            },
            "/api/v1/keys": {
                "get": {
                    "summary": "Public keys that sign reports",
                    "security": [],
                    "responses": {
                        "200": json_response({"type": "object"}, "keys with their key ids")
                    },
                }
            },
            **decision_paths(),
            "/api/v1/messages": {
                "get": {
                    "summary": "Admins only: the service's emails, newest first, with their "
                    "delivery state (queued, retrying, sent, failed), attempts and last error",
                    "parameters": [
                        {
                            "name": "state",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["queued", "retrying", "sent", "failed"],
                            },
                        },
                        {"name": "submission", "in": "query", "schema": {"type": "string"}},
                        {"name": "run", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                    ],  # fmt: skip
                    "responses": {
                        "200": json_response({"type": "object"}, "{items: [message]}"),
                        **error_responses(401, 403, 422),
                    },
                }
            },
            "/api/v1/audit": {
                "get": {
                    "summary": "Admins only: the audit trail, newest first: who (a person's email "
                    "and id, or cli, webhook, system) did what (the action) to which record, when; "
                    "append-only, recorded in the same transaction as the change",
                    "parameters": [
                        {
                            "name": "action",
                            "in": "query",
                            "schema": {"type": "string", "enum": [a.value for a in Action]},
                        },
                        {
                            "name": "actor",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "an email, a user id, or cli, webhook, system",
                        },
                        {
                            "name": "subject",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "a record's id, or type:id (opportunity, submission, run, "
                            "decision, user, token)",
                        },
                        {
                            "name": "since",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "ISO 8601 date or time (UTC unless it says)",
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                    ],  # fmt: skip
                    "responses": {
                        "200": json_response(
                            list_of({"$ref": "#/components/schemas/AuditEvent"}), "a page of events"
                        ),
                        **error_responses(401, 403, 422),
                    },
                }
            },
            "/hooks/{submission_id}": {
                "post": {
                    "summary": "Webhook intake (GitHub, Gitea/Forgejo, GitLab, generic HMAC)",
                    "security": [],
                    "parameters": [path_id("submission_id")],
                    "responses": {
                        "200": json_response({"type": "object"}, "ping answered"),
                        "202": json_response(
                            {"type": "object"},
                            "recorded: {run_id, duplicate}; a delivery seen before, or another "
                            "delivery of a commit already run (or queued) against the current spec "
                            "version, answers the existing run with duplicate true and a reason; "
                            "{run_id: null, reason} when the push starts no run",
                        ),
                        "429": {
                            **json_response(ERROR_REF, ERROR_MEANING[429]),
                            "headers": {
                                "Retry-After": {
                                    "schema": {"type": "integer"},
                                    "description": "seconds",
                                }
                            },
                        },
                        **error_responses(400, 401, 404, 410, 413, 415, 422),
                    },
                }
            },
        },
        "components": components(),
    }
