"""Ed25519 keys and DSSE envelopes for signed acceptance reports.

The report is an in-toto Statement carried in a DSSE envelope
(https://github.com/secure-systems-lab/dsse, protocol v1). Anyone holding the
public key can verify it offline with nothing but this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from acceptance.errors import UserInputError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PRIVATE_KEY_NAME = "signing.key"
PUBLIC_KEY_NAME = "signing.pub"

_MAX_KEY_FILE_BYTES = 64 * 1024
# Bounds the verification work an attacker-supplied envelope can demand.
_MAX_SIGNATURES = 64
_ED25519_SIGNATURE_BYTES = 64
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


class SignatureError(UserInputError):
    """The envelope is malformed or its signature does not verify."""

    code = "report:invalid-signature"


class KeyFileError(UserInputError):
    """A key file is missing, unreadable, unsafe, or not an Ed25519 key."""

    code = "key:invalid"


@dataclass(frozen=True)
class VerifiedPayload:
    """A payload whose signature verified, with the key that verified it."""

    payload_type: str
    payload: bytes
    #: ``keyid_for`` of the trusted key that verified it (not the envelope's claim)
    keyid: str


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 Pre-Authentication Encoding of a payload and its type."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def keyid_for(public_key: Ed25519PublicKey) -> str:
    """Return ``"sha256:"`` + hex SHA-256 of the raw 32-byte Ed25519 public key.

    The keyid is only a hint for picking a key (DSSE says it must never decide
    trust); hashing the raw key makes it stable across PEM/DER re-encodings.
    """
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------- keys


def generate_keypair(out_dir: Path) -> tuple[Path, Path]:
    """Create ``signing.key`` (0600) and ``signing.pub`` (0644) in ``out_dir``."""
    key_path = out_dir / PRIVATE_KEY_NAME
    pub_path = out_dir / PUBLIC_KEY_NAME
    for path in (key_path, pub_path):
        if os.path.lexists(path):
            raise KeyFileError(
                f"refusing to overwrite existing key file {path}",
                hint="move the existing key pair away or choose another directory",
            )
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create key directory {out_dir}: {exc.strerror}") from exc
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new_file(key_path, private_pem, 0o600)
    try:
        _write_new_file(pub_path, public_pem, 0o644)
    except KeyFileError:
        key_path.unlink(missing_ok=True)
        raise
    return key_path, pub_path


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file at ``path`` with ``mode``, never replacing one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        # Created with the final mode, so a private key is never readable by
        # others, not even between open() and chmod().
        fd = os.open(tmp, flags, mode)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # the umask may have narrowed it; 0644 is wanted
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        # link() fails if the target exists: publication is atomic and no-clobber.
        os.link(tmp, path)
    except FileExistsError as exc:
        raise KeyFileError(
            f"refusing to overwrite existing key file {path}",
            hint="move the existing key pair away or choose another directory",
        ) from exc
    except OSError as exc:
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load an unencrypted PKCS8 PEM Ed25519 private key, refusing unsafe modes."""
    data = _read_key_file(path, private=True)
    return _parse_private_pem(path, data)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key from a PEM public key or a PEM private key."""
    data = _read_key_file(path, private=False)
    if b"PRIVATE KEY-----" in data:
        return _parse_private_pem(path, data).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(
            f"{path} is not a PEM public key",
            hint="pass the signing.pub file written by key generation",
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {_key_kind(key)} key, not an Ed25519 key")
    return key


def _parse_private_pem(path: Path, data: bytes) -> Ed25519PrivateKey:
    """Parse PEM private key bytes read from ``path`` as Ed25519."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise KeyFileError(
            f"{path} is an encrypted private key",
            hint="use an unencrypted PKCS8 key and protect it with file permissions",
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(
            f"{path} is not a PEM private key",
            hint="pass the signing.key file written by key generation",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {_key_kind(key)} key, not an Ed25519 key")
    return key


def _key_kind(key: object) -> str:
    """A short name for a key's algorithm, for error messages."""
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "")


def _read_key_file(path: Path, *, private: bool) -> bytes:
    """Read a small regular key file; private keys must not be group/other accessible."""
    data, mode = _read_regular_file(path, _MAX_KEY_FILE_BYTES, KeyFileError, "key file")
    if private and os.name == "posix" and mode & 0o077:
        raise KeyFileError(
            f"private key {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o})",
            hint=f"run: chmod 600 {path}",
        )
    return data


def _read_regular_file(
    path: Path, max_bytes: int, error: type[UserInputError], what: str
) -> tuple[bytes, int]:
    """Read at most ``max_bytes`` of a regular file; return its bytes and st_mode."""
    try:
        # O_NONBLOCK: opening a FIFO planted at the path must not hang us.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise error(f"cannot open {what} {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} {path} is not a regular file")
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise error(f"{what} {path} is larger than the {max_bytes}-byte limit")
    return data, info.st_mode


# ---------------------------------------------------------------------- envelopes


def sign_envelope(
    payload: bytes, private_key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE
) -> dict[str, object]:
    """Sign ``payload`` and return a DSSE JSON envelope (standard padded base64)."""
    signature = private_key.sign(pae(payload_type, payload))
    return {
        "payload": base64.standard_b64encode(payload).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [
            {
                "keyid": keyid_for(private_key.public_key()),
                "sig": base64.standard_b64encode(signature).decode("ascii"),
            }
        ],
    }


