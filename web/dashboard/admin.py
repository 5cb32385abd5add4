"""The admins' pages: the audit trail (`/audit`) and the service's emails (`/messages`).

Both read what the API serves (`GET /api/v1/audit`, `GET /api/v1/messages`), newest
first, one page at a time; any other role gets a 403 page in the reader's language.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from acceptance.errors import UserInputError
from acceptance.service.audit import Action, AuditFilter, Subject, events_query, parse_filter
from acceptance.service.models import AuditEvent, Message, MessageState, Role
from web.dashboard.auth import signed_in
from web.dashboard.decisions import DECISION_WORDS
from web.dashboard.errors import error_page, install_error_pages
from web.dashboard.i18n import ROLE_LABELS, label, when
from web.dashboard.text import inert

admin = Blueprint("admin", __name__)
install_error_pages(admin)

F = TypeVar("F", bound=Callable[..., Any])

ACTION_LABELS = {
    Action.SPEC_PUBLISHED.value: _l("Spec published"),
    Action.OPPORTUNITY_CLOSED.value: _l("Opportunity closed"),
    Action.SUBMISSION_REGISTERED.value: _l("Submission registered"),
    Action.SUBMISSION_WITHDRAWN.value: _l("Submission withdrawn"),
    Action.RUN_REQUESTED.value: _l("Run started by a person"),
    Action.DECISION_RECORDED.value: _l("Decision recorded"),
    Action.USER_CREATED.value: _l("Account created"),
    Action.USER_DISABLED.value: _l("Account disabled"),
    Action.USER_ENABLED.value: _l("Account enabled again"),
    Action.TOKEN_CREATED.value: _l("API token created"),
    Action.TOKEN_REVOKED.value: _l("API token revoked"),
    Action.SESSION_SIGNED_OUT.value: _l("Signed out"),
}
SUBJECT_LABELS = {
    Subject.OPPORTUNITY.value: _l("Opportunity"),
    Subject.SUBMISSION.value: _l("Submission"),
    Subject.RUN.value: _l("Run"),
    Subject.DECISION.value: _l("Decision"),
    Subject.USER.value: _l("Account"),
    Subject.TOKEN.value: _l("API token"),
}
#: the named actors, said in the reader's language (a person is their email)
ACTOR_LABELS = {
    "cli": _l("Command line (server)"),
    "webhook": _l("Forge webhook"),
    "system": _l("The service"),
}
#: the keys of an event's details, in the reader's language
DETAIL_LABELS = {
    "version": _l("Version"),
    "spec_version": _l("Spec version"),
    "spec_version_id": _l("Spec version id"),
    "title": _l("Title"),
    "spec_sha256": _l("Spec sha256"),
    "hidden_tests_sha256": _l("Hidden tests sha256"),
    "new_opportunity": _l("New opportunity"),
    "opportunity": _l("Opportunity"),
    "submission": _l("Submission"),
    "supplier": _l("Supplier"),
    "repo_url": _l("Repository"),
    "branch": _l("Branch"),
    "ref": _l("Ref"),
    "run": _l("Run"),
    "supersedes": _l("Supersedes"),
    "decision": _l("Decision"),
    "override": _l("Override"),
    "reason": _l("Reason"),
    "email": _l("Email"),
    "role": _l("Role"),
    "already_disabled": _l("Already disabled"),
    "expires_at": _l("Expires"),
}
MESSAGE_EVENT_LABELS = {
    "run_finished": _l("Run finished"),
    "decision_recorded": _l("Decision recorded"),
    "state_changed": _l("Submission state changed"),
    "endpoint_disabled": _l("Event endpoint disabled"),
}
MESSAGE_AUDIENCE_LABELS = {"supplier": _l("Supplier"), "owner": _l("Owner")}
MESSAGE_STATE_LABELS = {
    MessageState.QUEUED.value: _l("Waiting to be sent"),
    MessageState.RETRYING.value: _l("Retrying"),
    MessageState.SENT.value: _l("Sent"),
    MessageState.FAILED.value: _l("Not delivered"),
}


def detail_value(key: str, value: Any) -> str | Markup:
    """One value of an event's details as a person reads it (supplier text made inert)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(gettext("Yes") if value else gettext("No"))
    if key == "decision":
        return label(DECISION_WORDS, value)
    if key == "role":
        return label(ROLE_LABELS, value)
    if key == "expires_at":
        return when(str(value).replace("Z", "+00:00"))
    return inert(value, 300)


