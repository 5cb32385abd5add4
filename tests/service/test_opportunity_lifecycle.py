"""Closing an opportunity (no new submission, run or spec version; webhooks answer 410, not
a run) and re-publishing a spec while keeping the previous version's hidden tests, through
the API and the dashboard on a real PostgreSQL database; both recorded in the audit trail."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from acceptance.service.models import Run, SpecVersion, Submission
from acceptance.service.specfiles import ensure_spec_files
from tests.checks.test_audit import HIDDEN, PASSWORD, REPO, SPEC, Env, _publish, _register
from tests.dashboard_support import csrf_token
from tests.web.test_api import github_push

SPEC_V2 = SPEC.replace(b"Contact form", b"Contact form, v2")
NO_HIDDEN_SPEC = b"version: 1\ntitle: Open tender\nfunctional: {paths: [tests]}\n"


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    yield Env(tmp_path, database_url)


def _new_version(env: Env, opportunity: str, spec: bytes = SPEC_V2, **fields: Any) -> Any:
    data = {"spec": (io.BytesIO(spec), "acceptance.yaml"), **fields}
    return env.client.post(
        f"/api/v1/opportunities/{opportunity}/specs", data=data, headers=env.auth()
    )


# ---------------------------------------------------------------- closing


def test_a_closed_opportunity_takes_nothing_new_and_says_why(env: Env) -> None:
    opportunity = _publish(env)
    submission = _register(env, opportunity)
    run = env.finished_run(submission, "b" * 40)

    assert env.client.post(f"/api/v1/opportunities/{opportunity}/close",
                           headers=env.auth("reviewer")).status_code == 403  # fmt: skip
    reply = env.client.post(f"/api/v1/opportunities/{opportunity}/close", headers=env.auth())
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["closed_at"].endswith("Z")
    again = env.client.post(f"/api/v1/opportunities/{opportunity}/close", headers=env.auth())
    assert again.status_code == 409 and "was closed on" in again.get_json()["detail"]

    refused = env.client.post(
        f"/api/v1/opportunities/{opportunity}/submissions",
        json={"repo_url": REPO, "supplier": "Late Ltd"},
        headers=env.auth(),
    )
    assert refused.status_code == 409 and refused.get_json()["error"] == "conflict"
    assert "it takes no new submission, run or spec version" in refused.get_json()["detail"]
    assert (
        _new_version(env, opportunity, hidden_tests=(io.BytesIO(HIDDEN), "h.tgz")).status_code
        == 409
    )
    manual = env.client.post(f"/api/v1/submissions/{submission}/runs", headers=env.auth())
    assert manual.status_code == 409

    # a push: 410 with why, and no run
    with env.db.session() as session:
        found = session.get(Submission, submission)
        assert found is not None
        webhook_secret = env.app.extensions["acceptance"].box.open(found.webhook_secret_encrypted)
    body, headers = github_push(webhook_secret, after="c" * 40, delivery="d-closed")
    pushed = env.client.post(f"/hooks/{submission}", data=body, headers=headers)
    assert pushed.status_code == 410, pushed.get_json()
    assert pushed.get_json()["error"] == "opportunity_closed"
    assert "was closed on" in pushed.get_json()["detail"]
    with env.db.session() as session:
        assert session.scalars(select(Run.id).where(Run.submission_id == submission)).all() == [run]

    # what exists stays readable and decidable
    assert env.client.get(f"/api/v1/runs/{run}", headers=env.auth("reviewer")).status_code == 200
    decided = env.client.post(
        f"/api/v1/runs/{run}/decision", json={"decision": "accepted"}, headers=env.auth()
    )
    assert decided.status_code == 201, decided.get_json()

    closed = env.events("?action=opportunity.closed")
    assert [(e["actor"], e["subject_id"]) for e in closed] == [("owner@example.org", opportunity)]
    assert closed[0]["details"] == {"title": "Contact form"}


def test_the_dashboard_says_an_opportunity_is_closed_in_the_readers_language(env: Env) -> None:
    opportunity = _publish(env)
    submission = _register(env, opportunity)
    run = env.finished_run(submission, "d" * 40)
    env.client.post(f"/api/v1/opportunities/{opportunity}/close", headers=env.auth())
    env.app.config["SESSION_COOKIE_SECURE"] = False
    for lang, notice, refusal in (
        ("en", "This opportunity is closed: it takes no new", "This opportunity is closed"),
        ("fr", "Cette occasion est fermée", "Cette occasion est fermée"),
    ):
        client = env.app.test_client()
        client.set_cookie("acceptance_lang", lang)
        token = csrf_token(client, "/sign-in")
        client.post("/sign-in", data={"email": "owner@example.org",
                                      "password": "a long password 1", "csrf_token": token})  # fmt: skip
        page = client.get(f"/opportunities/{opportunity}").get_data(as_text=True)
        assert notice in page
        assert f"/opportunities/{opportunity}/submissions/new" not in page
        assert f"/opportunities/{opportunity}/specs/new" not in page
        for url in (f"/opportunities/{opportunity}/submissions/new",
                    f"/opportunities/{opportunity}/specs/new"):  # fmt: skip
            reply = client.get(url)
            assert reply.status_code == 409 and refusal in reply.get_data(as_text=True)
        token = csrf_token(client, f"/runs/{run}")
        rerun = client.post(f"/runs/{run}/rerun", data={"csrf_token": token}, follow_redirects=True)
        assert rerun.status_code == 200 and notice.split(":")[0] in rerun.get_data(as_text=True)


# ---------------------------------------------------------------- keeping hidden tests


def test_a_new_spec_version_keeps_the_previous_hidden_tests_when_asked(env: Env) -> None:
    opportunity = _publish(env)
    reply = _new_version(env, opportunity, keep_hidden_tests="true")
    assert reply.status_code == 201, reply.get_json()
    first, second = reply.get_json()["specs"]
    assert second["version"] == 2 and second["title"] == "Contact form, v2"
    assert second["hidden_tests_sha256"] == first["hidden_tests_sha256"] is not None
    assert reply.get_json()["hidden_tests_files"] == 1
    (published,) = env.events("?action=spec.published&limit=1")
    assert published["details"]["version"] == 2
    assert published["details"]["hidden_tests_kept_from"] == 1

    # a worker on another host rebuilds the new version's folder from the shared store
    settings = env.settings
    with env.db.session() as session:
        version = session.get(SpecVersion, second["id"])
        assert version is not None
        shutil.rmtree(settings.specs_dir / version.folder)
        path = ensure_spec_files(
            settings.specs_dir, version, env.app.extensions["acceptance"].store
        )
    assert (path.parent / "hidden" / "test_owner.py").is_file()

    # without the flag, the spec that names hidden tests still needs them
    missing = _new_version(env, opportunity)
    assert missing.status_code == 422
    assert "no hidden_tests archive was uploaded" in str(missing.get_json()["detail"])


def test_keeping_hidden_tests_is_refused_where_it_cannot_apply(env: Env) -> None:
    opportunity = _publish(env)
    both = _new_version(
        env, opportunity, keep_hidden_tests="true", hidden_tests=(io.BytesIO(HIDDEN), "h.tgz")
    )
    assert both.status_code == 422 and "not both" in both.get_json()["detail"]
    assert _new_version(env, opportunity, keep_hidden_tests="yes").status_code == 422
    first = env.client.post(
        "/api/v1/opportunities",
        data={"spec": (io.BytesIO(SPEC), "a.yaml"), "keep_hidden_tests": "true"},
        headers=env.auth(),
    )
    assert first.status_code == 422 and "existing opportunity" in first.get_json()["detail"]
    plain = env.client.post(
        "/api/v1/opportunities",
        data={"spec": (io.BytesIO(NO_HIDDEN_SPEC), "a.yaml")},
        headers=env.auth(),
    ).get_json()["id"]
    nothing = _new_version(env, plain, keep_hidden_tests="true")
    assert nothing.status_code == 422
    assert "spec version 1 has no hidden tests to keep" in nothing.get_json()["detail"]


def test_an_owner_closes_the_opportunity_from_its_page(env: Env) -> None:
    opportunity = _publish(env)
    env.app.config["SESSION_COOKIE_SECURE"] = False
    clients = {}
    for who, lang in (("reviewer", "en"), ("owner", "fr")):
        client = env.app.test_client()
        client.set_cookie("acceptance_lang", lang)
        token = csrf_token(client, "/sign-in")
        client.post(
            "/sign-in",
            data={"email": f"{who}@example.org", "password": PASSWORD, "csrf_token": token},
        )
        clients[who] = client
    reviewer, owner = clients["reviewer"], clients["owner"]
    assert "/close" not in reviewer.get(f"/opportunities/{opportunity}").get_data(as_text=True)
    token = csrf_token(reviewer, f"/opportunities/{opportunity}")
    refused = reviewer.post(f"/opportunities/{opportunity}/close", data={"csrf_token": token})
    assert refused.status_code == 403

    page = owner.get(f"/opportunities/{opportunity}").get_data(as_text=True)
    assert "Fermer cette occasion" in page and "Elle ne peut pas être rouverte." in page
    assert owner.post(f"/opportunities/{opportunity}/close").status_code == 400  # no CSRF token
    token = csrf_token(owner, f"/opportunities/{opportunity}")
    closed = owner.post(
        f"/opportunities/{opportunity}/close", data={"csrf_token": token}, follow_redirects=True
    )
    page = closed.get_data(as_text=True)
    assert closed.status_code == 200 and "L’occasion est fermée." in page
    assert "Cette occasion est fermée" in page and "Fermer cette occasion" not in page
    again = owner.post(
        f"/opportunities/{opportunity}/close", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Cette occasion était déjà fermée." in again.get_data(as_text=True)
    events = env.events("?action=opportunity.closed")
    assert [(e["actor"], e["subject_id"]) for e in events] == [("owner@example.org", opportunity)]
