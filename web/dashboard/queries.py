"""What a signed-in user may list: runs (filtered, paged), opportunities, suppliers.

Every query starts from what the user may read: owners their own
opportunities, reviewers and admins all of them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from babel.dates import get_timezone
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from acceptance.service.models import Opportunity, Role, Run, RunStatus, Submission, User

VERDICT_FILTERS = ("accepted", "rejected", "error", "pending")
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
MAX_SEARCH_CHARS = 200


@dataclass(frozen=True)
class RunFilters:
    """The runs list's filters, as chosen in its form."""

    opportunity: str = ""
    supplier: str = ""
    verdict: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    commit: str = ""
    page: int = 1

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The filters as URL parameters (empty ones left out), e.g. for the next page's link."""
        values: dict[str, Any] = {
            "opportunity": self.opportunity,
            "supplier": self.supplier,
            "verdict": self.verdict,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "commit": self.commit,
            "page": str(self.page) if self.page > 1 else "",
            **changes,
        }
        return {k: str(v) for k, v in values.items() if v not in ("", None)}

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.query_args(page=""))


@dataclass(frozen=True)
class Page:
    """One page of runs and where it sits among all that matched."""

    items: list[Run]
    number: int
    total: int
    size: int

    @property
    def pages(self) -> int:
        """How many pages the matching runs fill."""
        return max(1, -(-self.total // self.size))


def parse_filters(args: Mapping[str, str]) -> tuple[RunFilters, dict[str, str]]:
    """Filters from the query string, and a message for each field that could not be read."""
    errors: dict[str, str] = {}
    verdict = args.get("verdict", "").strip()
    if verdict and verdict not in VERDICT_FILTERS:
        errors["verdict"] = str(_l("Choose a verdict from the list."))
        verdict = ""
    dates: dict[str, dt.date | None] = {}
    for name in ("from", "to"):
        raw = args.get(name, "").strip()
        dates[name] = None
        if raw:
            try:
                dates[name] = dt.date.fromisoformat(raw)
            except ValueError:
                errors[name] = str(_l("Enter a date as year-month-day, such as 2025-03-31."))
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        errors["to"] = str(_l("The end date must not be before the start date."))
    try:
        page = max(1, min(100_000, int(args.get("page", "1") or "1")))
    except ValueError:
        page = 1
    filters = RunFilters(
        opportunity=args.get("opportunity", "").strip()[:32],
        supplier=args.get("supplier", "").strip()[:200],
        verdict=verdict,
        date_from=dates["from"],
        date_to=dates["to"],
        commit=args.get("commit", "").strip()[:MAX_SEARCH_CHARS],
        page=page,
    )
    return filters, errors


def _readable(query: Select[Any], user: User) -> Select[Any]:
    if user.role == Role.OWNER.value:
        return query.where(Opportunity.owner_id == user.id)
    if user.role in (Role.ADMIN.value, Role.REVIEWER.value):
        return query
    return query.where(false())  # an unknown role sees nothing


def runs_page(session: Session, user: User, filters: RunFilters, zone: str, size: int) -> Page:
    """The runs the user may read that match the filters, newest first, one page of them."""
    query = runs_query(user, filters, zone)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    number = min(filters.page, max(1, -(-total // size)))
    # The joined rows fill each run's submission and opportunity: no query per row.
    loaded = query.options(
        contains_eager(Run.submission).contains_eager(Submission.opportunity),
        selectinload(Run.spec_version),
    )
    items = session.scalars(
        loaded.order_by(Run.queued_at.desc(), Run.id.desc()).offset((number - 1) * size).limit(size)
    ).all()
    return Page(list(items), number, total, size)


def runs_query(user: User, filters: RunFilters, zone: str) -> Select[Any]:
    """The runs the user may read that match the filters (not ordered, not paged)."""
    query = _readable(select(Run).join(Submission).join(Opportunity), user)
    if filters.opportunity:
        query = query.where(Submission.opportunity_id == filters.opportunity)
    if filters.supplier:
        query = query.where(Submission.supplier == filters.supplier)
    if filters.verdict == "pending":
        query = query.where(Run.status.in_([RunStatus.QUEUED.value, RunStatus.RUNNING.value]))
    elif filters.verdict:
        query = query.where(Run.verdict == filters.verdict)
    tz = get_timezone(zone)
    if filters.date_from:
        start = dt.datetime.combine(filters.date_from, dt.time.min, tzinfo=tz)
        query = query.where(Run.queued_at >= start.astimezone(dt.UTC))
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        query = query.where(Run.queued_at < end.astimezone(dt.UTC))
    if filters.commit:
        text = filters.commit
        conditions = [func.lower(Run.commit_message).contains(text.lower(), autoescape=True)]
        if _HEX.fullmatch(text):
            conditions.append(Run.commit.startswith(text.lower(), autoescape=True))
        query = query.where(or_(*conditions))
    return query


def readable_opportunities(session: Session, user: User) -> list[Opportunity]:
    """The opportunities the user may read, newest first."""
    query = _readable(select(Opportunity), user)
    return list(session.scalars(query.order_by(Opportunity.created_at.desc())))


def readable_suppliers(session: Session, user: User) -> list[str]:
    """The suppliers of the opportunities the user may read, for the filter."""
    query = _readable(select(Submission.supplier).join(Opportunity).distinct(), user)
    return sorted(set(session.scalars(query)), key=str.casefold)


def opportunity_runs(session: Session, opportunity: Opportunity, limit: int = 50) -> list[Run]:
    """The latest runs of an opportunity's submissions, newest first."""
    return list(
        session.scalars(
            select(Run)
            .join(Submission)
            .where(Submission.opportunity_id == opportunity.id)
            .order_by(Run.queued_at.desc(), Run.id.desc())
            .limit(limit)
        )
    )


def submission_runs(session: Session, submission: Submission, limit: int = 100) -> list[Run]:
    """The latest runs of one submission, newest first."""
    return list(
        session.scalars(
            select(Run)
            .where(Run.submission_id == submission.id)
            .order_by(Run.queued_at.desc(), Run.id.desc())
            .limit(limit)
        )
    )


def reruns_of(session: Session, run: Run) -> list[Run]:
    """Runs started to supersede this one, newest first."""
    return list(
        session.scalars(
            select(Run).where(Run.supersedes_id == run.id).order_by(Run.queued_at.desc())
        )
    )


def runs_by_id(session: Session, user: User, ids: list[str]) -> list[Run]:
    """The runs among `ids` the user may read (for live updates of a page)."""
    if not ids:
        return []
    query = _readable(select(Run).join(Submission).join(Opportunity), user)
    return list(session.scalars(query.where(Run.id.in_(ids))))
