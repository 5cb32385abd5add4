"""Emails about a submission: what is said, to whom, in which language, and their records.

Three events send mail, to the submission's contact (if one was given) and to
the opportunity's owner: a run finished, a decision was recorded, and the
submission's state changed. A state change caused by a finished run or a
decision is said in that event's own email (one email, not two); a
withdrawal has an email of its own.

Each email is composed once, in its recipient's language, kept as a `Message`
row (`queued`), and handed to `send` (the worker's mail task, acceptance.service.mailer
delivers it) only once that row is committed. Composing never fails the run or
the decision that caused it: any error is logged and the email is dropped.

The supplier's email is built from acceptance.service.supplier_view only: the owner's
hidden tests reach it no more than they reach the status page.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

from acceptance.service.db import Database
from acceptance.service.decisions import SubmissionState, submission_state
from acceptance.service.models import (
    Decision,
    EventEndpoint,
    Message,
    Opportunity,
    Run,
    Submission,
    User,
)
from acceptance.service.reason_text import plain_reason, reasons_of
from acceptance.service.recipients import DEFAULT_LANGUAGE
from acceptance.service.supplier_view import supplier_run
from acceptance.settings import Settings

log = logging.getLogger(__name__)

#: the dashboard's catalogue: the one place the service's French lives (compiled by pybabel)
CATALOGUES = Path(__file__).resolve().parents[2] / "web" / "dashboard" / "translations"
_MAX_ITEMS = 30
_MAX_LINE = 500

RUN_FINISHED, DECISION_RECORDED, STATE_CHANGED = (
    "run_finished",
    "decision_recorded",
    "state_changed",
)
#: an owner's event endpoint took nothing for a day and was disabled (acceptance.service.events)
ENDPOINT_DISABLED = "endpoint_disabled"
SUPPLIER, OWNER = "supplier", "owner"


# ---------------------------------------------------------------- one email, two renderings


@dataclass(frozen=True)
class Mail:
    """What an email says; rendered as plain text and as HTML from the same parts."""

    subject: str
    paragraphs: list[str]
    items: list[str] = field(default_factory=list)
    link_label: str | None = None
    link: str | None = None

    def text(self) -> str:
        parts = list(self.paragraphs)
        if self.items:
            parts.append("\n".join(f"- {item}" for item in self.items))
        if self.link:
            parts.append(f"{self.link_label} {self.link}")
        return "\n\n".join(parts) + "\n"

    def html(self, language: str) -> str:
        body = [f"<p>{html.escape(p)}</p>" for p in self.paragraphs]
        if self.items:
            body.append(
                "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in self.items) + "</ul>"
            )
        if self.link:
            body.append(
                f"<p>{html.escape(self.link_label or '')} "
                f'<a href="{html.escape(self.link, quote=True)}">{html.escape(self.link)}</a></p>'
            )
        return (
            f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.subject)}</title></head>\n<body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of `language`; English (the messages' own words) when it is not compiled."""
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(CATALOGUES), [language], domain="messages")


#: runs of white space but the no-break spaces French puts before « : ; ! ? »
_SPACES = re.compile(r"[^\S\u00a0\u202f]+")


def _line(text: object) -> str:
    """A sentence from a record, on one line and bounded: no header or layout tricks."""
    flat = _SPACES.sub(" ", str(text or "")).strip()
    return flat if len(flat) <= _MAX_LINE else flat[: _MAX_LINE - 1] + "…"


def _verdict(t: NullTranslations, verdict: str | None) -> str:
    words = {
        "accepted": t.gettext("The checks accepted this delivery."),
        "rejected": t.gettext("The checks rejected this delivery."),
        "error": t.gettext(
            "The platform could not judge this delivery; this is not the supplier's fault."
        ),
    }
    return words.get(verdict or "", t.gettext("No verdict."))


def _status(t: NullTranslations, status: str) -> str:
    words = {
        "passed": t.gettext("passed"), "failed": t.gettext("failed"),
        "error": t.gettext("error"), "skipped": t.gettext("skipped"),
    }  # fmt: skip
    return words.get(status, status)


