"""Executing one queued run exactly once: claim it, judge it, store and sign, finish it.

A run is claimed with a lease in the database. A second delivery of the same
task finds it finished (nothing to do) or held (try later); a worker that
died is detected (same host: its pid is gone; elsewhere: its lease expired)
and the run is taken over. Only the holder of the current claim may finish a
run, so a run gets at most one report whatever the broker does.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from acceptance.engine.pipeline import EngineConfig, run_acceptance
from acceptance.engine.report import Reason, ReportInput, Verdict, build_statement, serialize
from acceptance.engine.source_policy import check_public_source
from acceptance.engine.spec import load_spec
from acceptance.errors import PlatformError, UserInputError
from acceptance.service.artifacts import ArtifactStore
from acceptance.service.artifacts_s3 import artifact_store
from acceptance.service.db import Database
from acceptance.service.decisions import SubmissionState
from acceptance.service.events.delivery import EventPublisher
from acceptance.service.forge.delivery import ForgeFeedback
from acceptance.service.models import Run, RunStatus, utcnow
from acceptance.service.notifications import Notifier, state_before
from acceptance.service.reuse import TreeReuse, evidence_record, reused_statement
from acceptance.service.specfiles import ensure_spec_files
from acceptance.settings import Settings
from sandbox.docker import docker_client, remove_labelled_containers
from sandbox.image import default_image_tag
from workers.signer import ReportSigner, SignerUnavailable, SigningRefused, report_signer

log = logging.getLogger(__name__)

#: time around the sandbox's own limit for cloning, image checks, storing and signing
LEASE_MARGIN = 180
#: seconds to reach the Docker engine when cleaning up after a dead worker
ORPHAN_CLEANUP_TIMEOUT = 10
#: the service's run id on each run's sandbox container (set by acceptance.engine.pipeline)
RUN_LABEL = "org.acceptance.run"
MAX_PLATFORM_FAILURES = 3
REPORT_NAME = "report.dsse.json"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(worker: str | None) -> bool:
    """True when `worker` ran on this host and its process is gone."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # Killed but not yet reaped (its parent died with it): still answers signals, runs nothing.
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    """Whether the process has ended and waits to be reaped (Linux; False where /proc says nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # "pid (command) state ...": the command may hold spaces and parentheses, the state follows the last ")"
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


@dataclass(frozen=True)
class Claim:
    run_id: str
    attempt: int


class Outcome:
    DONE = "done"  # finished now or before
    BUSY = "busy"  # another live worker holds it: try again later
    MISSING = "missing"
    RETRY = "retry"  # a platform failure: try again after a backoff


class RunExecutor:
    """Everything a worker process needs to execute runs."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: ArtifactStore | None = None,
        signer: ReportSigner | None = None,
        notifier: Notifier | None = None,
        forge: ForgeFeedback | None = None,
        events: EventPublisher | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.store = store or artifact_store(settings)
        #: the worker itself (ACCEPTANCE_SIGNER=local) or `acceptance signer` over the broker
        self.signer = signer or report_signer(settings)
        #: emails about finished runs (acceptance.service.notifications); None: none
        self.notifier = notifier
        #: commit statuses on the submission's forge (acceptance.service.forge); None: none
        self.forge = forge
        #: signed events to the opportunity's endpoints (acceptance.service.events); None: none
        self.events = events
        #: a new commit of a tree judged before (acceptance.service.reuse)
        self.reuse = TreeReuse(self._engine_config(), db, self.store)

    # -- claim ---------------------------------------------------------------

    def claim(self, run_id: str) -> Claim | str:
        me = worker_name()
        now = utcnow()
        with self.db.session() as session:
            run = session.scalar(select(Run).where(Run.id == run_id).with_for_update())
            if run is None:
                return Outcome.MISSING
            if run.status in (RunStatus.FINISHED.value, RunStatus.ERROR.value):
                return Outcome.DONE
            if run.status == RunStatus.RUNNING.value:
                lease_over = run.lease_until is None or run.lease_until <= now
                if not lease_over and not holder_is_dead(run.worker):
                    return Outcome.BUSY
                log.warning("run_taken_over", extra={"run": run_id, "from": run.worker})
            if run.attempts > 0:
                # An earlier attempt may have left its sandbox behind (a killed worker);
                # removed while the row is locked, so no new attempt's sandbox is among them.
                remove_run_sandboxes([run_id])
            timeout = self._spec_timeout(run)
            run.status = RunStatus.RUNNING.value
            run.started_at = run.started_at or now
            run.lease_until = now + dt.timedelta(seconds=timeout + LEASE_MARGIN)
            run.worker = me
            run.attempts += 1
            run.stage = "starting"
            return Claim(run.id, run.attempts)

    def _spec_timeout(self, run: Run) -> int:
        return run.spec_version.run_timeout

    # -- execute -------------------------------------------------------------

    def execute(self, run_id: str) -> str:
        claim = self.claim(run_id)
        if isinstance(claim, str):
            return claim
        if self.forge is not None:  # a GitHub App's check run says `in_progress` (never raises)
            self.forge.run_changed(run_id, started=True)
        with self.db.session() as session:
            run = session.get(Run, run_id)
            assert run is not None
            source = run.submission.repo_url
            ref = run.commit or run.ref
            spec_version_id, submission_id, run_ref = run.spec_version_id, run.submission_id, run.ref  # fmt: skip
            context = {
                "id": run.id,
                "opportunity": run.submission.opportunity_id,
                "submission": run.submission_id,
                "supplier": run.submission.supplier,
                "spec_version": run.spec_version.version,
                "trigger": run.trigger,
                "delivery_id": run.delivery_id,
                "supersedes": run.supersedes_id,
                "attempt": claim.attempt,
            }
            spec_problem: UserInputError | None = None
            try:
                # On another host the spec folder is rebuilt from the database and the artifacts.
                spec_file = ensure_spec_files(self.settings.specs_dir, run.spec_version, self.store)
            except UserInputError as exc:
                spec_file, spec_problem = None, exc
        started = dt.datetime.now(dt.UTC)
        try:
            if spec_problem is not None:
                raise spec_problem
            assert spec_file is not None
            spec = load_spec(spec_file)
        except UserInputError as exc:
            # The owner's spec (e.g. published before a rule it breaks existed): never the
            # supplier's fault, and no retry can fix it.
            return self._finish(claim, _spec_unusable(source, ref, context, started, exc), {}, {})
        inputs = self.reuse.inputs(spec_version_id, spec)
        try:
            if self.settings.git_allowed_hosts is None:
                check_public_source(source)
            key = inputs.key() if inputs is not None else None
            reused = self.reuse.find(claim.run_id, submission_id, key, source, ref) if key else None
            if reused is not None:
                statement = reused_statement(reused, context=context, ref=run_ref, started=started)
                record = {"tree": reused.fetched.tree, "reused_from_id": reused.run_id}
                return self._finish(
                    claim, statement, {}, {}, stored=reused.artifacts, record=record
                )
            result = run_acceptance(
                source, ref, spec, self._engine_config(), progress=self._progress(claim),
                context=context,
            )  # fmt: skip
            statement, logs, artifacts = result.statement, result.logs, result.artifacts
        except UserInputError as exc:
            # An unusable source or ref is the submission's to fix: a rejection, not a retry.
            statement = _rejection(source, ref, context, started, exc)
            logs, artifacts = {}, {}
        verdict = statement["predicate"]["verdict"]
        if verdict == Verdict.ERROR and self._may_retry(claim):
            return Outcome.RETRY
        # The inputs again: a key is kept only when nothing changed while the run went on.
        after = self.reuse.inputs(spec_version_id, spec) if inputs is not None else None
        record = evidence_record(statement["predicate"], inputs, after)
        return self._finish(claim, statement, logs, artifacts, record=record)

    def _engine_config(self) -> EngineConfig:
        settings = self.settings
        return EngineConfig(
            image=settings.sandbox_image or default_image_tag(settings.sandbox_base_image),
            cache_dir=settings.cache_dir,
            work_dir=settings.work_dir,
            runtime=settings.sandbox_runtime,
            allow_local_sources=False,
            allowed_hosts=settings.git_allowed_hosts,
            osv_url=settings.osv_url,
            advisories_db=settings.advisories_db,
            env_cache_max_bytes=settings.env_cache_max_bytes,
            npm_registry=settings.npm_registry,
        )

    def _progress(self, claim: Claim) -> Any:
        def report(stage: str, message: str) -> None:
            # Every start of a stage of the run's own sequence (a dozen per run): a
            # time-based throttle dropped the last one when a cached stage took no
            # time. Host-side work beside the sandbox is not the run's stage.
            if message != "started" or stage in _BESIDE_THE_SANDBOX:
                return
            try:
                with self.db.session() as session:
                    session.execute(
                        update(Run)
                        .where(Run.id == claim.run_id, Run.attempts == claim.attempt)
                        .values(stage=stage)
                    )
            except Exception:  # noqa: BLE001 - progress must never break a run
                log.debug("progress_update_failed", exc_info=True)
            if self.forge is not None:  # a GitHub App's check run shows the stage (never raises)
                self.forge.run_changed(claim.run_id, started=True)

        return report

    def _may_retry(self, claim: Claim) -> bool:
        """Count a platform failure; give the run back to the queue unless out of tries."""
        with self.db.session() as session:
            run = session.get(Run, claim.run_id)
            if run is None or run.attempts != claim.attempt:
                return False
            run.platform_failures += 1
            if run.platform_failures >= MAX_PLATFORM_FAILURES:
                return False
            run.status = RunStatus.QUEUED.value
            run.lease_until = None
            run.worker = None
            run.stage = None
            return True

    def _finish(
        self,
        claim: Claim,
        statement: dict[str, Any],
        logs: dict[str, str],
        artifacts: dict[str, bytes],
        *,
        stored: dict[str, str] | None = None,
        record: dict[str, Any] | None = None,
    ) -> str:
        """Sign, store, record: DONE; RETRY when no signer answered (a platform failure).

        `stored`: artifacts already in the store (a reused run's), referenced by their keys;
        `record`: more columns of the run (acceptance.service.reuse).
        """
        started = time.monotonic()
        try:
            report = self.signer.sign(claim.run_id, claim.attempt, serialize(statement))
        except SigningRefused as exc:
            self._end_unsigned(claim, "SIGNING_REFUSED", f"The signer refused the report: {exc}")
            return Outcome.DONE
        except SignerUnavailable as exc:
            log.warning("signer_unavailable", extra={"run": claim.run_id, "why": str(exc)})
            if self._may_retry(claim):
                return Outcome.RETRY
            self._end_unsigned(claim, "SIGNER_UNAVAILABLE", f"The report was not signed: {exc}")
            return Outcome.DONE
        envelope = report.envelope
        signed = time.monotonic()
        keys = dict(stored or {})
        keys.update({name: self.store.put(data) for name, data in artifacts.items()})
        for stage, text in logs.items():
            keys[f"logs/{stage}.log"] = self.store.put(text.encode("utf-8", errors="replace"))
        report_key = self.store.put(json.dumps(envelope, indent=2).encode() + b"\n")
        keys[REPORT_NAME] = report_key
        predicate = statement["predicate"]
        # After the signature, so only the run's record (not the report) says how long these took.
        service_stages = [
            {"name": "sign", "seconds": round(signed - started, 3), "status": "ok"},
            {"name": "store", "seconds": round(time.monotonic() - signed, 3), "status": "ok"},
        ]
        status = (
            RunStatus.ERROR.value
            if predicate["verdict"] == Verdict.ERROR
            else RunStatus.FINISHED.value
        )
        before = self._state_before(claim)
        with self.db.session() as session:
            done = session.execute(
                _still_held(claim).values(
                    status=status,
                    verdict=predicate["verdict"],
                    reason_codes=predicate["reason_codes"],
                    reasons=predicate["reasons"][:50],
                    commit=predicate["source"]["commit"],
                    stages=[*predicate["stages"], *service_stages],
                    stage=None,
                    finished_at=utcnow(),
                    lease_until=None,
                    artifacts=keys,
                    report_sha256=report_key,
                    key_id=report.key_id,
                    summary=_summary(predicate),
                    error=predicate["reasons"][0] if status == RunStatus.ERROR.value else None,
                    **(record or {}),
                )
            )
            if getattr(done, "rowcount", 1) == 0:
                log.warning("run_result_dropped_claim_lost", extra={"run": claim.run_id})
                return Outcome.DONE
        # Committed: the mail task finds the run as it ended. Never raises (Notifier._record).
        if self.notifier is not None:
            self.notifier.run_finished(claim.run_id, before, predicate)
        if self.forge is not None:  # never raises either (ForgeFeedback.run_changed)
            self.forge.run_changed(claim.run_id)
        if self.events is not None:  # nor this (EventPublisher._record)
            self.events.run_finished(claim.run_id, before, self.settings.public_url)
        return Outcome.DONE

    def _state_before(self, claim: Claim) -> SubmissionState | None:
        """The submission's state before this run ends (None without a notifier or events): emails and
        events say changes."""
        if self.notifier is None and self.events is None:
            return None
        return state_before(self.db, run_id=claim.run_id)

    def _end_unsigned(self, claim: Claim, code: str, reason: str) -> None:
        """End the run in `error` with no report: nothing unsigned is ever published."""
        log.error("run_not_signed", extra={"run": claim.run_id, "why": reason})
        before = self._state_before(claim)
        with self.db.session() as session:
            done = session.execute(
                _still_held(claim).values(
                    status=RunStatus.ERROR.value,
                    verdict=Verdict.ERROR,
                    reason_codes=[code],
                    reasons=[reason],
                    stage=None,
                    finished_at=utcnow(),
                    lease_until=None,
                    error=reason,
                )
            )
        if getattr(done, "rowcount", 1) != 0:
            if self.notifier is not None:
                self.notifier.run_finished(claim.run_id, before, None)
            if self.forge is not None:
                self.forge.run_changed(claim.run_id)
            if self.events is not None:
                self.events.run_finished(claim.run_id, before, self.settings.public_url)


