"""Check runs with a GitHub App, through PyGithub, on a fake GitHub on loopback that checks GitHub's
documented shapes (a JWT-authenticated installation token, check runs, at most 50 annotations per
request): queued, then in progress when a worker takes the run, then completed with a Markdown
summary and annotations for SAST findings and the supplier's failing tests, in batches of 50, never
naming a hidden test; an attempt stopped half-way resumes without a second check run or a repeated
annotation. On a real PostgreSQL database."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update

from acceptance.errors import UserInputError
from acceptance.service.accounts import create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.forge.credentials import parse_forge, store_forge
from acceptance.service.forge.delivery import Delivery, ForgeFeedback, deliver
from acceptance.service.models import ForgeAttempt, Run
from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import load_settings
from checks.hidden_inventory import HIDDEN_DIR_NAME
from tests.forge_fake import FakeGitHubApp
from workers.runner import Claim, RunExecutor

COMMIT = "e" * 40
HIDDEN_ID = f"{HIDDEN_DIR_NAME}/test_owner_secret.py::test_discount_rounding"
OWN_FAILING = "tests/test_contact.py::test_rejects_blank"
APP_ID, INSTALLATION_ID = 123456, 987654
FINDINGS = 60


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def github(app_key: rsa.RSAPrivateKey) -> Iterator[FakeGitHubApp]:
    public = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = FakeGitHubApp(APP_ID, INSTALLATION_ID, public).start()
    try:
        yield fake
    finally:
        fake.stop()


class World:
    def __init__(
        self, tmp_path: Path, database_url: str, github: FakeGitHubApp, key: rsa.RSAPrivateKey
    ) -> None:
        from acceptance.service.artifacts_s3 import artifact_store

        self.settings = load_settings({
            "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url,
            "ACCEPTANCE_PUBLIC_URL": "https://acceptance.buyer.example",
            "ACCEPTANCE_GIT_ALLOWED_HOSTS": f"{github.host},github.example.org",
        })  # fmt: skip
        upgrade(self.settings.database_url)
        self.db = Database(self.settings.database_url)
        self.box = SecretBox(self.settings.secrets_key)
        self.delivery = Delivery(
            self.settings, self.db, artifact_store(self.settings), self.box, timeout=2.0
        )
        self.handed: list[str] = []
        self.executor = RunExecutor(
            self.settings, self.db, forge=ForgeFeedback(self.db, self.handed.append)
        )
        with self.db.session() as session:
            owner = create_user(session, "owner@buyer.example", "owner", "a long password 1")
            spec = b"version: 1\ntitle: Contact form\nlimits: {timeout: 100}\nfunctional: {timeout: 50}\n"
            version = publish_spec(session, owner, SpecUpload(spec), self.settings.specs_dir)
            submission, self.webhook_secret = register_submission(
                session, owner, version.opportunity, repo_url="https://github.example.org/supplier/contact.git",
                supplier="Supplier Ltd", branch=None, box=self.box,
            )  # fmt: skip
            forge = {"kind": "github", "api_url": github.api_url, "app_id": str(APP_ID),
                     "installation_id": INSTALLATION_ID, "private_key": _pem(key)}  # fmt: skip
            store_forge(
                submission,
                parse_forge(forge, submission.repo_url, self.settings.git_allowed_hosts),
                self.box,
            )
            run, _ = create_run(session, submission, trigger="webhook", ref="main", commit=COMMIT)
            self.run_id, self.opportunity_id = run.id, version.opportunity_id
            self.submission_id = submission.id

    def deliver(self) -> Any:
        return deliver(self.delivery, self.run_id)

    def claim(self) -> Claim:
        claim = self.executor.claim(self.run_id)
        assert isinstance(claim, Claim)
        assert self.executor.forge is not None and self.executor.forge.run_changed(
            self.run_id, started=True
        )
        return claim

    def finish(self, claim: Claim) -> None:
        assert self.executor._finish(claim, statement(), {}, {}) == "done"


def statement() -> dict[str, Any]:
    findings = [
        {"test_id": "B602", "test_name": "subprocess_popen_with_shell_equals_true", "severity": sev,
         "confidence": "HIGH", "filename": f"contact/module_{i}.py", "line": i + 1, "text": f"finding {i}"}
        for i, sev in enumerate(["HIGH", "MEDIUM", "LOW"] * (FINDINGS // 3))
    ]  # fmt: skip
    return {"predicate": {
        "verdict": "rejected", "reason_codes": ["TESTS_FAILED", "SAST_FINDINGS"],
        "reasons": [f"2 tests failed: {HIDDEN_ID}, {OWN_FAILING}"],
        "source": {"commit": COMMIT}, "stages": [{"name": "checkout", "seconds": 0.1, "status": "ok"}],
        "checks": [
            {"id": "functional", "kind": "functional", "status": "failed", "summary": "3 passed, 2 failed",
             "failing_tests": [HIDDEN_ID, OWN_FAILING],
             "failures": [{"id": HIDDEN_ID, "message": "assert round(2.675, 2) == 2.68"},
                          {"id": OWN_FAILING, "message": "AssertionError: blank accepted"}]},
            {"id": "sast", "kind": "sast", "status": "failed", "summary": f"{FINDINGS} findings",
             "findings": findings},
            {"id": "quality", "kind": "quality", "status": "failed", "summary": "1 finding",
             "findings": [{"rule": "F401", "name": "unused-import", "level": "error", "file": "contact/__init__.py",
                           "line": 3, "message": "`os` imported but unused"},
                          {"rule": "E501", "level": "style", "file": "contact/shell.py", "line": 2,
                           "message": "line too long", "suppressed": True}]},
        ],
        "environment": {}, "spec": {"hidden_test_ids": [HIDDEN_ID], "hidden_feedback": "none"},
    }}  # fmt: skip


@pytest.fixture
def world(
    tmp_path: Path, database_url: str, github: FakeGitHubApp, app_key: rsa.RSAPrivateKey
) -> World:
    return World(tmp_path, database_url, github, app_key)


def test_a_run_is_a_check_run_queued_in_progress_then_completed_with_annotations_in_batches_of_50(
    world: World, github: FakeGitHubApp
) -> None:
    assert world.deliver().state == "delivered"
    claim = world.claim()
    assert world.handed == [world.run_id]
    assert world.deliver().state == "delivered"
    world.executor._progress(claim)(
        "functional", "started"
    )  # a stage begins: the check run says so
    assert world.handed == [world.run_id] * 2
    assert world.deliver().state == "delivered"
    world.finish(claim)
    assert world.deliver().state == "delivered"

    assert [r.problem for r in github.requests] == [None] * len(github.requests)
    assert list(github.check_runs) == [1]  # one check run for the run, updated
    check = github.check_runs[1]
    assert (check["name"], check["head_sha"], check["external_id"]) == (
        f"acceptance/{world.opportunity_id}",
        COMMIT,
        world.run_id,
    )
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert check["details_url"].startswith("https://acceptance.buyer.example/status/")
    annotations = check["annotations"]
    assert (
        len(annotations) == FINDINGS + 2
    )  # the findings, the linter's one and the supplier's failing test
    levels = {a["annotation_level"] for a in annotations}
    assert levels == {"failure", "warning", "notice"}
    assert {
        "path": "tests/test_contact.py",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "failure",
        "title": f"Failing test: {OWN_FAILING}",
        "message": "AssertionError: blank accepted",
    } in annotations
    check_bodies = [r.body for r in github.requests if "check-runs" in r.path]
    statuses = ["queued", "in_progress", "in_progress", "completed", None]
    assert [b.get("status") for b in check_bodies] == statuses
    assert [len(b["output"]["annotations"]) for b in check_bodies] == [
        0,
        0,
        0,
        50,
        FINDINGS + 2 - 50,
    ]
    assert "Current stage: functional" in check_bodies[2]["output"]["summary"]
    assert {
        "path": "contact/__init__.py",
        "start_line": 3,
        "end_line": 3,
        "annotation_level": "failure",
        "title": "F401 unused-import",
        "message": "`os` imported but unused",
    } in annotations
    summary = check["output"]["summary"]
    assert "Rejected by the acceptance checks" in summary and "| sast | failed |" in summary
    everything = json.dumps([r.body for r in github.requests])
    assert (
        "test_discount_rounding" not in everything and "2.675" not in everything
    )  # never a hidden test
    tokens = [r for r in github.requests if r.path.endswith("/access_tokens")]
    assert len(tokens) == 4 and all(
        r.answer == 201 for r in tokens
    )  # one installation token per attempt


def test_an_attempt_stopped_half_way_resumes_without_a_second_check_run_or_a_repeated_annotation(
    world: World, github: FakeGitHubApp
) -> None:
    github.failures = [500]  # the first check-run request: nothing created
    first = world.deliver()
    assert (first.state, first.retry) == ("retrying", True)
    claim = world.claim()
    world.finish(claim)
    github.fail_check_request = 3  # the second annotation batch, after the completion was taken
    second = world.deliver()
    assert (second.state, second.retry) == ("retrying", True)
    assert world.deliver().state == "delivered"
    assert list(github.check_runs) == [1]
    annotations = github.check_runs[1]["annotations"]
    assert len(annotations) == FINDINGS + 2
    assert len({json.dumps(a, sort_keys=True) for a in annotations}) == FINDINGS + 2  # none twice
    with world.db.session() as session:
        attempts = [
            (a.state, a.http_status, a.ok)
            for a in session.query(ForgeAttempt).order_by(ForgeAttempt.at)
        ]
        run = session.get(Run, world.run_id)
        assert run is not None and run.verdict == "rejected"
    assert attempts == [("queued", 500, False), ("failure", 502, False), ("failure", 200, True)]


def test_a_github_app_needs_its_ids_and_an_rsa_key(app_key: rsa.RSAPrivateKey) -> None:
    base = {
        "kind": "github",
        "api_url": "http://127.0.0.1:9",
        "app_id": "1",
        "installation_id": "2",
    }
    allowed = frozenset({"127.0.0.1:9"})
    url = "https://github.example.org/o/r"
    found = parse_forge({**base, "private_key": _pem(app_key)}, url, allowed)
    assert (found.app_id, found.installation_id, found.repository) == ("1", "2", "o/r")
    cases = [
        ({**base, "private_key": "not a key"}, "PEM"),
        ({**base, "app_id": "abc", "private_key": _pem(app_key)}, "numeric"),
        ({**base, "private_key": _pem(app_key), "token": "t"}, "either a token or a GitHub App"),
        ({**base, "kind": "gitea", "private_key": _pem(app_key)}, "GitHub Apps"),
    ]
    for forge, why in cases:
        with pytest.raises(UserInputError) as refused:
            parse_forge(forge, url, allowed)
        assert why in refused.value.diagnostics(), forge


def _signed_check_run(
    secret: str, action: str, run_id: str, delivery: str
) -> tuple[bytes, dict[str, str]]:
    """A GitHub `check_run` event about our check run, signed like every GitHub delivery."""
    body = json.dumps({
        "action": action,
        "check_run": {"id": 1, "head_sha": COMMIT, "external_id": run_id, "status": "completed"},
        "repository": {"full_name": "supplier/contact"},
    }).encode()  # fmt: skip
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-GitHub-Event": "check_run",
                  "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature,
                  "User-Agent": "GitHub-Hookshot/5a5f9b0"}  # fmt: skip


def test_re_run_on_github_runs_the_commit_again(world: World) -> None:
    from tests.support import Recorder
    from web.app import create_app
    from workers.celery_app import FORGE_TASK, RUN_TASK

    celery = Recorder()
    # At most 2 webhook runs an hour: the first run and one re-run from GitHub.
    settings = dataclasses.replace(world.settings, runs_per_hour=2)
    client = create_app(settings, celery=celery).test_client()
    hook = f"/hooks/{world.submission_id}"

    def post(action: str, run_id: str, delivery: str, secret: str = world.webhook_secret) -> Any:
        body, headers = _signed_check_run(secret, action, run_id, delivery)
        return client.post(hook, data=body, headers=headers)

    assert post("rerequested", world.run_id, "d-0").status_code == 409  # not ended yet
    world.finish(world.claim())
    assert post("rerequested", world.run_id, "d-1", secret="another secret").status_code == 401
    assert post("rerequested", "not-a-run", "d-1").status_code == 422
    ignored = post("created", world.run_id, "d-1")
    assert ignored.status_code == 202 and ignored.get_json()["run_id"] is None
    again = post("rerequested", world.run_id, "d-1")
    assert again.status_code == 202, again.get_json()
    new_id = again.get_json()["run_id"]
    assert new_id != world.run_id and again.get_json()["duplicate"] is False
    assert post("rerequested", world.run_id, "d-1").get_json() == {
        "run_id": new_id,
        "duplicate": True,
    }
    with world.db.session() as session:  # the re-run ends, so GitHub may ask again
        session.execute(
            update(Run).where(Run.id == new_id).values(status="finished", verdict="rejected")
        )
    limited = post("rerequested", new_id, "d-2")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    sent = [(name, args[0]) for name, args, _ in celery.sent]
    assert (RUN_TASK, new_id) in sent and (FORGE_TASK, new_id) in sent  # its check run: queued
    with world.db.session() as session:
        run = session.get(Run, new_id)
        assert run is not None and (run.commit, run.trigger) == (COMMIT, "webhook")
