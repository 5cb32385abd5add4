"""The web app under hostile input, on the real PostgreSQL: no 500 for NUL bytes or oversized
values, no second run for a re-sent push, a per-submission run limit, /metrics behind a
token, links only for known hosts, and an OpenAPI document that lists every API route."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from acceptance.errors import UserInputError
from acceptance.service.accounts import create_token, create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.models import Run, RunStatus, Submission
from acceptance.settings import LOOPBACK_HOSTS, load_settings
from tests.support import Recorder
from tests.web.test_api import HIDDEN, REPO, SPEC, github_push
from web.app import create_app
from web.links import host_allowed

COMMIT = "c" * 40


def commit_id(number: int) -> str:
    """A distinct commit id (never the all-zero id of a deleted branch)."""
    return f"{number + 1:040x}"


class Env:
    """The app on a fresh PostgreSQL database; the broker replaced by a recorder."""

    def __init__(self, tmp_path: Path, database_url: str, **env: str) -> None:
        self.settings = load_settings(
            {
                "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
                "ACCEPTANCE_DATABASE_URL": database_url,
                **env,
            }
        )
        upgrade(database_url)
        self.db = Database(database_url)
        self.celery = Recorder()
        self.app = create_app(self.settings, celery=self.celery)
        self.client: FlaskClient = self.app.test_client()
        self.tokens: dict[str, str] = {}
        for email, role in [("owner@example.org", "owner"), ("admin@example.org", "admin")]:
            with self.db.session() as session:
                create_user(session, email, role, "a long password 1")
                self.tokens[role] = create_token(session, email)

    def auth(self, who: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def opportunity(self, spec: bytes = SPEC) -> dict[str, Any]:
        data = {"spec": (io.BytesIO(spec), "acceptance.yaml"),
                "hidden_tests": (io.BytesIO(HIDDEN), "hidden.tar.gz")}  # fmt: skip
        reply = self.client.post("/api/v1/opportunities", data=data, headers=self.auth())
        assert reply.status_code == 201, reply.get_json()
        return dict(reply.get_json())

    def submission(self) -> dict[str, Any]:
        opportunity = self.opportunity()
        reply = self.client.post(
            f"/api/v1/opportunities/{opportunity['id']}/submissions",
            json={"repo_url": REPO, "supplier": "Supplier Ltd", "branch": "main"},
            headers=self.auth(),
        )
        assert reply.status_code == 201, reply.get_json()
        return dict(reply.get_json())

    def push(self, submission: dict[str, Any], delivery: str, commit: str = COMMIT) -> Any:
        body, headers = github_push(submission["webhook_secret"], after=commit, delivery=delivery)
        return self.client.post(f"/hooks/{submission['id']}", data=body, headers=headers)

    def runs(self) -> list[Run]:
        with self.db.session() as session:
            return list(session.scalars(select(Run).order_by(Run.queued_at)))

    def set_status(self, run_id: str, status: RunStatus) -> None:
        with self.db.session() as session:
            session.execute(update(Run).where(Run.id == run_id).values(status=status.value))


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    # Submissions on github.com resolve over DNS; the policy is tested on its own.
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    yield Env(tmp_path, database_url)


def assert_json_error(reply: Any, *statuses: int) -> dict[str, Any]:
    assert reply.status_code in statuses, (reply.status_code, reply.get_data(as_text=True)[:300])
    body = reply.get_json()
    assert set(body) == {"error", "detail"} and body["error"] and body["detail"], body
    return dict(body)


# ---------------------------------------------------------------- no 500 on bad input

TEN_KB = "a" * 10_240

BAD_ADDRESSES = [
    ("GET", "/status/%00", 400),
    ("GET", "/status/x%00y/live?id=1", 400),
    ("GET", "/status/" + TEN_KB, 414),
    ("POST", "/hooks/%00", 400),
    ("POST", "/hooks/" + TEN_KB, 414),
    ("GET", "/api/v1/runs/%00", 400),
    ("GET", "/api/v1/runs/%01/report", 400),
    ("GET", "/api/v1/runs/" + TEN_KB, 414),
    ("GET", "/api/v1/runs?verdict=%00", 400),
    ("GET", "/api/v1/runs?status=accepted%0d%0a", 400),
    ("GET", "/api/v1/runs?%00=1", 400),
    ("GET", "/api/v1/runs?supplier=" + TEN_KB, 414),
    ("GET", "/api/v1/runs?" + "&".join(f"p{i}=1" for i in range(1001)), 400),
    ("GET", "/api/v1/opportunities/%00", 400),
    ("GET", "/api/v1/opportunities/x%00/specs/1", 400),
    ("GET", "/api/v1/submissions/%00", 400),
    ("POST", "/api/v1/submissions/%00/runs", 400),
    ("GET", "/runs/%00", 400),
]


@pytest.mark.parametrize(("method", "path", "status"), BAD_ADDRESSES, ids=lambda v: str(v)[:40])
def test_nul_and_oversized_values_in_the_address_are_4xx_json(
    env: Env, method: str, path: str, status: int
) -> None:
    reply = env.client.open(path, method=method, headers=env.auth())
    body = assert_json_error(reply, status)
    assert body["error"] == ("bad_request" if status == 400 else "uri_too_long")


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    "path", ["/status/%00", "/status/" + TEN_KB, "/runs/%00?page=1", "/runs?q=%00"]
)
def test_browsers_get_the_error_page_in_their_language(env: Env, path: str, language: str) -> None:
    reply = env.client.get(path, headers={"Accept": "text/html", "Accept-Language": language})
    assert reply.status_code in (400, 414)
    page = reply.get_data(as_text=True)
    assert reply.mimetype == "text/html"
    title = {"en": "This address is not valid", "fr": "Cette adresse n’est pas valable"}[language]
    assert title in page


def test_a_nul_in_a_json_field_is_400_and_nothing_is_stored(env: Env) -> None:
    opportunity = env.opportunity()
    url = f"/api/v1/opportunities/{opportunity['id']}/submissions"
    for supplier in ["Supplier\u0000 Ltd", "Supplier \ud800 Ltd"]:
        reply = env.client.post(
            url, data=json.dumps({"repo_url": REPO, "supplier": supplier}),
            content_type="application/json", headers=env.auth(),
        )  # fmt: skip
        assert "$.supplier" in assert_json_error(reply, 400)["detail"]
    deep = "[" * 5000 + "]" * 5000
    reply = env.client.post(url, data=deep, content_type="application/json", headers=env.auth())
    assert "nest" in assert_json_error(reply, 400)["detail"]
    with env.db.session() as session:
        assert session.scalars(select(Submission)).all() == []


@pytest.mark.parametrize(
    ("ref", "status"),
    [
        ("main\u0000", 400),
        ("ma\u0001in", 422),
        ("-main", 422),
        ("a" * 300, 422),
        ("a" * 10_000, 422),
    ],
    ids=["nul", "control", "option", "300 chars", "10 KB"],
)
def test_a_bad_ref_for_a_manual_run_is_4xx_and_queues_nothing(
    env: Env, ref: str, status: int
) -> None:
    submission = env.submission()
    reply = env.client.post(
        f"/api/v1/submissions/{submission['id']}/runs", json={"ref": ref}, headers=env.auth()
    )
    assert_json_error(reply, status)
    assert env.runs() == [] and env.celery.sent == []


def csrf_token(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert found is not None
    return found[1]


def test_a_nul_in_a_sign_in_form_is_400_not_500(env: Env) -> None:
    form = {
        "email": "owner@example.org\u0000",
        "password": "x",
        "csrf_token": csrf_token(env.client, "/sign-in"),
    }
    reply = env.client.post("/sign-in", data=form, headers={"Accept": "text/html"})
    assert reply.status_code == 400 and reply.mimetype == "text/html"
    assert "The form could not be read" in reply.get_data(as_text=True)


def test_webhook_bodies_with_nul_are_refused_or_cleaned(env: Env) -> None:
    submission = env.submission()
    secret = submission["webhook_secret"]
    body, headers = github_push(secret, branch="ma\u0000in", delivery="n-1")
    reply = env.client.post(f"/hooks/{submission['id']}", data=body, headers=headers)
    assert assert_json_error(reply, 422)["error"] == "invalid_payload"

    payload = json.loads(github_push(secret, delivery="n-2")[0])
    payload["head_commit"] = {"id": COMMIT, "message": "fix\u0000 the form"}
    payload["after"] = COMMIT
    body = json.dumps(payload).encode()
    headers["X-Hub-Signature-256"] = (
        "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    )
    headers["X-GitHub-Delivery"] = "n-2"
    reply = env.client.post(f"/hooks/{submission['id']}", data=body, headers=headers)
    assert reply.status_code == 202, reply.get_json()
    [run] = env.runs()
    assert run.commit_message == "fix the form"


# ---------------------------------------------------------------- webhook abuse


def test_the_same_push_under_a_new_delivery_id_gets_the_existing_run(env: Env) -> None:
    submission = env.submission()
    first = env.push(submission, "d-1")
    assert first.status_code == 202 and first.get_json()["duplicate"] is False
    run_id = first.get_json()["run_id"]
    for status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FINISHED):
        env.set_status(run_id, status)
        again = env.push(submission, f"d-{status.value}")
        assert again.status_code == 202
        body = again.get_json()
        assert (body["run_id"], body["duplicate"]) == (run_id, True)
        assert COMMIT in body["reason"] and status.value in body["reason"]
    assert [r.id for r in env.runs()] == [run_id]
    assert [sent[1] for sent in env.celery.sent] == [[run_id]]


def test_a_push_runs_again_after_a_platform_error_or_a_new_spec_version(env: Env) -> None:
    submission = env.submission()
    first = env.push(submission, "d-1").get_json()["run_id"]
    env.set_status(first, RunStatus.ERROR)
    second = env.push(submission, "d-2").get_json()
    assert second["duplicate"] is False and second["run_id"] != first

    env.set_status(second["run_id"], RunStatus.FINISHED)
    data = {"spec": (io.BytesIO(SPEC.replace(b"Contact form", b"Contact form v2")), "acceptance.yaml"),
            "hidden_tests": (io.BytesIO(HIDDEN), "hidden.tar.gz")}  # fmt: skip
    reply = env.client.post(
        f"/api/v1/opportunities/{submission['opportunity']}/specs", data=data, headers=env.auth()
    )
    assert reply.status_code == 201, reply.get_json()
    third = env.push(submission, "d-3").get_json()
    assert third["duplicate"] is False and third["run_id"] not in (first, second["run_id"])
    assert len(env.runs()) == 3 and len(env.celery.sent) == 3


def test_concurrent_deliveries_of_one_commit_queue_one_run(env: Env) -> None:
    submission = env.submission()
    answers = deliver_at_once(env, submission, [(f"race-{i}", COMMIT) for i in range(8)])
    assert {a[0] for a in answers} == {202}
    assert len({a[1]["run_id"] for a in answers}) == 1
    assert len(env.runs()) == 1 and len(env.celery.sent) == 1


def deliver_at_once(
    env: Env, submission: dict[str, Any], pushes: list[tuple[str, str]]
) -> list[tuple[int, Any]]:
    """Every push sent from its own thread, released together."""
    start = threading.Barrier(len(pushes))
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def send(delivery: str, commit: str) -> None:
        body, headers = github_push(submission["webhook_secret"], after=commit, delivery=delivery)
        client = env.app.test_client()
        start.wait()
        reply = client.post(f"/hooks/{submission['id']}", data=body, headers=headers)
        with lock:
            answers.append((reply.status_code, reply.get_json()))

    threads = [threading.Thread(target=send, args=push) for push in pushes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == len(pushes)
    return answers


@pytest.fixture
def limited(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    return Env(tmp_path, database_url, ACCEPTANCE_RUNS_PER_HOUR="3")


def test_pushes_beyond_the_hourly_limit_are_429_with_retry_after(limited: Env) -> None:
    env = limited
    submission = env.submission()
    accepted = [env.push(submission, f"d-{i}", commit=commit_id(i)) for i in range(3)]
    assert [r.status_code for r in accepted] == [202] * 3
    over = env.push(submission, "d-over", commit="f" * 40)
    assert assert_json_error(over, 429)["error"] == "rate_limited"
    assert 3500 <= int(over.headers["Retry-After"]) <= 3600
    assert len(env.runs()) == 3

    # A delivery seen before is answered, limit or not; so is a commit already run.
    assert env.push(submission, "d-0", commit=commit_id(0)).status_code == 202
    assert env.push(submission, "d-again", commit=commit_id(1)).get_json()["duplicate"] is True

    # A person's run through the API is not a webhook delivery: neither limited nor counted.
    manual = env.client.post(
        f"/api/v1/submissions/{submission['id']}/runs", json={}, headers=env.auth()
    )
    assert manual.status_code == 201, manual.get_json()

    # A run that ended in `error` (the platform failed) gives its place back...
    env.set_status(accepted[0].get_json()["run_id"], RunStatus.ERROR)
    assert env.push(submission, "d-after-error", commit="f" * 40).status_code == 202
    # ...and runs older than an hour leave the window, the oldest first.
    with env.db.session() as session:
        oldest = session.scalars(
            select(Run)
            .where(Run.trigger == "webhook", Run.status != "error")
            .order_by(Run.queued_at)
        ).first()
        assert oldest is not None
        oldest.queued_at = oldest.queued_at - dt.timedelta(minutes=59, seconds=30)
    retry = env.push(submission, "d-soon", commit="e" * 40)
    assert retry.status_code == 429 and 1 <= int(retry.headers["Retry-After"]) <= 31
    with env.db.session() as session:
        session.execute(
            update(Run)
            .where(Run.id == oldest.id)
            .values(queued_at=oldest.queued_at - dt.timedelta(minutes=1))
        )
    assert env.push(submission, "d-later", commit="e" * 40).status_code == 202


def test_concurrent_pushes_cannot_exceed_the_limit(limited: Env) -> None:
    submission = limited.submission()
    answers = deliver_at_once(limited, submission, [(f"burst-{i}", commit_id(i)) for i in range(8)])
    assert sorted(a[0] for a in answers) == [202] * 3 + [429] * 5
    assert len(limited.runs()) == 3


def test_the_limit_setting(tmp_path: Path) -> None:
    base = {"ACCEPTANCE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).runs_per_hour == 30
    assert load_settings({**base, "ACCEPTANCE_RUNS_PER_HOUR": "0"}).runs_per_hour == 0
    with pytest.raises(UserInputError, match="ACCEPTANCE_RUNS_PER_HOUR"):
        load_settings({**base, "ACCEPTANCE_RUNS_PER_HOUR": "-1"})


# ---------------------------------------------------------------- operations: /metrics


def test_metrics_need_the_metrics_token_or_an_admins_api_token(
    tmp_path: Path, database_url: str
) -> None:
    env = Env(tmp_path, database_url, ACCEPTANCE_METRICS_TOKEN="scrape-token-1")
    assert env.client.get("/metrics").status_code == 401
    assert env.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert env.client.get("/metrics", headers=env.auth("owner")).status_code == 403
    for headers in ({"Authorization": "Bearer scrape-token-1"}, env.auth("admin")):
        reply = env.client.get("/metrics", headers=headers)
        assert reply.status_code == 200 and b"acceptance_database_up 1.0" in reply.data


def test_metrics_are_closed_by_default_and_open_only_when_said(
    tmp_path: Path, database_url: str
) -> None:
    closed = Env(tmp_path / "closed", database_url)
    reply = closed.client.get("/metrics")
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert closed.client.get("/metrics", headers=closed.auth("admin")).status_code == 200
    settings = load_settings({"ACCEPTANCE_DATA_DIR": str(tmp_path / "open"), "ACCEPTANCE_DATABASE_URL": database_url,
                              "ACCEPTANCE_METRICS_PUBLIC": "1"})  # fmt: skip
    assert create_app(settings, celery=Recorder()).test_client().get("/metrics").status_code == 200
    with pytest.raises(UserInputError, match="ACCEPTANCE_METRICS_PUBLIC"):
        load_settings({"ACCEPTANCE_METRICS_PUBLIC": "maybe"})


# ---------------------------------------------------------------- operations: links and Host


def test_a_forged_host_gets_no_link(env: Env) -> None:
    submission = env.submission()
    assert submission["webhook_url"] == f"http://localhost/hooks/{submission['id']}"
    forged = {**env.auth(), "Host": "attacker.example"}
    reply = env.client.get(f"/api/v1/submissions/{submission['id']}", headers=forged)
    body = assert_json_error(reply, 400)
    assert body["error"] == "unknown_host" and "ACCEPTANCE_ALLOWED_HOSTS" in body["detail"]
    # Nothing is registered when its links cannot be given.
    reply = env.client.post(
        f"/api/v1/opportunities/{submission['opportunity']}/submissions",
        json={"repo_url": REPO, "supplier": "Other Ltd"}, headers=forged,
    )  # fmt: skip
    assert_json_error(reply, 400)
    with env.db.session() as session:
        assert len(session.scalars(select(Submission)).all()) == 1
    # Requests that build no link are served whatever the Host.
    assert env.client.get("/api/v1/keys", headers=forged).status_code == 200
    document = env.client.get("/api/v1/openapi.json", headers=forged).get_json()
    assert document["servers"] == [{"url": "/"}]
    assert env.client.get("/healthz", headers=forged).status_code == 200


def test_links_follow_the_allowed_hosts_and_the_public_url(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    env = Env(
        tmp_path, database_url, ACCEPTANCE_ALLOWED_HOSTS="acceptance.example.org,10.0.0.5:8000"
    )
    created = env.client.post(
        f"/api/v1/opportunities/{env.opportunity()['id']}/submissions",
        json={"repo_url": REPO, "supplier": "S"}, headers={**env.auth(), "Host": "acceptance.example.org:8443"},
    )  # fmt: skip
    assert created.status_code == 201
    assert created.get_json()["status_url"].startswith("http://acceptance.example.org:8443/status/")
    path = f"/api/v1/submissions/{created.get_json()['id']}"
    assert env.client.get(path, headers={**env.auth(), "Host": "10.0.0.5:8000"}).status_code == 200
    for host in ("10.0.0.5:9000", "localhost", "evil.example"):
        assert env.client.get(path, headers={**env.auth(), "Host": host}).status_code == 400

    public = load_settings({"ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url,
                            "ACCEPTANCE_PUBLIC_URL": "https://acceptance.example.org/"})  # fmt: skip
    client = create_app(public, celery=Recorder()).test_client()
    reply = client.get(path, headers={**env.auth(), "Host": "evil.example"})
    assert reply.status_code == 200
    assert reply.get_json()["webhook_url"].startswith("https://acceptance.example.org/hooks/")
    document = client.get("/api/v1/openapi.json", headers={"Host": "evil.example"}).get_json()
    assert document["servers"] == [{"url": "https://acceptance.example.org"}]


def test_a_dashboard_page_with_links_under_a_forged_host_is_an_error_page(env: Env) -> None:
    submission = env.submission()
    token = csrf_token(env.client, "/sign-in")
    form = {"email": "owner@example.org", "password": "a long password 1", "csrf_token": token}
    assert env.client.post("/sign-in", data=form).status_code == 303
    path = f"/opportunities/{submission['opportunity']}"
    assert submission["status_url"].startswith("http://localhost/status/")
    assert submission["status_url"] in env.client.get(path).get_data(as_text=True)
    # The browser of someone who reached the service under another name (the cookie follows).
    session = env.client.get_cookie("acceptance_session")
    assert session is not None
    env.client.set_cookie("acceptance_session", session.value, domain="attacker.example")
    browser = {"Host": "attacker.example", "Accept": "text/html", "Accept-Language": "fr"}
    reply = env.client.get(path, headers=browser)
    assert reply.status_code == 400 and reply.mimetype == "text/html"
    text = reply.get_data(as_text=True)
    assert "Adresse inconnue" in text and "attacker.example" not in text


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("localhost", True), ("localhost:8000", True), ("LOCALHOST.", True), ("127.0.0.1:1", True),
     ("[::1]:8000", True), ("[::1]", True), ("localhost.evil.example", False), ("evil.example", False),
     ("127.0.0.2", False), ("[::2]:80", False), ("", False)],
)  # fmt: skip
def test_loopback_is_the_default_allowed_host(host: str, allowed: bool) -> None:
    assert host_allowed(host, LOOPBACK_HOSTS) is allowed


def test_an_allowed_host_with_a_port_allows_that_port_only() -> None:
    hosts = load_settings({"ACCEPTANCE_ALLOWED_HOSTS": "A.example, b.example:8000"}).allowed_hosts
    assert host_allowed("a.example:1234", hosts) and host_allowed("b.example:8000", hosts)
    assert not host_allowed("b.example", hosts) and not host_allowed("b.example:8001", hosts)
    with pytest.raises(UserInputError, match="ACCEPTANCE_ALLOWED_HOSTS"):
        load_settings({"ACCEPTANCE_ALLOWED_HOSTS": "https://a.example"})


# ---------------------------------------------------------------- the OpenAPI document


def test_the_openapi_document_lists_every_api_route(env: Env) -> None:
    document = env.client.get("/api/v1/openapi.json").get_json()
    described = {
        (re.sub(r"\{[^}]+\}", "{}", path), method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    missing = sorted(
        (rule.rule, method)
        for rule in env.app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
        if (re.sub(r"<[^>]+>", "{}", rule.rule), method) not in described
    )
    assert missing == [], f"routes missing from web/openapi.py: {missing}"
    assert ("/api/v1/submissions/{}", "GET") in described  # the route the issue named
