"""The dashboard's own settings, read once from the environment, and its session key."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from acceptance.errors import UserInputError
from acceptance.settings import Settings, load_settings

#: bytes of randomness in the session-signing key
SESSION_KEY_BYTES = 32


@dataclass(frozen=True)
class DashboardConfig:
    """How sign-in cookies are sent and in which time zone dates are shown."""

    #: cookies only over https; ACCEPTANCE_INSECURE_COOKIES=1 allows plain-http local use
    secure_cookies: bool = True
    #: IANA zone that dates are shown in and date filters are read in
    timezone: str = "UTC"
    #: rows per page of the runs list
    page_size: int = 25


def dashboard_config(settings: Settings) -> DashboardConfig:
    """The dashboard's part of the service settings (ACCEPTANCE_INSECURE_COOKIES, ACCEPTANCE_TIMEZONE)."""
    return DashboardConfig(secure_cookies=not settings.insecure_cookies, timezone=settings.timezone)


def load_dashboard_config(env: Mapping[str, str] | None = None) -> DashboardConfig:
    """The config from an environment, through the one settings loader."""
    return dashboard_config(load_settings(env))


def session_key(path: Path) -> bytes:
    """The key that signs session cookies: created once (0600), then read by every worker.

    Written to a temporary file and linked into place, so concurrent workers
    starting together agree on one key and never read a half-written file.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".session-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(SESSION_KEY_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker won the race: use its key
    finally:
        os.unlink(tmp)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    if len(text) < SESSION_KEY_BYTES:
        raise UserInputError(f"{path}: the session key is too short; delete it to make a new one")
    return text.encode("ascii")
