"""The service end to end: real PostgreSQL, Redis, Celery worker and web app processes,
a repository served by `git daemon`, a signed GitHub-shaped push, a verified report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MIT_LICENSE, RepoFactory, git
from tests.support import (
    ACCEPTANCE,
    AcceptanceProcesses,
    free_port,
    http_status,
    request,
    signed_push,
    tar_gz,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.service, pytest.mark.slow]


PROJECT = {
    "LICENSE": MIT_LICENSE,
    "pyproject.toml": (
        '[project]\nname = "contact"\nversion = "1.0"\nlicense = "MIT"\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
    ),
    "contact/__init__.py": "def valid(email):\n    return '@' in email\n",
    "tests/test_contact.py": "from contact import valid\n\ndef test_valid():\n    assert valid('a@b.c')\n",
}
SPEC = b"""version: 1
title: Contact form
functional: {paths: [tests], hidden_tests: hidden, min_passed: 2, timeout: 60}
limits: {timeout: 240}
"""


HIDDEN = tar_gz(
    {
        "test_owner.py": "from contact import valid\n\ndef test_rejects():\n    assert not valid('nope')\n"
    }
)


# ---------------------------------------------------------------- infrastructure


@dataclass
class Service(AcceptanceProcesses):
    """The processes of one deployment, sharing a data dir, a database and a broker."""

    base: str = ""

    def start_web(self) -> None:
        port = free_port()
        self.start("web", "web", "--port", str(port), "--workers", "1")
        self.base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_status(f"{self.base}/healthz") == 200, 30, "the web app to start")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def api(
        self, method: str, path: str, token: str, body: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        return request(method, self.base + path, body, {"Authorization": f"Bearer {token}"}, **kw)


@pytest.fixture
def service(
    tmp_path: Path, database_url: str, broker_url: str, sandbox_image: str, advisories_db: Path,
    git_server: tuple[Path, str],
) -> Iterator[Service]:  # fmt: skip
    _, git_url = git_server
    env = {
        **os.environ,
        "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
        "ACCEPTANCE_DATABASE_URL": database_url,
        "ACCEPTANCE_BROKER_URL": broker_url,
        "ACCEPTANCE_SANDBOX_IMAGE": sandbox_image,
        "ACCEPTANCE_ADVISORIES_DB": str(advisories_db),
        "ACCEPTANCE_GIT_ALLOWED_HOSTS": git_url.removeprefix("git://"),
        "ACCEPTANCE_RECONCILE_EVERY": "2",
        "ACCEPTANCE_REQUEUE_AFTER": "30",
        # the wheel cache the engine tests filled: no second download
        "PYTHONUNBUFFERED": "1",
    }
    found = Service(tmp_path, env)
    found.cli("db", "upgrade")
    try:
        yield found
    finally:
        found.stop()


def setup_submission(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str], files: dict[str, str],
    spec: bytes = SPEC,
) -> tuple[str, dict[str, Any], str, str]:  # fmt: skip
    """Owner, token, opportunity with hidden tests, a served repository and its submission."""
    service.cli(
        "users", "create", "owner@example.org", "--role", "owner", stdin="correct horse battery\n"
    )
    token = service.cli("tokens", "create", "owner@example.org").strip()
    status, opportunity = service.api(
        "POST", "/api/v1/opportunities", token, files={"spec": spec, "hidden_tests": HIDDEN}
    )
    assert status == 201, opportunity
    base, url = git_server
    repo = make_repo(files)
    git("clone", "-q", "--bare", str(repo), str(base / "contact.git"), cwd=repo.parent)
    repo_url = f"{url}/contact.git"
    status, submission = service.api(
        "POST", f"/api/v1/opportunities/{opportunity['id']}/submissions", token,
        {"repo_url": repo_url, "supplier": "Supplier Ltd", "branch": "main"},
    )  # fmt: skip
    assert status == 201, submission
    return token, submission, repo_url, git("rev-parse", "HEAD", cwd=repo)


def wait_finished(
    service: Service, token: str, run_id: str, seconds: float = 240
) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def finished() -> bool:
        status, body = service.api("GET", f"/api/v1/runs/{run_id}", token)
        found.update(body if status == 200 else {})
        return found.get("status") in ("finished", "error")

    try:
        wait_for(finished, seconds, f"run {run_id} to finish (last: {found.get('status')})")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{service.logs()}") from None
    return found


# ---------------------------------------------------------------- the cases


def test_push_to_signed_verified_report(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str], tmp_path: Path
) -> None:
    service.start("worker", "worker", "--concurrency", "1", "--beat")
    service.start_web()
    token, submission, repo_url, commit = setup_submission(service, make_repo, git_server, PROJECT)

    hook = f"/hooks/{submission['id']}"
    body, headers = signed_push(submission["webhook_secret"], repo_url, commit, "delivery-1")
    started = time.monotonic()
    status, reply = request("POST", service.base + hook, raw=body, headers=headers)
    intake = time.monotonic() - started
    assert status == 202, reply
    run_id = reply["run_id"]
    print(f"webhook intake answered in {intake * 1000:.0f} ms")

    # The same delivery again: the same run. A forged one: 401 and nothing recorded.
    assert request("POST", service.base + hook, raw=body, headers=headers)[1]["run_id"] == run_id
    forged = dict(
        headers, **{"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Delivery": "delivery-2"}
    )
    assert request("POST", service.base + hook, raw=body, headers=forged)[0] == 401

    run = wait_finished(service, token, run_id)
    assert run["status"] == "finished" and run["verdict"] == "accepted", (run, service.logs())
    assert run["commit"] == commit and run["report_url"]
    status, runs = service.api("GET", f"/api/v1/runs?submission={submission['id']}", token)
    assert [r["id"] for r in runs["items"]] == [run_id]

    status, envelope = service.api("GET", f"/api/v1/runs/{run_id}/report", token)
    assert status == 200
    report = tmp_path / "report.json"
    report.write_text(json.dumps(envelope))
    status, keys = request("GET", service.base + "/api/v1/keys")
    assert envelope["signatures"][0]["keyid"] in {k["keyid"] for k in keys["keys"]}
    public = tmp_path / "signing.pub"
    public.write_text(keys["keys"][0]["pem"])
    verified = subprocess.run(
        [ACCEPTANCE, "verify", str(report), "--pubkey", str(public), "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    statement = json.loads(verified.stdout)
    predicate = statement["predicate"]
    assert predicate["run"]["id"] == run_id and predicate["run"]["delivery_id"] == "delivery-1"
    assert predicate["source"]["commit"] == commit
    functional = predicate["checks"][0]
    assert functional["tests"]["passed"] == 2 and functional["hidden_tests"] == 1

    # The supplier's status page: their runs, no hidden test source.
    status, page = request("GET", submission["status_url"], headers={"Accept": "application/json"})
    assert status == 200 and [r["id"] for r in page["runs"]] == [run_id]
    assert "assert not valid" not in json.dumps(page)


def test_worker_killed_mid_run_still_finishes_exactly_once(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str]
) -> None:
    files = dict(PROJECT)
    files["tests/test_slow.py"] = "import time\n\ndef test_slow():\n    time.sleep(12)\n"
    first = service.start("worker-a", "worker", "--concurrency", "1", "--queues", "runs")
    service.start_web()
    token, submission, repo_url, commit = setup_submission(service, make_repo, git_server, files)
    body, headers = signed_push(submission["webhook_secret"], repo_url, commit, "kill-1")
    status, reply = request(
        "POST", service.base + f"/hooks/{submission['id']}", raw=body, headers=headers
    )
    assert status == 202
    run_id = reply["run_id"]

    def in_tests() -> bool:
        return service.api("GET", f"/api/v1/runs/{run_id}", token)[1].get("stage") == "functional"

    wait_for(in_tests, 180, "the run to reach its tests")
    service.kill(first)

    # A second worker, with the reconciler, takes the run over and finishes it.
    service.start("worker-b", "worker", "--concurrency", "1", "--beat")
    run = wait_finished(service, token, run_id)
    assert run["verdict"] == "accepted", (run, service.logs())
    assert run["attempts"] == 2
    report_url, finished_at = run["report_url"], run["finished_at"]
    time.sleep(5)  # any duplicate delivery would have finished it a second time by now
    again = service.api("GET", f"/api/v1/runs/{run_id}", token)[1]
    assert (again["report_url"], again["finished_at"], again["attempts"]) == (
        report_url,
        finished_at,
        2,
    )
    status, runs = service.api("GET", f"/api/v1/runs?submission={submission['id']}", token)
    assert len(runs["items"]) == 1
    # The killed worker's sandbox was removed when the run was taken over.
    leftovers = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=org.acceptance.run={run_id}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert leftovers == []


def sandboxes_of(run_id: str) -> list[str]:
    """Ids of the containers, running or exited, labelled with the run's id."""
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=org.acceptance.run={run_id}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip


