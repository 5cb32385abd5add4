"""Errors that say whose fault they are.

Three families, each mapped to one CLI exit code:

* ``UserInputError``: the caller gave bad input (spec, arguments, unreachable
  source). Exit 2. Never retried.
* ``SubmissionError``: the delivered code itself is at fault (unsafe repository,
  uninstallable dependency, resource limit hit). The run is *rejected* with a
  stable reason code. Exit 1.
* ``PlatformError``: the platform could not judge (Docker down, image missing).
  Exit 3. Safe to retry.
"""

from __future__ import annotations


class AcceptanceError(Exception):
    """Base of every error the engine raises on purpose."""

    #: stable, machine-readable identifier, e.g. ``spec:invalid``
    code: str = "acceptance:error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """A person-readable explanation, with how to fix it when known."""
        if self.hint:
            return f"{self.message}\nHow to fix: {self.hint}"
        return self.message


class UserInputError(AcceptanceError):
    """Bad input from the caller: spec, arguments, or an unusable source."""

    code = "input:invalid"


class SubmissionError(AcceptanceError):
    """The submission is at fault; the run is rejected with ``reason``."""

    code = "submission:rejected"

    def __init__(self, reason: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        #: stable reason code such as ``UNSAFE_REPOSITORY`` or ``TIMEOUT``
        self.reason = reason


class PlatformError(AcceptanceError):
    """The platform could not judge (infrastructure failure)."""

    code = "platform:error"
