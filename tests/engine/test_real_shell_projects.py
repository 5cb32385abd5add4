"""A real open-source shell project judged by the shell runtime, counts equal to a by-hand run.

The shell side of tests/test_real_projects.py and tests/test_real_npm_projects.py
(issue 16). git-open 3.1.0 (a bash script that opens a repository's web page) publishes
its bats suite in its npm tarball (test/git-open.bats, 62 tests), fetched at test time
with the host's npm and never copied into this repository. The suite loads bats-support
and bats-assert from test/test_helper/ (git submodules in its repository, absent from the
tarball): the test puts their own npm releases there, as a supplier's checkout with its
submodules would, and commits the tree in a temporary git repository. Each test builds a
scratch git repository, so the shell image's git runs as the sandbox user (HOME=/tmp,
read-only root). By hand, the same tree runs under `bats --tap` in the same image, with
the sandbox's restrictions (no network, read-only root, scratch tmpfs), its TAP counted
line by line (not by the engine's parser).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from acceptance.engine.pipeline import EngineConfig, run_acceptance
from acceptance.engine.spec import load_spec
from tests.conftest import git

PROJECT = ("git-open", "3.1.0")
#: the helpers its test file loads, where it loads them from (test/test_helper/NAME/load)
HELPERS = (("bats-support", "0.3.0"), ("bats-assert", "2.2.4"))
#: a floor on the passing tests, so that "0 == 0" can never pass (62 tests in the file)
AT_LEAST_PASSED = 60
SPEC = """\
version: 1
title: git-open 3.1.0 as released
runtime: shell
functional:
  paths: [test]
  min_passed: 1
  timeout: 120
limits: {cpus: 2, memory: 1g, pids: 256, timeout: 300, disk: 1g}
# Judged for its tests here: ShellCheck runs, and git-open 3.1.0's findings are medium
# at most (11 medium, 8 low): `fail_on: high` keeps them reported, not rejecting.
security:
  sast: {fail_on: high}
licence:
  allowed: [MIT]
"""
NPM_TIMEOUT = 180


def _env(home: Path) -> dict[str, str]:
    """The host's npm with its own HOME, through its ordinary configuration otherwise."""
    keep = ("PATH", "LANG", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "NODE_EXTRA_CA_CERTS")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("npm_config_")}
    return {**env, "HOME": str(home), "NO_COLOR": "1"}


def _unpack(name: str, version: str, tmp_path: Path, target: Path) -> None:
    """`npm pack NAME@VERSION` on the host, its package/ folder moved to target."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    download = tmp_path / f"download-{name}"
    download.mkdir()
    done = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--silent"], cwd=download, env=_env(home),
        capture_output=True, text=True, timeout=NPM_TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"npm pack {name}@{version} failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    (archive,) = download.glob("*.tgz")
    staging = tmp_path / f"staging-{name}"
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    target.parent.mkdir(parents=True, exist_ok=True)
    (staging / "package").rename(target)


def _delivery(tmp_path: Path) -> Path:
    name, version = PROJECT
    repo = tmp_path / f"{name}-{version}"
    _unpack(name, version, tmp_path, repo)
    for helper, helper_version in HELPERS:
        _unpack(helper, helper_version, tmp_path, repo / "test" / "test_helper" / helper)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"Deliver {name} {version}", cwd=repo)
    return repo


def _by_hand(repo: Path, tmp_path: Path, image: str) -> tuple[dict[str, int], str]:
    """bats itself, in the same image and the sandbox's restrictions, on a copy of the tree."""
    tree = tmp_path / "by-hand"
    shutil.copytree(repo, tree, ignore=shutil.ignore_patterns(".git"))
    scratch = "rw,exec,nosuid,nodev,size=512m,mode=1777"
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
         "--security-opt", "no-new-privileges:true", "--tmpfs", f"/tmp:{scratch}",
         "--tmpfs", f"/work:{scratch}", "-e", "HOME=/tmp", "-v", f"{tree}:/src:ro",
         "-w", "/work", image, "bash", "-c",
         "cp -a /src/. /work/src/ && cd /work/src && bats --tap --recursive test"],
        capture_output=True, text=True, check=False, timeout=180,
    ).stdout  # fmt: skip
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for line in out.splitlines():
        point = re.match(r"^(not ok|ok) \d+", line)
        if point is None:
            continue
        if point.group(1) == "ok" and re.search(r"#\s*skip\b", line, flags=re.I):
            counts["skipped"] += 1
        else:
            counts["passed" if point.group(1) == "ok" else "failed"] += 1
    return counts, out


@pytest.mark.docker
@pytest.mark.slow
def test_git_open_counts_match_bats_by_hand_in_the_shell_image(
    shell_image: str,  # noqa: F811 (the fixture)
    engine_config: EngineConfig,
    tmp_path: Path,
) -> None:
    repo = _delivery(tmp_path)
    assert (repo / "test" / "git-open.bats").read_text().count("\n@test ") >= 60
    spec_path = tmp_path / "spec" / "acceptance.yaml"
    spec_path.parent.mkdir()
    spec_path.write_text(SPEC, encoding="utf-8")

    run = run_acceptance(str(repo), None, load_spec(spec_path), engine_config)
    predicate = run.statement["predicate"]
    checks = {c["id"]: c for c in predicate["checks"]}
    context = json.dumps(
        {
            "verdict": run.verdict,
            "reasons": predicate["reasons"],
            "checks": {
                k: {"status": v["status"], "tests": v.get("tests")} for k, v in checks.items()
            },
            "logs": {name: text[-1500:] for name, text in run.logs.items()},
        },
        indent=1,
    )
    assert predicate["runtime"] == "shell", context
    assert predicate["environment"]["image"]["tag"] == shell_image, context

    by_hand, tap = _by_hand(repo, tmp_path, shell_image)
    assert by_hand["passed"] >= AT_LEAST_PASSED, tap[-3000:]
    assert checks["functional"]["tests"] == by_hand, context + tap[-3000:]
    clean = by_hand["failed"] == 0
    assert checks["functional"]["status"] == ("passed" if clean else "failed"), context
    # ShellCheck ran on the script and the test file, its findings below the threshold.
    assert checks["sast"]["status"] == "passed", context
    assert "no findings at or above high" in checks["sast"]["summary"], checks["sast"]
    assert checks["licence"]["status"] == "passed", context
    assert run.verdict == ("accepted" if clean else "rejected"), context
