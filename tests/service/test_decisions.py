"""Decisions on finished runs, their signed statements and the submission state, through the
API on a real PostgreSQL database; the signer service's checks of decision statements; and
`acceptance verify` reading a signed decision and its link to the report."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from acceptance.cli import main
from acceptance.engine.keyring import ensure_signing_key
from acceptance.engine.report import PREDICATE_TYPE as REPORT_PREDICATE_TYPE
from acceptance.engine.report import STATEMENT_TYPE, serialize
from acceptance.engine.signing import load_public_key, sign_envelope, verify_envelope
from acceptance.service.accounts import create_token, create_user
from acceptance.service.db import Database, alembic_config, upgrade
from acceptance.service.decision_statement import PREDICATE_TYPE, describe
from acceptance.service.models import Decision, Submission
from acceptance.service.runs import create_run
from acceptance.settings import Settings, load_settings
from tests.support import Recorder, tar_gz
from web.app import create_app
from workers.signer import Signer, SigningRefused

SPEC = b"version: 1\ntitle: Contact form\nfunctional: {paths: [tests], hidden_tests: hidden}\n"
HIDDEN = tar_gz({"test_owner.py": "def test_owner():\n    assert True\n"})
REPO = "https://github.com/Codertocat/Hello-World"
OVERRIDE_REASON = "The failing check is a known false positive, see ticket 42."


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
        for who, role in [
            ("owner", "owner"),
            ("other", "owner"),
            ("reviewer", "reviewer"),
            ("admin", "admin"),
        ]:
            with self.db.session() as session:
                create_user(session, f"{who}@example.org", role, "a long password 1")
                self.tokens[who] = create_token(session, f"{who}@example.org")

    def auth(self, who: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def submission(self) -> str:
        data = {
            "spec": (io.BytesIO(SPEC), "acceptance.yaml"),
            "hidden_tests": (io.BytesIO(HIDDEN), "h.tar.gz"),
        }
        opportunity = self.client.post(
            "/api/v1/opportunities", data=data, headers=self.auth()
        ).get_json()
        reply = self.client.post(
            f"/api/v1/opportunities/{opportunity['id']}/submissions",
            json={"repo_url": REPO, "supplier": "Supplier Ltd", "branch": "main"}, headers=self.auth(),
        )  # fmt: skip
        assert reply.status_code == 201, reply.get_json()
        return str(reply.get_json()["id"])

    def run(
        self,
        submission_id: str,
        commit: str,
        verdict: str | None = "accepted",
        status: str = "finished",
    ) -> str:
        """A run as a worker leaves it: ended with a signed report in the artifact store."""
        with self.db.session() as session:
            submission = session.get(Submission, submission_id)
            assert submission is not None
            run, _ = create_run(session, submission, trigger="webhook", ref="main", commit=commit)
            run.status, run.verdict = status, verdict
            if status in ("finished", "error"):
                report = {
                    "_type": STATEMENT_TYPE,
                    "subject": [{"name": REPO, "digest": {"gitCommit": commit}}],
                    "predicateType": REPORT_PREDICATE_TYPE,
                    "predicate": {"verdict": verdict, "run": {"id": run.id}},
                }
                envelope = json.dumps(sign_envelope(serialize(report), self.key)).encode()
                run.report_sha256 = self.app.extensions["acceptance"].store.put(envelope)
            session.flush()
            return run.id

    def decide(
        self, run_id: str, decision: str, reason: str | None = None, who: str = "owner"
    ) -> Any:
        body: dict[str, Any] = {"decision": decision}
        if reason is not None:
            body["reason"] = reason
        return self.client.post(
            f"/api/v1/runs/{run_id}/decision", json=body, headers=self.auth(who)
        )

    def state(self, submission_id: str) -> dict[str, Any]:
        reply = self.client.get(f"/api/v1/submissions/{submission_id}", headers=self.auth())
        return dict(reply.get_json())


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    yield Env(tmp_path, database_url)


# ---------------------------------------------------------------- recording and reading


def test_accepting_an_accepted_run_needs_no_reason_and_is_signed_on_its_report(env: Env) -> None:
    submission = env.submission()
    run = env.run(submission, "a" * 40)
    reply = env.decide(run, "accepted")
    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    assert body["run_id"] == run and body["decision"] == "accepted" and body["override"] is False
    assert body["decided_by"] == "owner@example.org" and body["reason"] is None
    assert body["decided_at"].endswith("Z")
    assert body["attestation_url"].endswith(f"/api/v1/decisions/{body['id']}/attestation")
    with env.db.session() as session:
        decision = session.get(Decision, body["id"])
        assert decision is not None and decision.envelope_sha256 is not None
        report_sha = decision.run.report_sha256
    assert body["report_sha256"] == report_sha

    assert (
        env.client.get(f"/api/v1/decisions/{body['id']}", headers=env.auth("reviewer")).get_json()[
            "id"
        ]
        == body["id"]
    )
    envelope = env.client.get(
        f"/api/v1/decisions/{body['id']}/attestation", headers=env.auth()
    ).get_json()
    verified = verify_envelope(envelope, [load_public_key(env.settings.public_key)])
    statement = json.loads(verified.payload)
    assert statement["predicateType"] == PREDICATE_TYPE
    assert statement["subject"] == [{"name": REPO, "digest": {"gitCommit": "a" * 40}}]
    predicate = statement["predicate"]
    assert predicate["decision"] == "accepted" and predicate["override"] is False
    assert predicate["decided_by"]["email"] == "owner@example.org"
    (link,) = predicate["inputAttestations"]
    assert link["digest"] == {"sha256": report_sha} and link["uri"].endswith(
        f"/api/v1/runs/{run}/report"
    )
    report = env.client.get(link["uri"].split("localhost", 1)[-1], headers=env.auth()).data
    assert hashlib.sha256(report).hexdigest() == report_sha

    state = env.state(submission)
    assert state["state"] == "accepted" and state["accepted_run_id"] == run
    listed = env.client.get(f"/api/v1/runs?submission={submission}", headers=env.auth()).get_json()[
        "items"
    ]
    assert listed[0]["decision"] == "accepted" and listed[0]["accepted_delivery"] is True
    assert listed[0]["submission_state"] == "accepted"


@pytest.mark.parametrize(
    ("verdict", "decision", "reason", "says"),
    [
        ("accepted", "changes_requested", None, "reason: say why"),
        ("rejected", "rejected", "   ", "reason: say why"),
        ("rejected", "accepted", None, "reason: say why"),
        ("rejected", "accepted", "looks fine to me", "at least 20 characters"),
        ("error", "accepted", "short", "overrides the machine"),
        ("accepted", "approve", "fine", "decision: one of accepted, changes_requested, rejected"),
    ],
)
def test_reasons_are_required_and_an_override_needs_a_long_one(
    env: Env, verdict: str, decision: str, reason: str | None, says: str
) -> None:
    run = env.run(env.submission(), "b" * 40, verdict=verdict)
    reply = env.decide(run, decision, reason)
    assert reply.status_code == 422 and reply.get_json()["error"] == "invalid_input"
    assert says in reply.get_json()["detail"]


def test_accepting_a_rejected_run_is_an_override_marked_everywhere(env: Env) -> None:
    run = env.run(env.submission(), "c" * 40, verdict="rejected")
    reply = env.decide(run, "accepted", OVERRIDE_REASON)
    assert reply.status_code == 201 and reply.get_json()["override"] is True
    envelope = env.client.get(reply.get_json()["attestation_url"], headers=env.auth()).get_json()
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert (
        statement["predicate"]["override"] is True
        and statement["predicate"]["reason"] == OVERRIDE_REASON
    )
    assert "OVERRIDE" in describe(statement)[0]


def test_who_may_decide(env: Env) -> None:
    run = env.run(env.submission(), "d" * 40)
    reviewer = env.decide(run, "accepted", who="reviewer")
    assert reviewer.status_code == 403 and reviewer.get_json()["error"] == "forbidden"
    assert env.decide(run, "accepted", who="other").status_code == 404  # not theirs to see
    assert env.decide(run, "rejected", "Not what we asked for.", who="admin").status_code == 201


@pytest.mark.parametrize("status", ["queued", "running"])
def test_nobody_decides_on_a_run_that_has_not_finished(env: Env, status: str) -> None:
    run = env.run(env.submission(), "e" * 40, verdict=None, status=status)
    reply = env.decide(run, "accepted", who="admin")
    assert reply.status_code == 409
    assert reply.get_json() == {
        "error": "conflict",
        "detail": f"run {run} is {status}: decide once it has finished",
    }


def test_bad_bodies_are_4xx_never_500(env: Env) -> None:
    run = env.run(env.submission(), "f" * 40)
    url = f"/api/v1/runs/{run}/decision"
    assert env.client.post(url, data="nope", headers=env.auth()).status_code == 400
    assert env.client.post(url, json=["accepted"], headers=env.auth()).status_code == 400
    for body in (
        {"decision": 1},
        {"decision": "rejected", "reason": 7},
        {"decision": "rejected", "reason": "x" * 5000},
    ):
        reply = env.client.post(url, json=body, headers=env.auth())
        assert reply.status_code == 422, body
    assert (
        env.client.post(
            "/api/v1/runs/nope/decision", json={"decision": "accepted"}, headers=env.auth()
        ).status_code
        == 404
    )
    assert env.client.get("/api/v1/decisions/nope", headers=env.auth()).status_code == 404


def test_a_later_decision_supersedes_and_both_are_kept(env: Env) -> None:
    submission = env.submission()
    run = env.run(submission, "1" * 40)
    first = env.decide(run, "changes_requested", "Please add the export button.").get_json()
    assert env.state(submission)["state"] == "changes_requested"
    second = env.decide(run, "accepted").get_json()
    assert second["supersedes"] == first["id"]
    listed = env.client.get(
        f"/api/v1/submissions/{submission}/decisions", headers=env.auth()
    ).get_json()["items"]
    assert [d["id"] for d in listed] == [second["id"], first["id"]]
    assert (
        env.client.get(f"/api/v1/runs/{run}/decision", headers=env.auth()).get_json()["id"]
        == second["id"]
    )
    assert env.state(submission)["state"] == "accepted"


# ---------------------------------------------------------------- the submission's state


def test_the_submission_goes_from_first_push_to_an_accepted_delivery(env: Env) -> None:
    submission = env.submission()
    assert env.state(submission)["state"] == "awaiting_delivery"
    first = env.run(submission, "1" * 40, verdict="rejected")
    assert env.state(submission)["state"] == "in_review"
    env.decide(first, "changes_requested", "Two tests fail.")
    env.run(submission, "2" * 40, verdict=None, status="running")
    assert env.state(submission)["state"] == "changes_requested"  # the new push is not in yet
    second = env.run(submission, "3" * 40)
    assert env.state(submission)["state"] == "in_review"
    assert env.decide(second, "accepted").status_code == 201
    after = env.run(submission, "4" * 40, verdict="rejected")  # a push after acceptance still runs
    state = env.state(submission)
    assert state["state"] == "accepted" and state["accepted_run_id"] == second
    refused = env.decide(after, "rejected", "Broken again.")
    assert refused.status_code == 409 and second in refused.get_json()["detail"]


def test_withdrawing_closes_the_submission(env: Env) -> None:
    submission = env.submission()
    run = env.run(submission, "5" * 40)
    url = f"/api/v1/submissions/{submission}/withdraw"
    assert env.client.post(url, headers=env.auth("reviewer")).status_code == 403
    reply = env.client.post(url, headers=env.auth())
    assert reply.status_code == 200 and reply.get_json()["state"] == "withdrawn"
    assert env.client.post(url, headers=env.auth()).status_code == 409
    refused = env.decide(run, "accepted")
    assert refused.status_code == 409 and "withdrawn" in refused.get_json()["detail"]


# ---------------------------------------------------------------- the signer service


def _decision(env: Env, verdict: str = "accepted") -> tuple[str, dict[str, Any]]:
    run = env.run(env.submission(), "6" * 40, verdict=verdict)
    body = env.decide(run, "accepted", OVERRIDE_REASON).get_json()
    envelope = env.client.get(body["attestation_url"], headers=env.auth()).get_json()
    return body["id"], json.loads(base64.b64decode(envelope["payload"]))


def _encoded(statement: dict[str, Any]) -> str:
    return base64.standard_b64encode(serialize(statement)).decode()


def test_the_signer_signs_a_decision_only_as_the_database_recorded_it(env: Env) -> None:
    decision_id, statement = _decision(env)
    signer = Signer(env.db, env.key)
    answer = signer.sign(decision_id, 0, _encoded(statement))
    verified = verify_envelope(answer["envelope"], [load_public_key(env.settings.public_key)])
    assert json.loads(verified.payload) == statement

    tampered = json.loads(json.dumps(statement))
    tampered["predicate"]["decision"] = "rejected"
    with pytest.raises(SigningRefused, match="does not say what decision"):
        signer.sign(decision_id, 0, _encoded(tampered))
    tampered = json.loads(json.dumps(statement))
    tampered["predicate"]["inputAttestations"][0]["digest"]["sha256"] = "0" * 64
    with pytest.raises(SigningRefused, match="report digest"):
        signer.sign(decision_id, 0, _encoded(tampered))
    with pytest.raises(SigningRefused, match="does not exist"):
        signer.sign("f" * 32, 0, _encoded(statement))


def test_with_a_queue_signer_the_decision_is_signed_by_the_signer_service(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    class Celery:  # the broker, answered by the real Signer as `acceptance signer` would
        def send_task(self, name: str, args: list[Any], **options: Any) -> Any:
            asked.append(args[0])
            answer = Signer(env.db, env.key).sign(*args)

            class Result:
                def get(self, **kw: Any) -> dict[str, Any]:
                    return answer

                def forget(self) -> None:
                    pass

            return Result()

    services = env.app.extensions["acceptance"]
    monkeypatch.setattr(services, "celery", Celery())
    monkeypatch.setattr(services, "settings", _with(services.settings, signer="queue"))
    run = env.run(env.submission(), "7" * 40)
    body = env.decide(run, "accepted").get_json()
    assert asked == [body["id"]]
    assert env.client.get(body["attestation_url"], headers=env.auth()).status_code == 200


def _with(settings: Settings, **changes: Any) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, **changes)


# ---------------------------------------------------------------- acceptance verify


def test_acceptance_verify_prints_the_decision_and_checks_its_report(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = env.run(env.submission(), "8" * 40, verdict="rejected")
    body = env.decide(run, "accepted", OVERRIDE_REASON).get_json()
    decision = tmp_path / "decision.dsse.json"
    decision.write_bytes(env.client.get(body["attestation_url"], headers=env.auth()).data)
    report = tmp_path / "report.dsse.json"
    report.write_bytes(env.client.get(f"/api/v1/runs/{run}/report", headers=env.auth()).data)
    pub = ["--pubkey", str(env.settings.public_key)]

    assert main(["verify", str(decision), *pub]) == 0
    out = capsys.readouterr().out
    assert (
        "Decision: accepted (OVERRIDE" in out
        and "owner@example.org" in out
        and OVERRIDE_REASON in out
    )
    assert main(["verify", str(decision), *pub, "--with-report", str(report)]) == 0
    assert "is the report this decision rests on" in capsys.readouterr().out

    other = tmp_path / "other.dsse.json"
    other.write_bytes(
        env.client.get(
            f"/api/v1/runs/{env.run(env.submission(), '9' * 40)}/report", headers=env.auth()
        ).data
    )
    assert main(["verify", str(decision), *pub, "--with-report", str(other)]) == 1
    assert "is not the report this decision rests on" in capsys.readouterr().err
    assert (
        main(["verify", str(report), *pub, "--with-report", str(other)]) == 1
    )  # a report is no decision


# ---------------------------------------------------------------- the migration


def test_the_decisions_migration_goes_both_ways_and_is_the_single_head(database_url: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    config = alembic_config(database_url)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
    upgrade(database_url)
    db = Database(database_url)
    assert inspect(db.engine).has_table("decisions")
    command.downgrade(config, "0002")
    assert not inspect(db.engine).has_table("decisions")
    assert "withdrawn_at" not in {c["name"] for c in inspect(db.engine).get_columns("submissions")}
    upgrade(database_url)
    assert db.is_current()


def test_a_decision_stands_unsigned_while_the_signer_is_down_and_is_signed_when_read(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DownBroker:
        def send_task(self, *args: Any, **options: Any) -> Any:
            raise ConnectionError("broker down")

    services = env.app.extensions["acceptance"]
    local = services.settings
    monkeypatch.setattr(services, "celery", DownBroker())
    monkeypatch.setattr(services, "settings", _with(local, signer="queue", sign_timeout=0.1))
    run = env.run(env.submission(), "a1" * 20)
    body = env.decide(run, "accepted").get_json()
    assert (
        env.client.get(f"/api/v1/decisions/{body['id']}", headers=env.auth()).get_json()["signed"]
        is False
    )
    unavailable = env.client.get(body["attestation_url"], headers=env.auth())
    assert unavailable.status_code == 503 and unavailable.get_json()["error"] == "unavailable"
    monkeypatch.setattr(services, "settings", local)  # the signer is back
    envelope = env.client.get(body["attestation_url"], headers=env.auth()).get_json()
    verify_envelope(envelope, [load_public_key(env.settings.public_key)])
    assert (
        env.client.get(f"/api/v1/decisions/{body['id']}", headers=env.auth()).get_json()["signed"]
        is True
    )
