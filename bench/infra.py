"""The deployment the benchmark drives: PostgreSQL, Redis, git daemon, web and worker processes.

Everything the harness creates is its own: a database named ``acceptance_bench_<pid>``
(dropped at the end), one Redis database (emptied before and after), a data directory
under the work directory, and processes started in their own process groups, stopped by
their ids when the harness ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import samples
from tests.support import (
    ACCEPTANCE,
    accepts_connections,
    free_port,
    http_status,
    request,
    signed_push,
    start_acceptance,
    stop_process_groups,
    tar_gz,
    wait_for,
)

ROOT = samples.ROOT
PYPA_ARCHIVE = ROOT.parent / "shared" / "osv" / "pypa-advisory-database.tar.gz"
PG_ADMIN = os.environ.get("ACCEPTANCE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
#: Redis database 5: the test suite's service tests use 8-15 and flush them
BROKER = os.environ.get("ACCEPTANCE_BENCH_REDIS", "redis://127.0.0.1:6379/5")


@dataclass
class Sample:
    """One sample repository served by git daemon, and its submission."""

    name: str
    path: Path
    url: str
    submission: str = ""
    secret: str = ""
    commits: list[str] = field(default_factory=list)
    serial: int = 0

    def push_code_change(self) -> str:
        """A new commit changing only code, pushed to the served bare repository."""
        self.serial += 1
        commit = samples.push_code_change(self.name, self.path, self.serial)
        samples.git("push", "-q", "origin", "main", cwd=self.path)
        self.commits.append(commit)
        return commit


class Deployment:
    """The service's processes for one benchmark session."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.data = work / "data"
        self.logs = work / "logs"
        self.database = f"acceptance_bench_{os.getpid()}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.base = ""
        self.token = ""
        self.opportunities: dict[str, str] = {}
        self.git_base = work / "served"
        self.git_url = ""
        self._git_daemon: subprocess.Popen[bytes] | None = None
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        self.database_url = f"{base}/{self.database}"
        self.env: dict[str, str] = {}

    # -- life cycle ------------------------------------------------------------

    def setup(self, image: str) -> None:
        import psycopg
        import redis

        for folder in (self.data, self.logs, self.git_base):
            folder.mkdir(parents=True, exist_ok=True)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.database}"')
        redis.Redis.from_url(BROKER).flushdb()
        port = free_port()
        self._git_daemon = subprocess.Popen(
            [
                "git", "daemon", "--reuseaddr", "--export-all", f"--base-path={self.git_base}",
                "--listen=127.0.0.1", f"--port={port}", str(self.git_base),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.git_url = f"git://127.0.0.1:{port}"
        wait_for(lambda: accepts_connections(port), 10, "git daemon")
        self.env = {
            **os.environ,
            "ACCEPTANCE_DATA_DIR": str(self.data),
            "ACCEPTANCE_DATABASE_URL": self.database_url,
            "ACCEPTANCE_BROKER_URL": BROKER,
            "ACCEPTANCE_SANDBOX_IMAGE": image,
            "ACCEPTANCE_ADVISORIES_DB": str(self.advisories()),
            "ACCEPTANCE_GIT_ALLOWED_HOSTS": f"127.0.0.1:{port}",
            "ACCEPTANCE_REQUEUE_AFTER": "3600",
            # bursts of hundreds of pushes to one submission: no hourly run limit
            "ACCEPTANCE_RUNS_PER_HOUR": "0",
            # pip's own HTTP cache, separate so a cold run can start without it
            "PIP_CACHE_DIR": str(self.work / "pip-cache"),
            "PYTHONUNBUFFERED": "1",
            # the dashboard over plain http on loopback: its session cookie must not be Secure
            "ACCEPTANCE_INSECURE_COOKIES": "1",
        }
        self.cli("db", "upgrade")
        self.cli(
            "users", "create", "owner@example.org", "--role", "owner", stdin="bench password 1\n"
        )
        self.token = self.cli("tokens", "create", "owner@example.org").strip()

    def advisories(self) -> Path:
        """The offline advisory store, imported once per work directory."""
        store = self.work / "advisories.sqlite"
        if not store.exists():
            env = {**os.environ, "ACCEPTANCE_DATA_DIR": str(self.work / "advisories")}
            subprocess.run(
                [ACCEPTANCE, "advisories", "import", str(PYPA_ARCHIVE)],
                env=env, check=True, capture_output=True,
            )  # fmt: skip
            shutil.copy2(self.work / "advisories" / "advisories.sqlite", store)
        return store

    def teardown(self) -> None:
        import psycopg
        import redis

        for name in list(self.procs):
            self.stop(name)
        if self._git_daemon is not None:
            stop_process_groups([self._git_daemon])
        try:
            redis.Redis.from_url(BROKER).flushdb()
        except redis.RedisError:
            pass
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [ACCEPTANCE, *args], env=self.env, input=stdin, capture_output=True, text=True,
            timeout=600, cwd=self.work,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"acceptance {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        proc = start_acceptance(args, env=self.env, cwd=self.work, log=self.logs / f"{name}.log")
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop_process_groups([proc])

    def start_web(self, workers: int = 2) -> subprocess.Popen[bytes]:
        port = free_port()
        proc = self.start(
            "web", "web", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)
        )
        self.base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_status(f"{self.base}/healthz") == 200, 60, "the web app")
        return proc

    def start_worker(self, concurrency: int) -> subprocess.Popen[bytes]:
        proc = self.start("worker", "worker", "--concurrency", str(concurrency), "--queues", "runs")
        wait_for(
            lambda: "ready" in (self.logs / "worker.log").read_text(errors="replace"),
            60,
            "the worker",
        )
        return proc

    # -- the domain ------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return request(
            method, self.base + path, body, {"Authorization": f"Bearer {self.token}"}, **kw
        )

    def add_sample(self, name: str) -> Sample:
        """Serve sample NAME, publish its spec, register its submission."""
        spec_dir = self.work / "specs" / name
        if spec_dir.exists():
            shutil.rmtree(spec_dir)
        samples.write_spec(name, spec_dir)
        hidden = {
            str(p.relative_to(spec_dir / "hidden")): p.read_text(encoding="utf-8")
            for p in (spec_dir / "hidden").rglob("*") if p.is_file()
        }  # fmt: skip
        status, opportunity = self.api(
            "POST", "/api/v1/opportunities",
            files={"spec": samples.SPEC.encode(), "hidden_tests": tar_gz(hidden)},
        )  # fmt: skip
        if status != 201:
            raise RuntimeError(f"publishing the spec failed: {status} {opportunity}")
        repo = self.work / "repos" / name
        if repo.exists():
            shutil.rmtree(repo)
        commit = samples.write_repo(name, repo)
        bare = self.git_base / f"{name}.git"
        if bare.exists():
            shutil.rmtree(bare)
        samples.git("clone", "-q", "--bare", str(repo), str(bare), cwd=repo.parent)
        samples.git("remote", "add", "origin", str(bare), cwd=repo)
        url = f"{self.git_url}/{name}.git"
        status, submission = self.api(
            "POST", f"/api/v1/opportunities/{opportunity['id']}/submissions",
            {"repo_url": url, "supplier": f"{name} Ltd", "branch": "main"},
        )  # fmt: skip
        if status != 201:
            raise RuntimeError(f"registering the submission failed: {status} {submission}")
        return Sample(name, repo, url, submission["id"], submission["webhook_secret"], [commit])

    def deliver(self, sample: Sample, commit: str) -> tuple[float, str]:
        """POST a signed push for COMMIT; returns (seconds to the 202, run id)."""
        body, headers = signed_push(sample.secret, sample.url, commit, uuid.uuid4().hex)
        started = time.monotonic()
        status, reply = request(
            "POST", f"{self.base}/hooks/{sample.submission}", raw=body, headers=headers
        )
        seconds = time.monotonic() - started
        if status != 202 or not reply.get("run_id"):
            raise RuntimeError(f"the webhook was refused: {status} {reply}")
        return seconds, str(reply["run_id"])

    @contextmanager
    def db(self) -> Iterator[Any]:
        from acceptance.service.db import Database

        database = Database(self.database_url)
        with database.session() as session:
            yield session

    def run_row(self, run_id: str) -> dict[str, Any]:
        from acceptance.service.models import Run

        with self.db() as session:
            run = session.get(Run, run_id)
            assert run is not None
            return {
                "status": run.status,
                "verdict": run.verdict,
                "reasons": run.reasons,
                "queued_at": run.queued_at,
                "enqueued_at": run.enqueued_at,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "stages": run.stages,
                "report": run.report_sha256,
            }

    def wait_finished(self, run_ids: list[str], seconds: float = 900) -> list[dict[str, Any]]:
        """Poll the database until every run is finished or in error."""
        from sqlalchemy import select

        from acceptance.service.models import Run

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.db() as session:
                done = session.scalars(
                    select(Run.id).where(Run.id.in_(run_ids), Run.status.in_(("finished", "error")))
                ).all()
            if len(done) == len(run_ids):
                return [self.run_row(run_id) for run_id in run_ids]
            time.sleep(0.05)
        raise TimeoutError(f"runs not finished after {seconds} s; see {self.logs}")

    def wipe_caches(self) -> None:
        """Empty every engine cache and pip's HTTP cache: the next run is cold."""
        for folder in (self.data / "cache", self.work / "pip-cache"):
            if folder.exists():
                shutil.rmtree(folder)
