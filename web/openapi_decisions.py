"""The OpenAPI paths of decisions on finished runs and of the submission's state (web.decisions)."""

from __future__ import annotations

from typing import Any

from web.openapi_common import DECISIONS, error_responses, json_response, list_of, path_id


def decision_paths() -> dict[str, Any]:
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
                        "decision": {"enum": list(DECISIONS)},
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
                "parameters": [path_id("id")],
                "requestBody": body,
                "responses": {
                    "201": json_response(decision_ref, "recorded, then signed"),
                    **error_responses(400, 401, 403, 404, 409, 422),
                },
            },
            "get": {
                "summary": "The decision in force on a run",
                "parameters": [path_id("id")],
                "responses": {
                    "200": json_response(decision_ref, "the decision"),
                    **error_responses(401, 404),
                },
            },
        },
        "/api/v1/decisions/{id}": {
            "get": {
                "parameters": [path_id("id")],
                "responses": {
                    "200": json_response(decision_ref, "the decision"),
                    **error_responses(401, 404),
                },
            }
        },
        "/api/v1/decisions/{id}/attestation": {
            "get": {
                "summary": "The signed decision (DSSE envelope of an in-toto Statement, "
                "predicate urn:acceptance-service:acceptance-decision:v1)",
                "parameters": [path_id("id")],
                "responses": {
                    "200": json_response({"type": "object"}, "the envelope"),
                    **error_responses(401, 404, 503),
                },
            }
        },
        "/api/v1/decisions/{id}/certificate.pdf": {
            "get": {
                "summary": "The acceptance certificate (PDF, English and French) of an acceptance in "
                "force; 404 for any other decision. Finance users may read it (and nothing else)",
                "parameters": [path_id("id")],
                "responses": {
                    "200": {
                        "description": "the certificate",
                        "content": {
                            "application/pdf": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **error_responses(401, 404, 503),
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
                "parameters": [path_id("id"), path_id("other")],
                "responses": {
                    "200": json_response({"type": "object"}, "the comparison"),
                    **error_responses(401, 404, 409, 422, 503),
                },
            }
        },
        "/api/v1/decisions/{id}/vsa": {
            "get": {
                "summary": "The decision as a signed SLSA Verification Summary Attestation v1 (DSSE envelope, "
                "predicate https://slsa.dev/verification_summary/v1; verificationResult PASSED only for "
                "an acceptance)",
                "parameters": [path_id("id")],
                "responses": {
                    "200": json_response({"type": "object"}, "the envelope"),
                    **error_responses(401, 404, 503),
                },
            }
        },
        "/api/v1/submissions/{id}/decisions": {
            "get": {
                "summary": "Every decision on a submission's runs, newest first",
                "parameters": [path_id("id")],
                "responses": {
                    "200": json_response(list_of(decision_ref), "the decisions"),
                    **error_responses(401, 404),
                },
            }
        },
        "/api/v1/submissions/{id}/withdraw": {
            "post": {
                "summary": "Withdraw (close) a submission: no decision from then on",
                "parameters": [path_id("id")],
                "responses": {
                    "200": json_response({"$ref": "#/components/schemas/Submission"}, "withdrawn"),
                    **error_responses(401, 403, 404, 409),
                },
            }
        },
    }
