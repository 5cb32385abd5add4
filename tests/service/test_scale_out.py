"""Scale-out on one machine: worker processes as separate hosts would run them, sharing one
broker (a Redis server of the test's own, with its append-only file) and one PostgreSQL
database. A burst of real runs drains with none lost and none done twice, also when the
broker is killed mid-burst and started again on its append-only file."""

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

from tests.conftest import RepoFactory, git, unavailable
from tests.support import AcceptanceProcesses, free_port, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.service, pytest.mark.slow]

BURST = 8
#: a run's own work is a few seconds; the whole burst drains in well under this
DRAIN_SECONDS = 420

SPEC = b"""version: 1
title: Burst
functional: {paths: [tests], timeout: 60}
limits: {timeout: 120}
security: false
licence: false
"""
PROJECT = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


class RedisServer:
    """A redis-server of the test's own: AOF on, no RDB snapshots, killable and restartable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--maxmemory-policy", "noeviction", "--dir", str(self.folder),
            ],
            stdout=open(self.folder / "redis.log", "ab"),  # noqa: SIM115 - lives with the process
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(self.answers, 20, "redis-server to start")

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    import shutil

    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Deployment(AcceptanceProcesses):
    """One database, one broker, one data directory; worker processes started on demand."""

    submission_id: str = ""

    # -- in-process access, as the web app has it ----------------------------------

    def settings(self) -> Any:
        from acceptance.settings import load_settings

        return load_settings(self.env)

    def create_runs(self, count: int) -> list[str]:
        """Record `count` manual runs, then enqueue them after the commit (as the API does)."""
        from acceptance.service.db import Database
        from acceptance.service.models import Submission
        from acceptance.service.runs import create_run
        from workers.celery_app import enqueue_run, make_celery

        settings = self.settings()
        with Database(settings.database_url).session() as session:
            submission = session.get(Submission, self.submission_id)
            assert submission is not None
            runs = [
                create_run(session, submission, trigger="manual", ref="main")[0]
                for _ in range(count)
            ]
            queued = [(run.id, run.spec_version.run_timeout) for run in runs]
        celery = make_celery(settings)
        for run_id, timeout in queued:
            enqueue_run(celery, run_id, timeout)
        return [run_id for run_id, _ in queued]

    def runs(self) -> list[Any]:
        from sqlalchemy import select

        from acceptance.service.db import Database
        from acceptance.service.models import Run

        with Database(self.settings().database_url).session() as session:
            found = list(session.scalars(select(Run)))
            session.expunge_all()
            return found


@pytest.fixture
def deployment(
    tmp_path: Path, database_url: str, redis_server: RedisServer, sandbox_image: str,
    git_server: tuple[Path, str], make_repo: RepoFactory,
) -> Iterator[Deployment]:  # fmt: skip
    base, url = git_server
    repo = make_repo(PROJECT)
    git("clone", "-q", "--bare", str(repo), str(base / "calc.git"), cwd=repo.parent)
    env = {
        **os.environ,
        "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
        "ACCEPTANCE_DATABASE_URL": database_url,
        "ACCEPTANCE_BROKER_URL": redis_server.url,
        "ACCEPTANCE_SANDBOX_IMAGE": sandbox_image,
        "ACCEPTANCE_GIT_ALLOWED_HOSTS": url.removeprefix("git://"),
        "ACCEPTANCE_RECONCILE_EVERY": "3",
        # a message lost with the broker is sent again after this long
        "ACCEPTANCE_REQUEUE_AFTER": "45",
        "ACCEPTANCE_LOG_FORMAT": "json",
        "ACCEPTANCE_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    found = Deployment(tmp_path, env)
    found.cli("db", "upgrade")
    # One key for every worker, made before they start (as compose's secret is).
    found.cli("keygen", "--out", str(tmp_path / "data" / "keys"))

    from acceptance.service.accounts import create_user
    from acceptance.service.db import Database
    from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
    from acceptance.service.secretbox import SecretBox

    settings = found.settings()
    with Database(settings.database_url).session() as session:
        owner = create_user(session, "owner@example.org", "owner", "a long password 1")
        version = publish_spec(session, owner, SpecUpload(SPEC), settings.specs_dir)
        submission, _ = register_submission(
            session, owner, version.opportunity, repo_url=f"{url}/calc.git", supplier="Supplier Ltd",
            branch="main", box=SecretBox(settings.secrets_key),
        )  # fmt: skip
        found.submission_id = submission.id
    try:
        yield found
    finally:
        found.stop()


def start_workers(deployment: Deployment) -> None:
    """Two run workers (as on two hosts) and the scheduler with the reconciler, each on its queues."""
    deployment.start("worker-a", "worker", "--queues", "runs", "--concurrency", "1")
    deployment.start("worker-b", "worker", "--queues", "runs", "--concurrency", "1")
    deployment.start("scheduler", "worker", "--queues", "service", "--concurrency", "1", "--beat")


def assert_exactly_once(deployment: Deployment, run_ids: list[str]) -> None:
    """Every run finished once: one claim, one report, the store holding exactly those reports."""
    runs = {run.id: run for run in deployment.runs()}
    assert sorted(runs) == sorted(run_ids), "a run was lost or one appeared from nowhere"
    for run in runs.values():
        assert run.status == "finished", (run.id, run.status, run.error, deployment.logs())
        assert run.verdict == "accepted", (run.id, run.reasons)
        assert run.attempts == 1, f"run {run.id} was claimed {run.attempts} times"
        assert run.report_sha256 and run.artifacts["report.dsse.json"] == run.report_sha256
    assert len({run.report_sha256 for run in runs.values()}) == len(runs)

    # The artifact store holds one signed report per run, naming that run, and no other.
    store = deployment.settings().artifacts_dir
    reported: list[str] = []
    for path in store.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            document = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(document, dict) and "payloadType" in document:
            import base64

            statement = json.loads(base64.b64decode(document["payload"]))
            reported.append(statement["predicate"]["run"]["id"])
    assert sorted(reported) == sorted(run_ids)


def test_two_workers_drain_a_burst_exactly_once(deployment: Deployment) -> None:
    start_workers(deployment)
    started = time.monotonic()
    run_ids = deployment.create_runs(BURST)

    def drained() -> bool:
        return all(run.status in ("finished", "error") for run in deployment.runs())

    try:
        wait_for(drained, DRAIN_SECONDS, f"{BURST} runs to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{deployment.logs()}") from None
    seconds = time.monotonic() - started
    assert_exactly_once(deployment, run_ids)
    workers = {run.worker for run in deployment.runs()}
    assert len(workers) == 2, f"the burst was not shared between the two workers: {workers}"
    print(f"{BURST} runs drained by two workers in {seconds:.0f} s")


def test_redis_killed_mid_burst_loses_no_run(
    deployment: Deployment, redis_server: RedisServer
) -> None:
    start_workers(deployment)
    run_ids = deployment.create_runs(BURST)

    def some_finished() -> bool:
        return sum(run.status == "finished" for run in deployment.runs()) >= 2

    wait_for(some_finished, DRAIN_SECONDS, "the first runs to finish")
    waiting = sum(run.status == "queued" for run in deployment.runs())
    assert waiting > 0, "the burst drained before the broker could be killed: make it larger"
    redis_server.kill()  # SIGKILL: no shutdown, only what the append-only file holds
    time.sleep(5)  # workers and the scheduler lose the broker and retry
    redis_server.start()
    # Intake works again, and its runs count too.
    run_ids += deployment.create_runs(2)

    def drained() -> bool:
        return all(run.status in ("finished", "error") for run in deployment.runs())

    try:
        wait_for(drained, DRAIN_SECONDS, "every run to finish after the broker came back")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{deployment.logs()}") from None
    assert_exactly_once(deployment, run_ids)
    print(f"{waiting} runs were waiting in the broker when it was killed; all finished once")
