"""People and their API tokens: create, sign in, disable, issue, check and revoke."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from acceptance.errors import UserInputError
from acceptance.service.access import (
    Conflict,
    NotFound,
)
from acceptance.service.audit import SYSTEM, Action, Actor, Subject, record
from acceptance.service.models import (
    ApiToken,
    Role,
    User,
    utcnow,
)
from acceptance.service.recipients import check_language

log = logging.getLogger(__name__)


MIN_PASSWORD_CHARS = 12
TOKEN_PREFIX = "acc_"


class TokenRefused(UserInputError):
    """An API token that does not (or no longer) let anyone in; the message says why."""


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: its secret is shown once, its id names it from then on."""

    id: str
    secret: str
    expires_at: dt.datetime | None


class TokenState(str, Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


#: `30d`, `12h`, `90m`, `2w`
_LIFETIME = re.compile(r"(?P<count>[1-9][0-9]{0,5})(?P<unit>[mhdw])")
_LIFETIME_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_TOKEN_LIFETIME = dt.timedelta(days=3650)


def parse_lifetime(text: str) -> dt.timedelta:
    """A token's lifetime from `30d`, `12h`, `90m` or `2w` (at most ten years)."""
    match = _LIFETIME.fullmatch(text.strip().lower())
    if match is None:
        raise UserInputError(
            f"{text!r} is not a lifetime", hint="write a number and a unit: 90m, 12h, 30d or 2w"
        )
    lifetime = dt.timedelta(**{_LIFETIME_UNITS[match["unit"]]: int(match["count"])})
    if lifetime > MAX_TOKEN_LIFETIME:
        raise UserInputError(
            f"{text!r} is longer than ten years", hint="leave --expires out instead"
        )
    return lifetime


def create_user(
    session: Session,
    email: str,
    role: str,
    password: str,
    language: str = "en",
    *,
    actor: Actor = SYSTEM,
) -> User:
    language = check_language(language)
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise UserInputError(f"{email!r} is not an email address")
    if role not in {r.value for r in Role}:
        raise UserInputError(f"unknown role {role!r}", hint="use admin, owner, reviewer or finance")
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserInputError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise Conflict(f"a user with the email {email} already exists")
    user = User(
        email=email, role=role, password_hash=generate_password_hash(password), language=language
    )
    session.add(user)
    session.flush()
    details = {"email": email, "role": role}
    record(session, actor, Action.USER_CREATED, Subject.USER, user.id, details)
    return user


def user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with the email {email}")
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user with this email and password, unless disabled (the caller says neither which)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        # Same work either way, so timing does not tell which emails exist.
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or user.disabled:
        return None
    return user


_DUMMY_HASH = generate_password_hash("timing-equaliser-" + secrets.token_hex(8))


def end_sessions(session: Session, user: User) -> None:
    """Every dashboard session of the user stops working, whoever holds its cookie."""
    # In SQL, so two sign-outs at once cannot both write the same next value.
    user.session_generation = User.session_generation + 1
    session.flush()
    session.refresh(user, ["session_generation"])


def disable_user(session: Session, email: str, *, actor: Actor = SYSTEM) -> User:
    """No sign-in, no API token and no open dashboard session works for the user any more."""
    user = user_by_email(session, email)
    was_disabled = user.disabled_at is not None
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    end_sessions(session, user)
    # Recorded even when already disabled: the sessions were ended again.
    details = {"email": user.email, "already_disabled": was_disabled}
    record(session, actor, Action.USER_DISABLED, Subject.USER, user.id, details)
    log.warning("user_disabled", extra={"user_id": user.id})
    return user


def enable_user(session: Session, email: str, *, actor: Actor = SYSTEM) -> User:
    """Undo `disable_user`: the password and the tokens not revoked or expired work again."""
    user = user_by_email(session, email)
    if user.disabled_at is not None:
        record(session, actor, Action.USER_ENABLED, Subject.USER, user.id, {"email": user.email})
    user.disabled_at = None
    session.flush()
    log.warning("user_enabled", extra={"user_id": user.id})
    return user


def create_token(
    session: Session, email: str, lifetime: dt.timedelta | None = None, *, actor: Actor = SYSTEM
) -> str:
    """A new API token for the user; only its hash is stored, so show it now or never."""
    return issue_token(session, email, lifetime, actor=actor).secret


def issue_token(
    session: Session, email: str, lifetime: dt.timedelta | None = None, *, actor: Actor = SYSTEM
) -> IssuedToken:
    """A new API token with its id, valid for `lifetime` (None: until revoked)."""
    user = user_by_email(session, email)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + lifetime if lifetime is not None else None
    row = ApiToken(user_id=user.id, token_sha256=_sha256(secret), expires_at=expires_at)
    session.add(row)
    session.flush()
    details = {"email": user.email, "expires_at": _iso(expires_at)}
    record(session, actor, Action.TOKEN_CREATED, Subject.TOKEN, row.id, details)
    return IssuedToken(row.id, secret, expires_at)


def token_state(token: ApiToken, now: dt.datetime | None = None) -> TokenState:
    if token.revoked_at is not None:
        return TokenState.REVOKED
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return TokenState.EXPIRED
    return TokenState.ACTIVE


def token_user(session: Session, token: str) -> User:
    """The user a valid token belongs to; TokenRefused says why any other token is refused.

    The holder of a revoked or expired token already knows the secret, so
    saying which state it is in tells them nothing they could not guess.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha256(token)))
    if row is None:
        raise TokenRefused("the token is not valid")
    state = token_state(row)
    if state is TokenState.REVOKED:
        raise TokenRefused("the token was revoked: ask an admin for a new one")
    if state is TokenState.EXPIRED:
        assert row.expires_at is not None
        expired = row.expires_at.isoformat(timespec="seconds")
        raise TokenRefused(f"the token expired at {expired}: ask an admin for a new one")
    if row.user.disabled:
        raise TokenRefused("the token's account is disabled")
    row.last_used_at = utcnow()
    return row.user


def user_for_token(session: Session, token: str) -> User | None:
    """The user a valid token belongs to, or None (see `token_user` for why)."""
    try:
        return token_user(session, token)
    except TokenRefused:
        return None


def list_tokens(session: Session, email: str) -> list[ApiToken]:
    """The user's tokens, oldest first, whatever their state."""
    user = user_by_email(session, email)
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
        )
    )


