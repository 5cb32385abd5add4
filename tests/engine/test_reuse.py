"""Reusing a judged tree (acceptance.service.reuse): what the key covers, which runs may be reused and
when a run records a key, fetching a commit's tree without a checkout; on real PostgreSQL,
`git daemon`, Docker and the real advisory snapshot (tests/test_reuse_e2e.py: the service)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from acceptance.engine.checkout import fetch_commit_tree
from acceptance.engine.pipeline import EngineConfig
from acceptance.engine.report import serialize
from acceptance.engine.signing import sign_envelope
from acceptance.engine.spec import Spec, load_spec
from acceptance.errors import UserInputError
from acceptance.service.accounts import create_user
from acceptance.service.artifacts import LocalArtifactStore
from acceptance.service.db import Database, upgrade
from acceptance.service.models import Submission, utcnow
from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
from acceptance.service.reuse import ReuseInputs, TreeReuse, evidence_record
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import load_settings
from tests.conftest import RepoFactory, git, write_spec

TREE = "7" * 40
IMAGE = "sha256:" + "c" * 64
ADVISORIES = {"sha256": "e" * 64, "imported_at": "2026-12-01T00:00:00+00:00", "records": 10}


def inputs(**changes: Any) -> ReuseInputs:
    base = ReuseInputs(
        spec_version_id="v1",
        spec_sha256="a" * 64,
        hidden_tests_sha256="b" * 64,
        image_id=IMAGE,
        runtime=None,
        engine="acceptance 0.1.0 " + "d" * 64,
        host_tools={"pip-audit": "2.9.0"},
        advisory_data=ADVISORIES,
        git_limits={"max_bytes": 1024, "max_files": 10, "max_depth": 5},
    )
    return dataclasses.replace(base, **changes)


def predicate(**changes: Any) -> dict[str, Any]:
    """A run's predicate that judged its tree to the end with the inputs above."""
    found: dict[str, Any] = {
        "verdict": "accepted",
        "reason_codes": [],
        "source": {"url": "git://example/r.git", "ref": "main", "commit": "1" * 40, "tree": TREE},
        "environment": {"image": {"id": IMAGE, "tag": "acceptance-sandbox:x"}},
        "checks": [
            {"id": "functional", "status": "passed"},
            {"id": "sast", "status": "passed"},
            {"id": "dependencies", "status": "passed", "advisory_data": dict(ADVISORIES)},
            {"id": "licence", "status": "skipped"},
        ],
        "run": {"id": "r1"},
    }
    found.update(changes)
    return found


# ---------------------------------------------------------------- the key


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("spec_version_id", "v2"),
        ("spec_sha256", "f" * 64),
        ("hidden_tests_sha256", "0" * 64),
        ("hidden_tests_sha256", None),
        ("image_id", "sha256:" + "9" * 64),
        ("runtime", "runsc"),
        ("engine", "acceptance 0.1.0 " + "e" * 64),
        ("host_tools", {"pip-audit": "2.9.1"}),
        ("advisory_data", {**ADVISORIES, "sha256": "1" * 64}),
        ("advisory_data", None),
        ("git_limits", {"max_bytes": 2048, "max_files": 10, "max_depth": 5}),
    ],
)
def test_the_key_changes_with_every_input(field: str, value: object) -> None:
    assert inputs(**{field: value}).key() != inputs().key()
    assert inputs().key() == inputs().key()


def test_a_run_that_judged_its_tree_records_the_key() -> None:
    assert evidence_record(predicate(), inputs(), inputs()) == {
        "tree": TREE,
        "reuse_key": inputs().key(),
    }


def _check(status: str) -> list[dict[str, Any]]:
    return [{"id": "functional", "status": status}, *predicate()["checks"][1:]]


@pytest.mark.parametrize(
    ("changes", "after"),
    [
        ({"verdict": "error"}, inputs()),
        ({"verdict": "rejected", "reason_codes": ["TIMEOUT"]}, inputs()),
        ({"verdict": "rejected", "reason_codes": ["TEST_TIMEOUT"]}, inputs()),
        ({"verdict": "rejected", "checks": _check("not_run")}, inputs()),
        ({"verdict": "rejected", "checks": _check("error")}, inputs()),
        ({"reused_from": {"run_id": "r0"}}, inputs()),
        ({"source": {"commit": "1" * 40}}, inputs()),  # no tree recorded
        ({"environment": {"image": {"id": "sha256:" + "9" * 64}}}, inputs()),  # another image ran
        ({}, inputs(advisory_data={**ADVISORIES, "imported_at": "2026-12-02T00:00:00+00:00"})),
        ({}, None),  # the inputs could not be pinned down after the run
    ],
)
def test_no_key_for_a_verdict_that_may_not_be_reused(
    changes: dict[str, Any], after: ReuseInputs | None
) -> None:
    record = evidence_record(predicate(**changes), inputs(), after)
    assert "reuse_key" not in record


