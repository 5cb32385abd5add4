"""The service's operations on its records, shared by the API, the webhooks, the CLI and workers.

Callers own the transaction (``Database.session()``) and enqueue runs only
after it committed, so a worker never looks for a row that is not there yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from acceptance.engine.spec import MAX_SPEC_BYTES, SpecError, hidden_tests_name_problem, load_spec
from acceptance.errors import UserInputError
from acceptance.service.audit import SYSTEM, Action, Actor, Subject, record
from acceptance.service.models import (
    ApiToken,
    Opportunity,
    Role,
    Run,
    RunStatus,
    SpecVersion,
    Submission,
    User,
    new_id,
    utcnow,
)
from acceptance.service.recipients import check_contact_email, check_language
from acceptance.service.secretbox import SecretBox

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 12
TOKEN_PREFIX = "acc_"


class NotFound(UserInputError):
    """The record does not exist, or the caller may not see it (never say which)."""


class Forbidden(UserInputError):
    """The caller may see the record but not do this to it."""


class Conflict(UserInputError):
    """The request contradicts what exists (e.g. the email is taken)."""


class OpportunityClosed(Conflict):
    """The opportunity was closed: it takes no new submission, run or spec version."""

    code = "opportunity:closed"


# ---------------------------------------------------------------- accounts


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
        raise UserInputError(f"{text!r} is longer than ten years", hint="leave --expires out instead")
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
    user = User(email=email, role=role, password_hash=generate_password_hash(password), language=language)
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


# ---------------------------------------------------------------- access


def can_manage(user: User, opportunity: Opportunity) -> bool:
    return user.role == Role.ADMIN.value or (
        user.role == Role.OWNER.value and opportunity.owner_id == user.id
    )


def can_read(user: User, opportunity: Opportunity) -> bool:
    return user.role in (Role.ADMIN.value, Role.REVIEWER.value) or can_manage(user, opportunity)


def check_open(opportunity: Opportunity) -> None:
    """OpportunityClosed when the opportunity was closed (the one rule every intake applies)."""
    if opportunity.closed_at is not None:
        closed = opportunity.closed_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise OpportunityClosed(
            f"opportunity {opportunity.id} was closed on {closed}: it takes no new submission, "
            "run or spec version",
            hint="its runs and decisions stay readable; publish a new opportunity for new work",
        )


def close_opportunity(session: Session, user: User, opportunity: Opportunity) -> None:
    """Close the opportunity: what exists stays (runs, decisions), nothing new comes in."""
    if not can_manage(user, opportunity):
        raise Forbidden("only the opportunity's owner or an admin may close it")
    check_open(opportunity)
    opportunity.closed_at, opportunity.closed_by = utcnow(), user.id
    details = {"title": opportunity.title}
    record(session, user, Action.OPPORTUNITY_CLOSED, Subject.OPPORTUNITY, opportunity.id, details)
    log.info("opportunity_closed", extra={"opportunity": opportunity.id, "by": user.id})


def get_opportunity(session: Session, user: User, opportunity_id: str) -> Opportunity:
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None or not can_read(user, opportunity):
        raise NotFound(f"no opportunity {opportunity_id}")
    return opportunity


def get_submission(session: Session, user: User, submission_id: str) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None or not can_read(user, submission.opportunity):
        raise NotFound(f"no submission {submission_id}")
    return submission


def get_run(session: Session, user: User, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None or not can_read(user, run.submission.opportunity):
        raise NotFound(f"no run {run_id}")
    return run


# ---------------------------------------------------------------- specs


@dataclass(frozen=True)
class SpecUpload:
    spec: bytes
    hidden_archive: bytes | None = None
    #: the version whose hidden tests `hidden_archive` is, when the owner kept them
    hidden_tests_kept_from: int | None = None


def publish_spec(
    session: Session,
    user: User,
    upload: SpecUpload,
    specs_dir: Path,
    opportunity: Opportunity | None = None,
) -> SpecVersion:
    """Validate and store a spec (and its hidden tests) as a new version.

    Everything is checked before anything is kept: a bad spec or archive
    raises UserInputError (SpecError lists every problem) and leaves nothing.
    """
    if user.role not in (Role.ADMIN.value, Role.OWNER.value):
        raise Forbidden("only owners and admins publish acceptance specs")
    if opportunity is not None and not can_manage(user, opportunity):
        raise Forbidden("only the opportunity's owner may publish a new spec version")
    if opportunity is not None:
        check_open(opportunity)
    if len(upload.spec) > MAX_SPEC_BYTES:
        raise SpecError([f"file: larger than the {MAX_SPEC_BYTES} byte limit"], origin="spec")
    version_id = new_id()
    specs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=specs_dir, prefix=".upload-"))
    try:
        (staging / "acceptance.yaml").write_bytes(upload.spec)
        hidden_name = _hidden_folder_name(upload.spec)
        if upload.hidden_archive is not None:
            if hidden_name is None:
                raise SpecError(
                    ["functional.hidden_tests: an archive of hidden tests was uploaded but the "
                     "spec does not name their folder; add `hidden_tests: hidden` under functional"],
                    origin="spec",
                )  # fmt: skip
            _extract_hidden(upload.hidden_archive, staging, hidden_name)
        elif hidden_name is not None:
            raise SpecError(
                [f"functional.hidden_tests: the spec names the folder {hidden_name!r} but no "
                 "hidden_tests archive was uploaded; upload it (tar.gz or zip) with the spec"],
                origin="spec",
            )  # fmt: skip
        spec = load_spec(staging / "acceptance.yaml")
        final = specs_dir / version_id
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        created = opportunity is None
        if opportunity is None:
            opportunity = Opportunity(owner_id=user.id, title=spec.title)
            session.add(opportunity)
            session.flush()
            number = 1
        else:
            number = max((s.version for s in opportunity.specs), default=0) + 1
            opportunity.title = spec.title
        version = SpecVersion(
            id=version_id,
            opportunity_id=opportunity.id,
            version=number,
            title=spec.title,
            spec_yaml=upload.spec.decode("utf-8"),
            spec_sha256=spec.sha256,
            hidden_tests_sha256=spec.hidden_tests_sha256,
            hidden_archive_sha256=(
                hashlib.sha256(upload.hidden_archive).hexdigest() if upload.hidden_archive else None
            ),
            hidden_files=_count_files(final / hidden_name) if hidden_name else 0,
            run_timeout=spec.limits.timeout,
            folder=version_id,
            created_by=user.id,
        )
        session.add(version)
        session.flush()
        details = {
            "version": number, "spec_version_id": version.id, "title": spec.title,
            "spec_sha256": version.spec_sha256, "hidden_tests_sha256": version.hidden_tests_sha256,
            "new_opportunity": created, "hidden_tests_kept_from": upload.hidden_tests_kept_from,
        }  # fmt: skip
        record(session, user, Action.SPEC_PUBLISHED, Subject.OPPORTUNITY, opportunity.id, details)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    return version


def _extract_hidden(archive: bytes, staging: Path, name: str) -> None:
    """Unpack the hidden tests into staging/name; an archive of the folder itself works too."""
    from acceptance.engine.archives import extract_archive

    # Beside staging, not in it: no name the spec gives can be this folder.
    unpacked = Path(tempfile.mkdtemp(dir=staging.parent, prefix=".unpacked-")) / "tree"
    try:
        extract_archive(archive, unpacked)
        entries = list(unpacked.iterdir())
        # `tar czf hidden.tgz hidden/` is the natural way to pack them: strip that one level.
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name == Path(name).name:
            root = entries[0]
        else:
            root = unpacked
        target = staging / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(root, target)
        except (OSError, ValueError) as exc:
            raise SpecError(
                [f"functional.hidden_tests: the hidden tests cannot be put in {name!r} beside "
                 f"the spec ({exc.strerror if isinstance(exc, OSError) else exc}); name a "
                 "plain folder such as `hidden`"],
                origin="spec",
            ) from None  # fmt: skip
    finally:
        shutil.rmtree(unpacked.parent, ignore_errors=True)


def _hidden_folder_name(spec: bytes) -> str | None:
    """The folder the spec names for hidden tests, when it is a plain relative name."""
    try:
        document = yaml.safe_load(spec.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None  # load_spec reports it properly
    functional = document.get("functional") if isinstance(document, dict) else None
    name = functional.get("hidden_tests") if isinstance(functional, dict) else None
    if not isinstance(name, str) or not name.strip():
        return None
    # Checked before the archive is unpacked there: a NUL, an over-long name or the spec
    # file itself would otherwise fail deep in the file system.
    problem = hidden_tests_name_problem(name)
    if problem is not None:
        raise SpecError([f"functional.hidden_tests: {problem}"], origin="spec")
    return name


def _count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def current_spec(opportunity: Opportunity) -> SpecVersion:
    return max(opportunity.specs, key=lambda s: s.version)


def spec_path(specs_dir: Path, version: SpecVersion) -> Path:
    return specs_dir / version.folder / "acceptance.yaml"


# ---------------------------------------------------------------- submissions


def register_submission(
    session: Session,
    user: User,
    opportunity: Opportunity,
    *,
    repo_url: str,
    supplier: str,
    branch: str | None,
    box: SecretBox,
    contact_email: str | None = None,
    language: str | None = None,
) -> tuple[Submission, str]:
    """Register a supplier's repository; returns the submission and its secret (shown once).

    `contact_email` receives the supplier's emails (acceptance.service.notifications), in `language`.
    """
    if not can_manage(user, opportunity):
        raise Forbidden("only the opportunity's owner may register submissions")
    check_open(opportunity)
    supplier = supplier.strip()
    if not supplier or len(supplier) > 200:
        raise UserInputError("supplier: give the supplier's name (1 to 200 characters)")
    if branch is not None and (not branch.strip() or len(branch) > 255 or branch.startswith("-")):
        raise UserInputError(f"branch: {branch!r} is not a branch name")
    secret = secrets.token_urlsafe(32)
    submission = Submission(
        opportunity_id=opportunity.id,
        supplier=supplier,
        repo_url=repo_url,
        branch=branch,
        webhook_secret_encrypted=box.seal(secret),
        created_by=user.id,
        contact_email=check_contact_email(contact_email),
        language=check_language(language),
    )
    session.add(submission)
    session.flush()
    details = {
        "opportunity": opportunity.id, "supplier": supplier, "repo_url": repo_url, "branch": branch,
    }  # fmt: skip
    record(session, user, Action.SUBMISSION_REGISTERED, Subject.SUBMISSION, submission.id, details)
    return submission, secret


def submission_for_status_token(session: Session, token: str) -> Submission | None:
    if not token or len(token) > 100:
        return None
    submission = session.scalar(select(Submission).where(Submission.status_token == token))
    # constant-time confirmation of what the index lookup found
    if submission is None or not hmac.compare_digest(submission.status_token, token):
        return None
    return submission


# ---------------------------------------------------------------- runs


def create_run(
    session: Session,
    submission: Submission,
    *,
    trigger: str,
    ref: str | None,
    commit: str | None = None,
    delivery_id: str | None = None,
    commit_message: str | None = None,
    spec: SpecVersion | None = None,
    rerun_of: Run | None = None,
    requested_by: User | None = None,
) -> tuple[Run, bool]:
    """Record a queued run; returns (run, created). A known delivery id returns its run.

    `spec` is the submission's current spec version when the caller has loaded it already.
    `rerun_of` is the run a person asked to run again (the dashboard's "Run again").
    `requested_by` is the person who started it (the audit trail records who).
    """
    check_open(submission.opportunity)
    dialect = session.get_bind().dialect.name
    if delivery_id is not None and dialect not in _UPSERT:
        existing = session.scalar(
            select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
        )
        if existing is not None:
            return existing, False
    if spec is None:
        spec = _current_spec_version(session, submission)
    previous = None
    if trigger == "manual":  # a push is new work, even for a commit judged before
        previous = _rerun_of(session, submission, commit or _full_commit(ref), spec, rerun_of)
    if delivery_id is not None and dialect in _UPSERT:
        # Webhook intake, on every push's path: one INSERT ... ON CONFLICT DO NOTHING
        # instead of a look-up, a savepoint and an insert. A delivery seen before (or
        # recorded by a concurrent request) inserts nothing and its run is looked up.
        statement = (
            _UPSERT[dialect](Run)
            .values(
                submission_id=submission.id, spec_version_id=spec.id, trigger=trigger,
                delivery_id=delivery_id, ref=ref, commit=commit, commit_message=commit_message,
            )  # fmt: skip
            .on_conflict_do_nothing(index_elements=[Run.submission_id, Run.delivery_id])
            .returning(Run)
        )
        inserted = session.scalar(statement)
        if inserted is not None:
            return inserted, True
        existing = session.scalar(
            select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
        )
        if existing is None:  # pragma: no cover - the conflict names an existing row
            raise UserInputError("the delivery could not be recorded; send it again")
        return existing, False
    run = Run(
        submission_id=submission.id,
        spec_version=spec,
        trigger=trigger,
        delivery_id=delivery_id,
        ref=ref,
        commit=commit,
        commit_message=commit_message,
        supersedes_id=previous.id if previous is not None else None,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        # Another request recorded the same delivery between our check and insert.
        existing = session.scalar(
            select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
        )
        if existing is None:
            raise
        return existing, False
    if requested_by is not None:
        details = {
            "submission": submission.id, "ref": ref, "spec_version": spec.version,
            "supersedes": run.supersedes_id,
        }  # fmt: skip
        record(session, requested_by, Action.RUN_REQUESTED, Subject.RUN, run.id, details)
    return run, True


#: a commit id as git prints it in full (SHA-1 or SHA-256); a shorter ref may name anything
_FULL_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _full_commit(ref: str | None) -> str | None:
    """``ref`` when it is a full commit id (lower-cased, as runs record commits), else None."""
    if ref is None or not _FULL_COMMIT.fullmatch(ref.lower()):
        return None
    return ref.lower()


_ENDED = (RunStatus.FINISHED.value, RunStatus.ERROR.value)


def _rerun_of(
    session: Session,
    submission: Submission,
    commit: str | None,
    spec: SpecVersion,
    chosen: Run | None = None,
) -> Run | None:
    """The run a manual run of ``commit`` against ``spec`` re-does, or None.

    Only a run of the submission that ended (finished, or error) for the very same
    commit and spec version: a run of another commit, or of this commit against
    another spec, judged something else and is not superseded. That is ``chosen``
    (the run a person asked to run again) when it qualifies, else the latest such
    run. A branch or tag resolves to a commit only when the run checks it out, so a
    run of one supersedes nothing.
    """
    if commit is None:
        return None
    if (
        chosen is not None
        and chosen.submission_id == submission.id
        and chosen.commit == commit
        and chosen.spec_version_id == spec.id
        and chosen.status in _ENDED
    ):
        return chosen
    return session.scalar(
        select(Run)
        .where(
            Run.submission_id == submission.id,
            Run.commit == commit,
            Run.spec_version_id == spec.id,
            Run.status.in_(_ENDED),
        )
        .order_by(Run.queued_at.desc())
        .limit(1)
    )


#: INSERT constructs with ON CONFLICT, by dialect (both have it: PostgreSQL 9.5, SQLite 3.24)
_UPSERT: dict[str, Any] = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


def _current_spec_version(session: Session, submission: Submission) -> SpecVersion:
    # One query for the current spec version (what current_spec() picks), loaded so the
    # caller's run.spec_version needs none: webhook intake is on every push's path.
    spec = session.scalar(
        select(SpecVersion)
        .where(SpecVersion.opportunity_id == submission.opportunity_id)
        .order_by(SpecVersion.version.desc())
        .limit(1)
    )
    return spec if spec is not None else current_spec(submission.opportunity)


#: the span ACCEPTANCE_RUNS_PER_HOUR counts webhook runs over
RATE_WINDOW = dt.timedelta(hours=1)


class RateLimited(UserInputError):
    """A submission started as many webhook runs as allowed within the hour."""

    code = "runs:rate-limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, hint=f"send the push again in {retry_after} seconds")
        #: whole seconds until one more run is allowed
        self.retry_after = retry_after


@dataclass(frozen=True)
class WebhookRun:
    """The run a push delivery is answered with, and whether the delivery created it."""

    run: Run
    created: bool
    #: why no new run was queued (None when `created`)
    reason: str | None = None


def create_webhook_run(
    session: Session,
    submission: Submission,
    *,
    ref: str | None,
    commit: str,
    delivery_id: str,
    commit_message: str | None = None,
    runs_per_hour: int = 0,
) -> WebhookRun:
    """Queue the run a verified push asks for, unless one already answers it.

    The same delivery id gets its run back; so does any other delivery of the
    same commit while a webhook run of it against the current spec version is
    queued, running or finished (only one that ended in `error`, a platform
    failure, may be run again). Beyond `runs_per_hour` webhook runs of the
    submission within the hour (0: no limit; `error` runs do not count),
    RateLimited says when to try again.

    Deliveries of one submission take turns: its row is locked (SELECT ... FOR
    NO KEY UPDATE) until the caller's transaction ends, so two deliveries at once can
    neither both find no run of a commit nor both take the hour's last run.
    SQLite has no row locks; it serialises writers as a whole.
    """
    # FOR NO KEY UPDATE: deliveries wait for each other, but not other inserts of runs
    # (their foreign key takes only FOR KEY SHARE on the submission).
    session.execute(
        select(Submission.id)
        .where(Submission.id == submission.id)
        .with_for_update(key_share=True)
    )
    check_open(submission.opportunity)
    known = session.scalar(
        select(Run).where(Run.submission_id == submission.id, Run.delivery_id == delivery_id)
    )
    if known is not None:
        return WebhookRun(known, created=False, reason=f"delivery {delivery_id} was received before")
    spec = _current_spec_version(session, submission)
    same = session.scalar(
        select(Run)
        .where(
            Run.submission_id == submission.id,
            Run.spec_version_id == spec.id,
            Run.commit == commit,
            Run.trigger == "webhook",
            Run.status != RunStatus.ERROR.value,
        )
        .order_by(Run.queued_at.desc())
        .limit(1)
    )
    if same is not None:
        log.info("webhook_same_commit", extra={"run": same.id, "submission": submission.id})
        return WebhookRun(
            same, created=False,
            reason=f"commit {commit} already has run {same.id} ({same.status}) "
                   f"against spec version {spec.version}",
        )  # fmt: skip
    if runs_per_hour > 0:
        _check_webhook_rate(session, submission, runs_per_hour)
    run, created = create_run(
        session, submission, trigger="webhook", ref=ref, commit=commit, delivery_id=delivery_id,
        commit_message=commit_message, spec=spec,
    )  # fmt: skip
    return WebhookRun(run, created=created, reason=None if created else "delivery received before")


def _check_webhook_rate(session: Session, submission: Submission, limit: int) -> None:
    """RateLimited when `limit` counted webhook runs were queued within the past hour."""
    now = utcnow()
    # The limit-th newest counted run: while it is inside the window, the window is full,
    # and one more run is allowed when it leaves the window.
    nth_newest = session.scalar(
        select(Run.queued_at)
        .where(
            Run.submission_id == submission.id,
            Run.trigger == "webhook",
            Run.status != RunStatus.ERROR.value,
            Run.queued_at > now - RATE_WINDOW,
        )
        .order_by(Run.queued_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if nth_newest is None:
        return
    retry_after = max(1, math.ceil((nth_newest + RATE_WINDOW - now).total_seconds()))
    log.warning("webhook_rate_limited", extra={"submission": submission.id, "limit": limit})
    raise RateLimited(
        f"this submission started {limit} runs from pushes within the hour, the most allowed "
        "(ACCEPTANCE_RUNS_PER_HOUR)",
        retry_after=retry_after,
    )


def run_to_json(run: Run, base_url: str) -> dict[str, Any]:
    return {
        "id": run.id,
        "submission": run.submission_id,
        "opportunity": run.submission.opportunity_id,
        "supplier": run.submission.supplier,
        "status": run.status,
        "stage": run.stage,
        "verdict": run.verdict,
        "reason_codes": run.reason_codes,
        "reasons": run.reasons,
        "trigger": run.trigger,
        "ref": run.ref,
        "commit": run.commit,
        "tree": run.tree,
        "reused_from": run.reused_from_id,
        "spec_version": run.spec_version.version,
        "spec_sha256": run.spec_version.spec_sha256,
        "supersedes": run.supersedes_id,
        "queued_at": _iso(run.queued_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "attempts": run.attempts,
        "error": run.error,
        "stages": run.stages,
        "key_id": run.key_id,
        "report_url": f"{base_url}/api/v1/runs/{run.id}/report" if run.report_sha256 else None,
        "artifacts": sorted(run.artifacts),
    }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def latest_runs(session: Session, ids: Sequence[str]) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.id.in_(ids))))