#: stages the engine runs in threads beside the sandbox's sequence (acceptance.engine.pipeline)
_BESIDE_THE_SANDBOX = frozenset({"licence-detect", "download", "dependency-audit"})


def _still_held(claim: Claim) -> Any:
    """An UPDATE of the run that changes nothing unless this claim still holds it."""
    return update(Run).where(
        Run.id == claim.run_id,
        Run.attempts == claim.attempt,
        Run.status == RunStatus.RUNNING.value,
    )


def remove_run_sandboxes(run_ids: Iterable[str]) -> list[str]:
    """Kill and remove the sandboxes earlier attempts of these runs left (best effort); their names.

    A worker killed mid-run leaves its container running until its lifetime cap,
    then exited with the checkout and environment in its layer. Whoever takes the
    run over calls this first; with no engine here (a scheduler host), nothing is done.
    """
    wanted = list(run_ids)
    if not wanted:
        return []
    try:
        client = docker_client(timeout=ORPHAN_CLEANUP_TIMEOUT)
    except PlatformError as exc:
        log.info("orphan_sandbox_cleanup_skipped", extra={"runs": wanted, "why": exc.message})
        return []
    removed: list[str] = []
    for run_id in wanted:
        try:
            names = remove_labelled_containers(client, RUN_LABEL, run_id)
        except Exception:  # noqa: BLE001 - the sandbox's own lifetime cap ends it anyway
            log.warning("orphan_sandbox_cleanup_failed", extra={"run": run_id}, exc_info=True)
            continue
        if names:
            log.warning("orphan_sandboxes_removed", extra={"run": run_id, "containers": names})
        removed += names
    return removed


