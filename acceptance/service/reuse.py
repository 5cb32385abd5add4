"""Judging a tree once: a new commit whose tree was already judged, every other input
unchanged, gets that run's evidence re-signed for it instead of a new run (issue 19).

A rebase, a merge commit or an amended message can leave the tree identical: the
delivery is the same bytes, so the verdict would be. The reuse key (`ReuseInputs`)
hashes every input but the tree that can change a verdict; a run that judged its
tree records both, but only when its verdict may be reused (`evidence_record`). A
later run of the same submission looks for such a run with its key, fetches its
own commit (no checkout, no sandbox) to read the commit's tree from git's objects,
and, on a match, signs a new statement for its commit that carries the earlier
run's evidence and says so in `reused_from` (docs/security.md, "Reusing a judged tree").
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select

import checks
import sandbox
from acceptance import __version__
from acceptance.engine.checkout import CommitTree, fetch_commit_tree
from acceptance.engine.envcache import RESOLUTION_TTL
from acceptance.engine.pipeline import EngineConfig
from acceptance.engine.report import Verdict
from acceptance.engine.spec import Spec
from acceptance.errors import AcceptanceError
from acceptance.service.artifacts import ArtifactStore
from acceptance.service.db import Database
from acceptance.service.models import Run, RunStatus, utcnow
from checks.advisory_model import AdvisoryStoreError
from checks.advisory_store import AdvisoryStore
from checks.dependencies import data_age
from sandbox.docker import docker_client

log = logging.getLogger(__name__)

#: bumped whenever what the key covers changes: older keys then match nothing
FORMAT = 1
#: verdicts a later commit may reuse: `error` means nothing was judged
REUSABLE_VERDICTS = frozenset({Verdict.ACCEPTED, Verdict.REJECTED})
#: reasons that depend on the machine's load that day rather than on the tree
LOAD_DEPENDENT_REASONS = frozenset({"TIMEOUT", "TEST_TIMEOUT"})
#: check outcomes of a run judged to the end (`not_run`: a stage stopped it; `error`: not judged)
JUDGED = frozenset({"passed", "failed", "skipped"})
#: a full run resolves the project's requirements again once the cached resolution is
#: this old (acceptance.engine.envcache), so the index's state is an input past it: no reuse
MAX_AGE = dt.timedelta(seconds=RESOLUTION_TTL)
#: host-side packages whose code judges (the audit, licence detection, the downloads)
HOST_TOOLS = ("pip-audit", "scancode-toolkit", "pip", "packaging")
#: seconds to reach the Docker engine for the image's id
DOCKER_TIMEOUT = 10
REPORT_NAME = "report.dsse.json"


@dataclass(frozen=True)
class ReuseInputs:
    """Every input but the tree that can change a run's verdict."""

    spec_version_id: str
    spec_sha256: str
    hidden_tests_sha256: str | None
    #: the sandbox image's id (a digest of its content), so its tools and their versions
    image_id: str
    runtime: str | None
    #: the engine's version and a digest of its code (acceptance, checks, sandbox)
    engine: str
    host_tools: Mapping[str, str]
    #: the offline advisory store's identity; None when the spec audits no dependencies
    advisory_data: Mapping[str, object] | None
    git_limits: Mapping[str, float]
    format: int = FORMAT

    def key(self) -> str:
        record = asdict(self)
        return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Reused:
    """A finished run whose evidence a new commit of the same tree takes over."""

    run_id: str
    commit: str
    report_sha256: str
    #: the reused run's signed statement
    statement: dict[str, Any]
    #: its artifact store keys by name (content-addressed: referenced, never copied)
    artifacts: dict[str, str]
    fetched: CommitTree
    stages: list[dict[str, object]] = field(default_factory=list)


