"""Runs never stranded: a dead worker's runs go back to the queue and its sandboxes go with it;
the reconciler's passes are noted, shown by /readyz, and missed by a worker with no scheduler.

On the real PostgreSQL and Redis; the sandbox clean-up on the real Docker engine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from acceptance.errors import UserInputError
from acceptance.service.db import Database, upgrade
from acceptance.service.models import Run, RunStatus, utcnow
from acceptance.service.readiness import (
    RECONCILER_KEY,
    last_reconciler_pass,
    note_reconciler_pass,
    redis_client,
)
from acceptance.service.runs import create_run
from acceptance.settings import Settings, load_settings
from tests.service.test_runner import queued_run, state
from web.app import create_app
from workers import tasks
from workers.celery_app import make_celery
from workers.runner import RUN_LABEL, Claim, RunExecutor, worker_name
from workers.startup import NO_SCHEDULER, watch_for_scheduler

#: the sandbox image; only its `sleep` is used, standing for a run's sandbox
SANDBOX_IMAGE = "acceptance-sandbox:latest"
HOST = worker_name().rpartition(":")[0]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, broker_url: str) -> Settings:
    found = load_settings({
        "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
        "ACCEPTANCE_DATABASE_URL": database_url,
        "ACCEPTANCE_BROKER_URL": broker_url,
    })  # fmt: skip
    upgrade(found.database_url)
    return found


@pytest.fixture
def executor(settings: Settings) -> RunExecutor:
    return RunExecutor(settings, Database(settings.database_url))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The run ids the reconcilers send to the broker."""
    found: list[str] = []
    monkeypatch.setattr(tasks, "enqueue_run", lambda app, run_id, timeout: found.append(run_id))
    return found


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


def hold(executor: RunExecutor, run_id: str, worker: str, *, lease_over: bool = False) -> None:
    """The run as claimed by `worker` (host:pid)."""
    assert isinstance(executor.claim(run_id), Claim)
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.worker = worker
        if lease_over:
            run.lease_until = utcnow() - dt.timedelta(seconds=1)


# ---------------------------------------------------------------- the dead worker's sandboxes


