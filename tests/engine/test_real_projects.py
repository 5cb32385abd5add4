"""Real published projects: declared test dependencies are installed and the suite is run.

Acceptance criterion: a real-world project whose test dependencies are declared in
a ``[dependency-groups]`` table or a ``requirements/tests.txt`` file gets them
installed and its suite run, with the same counts as running pytest by hand.

Each project is the sdist of a pinned release (which ships its tests and its
test-dependency declarations), turned into a git repository as a supplier would
deliver it. The engine judges it in the sandbox; the same tree is then set up by
hand on the host in a throwaway venv, with the same test dependencies installed
the way the project's own CI does, and pytest's JUnit XML from both runs is
counted by the same parser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from acceptance.engine.pipeline import EngineConfig, run_acceptance
from acceptance.engine.spec import load_spec
from checks.junit import JUnitResult, parse_junit
from tests.conftest import git


@dataclass(frozen=True)
class RealProject:
    """A pinned release and how its own CI installs its test dependencies."""

    name: str
    version: str
    #: where the test dependencies are declared: a requirements file or a dependency group
    declared_in: str
    #: the ``pip install .`` arguments that install them by hand, as the project's CI does
    by_hand: tuple[str, ...]
    #: a floor on the passing tests, so that "0 == 0" can never pass for a suite that ran
    at_least_passed: int

    @property
    def id(self) -> str:
        return f"{self.name}-{self.version}"


PROJECTS = (
    # PEP 735: [dependency-groups] tests = pytest-asyncio, pytest-randomly, simplejson,
    # time-machine (C extension, has wheels), pytest; dev = {include tests} + typing
    # (mypy, rich, twisted). Without them the suite does not even collect.
    RealProject(
        name="structlog",
        version="26.1.0",
        declared_in="[dependency-groups].tests",
        by_hand=("--group", "tests", "--group", "dev"),
        at_least_passed=500,
    ),
    # pip-compile'd requirements/tests.txt (freezegun, pytest 8.1.1 and their pins);
    # requirements/dev.txt, which the engine also reads, pins the rest of the
    # maintainers' tools. tox.ini installs `-r requirements/tests.txt`.
    RealProject(
        name="itsdangerous",
        version="2.2.0",
        declared_in="requirements/tests.txt",
        by_hand=("-r", "requirements/tests.txt", "-r", "requirements/dev.txt"),
        at_least_passed=200,
    ),
)

# The host side needs pip's `--group` (PEP 735), new in pip 25.1.
BY_HAND_PIP = "pip>=25.1"
# Supplier code runs as root on the host here: only published releases, pinned.
DOWNLOAD_TIMEOUT = 600
INSTALL_TIMEOUT = 900
PYTEST_TIMEOUT = 600
# The by-hand venv's own installer, which the sandbox venv (made without pip) lacks.
VENV_TOOLS = frozenset({"pip"})

SPEC = """\
version: 1
title: {title}
functional:
  min_passed: 1
  timeout: 600
limits: {{cpus: 2, memory: 2g, pids: 512, timeout: 1500, disk: 2g}}
# This test is about installing what the project declares and counting its tests;
# the released code has real bandit findings (itsdangerous: sha1 in its signer)
# and licensecheck knows no ZPL-2.1 (zope.interface, via structlog's twisted).
security: false
licence: false
"""


def _clean_env() -> dict[str, str]:
    """The environment for by-hand commands: nothing from this pytest run leaks in."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST_")}


def _run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout
    )


