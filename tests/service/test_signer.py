"""The dedicated signer (ACCEPTANCE_SIGNER=queue): workers hold no private key, the signer signs
only a report of the run and attempt the database says the asking worker holds, and a signer
that does not answer gives the run back for a retry, never a run stuck or finished unsigned."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acceptance.engine.report import ReportInput, build_statement, serialize
from acceptance.engine.signing import (
    generate_keypair,
    load_private_key,
    load_public_key,
    verify_envelope,
)
from acceptance.errors import UserInputError
from acceptance.service.accounts import create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.models import Run, RunStatus
from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import Settings, load_settings
from workers import runner as runner_module
from workers.runner import Claim, Outcome, RunExecutor
from workers.signer import (
    SignedReport,
    Signer,
    SignerUnavailable,
    SigningRefused,
    report_signer,
)

ACCEPTANCE = str(Path(sys.executable).parent / "acceptance")
#: a Redis database no other test uses (they take 0, 5 and 8-15)
SIGNER_REDIS = os.environ.get("ACCEPTANCE_TEST_REDIS", "redis://127.0.0.1:6379") + "/6"


# ---------------------------------------------------------------- a database with runs


def make_settings(root: Path, database_url: str, **env: str) -> Settings:
    return load_settings(
        {"ACCEPTANCE_DATA_DIR": str(root), "ACCEPTANCE_DATABASE_URL": database_url, **env}
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    found = make_settings(tmp_path / "worker", database_url, ACCEPTANCE_SIGNER="queue")
    upgrade(found.database_url)
    return found


@pytest.fixture
def db(settings: Settings) -> Database:
    return Database(settings.database_url)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    generate_keypair(tmp_path / "signer" / "keys")
    return tmp_path / "signer" / "keys"


def queued_run(settings: Settings, db: Database) -> str:
    with db.session() as session:
        owner = create_user(
            session, f"{uuid.uuid4().hex[:8]}@example.org", "owner", "a long password 1"
        )
        spec = b"version: 1\ntitle: T\nlimits: {timeout: 100}\nfunctional: {timeout: 50}\n"
        version = publish_spec(session, owner, SpecUpload(spec), settings.specs_dir)
        submission, _ = register_submission(
            session, owner, version.opportunity, repo_url="https://example.org/r.git",
            supplier="S", branch=None, box=SecretBox(settings.secrets_key),
        )  # fmt: skip
        return create_run(session, submission, trigger="manual", ref="main")[0].id


def claimed_run(settings: Settings, db: Database) -> Claim:
    claim = RunExecutor(settings, db, signer=NoSigner()).claim(queued_run(settings, db))
    assert isinstance(claim, Claim)
    return claim


def statement(db: Database, run_id: str, attempt: int, **context: object) -> dict[str, Any]:
    """The statement `RunExecutor.execute` builds for this run (`context` overrides its run part)."""
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        source, submission = run.submission.repo_url, run.submission_id
    report = ReportInput(
        source_url=source, ref="main", spec={"title": "T"}, started=dt.datetime.now(dt.UTC),
        run={"id": run_id, "submission": submission, "trigger": "manual", "attempt": attempt,
             **context},
    )  # fmt: skip
    return build_statement(report)


def encoded(document: dict[str, Any] | bytes) -> str:
    payload = document if isinstance(document, bytes) else serialize(document)
    return base64.standard_b64encode(payload).decode("ascii")


def state(db: Database, run_id: str) -> Run:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.expunge(run)
        return run


class NoSigner:
    """A signer that must not be asked."""

    def sign(self, run_id: str, attempt: int, payload: bytes) -> SignedReport:
        raise AssertionError("nothing should be signed here")


class Failing:
    """A signer that fails as told."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.asked = 0

    def sign(self, run_id: str, attempt: int, payload: bytes) -> SignedReport:
        self.asked += 1
        raise self.error


def private_keys_under(folder: Path) -> list[Path]:
    """Key files, or any file holding a PEM private key, under `folder`."""
    return [
        p for p in folder.rglob("*")
        if p.is_file() and (p.name == "signing.key" or b"PRIVATE KEY" in p.read_bytes()[:4096])
    ]  # fmt: skip


# ---------------------------------------------------------------- settings