class TreeReuse:
    """The worker's side of reuse: the key of a run's inputs, and the run it may reuse."""

    def __init__(self, config: EngineConfig, db: Database, store: ArtifactStore) -> None:
        self.config = config
        self.db = db
        self.store = store
        self._docker: Any = None

    # -- the key -------------------------------------------------------------

    def inputs(
        self, spec_version_id: str, spec: Spec, now: dt.datetime | None = None
    ) -> ReuseInputs | None:
        """The inputs of a run against `spec` here and now; None when one cannot be pinned
        down (no reuse then: the run is judged in full)."""
        advisory: Mapping[str, object] | None = None
        audit = spec.security.dependencies
        if audit.enabled:
            if self.config.osv_url:  # an external service may answer differently at any time
                return None
            advisory = self._advisory_data()
            if advisory is None:
                return None
            if audit.max_data_age is not None:
                age = data_age(advisory, now)
                if age is None or age[1] > audit.max_data_age:
                    return None  # a run now would call the data stale, not reuse a verdict
        image_id = self._image_id()
        if image_id is None:
            return None
        limits = self.config.git_limits
        return ReuseInputs(
            spec_version_id=spec_version_id,
            spec_sha256=spec.sha256,
            hidden_tests_sha256=spec.hidden_tests_sha256,
            image_id=image_id,
            runtime=self.config.runtime,
            engine=engine_identity(),
            host_tools=host_tool_versions(),
            advisory_data=advisory,
            git_limits={
                "max_bytes": limits.max_bytes,
                "max_files": limits.max_files,
                "max_depth": limits.max_depth,
            },
        )

    def _advisory_data(self) -> Mapping[str, object] | None:
        store = self.config.advisories_db
        if store is None:
            return None
        try:
            status = AdvisoryStore(store).status()
        except (AdvisoryStoreError, OSError, sqlite3.Error):
            return None
        return status.to_dict() if status.records > 0 else None

    def _image_id(self) -> str | None:
        try:
            if self._docker is None:
                self._docker = docker_client(timeout=DOCKER_TIMEOUT)
            return str(self._docker.images.get(self.config.image).id)
        except Exception:  # noqa: BLE001 - no image id, no reuse: the full run says what is wrong
            self._docker = None
            log.info("reuse_image_unknown", extra={"image": self.config.image}, exc_info=True)
            return None

    # -- the run to reuse ----------------------------------------------------

    def find(
        self, run_id: str, submission_id: str, key: str, source: str, ref: str | None
    ) -> Reused | None:
        """The finished run of this submission, with this key, of the tree `ref` names now.

        The commit is fetched (never checked out) only when such a run may exist: its
        tree id is read from the fetched objects, never taken from a webhook payload.
        """
        if not self.candidates(run_id, submission_id, key, tree=None):
            return None
        started = time.monotonic()
        try:
            fetched = fetch_commit_tree(
                source, ref, self.config.work_dir, self.config.git_limits,
                allow_local=self.config.allow_local_sources, allowed_hosts=self.config.allowed_hosts,
            )  # fmt: skip
        except AcceptanceError as exc:  # the full run fetches again and reports why
            log.info("reuse_fetch_failed", extra={"run": run_id, "why": exc.message})
            return None
        fetch_seconds = round(time.monotonic() - started, 3)
        started = time.monotonic()
        if self._judged_before(run_id, submission_id, fetched.commit):
            return None  # the same commit again is a re-run: someone asked for a new judgement
        for candidate in self.candidates(run_id, submission_id, key, tree=fetched.tree):
            statement = self._signed_statement(candidate)
            if statement is None:
                continue
            stages: list[dict[str, object]] = [
                {"name": "fetch", "seconds": fetch_seconds, "status": "ok"},
                {"name": "reuse", "seconds": round(time.monotonic() - started, 3), "status": "ok"},
            ]
            assert candidate.commit is not None and candidate.report_sha256 is not None
            return Reused(
                candidate.id, candidate.commit, candidate.report_sha256, statement,
                {k: str(v) for k, v in candidate.artifacts.items() if k != REPORT_NAME}, fetched, stages,
            )  # fmt: skip
        return None

    def _judged_before(self, run_id: str, submission_id: str, commit: str) -> bool:
        with self.db.session() as session:
            earlier = session.scalar(
                select(Run.id)
                .where(Run.submission_id == submission_id, Run.commit == commit, Run.id != run_id)
                .limit(1)
            )
            return earlier is not None

    def candidates(self, run_id: str, submission_id: str, key: str, tree: str | None) -> list[Run]:
        """Runs that judged their tree with these inputs, newest first (at most 5)."""
        query = select(Run).where(
            Run.submission_id == submission_id,
            Run.reuse_key == key,
            Run.id != run_id,
            Run.status == RunStatus.FINISHED.value,
            Run.verdict.in_(sorted(REUSABLE_VERDICTS)),
            Run.reused_from_id.is_(None),
            Run.report_sha256.is_not(None),
            Run.commit.is_not(None),
            Run.finished_at >= utcnow() - MAX_AGE,
        )
        if tree is not None:
            query = query.where(Run.tree == tree)
        with self.db.session() as session:
            found = list(session.scalars(query.order_by(Run.finished_at.desc()).limit(5)))
            for run in found:
                session.expunge(run)
            return found

    def _signed_statement(self, run: Run) -> dict[str, Any] | None:
        """The statement `run`'s stored report signed, if it is intact and says what the row says."""
        assert run.report_sha256 is not None
        data = self.store.get(run.report_sha256)
        if data is None or hashlib.sha256(data).hexdigest() != run.report_sha256:
            log.warning("reuse_report_unreadable", extra={"run": run.id})
            return None
        try:
            envelope = json.loads(data)
            statement = json.loads(base64.standard_b64decode(envelope["payload"]))
            predicate = statement["predicate"]
            agrees = (
                predicate["verdict"] == run.verdict
                and predicate["source"]["tree"] == run.tree
                and predicate["source"]["commit"] == run.commit
            )
        except (ValueError, KeyError, TypeError):
            agrees = False
        if not agrees:
            log.warning("reuse_report_disagrees", extra={"run": run.id})
            return None
        return dict(statement)


