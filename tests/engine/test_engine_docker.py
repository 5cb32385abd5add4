"""End to end through the CLI: real git, real Docker sandbox, real pytest inside it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from acceptance.cli import main
from tests.conftest import MIT_LICENSE, RepoFactory, check, git, write_spec

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env")]

PASSING = {
    "LICENSE": MIT_LICENSE,
    "pyproject.toml": (
        '[project]\nname = "demo"\nversion = "1.0"\nlicense = "MIT"\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
    ),
    "demo/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_add.py": (
        "from demo import add\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n\n"
        "def test_add_negative():\n    assert add(-1, -2) == -3\n"
    ),
}


def check_of(statement: dict[str, Any], kind: str) -> dict[str, Any]:
    checks = statement["predicate"]["checks"]
    assert [c["kind"] for c in checks] == ["functional", "sast", "dependencies", "licence"]
    return dict(next(c for c in checks if c["kind"] == kind))


def functional(statement: dict[str, Any]) -> dict[str, Any]:
    return check_of(statement, "functional")


def test_accepted_repo_gets_a_report_that_verifies_and_tampering_fails(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(PASSING)
    spec = write_spec(tmp_path / "spec", "functional: {paths: [tests], min_passed: 2}\n")
    report = tmp_path / "report.json"
    code, statement = check(str(repo), spec, "--out", str(report), capsys=capsys)

    assert code == 0, statement["predicate"]["reasons"]
    commit = git("rev-parse", "HEAD", cwd=repo)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["digest"] == {"gitCommit": commit}
    predicate = statement["predicate"]
    assert predicate["verdict"] == "accepted"
    assert predicate["source"]["commit"] == commit
    assert predicate["environment"]["image"]["id"].startswith("sha256:")
    assert {"bandit", "pip-audit", "licensecheck", "pytest"} <= set(
        predicate["environment"]["tools"]
    )
    result = functional(statement)
    assert result["status"] == "passed"
    assert result["tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 0}
    assert [s["name"] for s in predicate["stages"]][:2] == ["checkout", "plan"]
    assert {c["id"]: c["status"] for c in predicate["checks"]} == {
        "functional": "passed", "sast": "passed", "dependencies": "passed", "licence": "passed",
    }  # fmt: skip
    assert check_of(statement, "licence")["licence"]["spdx"] == "MIT"
    assert predicate["not_checked"] == []
    assert {"junit.xml", "bandit.sarif", "sbom.cdx.json", "pip-audit.json"} <= set(
        predicate["artifacts"]
    )

    assert main(["verify", str(report)]) == 0
    envelope = json.loads(report.read_text())
    payload = bytearray(envelope["payload"].encode())
    payload[40] = ord("A") if payload[40] != ord("A") else ord("B")
    envelope["payload"] = payload.decode()
    report.write_text(json.dumps(envelope))
    assert main(["verify", str(report)]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_failing_test_is_rejected_naming_it(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dict(PASSING)
    files["tests/test_broken.py"] = (
        "def test_wrong():\n    assert 1 + 1 == 3, 'arithmetic is off'\n"
    )
    code, statement = check(str(make_repo(files)), write_spec(tmp_path / "s"), capsys=capsys)

    assert code == 1
    result = functional(statement)
    assert result["status"] == "failed"
    assert result["reason_code"] == "TESTS_FAILED"
    assert result["tests"]["failed"] == 1 and result["tests"]["passed"] == 2
    assert any("test_wrong" in test for test in result["failing_tests"])
    assert "arithmetic is off" in result["failures"][0]["message"]
    assert "TESTS_FAILED" in statement["predicate"]["reason_codes"]


def test_repo_without_tests_is_rejected(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo({"demo.py": "VALUE = 1\n"})
    code, statement = check(str(repo), write_spec(tmp_path / "s"), capsys=capsys)

    assert code == 1
    assert functional(statement)["reason_code"] == "NO_TESTS"


def test_uninstallable_dependency_is_a_rejection_naming_it(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dict(PASSING)
    files["requirements.txt"] = "acceptance-no-such-package-xyz==1.0\n"
    code, statement = check(str(make_repo(files)), write_spec(tmp_path / "s"), capsys=capsys)

    assert code == 1
    assert statement["predicate"]["reason_codes"] == ["DEPENDENCY_UNAVAILABLE"]
    assert "acceptance-no-such-package-xyz" in statement["predicate"]["reasons"][0]
    # the cause, not a guess: the index has no such project (not "published only as source")
    assert "does not exist on the package index" in statement["predicate"]["reasons"][0]


def test_hanging_test_times_out_and_names_the_running_test(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "tests/test_fast.py": "def test_quick():\n    assert True\n",
        "tests/test_slow.py": "import time\n\ndef test_hangs():\n    time.sleep(600)\n",
    }
    spec = write_spec(tmp_path / "s", "functional: {timeout: 5}\nlimits: {timeout: 120}\n")
    started = time.monotonic()
    code, statement = check(str(make_repo(files)), spec, capsys=capsys)
    elapsed = time.monotonic() - started

    assert code == 1
    result = functional(statement)
    assert result["reason_code"] == "TIMEOUT"
    assert result["running_test"] == "tests/test_slow.py::test_hangs"
    assert result["tests"]["passed"] == 1
    assert "test_hangs" in result["summary"]
    assert elapsed < 60


def test_hidden_tests_always_run_and_cannot_be_deselected(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hidden = {
        "test_owner.py": "from demo import add\n\ndef test_owner_checks_add():\n    assert add(2, 2) == 4\n"
    }
    spec = write_spec(
        tmp_path / "s", "functional: {paths: [tests], hidden_tests: hidden}\n", hidden=hidden
    )
    code, statement = check(str(make_repo(PASSING)), spec, capsys=capsys)
    assert code == 0, statement["predicate"]["reasons"]
    result = functional(statement)
    # The supplier's tests and the owner's, each from its own pytest process.
    assert result["own_tests"]["passed"] == 2
    assert result["hidden"]["tests"]["passed"] == 1
    assert result["tests"]["passed"] == 3  # every test the check ran, as reports always counted
    assert result["hidden"]["expected"] == 1
    assert result["hidden_tests"] == 1
    assert statement["predicate"]["spec"]["hidden_tests_sha256"]
    assert [s["name"] for s in statement["predicate"]["stages"]][-2:] == [
        "functional",
        "hidden-tests",
    ]

    # The project's configuration no longer reaches the hidden tests: they still run.
    sneaky = dict(PASSING)
    sneaky["pytest.ini"] = "[pytest]\naddopts = -k 'not owner'\n"
    code, statement = check(str(make_repo(sneaky)), spec, capsys=capsys)
    assert code == 0, statement["predicate"]["reasons"]
    assert functional(statement)["hidden"]["tests"]["passed"] == 1


def test_memory_bomb_hits_the_memory_limit(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "tests/test_bomb.py": "def test_bomb():\n    blocks = [bytearray(64 * 1024**2) for _ in range(64)]\n    assert blocks\n"
    }
    spec = write_spec(tmp_path / "s", "limits: {memory: 256m}\n")
    code, statement = check(str(make_repo(files)), spec, capsys=capsys)
    assert code == 1
    assert functional(statement)["reason_code"] == "MEMORY_LIMIT"


def test_setup_py_project_metadata_is_computed_inside_the_sandbox(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "setup.py": (
            "from setuptools import setup\n"
            "setup(name='legacy', version='0.1', license='MIT', py_modules=['legacy'],"
            " install_requires=['iniconfig'])\n"
        ),
        "LICENSE": MIT_LICENSE,
        "legacy.py": "import iniconfig\n\ndef parser():\n    return iniconfig.IniConfig\n",
        "tests/test_legacy.py": "from legacy import parser\n\ndef test_parser():\n    assert parser().__name__ == 'IniConfig'\n",
    }
    code, statement = check(
        str(make_repo(files)),
        write_spec(tmp_path / "s"),
        "--logs",
        str(tmp_path / "logs"),
        capsys=capsys,
    )
    assert code == 0, statement["predicate"]["reasons"]
    stages = [s["name"] for s in statement["predicate"]["stages"]]
    assert "metadata" in stages
    assert statement["predicate"]["install"]["metadata_from_sandbox"] is True


def test_source_served_by_git_daemon(
    make_repo: RepoFactory,
    git_server: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, url = git_server
    repo = make_repo(PASSING)
    git("clone", "-q", "--bare", str(repo), str(base / "demo.git"), cwd=tmp_path)
    code, statement = check(
        f"{url}/demo.git", write_spec(tmp_path / "s"), "--ref", "main", capsys=capsys
    )
    assert code == 0, statement["predicate"]["reasons"]
    assert statement["predicate"]["source"] == {
        "url": f"{url}/demo.git",
        "ref": "main",
        "commit": git("rev-parse", "HEAD", cwd=repo),
        "tree": git("rev-parse", "HEAD^{tree}", cwd=repo),
    }


def test_no_sandbox_container_is_left_behind(docker_engine: Any) -> None:
    from sandbox.docker import LABEL

    # Runs after the cases above in this module: every run must have cleaned up.
    # Sandboxes of service runs (labelled with a run id) belong to other processes
    # that may share this engine, e.g. a benchmark; the CLI's runs carry no run id.
    def ours() -> list[Any]:
        found = docker_engine.containers.list(all=True, filters={"label": LABEL})
        return [c for c in found if "org.acceptance.run" not in (c.labels or {})]

    assert ours() == []


def test_broken_spec_is_bad_input(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "s", "limits: {timeout: -5}\nsurprise: 1\n")
    code = main(["check", str(make_repo(PASSING)), "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 2
    assert "limits.timeout" in err and "surprise" in err


def test_unreachable_source_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["check", "git://127.0.0.1:9/nothing.git", "--spec", str(write_spec(tmp_path / "s"))]
    )
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_docker_down_means_could_not_judge(
    make_repo: RepoFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    code, statement = check(str(make_repo(PASSING)), write_spec(tmp_path / "s"), capsys=capsys)
    assert code == 3
    assert statement["predicate"]["verdict"] == "error"
    assert "Docker" in statement["predicate"]["reasons"][0]


def test_missing_image_means_could_not_judge(
    make_repo: RepoFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ACCEPTANCE_SANDBOX_IMAGE", "acceptance-sandbox:does-not-exist")
    code, statement = check(str(make_repo(PASSING)), write_spec(tmp_path / "s"), capsys=capsys)
    assert code == 3
    assert "acceptance image build" in " ".join(statement["predicate"]["reasons"]) or code == 3
