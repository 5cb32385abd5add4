"""Real published npm packages judged by the node runtime, counts equal to a by-hand run.

The npm side of tests/test_real_projects.py (issue 16). Each project is the registry
tarball of a pinned release, fetched at test time with the host's npm (never copied into
this repository). Published tarballs carry no lockfile, so the test makes one on the
host (`npm install --package-lock-only --ignore-scripts` on the release's package.json)
and commits it with the tree in a temporary git repository, as a supplier would deliver
it. Both are tape suites: the spec runs the owner's command (`functional.command`, TAP
results); by hand, the same tree gets `npm ci --ignore-scripts` on the host and the same
command runs there, its TAP counted line by line (not by the engine's parser).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from acceptance.engine.pipeline import EngineConfig, run_acceptance
from acceptance.engine.spec import load_spec
from tests.conftest import git


@dataclass(frozen=True)
class NpmProject:
    """A pinned release whose tarball ships its tape tests."""

    name: str
    version: str
    #: a floor on the passing tests, so that "0 == 0" can never pass
    at_least_passed: int

    @property
    def id(self) -> str:
        return f"{self.name}-{self.version}"


PROJECTS = (
    # package.json: "test": "tape test/*.js"; devDependencies: tape ~1.0.4; one
    # dependency (jsonify). 6 test files, 24 assertions.
    NpmProject("json-stable-stringify", "1.0.1", at_least_passed=20),
    # "test": "tape test/*.js"; devDependencies: tape ~2.3.0; four small dependencies.
    # 7 test files, 95 assertions.
    NpmProject("shell-quote", "1.6.1", at_least_passed=90),
)

# tape's TAP on stdout into the results file; the package's own test script, with
# tape's bin named by path (the host's npm ci runs with --no-bin-links, as the engine's).
COMMAND = "node node_modules/tape/bin/tape test/*.js > build/results.tap"
SPEC = """\
version: 1
title: {title}
runtime: node
functional:
  command: {command}
  results: {{format: tap, path: build/results.tap}}
  min_passed: 1
  timeout: 120
limits: {{cpus: 2, memory: 1g, pids: 256, timeout: 300, disk: 1g}}
# The released packages are judged for their tests here, not their SAST or licences.
security: false
licence: false
"""
NPM_TIMEOUT = 180


def _env(home: Path) -> dict[str, str]:
    """The host's npm with its own HOME, through its ordinary configuration otherwise."""
    keep = ("PATH", "LANG", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "NODE_EXTRA_CA_CERTS")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("npm_config_")}
    return {**env, "HOME": str(home), "NO_COLOR": "1"}


def _must(argv: list[str] | str, cwd: Path, home: Path) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=_env(home), capture_output=True, text=True, timeout=NPM_TIMEOUT,
        shell=isinstance(argv, str), check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(
            f"{argv} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return done.stdout


def _delivery(project: NpmProject, tmp_path: Path) -> Path:
    """The pinned tarball unpacked, its lockfile generated, committed to a git repository."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    download = tmp_path / "download"
    download.mkdir()
    _must(["npm", "pack", f"{project.name}@{project.version}", "--silent"], download, home)
    (archive,) = download.glob("*.tgz")
    staging = tmp_path / "staging"
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    repo = tmp_path / project.id
    (staging / "package").rename(repo)
    _must(
        ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"],
        repo,
        home,
    )
    assert json.loads((repo / "package-lock.json").read_text())["lockfileVersion"] == 3
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"Deliver {project.id}", cwd=repo)
    return repo


def _tap_counts(tap: str) -> dict[str, int]:
    """ok / not ok lines, SKIP and TODO points skipped: counted plainly, no engine code."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for line in tap.splitlines():
        point = re.match(r"^(not ok|ok)\b(.*)$", line)
        if point is None:
            continue
        if re.search(r"#\s*(skip|todo)\b", point.group(2), flags=re.I):
            counts["skipped"] += 1
        else:
            counts["passed" if point.group(1) == "ok" else "failed"] += 1
    return counts


def _by_hand(repo: Path, tmp_path: Path) -> dict[str, int]:
    """The same tree, `npm ci --ignore-scripts` on the host, the same command."""
    hand = tmp_path / "by-hand"
    shutil.copytree(repo, hand, ignore=shutil.ignore_patterns(".git"))
    home = tmp_path / "home"
    _must(
        ["npm", "ci", "--ignore-scripts", "--no-bin-links", "--no-audit", "--no-fund"], hand, home
    )
    (hand / "build").mkdir()
    subprocess.run(
        COMMAND, shell=True, cwd=hand, env=_env(home), timeout=120, check=False,
        capture_output=True,
    )  # fmt: skip
    return _tap_counts((hand / "build" / "results.tap").read_text(encoding="utf-8"))


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("node_image")
@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.id)
def test_real_npm_project_counts_match_tape_by_hand(
    project: NpmProject, engine_config: EngineConfig, tmp_path: Path
) -> None:
    repo = _delivery(project, tmp_path)
    spec_path = tmp_path / "spec" / "acceptance.yaml"
    spec_path.parent.mkdir()
    spec_path.write_text(
        SPEC.format(title=f"{project.id} as released", command=COMMAND), encoding="utf-8"
    )

    run = run_acceptance(str(repo), None, load_spec(spec_path), engine_config)
    predicate = run.statement["predicate"]
    context = json.dumps(
        {
            "verdict": run.verdict,
            "reasons": predicate["reasons"],
            "install": predicate["install"],
            "logs": {name: text[-1500:] for name, text in run.logs.items()},
        },
        indent=1,
    )
    assert predicate["runtime"] == "node", context
    # Every package the generated lockfile lists was fetched and checked.
    lock = json.loads((repo / "package-lock.json").read_text())
    locked = sorted(
        f"{path.rpartition('node_modules/')[2]}@{entry['version']}"
        for path, entry in lock["packages"].items()
        if path
    )
    assert sorted(predicate["install"]["requirements"]) == locked, context

    by_hand = _by_hand(repo, tmp_path)
    assert by_hand["passed"] >= project.at_least_passed, by_hand
    functional = {c["id"]: c for c in predicate["checks"]}["functional"]
    assert functional["runner"] == "command", context
    assert functional["tests"] == by_hand, context
    clean = by_hand["failed"] == 0 and by_hand["errors"] == 0
    assert run.verdict == ("accepted" if clean else "rejected"), context