def verify_envelope(
    envelope: object,
    public_keys: Sequence[Ed25519PublicKey],
    *,
    payload_type: str = PAYLOAD_TYPE,
) -> VerifiedPayload:
    """Verify a DSSE envelope against trusted keys; raise SignatureError if it fails.

    At least one signature must verify with one trusted key. A signature's
    keyid, if present, selects the trusted key with that ``keyid_for``; a
    signature without keyid is tried against every key. The envelope's
    payloadType must equal ``payload_type``.
    """
    if not isinstance(envelope, dict):
        _fail(f"envelope must be a JSON object, not {_json_type(envelope)}")
    claimed_type = _string_field(envelope, "payloadType", "envelope")
    payload = _b64decode(_string_field(envelope, "payload", "envelope"), "payload")
    signatures = _signature_list(envelope)
    if claimed_type != payload_type:
        _fail(f"payloadType is {claimed_type!r}, expected {payload_type!r}")
    message = pae(claimed_type, payload)
    keys = {keyid_for(key): key for key in public_keys}
    if not keys:
        _fail("no trusted public keys were given to verify against")
    problems = []
    for index, entry in enumerate(signatures):
        keyid, problem = _check_signature(entry, index, message, keys)
        if keyid is not None:
            return VerifiedPayload(payload_type=claimed_type, payload=payload, keyid=keyid)
        problems.append(problem)
    _fail("no valid signature: " + "; ".join(problems))


def _check_signature(
    entry: object, index: int, message: bytes, keys: dict[str, Ed25519PublicKey]
) -> tuple[str | None, str]:
    """Return (keyid of the verifying key, "") or (None, why it did not verify)."""
    where = f"signatures[{index}]"
    if not isinstance(entry, dict):
        _fail(f"{where} must be a JSON object, not {_json_type(entry)}")
    signature = _b64decode(_string_field(entry, "sig", where), f"{where}.sig")
    claimed = entry.get("keyid")
    if claimed is not None and not isinstance(claimed, str):
        _fail(f"{where}.keyid must be a string, not {_json_type(claimed)}")
    if len(signature) != _ED25519_SIGNATURE_BYTES:
        return None, f"{where}.sig is {len(signature)} bytes, an Ed25519 signature is 64"
    if claimed:
        if claimed not in keys:
            return None, f"{where} has unknown keyid {claimed!r}"
        candidates = {claimed: keys[claimed]}
    else:
        candidates = keys
    for keyid, key in candidates.items():
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return keyid, ""
    return None, f"{where} does not match the payload with any trusted key"


def _signature_list(envelope: dict[object, object]) -> list[object]:
    """Return the envelope's non-empty, bounded list of signatures."""
    if "signatures" not in envelope:
        _fail("envelope is missing the 'signatures' field")
    signatures = envelope["signatures"]
    if not isinstance(signatures, list):
        _fail(f"envelope 'signatures' must be a JSON array, not {_json_type(signatures)}")
    if not signatures:
        _fail("envelope has no signatures")
    if len(signatures) > _MAX_SIGNATURES:
        _fail(f"envelope has {len(signatures)} signatures; at most {_MAX_SIGNATURES} allowed")
    return signatures


def _string_field(obj: dict[object, object], name: str, where: str) -> str:
    """Return ``obj[name]``, which must be present and a string."""
    if name not in obj:
        _fail(f"{where} is missing the {name!r} field")
    value = obj[name]
    if not isinstance(value, str):
        _fail(f"{where} field {name!r} must be a string, not {_json_type(value)}")
    return value


def _b64decode(value: str, field: str) -> bytes:
    """Strictly decode standard or URL-safe base64, padded or not.

    Only the canonical encoding of a byte string is accepted, so no two
    distinct strings decode to the same bytes.
    """
    if not _BASE64_RE.fullmatch(value):
        _fail(f"{field} is not valid base64 (unexpected characters)")
    if re.search(r"[+/]", value) and re.search(r"[-_]", value):
        _fail(f"{field} is not valid base64 (mixes standard and URL-safe alphabets)")
    body = value.rstrip("=")
    if len(body) % 4 == 1:
        _fail(f"{field} is not valid base64 (wrong length)")
    padded = body + "=" * (-len(body) % 4)
    if body != value and padded != value:
        _fail(f"{field} is not valid base64 (wrong padding)")
    standard = padded.translate(_URLSAFE_TO_STANDARD)
    try:
        data = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{field} is not valid base64 ({exc})") from exc
    if base64.b64encode(data).decode("ascii") != standard:
        _fail(f"{field} is not valid base64 (non-canonical trailing bits)")
    return data


def _json_type(value: object) -> str:
    """Name a decoded JSON value's type the way JSON does."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _fail(message: str) -> NoReturn:
    """Raise SignatureError with ``message``."""
    raise SignatureError(message)


def read_envelope(path: Path, max_bytes: int = 16 * 1024**2) -> object:
    """Read and parse a JSON envelope file of at most ``max_bytes`` bytes."""
    data, _ = _read_regular_file(path, max_bytes, SignatureError, "envelope file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureError(f"envelope file {path} is not UTF-8 text: {exc.reason}") from exc
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise SignatureError(
            f"envelope file {path} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from exc
    except SignatureError as exc:
        raise SignatureError(f"envelope file {path}: {exc.message}") from exc
    except (ValueError, RecursionError) as exc:
        raise SignatureError(f"envelope file {path} is not acceptable JSON: {exc}") from exc


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """Build a JSON object, refusing duplicate keys that parsers resolve differently."""
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            _fail(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> NoReturn:
    """Refuse the non-standard JSON constants NaN and Infinity."""
    _fail(f"non-standard JSON constant {name}")
