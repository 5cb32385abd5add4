"""The supplier's status page: their runs and verdicts, reached by an unguessable link.

It shows what a supplier needs to act on (verdicts, reasons, which tests
failed) and never the source of the owner's hidden tests.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import select

from acceptance.models import Run
from acceptance.service import run_to_json, submission_for_status_token

status = Blueprint("status", __name__)

MAX_RUNS = 100


@status.get("/status/<token>")
def supplier_status(token: str) -> Any:
    from web.app import services

    found = services()
    with found.db.session() as session:
        submission = submission_for_status_token(session, token)
        if submission is None:
            abort(404, "no such status page")
        runs = session.scalars(
            select(Run)
            .where(Run.submission_id == submission.id)
            .order_by(Run.queued_at.desc())
            .limit(MAX_RUNS)
        ).all()
        base = found.settings.public_url or request.host_url.rstrip("/")
        items = []
        for run in runs:
            entry = run_to_json(run, base)
            entry.pop("report_url", None)  # the API link needs a token; suppliers get the summary
            entry["checks"] = run.summary.get("checks", [])
            items.append(entry)
        return jsonify(
            submission=submission.id,
            opportunity=submission.opportunity.title,
            supplier=submission.supplier,
            repo_url=submission.repo_url,
            runs=items,
        )
