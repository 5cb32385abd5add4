"""The Node.js runtime end to end (issue 16): `acceptance check` on examples/node-tool in the
real node image, node:test in the no-network sandbox, counts equal to a by-hand run;
a broken variant rejected; `acceptance image build --runtime node` and `acceptance doctor`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, check, git, unavailable

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env", "node_image")]

EXAMPLE = ROOT / "examples" / "node-tool"
SPEC = ROOT / "examples" / "specs" / "node-tool" / "acceptance.yaml"


@pytest.fixture(scope="session")
def node_image(docker_engine: Any) -> str:
    """The node runtime's image for the current code; built by scripts/setup.sh."""
    import docker.errors

    from sandbox.node_image import node_image_tag

    tag = node_image_tag()
    try:
        docker_engine.images.get(tag)
    except docker.errors.ImageNotFound:
        unavailable(f"node image {tag} missing: run `acceptance image build --runtime node`")
    return tag


def _delivery(tmp_path: Path, changes: dict[str, str] | None = None) -> Path:
    repo = tmp_path / "node-tool"
    shutil.copytree(EXAMPLE, repo)
    for name, text in (changes or {}).items():
        (repo / name).write_text(text, encoding="utf-8")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    return repo


def by_hand(repo: Path, image: str) -> dict[str, int]:
    """What Node's test runner itself says, run by hand in the same image (its summary)."""
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{repo}:/src:ro", image,
         "sh", "-c", "cp -a /src /work/s && cd /work/s && node --test"],
        capture_output=True, text=True, check=False, timeout=120,
    ).stdout  # fmt: skip
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo) (\d+)$", out, flags=re.M))
    return {
        "passed": int(counts["pass"]),
        "failed": int(counts["fail"]),
        "errors": 0,
        "skipped": int(counts["skipped"]) + int(counts["todo"]),
    }


def test_the_node_example_is_accepted_with_the_counts_node_gives_by_hand(
    tmp_path: Path, node_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _delivery(tmp_path)
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (0, "accepted"), predicate["reasons"]
    assert (predicate["runtime"], predicate["runtime_source"]) == ("node", "spec")
    checks = {c["id"]: c for c in predicate["checks"]}
    assert checks["functional"]["tests"] == {"passed": 6, "failed": 0, "errors": 0, "skipped": 0}
    assert checks["functional"]["tests"] == by_hand(repo, node_image)
    assert checks["functional"]["runner"] == "npm test"
    assert "input checks > refuses what is not a string" in [
        r["id"] for r in checks["functional"]["results"]
    ]
    assert checks["dependencies"]["status"] == "passed"
    assert (checks["licence"]["status"], checks["licence"]["licence"]["spdx"]) == ("passed", "MIT")
    assert checks["sast"]["status"] == "skipped"
    assert predicate["environment"]["tools"]["node"] == "18.20.4"
    assert predicate["environment"]["image"]["tag"] == node_image
    assert "results.tap" in predicate["artifacts"]


BROKEN_LIB = (
    (EXAMPLE / "lib" / "wordcount.js")
    .read_text(encoding="utf-8")
    .replace("[...text].length", "text.length")
)


def test_a_broken_variant_is_rejected_with_exact_counts(
    tmp_path: Path, node_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _delivery(tmp_path, {"lib/wordcount.js": BROKEN_LIB})
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (1, "rejected")
    functional = next(c for c in predicate["checks"] if c["id"] == "functional")
    assert functional["reason_code"] == "TESTS_FAILED"
    assert functional["tests"] == {"passed": 5, "failed": 1, "errors": 0, "skipped": 0}
    assert functional["tests"] == by_hand(repo, node_image)
    assert functional["failing_tests"] == ["counts characters as code points"]


def test_sast_asked_for_is_not_run_never_passed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec" / "acceptance.yaml"
    spec.parent.mkdir()
    spec.write_text(SPEC.read_text().replace("enabled: false", "enabled: true"))
    code, statement = check(str(_delivery(tmp_path)), spec, capsys=capsys)
    sast = next(c for c in statement["predicate"]["checks"] if c["id"] == "sast")
    assert (sast["status"], sast["reason_code"]) == ("not_run", "RUNTIME_CHECK_UNAVAILABLE")
    assert "ESLint" in sast["summary"]
    assert code != 0 and statement["predicate"]["verdict"] != "accepted"


def test_a_delivery_without_a_lockfile_is_rejected_saying_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "nolock"
    shutil.copytree(EXAMPLE, repo)
    (repo / "package-lock.json").unlink()
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (1, "rejected")
    assert predicate["reason_codes"] == ["LOCKFILE_REQUIRED"], predicate["reasons"]
    assert "npm install --package-lock-only" in predicate["reasons"][0]


def test_image_build_for_the_node_runtime_is_idempotent_and_doctor_reports_it(
    node_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from acceptance.cli import main

    assert main(["image", "build", "--runtime", "node"]) == 0
    out = capsys.readouterr()
    assert node_image in out.out
    assert "node 18.20.4" in out.out and "npm 9.2.0" in out.out
    assert "up to date" in out.err
    main(["doctor"])
    assert f"[ok  ] node runtime image {node_image}" in capsys.readouterr().out
