"""The OpenAPI document's components: the security scheme and every named schema."""

from __future__ import annotations

from typing import Any

from acceptance.service.audit import Action, Subject
from web.openapi_common import DECISIONS, EVENTS, FORGE_STATES, FORGES, SUBMISSION_STATES

DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "run_id",
        "decision",
        "decided_by",
        "decided_at",
        "report_sha256",
        "attestation_url",
        "override",
    ],  # fmt: skip
    "properties": {
        "id": {"type": "string"},
        "run_id": {"type": "string"},
        "submission_id": {"type": "string"},
        "decision": {"enum": list(DECISIONS)},
        "reason": {"type": ["string", "null"]},
        "override": {
            "type": "boolean",
            "description": "accepts a run whose verdict is rejected or error",
        },
        "decided_by": {"type": "string", "description": "the person's email"},
        "decided_by_id": {"type": "string"},
        "decided_at": {"type": "string"},
        "report_sha256": {
            "type": "string",
            "description": "sha256 of the run's signed report (DSSE envelope)",
        },
        "supersedes": {"type": ["string", "null"]},
        "signed": {"type": "boolean"},
        "attestation_url": {"type": "string"},
        "vsa_url": {"type": "string", "description": "the decision as a signed SLSA VSA v1"},
    },
}


def components() -> dict[str, Any]:
    """`components` of the document: `#/components/schemas/...` as the paths refer to them."""
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "AuditEvent": {
                "type": "object",
                "required": [
                    "id",
                    "at",
                    "actor",
                    "action",
                    "subject_type",
                    "subject_id",
                    "details",
                ],
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
                    "state": {"enum": list(SUBMISSION_STATES)},
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
                    "events": {"type": "array", "items": {"enum": list(EVENTS)}},
                    "secret": {"type": "string", "description": "whsec_...: shown only now"},
                },
            },
            "ForgeInput": {
                "type": "object",
                "required": ["kind"],
                "additionalProperties": False,
                "properties": {
                    "kind": {"enum": list(FORGES)},
                    "token": {
                        "type": "string",
                        "description": "may write commit statuses; stored encrypted",
                    },
                    "api_url": {
                        "type": "string",
                        "description": "default: https://api.github.com (GitHub), <host>/api/v4 "
                        "(GitLab), <host>/api/v1 (Gitea/Forgejo), from repo_url",
                    },
                    "repository": {
                        "type": "string",
                        "description": "owner/name (GitLab: the project path); default: repo_url's path",
                    },
                    "app_id": {
                        "type": "string",
                        "description": "GitHub App instead of a token: check runs",
                    },
                    "installation_id": {"type": "string"},
                    "private_key": {
                        "type": "string",
                        "description": "the App's PEM key; stored encrypted",
                    },
                },
            },
            "Forge": {
                "type": "object",
                "properties": {
                    "kind": {"enum": list(FORGES)},
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
                    "wanted": {"enum": [*FORGE_STATES, None]},
                    "delivered": {"enum": [*FORGE_STATES, None]},
                    "delivered_at": {"type": ["string", "null"]},
                    "state": {"enum": ["queued", "retrying", "delivered", "failed", None]},
                    "attempts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "at": {"type": "string"},
                                "forge": {"enum": list(FORGES)},
                                "state": {"enum": list(FORGE_STATES)},
                                "http_status": {"type": ["integer", "null"]},
                                "ok": {"type": "boolean"},
                                "error": {"type": ["string", "null"]},
                            },
                        },
                    },
                },
            },
            "Decision": DECISION_SCHEMA,
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
                    "decision": {"enum": [*DECISIONS, None]},
                    "decision_id": {"type": ["string", "null"]},
                    "submission_state": {"enum": list(SUBMISSION_STATES)},
                    "accepted_delivery": {"type": "boolean"},
                    "forge_status": {
                        "oneOf": [{"$ref": "#/components/schemas/ForgeStatus"}, {"type": "null"}],
                        "description": "GET /api/v1/runs/{id} only",
                    },
                },
            },
        },
    }
