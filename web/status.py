"""The supplier's status page: their runs and verdicts, reached by an unguessable link.

It shows what a supplier needs to act on (verdicts, reasons, which of their
tests failed) and nothing of the owner's hidden tests but counts. Every answer,
HTML (web/dashboard/supplier.py) or JSON for clients asking for
application/json, is built from acceptance/service/supplier_view.py alone.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, make_response, request
from flask_babel import gettext
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from acceptance.engine.keyring import public_keys
from acceptance.service.models import Run, Submission
from acceptance.service.opportunities import submission_for_status_token
from acceptance.service.supplier_view import supplier_run, supplier_submission
from web.dashboard.errors import error_page
from web.dashboard.presenting import live_entry
from web.dashboard.reportview import load_predicate
from web.dashboard.supplier import shown, status_page, status_run_page, wants_html

status = Blueprint("status", __name__)

MAX_RUNS = 100
MAX_LIVE_IDS = 100


def _submission(session: Any, token: str) -> Submission:
    submission = submission_for_status_token(session, token)
    if submission is None:
        abort(404, "no such status page")
    return submission


def _vary(response: Any) -> Any:
    response.headers["Vary"] = "Accept, Cookie"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@status.get("/status/<token>")
def supplier_status(token: str) -> Any:
    """The supplier's runs: a page for browsers, JSON for API clients."""
    from web.app import services

    found = services()
    with found.db.session() as session:
        submission = _submission(session, token)
        runs = session.scalars(
            select(Run)
            .where(Run.submission_id == submission.id)
            .order_by(Run.queued_at.desc())
            .limit(MAX_RUNS)
        ).all()
        about = supplier_submission(submission)
        # Without their reports: a run's own page adds its report (one store read per run).
        views = [supplier_run(run) for run in runs]
        if wants_html():
            return _vary(make_response(status_page(about, views, token)))
        return _vary(jsonify(**about, runs=views))


@status.get("/status/<token>/runs/<run_id>")
def run_report(token: str, run_id: str) -> Any:
    """One run's report as the supplier may see it: a page for browsers, JSON for API clients."""
    from web.app import services

    found = services()
    with found.db.session() as session:
        submission = _submission(session, token)
        chosen = session.get(Run, run_id)
        if chosen is None or chosen.submission_id != submission.id:
            abort(404, "no such run")
        signed = load_predicate(found.store, chosen, public_keys(found.settings))
        view = supplier_run(chosen, signed.predicate if signed is not None else None)
        if wants_html():
            page = status_run_page(supplier_submission(submission), view, token)
            return _vary(make_response(page))
        return _vary(jsonify(view))


@status.get("/status/<token>/live")
def live(token: str) -> Any:
    """The state of the given runs, for the page's script."""
    from web.app import services

    ids = [i for i in request.args.getlist("id") if i][:MAX_LIVE_IDS]
    with services().db.session() as session:
        submission = _submission(session, token)
        runs = session.scalars(
            select(Run).where(Run.submission_id == submission.id, Run.id.in_(ids))
        ).all()
        return _vary(jsonify(runs=[live_entry(shown(supplier_run(r))) for r in runs]))


@status.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Any:
    if wants_html():
        return error_page(404, gettext("Page not found"), gettext("Check the link you were given."))
    response = jsonify(error="not_found", detail=exc.description)
    response.status_code = 404
    return response
