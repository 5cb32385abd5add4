"""Decisions in the JSON API: record one on a finished run, read them, read their signed envelope.

A decision is committed first, then signed (by the signer service when
ACCEPTANCE_SIGNER=queue: it checks the decision against the database, so the
row must exist). If no signature can be had right then, the decision stands
unsigned and reading its attestation tries again.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from acceptance.engine.report import serialize
from acceptance.errors import PlatformError
from acceptance.service.access import get_run, get_submission
from acceptance.service.decisions import (
    current_decision,
    decision_statement,
    decision_vsa,
    get_decision,
    record_decision,
    submission_decisions,
    submission_state,
    withdraw,
)
from acceptance.service.models import Decision
from web.api import submission_json
from web.api_auth import authenticated
from web.api_errors import API_ERROR_HANDLERS, ApiError
from web.links import base_url
from web.messages import after_decision, after_state_change

log = logging.getLogger(__name__)

decisions_api = Blueprint("decisions_api", __name__, url_prefix="/api/v1")
for _error, _handler in API_ERROR_HANDLERS.items():
    decisions_api.register_error_handler(_error, _handler)


def _services() -> Any:
    from web.app import services

    return services()


def decision_json(decision: Decision, base: str) -> dict[str, Any]:
    return {
        "id": decision.id,
        "run_id": decision.run_id,
        "submission_id": decision.submission_id,
        "decision": decision.decision,
        "reason": decision.reason,
        "override": decision.override,
        "decided_by": decision.person.email,
        "decided_by_id": decision.decided_by,
        "decided_at": _iso(decision),
        "report_sha256": decision.report_sha256,
        "supersedes": decision.supersedes_id,
        "signed": decision.envelope_sha256 is not None,
        "attestation_url": f"{base}/api/v1/decisions/{decision.id}/attestation",
        "vsa_url": f"{base}/api/v1/decisions/{decision.id}/vsa",
    }


def _iso(decision: Decision) -> str:
    return decision.decided_at.isoformat().replace("+00:00", "Z")


def sign_decision(decision_id: str, base: str) -> str | None:
    """Sign the committed decision, keep its envelope and return its store key; None when unsigned."""
    from workers.signer import SignerUnavailable, SigningRefused, report_signer

    services = _services()
    with services.db.session() as session:
        decision = session.get(Decision, decision_id)
        if decision is None or decision.envelope_sha256 is not None:
            signed_before: str | None = decision.envelope_sha256 if decision else None
            return signed_before
        payload = serialize(decision_statement(decision, base))
    try:
        signed = report_signer(services.settings, services.celery).sign(decision_id, 0, payload)
    except (SignerUnavailable, SigningRefused) as exc:
        log.warning("decision_not_signed", extra={"decision": decision_id, "why": str(exc)})
        return None
    key: str = services.store.put(json.dumps(signed.envelope, sort_keys=True).encode())
    with services.db.session() as session:
        decision = session.get(Decision, decision_id)
        assert decision is not None
        decision.envelope_sha256, decision.key_id = key, signed.key_id
    log.info("decision_signed", extra={"decision": decision_id, "key_id": signed.key_id})
    return key


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            400,
            "invalid_json",
            'send a JSON object such as {"decision": "accepted", "reason": "..."}',
        )
    return body


@decisions_api.post("/runs/<run_id>/decision")
@authenticated
def decide(run_id: str) -> Any:
    body = _body()
    run = get_run(g.db, g.user, run_id)
    before = submission_state(g.db, run.submission).state
    decision = record_decision(g.db, g.user, run, body.get("decision"), body.get("reason"))
    base = base_url()
    # Signed once committed: the signer service looks the decision up in the database.
    g.after_commit.append(functools.partial(sign_decision, decision.id, base))
    g.after_commit.append(functools.partial(after_decision, decision.id, before, base))
    return jsonify(decision_json(decision, base)), 201


@decisions_api.get("/runs/<run_id>/decision")
@authenticated
def run_decision(run_id: str) -> Any:
    run = get_run(g.db, g.user, run_id)
    decision = current_decision(g.db, run.id)
    if decision is None:
        raise ApiError(404, "not_found", f"no decision on run {run_id} yet")
    return jsonify(decision_json(decision, base_url()))


@decisions_api.get("/decisions/<decision_id>")
@authenticated
def show_decision(decision_id: str) -> Any:
    return jsonify(decision_json(get_decision(g.db, g.user, decision_id), base_url()))


@decisions_api.get("/decisions/<decision_id>/attestation")
@authenticated
def decision_attestation(decision_id: str) -> Any:
    decision = get_decision(g.db, g.user, decision_id)
    # Recorded (committed) by an earlier request; unsigned only if the signer was unavailable then.
    key = decision.envelope_sha256 or sign_decision(decision.id, base_url())
    if key is None:
        raise PlatformError(f"decision {decision_id} is not signed yet: the signer is unavailable")
    data = _services().store.get(key) if key else None
    if data is None:
        raise PlatformError(f"the signed decision {decision_id} is missing from the artifact store")
    return Response(data, mimetype="application/json")


@decisions_api.get("/decisions/<decision_id>/vsa")
@authenticated
def decision_vsa_envelope(decision_id: str) -> Any:
    """The decision as a signed SLSA VSA v1, signed when asked (the same bytes every time)."""
    from workers.signer import SignerUnavailable, SigningRefused, report_signer

    decision = get_decision(g.db, g.user, decision_id)
    payload = serialize(decision_vsa(decision, base_url()))
    services = _services()
    try:
        # Ed25519 signatures are deterministic: the envelope is the same until the key changes.
        signed = report_signer(services.settings, services.celery).sign(decision.id, 0, payload)
    except (SignerUnavailable, SigningRefused) as exc:
        raise PlatformError(
            f"the VSA of decision {decision_id} cannot be signed now: {exc}"
        ) from exc
    return Response(json.dumps(signed.envelope, sort_keys=True), mimetype="application/json")


@decisions_api.get("/submissions/<submission_id>/decisions")
@authenticated
def list_decisions(submission_id: str) -> Any:
    submission = get_submission(g.db, g.user, submission_id)
    base = base_url()
    return jsonify(
        items=[decision_json(d, base) for d in submission_decisions(g.db, submission.id)]
    )


@decisions_api.post("/submissions/<submission_id>/withdraw")
@authenticated
def withdraw_submission(submission_id: str) -> Any:
    submission = get_submission(g.db, g.user, submission_id)
    before = submission_state(g.db, submission).state
    withdraw(g.db, g.user, submission)
    g.db.flush()
    g.after_commit.append(functools.partial(after_state_change, submission.id, before, base_url()))
    return jsonify(submission_json(submission))


@decisions_api.get("/decisions/<decision_id>/certificate.pdf")
@authenticated
def certificate_pdf(decision_id: str) -> Any:
    """The acceptance certificate (PDF, English and French) of an acceptance in force; 404 otherwise."""
    from web.dashboard.certificates import certificate_pdf_response

    return certificate_pdf_response(g.db, g.user, decision_id)
