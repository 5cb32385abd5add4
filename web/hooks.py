"""Webhook intake: verify, record, enqueue, answer 202 within milliseconds."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from acceptance.service.access import OpportunityClosed
from acceptance.service.models import Run, RunStatus, Submission
from acceptance.service.runs import RateLimited, check_webhook_rate, create_run, create_webhook_run
from web.webhooks.decision import decide
from web.webhooks.delivery import (
    MAX_BODY_BYTES,
    Provider,
    WebhookAuthError,
    WebhookPayloadError,
    WebhookRepositoryMismatch,
)
from web.webhooks.payload import parse
from web.webhooks.signature import verify

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
    if length is not None and length > MAX_BODY_BYTES:
        return _reply(413, error="payload_too_large", detail=f"at most {MAX_BODY_BYTES} bytes")
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY_BYTES:
        return _reply(413, error="payload_too_large", detail=f"at most {MAX_BODY_BYTES} bytes")
    headers = {k.lower(): v for k, v in request.headers.items()}
    if (
        headers.get("x-github-event") == "check_run"
    ):  # a GitHub App's check run (acceptance.service.forge)
        return _check_run_event(found, submission_id, headers, body)
    after_commit: list[functools.partial[None]] = []
    with found.db.session() as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            # The same answer as a bad signature: ids are not confirmed to strangers.
            log.warning("webhook_unknown_submission", extra={"submission": submission_id[:64]})
            return _reply(
                401, error="unauthenticated", detail="signature or token missing or invalid"
            )
        try:
            provider = verify(headers, body, found.box.open(submission.webhook_secret_encrypted))
        except WebhookAuthError as exc:
            log.warning(
                "webhook_bad_signature", extra={"submission": submission_id, "why": str(exc)}
            )
            return _reply(
                401, error="unauthenticated", detail="signature or token missing or invalid"
            )
        try:
            delivery = parse(provider, headers, body)
            decision = decide(
                delivery, registered_repo_url=submission.repo_url, followed_branch=submission.branch
            )
        except WebhookRepositoryMismatch as exc:
            return _reply(422, error="repository_mismatch", detail=str(exc))
        except WebhookPayloadError as exc:
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


def _check_run_event(
    found: Any, submission_id: str, headers: dict[str, str], body: bytes
) -> Response:
    """GitHub's `check_run` `rerequested` (a person pressed "Re-run" on our check run): run it again.

    The GitHub App's webhook is set to the submission's hook URL and secret, so the
    delivery is verified like a push. Only a run of this submission that has ended is
    run again (of the same commit, against the current spec), once per delivery id.
    """
    with found.db.session() as session:
        submission = session.get(Submission, submission_id)
        try:
            if submission is None:
                raise WebhookAuthError("unknown submission")
            provider = verify(headers, body, found.box.open(submission.webhook_secret_encrypted))
        except WebhookAuthError:
            log.warning(
                "webhook_bad_signature",
                extra={"submission": submission_id[:64], "event": "check_run"},
            )
            return _reply(
                401, error="unauthenticated", detail="signature or token missing or invalid"
            )
        if provider not in (Provider.GITHUB, Provider.GENERIC):
            return _reply(401, error="unauthenticated", detail="check_run events come from GitHub")
        try:
            payload = json.loads(body)
            action = payload["action"]
            external_id = str(payload["check_run"].get("external_id") or "")
        except (ValueError, KeyError, TypeError, AttributeError):
            return _reply(
                400, error="invalid_payload", detail="a check_run event with action and check_run"
            )
        if action != "rerequested":
            return _reply(202, run_id=None, reason=f"check_run {str(action)[:40]}: nothing to do")
        earlier = session.get(Run, external_id) if external_id else None
        if earlier is None or earlier.submission_id != submission.id:
            return _reply(
                422,
                error="invalid_payload",
                detail="the check run is not one of this submission's runs",
            )
        if earlier.status not in (RunStatus.FINISHED.value, RunStatus.ERROR.value):
            return _reply(409, error="conflict", detail=f"run {earlier.id} has not ended yet")
        delivery = headers.get("x-github-delivery") or "sha256:" + hashlib.sha256(body).hexdigest()
        delivery_id = f"check_run:{delivery}"[:200]
        known = session.scalar(
            select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
        )
        if known is not None:  # the same delivery again: its run
            return _reply(202, run_id=known.id, duplicate=True)
        try:
            # A re-run from GitHub is a run from a webhook: ACCEPTANCE_RUNS_PER_HOUR counts it too.
            if found.settings.runs_per_hour > 0:
                check_webhook_rate(session, submission, found.settings.runs_per_hour)
            run, created = create_run(
                session, submission, trigger="webhook", ref=earlier.ref, commit=earlier.commit,
                delivery_id=delivery_id,
            )  # fmt: skip
        except RateLimited as exc:
            response = _reply(429, error="rate_limited", detail=exc.message)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except OpportunityClosed as exc:
            return _reply(410, error="opportunity_closed", detail=exc.message)
        run_id, timeout = run.id, run.spec_version.run_timeout
    if created:
        found.enqueue(run_id, timeout)
    log.info("check_run_rerequested", extra={"run": run_id, "of": external_id, "created": created})
    return _reply(202, run_id=run_id, duplicate=not created)