def _state(t: NullTranslations, state: SubmissionState) -> str:
    words = {
        SubmissionState.AWAITING_DELIVERY: t.gettext("awaiting delivery"),
        SubmissionState.IN_REVIEW: t.gettext("in review"),
        SubmissionState.CHANGES_REQUESTED: t.gettext("changes requested"),
        SubmissionState.ACCEPTED: t.gettext("accepted"),
        SubmissionState.REJECTED: t.gettext("rejected"),
        SubmissionState.WITHDRAWN: t.gettext("withdrawn"),
    }
    return words[state]


def _decision(t: NullTranslations, decision: str) -> str:
    words = {
        "accepted": t.gettext("The owner accepted this delivery."),
        "changes_requested": t.gettext("The owner asks for changes to this delivery."),
        "rejected": t.gettext("The owner rejected this delivery."),
    }
    return words[decision]


@dataclass(frozen=True)
class Recipient:
    audience: str
    address: str
    language: str


@dataclass(frozen=True)
class Links:
    """Where each audience reads more: the supplier's status page, the owner's report page."""

    base: str | None

    def of(self, audience: str, submission: Submission, run_id: str | None) -> str | None:
        if self.base is None:
            return None
        if audience == SUPPLIER:
            return f"{self.base}/status/{submission.status_token}"
        return (
            f"{self.base}/runs/{run_id}"
            if run_id
            else f"{self.base}/opportunities/{submission.opportunity_id}"
        )


def _state_line(
    t: NullTranslations, before: SubmissionState | None, after: SubmissionState
) -> list[str]:
    if before is None or before == after:
        return []
    return [t.gettext("The submission is now: %(state)s.") % {"state": _state(t, after)}]


def run_finished_mail(
    t: NullTranslations,
    audience: str,
    run: Run,
    view: Mapping[str, Any],
    state_lines: list[str],
    link: str | None,
) -> Mail:
    """`view` is what this audience may see of the run: the supplier view for the supplier."""
    submission = run.submission
    names = {
        "opportunity": _line(submission.opportunity.title),
        "supplier": _line(submission.supplier),
    }
    items = [
        t.gettext("%(check)s: %(result)s")
        % {"check": _line(check.get("id")), "result": _status(t, str(check.get("status")))}
        + (f" — {_line(check['summary'])}" if check.get("summary") else "")
        for check in list(view.get("checks") or [])[:_MAX_ITEMS]
    ]
    # Said in the recipient's language, then the engine's sentence (English, as signed); the
    # report, when the view has it, ties each reason to its code, else the run's record does.
    lines, told = reasons_of(view)
    reasons = [_line(plain_reason(t, line, told)) for line in lines[:_MAX_ITEMS]]
    return Mail(
        subject=t.gettext("%(opportunity)s: a run of %(supplier)s has finished") % names,
        paragraphs=[
            t.gettext(
                "The acceptance run of %(supplier)s's delivery to “%(opportunity)s” has finished."
            )
            % names,
            t.gettext("Commit: %(commit)s") % {"commit": _line(run.commit or run.ref or "?")},
            _verdict(t, run.verdict),
            *reasons,
            *state_lines,
        ],
        items=items,
        link_label=t.gettext("The details:") if link else None,
        link=link,
    )


def decision_mail(
    t: NullTranslations, decision: Decision, state_lines: list[str], link: str | None
) -> Mail:
    submission = decision.submission
    names = {
        "opportunity": _line(submission.opportunity.title),
        "supplier": _line(submission.supplier),
    }
    paragraphs = [
        t.gettext("A decision was recorded on %(supplier)s's delivery to “%(opportunity)s”.")
        % names,
        t.gettext("Commit: %(commit)s") % {"commit": _line(decision.run.commit or "?")},
        _decision(t, decision.decision),
    ]
    if decision.override:
        paragraphs.append(t.gettext("This acceptance overrides the checks' verdict."))
    if decision.reason:
        paragraphs.append(t.gettext("Reason: %(reason)s") % {"reason": _line(decision.reason)})
    return Mail(
        subject=t.gettext("%(opportunity)s: a decision on %(supplier)s's delivery") % names,
        paragraphs=[*paragraphs, *state_lines],
        link_label=t.gettext("The details:") if link else None,
        link=link,
    )


