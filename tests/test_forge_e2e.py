"""Forge feedback end to end: real web, Celery workers (runs and service queues), PostgreSQL, Redis and
Docker; a push to a repository whose submission names a Gitea forge (a fake one on loopback that checks
Gitea's documented request shape). The forge answers 500 twice: the run still gets its verdict on time,
and the commit shows `pending` then `success` once the forge is back, every attempt in the run's API JSON."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RepoFactory
from tests.forge_fake import FakeForge
from tests.support import request, signed_push, wait_for
from tests.test_service_e2e import PROJECT, Service, setup_submission, wait_finished

pytestmark = [pytest.mark.docker, pytest.mark.service, pytest.mark.slow]

TOKEN = "gitea-token-0123456789"
PUBLIC_URL = "https://acceptance.buyer.example"


@pytest.fixture
def gitea() -> Iterator[FakeForge]:
    fake = FakeForge("gitea", TOKEN).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def service(
    tmp_path: Path, database_url: str, broker_url: str, sandbox_image: str, advisories_db: Path,
    git_server: tuple[Path, str], gitea: FakeForge,
) -> Iterator[Service]:  # fmt: skip
    _, git_url = git_server
    env = {
        **os.environ,
        "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
        "ACCEPTANCE_DATABASE_URL": database_url,
        "ACCEPTANCE_BROKER_URL": broker_url,
        "ACCEPTANCE_SANDBOX_IMAGE": sandbox_image,
        "ACCEPTANCE_ADVISORIES_DB": str(advisories_db),
        # the git daemon and the fake forge: loopback, so listed
        "ACCEPTANCE_GIT_ALLOWED_HOSTS": f"{git_url.removeprefix('git://')},{gitea.host}",
        "ACCEPTANCE_PUBLIC_URL": PUBLIC_URL,
        "ACCEPTANCE_FORGE_RETRY_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    found = Service(tmp_path, env)
    found.cli("db", "upgrade")
    try:
        yield found
    finally:
        found.stop()


def test_a_push_ends_with_the_verdict_as_a_commit_status_despite_a_forge_down_at_first(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str], gitea: FakeForge
) -> None:
    # Statuses on the service queue, beside the runs: a run in progress never holds them back.
    service.start("worker", "worker", "--concurrency", "1", "--queues", "runs", "--beat")
    service.start("service-worker", "worker", "--concurrency", "1", "--queues", "service")
    service.start_web()
    token, submission, repo_url, commit = setup_submission(service, make_repo, git_server, PROJECT)
    forge = {
        "kind": "gitea",
        "token": TOKEN,
        "api_url": gitea.api_url,
        "repository": "supplier/contact",
    }
    status, changed = service.api(
        "PUT", f"/api/v1/submissions/{submission['id']}/forge", token, forge
    )
    assert status == 200 and changed["forge"]["token_set"] is True, changed

    gitea.failures = [500, 500]
    body, headers = signed_push(submission["webhook_secret"], repo_url, commit, "delivery-forge")
    status, reply = request(
        "POST", f"{service.base}/hooks/{submission['id']}", raw=body, headers=headers
    )
    assert status == 202, reply
    run = wait_finished(service, token, reply["run_id"])
    assert run["verdict"] == "accepted", (run, service.logs())

    def delivered() -> bool:
        return "success" in gitea.states()

    try:
        wait_for(delivered, 60, "the success status to reach the forge")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{gitea.requests}\n{service.logs()}") from None
    assert [r.answer for r in gitea.requests][:2] == [500, 500]
    assert gitea.states() == ["pending", "success"]
    assert all(r.problem is None for r in gitea.requests)
    final = gitea.accepted()[-1]
    assert (final.repository, final.sha) == ("supplier/contact", commit)
    assert (
        final.body["target_url"]
        == f"{PUBLIC_URL}/status/{submission['status_url'].rsplit('/', 1)[1]}"
    )
    assert final.body["description"] == "Accepted by the acceptance checks"

    status, shown = service.api("GET", f"/api/v1/runs/{run['id']}", token)
    forge_status = shown["forge_status"]
    assert (forge_status["delivered"], forge_status["state"]) == ("success", "delivered")
    assert [(a["state"], a["http_status"], a["ok"]) for a in forge_status["attempts"]] == [
        ("pending", 500, False),
        ("pending", 500, False),
        ("pending", 201, True),
        ("success", 201, True),
    ]
    assert TOKEN not in str(shown)
