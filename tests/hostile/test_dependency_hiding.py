"""Dependency hiding: a distribution that merely claims to be the supplier's own project
(a ``direct_url.json`` with a ``file:`` URL) is audited like any other.

Only the projects the engine itself installed from the checkout, named by their static
metadata read on the host or by the metadata the engine built in the sandbox, are left
out of pip-audit. Every case below installs ``py 1.11.0``'s (or ``urllib3 1.23``'s)
metadata through the supplier's own build, claims it was installed from a local path,
and must be rejected with ``VULNERABLE_DEPENDENCIES``.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import MIT_LICENSE, RepoFactory
from tests.hostile.conftest import Hostile, Outcome, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

#: the sandbox's Python is one of these; a forger writes for all of them
PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
#: PYSEC-2022-42969 (ReDoS in py's svn support), no fixed release
PY_ADVISORY = "PYSEC-2022-42969"
#: what says "installed from the checkout" to a reader of the venv
LOCAL: dict[str, object] = {"url": "file:///work/src", "dir_info": {}}
EDITABLE: dict[str, object] = {"url": "file:///work/src", "dir_info": {"editable": True}}

TESTS = {
    "tests/test_runner.py": "from runner import run\n\ndef test_run():\n    assert run() == 1\n"
}
CODE = {"runner/__init__.py": "def run():\n    return 1\n"}


def forged_dist_info(name: str, version: str, direct_url: dict[str, object]) -> dict[str, str]:
    """A ``NAME-VERSION.dist-info`` folder in the checkout, under ``forged/``."""
    folder = f"forged/{name}-{version}.dist-info"
    metadata = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: MIT\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
    )
    return {
        f"{folder}/METADATA": metadata,
        f"{folder}/direct_url.json": json.dumps(direct_url),
        f"{folder}/INSTALLER": "pip\n",
    }


def data_files(name: str, version: str) -> str:
    """``[tool.setuptools.data-files]`` that drop the forged folder into every site-packages."""
    folder = f"forged/{name}-{version}.dist-info"
    files = json.dumps([f"{folder}/METADATA", f"{folder}/direct_url.json", f"{folder}/INSTALLER"])
    return "".join(
        f'"lib/python{python}/site-packages/{name}-{version}.dist-info" = {files}\n'
        for python in PYTHONS
    )


def pyproject(name: str, forged: list[tuple[str, str]]) -> str:
    tables = "".join(data_files(n, v) for n, v in forged)
    return (
        f'[project]\nname = "{name}"\nversion = "1.0"\nlicense = {{text = "MIT"}}\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[tool.setuptools]\npackages = ["runner"]\n'
        f"[tool.setuptools.data-files]\n{tables}"
    )


def assert_audited(outcome: Outcome, package: str, advisory: str | None = None) -> None:
    """The forged distribution was audited and its advisory fails the run."""
    judged(outcome, "VULNERABLE_DEPENDENCIES", says=package)
    check = outcome.check("dependencies")
    assert package not in check["excluded"], check
    found = {(v["package"], v["id"]) for v in check["vulnerabilities"]}
    if advisory is not None:
        assert (package, advisory) in found, check["vulnerabilities"]
    assert any(name == package for name, _ in found), check["vulnerabilities"]
    assert outcome.check("functional")["status"] == "passed"


def test_py_dist_info_written_by_data_files_is_audited(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    files = {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": pyproject("runner", [("py", "1.11.0")]),
        **forged_dist_info("py", "1.11.0", LOCAL),
        **CODE,
        **TESTS,
    }
    outcome = hostile.run(make_repo(files), hostile.spec())

    assert_audited(outcome, "py", PY_ADVISORY)
    # The supplier's own project is still left out: its name collides with nothing of theirs.
    assert outcome.check("dependencies")["excluded"] == ["runner"]


def test_an_editable_claim_for_another_vulnerable_package_is_audited(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    files = {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": pyproject("runner", [("urllib3", "1.23")]),
        **forged_dist_info("urllib3", "1.23", EDITABLE),
        **CODE,
        **TESTS,
    }
    outcome = hostile.run(make_repo(files), hostile.spec("licence: false\n"))

    assert_audited(outcome, "urllib3")


def test_a_setup_py_project_whose_name_is_computed_cannot_hide_py(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # No static name: the engine learns it from the metadata it builds in the sandbox.
    setup = (
        "import glob, os\nfrom setuptools import setup\n\n"
        "NAME = 'run' + 'ner'\n"
        "forged = sorted(glob.glob('forged/py-1.11.0.dist-info/*'))\n"
        "setup(\n    name=NAME, version='1.0', packages=['runner'], license='MIT',\n"
        "    data_files=[(f'lib/python{v}/site-packages/py-1.11.0.dist-info', forged)\n"
        f"                for v in {PYTHONS!r}],\n)\n"
    )
    files = {
        "LICENSE": MIT_LICENSE,
        "setup.py": setup,
        **forged_dist_info("py", "1.11.0", {**LOCAL, "url": "file:///work/src/forged"}),
        **CODE,
        **TESTS,
    }
    outcome = hostile.run(make_repo(files), hostile.spec("licence: false\n"))

    assert_audited(outcome, "py", PY_ADVISORY)
    assert outcome.check("dependencies")["excluded"] == ["runner"]


def test_a_second_local_project_that_drops_py_is_audited_and_so_is_a_repeat_push(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # The root project is clean; a helper project the requirements install from the
    # checkout carries the forged folder, spelled "PY" so only a canonical name matches.
    helper = pyproject("helper", [("PY", "1.11.0")]).replace('["runner"]', '["helper"]')
    files = {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": (
            '[project]\nname = "runner"\nversion = "1.0"\nlicense = {text = "MIT"}\n'
            '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
            '[tool.setuptools]\npackages = ["runner"]\n'
        ),
        "requirements.txt": "./vendor/helper\n",
        "vendor/helper/pyproject.toml": helper,
        "vendor/helper/helper/__init__.py": "",
        **{f"vendor/helper/{k}": v for k, v in forged_dist_info("PY", "1.11.0", LOCAL).items()},
        **CODE,
        **TESTS,
    }
    repo = make_repo(files)
    spec = hostile.spec("licence: false\n")
    first = hostile.run(repo, spec)
    assert_audited(first, "py", PY_ADVISORY)
    assert first.check("dependencies")["excluded"] == ["helper", "runner"]

    # The next push reuses the prepared environment: the own names are worked out again.
    second = hostile.run(repo, spec)
    assert second.predicate["environment"]["dependency_cache"]["environment"] == "reused"
    assert_audited(second, "py", PY_ADVISORY)


def test_a_newer_dist_info_cannot_shadow_a_vulnerable_dependency(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # urllib3 1.23 is really installed (a declared dependency); the build drops a
    # metadata folder claiming 2.2.3 where the listing looks first (a site-packages of
    # a Python the venv does not have sorts before the real one).
    forged = "forged/urllib3-2.2.3.dist-info"
    files = {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": (
            '[project]\nname = "runner"\nversion = "1.0"\nlicense = {text = "MIT"}\n'
            'dependencies = ["urllib3==1.23"]\n'
            '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
            '[tool.setuptools]\npackages = ["runner"]\n'
            "[tool.setuptools.data-files]\n"
            f'"lib/python3.0/site-packages/urllib3-2.2.3.dist-info" = ["{forged}/METADATA", "{forged}/INSTALLER"]\n'
        ),
        **{
            k: v
            for k, v in forged_dist_info("urllib3", "2.2.3", LOCAL).items()
            if "direct_url" not in k
        },
        **CODE,
        **TESTS,
    }
    outcome = hostile.run(make_repo(files), hostile.spec("licence: false\n"))

    judged(outcome, "INVALID_ARTIFACT", says="lists urllib3 twice with different versions")
