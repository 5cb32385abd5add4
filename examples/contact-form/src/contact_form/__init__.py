"""Validation of the fields of a public contact form."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_MESSAGE = 5000


def validate(name: str, email: str, message: str) -> dict[str, str]:
    """Return a mapping of field name to error message; empty when the form is valid."""
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Enter your name"
    if not _EMAIL.match(email.strip()):
        errors["email"] = "Enter an email address like name@example.ca"
    if not message.strip():
        errors["message"] = "Enter a message"
    elif len(message) > MAX_MESSAGE:
        errors["message"] = f"Your message must be {MAX_MESSAGE} characters or fewer"
    return errors