def _must(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


@pytest.fixture(scope="session")
def unpacked_sdist(tmp_path_factory: pytest.TempPathFactory) -> Callable[[RealProject], Path]:
    """Download (once per session) and unpack a project's sdist; return the unpacked tree."""
    base = tmp_path_factory.mktemp("sdists")

    def get(project: RealProject) -> Path:
        folder = base / project.id
        tree = folder / "tree"
        if tree.is_dir():
            return tree
        download = folder / "download"
        download.mkdir(parents=True)
        # Through pip's own configuration, as the engine's wheel downloads are.
        _must(
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-binary",
                    ":all:",
                    "--no-deps",
                    "--progress-bar",
                    "off",
                    f"{project.name}=={project.version}",
                    "-d",
                    str(download),
                ],
                cwd=folder,
                timeout=DOWNLOAD_TIMEOUT,
            ),
            f"downloading the {project.id} sdist",
        )
        archives = sorted(download.glob("*.tar.gz"))
        assert len(archives) == 1, f"expected one sdist, got {archives}"
        staging = folder / "staging"
        with tarfile.open(archives[0]) as archive:
            archive.extractall(staging, filter="data")
        (top,) = list(staging.iterdir())
        top.rename(tree)
        return tree

    return get


def _declared_test_requirements(project: RealProject, root: Path) -> list[str]:
    """The test dependencies as the project declares them, read plainly (no engine code)."""
    if project.declared_in.endswith(".txt"):
        text = (root / project.declared_in).read_text(encoding="utf-8")
        # pip-compile output: one pin a line; comments and "# via" lines are indented or '#'.
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln[0] not in "#- \t"]
        return [str(Requirement(line)) for line in lines]
    group = project.declared_in.removeprefix("[dependency-groups].")
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    entries = pyproject["dependency-groups"][group]
    return [str(Requirement(entry)) for entry in entries if isinstance(entry, str)]


def _engine_installed(install_log: str) -> dict[str, str]:
    """{name: version} from pip's "Successfully installed" lines in the sandbox.

    With a prepared environment the dependencies and the project itself are
    installed in two steps (logs `install` and `install-project`).
    """
    lines = [ln for ln in install_log.splitlines() if ln.startswith("Successfully installed ")]
    assert lines, f"no 'Successfully installed' line in the install log:\n{install_log[-3000:]}"
    installed: dict[str, str] = {}
    for line in lines:
        for token in line.split()[2:]:
            name, _, version = token.rpartition("-")
            installed[canonicalize_name(name)] = version
    # The project itself, built into the prepared environment: "built and installed NAME-VER-...whl"
    for line in install_log.splitlines():
        if line.startswith("built and installed ") and line.endswith(".whl"):
            name, version = line.split()[-1].split("-")[:2]
            installed[canonicalize_name(name)] = version
    return installed


