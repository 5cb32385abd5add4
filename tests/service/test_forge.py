"""Commit statuses on a fake GitHub, GitLab and Gitea on loopback, each checking its forge's documented
request shape: pending when a run is queued, the verdict when it ends, every attempt kept; a forge that
answers 500 or times out leaves the verdict as it is and gets the status once it recovers. On a real
PostgreSQL database, with the real PyGithub and python-gitlab clients."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acceptance.errors import UserInputError
from acceptance.service.accounts import create_token, create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.forge.credentials import default_api_url, parse_forge, store_forge
from acceptance.service.forge.delivery import MAX_ATTEMPTS, Delivery, ForgeFeedback, deliver
from acceptance.service.forge.interface import ForgeKind
from acceptance.service.models import ForgeAttempt, ForgeStatus, Run, Submission
from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import load_settings
from checks.hidden_inventory import HIDDEN_DIR_NAME
from tests.forge_fake import FakeForge
from tests.support import Recorder
from workers.celery_app import FORGE_TASK, SERVICE_QUEUE
from workers.runner import Claim, RunExecutor

COMMIT = "c" * 40
HIDDEN_ID = f"{HIDDEN_DIR_NAME}/test_owner_secret.py::test_discount_rounding"
TOKEN = "forge-token-1234567890"


@pytest.fixture(params=["github", "gitlab", "gitea"])
def forge(request: pytest.FixtureRequest) -> Iterator[FakeForge]:
    fake = FakeForge(request.param, TOKEN).start()
    try:
        yield fake
    finally:
        fake.stop()


class World:
    """An owner, a submission whose forge is the fake one, a run of a known commit, and a worker."""

    def __init__(
        self, tmp_path: Path, database_url: str, forge: FakeForge, language: str = "en"
    ) -> None:
        self.forge = forge
        self.settings = load_settings({
            "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url,
            "ACCEPTANCE_PUBLIC_URL": "https://acceptance.buyer.example",
            "ACCEPTANCE_GIT_ALLOWED_HOSTS": f"{forge.host},example.org",
        })  # fmt: skip
        upgrade(self.settings.database_url)
        self.db = Database(self.settings.database_url)
        self.box = SecretBox(self.settings.secrets_key)
        self.delivery = Delivery(
            self.settings, self.db, _store(self.settings), self.box, timeout=1.0
        )
        self.handed: list[str] = []
        self.executor = RunExecutor(
            self.settings, self.db, forge=ForgeFeedback(self.db, self.handed.append)
        )
        repository = (
            "supplier-group/sub/contact-form" if forge.kind == "gitlab" else "supplier/contact-form"
        )
        with self.db.session() as session:
            owner = create_user(session, "owner@buyer.example", "owner", "a long password 1")
            spec = b"version: 1\ntitle: Contact form\nlimits: {timeout: 100}\nfunctional: {timeout: 50}\n"
            version = publish_spec(session, owner, SpecUpload(spec), self.settings.specs_dir)
            submission, _ = register_submission(
                session, owner, version.opportunity, repo_url=f"https://example.org/{repository}.git",
                supplier="Supplier Ltd", branch=None, box=self.box, language=language,
            )  # fmt: skip
            credentials = parse_forge(
                {"kind": forge.kind, "token": TOKEN, "api_url": forge.api_url},
                submission.repo_url, self.settings.git_allowed_hosts,
            )  # fmt: skip
            store_forge(submission, credentials, self.box)
            run, _ = create_run(session, submission, trigger="webhook", ref="main", commit=COMMIT)
            self.run_id, self.status_token = run.id, submission.status_token
            self.opportunity_id, self.repository = version.opportunity_id, repository

    def deliver(self) -> Any:
        return deliver(self.delivery, self.run_id)

    def finish(self, verdict: str) -> None:
        claim = self.executor.claim(self.run_id)
        assert isinstance(claim, Claim)
        assert self.executor._finish(claim, statement(verdict), {}, {}) == "done"

    def attempts(self) -> list[ForgeAttempt]:
        with self.db.session() as session:
            found = list(session.query(ForgeAttempt).order_by(ForgeAttempt.at))
            session.expunge_all()
            return found

    def run(self) -> Run:
        with self.db.session() as session:
            run = session.get(Run, self.run_id)
            assert run is not None
            session.expunge(run)
            return run


def _store(settings: Any) -> Any:
    from acceptance.service.artifacts_s3 import artifact_store

    return artifact_store(settings)


def statement(verdict: str) -> dict[str, Any]:
    """A report whose first reason names one of the owner's hidden tests."""
    return {"predicate": {
        "verdict": verdict,
        "reason_codes": ["TESTS_FAILED"] if verdict != "accepted" else [],
        "reasons": [f"1 test failed: {HIDDEN_ID}"] if verdict != "accepted" else [],
        "source": {"commit": COMMIT},
        "stages": [{"name": "checkout", "seconds": 0.1, "status": "ok"}],
        "checks": [{"id": "functional", "kind": "functional", "status": "failed",
                    "summary": f"4 passed, 1 failed ({HIDDEN_ID})"}],
        "environment": {},
        "spec": {"hidden_test_ids": [HIDDEN_ID], "hidden_feedback": "none"},
    }}  # fmt: skip