def test_no_key_when_the_report_used_other_advisory_data() -> None:
    checks = [
        *predicate()["checks"][:2],
        {"id": "dependencies", "status": "passed", "advisory_data": {}},
    ]
    assert "reuse_key" not in evidence_record(predicate(checks=checks), inputs(), inputs())


# ---------------------------------------------------------------- the inputs here and now


@pytest.fixture
def config(sandbox_image: str, advisories_db: Path, tmp_path: Path) -> EngineConfig:
    return EngineConfig(
        image=sandbox_image, cache_dir=tmp_path / "cache", work_dir=tmp_path / "work",
        advisories_db=advisories_db, allow_local_sources=True,
    )  # fmt: skip


def spec_of(tmp_path: Path, body: str) -> Spec:
    return load_spec(write_spec(tmp_path / "spec", body))


def test_the_inputs_name_the_image_and_the_advisory_data(
    config: EngineConfig, tmp_path: Path, database_url: str
) -> None:
    reuse = TreeReuse(config, Database(database_url), LocalArtifactStore(tmp_path / "a"))
    found = reuse.inputs("v1", spec_of(tmp_path, ""))
    assert found is not None
    assert found.image_id.startswith("sha256:") and found.advisory_data is not None
    assert found.advisory_data["sha256"] and found.advisory_data["records"]
    assert found == reuse.inputs("v1", spec_of(tmp_path / "again", ""))


def test_no_reuse_when_the_advisory_data_is_now_too_old(
    config: EngineConfig, tmp_path: Path, database_url: str
) -> None:
    reuse = TreeReuse(config, Database(database_url), LocalArtifactStore(tmp_path / "a"))
    # The snapshot is older than an hour: a run now would end in ADVISORIES_STALE.
    fresh_only = spec_of(tmp_path / "s1", "security: {dependencies: {max_data_age: 1h}}\n")
    assert reuse.inputs("v1", fresh_only) is None
    generous = spec_of(tmp_path / "s2", "security: {dependencies: {max_data_age: 3650d}}\n")
    assert reuse.inputs("v1", generous) is not None


def test_no_reuse_with_an_external_advisory_service_or_an_unknown_image(
    config: EngineConfig, tmp_path: Path, database_url: str
) -> None:
    db, store = Database(database_url), LocalArtifactStore(tmp_path / "a")
    external = dataclasses.replace(config, osv_url="http://127.0.0.1:9/")
    assert TreeReuse(external, db, store).inputs("v1", spec_of(tmp_path / "s1", "")) is None
    # ... unless the spec audits no dependencies: the service is then no input.
    no_audit = spec_of(tmp_path / "s2", "security: {dependencies: {enabled: false}}\n")
    assert TreeReuse(external, db, store).inputs("v1", no_audit) is not None
    missing = dataclasses.replace(config, image="acceptance-sandbox:no-such-tag")
    assert TreeReuse(missing, db, store).inputs("v1", spec_of(tmp_path / "s3", "")) is None


# ---------------------------------------------------------------- the runs that may be reused


@dataclasses.dataclass
class Deployment:
    db: Database
    submissions: list[str]
    spec_version: str


