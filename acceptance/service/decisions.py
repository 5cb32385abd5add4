"""People's decisions on finished runs, and the submission state they lead to.

A decision rests on a run's signed report (by its sha256). Accepting a run the
machine did not accept is an override: owners and admins only, with a reason of
at least MIN_OVERRIDE_REASON characters. Decisions are never edited: a later
decision on the same run supersedes the earlier one, both are kept.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from acceptance.engine.report import Verdict
from acceptance.errors import UserInputError
from acceptance.service.access import Conflict, Forbidden, NotFound, can_manage, can_read
from acceptance.service.audit import Action, Subject, record
from acceptance.service.decision_statement import (
    ACCEPTED,
    DECISIONS,
    DecisionFacts,
    build_decision_statement,
    report_digest,
)
from acceptance.service.models import Decision, Run, RunStatus, Submission, User, utcnow
from acceptance.service.vsa import VsaFacts, build_vsa, policy_uri

log = logging.getLogger(__name__)

MIN_OVERRIDE_REASON = 20
MAX_REASON_CHARS = 4000
#: a run ended in one of these has a report to decide on
ENDED = (RunStatus.FINISHED.value, RunStatus.ERROR.value)


class SubmissionState(str, Enum):
    AWAITING_DELIVERY = "awaiting_delivery"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class StateOfSubmission:
    state: SubmissionState
    #: the accepted delivery, when the state is `accepted`
    accepted_run_id: str | None = None


# ---------------------------------------------------------------- recording


def record_decision(
    session: Session, user: User, run: Run, decision: object, reason: object
) -> Decision:
    """Record `user`'s decision on `run`, after every rule below; the caller commits."""
    kind, text = _checked_input(decision, reason)
    submission = run.submission
    if not can_manage(user, submission.opportunity):
        raise Forbidden("only the opportunity's owner or an admin may decide on its runs")
    _check_decidable(session, run, submission)
    override = kind == ACCEPTED and run.verdict != Verdict.ACCEPTED
    if text is None and not (kind == ACCEPTED and not override):
        raise UserInputError(
            "reason: say why (required unless accepting a run the machine accepted)"
        )
    if override and len(text or "") < MIN_OVERRIDE_REASON:
        raise UserInputError(
            f"reason: accepting a run whose verdict is {run.verdict} overrides the machine; "
            f"explain why in at least {MIN_OVERRIDE_REASON} characters"
        )
    previous = current_decision(session, run.id)
    assert run.report_sha256 is not None  # _check_decidable
    made = Decision(
        run_id=run.id, submission_id=submission.id, decision=kind, reason=text, override=override,
        decided_by=user.id, decided_at=utcnow(), report_sha256=run.report_sha256,
        supersedes_id=previous.id if previous else None,
    )  # fmt: skip
    session.add(made)
    session.flush()
    details = {
        "run": run.id, "submission": submission.id, "decision": kind, "override": override,
        "supersedes": made.supersedes_id, "reason": text,
    }  # fmt: skip
    record(session, user, Action.DECISION_RECORDED, Subject.DECISION, made.id, details)
    log.info(
        "decision_recorded",
        extra={"run": run.id, "decision": kind, "override": override, "by": user.id, "id": made.id},
    )
    return made


def _checked_input(decision: object, reason: object) -> tuple[str, str | None]:
    if decision not in DECISIONS:
        raise UserInputError(f"decision: one of {', '.join(DECISIONS)}")
    assert isinstance(decision, str)
    if reason is not None and not isinstance(reason, str):
        raise UserInputError("reason: text is required")
    text = reason.strip() if isinstance(reason, str) else ""
    if "\x00" in text:
        raise UserInputError("reason: NUL characters are not allowed")
    if len(text) > MAX_REASON_CHARS:
        raise UserInputError(f"reason: at most {MAX_REASON_CHARS} characters")
    return decision, text or None


def _check_decidable(session: Session, run: Run, submission: Submission) -> None:
    if run.status not in ENDED:
        raise Conflict(f"run {run.id} is {run.status}: decide once it has finished")
    if not run.report_sha256:
        raise Conflict(f"run {run.id} ended without a signed report: there is nothing to decide on")
    if submission.withdrawn_at is not None:
        raise Conflict(f"submission {submission.id} is withdrawn: no decision can be recorded")
    accepted = accepted_run_id(session, submission.id)
    if accepted is not None and accepted != run.id:
        raise Conflict(
            f"run {accepted} is the submission's accepted delivery; a decision on run {run.id} "
            f"cannot change that (record a new decision on run {accepted} first)"
        )


# ---------------------------------------------------------------- reading


def get_decision(session: Session, user: User, decision_id: str) -> Decision:
    decision = session.get(Decision, decision_id)
    if decision is None or not can_read(user, decision.submission.opportunity):
        raise NotFound(f"no decision {decision_id}")
    return decision


def submission_decisions(session: Session, submission_id: str) -> list[Decision]:
    """Every decision on the submission's runs, newest first."""
    query = (
        select(Decision)
        .where(Decision.submission_id == submission_id)
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
    )
    return list(session.scalars(query))