EXPECTED_STATES = {
    "github": {
        "pending": "pending",
        "accepted": "success",
        "rejected": "failure",
        "error": "error",
    },
    "gitlab": {
        "pending": "pending",
        "accepted": "success",
        "rejected": "failed",
        "error": "failed",
    },
    "gitea": {"pending": "pending", "accepted": "success", "rejected": "failure", "error": "error"},
}


@pytest.mark.parametrize("verdict", ["accepted", "rejected"])
def test_pending_then_the_verdict_reaches_the_commit_in_the_forges_own_shape(
    tmp_path: Path, database_url: str, forge: FakeForge, verdict: str
) -> None:
    world = World(tmp_path, database_url, forge)
    assert world.deliver().state == "delivered"
    world.finish(verdict)
    assert world.handed == [world.run_id]  # the worker handed the ended run to the forge task
    assert world.deliver().state == "delivered"
    assert world.deliver().state == "delivered"  # nothing new to say: nothing sent again

    expected = EXPECTED_STATES[forge.kind]
    assert [r.problem for r in forge.requests] == [None, None]
    assert forge.states() == [expected["pending"], expected[verdict]]
    for request in forge.accepted():
        assert (request.repository, request.sha) == (world.repository, COMMIT)
        body = request.body
        name = body["name"] if forge.kind == "gitlab" else body["context"]
        assert name == f"acceptance/{world.opportunity_id}"
        assert body["target_url"] == f"https://acceptance.buyer.example/status/{world.status_token}"
        assert "\n" not in body["description"] and len(body["description"]) <= 140
    final = forge.accepted()[-1].body["description"]
    if verdict == "accepted":
        assert final == "Accepted by the acceptance checks"
    else:  # the first reason, as the supplier's status page says it: no hidden test's name
        assert final.startswith("Rejected by the acceptance checks: 1 test failed: a hidden test")
        assert "test_discount_rounding" not in final and HIDDEN_DIR_NAME not in final
    attempts = world.attempts()
    assert [(a.state, a.http_status, a.ok) for a in attempts] == [
        ("pending", 201, True),
        ("success" if verdict == "accepted" else "failure", 201, True),
    ]
    assert world.run().verdict == verdict


def test_a_forge_answering_500_then_timing_out_leaves_the_verdict_and_gets_the_status_once_it_recovers(
    tmp_path: Path, database_url: str, forge: FakeForge
) -> None:
    world = World(tmp_path, database_url, forge)
    forge.failures = [500]
    first = world.deliver()
    assert (first.state, first.retry) == ("retrying", True)
    world.finish("rejected")  # the verdict does not wait for the forge
    assert world.run().verdict == "rejected" and world.run().status == "finished"
    forge.stalls = [2.0]  # longer than the delivery's 1 s time-out
    second = world.deliver()
    assert (second.state, second.retry) == ("retrying", True)
    assert world.deliver().state == "delivered"  # the forge is back
    # The late `pending` was never sent after the verdict: the run calls for its verdict only.
    expected = EXPECTED_STATES[forge.kind]
    assert forge.states() == [expected["rejected"]]
    attempts = world.attempts()
    assert [(a.state, a.http_status, a.ok) for a in attempts] == [
        ("pending", 500, False),
        ("failure", None, False),
        ("failure", 201, True),
    ]
    assert "500" in (attempts[0].error or "")
    assert (
        "timed out" in (attempts[1].error or "").lower()
        or "timeout" in (attempts[1].error or "").lower()
    )
    assert world.run().verdict == "rejected"


def test_a_refused_token_is_not_retried_and_a_forge_down_for_good_is_given_up(
    tmp_path: Path, database_url: str, forge: FakeForge
) -> None:
    world = World(tmp_path, database_url, forge)
    forge.token = "another token"
    refused = world.deliver()
    assert (refused.state, refused.retry) == ("failed", False)
    assert world.attempts()[0].http_status == 401
    assert world.deliver().state == "failed"  # given up on `pending`: no second request
    assert len(forge.requests) == 1
    forge.token = TOKEN
    forge.failures = [503] * MAX_ATTEMPTS
    world.finish("accepted")  # a new state to say: tried again, up to MAX_ATTEMPTS times
    states = [world.deliver() for _ in range(MAX_ATTEMPTS)]
    assert [s.retry for s in states] == [True] * (MAX_ATTEMPTS - 1) + [False]
    assert states[-1].state == "failed" and world.run().verdict == "accepted"
    with world.db.session() as session:
        row = session.get(ForgeStatus, world.run_id)
        assert row is not None and row.delivered is None and "503" in (row.last_error or "")


