"""Who may receive the service's emails: a checked contact address, a supported language."""

from __future__ import annotations

import re

from acceptance.errors import UserInputError

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
#: a WHATWG-style address: what a form's type=email accepts, no display name, no comments
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
MAX_EMAIL_CHARS = 320
BAD_EMAIL = "contact_email: give one email address such as bids@supplier.example"


def check_language(value: object, name: str = "language") -> str:
    """`en` or `fr` (None or empty: `en`); anything else is the caller's mistake."""
    if value is None or value == "":
        return DEFAULT_LANGUAGE
    if not isinstance(value, str) or value.strip().lower() not in LANGUAGES:
        raise UserInputError(f"{name}: one of {', '.join(LANGUAGES)}")
    return value.strip().lower()


def check_contact_email(value: object) -> str | None:
    """An email address for the supplier's emails; None or empty: no email to the supplier."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserInputError(BAD_EMAIL)
    text = value.strip()
    if text and (len(text) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(text)):
        raise UserInputError(BAD_EMAIL)
    return text or None
