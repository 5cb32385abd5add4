"""Exactly-once run execution: claims, leases, takeovers and the reconciler, on a real database."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest

from acceptance.service.accounts import create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.models import Run, RunStatus, utcnow
from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import load_settings
from workers import runner as runner_module
from workers.runner import Claim, Outcome, RunExecutor, holder_is_dead, worker_name


@pytest.fixture
def executor(tmp_path: Path) -> RunExecutor:
    settings = load_settings({"ACCEPTANCE_DATA_DIR": str(tmp_path / "data")})
    upgrade(settings.database_url)
    return RunExecutor(settings, Database(settings.database_url))


def queued_run(executor: RunExecutor, delivery: str | None = None) -> str:
    settings = executor.settings
    with executor.db.session() as session:
        owner = create_user(session, f"o{delivery}@example.org", "owner", "a long password 1")
        spec = b"version: 1\ntitle: T\nlimits: {timeout: 100}\nfunctional: {timeout: 50}\n"
        version = publish_spec(session, owner, SpecUpload(spec), settings.specs_dir)
        submission, _ = register_submission(
            session, owner, version.opportunity, repo_url="https://example.org/r.git",
            supplier="S", branch=None, box=SecretBox(settings.secrets_key),
        )  # fmt: skip
        run, created = create_run(
            session, submission, trigger="webhook", ref="main", delivery_id=delivery
        )
        assert created
        return run.id


def state(executor: RunExecutor, run_id: str) -> Run:
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.expunge(run)
        return run


def test_a_claim_holds_the_run_with_a_lease_from_the_spec(executor: RunExecutor) -> None:
    run_id = queued_run(executor)
    claim = executor.claim(run_id)
    assert claim == Claim(run_id, 1)
    run = state(executor, run_id)
    assert run.status == RunStatus.RUNNING.value and run.worker == worker_name()
    assert run.lease_until is not None
    lease = (run.lease_until - utcnow()).total_seconds()
    assert 100 + runner_module.LEASE_MARGIN - 5 < lease <= 100 + runner_module.LEASE_MARGIN
    # A second delivery while this live process holds it: busy, not a second execution.
    assert executor.claim(run_id) == Outcome.BUSY


def test_finished_runs_are_not_run_again(executor: RunExecutor) -> None:
    run_id = queued_run(executor)
    claim = executor.claim(run_id)
    assert isinstance(claim, Claim)
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.status = RunStatus.FINISHED.value
    assert executor.claim(run_id) == Outcome.DONE
    assert executor.claim("f" * 32) == Outcome.MISSING


def test_a_dead_holder_on_this_host_is_taken_over(executor: RunExecutor) -> None:
    run_id = queued_run(executor)
    assert isinstance(executor.claim(run_id), Claim)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.worker = f"{worker_name().rsplit(':', 1)[0]}:{dead.pid}"
    assert holder_is_dead(state(executor, run_id).worker)
    assert executor.claim(run_id) == Claim(run_id, 2)


def test_an_expired_lease_is_taken_over_even_from_another_host(executor: RunExecutor) -> None:
    run_id = queued_run(executor)
    assert isinstance(executor.claim(run_id), Claim)
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.worker = "another-host:1"
    assert executor.claim(run_id) == Outcome.BUSY
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.lease_until = utcnow() - dt.timedelta(seconds=1)
    assert executor.claim(run_id) == Claim(run_id, 2)


def test_only_the_current_claim_may_finish_the_run(
    executor: RunExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = queued_run(executor)
    stale = executor.claim(run_id)
    assert isinstance(stale, Claim)
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.lease_until = utcnow() - dt.timedelta(seconds=1)
    current = executor.claim(run_id)
    assert current == Claim(run_id, 2)
    statement = _statement("accepted")
    executor._finish(stale, statement, {}, {})
    assert state(executor, run_id).status == RunStatus.RUNNING.value  # the stale result is dropped
    executor._finish(current, statement, {"install": "ok"}, {"junit.xml": b"<testsuites/>"})
    run = state(executor, run_id)
    assert run.status == RunStatus.FINISHED.value and run.verdict == "accepted"
    assert set(run.artifacts) == {"junit.xml", "logs/install.log", "report.dsse.json"}
    assert executor.store.get(run.artifacts["junit.xml"]) == b"<testsuites/>"


def test_platform_failures_are_retried_then_recorded_as_error(executor: RunExecutor) -> None:
    run_id = queued_run(executor)
    for attempt in range(1, runner_module.MAX_PLATFORM_FAILURES):
        claim = executor.claim(run_id)
        assert claim == Claim(run_id, attempt)
        assert executor._may_retry(claim) is True
        assert state(executor, run_id).status == RunStatus.QUEUED.value
    last = executor.claim(run_id)
    assert isinstance(last, Claim)
    assert executor._may_retry(last) is False
    executor._finish(last, _statement("error"), {}, {})
    run = state(executor, run_id)
    assert run.status == RunStatus.ERROR.value and run.error


def test_reconciler_requeues_stale_and_orphaned_runs(
    executor: RunExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers import tasks

    sent: list[str] = []
    monkeypatch.setattr(tasks, "enqueue_run", lambda app, run_id, timeout: sent.append(run_id))
    fresh, stale, held, orphaned = (queued_run(executor, d) for d in ("a", "b", "c", "d"))
    with executor.db.session() as session:
        for run_id in (stale,):
            run = session.get(Run, run_id)
            assert run is not None
            run.enqueued_at = utcnow() - dt.timedelta(hours=1)
    assert isinstance(executor.claim(held), Claim)
    assert isinstance(executor.claim(orphaned), Claim)
    with executor.db.session() as session:
        run = session.get(Run, orphaned)
        assert run is not None
        run.lease_until = utcnow() - dt.timedelta(seconds=1)

    assert tasks.reconcile(executor, requeue_after=600) == 2
    assert sorted(sent) == sorted([stale, orphaned])
    assert state(executor, orphaned).status == RunStatus.QUEUED.value
    assert state(executor, held).status == RunStatus.RUNNING.value
    assert state(executor, fresh).status == RunStatus.QUEUED.value
    # Just re-sent: not again on the next pass.
    assert tasks.reconcile(executor, requeue_after=600) == 0


def _statement(verdict: str) -> dict[str, Any]:
    return {
        "predicate": {
            "verdict": verdict,
            "reason_codes": [] if verdict == "accepted" else ["PLATFORM_ERROR"],
            "reasons": [] if verdict == "accepted" else ["Docker is down"],
            "source": {"commit": "a" * 40},
            "stages": [{"name": "checkout", "seconds": 0.1, "status": "ok"}],
            "checks": [{"id": "functional", "status": "passed", "summary": "1 passed"}],
            "environment": {},
        }
    }


def test_a_spec_version_that_no_longer_loads_is_an_error_not_the_suppliers_rejection(
    executor: RunExecutor,
) -> None:
    run_id = queued_run(executor, "stale-spec")
    with executor.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        folder = executor.settings.specs_dir / run.spec_version.folder
    # As if published before a rule it breaks existed (e.g. a licence id not on the SPDX list).
    (folder / "acceptance.yaml").write_text(
        "version: 1\ntitle: T\nlicence: {allowed: [Apache2]}\n", encoding="utf-8"
    )
    assert executor.execute(run_id) == Outcome.DONE
    finished = state(executor, run_id)
    assert finished.verdict == "error", (finished.status, finished.reason_codes)
    assert finished.reason_codes == ["SPEC_UNUSABLE"]