def test_a_worker_killed_mid_run_is_recovered_by_restarting_it_alone(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str]
) -> None:
    """No scheduler anywhere, only `acceptance worker`: its restart takes the run back."""
    files = dict(PROJECT)
    files["tests/test_slow.py"] = "import time\n\ndef test_slow():\n    time.sleep(12)\n"
    first = service.start("worker-a", "worker", "--concurrency", "1")
    service.start_web()
    token, submission, repo_url, commit = setup_submission(service, make_repo, git_server, files)
    body, headers = signed_push(submission["webhook_secret"], repo_url, commit, "restart-1")
    status, reply = request(
        "POST", service.base + f"/hooks/{submission['id']}", raw=body, headers=headers
    )
    assert status == 202
    run_id = reply["run_id"]

    def in_tests() -> bool:
        return service.api("GET", f"/api/v1/runs/{run_id}", token)[1].get("stage") == "functional"

    wait_for(in_tests, 180, "the run to reach its tests")
    service.kill(first)
    assert sandboxes_of(run_id), "the killed worker's sandbox should still be there"

    service.start("worker-b", "worker", "--concurrency", "1")
    run = wait_finished(service, token, run_id)
    assert run["status"] == "finished" and run["verdict"] == "accepted", (run, service.logs())
    assert run["attempts"] == 2
    assert sandboxes_of(run_id) == []
    restarted = service.root / "worker-b.log"
    assert "startup_recovery requeued=1" in restarted.read_text(), service.logs()
    # ACCEPTANCE_RECONCILE_EVERY=2: the warning comes within three intervals and a grace.
    wait_for(lambda: "no_scheduler" in restarted.read_text(), 30, "the no-scheduler warning")
    assert restarted.read_text().count("no_scheduler") == 1