def reused_statement(
    reused: Reused,
    *,
    context: Mapping[str, object],
    ref: str | None,
    started: dt.datetime,
) -> dict[str, Any]:
    """The statement for the new commit: the reused run's evidence, this run's ids and times,
    and `reused_from` naming the run and the report (its DSSE envelope's sha256) it rests on."""
    statement = copy.deepcopy(reused.statement)
    fetched = reused.fetched
    statement["subject"] = [{"name": fetched.source, "digest": {"gitCommit": fetched.commit}}]
    predicate = statement["predicate"]
    predicate["source"] = {
        "url": fetched.source,
        "ref": ref,
        "commit": fetched.commit,
        "tree": fetched.tree,
    }
    predicate["run"] = dict(context)
    predicate["started"] = _timestamp(started)
    predicate["finished"] = _timestamp(dt.datetime.now(dt.UTC))
    predicate["stages"] = list(reused.stages)
    predicate["reused_from"] = {
        "run_id": reused.run_id,
        "commit": reused.commit,
        "report_sha256": reused.report_sha256,
    }
    return statement


def reusable(predicate: Mapping[str, Any]) -> bool:
    """Whether a later commit of the same tree may take this verdict over: judged to the end,
    by nothing that depends on the machine's load, and not itself a reuse."""
    source = predicate.get("source")
    return (
        predicate.get("verdict") in REUSABLE_VERDICTS
        and "reused_from" not in predicate
        and isinstance(source, Mapping)
        and bool(source.get("tree"))
        and not LOAD_DEPENDENT_REASONS.intersection(predicate.get("reason_codes") or [])
        and all(check.get("status") in JUDGED for check in predicate.get("checks") or [])
    )


def evidence_record(
    predicate: Mapping[str, Any], before: ReuseInputs | None, after: ReuseInputs | None
) -> dict[str, Any]:
    """The columns a run that judged its tree records: the tree, and the reuse key when a
    later commit may reuse the verdict and the inputs stayed the same throughout the run."""
    source = predicate.get("source")
    tree = source.get("tree") if isinstance(source, Mapping) else None
    record: dict[str, Any] = {"tree": tree}
    if before is None or before != after or not reusable(predicate):
        return record
    if not _used(predicate, before):
        log.warning(
            "reuse_inputs_differ_from_report", extra={"run": (predicate.get("run") or {}).get("id")}
        )
        return record
    record["reuse_key"] = before.key()
    return record


def _used(predicate: Mapping[str, Any], inputs: ReuseInputs) -> bool:
    """Whether the report says it ran with these inputs (the image, the advisory data)."""
    environment = predicate.get("environment") or {}
    image = environment.get("image") if isinstance(environment, Mapping) else None
    if not isinstance(image, Mapping) or image.get("id") != inputs.image_id:
        return False
    if inputs.advisory_data is None:
        return True
    for check in predicate.get("checks") or []:
        if check.get("id") == "dependencies":
            recorded = check.get("advisory_data")
            if not isinstance(recorded, Mapping):
                return False
            return all(
                recorded.get(k) == inputs.advisory_data.get(k) for k in ("sha256", "imported_at")
            )
    return False


@cache
def engine_identity() -> str:
    """The engine's version and a digest of the code that judges (once per process)."""
    import acceptance

    digest = hashlib.sha256()
    for package in (acceptance, checks, sandbox):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file() or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"acceptance {__version__} {digest.hexdigest()}"


@cache
def host_tool_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in HOST_TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
