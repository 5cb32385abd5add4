"""Who may see and change which record, and the refusals every operation shares.

NotFound never says whether the record exists: a caller who may not see it is told the same.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from acceptance.errors import UserInputError
from acceptance.service.models import (
    Opportunity,
    Role,
    Run,
    Submission,
    User,
)


class NotFound(UserInputError):
    """The record does not exist, or the caller may not see it (never say which)."""


class Forbidden(UserInputError):
    """The caller may see the record but not do this to it."""


class Conflict(UserInputError):
    """The request contradicts what exists (e.g. the email is taken)."""


class OpportunityClosed(Conflict):
    """The opportunity was closed: it takes no new submission, run or spec version."""

    code = "opportunity:closed"


def can_manage(user: User, opportunity: Opportunity) -> bool:
    return user.role == Role.ADMIN.value or (
        user.role == Role.OWNER.value and opportunity.owner_id == user.id
    )


def can_read(user: User, opportunity: Opportunity) -> bool:
    return user.role in (Role.ADMIN.value, Role.REVIEWER.value) or can_manage(user, opportunity)


def check_open(opportunity: Opportunity) -> None:
    """OpportunityClosed when the opportunity was closed (the one rule every intake applies)."""
    if opportunity.closed_at is not None:
        closed = opportunity.closed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise OpportunityClosed(
            f"opportunity {opportunity.id} was closed on {closed}: it takes no new submission, "
            "run or spec version",
            hint="its runs and decisions stay readable; publish a new opportunity for new work",
        )


def get_opportunity(session: Session, user: User, opportunity_id: str) -> Opportunity:
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None or not can_read(user, opportunity):
        raise NotFound(f"no opportunity {opportunity_id}")
    return opportunity


def get_submission(session: Session, user: User, submission_id: str) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None or not can_read(user, submission.opportunity):
        raise NotFound(f"no submission {submission_id}")
    return submission


def get_run(session: Session, user: User, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None or not can_read(user, run.submission.opportunity):
        raise NotFound(f"no run {run_id}")
    return run