def state_mail(
    t: NullTranslations, submission: Submission, after: SubmissionState, link: str | None
) -> Mail:
    names = {
        "opportunity": _line(submission.opportunity.title),
        "supplier": _line(submission.supplier),
    }
    return Mail(
        subject=t.gettext("%(opportunity)s: the submission of %(supplier)s is %(state)s")
        % {**names, "state": _state(t, after)},
        paragraphs=[
            t.gettext("The submission of %(supplier)s to “%(opportunity)s” has changed.") % names,
            t.gettext("The submission is now: %(state)s.") % {"state": _state(t, after)},
        ],
        link_label=t.gettext("The details:") if link else None,
        link=link,
    )


def endpoint_disabled_mail(
    t: NullTranslations, opportunity: Opportunity, url: str, link: str | None
) -> Mail:
    names = {"opportunity": _line(opportunity.title), "url": _line(url)}
    return Mail(
        subject=t.gettext("%(opportunity)s: an event endpoint was disabled") % names,
        paragraphs=[
            t.gettext(
                "No event reached %(url)s for a day, so it was disabled: nothing more is sent to it."
            )
            % names,
            t.gettext("Once it answers again, send one of its events again: that enables it."),
        ],
        link_label=t.gettext("Its deliveries:") if link else None,
        link=link,
    )


def recipients(session: Any, submission: Submission) -> list[Recipient]:
    """The submission's contact and the opportunity's owner, each once, each in their language."""
    found: list[Recipient] = []
    if submission.contact_email:
        found.append(Recipient(SUPPLIER, submission.contact_email, submission.language))
    owner: User = submission.opportunity.owner
    if not owner.disabled and owner.email.lower() not in {r.address.lower() for r in found}:
        found.append(Recipient(OWNER, owner.email, owner.language))
    return found


# ---------------------------------------------------------------- recording and handing over