def _by_hand(
    project: RealProject, repo: Path, venv: Path, junit: Path
) -> tuple[JUnitResult, dict[str, str]]:
    """Install the project and its test dependencies in a fresh venv; run pytest by hand."""
    _must(_run([sys.executable, "-m", "venv", str(venv)], cwd=repo, timeout=120), "python -m venv")
    python = str(venv / "bin" / "python")
    _must(
        _run(
            [python, "-m", "pip", "install", "-q", "--upgrade", BY_HAND_PIP],
            cwd=repo,
            timeout=INSTALL_TIMEOUT,
        ),
        "upgrading pip in the by-hand venv",
    )
    # Python 3.11's venv preinstalls setuptools; the sandbox's venv has none, so a
    # dependency on setuptools would otherwise be satisfied by a different release.
    _must(
        _run([python, "-m", "pip", "uninstall", "-q", "-y", "setuptools"], cwd=repo, timeout=120),
        "removing the venv's preinstalled setuptools",
    )
    # --only-binary for index packages, as the engine's downloads: both sides then
    # resolve to the same releases. The project itself is still built from `.`.
    _must(
        _run(
            [python, "-m", "pip", "install", "-q", "--only-binary=:all:", ".", *project.by_hand],
            cwd=repo,
            timeout=INSTALL_TIMEOUT,
        ),
        f"installing {project.id} and its test dependencies by hand",
    )
    listing = json.loads(
        _must(
            _run([python, "-m", "pip", "list", "--format=json"], cwd=repo, timeout=120), "pip list"
        )
    )
    versions = {canonicalize_name(item["name"]): item["version"] for item in listing}
    result = _run([python, "-m", "pytest", f"--junitxml={junit}"], cwd=repo, timeout=PYTEST_TIMEOUT)
    # 0: all passed, 1: some failed; anything else means the suite did not run properly.
    if result.returncode not in (0, 1):
        pytest.fail(
            f"pytest by hand exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return parse_junit(junit.read_bytes()), versions


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.id)
def test_real_project_counts_match_pytest_by_hand(
    project: RealProject,
    unpacked_sdist: Callable[[RealProject], Path],
    engine_config: EngineConfig,
    tmp_path: Path,
) -> None:
    # The supplier's delivery: the released tree, committed to a git repository.
    repo = tmp_path / project.id
    shutil.copytree(unpacked_sdist(project), repo, symlinks=True)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"Deliver {project.id}", cwd=repo)

    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    spec_path = spec_dir / "acceptance.yaml"
    spec_path.write_text(SPEC.format(title=f"{project.id} as released"), encoding="utf-8")

    # No `install` section: the engine must find the test dependencies itself.
    run = run_acceptance(str(repo), None, load_spec(spec_path), engine_config)
    predicate = run.statement["predicate"]
    context = json.dumps(
        {
            "verdict": run.verdict,
            "reasons": predicate["reasons"],
            "install": predicate["install"],
            "stages": predicate["stages"],
            "logs": {name: text[-2000:] for name, text in run.logs.items()},
        },
        indent=1,
    )

    # Detection, not luck: every declared test dependency is in the install plan,
    # and the evidence names where it was found.
    requirements = predicate["install"]["requirements"]
    declared = _declared_test_requirements(project, repo)
    assert declared, f"{project.id} declares no test dependencies in {project.declared_in}"
    missing = [req for req in declared if req not in requirements]
    assert not missing, f"not detected: {missing}\n{context}"
    source = project.declared_in.removeprefix("[dependency-groups].")
    assert any(source in line for line in predicate["install"]["evidence"]), context

    # The same tree, set up and tested by hand on the host.
    by_hand, hand_versions = _by_hand(project, repo, tmp_path / "venv", tmp_path / "by-hand.xml")
    assert by_hand.passed >= project.at_least_passed, (
        f"the by-hand run passed only {by_hand.passed}"
    )

    # Exactly the same dependencies on both sides (same releases), so counts are comparable.
    python = predicate["environment"].get("python_version")
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}", (
        f"the sandbox runs Python {python}; the by-hand run must use the same minor version"
    )
    engine_versions = _engine_installed(
        run.logs.get("install", "") + "\n" + run.logs.get("install-project", "")
    )
    differing = {
        name: (version, hand_versions.get(name))
        for name, version in engine_versions.items()
        if hand_versions.get(name) != version
    }
    assert not differing, f"engine vs by-hand versions differ: {differing}"
    extra = sorted(set(hand_versions) - set(engine_versions) - VENV_TOOLS)
    assert not extra, (
        f"installed by hand but not by the engine: {extra}; logs: {sorted(run.logs)}; "
        f"notes: {predicate['environment'].get('dependency_cache')}; "
        f"install-project: {run.logs.get('install-project', '')[-800:]}"
    )

    check = predicate["checks"][0]
    hand_counts = {
        "passed": by_hand.passed,
        "failed": by_hand.failed,
        "errors": by_hand.errors,
        "skipped": by_hand.skipped,
    }
    assert check["tests"] == hand_counts, context
    if not check["results_truncated"]:
        engine_outcomes = sorted((r["id"], r["outcome"]) for r in check["results"])
        hand_outcomes = sorted((c.id, c.outcome.value) for c in by_hand.cases)
        assert engine_outcomes == hand_outcomes

    clean = by_hand.failed == 0 and by_hand.errors == 0
    assert run.verdict == ("accepted" if clean else "rejected"), context