def test_the_signer_setting_is_local_by_default_and_refuses_anything_else(tmp_path: Path) -> None:
    base = {"ACCEPTANCE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).signer == "local" and load_settings(base).sign_timeout == 60
    found = load_settings(
        {**base, "ACCEPTANCE_SIGNER": " Queue ", "ACCEPTANCE_SIGN_TIMEOUT": "2.5"}
    )
    assert (found.signer, found.sign_timeout) == ("queue", 2.5)
    with pytest.raises(UserInputError, match="ACCEPTANCE_SIGNER is 'remote': use `local`"):
        load_settings({**base, "ACCEPTANCE_SIGNER": "remote"})
    for bad in ("0", "-1", "soon", "nan"):
        with pytest.raises(UserInputError, match="ACCEPTANCE_SIGN_TIMEOUT"):
            load_settings({**base, "ACCEPTANCE_SIGN_TIMEOUT": bad})


def test_the_sign_task_has_its_own_queue_and_a_result(tmp_path: Path) -> None:
    from workers.celery_app import SIGN_TASK, SIGNING_QUEUE, make_celery
    from workers.tasks import sign_task

    settings = load_settings(
        {"ACCEPTANCE_DATA_DIR": str(tmp_path), "ACCEPTANCE_BROKER_URL": SIGNER_REDIS}
    )
    conf = make_celery(settings).conf
    assert conf.task_routes[SIGN_TASK] == {"queue": SIGNING_QUEUE}
    assert conf.result_backend == settings.broker_url and conf.result_expires <= 3600
    assert conf.task_ignore_result is True and sign_task.ignore_result is False


# ---------------------------------------------------------------- what the signer signs


def test_the_signer_signs_the_report_of_the_attempt_that_holds_the_run(
    settings: Settings, db: Database, key_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    claim = claimed_run(settings, db)
    payload = serialize(statement(db, claim.run_id, claim.attempt))
    signer = Signer(db, load_private_key(key_dir / "signing.key"))
    with caplog.at_level(logging.INFO, logger="workers.signer"):
        answer = signer.sign(claim.run_id, claim.attempt, encoded(payload))
    verified = verify_envelope(answer["envelope"], [load_public_key(key_dir / "signing.pub")])
    assert verified.payload == payload and verified.keyid == answer["key_id"] == signer.key_id
    (record,) = [r for r in caplog.records if r.getMessage() == "report_signed"]
    assert vars(record)["run"] == claim.run_id
    assert vars(record)["statement_sha256"] == hashlib.sha256(payload).hexdigest()
    assert vars(record)["key_id"] == signer.key_id


def _unknown_run(db: Database, claim: Claim) -> tuple[str, int, str]:
    other = "f" * 32
    return other, 1, encoded(statement(db, claim.run_id, 1, id=other))


def _not_running(db: Database, claim: Claim) -> tuple[str, int, str]:
    with db.session() as session:
        run = session.get(Run, claim.run_id)
        assert run is not None
        run.status = RunStatus.QUEUED.value
    return claim.run_id, claim.attempt, encoded(statement(db, claim.run_id, claim.attempt))


def _an_earlier_attempt(db: Database, claim: Claim) -> tuple[str, int, str]:
    with db.session() as session:
        run = session.get(Run, claim.run_id)
        assert run is not None
        run.attempts += 1  # taken over since
    return claim.run_id, claim.attempt, encoded(statement(db, claim.run_id, claim.attempt))


def _another_attempt_in_the_statement(db: Database, claim: Claim) -> tuple[str, int, str]:
    return claim.run_id, claim.attempt, encoded(statement(db, claim.run_id, claim.attempt + 1))


def _another_run_in_the_statement(db: Database, claim: Claim) -> tuple[str, int, str]:
    return claim.run_id, claim.attempt, encoded(statement(db, claim.run_id, 1, id="e" * 32))


def _another_submission(db: Database, claim: Claim) -> tuple[str, int, str]:
    document = statement(db, claim.run_id, claim.attempt, submission="d" * 32)
    return claim.run_id, claim.attempt, encoded(document)


def _another_source(db: Database, claim: Claim) -> tuple[str, int, str]:
    document = statement(db, claim.run_id, claim.attempt)
    document["predicate"]["source"]["url"] = "https://example.org/other.git"
    return claim.run_id, claim.attempt, encoded(document)


def _not_json(db: Database, claim: Claim) -> tuple[str, int, str]:
    return claim.run_id, claim.attempt, encoded(b"\x00 not json")


def _not_a_statement(db: Database, claim: Claim) -> tuple[str, int, str]:
    document = statement(db, claim.run_id, claim.attempt)
    document["_type"] = "https://example.org/Other"
    return claim.run_id, claim.attempt, encoded(document)


def _another_predicate(db: Database, claim: Claim) -> tuple[str, int, str]:
    document = statement(db, claim.run_id, claim.attempt)
    document["predicateType"] = "https://slsa.dev/provenance/v1"
    return claim.run_id, claim.attempt, encoded(document)


def _duplicate_keys(db: Database, claim: Claim) -> tuple[str, int, str]:
    # Python reads the last "run", another verifier may read the first: not canonical.
    payload = serialize(statement(db, claim.run_id, claim.attempt))
    tampered = payload.replace(b'"run":{', b'"run":{"id":"' + b"e" * 32 + b'"},"run":{', 1)
    return claim.run_id, claim.attempt, encoded(tampered)


def _no_base64(db: Database, claim: Claim) -> tuple[str, int, str]:
    return claim.run_id, claim.attempt, "{not base64}"


REFUSALS: dict[str, tuple[Callable[[Database, Claim], tuple[str, int, str]], str]] = {
    "unknown run": (_unknown_run, "run f{32} does not exist"),
    "run not running": (_not_running, "is queued, not running"),
    "an earlier attempt": (_an_earlier_attempt, "attempt 1 does not hold run .* at attempt 2"),
    "another attempt in the statement": (_another_attempt_in_the_statement, "of attempt 2, not attempt 1"),
    "another run in the statement": (_another_run_in_the_statement, "about run e{32}, not run"),
    "another submission": (_another_submission, "another submission"),
    "another source": (_another_source, "another source"),
    "not JSON": (_not_json, "not JSON"),
    "not a statement": (_not_a_statement, "not an in-toto Statement"),
    "another predicate": (_another_predicate, "not an acceptance report"),
    "duplicate keys": (_duplicate_keys, "canonical"),
    "no base64": (_no_base64, "not valid base64"),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS)
def test_the_signer_refuses_what_is_not_the_report_of_a_held_run(
    case: str, settings: Settings, db: Database, key_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make, why = REFUSALS[case]
    claim = claimed_run(settings, db)
    run_id, attempt, payload = make(db, claim)
    with caplog.at_level(logging.INFO, logger="workers.signer"):
        with pytest.raises(SigningRefused, match=why):
            Signer(db, load_private_key(key_dir / "signing.key")).sign(run_id, attempt, payload)
    messages = [r.getMessage() for r in caplog.records]
    assert "sign_refused" in messages and "report_signed" not in messages


# ---------------------------------------------------------------- the worker's side


def test_a_refusal_ends_the_run_in_error_without_a_report(settings: Settings, db: Database) -> None:
    claim = claimed_run(settings, db)
    refusing = Failing(SigningRefused("run x is queued, not running"))
    executor = RunExecutor(settings, db, signer=refusing)
    document = statement(db, claim.run_id, claim.attempt)
    assert executor._finish(claim, document, {"install": "ok"}, {}) == Outcome.DONE
    run = state(db, claim.run_id)
    assert (run.status, run.verdict, run.reason_codes) == ("error", "error", ["SIGNING_REFUSED"])
    assert run.error and "refused" in run.error and "queued, not running" in run.error
    assert run.report_sha256 is None and run.artifacts == {} and run.lease_until is None


def test_no_signer_answer_gives_the_run_back_then_ends_it_in_error_unsigned(
    settings: Settings, db: Database
) -> None:
    claim = claimed_run(settings, db)
    silent = Failing(SignerUnavailable("no signature from the signer within 1 s"))
    executor = RunExecutor(settings, db, signer=silent)
    for attempt in range(1, runner_module.MAX_PLATFORM_FAILURES):
        document = statement(db, claim.run_id, attempt)
        assert executor._finish(Claim(claim.run_id, attempt), document, {}, {}) == Outcome.RETRY
        run = state(db, claim.run_id)
        assert run.status == RunStatus.QUEUED.value and run.report_sha256 is None
        assert executor.claim(claim.run_id) == Claim(claim.run_id, attempt + 1)
    last = Claim(claim.run_id, runner_module.MAX_PLATFORM_FAILURES)
    document = statement(db, last.run_id, last.attempt)
    assert executor._finish(last, document, {}, {}) == Outcome.DONE  # out of tries
    run = state(db, claim.run_id)
    assert (run.status, run.reason_codes) == ("error", ["SIGNER_UNAVAILABLE"])
    assert run.report_sha256 is None and run.error and "within 1 s" in run.error
    assert silent.asked == last.attempt


def test_in_queue_mode_the_worker_needs_no_key(settings: Settings, db: Database) -> None:
    from acceptance.cli.engine_commands import _doctor_checks
    from acceptance.service.artifacts_s3 import artifact_store
    from acceptance.service.readiness import worker_checks
    from workers.celery_app import make_celery
    from workers.signer import QueueSigner

    assert isinstance(report_signer(settings), QueueSigner)
    assert isinstance(RunExecutor(settings, db).signer, QueueSigner)
    checks = worker_checks(settings, make_celery(settings), artifact_store(settings), ping=False)
    assert "signing key" not in {c.name for c in checks}
    assert any(
        ok and "held by `acceptance signer`" in what for ok, what, _ in _doctor_checks(settings)
    )
    assert private_keys_under(settings.data_dir) == []


def test_the_signer_refuses_to_start_without_a_key_and_creates_none(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from acceptance.cli import main

    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path / "signer"))
    monkeypatch.setenv("ACCEPTANCE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ACCEPTANCE_BROKER_URL", SIGNER_REDIS)
    assert main(["signer"]) == 3
    stderr = capsys.readouterr().err
    assert "signing.key does not exist" in stderr and "acceptance keygen --out" in stderr
    assert not (tmp_path / "signer").exists() or private_keys_under(tmp_path / "signer") == []
    # Nor does a worker take the signer's queue (it would sign with a key of its own).
    assert main(["worker", "--queues", "runs,signing"]) == 2
    assert "acceptance signer" in capsys.readouterr().err


# ---------------------------------------------------------------- real processes, real Redis


class Process:
    """An `acceptance` subprocess in its own process group, its output in a file."""

    def __init__(self, log: Path, env: dict[str, str], *args: str) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [ACCEPTANCE, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.mark.service
@pytest.mark.slow
def test_a_signer_process_signs_for_a_worker_that_holds_no_key(
    settings: Settings, db: Database, key_dir: Path, broker_url: str, tmp_path: Path
) -> None:
    common = {k: v for k, v in os.environ.items() if not k.startswith("ACCEPTANCE_")}
    common.update(
        ACCEPTANCE_DATABASE_URL=settings.database_url, ACCEPTANCE_BROKER_URL=broker_url,
        ACCEPTANCE_LOG_FORMAT="json",
    )  # fmt: skip
    # As compose runs it: the key from a secret file, no data volume (its data dir never exists).
    env = {
        **common, "ACCEPTANCE_DATA_DIR": str(tmp_path / "no-volume"),
        "ACCEPTANCE_SIGNING_KEY": str(key_dir / "signing.key"),
    }  # fmt: skip
    # Not waited for: the worker's first request waits in the queue until the signer is up.
    signer = Process(tmp_path / "signer.log", env, "signer")
    processes = [signer]
    try:
        worker = make_settings(
            settings.data_dir, settings.database_url, ACCEPTANCE_SIGNER="queue",
            ACCEPTANCE_BROKER_URL=broker_url, ACCEPTANCE_SIGN_TIMEOUT="30",
        )  # fmt: skip
        executor = RunExecutor(worker, db)

        # The report of the run this worker holds: signed, stored, verifiable.
        claim = claimed_run(worker, db)
        document = statement(db, claim.run_id, claim.attempt)
        outcome = executor._finish(claim, document, {"install": "ok"}, {"junit.xml": b"<x/>"})
        assert outcome == Outcome.DONE, signer.output()
        run = state(db, claim.run_id)
        assert run.status == RunStatus.FINISHED.value and run.report_sha256, signer.output()
        envelope = json.loads(executor.store.get(run.report_sha256))
        verified = verify_envelope(envelope, [load_public_key(key_dir / "signing.pub")])
        assert verified.payload == serialize(document) and run.key_id == verified.keyid
        assert private_keys_under(worker.data_dir) == []  # nothing created on the worker's side

        # A statement about another run: refused by the signer, the run ends in error unsigned.
        refused = claimed_run(worker, db)
        other = statement(db, refused.run_id, refused.attempt, id=claim.run_id)
        assert executor._finish(refused, other, {}, {}) == Outcome.DONE
        run = state(db, refused.run_id)
        assert (run.status, run.reason_codes, run.report_sha256) == (
            "error", ["SIGNING_REFUSED"], None,
        )  # fmt: skip
        assert f"about run {claim.run_id}, not run {refused.run_id}" in (run.error or "")

        # Every signature and refusal is in the signer's log.
        events = [json.loads(line) for line in signer.output().splitlines() if line.startswith("{")]
        signed = [e for e in events if e.get("event") == "report_signed"]
        assert [(e["run"], e["statement_sha256"], e["key_id"]) for e in signed] == [
            (claim.run_id, hashlib.sha256(serialize(document)).hexdigest(), verified.keyid)
        ]
        assert any(e.get("event") == "sign_refused" and e["run"] == refused.run_id for e in events)

        health = subprocess.run(
            [ACCEPTANCE, "worker-health", "--signer", "--ping", "--json"], env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert health.returncode == 0, health.stdout + health.stderr
        names = [c["name"] for c in json.loads(health.stdout)]
        assert names == ["database", "broker", "signing key", "worker"]

        # A real `acceptance worker` holding no key: its run's report is signed by the signer
        # (the sign task awaited inside the run task). The source is refused before any sandbox.
        worker_env = {
            **common, "ACCEPTANCE_DATA_DIR": str(worker.data_dir), "ACCEPTANCE_SIGNER": "queue",
            "ACCEPTANCE_GIT_ALLOWED_HOSTS": "git.internal",
        }  # fmt: skip
        processes.append(Process(tmp_path / "worker.log", worker_env, "worker", "--queues", "runs"))
        from workers.celery_app import enqueue_run, make_celery

        run_id = queued_run(worker, db)
        enqueue_run(make_celery(worker), run_id, 100)
        deadline = time.monotonic() + 90
        while state(db, run_id).status not in ("finished", "error") and time.monotonic() < deadline:
            time.sleep(0.5)
        run = state(db, run_id)
        logs = signer.output() + processes[-1].output()
        assert (run.status, run.verdict, run.reason_codes) == (
            "finished", "rejected", ["SOURCE_UNUSABLE"],
        ), logs  # fmt: skip
        assert run.platform_failures == 0, logs  # answered the first time, from inside the task
        envelope = json.loads(executor.store.get(run.report_sha256 or ""))
        verified = verify_envelope(envelope, [load_public_key(key_dir / "signing.pub")])
        assert json.loads(verified.payload)["predicate"]["run"]["id"] == run_id
        assert private_keys_under(worker.data_dir) == []
        assert not (tmp_path / "no-volume").exists()  # the signer needs no writable data dir
    finally:
        for process in processes:
            process.stop()


@pytest.mark.service
@pytest.mark.slow
def test_with_no_signer_running_the_run_is_given_back_for_a_retry(
    settings: Settings, db: Database, broker_url: str
) -> None:
    worker = make_settings(
        settings.data_dir, settings.database_url, ACCEPTANCE_SIGNER="queue",
        ACCEPTANCE_BROKER_URL=broker_url, ACCEPTANCE_SIGN_TIMEOUT="1",
    )  # fmt: skip
    executor = RunExecutor(worker, db)
    claim = claimed_run(worker, db)
    started = time.monotonic()
    document = statement(db, claim.run_id, claim.attempt)
    assert executor._finish(claim, document, {}, {}) == Outcome.RETRY
    assert time.monotonic() - started < 10
    run = state(db, claim.run_id)
    assert (run.status, run.platform_failures, run.report_sha256) == ("queued", 1, None)
    assert run.worker is None and run.lease_until is None
    assert private_keys_under(worker.data_dir) == []


@pytest.mark.service
@pytest.mark.slow
def test_with_the_broker_down_the_run_is_given_back_for_a_retry(
    settings: Settings, db: Database
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    worker = make_settings(
        settings.data_dir, settings.database_url, ACCEPTANCE_SIGNER="queue",
        ACCEPTANCE_BROKER_URL=f"redis://127.0.0.1:{closed}/0", ACCEPTANCE_SIGN_TIMEOUT="1",
    )  # fmt: skip
    claim = claimed_run(worker, db)
    document = statement(db, claim.run_id, claim.attempt)
    started = time.monotonic()
    assert RunExecutor(worker, db)._finish(claim, document, {}, {}) == Outcome.RETRY
    assert time.monotonic() - started < 10
    assert state(db, claim.run_id).status == RunStatus.QUEUED.value
