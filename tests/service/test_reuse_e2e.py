"""Same tree, new commit (issue 19), end to end: real PostgreSQL, Redis, Celery worker and web
app processes, repositories served by `git daemon`, signed GitHub-shaped pushes.

A commit whose tree was judged before, every other input unchanged, gets a report re-signed
for it that names the run it reuses; any other input (one byte, a file mode, a submodule
pointer, a spec version, the hidden tests) means a full run, whatever the payload claims.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from acceptance.engine.signing import generate_keypair
from tests.conftest import RepoFactory, git
from tests.service.test_service_e2e import PROJECT, SPEC, Service, setup_submission, wait_finished
from tests.support import ACCEPTANCE, request, signed_push, start_acceptance, tar_gz

pytestmark = [pytest.mark.docker, pytest.mark.service, pytest.mark.slow]

#: the issue's target, webhook to signed report; asserted with room for a busy machine
TARGET_SECONDS = 1.0
ASSERTED_SECONDS = 3.0
REUSE_SAMPLES = 5


class Supplier:
    """The supplier's working repository and the served bare one it pushes to."""

    def __init__(self, service: Service, token: str, submission: dict[str, Any], repo_url: str,
                 work: Path, served: Path) -> None:  # fmt: skip
        self.service, self.token, self.submission, self.repo_url = (
            service,
            token,
            submission,
            repo_url,
        )
        self.work, self.served = work, served
        self.deliveries = 0

    def commit(self, *args: str) -> str:
        """`git commit ARGS` in the working repository, pushed (forced) to the served one."""
        git("commit", "-q", *args, cwd=self.work)
        git("push", "-q", "-f", str(self.served), "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tree(self, commit: str = "HEAD") -> str:
        return git("rev-parse", f"{commit}^{{tree}}", cwd=self.work)

    def push(self, commit: str, payload_tree: str | None = None) -> tuple[str, float]:
        """A signed push of `commit` (its payload claiming `payload_tree`); the run and the
        seconds from the webhook to its signed report."""
        self.deliveries += 1
        body, headers = signed_push(
            self.submission["webhook_secret"], self.repo_url, commit, f"reuse-{self.deliveries}"
        )
        if payload_tree is not None:  # GitHub's push payloads carry head_commit.tree_id
            payload = json.loads(body)
            payload["head_commit"]["tree_id"] = payload_tree
            body, headers = _resign(self.submission["webhook_secret"], payload, headers)
        started = time.monotonic()
        status, reply = request(
            "POST", f"{self.service.base}/hooks/{self.submission['id']}", raw=body, headers=headers
        )
        assert status == 202, reply
        run_id = reply["run_id"]
        while True:
            code, run = self.service.api("GET", f"/api/v1/runs/{run_id}", self.token)
            if code == 200 and run["status"] in ("finished", "error"):
                return run_id, time.monotonic() - started
            if time.monotonic() - started > 5:  # a full run: wait for it the usual way
                wait_finished(self.service, self.token, run_id)
                return run_id, time.monotonic() - started
            time.sleep(0.01)

    def run(self, run_id: str) -> dict[str, Any]:
        status, run = self.service.api("GET", f"/api/v1/runs/{run_id}", self.token)
        assert status == 200, run
        return dict(run)

    def report(
        self, run_id: str, folder: Path, public: Path | None = None
    ) -> tuple[dict[str, Any], str]:
        """The run's signed report verified with `acceptance verify` and `public` (default: the
        service's key from GET /api/v1/keys): (statement, text output)."""
        status, envelope = self.service.api("GET", f"/api/v1/runs/{run_id}/report", self.token)
        assert status == 200, envelope
        report = folder / f"{run_id}.dsse.json"
        report.write_text(json.dumps(envelope))
        public = public or folder / "signing.pub"
        if not public.exists():
            public.write_text(
                request("GET", self.service.base + "/api/v1/keys")[1]["keys"][0]["pem"]
            )
        outputs = []
        for extra in (["--json"], []):
            done = subprocess.run(
                [ACCEPTANCE, "verify", str(report), "--pubkey", str(public), *extra],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
        return json.loads(outputs[0]), outputs[1]


def _resign(
    secret: str, payload: dict[str, Any], headers: dict[str, str]
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, dict(headers, **{"X-Hub-Signature-256": signature})


@pytest.fixture
def service(
    tmp_path: Path, database_url: str, broker_url: str, sandbox_image: str, advisories_db: Path,
    git_server: tuple[Path, str],
) -> Iterator[Service]:  # fmt: skip
    env = {
        **os.environ,
        "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
        "ACCEPTANCE_DATABASE_URL": database_url,
        "ACCEPTANCE_BROKER_URL": broker_url,
        "ACCEPTANCE_SANDBOX_IMAGE": sandbox_image,
        "ACCEPTANCE_ADVISORIES_DB": str(advisories_db),
        "ACCEPTANCE_GIT_ALLOWED_HOSTS": git_server[1].removeprefix("git://"),
        "PYTHONUNBUFFERED": "1",
    }
    found = Service(tmp_path, env)
    found.cli("db", "upgrade")
    try:
        yield found
    finally:
        found.stop()


def supplier(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str], files: dict[str, str]
) -> tuple[Supplier, str]:
    """The worker and web app started, a submission registered; (the supplier, its first commit)."""
    service.start("worker", "worker", "--concurrency", "1")
    service.start_web()
    token, submission, repo_url, commit = setup_submission(service, make_repo, git_server, files)
    work = service.root / "repo0"  # make_repo's first repository
    return Supplier(
        service, token, submission, repo_url, work, git_server[0] / "contact.git"
    ), commit


def db_rows(service: Service, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = create_engine(service.env["ACCEPTANCE_DATABASE_URL"])
    try:
        with engine.begin() as connection:
            return [dict(row._mapping) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the cases


def test_an_amended_message_reuses_the_judged_tree(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str], tmp_path: Path
) -> None:
    who, first_commit = supplier(service, make_repo, git_server, PROJECT)
    first_id, full_seconds = who.push(first_commit)
    first = who.run(first_id)
    assert first["status"] == "finished" and first["verdict"] == "accepted", (first, service.logs())
    assert first["tree"] == who.tree() and first["reused_from"] is None

    amended = who.commit("--amend", "-m", "the same delivery, described better")
    assert amended != first_commit and who.tree(amended) == first["tree"]
    second_id, reuse_seconds = who.push(amended)
    second = who.run(second_id)
    assert second["status"] == "finished", (second, service.logs())
    assert second["reused_from"] == first_id and second["verdict"] == first["verdict"]
    assert second["commit"] == amended and second["tree"] == first["tree"]
    assert [s["name"] for s in second["stages"]] == ["fetch", "reuse", "sign", "store"]

    statement, shown = who.report(second_id, tmp_path)
    original, _ = who.report(first_id, tmp_path)
    predicate = statement["predicate"]
    assert statement["subject"][0]["digest"] == {"gitCommit": amended}
    assert predicate["source"]["commit"] == amended and predicate["source"]["tree"] == first["tree"]
    assert predicate["run"]["id"] == second_id
    reports = db_rows(service, "SELECT id, report_sha256, artifacts FROM runs")
    by_id = {row["id"]: row for row in reports}
    assert predicate["reused_from"] == {
        "run_id": first_id,
        "commit": first_commit,
        "report_sha256": by_id[first_id]["report_sha256"],
    }
    # The same evidence: checks, environment, spec, artifacts' digests; other ids and times.
    for field in ("verdict", "checks", "environment", "spec", "limits", "install", "artifacts"):
        assert predicate[field] == original["predicate"][field], field
    assert predicate["started"] > original["predicate"]["finished"]
    assert f"Reuses:  run {first_id} @ {first_commit}" in shown
    # The artifacts are the first run's, referenced by the same keys.
    first_keys, second_keys = by_id[first_id]["artifacts"], by_id[second_id]["artifacts"]
    assert {k: v for k, v in second_keys.items() if k != "report.dsse.json"} == {
        k: v for k, v in first_keys.items() if k != "report.dsse.json"
    }
    assert second_keys["report.dsse.json"] == by_id[second_id]["report_sha256"]
    # More amended messages: each reuses the first run (the figures in docs/performance.md).
    samples = [(second_id, reuse_seconds)]
    for n in range(REUSE_SAMPLES - 1):
        samples.append(who.push(who.commit("--amend", "-m", f"described again ({n})")))
    for run_id, seconds in samples:
        run = who.run(run_id)
        assert run["reused_from"] == first_id, run
        queued_to_finished = db_rows(
            service, "SELECT EXTRACT(EPOCH FROM finished_at - queued_at) AS s FROM runs WHERE id = :id",
            id=run_id,
        )[0]["s"]  # fmt: skip
        stages = ", ".join(f"{s['name']} {s['seconds']:.3f}" for s in run["stages"])
        print(f"reuse: {seconds:.3f} s webhook to signed report, {float(queued_to_finished):.3f} s "
              f"queued to finished ({stages})")  # fmt: skip
    print(f"full run: {full_seconds:.2f} s webhook to signed report")
    ordered = sorted(seconds for _, seconds in samples)
    median = ordered[len(ordered) // 2]
    assert median < ASSERTED_SECONDS, f"target {TARGET_SECONDS} s, median {median:.2f} s"


def test_the_dedicated_signer_signs_a_reused_report_like_any_other(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str], tmp_path: Path
) -> None:
    """ACCEPTANCE_SIGNER=queue: the worker holds no key, and the signer checks the reused
    statement against the run's claim (run, attempt, submission, source) before signing."""
    service.env["ACCEPTANCE_SIGNER"] = "queue"
    keys = tmp_path / "signer" / "keys"
    generate_keypair(keys)
    signer_env = {**service.env, "ACCEPTANCE_DATA_DIR": str(tmp_path / "signer")}
    service.procs.append(
        start_acceptance(["signer"], env=signer_env, cwd=tmp_path, log=tmp_path / "signer.log")
    )
    who, commit = supplier(service, make_repo, git_server, PROJECT)
    first_id, _ = who.push(commit)
    assert who.run(first_id)["verdict"] == "accepted", service.logs()
    second_id, seconds = who.push(who.commit("--amend", "-m", "signed elsewhere"))
    second = who.run(second_id)
    assert second["reused_from"] == first_id, (second, service.logs())
    statement, _ = who.report(second_id, tmp_path, public=keys / "signing.pub")
    assert statement["predicate"]["reused_from"]["run_id"] == first_id
    assert "report_signed" in (tmp_path / "signer.log").read_text()
    print(f"reuse with the dedicated signer: {seconds:.3f} s webhook to signed report")


def test_any_other_input_means_a_full_run(
    service: Service, make_repo: RepoFactory, git_server: tuple[Path, str], tmp_path: Path
) -> None:
    files = dict(PROJECT, **{"vendor/README": "the vendored library is a submodule\n"})
    # vendor/ beside contact/: setuptools must be told which is the package
    files["pyproject.toml"] += '[tool.setuptools]\npackages = ["contact"]\n'
    who, _ = supplier(service, make_repo, git_server, files)
    # A submodule pointer (a gitlink, never fetched by the engine) is part of the tree.
    git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor/lib", cwd=who.work)
    judged = who.commit("-m", "vendor a library")
    first_id, _ = who.push(judged)
    first = who.run(first_id)
    assert first["verdict"] == "accepted" and first["reused_from"] is None, first["reasons"]

    def full_run(commit: str, payload_tree: str | None = None) -> dict[str, Any]:
        run_id, seconds = who.push(commit, payload_tree)
        run = who.run(run_id)
        print(f"full run (warm): {seconds:.2f} s webhook to signed report")
        assert run["status"] == "finished" and run["reused_from"] is None, (run, service.logs())
        assert "sandbox" in [s["name"] for s in run["stages"]]
        assert run["tree"] == who.tree(commit)
        return run

    # Only a file mode differs, and the payload claims the judged tree: the tree is read
    # from the fetched commit, so the claim changes nothing.
    (who.work / "contact" / "__init__.py").chmod(0o755)
    git("add", "contact/__init__.py", cwd=who.work)
    mode_only = who.commit("-m", "make it executable")
    assert who.tree(mode_only) != first["tree"]
    full_run(mode_only, payload_tree=first["tree"])

    # Only the submodule pointer differs.
    git("update-index", "--cacheinfo", f"160000,{'2' * 40},vendor/lib", cwd=who.work)
    full_run(who.commit("-m", "bump the vendored library"))

    # One byte differs.
    path = who.work / "contact" / "__init__.py"
    path.write_text(path.read_text() + " ")
    git("add", "contact/__init__.py", cwd=who.work)
    one_byte = full_run(who.commit("-m", "one more space"))

    # Its own tree again, under a new message: reused (the inputs are all the same).
    run_id, _ = who.push(who.commit("--amend", "-m", "one more space, explained"))
    assert who.run(run_id)["reused_from"] == one_byte["id"]

    # A new spec version (same hidden tests): a full run, then a new message reuses that one.
    opportunity = who.submission["opportunity"]
    spec_v2 = SPEC.replace(b"timeout: 240", b"timeout: 250")
    status, body = who.service.api(
        "POST", f"/api/v1/opportunities/{opportunity}/specs", who.token,
        files={"spec": spec_v2, "hidden_tests": _hidden("assert not valid('nope')")},
    )  # fmt: skip
    assert status == 201, body
    new_spec = full_run(who.commit("--amend", "-m", "judged against version 2"))

    # The same spec text with other hidden tests: a full run.
    status, body = who.service.api(
        "POST", f"/api/v1/opportunities/{opportunity}/specs", who.token,
        files={"spec": spec_v2, "hidden_tests": _hidden("assert not valid('still nope')")},
    )  # fmt: skip
    assert status == 201, body
    hidden = full_run(who.commit("--amend", "-m", "judged against version 3"))
    assert hidden["spec_sha256"] == new_spec["spec_sha256"]

    # A run that ended in `error` is never reused, whatever its key says.
    db_rows(
        service, "UPDATE runs SET status = 'error', verdict = 'error' WHERE id = :id RETURNING id",
        id=hidden["id"],
    )  # fmt: skip
    full_run(who.commit("--amend", "-m", "after an error"))


def _hidden(assertion: str) -> bytes:
    return tar_gz(
        {"test_owner.py": f"from contact import valid\n\ndef test_rejects():\n    {assertion}\n"}
    )
