"""Webhook intake: verify, record, enqueue, answer 202 within milliseconds."""

from __future__ import annotations

import functools
import hashlib
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

import web.webhooks as webhooks
from acceptance.models import Submission
from acceptance.service import OpportunityClosed, RateLimited, create_webhook_run

log = logging.getLogger(__name__)

hooks = Blueprint("hooks", __name__)


def _reply(status: int, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


@hooks.post("/hooks/<submission_id>")
def deliver(submission_id: str) -> Response:
    from web.app import services

    found = services()
    length = request.content_length
    if length is not None and length > webhooks.MAX_BODY_BYTES:
        return _reply(413, error="payload_too_large", detail=f"at most {webhooks.MAX_BODY_BYTES} bytes")
    body = request.get_data(cache=False)
    if len(body) > webhooks.MAX_BODY_BYTES:
        return _reply(413, error="payload_too_large", detail=f"at most {webhooks.MAX_BODY_BYTES} bytes")
    headers = {k.lower(): v for k, v in request.headers.items()}
    after_commit: list[functools.partial[None]] = []
    with found.db.session() as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            # The same answer as a bad signature: ids are not confirmed to strangers.
            log.warning("webhook_unknown_submission", extra={"submission": submission_id[:64]})
            return _reply(401, error="unauthenticated", detail="signature or token missing or invalid")
        try:
            provider = webhooks.verify(headers, body, found.box.open(submission.webhook_secret_encrypted))
        except webhooks.WebhookAuthError as exc:
            log.warning("webhook_bad_signature", extra={"submission": submission_id, "why": str(exc)})
            return _reply(401, error="unauthenticated", detail="signature or token missing or invalid")
        try:
            delivery = webhooks.parse(provider, headers, body)
            decision = webhooks.decide(
                delivery, registered_repo_url=submission.repo_url, followed_branch=submission.branch
            )
        except webhooks.WebhookRepositoryMismatch as exc:
            return _reply(422, error="repository_mismatch", detail=str(exc))
        except webhooks.WebhookPayloadError as exc:
            return _reply(exc.status, error="invalid_payload", detail=str(exc))
        if decision.action == "pong":
            return _reply(200, pong=True)
        if decision.action != "run":
            return _reply(202, run_id=None, reason=decision.reason)
        assert delivery.commit is not None  # decide() runs only pushes of a commit
        delivery_id = delivery.delivery_id or "sha256:" + hashlib.sha256(body).hexdigest()
        try:
            answer = create_webhook_run(
                session, submission, ref=delivery.ref, commit=delivery.commit,
                delivery_id=delivery_id[:200], commit_message=delivery.commit_message,
                runs_per_hour=found.settings.runs_per_hour,
            )  # fmt: skip
        except RateLimited as exc:
            response = _reply(429, error="rate_limited", detail=exc.message)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except OpportunityClosed as exc:
            # Gone for good: the forge shows the delivery failed, with why; no run is queued.
            return _reply(410, error="opportunity_closed", detail=exc.message)
        run = answer.run
        if answer.created:
            after_commit.append(
                functools.partial(found.enqueue, run.id, run.spec_version.run_timeout)
            )
        run_id = run.id
    for action in after_commit:
        action()
    if answer.created:
        return _reply(202, run_id=run_id, duplicate=False)
    return _reply(202, run_id=run_id, duplicate=True, reason=answer.reason)
