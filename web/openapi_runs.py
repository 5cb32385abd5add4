"""The OpenAPI paths of runs: starting one, listing them, a run, its report and artifacts."""

from __future__ import annotations

from typing import Any

from web.openapi_common import error_responses, json_response, list_of, path_id


def run_paths() -> dict[str, Any]:
    """Runs of submissions (web.api's run routes), in the document's order."""
    run_ref = {"$ref": "#/components/schemas/Run"}
    return {
        "/api/v1/submissions/{id}/runs": {
            "post": {
                "summary": "Start a run (or a re-run) of a submission",
                "parameters": [path_id("id")],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"ref": {"type": "string"}},
                            }
                        }
                    }
                },
                "responses": {
                    "201": json_response(run_ref, "queued"),
                    **error_responses(400, 401, 403, 404, 409, 422),
                },
            }
        },
        "/api/v1/runs": {
            "get": {
                "summary": "List runs, newest first",
                "parameters": [
                    {"name": name, "in": "query", "schema": {"type": "string"}}
                    for name in (
                        "opportunity",
                        "submission",
                        "supplier",
                        "verdict",
                        "status",
                        "cursor",
                    )
                ]
                + [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "maximum": 200},
                    }
                ],
                "responses": {
                    "200": json_response(list_of(run_ref), "a page"),
                    **error_responses(401, 422),
                },
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
                    "200": {
                        "description": "the CSV",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **error_responses(401, 403, 422),
                },
            }
        },
        "/api/v1/runs/{id}": {
            "get": {
                "parameters": [path_id("id")],
                "responses": {
                    "200": json_response(run_ref, "the run"),
                    **error_responses(401, 404),
                },
            }
        },
        "/api/v1/runs/{id}/report": {
            "get": {
                "summary": "The signed report (DSSE envelope of an in-toto Statement)",
                "parameters": [path_id("id")],
                "responses": {
                    "200": json_response({"type": "object"}, "the envelope"),
                    **error_responses(401, 404),
                },
            }
        },
        "/api/v1/runs/{id}/artifacts/{name}": {
            "get": {
                "summary": "A file a check produced (JUnit XML, SARIF, SBOM, logs...), as an attachment",
                "description": "`name` is a key of the run's `artifacts` and may contain `/` "
                "(e.g. `logs/functional.log`). The report's predicate holds each file's sha256.",
                "parameters": [
                    path_id("id"),
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the file's bytes",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                            "application/json": {"schema": {}},
                            "text/plain": {"schema": {"type": "string"}},
                        },
                    },
                    **error_responses(401, 404, 503),
                },
            }
        },
    }
