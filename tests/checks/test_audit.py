"""The audit trail on a real PostgreSQL database: every change through the API, the dashboard
and the CLI recorded with who, when and what in the change's own transaction; admins read it
through `GET /api/v1/audit` and `acceptance audit list`; the database refuses to rewrite it."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.exc import DBAPIError

from acceptance.cli import main
from acceptance.engine.keyring import ensure_signing_key
from acceptance.engine.report import PREDICATE_TYPE, STATEMENT_TYPE, serialize
from acceptance.engine.signing import sign_envelope
from acceptance.service.accounts import create_token, create_user
from acceptance.service.audit import SYSTEM, Action, Subject, record
from acceptance.service.db import Database, alembic_config, upgrade
from acceptance.service.models import AuditEvent, Submission, User
from acceptance.service.runs import create_run
from acceptance.settings import load_settings
from tests.support import Recorder, tar_gz
from web.app import create_app

SPEC = b"version: 1\ntitle: Contact form\nfunctional: {paths: [tests], hidden_tests: hidden}\n"
HIDDEN = tar_gz({"test_owner.py": "def test_owner():\n    assert True\n"})
REPO = "https://github.com/Codertocat/Hello-World"
PASSWORD = "a long password 1"


class Env:
    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.settings = load_settings(
            {"ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url}
        )
        upgrade(self.settings.database_url)
        self.db = Database(self.settings.database_url)
        self.app = create_app(self.settings, celery=Recorder())
        self.client: FlaskClient = self.app.test_client()
        self.key = ensure_signing_key(self.settings)
        self.tokens: dict[str, str] = {}
        for who, role in [("owner", "owner"), ("reviewer", "reviewer"), ("admin", "admin")]:
            with self.db.session() as session:
                create_user(session, f"{who}@example.org", role, PASSWORD)
                self.tokens[who] = create_token(session, f"{who}@example.org")

    def auth(self, who: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def audit(self, query: str = "", who: str = "admin") -> Any:
        return self.client.get(f"/api/v1/audit{query}", headers=self.auth(who))

    def events(self, query: str = "") -> list[dict[str, Any]]:
        reply = self.audit(query)
        assert reply.status_code == 200, reply.get_json()
        return list(reply.get_json()["items"])

    def finished_run(self, submission_id: str, commit: str) -> str:
        """A run as a worker leaves it: finished, accepted, with a signed report."""
        with self.db.session() as session:
            submission = session.get(Submission, submission_id)
            assert submission is not None
            run, _ = create_run(session, submission, trigger="webhook", ref="main", commit=commit)
            run.status, run.verdict = "finished", "accepted"
            report = {
                "_type": STATEMENT_TYPE,
                "subject": [{"name": REPO, "digest": {"gitCommit": commit}}],
                "predicateType": PREDICATE_TYPE,
                "predicate": {"verdict": "accepted", "run": {"id": run.id}},
            }
            envelope = json.dumps(sign_envelope(serialize(report), self.key)).encode()
            run.report_sha256 = self.app.extensions["acceptance"].store.put(envelope)
            session.flush()
            return run.id


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    yield Env(tmp_path, database_url)


def _publish(env: Env) -> str:
    data = {
        "spec": (io.BytesIO(SPEC), "acceptance.yaml"),
        "hidden_tests": (io.BytesIO(HIDDEN), "h.tar.gz"),
    }
    reply = env.client.post("/api/v1/opportunities", data=data, headers=env.auth())
    assert reply.status_code == 201, reply.get_json()
    return str(reply.get_json()["id"])


def _register(env: Env, opportunity: str) -> str:
    reply = env.client.post(
        f"/api/v1/opportunities/{opportunity}/submissions",
        json={"repo_url": REPO, "supplier": "Supplier Ltd", "branch": "main"},
        headers=env.auth(),
    )
    assert reply.status_code == 201, reply.get_json()
    return str(reply.get_json()["id"])


# ---------------------------------------------------------------- what is recorded


def test_every_change_through_the_api_is_recorded_with_who_when_and_what(env: Env) -> None:
    started = dt.datetime.now(dt.UTC)
    opportunity = _publish(env)
    submission = _register(env, opportunity)
    manual = env.client.post(
        f"/api/v1/submissions/{submission}/runs", json={"ref": "main"}, headers=env.auth()
    )
    assert manual.status_code == 201, manual.get_json()
    run = env.finished_run(submission, "a" * 40)
    decided = env.client.post(
        f"/api/v1/runs/{run}/decision", json={"decision": "accepted"}, headers=env.auth()
    )
    assert decided.status_code == 201, decided.get_json()
    withdrawn = env.client.post(f"/api/v1/submissions/{submission}/withdraw", headers=env.auth())
    assert withdrawn.status_code == 200, withdrawn.get_json()

    with env.db.session() as session:
        owner_id = session.scalar(sa.select(User.id).where(User.email == "owner@example.org"))
    events = env.events(f"?actor=owner@example.org&since={started.isoformat()}")
    # newest first
    assert [e["action"] for e in events] == [
        "submission.withdrawn",
        "decision.recorded",
        "run.requested",
        "submission.registered",
        "spec.published",
    ]
    withdraw, decision, requested, registered, published = events
    assert published["subject_type"] == "opportunity" and published["subject_id"] == opportunity
    assert published["details"]["version"] == 1 and published["details"]["new_opportunity"] is True
    assert len(published["details"]["spec_sha256"]) == 64
    assert registered["subject_id"] == submission
    assert registered["details"] == {
        "opportunity": opportunity, "supplier": "Supplier Ltd", "repo_url": REPO, "branch": "main",
    }  # fmt: skip
    assert requested["subject_type"] == "run" and requested["subject_id"] == manual.get_json()["id"]
    assert (
        requested["details"]["ref"] == "main" and requested["details"]["submission"] == submission
    )
    assert decision["subject_type"] == "decision"
    assert decision["subject_id"] == decided.get_json()["id"]
    assert decision["details"]["run"] == run and decision["details"]["decision"] == "accepted"
    assert withdraw["subject_type"] == "submission" and withdraw["subject_id"] == submission
    for event in events:
        assert event["actor"] == "owner@example.org"
        assert event["actor_user_id"] == owner_id
        at = dt.datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
        assert started <= at <= dt.datetime.now(dt.UTC)
    # the webhook's run (env.finished_run) was no person's request: not recorded as one
    assert [e["subject_id"] for e in env.events("?action=run.requested")] == [
        manual.get_json()["id"]
    ]
    # a record's whole story, by its id or type:id
    story = [e["action"] for e in env.events(f"?subject=submission:{submission}")]
    assert story == ["submission.withdrawn", "submission.registered"]
    assert [e["action"] for e in env.events(f"?subject={opportunity}")] == ["spec.published"]


def test_a_refused_change_leaves_no_record(env: Env) -> None:
    opportunity = _publish(env)
    submission = _register(env, opportunity)
    # a queued run cannot be decided on: 409, and no decision.recorded
    queued = env.client.post(f"/api/v1/submissions/{submission}/runs", headers=env.auth())
    reply = env.client.post(
        f"/api/v1/runs/{queued.get_json()['id']}/decision",
        json={"decision": "accepted"},
        headers=env.auth(),
    )
    assert reply.status_code == 409
    assert env.events("?action=decision.recorded") == []
    # a reviewer may not register submissions: 403, nothing recorded
    reply = env.client.post(
        f"/api/v1/opportunities/{opportunity}/submissions",
        json={"repo_url": REPO, "supplier": "Other Ltd"},
        headers=env.auth("reviewer"),
    )
    assert reply.status_code in (403, 404)
    assert len(env.events("?action=submission.registered")) == 1


def test_the_change_and_its_record_commit_together_or_not_at_all(env: Env) -> None:
    with pytest.raises(RuntimeError), env.db.session() as session:
        create_user(session, "ghost@example.org", "owner", PASSWORD)
        raise RuntimeError("the request failed after the change")
    with env.db.session() as session:
        assert session.scalar(sa.select(User).where(User.email == "ghost@example.org")) is None
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.details["email"].as_string() == "ghost@example.org")
            )
            == 0
        )
    # and when the record cannot be written, the change is not kept either
    with pytest.raises(DBAPIError), env.db.session() as session:
        create_user(session, "half@example.org", "owner", PASSWORD)
        record(
            session, SYSTEM, Action.USER_CREATED, Subject.USER, "x" * 65
        )  # too long a subject id
    with env.db.session() as session:
        assert session.scalar(sa.select(User).where(User.email == "half@example.org")) is None


def test_the_database_refuses_to_edit_or_remove_audit_events(env: Env) -> None:
    _publish(env)
    with env.db.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM audit_events")) > 0
    for statement in (
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(DBAPIError) as refused, env.db.engine.begin() as connection:
            connection.execute(sa.text(statement))
        assert "audit_events is append-only" in str(refused.value)
    with env.db.engine.connect() as connection:
        actors = connection.scalars(sa.text("SELECT DISTINCT actor FROM audit_events")).all()
    assert "someone else" not in actors and "owner@example.org" in actors
    # the ORM cannot either
    with pytest.raises(DBAPIError), env.db.session() as session:
        event = session.scalars(sa.select(AuditEvent)).first()
        assert event is not None
        event.actor = "a forger"


def test_the_migration_goes_down_and_up_again(env: Env) -> None:
    from alembic import command

    _publish(env)
    config = alembic_config(env.settings.database_url)
    command.downgrade(config, "0004")
    with env.db.engine.connect() as connection:
        assert not sa.inspect(connection).has_table("audit_events")
        functions = connection.scalar(
            sa.text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_events_append_only'")
        )
        assert functions == 0
    command.upgrade(config, "head")
    with env.db.session() as session:
        record(session, SYSTEM, Action.USER_ENABLED, Subject.USER, "u1")
    with pytest.raises(DBAPIError), env.db.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_events"))


# ---------------------------------------------------------------- reading it


def test_only_admins_read_the_audit_trail(env: Env) -> None:
    _publish(env)
    for who in ("owner", "reviewer"):
        reply = env.audit(who=who)
        assert reply.status_code == 403
        assert reply.get_json() == {
            "error": "forbidden",
            "detail": "only admins read the audit trail",
        }
    assert env.client.get("/api/v1/audit").status_code == 401
    assert env.audit().status_code == 200


def test_bad_filters_say_what_is_wrong_and_how_to_fix_it(env: Env) -> None:
    reply = env.audit("?action=spec.deleted")
    assert reply.status_code == 422
    assert "'spec.deleted' is not an audited action" in reply.get_json()["detail"]
    assert "decision.recorded" in reply.get_json()["detail"]
    reply = env.audit("?since=yesterday")
    assert reply.status_code == 422 and "ISO 8601" in reply.get_json()["detail"]
    reply = env.audit("?subject=spaceship:1")
    assert reply.status_code == 422 and "submission" in reply.get_json()["detail"]
    reply = env.audit("?who=me")
    assert reply.status_code == 422 and "unknown filter(s): who" in reply.get_json()["detail"]
    assert env.audit("?limit=many").status_code == 422
    assert env.audit("?cursor=nonsense").status_code == 422


def test_the_audit_trail_pages_newest_first_and_filters_by_time_and_actor(env: Env) -> None:
    # users and tokens of the fixture (system), then three specs by the owner
    for _ in range(3):
        _publish(env)
    everything = env.events("?limit=200")
    assert len(everything) == 3 + 6  # 3 users + 3 tokens created by the fixture
    pages: list[dict[str, Any]] = []
    query = "?limit=4"
    while True:
        body = env.audit(query).get_json()
        pages.extend(body["items"])
        if body["next"] is None:
            break
        query = f"?limit=4&cursor={body['next']}"
    assert [e["id"] for e in pages] == [e["id"] for e in everything]
    ats = [e["at"] for e in everything]
    assert ats == sorted(ats, reverse=True)
    assert {e["actor"] for e in env.events("?actor=system")} == {"system"}
    assert len(env.events("?actor=system&action=token.created")) == 3
    last = everything[0]["at"]
    assert [e["id"] for e in env.events(f"?since={last}")] == [everything[0]["id"]]
    assert env.events("?since=2999-01-01") == []


def test_the_openapi_document_describes_the_audit_route(env: Env) -> None:
    document = env.client.get("/api/v1/openapi.json").get_json()
    route = document["paths"]["/api/v1/audit"]["get"]
    names = {p["name"] for p in route["parameters"]}
    assert names == {"action", "actor", "subject", "since", "cursor", "limit"}
    assert (
        "decision.recorded"
        in document["components"]["schemas"]["AuditEvent"]["properties"]["action"]["enum"]
    )


# ---------------------------------------------------------------- the CLI


def test_user_and_token_commands_are_recorded_as_the_cli_and_listed_by_it(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ACCEPTANCE_DATABASE_URL", database_url)
    assert main(["db", "upgrade"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "create", "Ann@Example.org", "--role", "owner"]) == 0
    assert main(["tokens", "create", "ann@example.org", "--expires", "30d"]) == 0
    assert main(["tokens", "revoke", "--all", "ann@example.org"]) == 0
    assert main(["users", "disable", "ann@example.org"]) == 0
    assert main(["users", "enable", "ann@example.org"]) == 0
    assert main(["users", "enable", "ann@example.org"]) == 0  # no change: nothing recorded
    capsys.readouterr()

    assert main(["audit", "list", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["action"] for e in lines] == [
        "user.enabled",
        "user.disabled",
        "token.revoked",
        "token.created",
        "user.created",
    ]
    assert {e["actor"] for e in lines} == {"cli"}
    assert {e["actor_user_id"] for e in lines} == {None}
    created = lines[-1]
    assert created["subject_type"] == "user"
    assert created["details"] == {"email": "ann@example.org", "role": "owner"}
    assert lines[1]["details"] == {"email": "ann@example.org", "already_disabled": False}
    assert lines[3]["details"]["expires_at"].endswith("Z")
    assert lines[2]["subject_id"] == lines[3]["subject_id"]  # the token created is the one revoked

    assert main(["audit", "list", "--action", "token.created"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert " cli  token.created  token:" in line and "ann@example.org" in line
    assert main(["audit", "list", "--action", "nope"]) == 2
    assert "is not an audited action" in capsys.readouterr().err
    assert main(["audit", "list", "--since", "2999-01-01"]) == 0
    assert "no audit events match" in capsys.readouterr().err