class Notifier:
    """Composes and keeps the emails of an event, then hands their ids to `send` (after commit)."""

    _said_disabled = False

    def __init__(self, settings: Settings, db: Database, send: Callable[[str], None]) -> None:
        self.settings = settings
        self.db = db
        self.send = send

    def run_finished(
        self, run_id: str, before: SubmissionState | None, predicate: Mapping[str, Any] | None
    ) -> list[str]:
        """Emails about a run that has just ended; `predicate` is its signed report's (or None)."""

        def compose(session: Any) -> list[Message]:
            run = session.get(Run, run_id)
            if run is None:
                return []
            after = submission_state(session, run.submission).state
            supplier_view = supplier_run(run, predicate)
            summary = run.summary or {}
            owner_view = {
                "checks": summary.get("checks") or [],
                "reasons": run.reasons or [],
                "reason_codes": run.reason_codes or [],
                "runtime": summary.get("runtime"),
                "runtime_source": summary.get("runtime_source"),
                # the owner sees the whole report: it ties each reason to its check and code
                "report": predicate,
            }
            made = []
            for who in recipients(session, run.submission):
                t = translations(who.language)
                view = supplier_view if who.audience == SUPPLIER else owner_view
                link = self._links().of(who.audience, run.submission, run.id)
                mail = run_finished_mail(
                    t, who.audience, run, view, _state_line(t, before, after), link
                )
                made.append(_message(who, mail, RUN_FINISHED, run.submission, run_id=run.id))
            return made

        return self._record("run_finished", run_id, compose)

    def decision_recorded(
        self, decision_id: str, before: SubmissionState | None, base: str | None
    ) -> list[str]:
        def compose(session: Any) -> list[Message]:
            decision = session.get(Decision, decision_id)
            if decision is None:
                return []
            submission = decision.submission
            after = submission_state(session, submission).state
            made = []
            for who in recipients(session, submission):
                t = translations(who.language)
                link = Links(base).of(who.audience, submission, decision.run_id)
                mail = decision_mail(t, decision, _state_line(t, before, after), link)
                made.append(_message(
                    who, mail, DECISION_RECORDED, submission, run_id=decision.run_id, decision_id=decision.id
                ))  # fmt: skip
            return made

        return self._record("decision_recorded", decision_id, compose)

    def state_changed(
        self, submission_id: str, before: SubmissionState | None, base: str | None
    ) -> list[str]:
        """Emails for a change of state no run or decision caused (a withdrawal)."""

        def compose(session: Any) -> list[Message]:
            submission = session.get(Submission, submission_id)
            if submission is None:
                return []
            after = submission_state(session, submission).state
            if before == after:
                return []
            made = []
            for who in recipients(session, submission):
                link = Links(base).of(who.audience, submission, None)
                made.append(_message(who, state_mail(translations(who.language), submission, after, link),
                                     STATE_CHANGED, submission))  # fmt: skip
            return made

        return self._record("state_changed", submission_id, compose)

    def endpoint_disabled(self, endpoint_id: str) -> list[str]:
        """An email to the opportunity's owner: their event endpoint was disabled."""

        def compose(session: Any) -> list[Message]:
            endpoint = session.get(EventEndpoint, endpoint_id)
            if endpoint is None:
                return []
            opportunity: Opportunity = session.get(Opportunity, endpoint.opportunity_id)
            owner: User = opportunity.owner
            if owner.disabled:
                return []
            base = self.settings.public_url
            link = f"{base}/opportunities/{opportunity.id}/endpoints" if base else None
            mail = endpoint_disabled_mail(
                translations(owner.language), opportunity, endpoint.url, link
            )
            who = Recipient(OWNER, owner.email, owner.language)
            return [Message(
                event=ENDPOINT_DISABLED, audience=OWNER, recipient=who.address, language=who.language,
                subject=mail.subject[:500], body_text=mail.text(), body_html=mail.html(who.language),
            )]  # fmt: skip

        return self._record(ENDPOINT_DISABLED, endpoint_id, compose)

    def _links(self) -> Links:
        # A worker has no request to take a host from: links need ACCEPTANCE_PUBLIC_URL.
        return Links(self.settings.public_url)

    def _record(self, event: str, about: str, compose: Callable[[Any], list[Message]]) -> list[str]:
        """Keep the composed emails, then hand them over; never raises (the event has happened)."""
        if not self.settings.smtp_url:
            if not Notifier._said_disabled:
                Notifier._said_disabled = True
                log.info(
                    "mail_disabled",
                    extra={"why": "ACCEPTANCE_SMTP_URL is not set: no email is sent"},
                )
            return []
        try:
            with self.db.session() as session:
                messages = compose(session)
                session.add_all(messages)
                session.flush()
                ids = [m.id for m in messages]
        except Exception:  # noqa: BLE001 - an email must never undo or fail what it reports
            log.exception("mail_not_composed", extra={"event": event, "about": about})
            return []
        for message_id in ids:
            try:
                self.send(message_id)
            except Exception:  # noqa: BLE001 - the broker may be down: the row says `queued`
                log.warning("mail_not_enqueued", extra={"mail_id": message_id}, exc_info=True)
        log.info("mail_queued", extra={"event": event, "about": about, "messages": ids})
        return ids


def _message(
    who: Recipient, mail: Mail, event: str, submission: Submission,
    *, run_id: str | None = None, decision_id: str | None = None,
) -> Message:  # fmt: skip
    return Message(
        event=event, audience=who.audience, recipient=who.address, language=who.language,
        subject=mail.subject[:500], body_text=mail.text(), body_html=mail.html(who.language),
        submission_id=submission.id, run_id=run_id, decision_id=decision_id,
    )  # fmt: skip


def state_before(
    db: Database, *, submission_id: str | None = None, run_id: str | None = None
) -> SubmissionState | None:
    """The state now of the submission (or of the run's), to tell later whether an event changed it."""
    try:
        with db.session() as session:
            if run_id is not None:
                run = session.get(Run, run_id)
                submission_id = run.submission_id if run is not None else None
            submission = session.get(Submission, submission_id) if submission_id else None
            return submission_state(session, submission).state if submission else None
    except Exception:  # noqa: BLE001 - only an email's wording depends on it
        log.warning(
            "state_unknown", extra={"submission": submission_id, "run": run_id}, exc_info=True
        )
        return None
