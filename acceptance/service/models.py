"""What the service keeps: accounts, opportunities and their spec versions, submissions, runs."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    """Public ids: random, so one cannot be guessed from another."""
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Role(str, enum.Enum):
    ADMIN = "admin"
    OWNER = "owner"
    REVIEWER = "reviewer"
    #: reads accepted deliveries' certificates and nothing else (the payment hand-off)
    FINANCE = "finance"


class RunStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    ERROR = "error"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: set by `acceptance users disable`: no sign-in, no token, no session from then on
    disabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: part of every dashboard session's check: signing out (or disabling) bumps it,
    #: so a copied session cookie stops working on the server, not only in the browser
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: `en` or `fr`: the language of the emails this person receives
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


class ApiToken(Base):
    """An API token; only its sha256 is kept, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: None: valid until revoked
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(back_populates="tokens")


class Opportunity(Base):
    __tablename__ = "opportunities"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: set when the owner (or an admin) closes it: no new submission, run or spec version
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)

    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    specs: Mapped[list[SpecVersion]] = relationship(
        back_populates="opportunity", order_by="SpecVersion.version"
    )
    submissions: Mapped[list[Submission]] = relationship(back_populates="opportunity")


class SpecVersion(Base):
    """One published version of an opportunity's spec; runs point at the version they used."""

    __tablename__ = "spec_versions"
    __table_args__ = (UniqueConstraint("opportunity_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    spec_yaml: Mapped[str] = mapped_column(Text)
    spec_sha256: Mapped[str] = mapped_column(String(64))
    hidden_tests_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    hidden_archive_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    hidden_files: Mapped[int] = mapped_column(Integer, default=0)
    #: the spec's limits.timeout, so queueing needs no spec parsing
    run_timeout: Mapped[int] = mapped_column(Integer, default=900)
    #: folder (relative to the data dir's specs/) holding acceptance.yaml and hidden/
    folder: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    opportunity: Mapped[Opportunity] = relationship(back_populates="specs")


class Submission(Base):
    """A supplier's repository registered against an opportunity."""

    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"))
    supplier: Mapped[str] = mapped_column(String(200))
    repo_url: Mapped[str] = mapped_column(String(2000))
    #: the branch whose pushes trigger runs; None: the repository's default branch
    branch: Mapped[str | None] = mapped_column(String(255), default=None)
    #: the webhook secret, encrypted (HMAC verification needs the secret itself)
    webhook_secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    #: unguessable token of the supplier's status page
    status_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(32)
    )
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    #: set when the owner (or an admin) closes it: no decision from then on
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    withdrawn_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    #: where the supplier's emails go (run finished, decision, state); None: no email to the supplier
    contact_email: Mapped[str | None] = mapped_column(String(320), default=None)
    #: `en` or `fr`: the language of the supplier's emails
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: where runs' commit statuses go (acceptance.service.forge): `github`, `gitlab` or `gitea`; None: nowhere
    forge_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    forge_api_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    #: `owner/name`, or the GitLab project path
    forge_repository: Mapped[str | None] = mapped_column(String(500), default=None)
    #: the forge token (or, with a GitHub App, the App's private key), encrypted like the webhook
    #: secret; never shown again
    forge_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    #: a GitHub App's id and its installation's: runs become check runs, with installation tokens
    forge_app_id: Mapped[str | None] = mapped_column(String(32), default=None)
    forge_installation_id: Mapped[str | None] = mapped_column(String(32), default=None)

    opportunity: Mapped[Opportunity] = relationship(back_populates="submissions")
    runs: Mapped[list[Run]] = relationship(back_populates="submission")


class Run(Base):
    """One acceptance run of a submission at a ref against one spec version."""

    __tablename__ = "runs"
    __table_args__ = (
        # The same delivery twice is the same run.
        UniqueConstraint("submission_id", "delivery_id"),
        Index("ix_runs_status_queued_at", "status", "queued_at"),
        Index("ix_runs_queued_at", "queued_at"),
        Index("ix_runs_submission_reuse_key", "submission_id", "reuse_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    spec_version_id: Mapped[str] = mapped_column(ForeignKey("spec_versions.id"))
    trigger: Mapped[str] = mapped_column(String(16))  # webhook | manual
    delivery_id: Mapped[str | None] = mapped_column(String(200), default=None)
    ref: Mapped[str | None] = mapped_column(String(255), default=None)
    commit: Mapped[str | None] = mapped_column(String(64), default=None)
    commit_message: Mapped[str | None] = mapped_column(Text, default=None)
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"), default=None)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED.value, index=True)
    verdict: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    reason_codes: Mapped[list[Any]] = mapped_column(default=list)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    stage: Mapped[str | None] = mapped_column(String(64), default=None)
    stages: Mapped[list[Any]] = mapped_column(default=list)
    queued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: when a broker message for it was last sent (the reconciler resends stale ones)
    enqueued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: a worker holds the run until then; past it, the run may be taken over
    lease_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: platform failures so far (retried with backoff, then `error`)
    platform_failures: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    #: artifact store keys (sha256) by file name; `report.dsse.json` is the signed report
    artifacts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    key_id: Mapped[str | None] = mapped_column(String(100), default=None)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the tree id of the commit judged (acceptance.service.reuse)
    tree: Mapped[str | None] = mapped_column(String(64), default=None)
    #: sha256 of every input but the tree that can change the verdict; set only on a run
    #: whose evidence a later commit of the same tree may reuse (acceptance.service.reuse)
    reuse_key: Mapped[str | None] = mapped_column(String(64), default=None)
    #: the run whose evidence this run's report re-signs for its own commit; None: judged here
    reused_from_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"), default=None)

    submission: Mapped[Submission] = relationship(back_populates="runs")
    spec_version: Mapped[SpecVersion] = relationship()
    supersedes: Mapped[Run | None] = relationship(remote_side=[id], foreign_keys=[supersedes_id])


class DecisionKind(str, enum.Enum):
    """What a person decided about a finished run."""

    ACCEPTED = "accepted"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"


class Decision(Base):
    """A person's decision on a finished run; the latest one of a run is its current one.

    Decisions are never edited: a later decision on the same run supersedes the
    earlier one (`supersedes_id`) and both are kept.
    """

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_run_decided_at", "run_id", "decided_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: accepting a run the machine did not accept (verdict rejected or error)
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: sha256 of the run's signed report (its DSSE envelope) the decision rests on
    report_sha256: Mapped[str] = mapped_column(String(64))
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("decisions.id"), default=None)
    #: artifact store key (sha256) of the signed decision's DSSE envelope; None until signed
    envelope_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    key_id: Mapped[str | None] = mapped_column(String(100), default=None)

    run: Mapped[Run] = relationship()
    submission: Mapped[Submission] = relationship()
    person: Mapped[User] = relationship()


class MessageState(str, enum.Enum):
    """Where an email stands: waiting for the worker, waiting for a retry, delivered, given up."""

    QUEUED = "queued"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"


class Message(Base):
    """One email to one recipient, as composed, with its delivery state (acceptance.service.notifications).

    The run, decision and submission ids are kept as plain ids, not foreign keys:
    the record of what was sent outlives what it was about.
    """

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: `run_finished`, `decision_recorded` or `state_changed`
    event: Mapped[str] = mapped_column(String(32))
    #: `supplier` (the submission's contact) or `owner` (the opportunity's owner)
    audience: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    submission_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    run_id: Mapped[str | None] = mapped_column(String(32), default=None)
    decision_id: Mapped[str | None] = mapped_column(String(32), default=None)
    state: Mapped[str] = mapped_column(String(16), default=MessageState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AuditEvent(Base):
    """One change a person or the service made, recorded with it (acceptance.service.audit).

    Append-only: the migration's trigger refuses UPDATE and DELETE. Actor and
    subject are plain ids, not foreign keys: the record outlives what it names.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: the person who acted; None for a named actor (`cli`, `webhook`, `system`)
    actor_user_id: Mapped[str | None] = mapped_column(String(32), default=None)
    #: the person's email at the time, or the named actor
    actor: Mapped[str] = mapped_column(String(320))
    #: one of acceptance.service.audit.Action
    action: Mapped[str] = mapped_column(String(40))
    #: `opportunity`, `spec_version`, `submission`, `run`, `decision`, `user` or `token`
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ForgeStatus(Base):
    """Where a run's commit status stands on its submission's forge (acceptance.service.forge.delivery).

    One row per run, locked while a status is sent, so statuses of one run never
    overtake each other: a late `pending` never replaces the verdict.
    """

    __tablename__ = "forge_statuses"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    #: the state the run calls for now (`pending`, `success`, `failure`, `error`; with a GitHub
    #: App `queued`, `in_progress:<stage>` or the check run's conclusion)
    wanted: Mapped[str | None] = mapped_column(String(64), default=None)
    #: the last state the forge took, and when
    delivered: Mapped[str | None] = mapped_column(String(64), default=None)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: `queued`, `retrying`, `delivered` or `failed` (given up on `wanted`)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    #: attempts at `wanted` so far (back to 0 when the run calls for another state)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    #: with a GitHub App: the run's check run, and how many annotations it has been sent
    check_run_id: Mapped[str | None] = mapped_column(String(32), default=None)
    annotations_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ForgeAttempt(Base):
    """One request to a forge for a run's commit status: when, what, its HTTP status, its error."""

    __tablename__ = "forge_attempts"
    __table_args__ = (Index("ix_forge_attempts_run_at", "run_id", "at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: `github`, `gitlab` or `gitea`
    forge: Mapped[str] = mapped_column(String(16))
    #: the status sent (`pending`, `success`, `failure`, `error`; or a check run's, as `wanted`)
    state: Mapped[str] = mapped_column(String(64))
    #: the forge's HTTP status; None when it did not answer
    http_status: Mapped[int | None] = mapped_column(Integer, default=None)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class EventEndpoint(Base):
    """An owner's URL that receives an opportunity's events, signed per Standard Webhooks (acceptance.service.events)."""

    __tablename__ = "event_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    opportunity_id: Mapped[str] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    #: the event types it receives (`run.finished`, `decision.recorded`, `submission.state_changed`)
    events: Mapped[list[Any]] = mapped_column(default=list)
    #: the signing secret (`whsec_...`), encrypted like webhook secrets; shown once
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: set after a day of failed deliveries: nothing is sent from then on
    disabled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)


class EventDelivery(Base):
    """One event to one endpoint: the exact body signed and sent, and how its delivery went."""

    __tablename__ = "event_deliveries"
    __table_args__ = (Index("ix_event_deliveries_endpoint_created", "endpoint_id", "created_at"),)

    #: also the `webhook-id` (`msg_<id>`), the same on every attempt: receivers drop duplicates with it
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("event_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    #: `queued`, `retrying`, `delivered` or `failed`
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
