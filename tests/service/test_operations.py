"""Operations: structured logs with run ids, Prometheus metrics, served public keys (rotation)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from acceptance.engine.signing import generate_keypair, keyid_for, load_public_key
from acceptance.logs import (
    JsonFormatter,
    KeyValueFormatter,
    RunContextFilter,
    bind_celery_logging,
    configure_logging,
    run_context,
)
from acceptance.service.accounts import create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.models import Run, RunStatus, utcnow
from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import Settings, load_settings
from web.app import create_app

# ---------------------------------------------------------------- logs


def _capture(fmt: str) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    handler.addFilter(RunContextFilter())
    logger = logging.getLogger(f"test.logs.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream, handler


def test_json_lines_carry_the_run_id_and_the_extras() -> None:
    log, stream, _ = _capture("json")
    with run_context("run-1"):
        log.info("stage_finished", extra={"stage": "functional", "seconds": 1.5})
        try:
            raise RuntimeError("docker went away")
        except RuntimeError:
            log.exception("platform_failure")
    log.warning("run_requeued", extra={"run": "run-2"})
    log.info("outside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [entry["event"] for entry in lines] == [
        "stage_finished",
        "platform_failure",
        "run_requeued",
        "outside",
    ]
    assert lines[0] | {"ts": None} == {
        "ts": None, "level": "info", "logger": log.name, "event": "stage_finished",
        "stage": "functional", "seconds": 1.5, "run": "run-1",
    }  # fmt: skip
    assert lines[1]["run"] == "run-1" and "RuntimeError: docker went away" in lines[1]["exception"]
    assert lines[2]["run"] == "run-2"  # named explicitly: kept
    assert "run" not in lines[3]
    assert dt.datetime.fromisoformat(lines[0]["ts"]).tzinfo is not None


def test_text_lines_append_key_values_quoting_what_needs_it() -> None:
    log, stream, _ = _capture("text")
    with run_context("abc"):
        log.warning("run_taken_over", extra={"from": "host a:12"})
    assert (
        stream.getvalue().strip() == f'WARNING {log.name}: run_taken_over from="host a:12" run=abc'
    )


def test_configure_logging_respects_a_root_logger_set_up_by_someone_else() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        root.handlers = [logging.NullHandler()]
        configure_logging("json", "INFO", stream)
        assert len(root.handlers) == 1  # left alone, as basicConfig does
        configure_logging("json", "INFO", stream, force=True)
        configure_logging("json", "INFO", stream, force=True)  # replaces its own, no duplicates
        assert sum(getattr(h, "_acceptance", False) for h in root.handlers) == 1
        logging.getLogger("x").info("hello", extra={"queue": "runs"})
        assert json.loads(stream.getvalue())["queue"] == "runs"
        with pytest.raises(ValueError, match="unknown log format"):
            configure_logging("xml", force=True)
    finally:
        root.handlers, root.level = saved


def test_celery_tasks_log_with_their_run_id() -> None:
    from celery import signals

    log, stream, _ = _capture("json")
    bind_celery_logging("json")

    class Task:
        name = "acceptance.run"

    signals.task_prerun.send(sender=None, task_id="t1", task=Task(), args=["run-42"])
    log.info("cloning")
    signals.task_postrun.send(sender=None, task_id="t1", task=Task(), args=["run-42"])
    log.info("idle")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["run"] == "run-42" and "run" not in second


# ---------------------------------------------------------------- a service on SQLite


class Recorder:
    """A Celery stand-in without a broker: metrics must report the broker as down."""

    def send_task(self, *args: Any, **kwargs: Any) -> None:
        pass


#: what Prometheus sends in these tests: /metrics wants a token unless ACCEPTANCE_METRICS_PUBLIC=1
SCRAPE_TOKEN = "scrape-token-for-tests"


def make_settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(
        {
            "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
            "ACCEPTANCE_METRICS_TOKEN": SCRAPE_TOKEN,
            **env,
        }
    )


def seed_runs(settings: Settings, count: int) -> list[str]:
    db = Database(settings.database_url)
    with db.session() as session:
        owner = create_user(
            session, f"{uuid.uuid4().hex[:8]}@example.org", "owner", "a long password 1"
        )
        spec = b"version: 1\ntitle: T\n"
        version = publish_spec(session, owner, SpecUpload(spec), settings.specs_dir)
        submission, _ = register_submission(
            session, owner, version.opportunity, repo_url="https://example.org/r.git",
            supplier="S", branch=None, box=SecretBox(settings.secrets_key),
        )  # fmt: skip
        return [
            create_run(session, submission, trigger="manual", ref="main")[0].id
            for _ in range(count)
        ]


def finish(
    settings: Settings, run_id: str, verdict: str, *, reasons: list[str], seconds: float
) -> None:
    now = utcnow()
    with Database(settings.database_url).session() as session:
        session.execute(
            update(Run).where(Run.id == run_id).values(
                status=RunStatus.ERROR.value if verdict == "error" else RunStatus.FINISHED.value,
                verdict=verdict,
                reason_codes=reasons,
                stages=[{"name": "clone", "seconds": 0.5, "status": "ok"},
                        {"name": "functional", "seconds": seconds, "status": "ok"}],
                queued_at=now - dt.timedelta(seconds=seconds + 10),
                started_at=now - dt.timedelta(seconds=seconds + 2),
                finished_at=now,
                platform_failures=1 if verdict == "error" else 0,
            )
        )  # fmt: skip


def scrape(client: Any, **headers: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = client.get(
        "/metrics", headers=headers or {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    )
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    found = make_settings(tmp_path)
    upgrade(found.database_url)
    return found


def test_metrics_count_runs_verdicts_stages_and_sandbox_failures(settings: Settings) -> None:
    runs = seed_runs(settings, 4)
    finish(settings, runs[0], "accepted", reasons=[], seconds=3)
    finish(settings, runs[1], "rejected", reasons=["TESTS_FAILED"], seconds=40)
    finish(settings, runs[2], "rejected", reasons=["MEMORY_LIMIT"], seconds=7)
    client = create_app(settings, celery=Recorder()).test_client()

    found = scrape(client)
    assert found["acceptance_database_up"][()] == 1
    assert found["acceptance_broker_up"][()] == 0  # no broker behind the stand-in
    assert "acceptance_queue_depth" not in found
    assert found["acceptance_runs"][(("status", "queued"),)] == 1
    assert found["acceptance_runs"][(("status", "finished"),)] == 3
    assert found["acceptance_oldest_queued_run_seconds"][()] >= 0
    verdicts = found["acceptance_run_verdicts_total"]
    assert verdicts == {(("verdict", "accepted"),): 1, (("verdict", "rejected"),): 2}
    assert found["acceptance_run_reasons_total"] == {
        (("reason", "MEMORY_LIMIT"),): 1, (("reason", "TESTS_FAILED"),): 1,
    }  # fmt: skip
    assert found["acceptance_sandbox_failures_total"] == {(("reason", "MEMORY_LIMIT"),): 1}
    stage = found["acceptance_run_stage_duration_seconds_bucket"]
    assert stage[(("le", "5"), ("stage", "functional"))] == 1
    assert stage[(("le", "60"), ("stage", "functional"))] == 3
    assert stage[(("le", "1"), ("stage", "clone"))] == 3
    assert found["acceptance_run_stage_duration_seconds_count"][(("stage", "functional"),)] == 3
    assert found["acceptance_run_stage_duration_seconds_sum"][(("stage", "functional"),)] == 50
    assert found["acceptance_run_duration_seconds_count"][()] == 3
    assert found["acceptance_run_queue_wait_seconds_sum"][()] == pytest.approx(24, abs=0.5)

    # Incremental: the next scrape counts the newly finished run once, the old ones not again.
    finish(settings, runs[3], "error", reasons=["PLATFORM_ERROR"], seconds=1)
    for _ in range(2):
        found = scrape(client)
    assert found["acceptance_run_stage_duration_seconds_count"][(("stage", "functional"),)] == 4
    assert found["acceptance_sandbox_failures_total"][(("reason", "PLATFORM_ERROR"),)] == 1
    assert found["acceptance_run_verdicts_total"][(("verdict", "error"),)] == 1
    assert found["acceptance_platform_failures_total"][()] == 1
    assert found["acceptance_runs"][(("status", "queued"),)] == 0

    # A fresh process (another gunicorn worker) reads the history once and agrees.
    other = create_app(settings, celery=Recorder()).test_client()
    assert scrape(other)["acceptance_run_duration_seconds_count"][()] == 4


def test_metrics_survive_a_database_outage(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, ACCEPTANCE_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x"
    )
    found = scrape(create_app(settings, celery=Recorder()).test_client())
    assert found["acceptance_database_up"][()] == 0


def test_metrics_can_require_a_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ACCEPTANCE_METRICS_TOKEN="s3cret-token")
    upgrade(settings.database_url)
    client = create_app(settings, celery=Recorder()).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, Authorization="Bearer s3cret-token")["acceptance_database_up"][()] == 1


def test_queue_depth_comes_from_the_real_broker(settings: Settings, broker_url: str) -> None:
    from workers.celery_app import RUNS_QUEUE, enqueue_run, make_celery

    settings = load_settings(
        {"ACCEPTANCE_DATA_DIR": str(settings.data_dir), "ACCEPTANCE_BROKER_URL": broker_url,
         "ACCEPTANCE_METRICS_TOKEN": SCRAPE_TOKEN}
    )  # fmt: skip
    celery = make_celery(settings)
    client = create_app(settings, celery=celery).test_client()
    found = scrape(client)
    assert found["acceptance_broker_up"][()] == 1
    assert found["acceptance_queue_depth"] == {
        (("queue", "runs"),): 0, (("queue", "service"),): 0, (("queue", "signing"),): 0,
    }  # fmt: skip
    for run_id in ("a", "b", "c"):
        enqueue_run(celery, run_id, 60)
    assert scrape(client)["acceptance_queue_depth"][(("queue", RUNS_QUEUE),)] == 3


# ---------------------------------------------------------------- keys and rotation


def test_keys_serves_the_current_key_first_then_retired_ones(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    generate_keypair(keys)
    retired = tmp_path / "retired"
    for name in ("2025-01", "2025-06"):
        generate_keypair(tmp_path / name)
        retired.mkdir(exist_ok=True)
        (retired / f"{name}.pub").write_bytes((tmp_path / name / "signing.pub").read_bytes())
    (retired / "duplicate.pub").write_bytes((keys / "signing.pub").read_bytes())  # listed once
    (retired / "broken.pub").write_text("not a key")  # skipped, logged
    (retired / "leak.pub").write_bytes(
        (tmp_path / "2025-01" / "signing.key").read_bytes()
    )  # never served
    settings = make_settings(
        tmp_path,
        ACCEPTANCE_SIGNING_KEY=str(keys / "signing.key"),
        ACCEPTANCE_RETIRED_KEYS_DIR=str(retired),
    )
    upgrade(settings.database_url)
    body = create_app(settings, celery=Recorder()).test_client().get("/api/v1/keys").get_json()
    ids = [(k["keyid"], k["status"]) for k in body["keys"]]
    expected = [
        (keyid_for(load_public_key(keys / "signing.pub")), "current"),
        (keyid_for(load_public_key(tmp_path / "2025-01" / "signing.pub")), "retired"),
        (keyid_for(load_public_key(tmp_path / "2025-06" / "signing.pub")), "retired"),
    ]
    assert ids == expected
    assert all("PRIVATE" not in k["pem"] for k in body["keys"])


def test_the_retired_folder_defaults_to_beside_the_signing_key(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.retired_keys_dir == settings.signing_key.parent / "retired"
