"""The public keys reports can be verified with: the current signing key and retired ones.

Key rotation keeps old reports verifiable: the retired key's public half goes
into the retired folder (`ACCEPTANCE_RETIRED_KEYS_DIR`, default `retired/`
beside the signing key) and stays served by `/api/v1/keys`; each report's DSSE
signature names its key id, so a verifier picks the right key.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from acceptance.engine.signing import (
    KeyFileError,
    generate_keypair,
    keyid_for,
    load_private_key,
    load_public_key,
)
from acceptance.settings import Settings

log = logging.getLogger(__name__)

#: more than this many retired keys is a mistake, not a rotation history
MAX_RETIRED_KEYS = 100


def public_keys(settings: Settings) -> list[dict[str, Any]]:
    """`{keyid, algorithm, pem, status}` for the current key (first) and each retired one."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    candidates: list[tuple[Path, str]] = [(settings.public_key, "current")]
    retired = settings.retired_keys_dir
    if retired.is_dir():
        names = sorted(p for p in retired.iterdir() if p.suffix == ".pub")
        candidates += [(path, "retired") for path in names[:MAX_RETIRED_KEYS]]
    for path, status in candidates:
        if not path.exists():
            continue
        try:
            public = load_public_key(path)
            pem = path.read_text(encoding="ascii")
        except (KeyFileError, OSError, UnicodeDecodeError) as exc:
            log.warning("public_key_unreadable", extra={"path": str(path), "why": str(exc)})
            continue
        if b"PRIVATE KEY" in pem.encode():
            log.warning("private_key_in_public_folder", extra={"path": str(path)})
            continue
        keyid = keyid_for(public)
        if keyid in seen:
            continue
        seen.add(keyid)
        found.append({"keyid": keyid, "algorithm": "ed25519", "pem": pem, "status": status})
    return found


def ensure_signing_key(settings: Settings) -> Any:
    """The signing key, created on first use with a line saying so (on stderr and in the log)."""
    if not settings.signing_key.exists():
        try:
            generate_keypair(settings.signing_key.parent)
            print(f"· created a new signing key at {settings.signing_key}", file=sys.stderr)
            logging.getLogger("acceptance").warning(
                "created a new signing key at %s", settings.signing_key
            )
        except (FileExistsError, KeyFileError):
            if not settings.signing_key.exists():
                raise
            # another process created it first
    return load_private_key(settings.signing_key)