def revoke_token(
    session: Session, token_id_or_secret: str, *, actor: Actor = SYSTEM
) -> tuple[ApiToken, bool]:
    """Revoke one token, named by its id or by the token itself; True when it was still usable."""
    key = token_id_or_secret.strip()
    if key.startswith(TOKEN_PREFIX):
        row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha256(key)))
    else:
        row = session.get(ApiToken, key)
    if row is None:
        raise NotFound("no token with this id", hint="`acceptance tokens list EMAIL` shows the ids")
    changed = row.revoked_at is None
    if changed:
        row.revoked_at = utcnow()
        log.warning("token_revoked", extra={"token_id": row.id, "user_id": row.user_id})
        details = {"email": row.user.email}
        record(session, actor, Action.TOKEN_REVOKED, Subject.TOKEN, row.id, details)
    return row, changed


def revoke_tokens(session: Session, email: str, *, actor: Actor = SYSTEM) -> list[ApiToken]:
    """Revoke every token of the user not yet revoked; returns those just revoked."""
    now = utcnow()
    revoked = [t for t in list_tokens(session, email) if t.revoked_at is None]
    for token in revoked:
        token.revoked_at = now
        details = {"email": token.user.email}
        record(session, actor, Action.TOKEN_REVOKED, Subject.TOKEN, token.id, details)
    if revoked:
        log.warning("tokens_revoked", extra={"user_email": email, "count": len(revoked)})
    return revoked


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None
