"""Opportunities and what they take in: spec versions with their hidden tests, submissions."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from acceptance.engine.spec import MAX_SPEC_BYTES, SpecError, hidden_tests_name_problem, load_spec
from acceptance.errors import UserInputError
from acceptance.service.access import (
    Forbidden,
    can_manage,
    check_open,
)
from acceptance.service.audit import Action, Subject, record
from acceptance.service.models import (
    Opportunity,
    Role,
    SpecVersion,
    Submission,
    User,
    new_id,
    utcnow,
)
from acceptance.service.recipients import check_contact_email, check_language
from acceptance.service.secretbox import SecretBox

log = logging.getLogger(__name__)


def close_opportunity(session: Session, user: User, opportunity: Opportunity) -> None:
    """Close the opportunity: what exists stays (runs, decisions), nothing new comes in."""
    if not can_manage(user, opportunity):
        raise Forbidden("only the opportunity's owner or an admin may close it")
    check_open(opportunity)
    opportunity.closed_at, opportunity.closed_by = utcnow(), user.id
    details = {"title": opportunity.title}
    record(session, user, Action.OPPORTUNITY_CLOSED, Subject.OPPORTUNITY, opportunity.id, details)
    log.info("opportunity_closed", extra={"opportunity": opportunity.id, "by": user.id})


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