def test_the_status_is_said_in_the_suppliers_language(tmp_path: Path, database_url: str) -> None:
    fake = FakeForge("gitea", TOKEN).start()
    try:
        world = World(tmp_path, database_url, fake, language="fr")
        world.deliver()
        world.finish("accepted")
        world.deliver()
    finally:
        fake.stop()
    assert [r.body["description"] for r in fake.accepted()] == [
        "Exécution de la recette en attente",
        "Acceptée par les vérifications de recette",
    ]


def test_a_run_whose_submission_has_no_forge_sends_nothing(
    tmp_path: Path, database_url: str
) -> None:
    fake = FakeForge("github", TOKEN).start()
    try:
        world = World(tmp_path, database_url, fake)
        with world.db.session() as session:
            submission = session.get(Run, world.run_id).submission  # type: ignore[union-attr]
            store_forge(submission, None, world.box)
        assert world.deliver().state == "no_forge"
        world.finish("accepted")
    finally:
        fake.stop()
    assert world.handed == [] and fake.requests == []


# ---------------------------------------------------------------- what a submission registers


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Public host names resolve to a public address (this machine has no DNS beyond itself)."""
    import socket

    real = socket.getaddrinfo

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host.endswith((".com", ".org")):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("140.82.112.6", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@pytest.mark.usefixtures("public_dns")
def test_forge_defaults_come_from_the_repository_url() -> None:
    github = parse_forge(
        {"kind": "github", "token": "t"}, "https://github.com/octo/hello.git", None
    )
    assert (github.api_url, github.repository) == ("https://api.github.com", "octo/hello")
    assert (
        default_api_url(ForgeKind.GITHUB, "https://ghe.example.com/o/r")
        == "https://ghe.example.com/api/v3"
    )
    assert (
        default_api_url(ForgeKind.GITLAB, "https://gitlab.com/g/s/p.git")
        == "https://gitlab.com/api/v4"
    )
    assert (
        default_api_url(ForgeKind.GITEA, "https://codeberg.org/o/r")
        == "https://codeberg.org/api/v1"
    )
    gitlab = parse_forge(
        {"kind": "gitlab", "token": "t"}, "https://gitlab.com/group/sub/project.git", None
    )
    assert (gitlab.api_url, gitlab.repository) == ("https://gitlab.com/api/v4", "group/sub/project")


@pytest.mark.parametrize(
    ("forge", "allowed", "why"),
    [
        ("not an object", None, "an object"),
        ({"kind": "bitbucket", "token": "t"}, None, "forge.kind"),
        ({"kind": "github"}, None, "forge.token"),
        ({"kind": "github", "token": "a\nb"}, None, "forge.token"),
        ({"kind": "github", "token": "t", "secret": "x"}, None, "unknown field"),
        ({"kind": "github", "token": "t", "api_url": "http://127.0.0.1:9/"}, None, "https"),
        ({"kind": "github", "token": "t", "api_url": "https://127.0.0.1:9/"}, None, "not a public address"),
        ({"kind": "github", "token": "t", "api_url": "https://localhost/"}, None, "not a public address"),
        ({"kind": "github", "token": "t", "api_url": "http://127.0.0.1:9/"}, frozenset({"127.0.0.1:10"}),
         "https"),
        ({"kind": "gitea", "token": "t", "api_url": "https://u:p@codeberg.org/api/v1"}, None, "password"),
        ({"kind": "gitlab", "token": "t", "api_url": "https://gitlab.com/api/v3"}, None, "/api/v4"),
        ({"kind": "github", "token": "t", "repository": "only-one-part"}, None, "owner/name"),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("public_dns")
def test_a_bad_forge_is_refused_with_what_to_fix(
    forge: Any, allowed: frozenset[str] | None, why: str
) -> None:
    with pytest.raises(UserInputError) as refused:
        parse_forge(forge, "https://github.com/octo/hello.git", allowed)
    assert why in refused.value.diagnostics()


def test_a_listed_loopback_forge_is_allowed() -> None:
    found = parse_forge(
        {"kind": "gitea", "token": "t", "api_url": "http://127.0.0.1:3000/api/v1/"},
        "git://127.0.0.1:9418/o/r.git", frozenset({"127.0.0.1:3000"}),
    )  # fmt: skip
    assert (found.api_url, found.repository) == ("http://127.0.0.1:3000/api/v1", "o/r")


def test_the_api_keeps_the_token_sealed_and_never_shows_it(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    fake = FakeForge("gitlab", TOKEN).start()
    try:
        settings = load_settings({
            "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url,
            "ACCEPTANCE_GIT_ALLOWED_HOSTS": f"{fake.host},gitlab.example.org",
        })  # fmt: skip
        upgrade(settings.database_url)
        db = Database(settings.database_url)
        celery = Recorder()
        app = create_app(settings, celery=celery)
        with db.session() as session:
            create_user(session, "owner@buyer.example", "owner", "a long password 1")
            create_user(session, "other@buyer.example", "owner", "a long password 1")
            token = create_token(session, "owner@buyer.example")
            other = create_token(session, "other@buyer.example")
        auth, client = {"Authorization": f"Bearer {token}"}, app.test_client()
        data = {"spec": (io.BytesIO(b"version: 1\ntitle: T\n"), "acceptance.yaml")}
        opportunity = client.post("/api/v1/opportunities", data=data, headers=auth).get_json()["id"]
        url = f"/api/v1/opportunities/{opportunity}/submissions"
        body = {"repo_url": "https://gitlab.example.org/group/project.git", "supplier": "S"}
        forge = {"kind": "gitlab", "token": TOKEN, "api_url": fake.api_url}
        refused = client.post(url, json={**body, "forge": {"kind": "gitlab"}}, headers=auth)
        assert refused.status_code == 422 and "forge.token" in refused.get_json()["detail"]
        made = client.post(url, json={**body, "forge": forge}, headers=auth)
        assert made.status_code == 201, made.get_json()
        shown = made.get_json()["forge"]
        assert shown == {
            "kind": "gitlab",
            "api_url": fake.api_url,
            "repository": "group/project",
            "token_set": True,
            "app_id": None,
            "installation_id": None,
        }
        assert TOKEN not in made.get_data(as_text=True)
        submission_id = made.get_json()["id"]
        with db.session() as session:
            row = session.get(Submission, submission_id)
            assert row is not None and row.forge_token_encrypted is not None
            assert TOKEN.encode() not in row.forge_token_encrypted
            assert SecretBox(settings.secrets_key).open(row.forge_token_encrypted) == TOKEN

        # A manual run: queued, so the forge task is handed the run for `pending`.
        run = client.post(
            f"/api/v1/submissions/{submission_id}/runs", json={"ref": COMMIT}, headers=auth
        )
        assert run.status_code == 201
        assert (FORGE_TASK, [run.get_json()["id"]]) in [
            (name, args) for name, args, _ in celery.sent
        ]
        assert [o["queue"] for name, _, o in celery.sent if name == FORGE_TASK] == [SERVICE_QUEUE]
        shown_run = client.get(f"/api/v1/runs/{run.get_json()['id']}", headers=auth).get_json()
        assert shown_run["forge_status"] is None  # nothing tried yet

        forge_url = f"/api/v1/submissions/{submission_id}/forge"
        changed = client.put(forge_url, json={"kind": "gitea", "token": "new", "api_url": fake.api_url[:-7] + "/api/v1",
                                              "repository": "o/r"}, headers=auth)  # fmt: skip
        assert changed.status_code == 200, changed.get_json()
        assert changed.get_json()["forge"]["kind"] == "gitea" and "new" not in changed.get_data(
            as_text=True
        )
        assert client.put(forge_url, json={"kind": "gitea"}, headers=auth).status_code == 422
        assert client.put(forge_url, data="nope", headers=auth).status_code == 400
        stranger = {"Authorization": f"Bearer {other}"}
        assert client.put(forge_url, json=forge, headers=stranger).status_code in (403, 404)
        internal = {**forge, "api_url": "https://10.1.2.3/api/v4"}
        assert client.put(forge_url, json=internal, headers=auth).status_code == 422
        removed = client.delete(forge_url, headers=auth)
        assert removed.status_code == 200 and removed.get_json()["forge"] is None
    finally:
        fake.stop()


def test_a_rejection_gives_its_first_reason_in_the_suppliers_language(
    tmp_path: Path, database_url: str
) -> None:
    fake = FakeForge("gitea", TOKEN).start()
    try:
        world = World(tmp_path, database_url, fake, language="fr")
        claim = world.executor.claim(world.run_id)
        assert isinstance(claim, Claim)
        shaped = statement("rejected")  # as the engine writes it: "<check id>: <summary>"
        shaped["predicate"]["reasons"] = [f"functional: 4 passed, 1 failed ({HIDDEN_ID})"]
        shaped["predicate"]["checks"][0]["reason_code"] = "TESTS_FAILED"
        assert world.executor._finish(claim, shaped, {}, {}) == "done"
        world.deliver()
    finally:
        fake.stop()
    description = fake.accepted()[-1].body["description"]
    # Said from the code in French; the engine's sentence (and the hidden test's name) is not.
    assert description.endswith("\u00a0: functional\u00a0: des tests ont échoué ou fini en erreur.")
    assert "test_owner_secret" not in description and "4 passed" not in description
