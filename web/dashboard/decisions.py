"""The decision form and the decisions on a run's report page; the submission state's words.

The rules live in acceptance.service.decisions; this module checks them first with
messages in the reader's language, so a person never reads the API's English.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, flash, g, redirect, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as WerkzeugResponse

from acceptance.engine.report import Verdict
from acceptance.service.access import Forbidden, can_manage, get_run
from acceptance.service.decisions import (
    ENDED,
    MIN_OVERRIDE_REASON,
    SubmissionState,
    accepted_run_id,
    current_decisions,
    record_decision,
    submission_decisions,
    submission_state,
)
from acceptance.service.models import Run, Submission
from web.dashboard.auth import signed_in
from web.dashboard.errors import install_error_pages
from web.dashboard.forms import DecisionForm
from web.links import base_url

decisions = Blueprint("decisions", __name__)
install_error_pages(decisions)

STATE_WORDS = {
    SubmissionState.AWAITING_DELIVERY: _l("awaiting delivery"),
    SubmissionState.IN_REVIEW: _l("in review"),
    SubmissionState.CHANGES_REQUESTED: _l("changes requested"),
    SubmissionState.ACCEPTED: _l("accepted"),
    SubmissionState.REJECTED: _l("rejected"),
    SubmissionState.WITHDRAWN: _l("withdrawn"),
}
DECISION_WORDS = {
    "accepted": _l("Accepted"),
    "changes_requested": _l("Changes requested"),
    "rejected": _l("Rejected"),
}


@decisions.post("/runs/<run_id>/decision")
@signed_in
def decide(run_id: str) -> WerkzeugResponse:
    """Record the decision, then sign it once committed (web.decisions.sign_decision)."""
    from web.decisions import sign_decision
    from web.messages import after_decision

    run = get_run(g.db, g.user, run_id)
    if not can_manage(g.user, run.submission.opportunity):
        raise Forbidden("only the opportunity's owner or an admin may decide")
    form = DecisionForm()
    problem = _problem(form, run) if form.validate_on_submit() else _first_error(form)
    if problem is not None:
        flash(problem, "error")
        return redirect(url_for("runs.show", run_id=run.id, _anchor="decision"), code=303)
    before = submission_state(g.db, run.submission).state
    made = record_decision(g.db, g.user, run, form.decision.data, form.reason.data)
    g.after_commit.append(functools.partial(sign_decision, made.id, base_url()))
    g.after_commit.append(functools.partial(after_decision, made.id, before, base_url()))
    flash(gettext("Your decision is recorded and signed."), "info")
    return redirect(url_for("runs.show", run_id=run.id, _anchor="decision"), code=303)


def _first_error(form: DecisionForm) -> str:
    for errors in form.errors.values():
        for error in errors:
            return str(error)
    return str(gettext("The form has expired: reload the page and try again."))


def _problem(form: DecisionForm, run: Run) -> str | None:
    """What stops this decision, in the reader's language; None when it may be recorded."""
    reason = (form.reason.data or "").strip()
    if run.status not in ENDED or not run.report_sha256:
        return str(gettext("This run has not finished with a signed report: decide once it has."))
    if run.submission.withdrawn_at is not None:
        return str(gettext("This submission is withdrawn: no decision can be recorded."))
    accepted = accepted_run_id(g.db, run.submission_id)
    if accepted is not None and accepted != run.id:
        return str(
            gettext(
                "Another run of this submission is the accepted delivery: change the decision on that run first."
            )
        )
    override = form.decision.data == "accepted" and run.verdict != Verdict.ACCEPTED
    if override and len(reason) < MIN_OVERRIDE_REASON:
        return str(
            gettext(
                "Accepting a run the checks did not accept overrides them: explain why in at least %(count)s characters.",
                count=MIN_OVERRIDE_REASON,
            )
        )
    if not reason and not (form.decision.data == "accepted" and not override):
        return str(gettext("Give a reason for this decision."))
    if "\x00" in reason:
        return str(gettext("The reason contains characters that are not allowed."))
    return None


@decisions.app_template_global("decision_panel")
def decision_panel(run: Run) -> dict[str, Any]:
    """What the report page shows about decisions on `run` and its submission."""
    every = submission_decisions(g.db, run.submission_id)
    standing = submission_state(g.db, run.submission)
    accepted = standing.accepted_run_id
    return {
        "decisions": [d for d in every if d.run_id == run.id],
        "current": current_decisions(every).get(run.id),
        "state": standing.state,
        "accepted_run_id": accepted,
        "after_acceptance": accepted is not None and accepted != run.id,
        "may_decide": can_manage(g.user, run.submission.opportunity)
        and run.status in ENDED
        and bool(run.report_sha256)
        and run.submission.withdrawn_at is None
        and accepted in (None, run.id),
        "override_if_accepted": run.verdict != Verdict.ACCEPTED,
        "form": DecisionForm(),
        "min_override": MIN_OVERRIDE_REASON,
    }


@decisions.app_template_global("submission_state_words")
def submission_state_words(submission: Submission) -> str:
    """The submission's state, in the reader's language."""
    return str(STATE_WORDS[submission_state(g.db, submission).state])


@decisions.app_template_global("decision_words")
def decision_words(decision: str) -> str:
    return str(DECISION_WORDS.get(decision, decision))