@pytest.fixture
def sandboxes(docker_engine: Any) -> Iterator[Any]:
    """Starts stand-ins for runs' sandboxes (labelled with the run id); removes what is left."""
    import docker.errors

    try:
        docker_engine.images.get(SANDBOX_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{SANDBOX_IMAGE} is not built")
    started: list[Any] = []

    class Sandboxes:
        def start(self, run_id: str) -> Any:
            container = docker_engine.containers.run(
                SANDBOX_IMAGE, ["sleep", "300"], detach=True, network_mode="none",
                labels={RUN_LABEL: run_id, "org.acceptance.test": "recovery"},
            )  # fmt: skip
            started.append(container)
            return container

        def of(self, run_id: str) -> list[str]:
            """Names of the containers, running or exited, labelled with `run_id`."""
            found = docker_engine.containers.list(
                all=True, filters={"label": f"{RUN_LABEL}={run_id}"}
            )
            return sorted(c.name for c in found)

    yield Sandboxes()
    for container in started:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


@pytest.mark.docker
def test_a_worker_taking_over_from_a_dead_holder_removes_its_sandboxes(
    executor: RunExecutor, sandboxes: Any
) -> None:
    run_id, other = queued_run(executor, "orphan"), queued_run(executor, "bystander")
    hold(executor, run_id, f"{HOST}:{dead_pid()}")
    left = sandboxes.start(run_id)
    left.stop(timeout=0)  # also an exited one: its layer holds the checkout
    sandboxes.start(run_id)
    unrelated = sandboxes.start(other)
    assert len(sandboxes.of(run_id)) == 2

    assert executor.claim(run_id) == Claim(run_id, 2)
    assert sandboxes.of(run_id) == []
    assert sandboxes.of(other) == [unrelated.name]


@pytest.mark.docker
def test_starting_worker_requeues_only_its_own_hosts_dead_runs(
    executor: RunExecutor, sandboxes: Any, sent: list[str]
) -> None:
    dead, alive, elsewhere = (queued_run(executor, d) for d in ("dead", "alive", "elsewhere"))
    hold(executor, dead, f"{HOST}:{dead_pid()}")
    hold(executor, alive, worker_name())  # this very process: alive
    hold(executor, elsewhere, f"another-host:{dead_pid()}")  # its pid means nothing here
    for run_id in (dead, alive, elsewhere):
        sandboxes.start(run_id)

    assert tasks.reconcile_this_host(executor.db) == 1
    assert sent == [dead]
    assert state(executor, dead).status == RunStatus.QUEUED.value
    assert sandboxes.of(dead) == []
    for run_id in (alive, elsewhere):
        assert state(executor, run_id).status == RunStatus.RUNNING.value
        assert len(sandboxes.of(run_id)) == 1
    # The message sent is the run's next attempt.
    assert executor.claim(dead) == Claim(dead, 2)
    assert tasks.reconcile_this_host(executor.db) == 0


@pytest.mark.docker
def test_the_reconciler_removes_the_sandboxes_of_runs_it_takes_over(
    executor: RunExecutor, sandboxes: Any, sent: list[str]
) -> None:
    expired, held = queued_run(executor, "expired"), queued_run(executor, "held")
    hold(executor, expired, "another-host:1", lease_over=True)
    hold(executor, held, "another-host:2")
    sandboxes.start(expired)
    kept = sandboxes.start(held)

    assert tasks.reconcile(executor, requeue_after=600) == 1
    assert sent == [expired]
    assert sandboxes.of(expired) == []
    assert sandboxes.of(held) == [kept.name]


def test_workers_starting_together_requeue_a_dead_workers_run_once(
    executor: RunExecutor, sent: list[str]
) -> None:
    run_ids = [queued_run(executor, f"together-{i}") for i in range(3)]
    for run_id in run_ids:
        hold(executor, run_id, f"{HOST}:{dead_pid()}")
    starting = 6
    barrier = threading.Barrier(starting)
    counts: list[int] = []

    def start_worker() -> None:
        barrier.wait()
        counts.append(tasks.reconcile_this_host(Database(executor.settings.database_url)))

    workers = [threading.Thread(target=start_worker) for _ in range(starting)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sum(counts) == 3
    assert sorted(sent) == sorted(run_ids)


# ---------------------------------------------------------------- the reconciler's passes


def test_a_reconciler_pass_is_noted_with_the_schedulers_interval(
    executor: RunExecutor, settings: Settings, monkeypatch: pytest.MonkeyPatch, sent: list[str]
) -> None:
    client = redis_client(settings.broker_url)
    assert last_reconciler_pass(client) is None
    monkeypatch.setattr(tasks, "_executor", lambda: executor)
    tasks.reconcile_task(every=7.0)
    noted = last_reconciler_pass(client)
    assert noted is not None
    assert noted.every == 7.0 and noted.age < 5 and not noted.stale
    assert noted.check().ok


def age_note(settings: Settings, seconds: float, every: float = 10.0) -> None:
    """A reconciler pass noted `seconds` ago."""
    client = redis_client(settings.broker_url)
    now, _ = client.time()
    client.set(RECONCILER_KEY, json.dumps({"at": now - seconds, "every": every}))


def readyz(settings: Settings) -> tuple[int, dict[str, Any]]:
    client = create_app(settings, celery=make_celery(settings)).test_client()
    response = client.get("/readyz")
    return response.status_code, response.get_json()


def test_readyz_without_any_scheduler_is_ready_and_says_so(settings: Settings) -> None:
    status, body = readyz(settings)
    assert status == 200, body
    assert body["checks"] == {"database": "ok", "broker": "ok", "artifacts": "ok"}
    assert body["reconciler"] == {"last_pass": None}


def test_readyz_reports_the_last_pass_and_is_not_ready_once_it_is_stale(settings: Settings) -> None:
    note_reconciler_pass(settings, 10.0)
    status, body = readyz(settings)
    assert status == 200 and body["status"] == "ready", body
    assert body["checks"]["reconciler"] == "ok"
    assert body["reconciler"]["every"] == 10.0 and body["reconciler"]["stale_after"] == 30.0
    assert body["reconciler"]["last_pass"].endswith("Z")

    age_note(settings, 29)  # within three intervals: a late pass is not a missing scheduler
    assert readyz(settings)[0] == 200
    age_note(settings, 31)
    status, body = readyz(settings)
    assert status == 503 and body["status"] == "not ready", body
    assert body["checks"]["reconciler"].startswith("stale: the last pass was at ")
    assert "acceptance scheduler" in body["checks"]["reconciler"]
    assert {"database", "broker", "artifacts"} <= set(body["checks"])


def test_readyz_ignores_a_note_it_cannot_read(settings: Settings) -> None:
    redis_client(settings.broker_url).set(RECONCILER_KEY, b"\xff not json")
    status, body = readyz(settings)
    assert status == 200 and body["reconciler"] == {"last_pass": None}, body


# ---------------------------------------------------------------- a worker with no scheduler


def test_a_worker_with_no_scheduler_warns_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="workers.startup")
    started = time.monotonic()
    assert watch_for_scheduler(settings.broker_url, 0.2, poll=0.05, grace=0) is False
    assert time.monotonic() - started < 5
    warnings = [r for r in caplog.records if r.getMessage() == "no_scheduler"]
    assert len(warnings) == 1
    assert warnings[0].detail == NO_SCHEDULER.format(seconds=0.6)  # type: ignore[attr-defined]
    assert "--beat" in warnings[0].detail  # type: ignore[attr-defined]


def test_a_worker_seeing_a_recent_pass_does_not_warn(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    age_note(settings, 20, every=10)
    assert watch_for_scheduler(settings.broker_url, 0.2, poll=0.05, grace=0) is True
    age_note(settings, 31, every=10)  # a scheduler that stopped is no scheduler
    caplog.set_level(logging.WARNING, logger="workers.startup")
    assert watch_for_scheduler(settings.broker_url, 0.2, poll=0.05, grace=0) is False
    assert [r.getMessage() for r in caplog.records] == ["no_scheduler"]


def test_a_pass_noted_while_the_worker_waits_ends_the_wait(settings: Settings) -> None:
    timer = threading.Timer(0.5, note_reconciler_pass, (settings, 30.0))
    timer.start()
    started = time.monotonic()
    try:
        assert watch_for_scheduler(settings.broker_url, 10, poll=0.05, grace=0) is True
    finally:
        timer.join()
    assert time.monotonic() - started < 5


def test_the_run_label_is_the_one_the_pipeline_puts_on_a_runs_sandbox() -> None:
    from acceptance.engine.pipeline import _Run

    engine_run = SimpleNamespace(report=SimpleNamespace(run={"id": "a1b2"}))
    labels = _Run._labels(engine_run, SimpleNamespace(commit="c" * 40))  # type: ignore[arg-type]
    assert labels[RUN_LABEL] == "a1b2"


def test_a_holder_killed_but_not_yet_reaped_is_dead() -> None:
    """A worker's pool process killed with its parent stays a zombie until init reaps it."""
    from workers.runner import holder_is_dead

    ended = subprocess.Popen(["true"])  # not waited for: a zombie once it exits
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{ended.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "`true` did not exit"
            time.sleep(0.01)
        assert holder_is_dead(f"{HOST}:{ended.pid}")
    finally:
        ended.wait()
    assert not holder_is_dead(worker_name())


# ---------------------------------------------------------------- not the supplier's fault


@pytest.mark.parametrize(
    ("lang", "detail", "legend"),
    [
        ("en", "this is not your fault and says nothing about your code",
         "“Could not judge” means the platform failed, not your code"),
        ("fr", "ce n'est pas de votre faute et cela ne dit rien de votre code",
         "«\u00a0Jugement impossible\u00a0» signifie que la plateforme a échoué"),
    ],
)  # fmt: skip
def test_the_supplier_page_says_a_platform_failure_is_not_their_fault(
    executor: RunExecutor, lang: str, detail: str, legend: str
) -> None:
    from tests.dashboard_support import compile_translations
    from tests.support import Recorder

    compile_translations()
    failed = queued_run(executor, "platform-failed")
    with executor.db.session() as session:
        run = session.get(Run, failed)
        assert run is not None
        run.status, run.verdict, run.finished_at = RunStatus.ERROR.value, "error", utcnow()
        judged, _ = create_run(session, run.submission, trigger="manual", ref="main")
        judged.status, judged.verdict = RunStatus.FINISHED.value, "accepted"
        accepted, token = judged.id, run.submission.status_token
    client = create_app(executor.settings, celery=Recorder()).test_client()
    client.set_cookie("acceptance_lang", lang)

    def page(url: str) -> str:
        reply = client.get(url, headers={"Accept": "text/html"})
        assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
        return reply.get_data(as_text=True)

    assert detail in page(f"/status/{token}/runs/{failed}")
    assert detail not in page(f"/status/{token}/runs/{accepted}")
    assert legend in page(f"/status/{token}")


def test_the_reconciler_intervals_are_settings_read_once_at_the_edge() -> None:
    base = {"ACCEPTANCE_DATA_DIR": "/tmp/acceptance-settings-test"}
    defaults = load_settings(base)
    assert (defaults.reconcile_every, defaults.requeue_after) == (30.0, 600.0)
    given = load_settings(
        {**base, "ACCEPTANCE_RECONCILE_EVERY": "2.5", "ACCEPTANCE_REQUEUE_AFTER": "45"}
    )
    assert (given.reconcile_every, given.requeue_after) == (2.5, 45.0)
    schedule = make_celery(given).conf.beat_schedule["reconcile"]
    assert schedule["schedule"] == 2.5 and schedule["kwargs"] == {"every": 2.5}
    for name in ("ACCEPTANCE_RECONCILE_EVERY", "ACCEPTANCE_REQUEUE_AFTER"):
        with pytest.raises(UserInputError, match=name):
            load_settings({**base, name: "soon"})


def test_a_queued_run_is_sent_again_after_the_requeue_after_setting(
    executor: RunExecutor, sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = queued_run(executor, "waiting")
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.enqueued_at = utcnow() - dt.timedelta(seconds=120)
        session.commit()
    settings = executor.settings
    monkeypatch.setattr(executor, "settings", dataclasses.replace(settings, requeue_after=600.0))
    assert tasks.reconcile(executor) == 0
    monkeypatch.setattr(executor, "settings", dataclasses.replace(settings, requeue_after=60.0))
    assert tasks.reconcile(executor) == 1
    assert sent == [run_id]