@pytest.fixture
def deployment(database_url: str, tmp_path: Path) -> Deployment:
    upgrade(database_url)
    settings = load_settings(
        {"ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url}
    )
    db = Database(database_url)
    with db.session() as session:
        owner = create_user(session, "owner@example.org", "owner", "a long password 1")
        spec = b"version: 1\ntitle: T\nlimits: {timeout: 100}\nfunctional: {timeout: 50}\n"
        version = publish_spec(session, owner, SpecUpload(spec), settings.specs_dir)
        submissions = [
            register_submission(
                session, owner, version.opportunity, repo_url=f"https://example.org/{name}.git",
                supplier=name, branch=None, box=SecretBox(settings.secrets_key),
            )[0].id
            for name in ("a", "b")
        ]  # fmt: skip
        return Deployment(db, submissions, version.id)


def add_run(deployment: Deployment, submission: int = 0, **columns: Any) -> str:
    """A run of the submission, its row as `columns` say (a finished, judged run by default)."""
    with deployment.db.session() as session:
        found = session.get(Submission, deployment.submissions[submission])
        assert found is not None
        run, _ = create_run(session, found, trigger="webhook", ref="main")
        values = {
            "status": "finished", "verdict": "accepted", "reuse_key": "k" * 64, "tree": TREE,
            "commit": "1" * 40, "report_sha256": "f" * 64, "finished_at": utcnow(), **columns,
        }  # fmt: skip
        for name, value in values.items():
            setattr(run, name, value)
        session.flush()
        return run.id


def test_only_a_finished_judged_run_of_the_same_submission_is_reused(
    deployment: Deployment, config: EngineConfig, tmp_path: Path
) -> None:
    reuse = TreeReuse(config, deployment.db, LocalArtifactStore(tmp_path / "a"))
    new = add_run(deployment, status="running", verdict=None, reuse_key=None, tree=None)
    rejected = add_run(deployment, verdict="rejected")
    judged = add_run(deployment)
    add_run(deployment, status="error", verdict="error")  # never reused, whatever its key
    add_run(deployment, submission=1)  # another supplier's
    add_run(deployment, reused_from_id=judged)  # a reuse: the evidence is the judged run's
    add_run(deployment, finished_at=utcnow() - dt.timedelta(hours=7))  # its resolution expired
    add_run(deployment, report_sha256=None)  # no signed report
    add_run(deployment, tree="8" * 40)  # another tree
    add_run(deployment, reuse_key="j" * 64)  # other inputs
    found = reuse.candidates(new, deployment.submissions[0], "k" * 64, tree=TREE)
    assert [run.id for run in found] == [judged, rejected]
    assert reuse.candidates(new, deployment.submissions[0], "x" * 64, tree=None) == []


def test_a_stored_report_that_disagrees_with_its_row_is_not_reused(
    deployment: Deployment, config: EngineConfig, tmp_path: Path, make_repo: RepoFactory,
    git_server: tuple[Path, str],
) -> None:  # fmt: skip
    """A row whose tree was altered to match a new commit: the signed report names the tree
    it judged, so the evidence is not taken over."""
    base, url = git_server
    repo = make_repo({"a.py": "print('the new delivery')\n"})
    git("clone", "-q", "--bare", str(repo), str(base / "r.git"), cwd=tmp_path)
    commit, tree = git("rev-parse", "HEAD", cwd=repo), git("rev-parse", "HEAD^{tree}", cwd=repo)
    store = LocalArtifactStore(tmp_path / "artifacts")
    key = Ed25519PrivateKey.generate()

    def stored_report(judged_tree: str) -> str:
        statement = {"_type": "https://in-toto.io/Statement/v1", "predicate": predicate(
            source={"url": "x", "ref": "main", "commit": "1" * 40, "tree": judged_tree}
        )}  # fmt: skip
        return store.put(
            json.dumps(sign_envelope(serialize(statement), key), indent=2).encode() + b"\n"
        )

    reuse = TreeReuse(dataclasses.replace(config, allowed_hosts=None), deployment.db, store)
    new = add_run(deployment, status="running", verdict=None, reuse_key=None, tree=None)
    add_run(deployment, tree=tree, report_sha256=stored_report(TREE))
    assert reuse.find(new, deployment.submissions[0], "k" * 64, f"{url}/r.git", commit) is None
    honest = add_run(deployment, tree=tree, report_sha256=stored_report(tree))
    found = reuse.find(new, deployment.submissions[0], "k" * 64, f"{url}/r.git", commit)
    assert found is not None and found.run_id == honest and found.fetched.tree == tree
    assert [s["name"] for s in found.stages] == ["fetch", "reuse"]
    # A run of this very commit before: this run is a re-run, judged in full.
    add_run(deployment, commit=commit, status="error", verdict="error", reuse_key=None)
    assert reuse.find(new, deployment.submissions[0], "k" * 64, f"{url}/r.git", commit) is None


# ---------------------------------------------------------------- fetching a commit's tree


def test_the_tree_is_read_from_the_fetched_commit_and_nothing_is_left(
    make_repo: RepoFactory, git_server: tuple[Path, str], tmp_path: Path
) -> None:
    base, url = git_server
    repo = make_repo({"a.py": "x = 1\n", "bin/run": "#!/bin/sh\n"})
    git("clone", "-q", "--bare", str(repo), str(base / "r.git"), cwd=tmp_path)
    commit, tree = git("rev-parse", "HEAD", cwd=repo), git("rev-parse", "HEAD^{tree}", cwd=repo)
    scratch = tmp_path / "scratch"
    for ref in (commit, "main"):
        fetched = fetch_commit_tree(f"{url}/r.git", ref, scratch)
        assert (fetched.commit, fetched.tree) == (commit, tree)
    assert list(scratch.iterdir()) == []
    with pytest.raises(UserInputError):
        fetch_commit_tree(f"{url}/r.git", "9" * 40, scratch)
    assert list(scratch.iterdir()) == []
