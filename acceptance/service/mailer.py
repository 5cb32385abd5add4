"""Delivering a kept email over SMTP, and recording how it went.

The worker's mail task calls `deliver` with a message id. The row is locked
while it is sent, so two deliveries of the task never send it twice; a message
already `sent` is not sent again. A server that refuses for good (a 5xx answer)
fails the message at once; anything else (no connection, a 4xx, a timeout) is
retried by the task with a backoff until MAX_ATTEMPTS.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from acceptance.service.db import Database
from acceptance.service.models import Message, MessageState, utcnow
from acceptance.settings import Settings

log = logging.getLogger(__name__)

#: attempts in all, the first included, before a message is `failed`
MAX_ATTEMPTS = 5
#: seconds to reach the server and for each of its answers
SMTP_TIMEOUT = 20.0
_MAX_ERROR = 1000


@dataclass(frozen=True)
class Attempt:
    """What one delivery did: the message's state after it, and whether to try again."""

    state: str
    retry: bool = False


def build_email(message: Message, sender: str) -> EmailMessage:
    """The message as multipart/alternative: plain text first, HTML as the richer part."""
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = message.recipient
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(idstring=message.id)
    email["Content-Language"] = message.language
    # Machine mail: no out-of-office answers back to the service.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    return email


def smtp_send(url: str, email: EmailMessage, timeout: float = SMTP_TIMEOUT) -> None:
    """Send through the server at `url` (smtp://, smtps:// or smtp+starttls://, as settings checked)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, parts.port or 465, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, parts.port or 25, timeout=timeout)
    with client:
        if parts.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(email)


def deliver(db: Database, settings: Settings, message_id: str) -> Attempt:
    """Try to send message `message_id` once and record the outcome."""
    with db.session() as session:
        message = session.scalar(
            select(Message).where(Message.id == message_id).with_for_update(skip_locked=True)
        )
        if message is None:  # gone, or another worker is sending it right now
            return Attempt("missing")
        if message.state in (MessageState.SENT.value, MessageState.FAILED.value):
            return Attempt(message.state)
        if not settings.smtp_url:
            message.state, message.last_error = (
                MessageState.FAILED.value,
                "ACCEPTANCE_SMTP_URL is not set",
            )
            return Attempt(message.state)
        message.attempts += 1
        message.last_attempt_at = utcnow()
        try:
            smtp_send(settings.smtp_url, build_email(message, settings.mail_from))
        except (OSError, smtplib.SMTPException) as exc:
            lasting = _refused_for_good(exc)
            out_of_tries = message.attempts >= MAX_ATTEMPTS
            message.state = (
                MessageState.FAILED if lasting or out_of_tries else MessageState.RETRYING
            ).value
            message.last_error = _describe(exc)[:_MAX_ERROR]
            log.warning(
                "mail_not_sent",
                extra={"mail_id": message.id, "attempt": message.attempts, "state": message.state,
                       "why": message.last_error},
            )  # fmt: skip
            return Attempt(message.state, retry=message.state == MessageState.RETRYING.value)
        message.state, message.sent_at, message.last_error = MessageState.SENT.value, utcnow(), None
        log.info(
            "mail_sent",
            extra={"mail_id": message.id, "attempt": message.attempts, "event": message.event},
        )
        return Attempt(message.state)


def _refused_for_good(exc: Exception) -> bool:
    """A 5xx answer: the server will say the same next time (an unknown recipient, a refused sender)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"SMTP {exc.smtp_code}: {text}"
    return f"{type(exc).__name__}: {exc}"