def _summary(predicate: dict[str, Any]) -> dict[str, Any]:
    """What lists and pages show without opening the report."""
    return {
        "checks": [
            {"id": c["id"], "status": c["status"], "summary": c["summary"][:500]}
            for c in predicate["checks"]
        ],
        "not_checked": predicate.get("not_checked", []),
        "environment": {"image": predicate["environment"].get("image")},
        # the runtime that judged it and how it was chosen, for the lists (absent before checkout)
        **{key: predicate[key] for key in ("runtime", "runtime_source") if key in predicate},
    }


def _spec_unusable(
    source: str, ref: str | None, context: dict[str, Any], started: dt.datetime, exc: UserInputError
) -> dict[str, Any]:
    report = ReportInput(
        source_url=source,
        ref=ref,
        spec={},
        started=started,
        reasons=[
            Reason(
                "SPEC_UNUSABLE",
                f"the opportunity's spec version cannot be used, so nothing was judged: "
                f"{exc.diagnostics()}; the owner must publish a corrected spec",
            )
        ],  # fmt: skip
        platform_failed=True,
        run=context,
    )
    return build_statement(report)


def _rejection(
    source: str, ref: str | None, context: dict[str, Any], started: dt.datetime, exc: UserInputError
) -> dict[str, Any]:
    report = ReportInput(
        source_url=source,
        ref=ref,
        spec={},
        started=started,
        # RUNTIME_UNDETECTED and the like carry their own code (acceptance.engine.runtime_choice)
        reasons=[Reason(str(getattr(exc, "reason", "SOURCE_UNUSABLE")), exc.diagnostics())],
        run=context,
    )
    return build_statement(report)