def current_decision(session: Session, run_id: str) -> Decision | None:
    """The run's latest decision (the one in force), or None."""
    query = (
        select(Decision)
        .where(Decision.run_id == run_id)
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def current_decisions(decisions: list[Decision]) -> dict[str, Decision]:
    """The decision in force per run id, from a newest-first list."""
    found: dict[str, Decision] = {}
    for decision in decisions:
        found.setdefault(decision.run_id, decision)
    return found


def accepted_run_id(session: Session, submission_id: str) -> str | None:
    """The accepted delivery: the run whose decision in force accepts it (at most one)."""
    current = current_decisions(submission_decisions(session, submission_id))
    accepted = [d for d in current.values() if d.decision == ACCEPTED]
    return max(accepted, key=lambda d: d.decided_at).run_id if accepted else None


def submission_state(session: Session, submission: Submission) -> StateOfSubmission:
    """Where the submission stands; runs still going leave the previous state in force."""
    if submission.withdrawn_at is not None:
        return StateOfSubmission(SubmissionState.WITHDRAWN, accepted_run_id(session, submission.id))
    current = current_decisions(submission_decisions(session, submission.id))
    accepted = [d for d in current.values() if d.decision == ACCEPTED]
    if accepted:
        return StateOfSubmission(
            SubmissionState.ACCEPTED, max(accepted, key=lambda d: d.decided_at).run_id
        )
    latest = session.scalars(
        select(Run)
        .where(Run.submission_id == submission.id, Run.status.in_(ENDED))
        .order_by(Run.queued_at.desc(), Run.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return StateOfSubmission(SubmissionState.AWAITING_DELIVERY)
    decided = current.get(latest.id)
    if decided is None:
        return StateOfSubmission(SubmissionState.IN_REVIEW)
    return StateOfSubmission(SubmissionState(decided.decision))


def withdraw(session: Session, user: User, submission: Submission) -> None:
    """Close the submission: runs stay readable, no decision from then on."""
    if not can_manage(user, submission.opportunity):
        raise Forbidden("only the opportunity's owner or an admin may withdraw its submissions")
    if submission.withdrawn_at is not None:
        raise Conflict(f"submission {submission.id} is already withdrawn")
    submission.withdrawn_at, submission.withdrawn_by = utcnow(), user.id
    details = {"opportunity": submission.opportunity_id, "supplier": submission.supplier}
    record(session, user, Action.SUBMISSION_WITHDRAWN, Subject.SUBMISSION, submission.id, details)
    log.info("submission_withdrawn", extra={"submission": submission.id, "by": user.id})


# ---------------------------------------------------------------- the signed statement


def decision_statement(decision: Decision, base_url: str) -> dict[str, Any]:
    """The in-toto Statement of a recorded decision."""
    run = decision.run
    facts = DecisionFacts(
        decision_id=decision.id, decision=decision.decision, reason=decision.reason,
        override=decision.override, person_id=decision.person.id,
        person_email=decision.person.email, decided_at=timestamp(decision.decided_at),
        run_id=run.id, submission_id=run.submission_id,
        opportunity_id=run.submission.opportunity_id, verdict=run.verdict,
        repo_url=run.submission.repo_url, commit=run.commit,
        report_sha256=decision.report_sha256,
        report_uri=f"{base_url}/api/v1/runs/{run.id}/report",
    )  # fmt: skip
    return build_decision_statement(facts)


def claim_problem(session: Session, decision_id: str, statement: dict[str, Any]) -> str | None:
    """Why the signer must not sign `statement` as decision `decision_id`, or None.

    Every field but the report's URI (the signer does not know the public URL)
    must be what the database holds, and the report digest must be the run's.
    """
    decision = session.get(Decision, decision_id)
    if decision is None:
        return f"decision {decision_id} does not exist"
    if report_digest(statement) != decision.run.report_sha256:
        return f"the statement's report digest is not run {decision.run_id}'s report"
    expected = decision_statement(decision, "")
    claimed = dict(statement.get("predicate") or {})
    claimed.pop("inputAttestations", None)
    wanted = dict(expected["predicate"])
    wanted.pop("inputAttestations")
    if claimed != wanted or statement.get("subject") != expected["subject"]:
        return f"the statement does not say what decision {decision_id} recorded"
    return None


def decision_vsa(decision: Decision, base_url: str) -> dict[str, Any]:
    """The SLSA Verification Summary Attestation of a recorded decision; `base_url` is the verifier."""
    run = decision.run
    spec = run.spec_version
    facts = VsaFacts(
        verifier_url=base_url, decided_at=timestamp(decision.decided_at),
        decision=decision.decision, verdict=run.verdict,
        repo_url=run.submission.repo_url, commit=run.commit,
        policy_uri=policy_uri(base_url, spec.opportunity_id, spec.version),
        spec_sha256=spec.spec_sha256,
        report_uri=f"{base_url}/api/v1/runs/{run.id}/report", report_sha256=decision.report_sha256,
    )  # fmt: skip
    return build_vsa(facts)


def vsa_claim_problem(session: Session, decision_id: str, statement: dict[str, Any]) -> str | None:
    """Why the signer must not sign `statement` as decision `decision_id`'s VSA, or None.

    The signer does not know the public URL: it takes the statement's `verifier.id`
    (an http(s) URL with nothing after its path) and requires every other byte to be
    the VSA the database makes with that URL, so the report and spec URIs cannot
    point anywhere else.
    """
    decision = session.get(Decision, decision_id)
    if decision is None:
        return f"decision {decision_id} does not exist"
    predicate = statement.get("predicate")
    verifier = predicate.get("verifier") if isinstance(predicate, dict) else None
    base = verifier.get("id") if isinstance(verifier, dict) else None
    if not isinstance(base, str) or not _is_base_url(base):
        return "the VSA's verifier.id is not the service's URL (http or https, no query, no trailing slash)"
    if statement != decision_vsa(decision, base):
        return f"the VSA does not say what decision {decision_id} recorded"
    return None


def _is_base_url(text: str) -> bool:
    parts = urlsplit(text)
    return (
        parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.query
        and not parts.fragment and not text.endswith("/") and text.isprintable()
    )  # fmt: skip


def timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
