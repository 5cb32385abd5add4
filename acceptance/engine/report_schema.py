"""The report predicate's JSON Schema (draft 2020-12), from the report's own closed sets.

The predicate (``urn:acceptance-service:acceptance-report:v1``) is still built as a
mapping by ``acceptance.engine.report``; until it is a typed model this schema is written
by hand, with its closed sets taken from the engine (verdicts, check statuses, reason
codes, spec fields, limits): tests/test_schemas.py validates real predicates against it,
so a key the report gains without the schema fails there. Each check's own details
(test counts, findings...) stay open: the check, not the report, owns them.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from acceptance.engine import report, spec
from acceptance.engine.runtime_choice import SOURCE_DETECTED, SOURCE_SPEC, SUPPORTED_RUNTIMES
from acceptance.reasons import REASONS
from checks.interface import CheckId, CheckStatus

SCHEMA_ID = report.PREDICATE_TYPE + ":schema"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

Schema = dict[str, Any]

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
# git object ids: sha1 (40) or sha256 (64) repositories
_GIT_ID = {"type": "string", "pattern": "^[0-9a-f]{40}([0-9a-f]{24})?$"}
_TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$",
}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_NULLABLE_STRING = {"type": ["string", "null"]}
_LIMIT_TYPES: dict[str, Any] = {
    "cpus": {"type": "number", "exclusiveMinimum": 0},
    **{
        name: {"type": "integer", "minimum": 1}
        for name in ("memory", "pids", "timeout", "disk", "output")
    },
}


def predicate_schema() -> Schema:
    """The JSON Schema of the report's predicate (the in-toto Statement's ``predicate``)."""
    properties: Schema = {
        "verdict": {
            "description": "accepted only when every enabled check passed; error when the "
            "platform could not judge",
            "enum": _closed(report.Verdict),
        },
        "reasons": {**_STRINGS, "description": "why the run was not accepted, one per reason"},
        "reason_codes": {
            "description": "the stable codes of `reasons`, each once (docs/reason-codes.md)",
            "type": "array",
            "uniqueItems": True,
            "items": {"enum": sorted(REASONS)},
        },
        "spec": _spec(),
        "source": {
            "description": "what was judged",
            "type": "object",
            "required": ["url", "ref", "commit"],
            "properties": {
                "url": {"type": "string"},
                "ref": _NULLABLE_STRING,
                "commit": {"anyOf": [_GIT_ID, {"type": "null"}]},
                "tree": {**_GIT_ID, "description": "the commit's tree id"},
            },
            "additionalProperties": False,
        },
        "started": _TIMESTAMP,
        "finished": _TIMESTAMP,
        "environment": _environment(),
        "limits": _limits(),
        "install": _install(),
        "stages": {
            "description": "the run's steps in order, with their wall-clock seconds",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "seconds", "status"],
                "properties": {
                    "name": {"type": "string"},
                    "seconds": {"type": "number", "minimum": 0},
                    "status": {"enum": ["ok", "failed"]},
                },
                "additionalProperties": False,
            },
        },
        "runtime": {
            "description": "the runtime that judged the delivery (absent when the run ended "
            "before the checkout)",
            "enum": [r.value for r in SUPPORTED_RUNTIMES],
        },
        "runtime_source": {
            "description": "how the runtime was chosen: named by the spec, or detected from "
            "the repository's files",
            "enum": [SOURCE_SPEC, SOURCE_DETECTED],
        },
        "checks": _checks(),
        "not_checked": {
            "description": "the checks that did not run: turned off, or stopped by an earlier "
            "failure; never counted as passed",
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "reason", "status"],
                "properties": {
                    "id": {"type": "string"},
                    "reason": {"type": "string"},
                    "status": {"enum": [CheckStatus.SKIPPED.value, CheckStatus.NOT_RUN.value]},
                },
                "additionalProperties": False,
            },
        },
        "artifacts": {
            "description": "each file the checks produced, by name: the signature covers them",
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["sha256", "size"],
                "properties": {"sha256": _SHA256, "size": {"type": "integer", "minimum": 0}},
                "additionalProperties": False,
            },
        },
        "run": _run(),
        "reused_from": {
            "description": "the run whose evidence this report re-signs for a commit of the "
            "same tree, that run's commit and the sha256 of its signed report",
            "type": "object",
            "required": ["run_id", "commit", "report_sha256"],
            "properties": {
                "run_id": {"type": "string"},
                "commit": {"anyOf": [_GIT_ID, {"type": "null"}]},
                "report_sha256": _SHA256,
            },
            "additionalProperties": False,
        },
    }
    optional = {"run", "reused_from", "runtime", "runtime_source"}
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "Acceptance report predicate",
        "description": f"The predicate of an in-toto Statement v1 whose predicateType is "
        f"{report.PREDICATE_TYPE}: the verdict on one delivery and its evidence.",
        "type": "object",
        "required": [key for key in properties if key not in optional],
        "properties": properties,
        "additionalProperties": False,
    }


def _spec() -> Schema:
    return {
        "description": "the spec the delivery was judged by, pinned by its hashes; empty when "
        "no spec could be read",
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "version": {"enum": sorted(spec.SUPPORTED_VERSIONS)},
            "sha256": {**_SHA256, "description": "sha256 of the spec's canonical JSON form"},
            "hidden_tests_sha256": {
                "anyOf": [_SHA256, {"type": "null"}],
                "description": "tree hash of the hidden tests folder",
            },
            "hidden_feedback": {"enum": list(spec.HIDDEN_FEEDBACK_LEVELS)},
            "hidden_tests_expected": {
                "type": "integer",
                "minimum": 0,
                "description": "how many hidden tests the spec's folder holds",
            },
            "hidden_test_ids": {
                **_STRINGS,
                "description": "the hidden tests' node ids (without parameters): a run must "
                "report each of them and no other",
            },
        },
        "additionalProperties": False,
    }


def _environment() -> Schema:
    return {
        "description": "what judged: the engine, the sandbox image, its tools",
        "type": "object",
        "properties": {
            "engine": {"type": "string"},
            "image": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "tag": _NULLABLE_STRING},
            },
            "runtime": _NULLABLE_STRING,
            "tools": {"type": "object", "additionalProperties": {"type": "string"}},
            "python_version": _NULLABLE_STRING,
            "dependency_cache": {"type": "object"},
        },
    }


def _limits() -> Schema:
    """The sandbox limits the run had: the spec's ``limits`` and the functional step's."""
    # Every field of the spec's Limits (a new one without an entry here is a KeyError).
    properties: Schema = {
        item.name: _LIMIT_TYPES[item.name] for item in dataclasses.fields(spec.Limits)
    }
    properties.update(
        functional_timeout={"type": "integer", "minimum": 1},
        test_timeout={"type": ["integer", "null"], "minimum": 1},
        reruns={"type": "integer", "minimum": 0, "maximum": spec.MAX_RERUNS},
    )
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _install() -> Schema:
    return {
        "description": "what the engine installed, and why",
        "type": "object",
        "properties": {
            "requirements": _STRINGS,
            "build_requirements": _STRINGS,
            "local_projects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "extras", "editable"],
                    "properties": {
                        "path": {"type": "string"},
                        "extras": _STRINGS,
                        "editable": {"type": "boolean"},
                    },
                    "additionalProperties": False,
                },
            },
            "evidence": _STRINGS,
            "metadata_from_sandbox": {"type": "boolean"},
        },
        "additionalProperties": False,
    }


def _checks() -> Schema:
    return {
        "description": "every check, in the registry's order; each carries its own details "
        "besides these fields",
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "kind", "status", "summary"],
            "properties": {
                "id": {"type": "string", "examples": _closed(CheckId)},
                "kind": {"type": "string"},
                "status": {"enum": _closed(CheckStatus)},
                "summary": {"type": "string"},
                "reason_code": {"enum": sorted(REASONS)},
            },
        },
    }


def _run() -> Schema:
    return {
        "description": "the service's run: absent from a report made by `acceptance check`",
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "opportunity": {"type": "string"},
            "submission": {"type": "string"},
            "supplier": {"type": "string"},
            "spec_version": {"type": "integer", "minimum": 1},
            "trigger": {"type": "string"},
            "delivery_id": _NULLABLE_STRING,
            "supersedes": _NULLABLE_STRING,
            "attempt": {"type": "integer", "minimum": 0},
        },
    }


def _closed(closed: type) -> list[str]:
    """The values of a closed set: a str enum, or a class of string constants."""
    if isinstance(closed, type) and issubclass(closed, enum.Enum):
        return [str(member.value) for member in closed]
    return [value for name, value in vars(closed).items() if name.isupper()]
