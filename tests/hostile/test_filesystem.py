"""Filesystem tricks: links to host files (the signing key above all) are never followed on
the host, and the owner's hidden tests cannot be swapped for something outside their folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import MIT_LICENSE, RepoFactory, git
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, commit_all, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

PROJECT = {
    "pyproject.toml": '[project]\nname = "demo"\nversion = "1.0"\nlicense = "MIT"\n',
    "demo.py": "def add(a, b):\n    return a + b\n",
    "tests/test_add.py": "from demo import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


def with_link(repo: Path, relpath: str, target: Path) -> None:
    """Replace `relpath` in the repository with a link to `target` and commit it."""
    path = repo / relpath
    if path.exists() or path.is_symlink():
        git("rm", "-q", "-r", "--cached", relpath, cwd=repo)
        path.unlink()
    os.symlink(target, path)
    commit_all(repo, f"link {relpath}")


def test_licence_linked_to_the_signing_key_is_refused_with_every_check_on(
    hostile: Hostile, make_repo: RepoFactory, cli_data_dir: Path
) -> None:
    repo = make_repo({**PROJECT, "LICENSE": MIT_LICENSE})
    with_link(repo, "LICENSE", cli_data_dir / "keys" / "signing.key")

    outcome = hostile.run(repo, hostile.spec())  # functional, sast, dependencies, licence

    judged(outcome, "UNSAFE_REPOSITORY", says="LICENSE is a symbolic link")
    statuses = {c["id"]: c["status"] for c in outcome.predicate["checks"]}
    assert statuses == {
        "functional": "passed",
        "sast": "passed",
        "dependencies": "passed",
        "licence": "failed",
    }
    assert outcome.reason_codes == ["UNSAFE_REPOSITORY"]
    key = (cli_data_dir / "keys" / "signing.key").read_text()
    assert key.splitlines()[1] not in outcome.explain() + str(outcome.statement)


@pytest.mark.parametrize(
    ("relpath", "target"),
    [
        ("requirements.txt", "canary beside the key"),
        ("pyproject.toml", "canary in the host's home"),
        ("requirements", "/root"),
    ],
)
def test_project_files_linked_to_host_files_are_refused(
    hostile: Hostile, make_repo: RepoFactory, relpath: str, target: str
) -> None:
    repo = make_repo(PROJECT)
    places = {
        "canary beside the key": hostile.canary.files[0],
        "canary in the host's home": hostile.canary.files[1],
    }
    with_link(repo, relpath, places.get(target, Path(target)))

    outcome = hostile.run(repo, hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "UNSAFE_REPOSITORY", says=f"{relpath} is a symbolic link")
    # Refused while planning, before any sandbox was started.
    assert [s["name"] for s in outcome.predicate["stages"]] == ["checkout", "plan"]


OWNER_TESTS = {"test_owner.py": "def test_owner():\n    pass\n"}


@pytest.mark.parametrize(
    ("trick", "folder"),
    [
        ("dot-dot path", "hidden/../../keys"),
        ("link inside", "hidden"),
        ("folder is a link", "hidden"),
    ],
)
def test_hidden_tests_that_leave_their_folder_are_bad_input(
    hostile: Hostile,
    make_repo: RepoFactory,
    tmp_path: Path,
    cli_data_dir: Path,
    trick: str,
    folder: str,
) -> None:
    functional = f"functional: {{timeout: 10, hidden_tests: {folder}}}\n"
    spec = hostile.spec(FUNCTIONAL_ONLY, functional=functional, hidden=OWNER_TESTS)
    hidden = spec.parent / "hidden"
    if trick == "link inside":
        os.symlink(cli_data_dir / "keys" / "signing.key", hidden / "test_key.py")
    elif trick == "folder is a link":
        os.rename(hidden, tmp_path / "elsewhere")
        os.symlink(tmp_path / "elsewhere", hidden)

    outcome = hostile.run(make_repo(PROJECT), spec)

    assert outcome.exit_code == 2, outcome.explain()  # the owner's input: refused, never judged
    assert "functional.hidden_tests" in outcome.stderr
    assert outcome.seconds < 5


def test_hidden_tests_swapped_after_the_spec_was_read_are_refused(
    hostile: Hostile, make_repo: RepoFactory, cli_data_dir: Path, engine_config: object
) -> None:
    from acceptance.engine.pipeline import run_acceptance
    from acceptance.engine.spec import load_spec
    from acceptance.errors import UserInputError

    functional = "functional: {timeout: 10, hidden_tests: hidden}\n"
    spec_path = hostile.spec(FUNCTIONAL_ONLY, functional=functional, hidden=OWNER_TESTS)
    spec = load_spec(spec_path)
    # Between reading the spec and staging the tests, a link appears in the folder.
    os.symlink(cli_data_dir / "keys" / "signing.key", spec_path.parent / "hidden" / "test_key.py")

    with pytest.raises(UserInputError, match="changed after the spec was read"):
        run_acceptance(str(make_repo(PROJECT)), None, spec, engine_config)  # type: ignore[arg-type]