@dataclass(frozen=True)
class AdminPage:
    """One page of events or emails, and where it sits among all that matched."""

    items: list[Any]
    number: int
    total: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def admins_only(view: F) -> F:
    """A page for admins: signed in, and a 403 page for any other role."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.user.role != Role.ADMIN.value:
            return error_page(
                403, gettext("Not allowed"), gettext("Only administrators see this page.")
            )
        return view(*args, **kwargs)

    return signed_in(wrapper)  # type: ignore[return-value]


def _page_number(args: Mapping[str, str]) -> int:
    try:
        return max(1, min(100_000, int(args.get("page", "1") or "1")))
    except ValueError:
        return 1


def _paged(db: Session, query: Select[Any], order: tuple[Any, ...], wanted: int) -> AdminPage:
    size = int(current_app.config["DASHBOARD_PAGE_SIZE"])
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    number = min(wanted, max(1, -(-total // size)))
    items = db.scalars(query.order_by(*order).offset((number - 1) * size).limit(size)).all()
    return AdminPage(list(items), number, total, size)


@admin.get("/audit")
@admins_only
def audit() -> Any:
    """The audit trail, newest first, filtered by action, actor, record and date."""
    typed = {
        name: request.args.get(name, "").strip()[:320]
        for name in ("action", "actor", "subject", "since")
    }
    errors: dict[str, str] = {}
    wanted = AuditFilter()
    try:
        wanted = parse_filter(typed)
    except UserInputError as exc:
        name = exc.message.split(":", 1)[0]
        errors[name] = {
            "action": gettext("Choose an action from the list."),
            "subject": gettext("Give a record's id, or a kind and an id such as submission:…"),
            "since": gettext("Enter a date as year-month-day, such as 2025-03-31."),
        }.get(name, gettext("Check this field."))
    page = _paged(
        g.db, events_query(wanted), (AuditEvent.at.desc(), AuditEvent.id.desc()),
        _page_number(request.args),
    )  # fmt: skip
    return render_template(
        "dashboard/audit.html",
        page=page,
        typed=typed,
        errors=errors,
        actions=[a.value for a in Action],
        ACTION_LABELS=ACTION_LABELS,
        SUBJECT_LABELS=SUBJECT_LABELS,
        ACTOR_LABELS=ACTOR_LABELS,
        DETAIL_LABELS=DETAIL_LABELS,
        detail_value=detail_value,
    ), (422 if errors else 200)


@admin.get("/messages")
@admins_only
def messages() -> Any:
    """The service's emails, newest first, with where their delivery stands."""
    state = request.args.get("state", "").strip()
    errors: dict[str, str] = {}
    query = select(Message)
    if state and state not in MESSAGE_STATE_LABELS:
        errors["state"] = gettext("Choose a delivery state from the list.")
        state = ""
    if state:
        query = query.where(Message.state == state)
    page = _paged(
        g.db, query, (Message.created_at.desc(), Message.id.desc()), _page_number(request.args)
    )
    return render_template(
        "dashboard/messages.html",
        page=page,
        state=state,
        errors=errors,
        MESSAGE_EVENT_LABELS=MESSAGE_EVENT_LABELS,
        MESSAGE_AUDIENCE_LABELS=MESSAGE_AUDIENCE_LABELS,
        MESSAGE_STATE_LABELS=MESSAGE_STATE_LABELS,
    ), (422 if errors else 200)
