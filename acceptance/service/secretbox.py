"""Webhook secrets at rest: encrypted with a key of the service's own (HMAC needs the secret)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from acceptance.errors import PlatformError

log = logging.getLogger(__name__)


class SecretBox:
    """Encrypts and decrypts small secrets with a Fernet key kept in a 0600 file."""

    def __init__(self, key_path: Path) -> None:
        key = _load_or_create(key_path)
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise PlatformError(
                f"the secrets key at {key_path} is not a Fernet key (empty or damaged): restore "
                "it from the backups kept with the database; without it no stored webhook "
                "secret can be read"
            ) from exc

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise PlatformError(
                "a stored webhook secret cannot be decrypted: the secrets key changed"
            ) from exc


def _load_or_create(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    # Written whole under a temporary name, then linked into place: several processes
    # starting at once (gunicorn's workers) never read a half-written key, and the
    # first link wins (link() never replaces a file).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes().strip()  # another process created it first
    finally:
        tmp.unlink(missing_ok=True)
    log.warning("created a new secrets key at %s (keep it with the database backups)", path)
    return key
