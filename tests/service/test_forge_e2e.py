"""Forge feedback end to end: real web, Celery workers (runs and service queues), PostgreSQL, Redis and
Docker; a push to a repository whose submission names a Gitea forge (a fake one on loopback that checks
Gitea's documented request shape). The forge answers 500 twice: the run still gets its verdict on time,
and the commit shows `pending` then `success` once the forge is back, every attempt in the run's API JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RepoFactory
from tests.forge_fake import FakeForge
from tests.service.test_service_e2e import PROJECT, Service, setup_submission, wait_finished
from tests.support import request, signed_push, wait_for

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


def test_a_push_with_a_github_app_ends_with_a_completed_check_run_and_its_annotations(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.forge_fake import FakeGitHubApp

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    github = FakeGitHubApp(4242, 77, public).start()
    try:
        # The fake GitHub is on loopback: listed beside the git daemon, as an internal forge would be.
        service.env["ACCEPTANCE_GIT_ALLOWED_HOSTS"] += f",{github.host}"
        service.start("worker", "worker", "--concurrency", "1", "--queues", "runs", "--beat")
        service.start("service-worker", "worker", "--concurrency", "1", "--queues", "service")
        service.start_web()
        files = dict(PROJECT)
        files["contact/shell.py"] = (
            "import subprocess\n\n\ndef run(command):\n    return subprocess.call(command, shell=True)\n"
        )
        files["tests/test_blank.py"] = (
            "from contact import valid\n\n\ndef test_rejects_blank():\n    assert not valid('@')\n"
        )
        token, submission, repo_url, commit = setup_submission(
            service, make_repo, git_server, files
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        forge = {"kind": "github", "api_url": github.api_url, "repository": "supplier/contact",
                 "app_id": "4242", "installation_id": "77", "private_key": pem}  # fmt: skip
        status, changed = service.api(
            "PUT", f"/api/v1/submissions/{submission['id']}/forge", token, forge
        )
        assert status == 200 and changed["forge"]["app_id"] == "4242", changed

        body, headers = signed_push(submission["webhook_secret"], repo_url, commit, "delivery-app")
        status, reply = request(
            "POST", f"{service.base}/hooks/{submission['id']}", raw=body, headers=headers
        )
        assert status == 202, reply
        run = wait_finished(service, token, reply["run_id"])
        assert run["verdict"] == "rejected", (run, service.logs())

        def completed() -> bool:
            return any(c.get("status") == "completed" for c in github.check_runs.values())

        try:
            wait_for(completed, 60, "the check run to be completed")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{github.requests}\n{service.logs()}") from None
    finally:
        github.stop()
    assert [r.problem for r in github.requests] == [None] * len(github.requests)
    assert list(github.check_runs) == [1]
    check = github.check_runs[1]
    assert (check["head_sha"], check["conclusion"], check["external_id"]) == (
        commit,
        "failure",
        run["id"],
    )
    statuses = [r.body.get("status") for r in github.requests if "check-runs" in r.path]
    assert statuses[0] in ("queued", "in_progress") and statuses[-1] in ("completed", None)
    paths = {(a["path"], a["annotation_level"]) for a in check["annotations"]}
    assert ("tests/test_blank.py", "failure") in paths, check["annotations"]
    assert any(p == "contact/shell.py" for p, _ in paths), check["annotations"]
    assert "assert not valid('nope')" not in json.dumps(
        check
    )  # the owner's hidden test stays hidden
