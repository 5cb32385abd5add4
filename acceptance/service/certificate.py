"""Acceptance certificates: which accepted deliveries a person may file, and what each states.

A certificate exists for a decision `accepted` that is in force (the latest
decision on its run). Finance officers see every certificate and nothing else;
owners see their own opportunities' certificates; reviewers and admins all.
The certificate restates the signed decision and the signed report it rests on
by their sha256, so anyone holding the two envelopes can check it offline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from acceptance.service.access import NotFound, can_read
from acceptance.service.decision_statement import ACCEPTED
from acceptance.service.decisions import current_decision, current_decisions
from acceptance.service.models import Decision, Opportunity, Role, Submission, User

#: the longest free text a certificate repeats (it must stay one page); the signed decision has it all
MAX_REASON_CHARS = 400
MAX_TITLE_CHARS = 160
MAX_NAME_CHARS = 120
MAX_URL_CHARS = 200


def may_see_certificates(user: User, opportunity: Opportunity) -> bool:
    """Finance officers see every opportunity's certificates; others what they may read."""
    return user.role == Role.FINANCE.value or can_read(user, opportunity)


def is_acceptance_in_force(session: Session, decision: Decision) -> bool:
    """Whether `decision` accepts its run and no later decision on that run superseded it."""
    if decision.decision != ACCEPTED:
        return False
    latest = current_decision(session, decision.run_id)
    return latest is not None and latest.id == decision.id


def certificate_decision(session: Session, user: User, decision_id: str) -> Decision:
    """The decision behind a certificate; NotFound unless it is an acceptance in force `user` may see."""
    decision = session.get(Decision, decision_id)
    if (
        decision is None
        or not may_see_certificates(user, decision.submission.opportunity)
        or not is_acceptance_in_force(session, decision)
    ):
        raise NotFound(f"no acceptance certificate {decision_id}")
    return decision


def accepted_deliveries(session: Session, user: User, limit: int = 500) -> list[Decision]:
    """The acceptances in force the user may see, latest first (at most `limit`)."""
    query = (
        select(Decision)
        .join(Submission, Decision.submission_id == Submission.id)
        .join(Opportunity, Submission.opportunity_id == Opportunity.id)
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
    )
    if user.role == Role.OWNER.value:
        query = query.where(Opportunity.owner_id == user.id)
    elif user.role not in (Role.ADMIN.value, Role.REVIEWER.value, Role.FINANCE.value):
        return []
    # Every decision, newest first, so the one in force on each run comes first for that run.
    in_force = current_decisions(list(session.scalars(query)))
    accepted = [d for d in in_force.values() if d.decision == ACCEPTED]
    accepted.sort(key=lambda d: (d.decided_at, d.id), reverse=True)
    return accepted[:limit]


@dataclass(frozen=True)
class CertificateFacts:
    """What a certificate states, taken from the database (the checks come from the signed report)."""

    decision_id: str
    run_id: str
    opportunity_id: str
    opportunity_title: str
    supplier: str
    repo_url: str
    commit: str | None
    spec_version: int
    spec_sha256: str
    verdict: str | None
    override: bool
    reason: str | None
    decided_by: str
    decided_at: dt.datetime
    report_sha256: str
    #: sha256 of the signed decision's DSSE envelope; None while unsigned
    decision_sha256: str | None
    key_id: str | None

    @property
    def decision_file(self) -> str:
        return f"decision-{self.decision_id}.dsse.json"

    @property
    def report_file(self) -> str:
        return f"report-{self.run_id}.dsse.json"

    @property
    def key_file(self) -> str:
        return f"acceptance-{(self.key_id or '').removeprefix('sha256:')[:16]}.pub"

    @property
    def verify_command(self) -> str:
        """The command that checks both signatures and that the decision rests on that report."""
        return (
            f"acceptance verify {self.decision_file} --with-report {self.report_file} "
            f"--pubkey {self.key_file}"
        )


def certificate_facts(decision: Decision) -> CertificateFacts:
    """The facts of `decision`'s certificate; supplier-written text is cut to fit one page."""
    run = decision.run
    submission = run.submission
    return CertificateFacts(
        decision_id=decision.id, run_id=run.id, opportunity_id=submission.opportunity_id,
        opportunity_title=_cut(submission.opportunity.title, MAX_TITLE_CHARS),
        supplier=_cut(submission.supplier, MAX_NAME_CHARS),
        repo_url=_cut(submission.repo_url, MAX_URL_CHARS), commit=run.commit,
        spec_version=run.spec_version.version, spec_sha256=run.spec_version.spec_sha256,
        verdict=run.verdict, override=decision.override,
        reason=_cut(decision.reason, MAX_REASON_CHARS) if decision.reason else None,
        decided_by=decision.person.email, decided_at=decision.decided_at,
        report_sha256=decision.report_sha256, decision_sha256=decision.envelope_sha256,
        key_id=decision.key_id,
    )  # fmt: skip


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
