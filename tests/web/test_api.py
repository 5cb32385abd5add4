"""The API and webhook intake in-process: real SQLite database and migrations, real
Flask routing; the broker is replaced by a recorder of what would be enqueued
(tests/service/test_service_e2e.py runs the real Redis, Celery and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from acceptance.service.accounts import create_token, create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.models import Run, SpecVersion, Submission
from acceptance.service.runs import create_run
from acceptance.settings import load_settings
from tests.conftest import ROOT
from tests.support import Recorder, tar_gz
from web.app import create_app

GITHUB = ROOT.parent / "shared" / "webhooks" / "github"
SPEC = b"version: 1\ntitle: Contact form\nfunctional: {paths: [tests], hidden_tests: hidden}\n"
REPO = "https://github.com/Codertocat/Hello-World"


HIDDEN = tar_gz({"test_owner.py": "def test_owner():\n    assert True\n"})


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = load_settings({"ACCEPTANCE_DATA_DIR": str(tmp_path / "data")})
        upgrade(self.settings.database_url)
        self.db = Database(self.settings.database_url)
        self.celery = Recorder()
        self.app = create_app(self.settings, celery=self.celery)
        self.client: FlaskClient = self.app.test_client()
        self.tokens: dict[str, str] = {}
        for email, role in [("owner@example.org", "owner"), ("other@example.org", "owner"),
                            ("reviewer@example.org", "reviewer")]:  # fmt: skip
            with self.db.session() as session:
                create_user(session, email, role, "a long password 1")
                self.tokens[role if email.startswith(role) else "other"] = create_token(
                    session, email
                )

    def auth(self, who: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def publish(self, spec: bytes = SPEC, hidden: bytes | None = HIDDEN, who: str = "owner") -> Any:
        data: dict[str, Any] = {"spec": (io.BytesIO(spec), "acceptance.yaml")}
        if hidden is not None:
            data["hidden_tests"] = (io.BytesIO(hidden), "hidden.tar.gz")
        return self.client.post("/api/v1/opportunities", data=data, headers=self.auth(who))

    def submission(self, repo: str = REPO, branch: str | None = "main") -> dict[str, Any]:
        opportunity = self.publish().get_json()
        body: dict[str, Any] = {"repo_url": repo, "supplier": "Supplier Ltd"}
        if branch:
            body["branch"] = branch
        reply = self.client.post(
            f"/api/v1/opportunities/{opportunity['id']}/submissions", json=body, headers=self.auth()
        )
        assert reply.status_code == 201, reply.get_json()
        return dict(reply.get_json())

    def runs(self) -> list[Run]:
        with self.db.session() as session:
            return list(session.query(Run).all())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    # Submissions on github.com resolve over DNS; the policy is tested on its own.
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    yield Env(tmp_path)


def github_push(secret: str, *, branch: str = "main", after: str = "a" * 40, delivery: str = "d-1",
                repo: str = REPO) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    payload = json.loads((GITHUB / "push-payload.json").read_text())
    payload.update(ref=f"refs/heads/{branch}", after=after, deleted=False, created=False)
    payload["repository"].update(html_url=repo, clone_url=repo + ".git", url=repo)
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }


# ---------------------------------------------------------------- auth


def test_requests_without_a_valid_token_are_refused(env: Env) -> None:
    assert env.client.get("/api/v1/runs").status_code == 401
    reply = env.client.get("/api/v1/runs", headers={"Authorization": "Bearer nope"})
    assert reply.status_code == 401
    assert reply.get_json() == {"error": "unauthenticated", "detail": "the token is not valid"}
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_keys_and_openapi_need_no_token(env: Env) -> None:
    assert env.client.get("/api/v1/keys").status_code == 200
    document = env.client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/opportunities/{id}/submissions" in document["paths"]


# ---------------------------------------------------------------- opportunities


def test_publishing_an_opportunity_with_hidden_tests(env: Env) -> None:
    reply = env.publish()
    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    assert body["title"] == "Contact form" and body["spec_version"] == 1
    assert len(body["spec_sha256"]) == 64 and body["hidden_tests_files"] == 1
    folder = env.settings.specs_dir / body["specs"][0]["id"]
    assert (folder / "hidden" / "test_owner.py").is_file()


def test_a_bad_spec_is_422_listing_the_problems_and_nothing_is_kept(env: Env) -> None:
    reply = env.publish(
        spec=b"version: 1\ntitle: x\nlimits: {timeout: -5}\nsurprise: 1\n", hidden=None
    )
    assert reply.status_code == 422
    body = reply.get_json()
    assert body["error"] == "invalid_spec"
    assert any("limits.timeout" in p for p in body["detail"]) and any(
        "surprise" in p for p in body["detail"]
    )
    with env.db.session() as session:
        assert session.query(SpecVersion).count() == 0
    assert [p.name for p in env.settings.specs_dir.iterdir()] == []


def test_an_archive_of_the_hidden_folder_itself_is_unpacked_into_it(env: Env) -> None:
    reply = env.publish(hidden=tar_gz({"hidden/test_owner.py": "def test_owner():\n    assert True\n",
                                       "hidden/data/input.txt": "x"}))  # fmt: skip
    assert reply.status_code == 201, reply.get_json()
    folder = env.settings.specs_dir / reply.get_json()["specs"][0]["id"]
    assert (folder / "hidden" / "test_owner.py").is_file()
    assert (folder / "hidden" / "data" / "input.txt").is_file()
    assert not (folder / "hidden" / "hidden").exists() and not (folder / ".unpacked").exists()


def test_hidden_tests_the_spec_names_must_be_uploaded_and_the_reverse(env: Env) -> None:
    reply = env.publish(hidden=None)
    assert reply.status_code == 422 and "no hidden_tests archive" in reply.get_json()["detail"][0]
    reply = env.publish(spec=b"version: 1\ntitle: x\n")
    assert (
        reply.status_code == 422 and "does not name their folder" in reply.get_json()["detail"][0]
    )


def test_a_hostile_archive_is_refused_and_nothing_is_kept(env: Env) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../escape.py")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    reply = env.publish(hidden=buffer.getvalue())
    assert reply.status_code == 422
    assert "escape.py" in json.dumps(reply.get_json())
    assert [p.name for p in env.settings.specs_dir.iterdir()] == []


@pytest.mark.parametrize(
    ("hidden_tests", "says"),
    [
        ("acceptance.yaml", "'acceptance.yaml' is the spec file itself, not a folder"),
        ("acceptance.yaml/tests", "'acceptance.yaml/tests' is the spec file itself"),
        ('"hid\\0den"', "must not contain NUL characters"),
        ("h" * 300, "at most 255 bytes"),
        ("h" * 5000, "at most 4096 characters"),
    ],
)
@pytest.mark.parametrize("with_archive", [True, False], ids=["archive", "no-archive"])
def test_a_hidden_tests_value_that_is_no_folder_name_is_422_never_500(
    env: Env, hidden_tests: str, says: str, with_archive: bool
) -> None:
    spec = f"version: 1\ntitle: x\nfunctional: {{hidden_tests: {hidden_tests}}}\n".encode()
    reply = env.publish(spec=spec, hidden=HIDDEN if with_archive else None)
    assert reply.status_code == 422, reply.get_data(as_text=True)[:300]
    body = reply.get_json()
    assert body["error"] == "invalid_spec"
    assert [p for p in body["detail"] if p.startswith("functional.hidden_tests:") and says in p]
    assert len(json.dumps(body)) < 1000  # an over-long value is quoted shortened
    assert [p.name for p in env.settings.specs_dir.iterdir()] == []


@pytest.mark.parametrize(
    ("field", "spec", "says"),
    [
        ("title", b'version: 1\ntitle: "Contact\\0form"\n', "control characters"),
        (
            "install.requirements[0]",
            b'version: 1\ntitle: x\ninstall: {requirements: ["fl\\0ask"]}\n',
            "NUL",
        ),
        (
            "install.requirements[0]",
            b"version: 1\ntitle: x\ninstall: {requirements: [" + b"a" * 100_000 + b"]}\n",
            "at most 4096",
        ),
        (
            "functional.paths[0]",
            b'version: 1\ntitle: x\nfunctional: {paths: ["tests\\0"]}\n',
            "NUL",
        ),
        (
            "licence.allowed[0]",
            b"version: 1\ntitle: x\nlicence: {allowed: [" + b"M" * 100_000 + b"]}\n",
            "at most 100",
        ),
    ],
)
def test_nul_bytes_and_oversized_spec_values_are_422(
    env: Env, field: str, spec: bytes, says: str
) -> None:
    reply = env.publish(spec=spec, hidden=None)
    assert reply.status_code == 422, reply.get_data(as_text=True)[:300]
    assert [p for p in reply.get_json()["detail"] if p.startswith(f"{field}:") and says in p]
    assert len(reply.get_data()) < 2000


def test_a_test_command_without_a_safe_results_path_is_422_naming_the_key(env: Env) -> None:
    spec = (
        b"version: 1\ntitle: x\nfunctional:\n  command: make test\n"
        b"  results: {format: xml, path: ../junit.xml}\n"
    )
    reply = env.publish(spec=spec, hidden=None)
    assert reply.status_code == 422, reply.get_data(as_text=True)[:300]
    detail = reply.get_json()["detail"]
    assert any(p.startswith("functional.results.format: must be one of junit, tap") for p in detail)
    assert any(p.startswith("functional.results.path: must not contain '..'") for p in detail)


def test_a_licence_id_not_on_the_spdx_list_is_422_with_a_suggestion(env: Env) -> None:
    spec = b"version: 1\ntitle: x\nlicence: {allowed: [MIT, Apache2, GPLv3]}\n"
    reply = env.publish(spec=spec, hidden=None)
    assert reply.status_code == 422
    detail = reply.get_json()["detail"]
    assert any(p.startswith("licence.allowed[1]: did you mean Apache-2.0?") for p in detail), detail
    assert any(
        p.startswith("licence.allowed[2]: did you mean GPL-3.0-only or GPL-3.0-or-later?")
        for p in detail
    )
    # a new version of an existing opportunity goes through the same check
    opportunity = env.publish().get_json()
    data = {"spec": (io.BytesIO(spec), "acceptance.yaml")}
    reply = env.client.post(
        f"/api/v1/opportunities/{opportunity['id']}/specs", data=data, headers=env.auth()
    )
    assert reply.status_code == 422 and "did you mean Apache-2.0?" in json.dumps(reply.get_json())


def test_a_new_spec_version_keeps_old_runs_on_theirs(env: Env) -> None:
    submission = env.submission()
    first = env.client.post(
        f"/api/v1/submissions/{submission['id']}/runs", json={}, headers=env.auth()
    )
    assert first.status_code == 201 and first.get_json()["spec_version"] == 1
    reply = env.client.post(
        f"/api/v1/opportunities/{submission['opportunity']}/specs",
        data={
            "spec": (io.BytesIO(SPEC.replace(b"Contact form", b"Contact form v2")), "a.yaml"),
            "hidden_tests": (io.BytesIO(HIDDEN), "h.tgz"),
        },  # fmt: skip
        headers=env.auth(),
    )
    assert reply.status_code == 201, reply.get_json()
    assert reply.get_json()["spec_version"] == 2
    second = env.client.post(
        f"/api/v1/submissions/{submission['id']}/runs", json={}, headers=env.auth()
    )
    assert second.get_json()["spec_version"] == 2
    again = env.client.get(f"/api/v1/runs/{first.get_json()['id']}", headers=env.auth()).get_json()
    assert again["spec_version"] == 1


COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


def _ended_run(env: Env, submission_id: str, commit: str, status: str = "finished") -> str:
    """A run of `commit` that ended, as a worker leaves it."""
    with env.db.session() as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        run, _ = create_run(session, submission, trigger="webhook", ref="main", commit=commit)
        run.status = status
        run.verdict = "rejected" if status == "finished" else "error"
        session.flush()
        return run.id


def _manual_run(env: Env, submission_id: str, ref: str | None) -> dict[str, Any]:
    body = {"ref": ref} if ref else {}
    reply = env.client.post(
        f"/api/v1/submissions/{submission_id}/runs", json=body, headers=env.auth()
    )
    assert reply.status_code == 201, reply.get_json()
    return dict(reply.get_json())


def test_a_manual_run_supersedes_only_a_run_of_the_same_commit(env: Env) -> None:
    submission = env.submission()["id"]
    of_a = _ended_run(env, submission, COMMIT_A)
    _ended_run(env, submission, COMMIT_B)  # the submission's latest run, of another commit

    assert _manual_run(env, submission, COMMIT_A)["supersedes"] == of_a
    assert _manual_run(env, submission, COMMIT_A.upper())["supersedes"] == of_a
    # a commit never judged, a branch or the default branch: nothing is re-done
    assert _manual_run(env, submission, "c" * 40)["supersedes"] is None
    assert _manual_run(env, submission, "main")["supersedes"] is None
    assert _manual_run(env, submission, None)["supersedes"] is None


def test_a_rerun_supersedes_the_latest_ended_run_of_its_commit_and_spec_version(env: Env) -> None:
    submission_id = env.submission()["id"]
    first = _ended_run(env, submission_id, COMMIT_A)
    errored = _ended_run(env, submission_id, COMMIT_A, status="error")
    with env.db.session() as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        # what the dashboard's "Run again" does: the same commit, named
        rerun, _ = create_run(session, submission, trigger="manual", ref="main", commit=COMMIT_A)
        assert rerun.supersedes_id == errored != first
        # a run still queued has not ended: it is not what a re-run replaces
        again, _ = create_run(session, submission, trigger="manual", ref="main", commit=COMMIT_A)
        assert again.supersedes_id == errored
        # "Run again" on the older run re-does that one
        chosen, _ = create_run(session, submission, trigger="manual", ref="main", commit=COMMIT_A,
                               rerun_of=session.get(Run, first))  # fmt: skip
        assert chosen.supersedes_id == first
        # ... but never a run the new one does not repeat (still queued: it has not ended)
        not_ended, _ = create_run(session, submission, trigger="manual", ref="main", commit=COMMIT_A,
                                  rerun_of=again)  # fmt: skip
        assert not_ended.supersedes_id == errored
        # a push of a commit judged before is new work, never a re-run
        pushed, _ = create_run(session, submission, trigger="webhook", ref="main", commit=COMMIT_A,
                               delivery_id="d-again")  # fmt: skip
        assert pushed.supersedes_id is None

    opportunity = env.client.get(
        f"/api/v1/submissions/{submission_id}", headers=env.auth()
    ).get_json()["opportunity"]
    reply = env.client.post(
        f"/api/v1/opportunities/{opportunity}/specs",
        data={
            "spec": (io.BytesIO(SPEC.replace(b"Contact form", b"Contact form v2")), "a.yaml"),
            "hidden_tests": (io.BytesIO(HIDDEN), "h.tgz"),
        },  # fmt: skip
        headers=env.auth(),
    )
    assert reply.status_code == 201, reply.get_json()
    # judged against spec version 1; this run is against version 2: not a re-run of it
    assert _manual_run(env, submission_id, COMMIT_A)["supersedes"] is None


def test_owners_see_only_their_own_and_reviewers_see_all(env: Env) -> None:
    mine = env.publish().get_json()["id"]
    theirs = env.publish(who="other").get_json()["id"]
    listed = {
        o["id"]
        for o in env.client.get("/api/v1/opportunities", headers=env.auth()).get_json()["items"]
    }
    assert listed == {mine}
    assert env.client.get(f"/api/v1/opportunities/{theirs}", headers=env.auth()).status_code == 404
    reviewer = env.client.get("/api/v1/opportunities", headers=env.auth("reviewer")).get_json()
    assert {o["id"] for o in reviewer["items"]} == {mine, theirs}
    assert env.publish(who="reviewer").status_code == 403


# ---------------------------------------------------------------- submissions and runs


def test_registering_a_submission_shows_the_secret_once(env: Env) -> None:
    submission = env.submission()
    assert submission["webhook_url"].endswith(f"/hooks/{submission['id']}")
    assert len(submission["webhook_secret"]) >= 32
    assert "/status/" in submission["status_url"]
    again = env.client.get(f"/api/v1/submissions/{submission['id']}", headers=env.auth()).get_json()
    assert "webhook_secret" not in again


@pytest.mark.parametrize(
    "repo",
    [
        "ext::sh -c touch% /tmp/pwned",
        "file:///etc",
        "/srv/git/repo",
        "https://user:pw@example.org/r",
    ],
)
def test_dangerous_repository_urls_are_refused(env: Env, repo: str) -> None:
    opportunity = env.publish().get_json()["id"]
    reply = env.client.post(
        f"/api/v1/opportunities/{opportunity}/submissions",
        json={"repo_url": repo, "supplier": "S"},
        headers=env.auth(),
    )
    assert reply.status_code == 422, reply.get_json()


def test_manual_run_is_recorded_then_enqueued_and_listed(env: Env) -> None:
    submission = env.submission()
    reply = env.client.post(
        f"/api/v1/submissions/{submission['id']}/runs", json={"ref": "v1.0"}, headers=env.auth()
    )
    assert reply.status_code == 201
    run = reply.get_json()
    assert run["status"] == "queued" and run["ref"] == "v1.0" and run["report_url"] is None
    assert env.celery.sent == [
        (
            "acceptance.run",
            [run["id"]],
            {"queue": "runs", "soft_time_limit": 1020, "time_limit": 1080, "ignore_result": True},
        )
    ]
    listed = env.client.get(
        f"/api/v1/runs?submission={submission['id']}", headers=env.auth()
    ).get_json()
    assert [r["id"] for r in listed["items"]] == [run["id"]] and listed["next"] is None
    assert env.client.get("/api/v1/runs?colour=red", headers=env.auth()).status_code == 422
    assert env.client.get(f"/api/v1/runs/{run['id']}/report", headers=env.auth()).status_code == 404


def test_run_listing_pages_with_a_cursor(env: Env) -> None:
    submission = env.submission()
    ids = [
        env.client.post(
            f"/api/v1/submissions/{submission['id']}/runs", json={}, headers=env.auth()
        ).get_json()["id"]
        for _ in range(5)
    ]
    seen: list[str] = []
    url = "/api/v1/runs?limit=2"
    while url:
        page = env.client.get(url, headers=env.auth("reviewer")).get_json()
        seen.extend(r["id"] for r in page["items"])
        url = f"/api/v1/runs?limit=2&cursor={page['next']}" if page["next"] else ""
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert env.client.get("/api/v1/runs?cursor=garbage", headers=env.auth()).status_code == 422


# ---------------------------------------------------------------- webhooks


def test_signed_push_records_one_run_and_enqueues_it(env: Env) -> None:
    submission = env.submission()
    body, headers = github_push(submission["webhook_secret"])
    reply = env.client.post(f"/hooks/{submission['id']}", data=body, headers=headers)
    assert reply.status_code == 202, reply.get_json()
    run_id = reply.get_json()["run_id"]
    [run] = env.runs()
    assert (run.id, run.commit, run.trigger, run.delivery_id) == (
        run_id,
        "a" * 40,
        "webhook",
        "d-1",
    )
    assert [sent[1] for sent in env.celery.sent] == [[run_id]]

    again = env.client.post(f"/hooks/{submission['id']}", data=body, headers=headers)
    assert again.status_code == 202 and again.get_json()["run_id"] == run_id
    assert len(env.runs()) == 1 and len(env.celery.sent) == 1


@pytest.mark.parametrize("tamper", ["body", "secret", "missing"])
def test_bad_signature_is_401_and_records_nothing(env: Env, tamper: str) -> None:
    submission = env.submission()
    body, headers = github_push(submission["webhook_secret"] if tamper != "secret" else "wrong")
    if tamper == "body":
        body = body.replace(b"a" * 40, b"b" * 40)
    if tamper == "missing":
        del headers["X-Hub-Signature-256"]
    reply = env.client.post(f"/hooks/{submission['id']}", data=body, headers=headers)
    assert reply.status_code == 401
    assert env.runs() == [] and env.celery.sent == []


def test_unknown_submission_looks_like_a_bad_signature(env: Env) -> None:
    body, headers = github_push("whatever")
    assert env.client.post("/hooks/" + "0" * 32, data=body, headers=headers).status_code == 401


def test_ping_other_branch_and_other_repository(env: Env) -> None:
    submission = env.submission()
    secret = submission["webhook_secret"]
    ping = (GITHUB / "ping-payload.json").read_bytes()
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "p-1", "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), ping, hashlib.sha256).hexdigest()}  # fmt: skip
    assert (
        env.client.post(f"/hooks/{submission['id']}", data=ping, headers=headers).status_code == 200
    )

    body, headers = github_push(secret, branch="feature", delivery="d-2")
    reply = env.client.post(f"/hooks/{submission['id']}", data=body, headers=headers)
    assert reply.status_code == 202 and reply.get_json()["run_id"] is None
    assert "feature" in reply.get_json()["reason"]

    body, headers = github_push(secret, repo="https://github.com/someone/else", delivery="d-3")
    assert (
        env.client.post(f"/hooks/{submission['id']}", data=body, headers=headers).status_code == 422
    )
    assert env.runs() == []


def test_malformed_and_oversized_payloads(env: Env) -> None:
    submission = env.submission()
    secret = submission["webhook_secret"].encode()
    body = b"{not json"
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "m-1",
               "X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}  # fmt: skip
    reply = env.client.post(f"/hooks/{submission['id']}", data=body, headers=headers)
    assert 400 <= reply.status_code < 500 and reply.get_json()["error"] == "invalid_payload"
    big = b"x" * (5 * 1024**2)
    assert (
        env.client.post(f"/hooks/{submission['id']}", data=big, headers=headers).status_code == 413
    )
    assert env.runs() == []
