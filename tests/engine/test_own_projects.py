"""Which installed distributions are the supplier's own (left out of the audit), and why.

The hostile side is `tests/hostile/test_dependency_hiding.py`; these are the pieces:
the metadata read of the wheel the engine builds, the one name it yields, and the
intersection with what the venv listing marks as installed from a local path.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from acceptance.engine.dependencies import own_project_names
from acceptance.engine.install_plan import InstallPlan, LocalProject
from acceptance.engine.prepared import PreparedEnvironments
from acceptance.engine.runtimes import python_install
from acceptance.errors import SubmissionError
from checks.dependencies import local_names

FORGED = "Metadata-Version: 2.1\nName: py\nVersion: 1.11.0\nRequires-Dist: hidden-dep\n"
OWN = "Metadata-Version: 2.1\nName: runner\nVersion: 1.0\nRequires-Dist: attrs>=23\n"


def wheel(folder: Path, entries: list[tuple[str, str]]) -> Path:
    """A wheel whose data files come first in the archive, as setuptools writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "runner-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries:
            archive.writestr(name, text)
    return path


def read_metadata(folder: Path) -> str:
    """Run the engine's in-sandbox reader with this interpreter, as the sandbox would."""
    return subprocess.run(
        [sys.executable, "-I", "-c", python_install.READ_METADATA, str(folder)],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip


def test_the_reader_takes_the_wheels_own_dist_info_not_one_among_its_data_files(
    tmp_path: Path,
) -> None:
    wheel(tmp_path, [
        ("runner-1.0.data/data/lib/python3.11/site-packages/py-1.11.0.dist-info/METADATA", FORGED),
        ("runner/__init__.py", ""),
        ("runner-1.0.dist-info/METADATA", OWN),
    ])  # fmt: skip
    assert python_install.built_metadata(read_metadata(tmp_path), ".") == ("runner", ["attrs>=23"])


def test_a_wheel_without_its_own_dist_info_is_the_submissions_fault(tmp_path: Path) -> None:
    wheel(tmp_path, [("runner-1.0.data/purelib/py-1.11.0.dist-info/METADATA", FORGED)])
    with pytest.raises(SubmissionError) as info:
        python_install.built_metadata(read_metadata(tmp_path), "libs/x")
    assert info.value.reason == "INVALID_ARTIFACT"
    assert (
        "'libs/x'" in info.value.message and "no wheel with readable metadata" in info.value.message
    )


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Traceback (most recent call last):\n  ValueError\n",
        "{not json\n",
        '{"name": "runner", "requires_dist": []}\n{"name": "py", "requires_dist": []}\n',
        '{"name": "bad name", "requires_dist": []}\n',
        '{"name": "py\\n", "requires_dist": []}\n',
        '{"name": "runner", "requires_dist": [1]}\n',
        '{"name": "runner"}\n',
        '["runner"]\n',
    ],
)
def test_anything_but_one_well_formed_record_is_refused(output: str) -> None:
    with pytest.raises(SubmissionError) as info:
        python_install.built_metadata(output, ".")
    assert info.value.reason == "INVALID_ARTIFACT"


def test_build_output_around_the_record_is_ignored() -> None:
    output = 'running bdist_wheel\n{"name": "Runner_App", "requires_dist": ["attrs"]}\n'
    assert python_install.built_metadata(output, ".") == ("Runner_App", ["attrs"])


def test_only_own_projects_that_the_listing_marks_local_are_excluded() -> None:
    listing = json.dumps([
        {"name": "runner", "version": "1.0", "local": True},
        {"name": "py", "version": "1.11.0", "local": True},  # a forged direct_url.json
        {"name": "URLLIB3", "version": "1.23", "local": True},
        {"name": "attrs", "version": "23.1.0"},
    ]).encode()  # fmt: skip
    claimed = local_names(listing)
    assert claimed == {"runner", "py", "urllib3"}
    own = own_project_names((LocalProject(".", name="runner"),), {})
    assert claimed & own == {"runner"}
    # a name the engine installed but the listing does not show as local stays audited
    assert local_names(listing) & own_project_names((LocalProject(".", name="attrs"),), {}) == set()


def test_the_prepared_environments_remember_the_projects_they_installed(tmp_path: Path) -> None:
    prepared = PreparedEnvironments(
        tmp_path, tmp_path / "wheels", "https://example.invalid/repo.git", None,
        tools_python="/opt/tools/bin/python", wheels_mount="/wheels", src_mount="/work/src",
    )  # fmt: skip
    before = prepared.projects
    projects = (LocalProject(".", name="runner"), LocalProject("libs/helper"))
    installed: list[InstallPlan] = []
    plan = InstallPlan(("pytest",), (), projects, True, ())  # not cacheable: installed directly
    prepared.install(
        plan, sandbox=None, image_id="sha256:x", python_version="3.11",  # type: ignore[arg-type]
        run=lambda *a: pytest.fail("no sandbox command expected"),
        stage=lambda name: contextlib.nullcontext(), install=installed.append,
        remaining=lambda: 60.0,
    )  # fmt: skip
    assert before == () and installed == [plan]
    assert prepared.projects == projects
