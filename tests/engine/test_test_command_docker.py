"""`functional.command` end to end (issue 16): `acceptance check` in the real sandbox runs the
owner's command instead of the runtime's runner and reads the results file it writes:
Python with a JUnit-writing pytest command (beside the owner's hidden tests, which keep
the engine's pytest runner), shell with `bats --tap`. Counts equal what the tool says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RepoFactory, check, unavailable, write_spec

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env")]

ONLY_TESTS = "security: false\nlicence: false\n"
PYTHON_TESTS = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n"
    "def test_add():\n    assert add(1, 2) == 3\n\n"
    "def test_zero():\n    assert add(0, 0) == 0\n\n"
    "def test_skipped():\n    import pytest\n    pytest.skip('later')\n",
}
BATS = {
    "bin/hello": '#!/bin/bash\necho "hello $1"\n',
    "tests/hello.bats": '@test "greets" {\n  run bash bin/hello ann\n  [ "$output" = "hello ann" ]\n}\n\n'
    '@test "greets twice" {\n  run bash bin/hello bob\n  [ "$status" -eq 0 ]\n}\n\n'
    '@test "skipped" {\n  skip "not yet"\n}\n',
}


def _functional(check_entry: dict[str, Any]) -> dict[str, Any]:
    return {k: check_entry.get(k) for k in ("status", "reason_code", "tests", "runner", "command")}


def test_python_with_a_junit_writing_command(
    tmp_path: Path, make_repo: RepoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo({**PYTHON_TESTS, "reports/junit.xml": "<forged/>"})
    spec = write_spec(
        tmp_path / "spec",
        ONLY_TESTS + "runtime: python\nfunctional:\n  min_passed: 3\n  hidden_tests: hidden\n"
        "  command: python -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests\n"
        "  results: {format: junit, path: reports/junit.xml}\n",
        hidden={"test_owner.py": "def test_owner():\n    assert 1 + 1 == 2\n"},
    )
    code, statement = check(str(repo), spec, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (0, "accepted"), predicate["reasons"]
    functional = {c["id"]: c for c in predicate["checks"]}["functional"]
    # the delivered reports/junit.xml was removed before the command ran: pytest's is read
    assert functional["own_tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 1}
    # the hidden test ran with the engine's pytest runner, as without a command
    assert functional["tests"] == {"passed": 3, "failed": 0, "errors": 0, "skipped": 1}
    assert functional["hidden_tests"] == 1
    assert functional["runner"] == "command"
    assert functional["command"].startswith("python -m pytest -q")
    assert functional["results_file"] == {"format": "junit", "path": "reports/junit.xml"}


def test_python_command_exit_status_decides(
    tmp_path: Path, make_repo: RepoFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # The tests pass, but the owner's command also demands something that fails.
    repo = make_repo(PYTHON_TESTS)
    spec = write_spec(
        tmp_path / "spec",
        ONLY_TESTS + "runtime: python\nfunctional:\n"
        "  command: python -m pytest -q --junitxml=out.xml tests && python -c 'raise SystemExit(4)'\n"
        "  results: {format: junit, path: out.xml}\n",
    )
    code, statement = check(str(repo), spec, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (1, "rejected"), predicate["reasons"]
    functional = {c["id"]: c for c in predicate["checks"]}["functional"]
    assert _functional(functional)["reason_code"] == "TESTS_FAILED"
    assert functional["tests"]["passed"] == 2
    assert "exited with 4 although its results list no failure" in functional["summary"]


def test_shell_with_bats_tap(
    tmp_path: Path, make_repo: RepoFactory, shell_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(BATS)
    spec = write_spec(
        tmp_path / "spec",
        ONLY_TESTS + "runtime: shell\nfunctional:\n  min_passed: 2\n"
        "  command: bats --tap tests > build/results.tap\n"
        "  results: {format: tap, path: build/results.tap}\n",
    )
    code, statement = check(str(repo), spec, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (0, "accepted"), predicate["reasons"]
    functional = {c["id"]: c for c in predicate["checks"]}["functional"]
    assert _functional(functional) == {
        "status": "passed",
        "reason_code": None,
        "tests": {"passed": 2, "failed": 0, "errors": 0, "skipped": 1},
        "runner": "command",
        "command": "bats --tap tests > build/results.tap",
    }
    assert [r["id"] for r in functional["results"]] == ["greets", "greets twice", "skipped"]


def test_shell_bats_tap_with_a_failure_is_rejected_with_its_name(
    tmp_path: Path, make_repo: RepoFactory, shell_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        **BATS,
        "tests/hello.bats": BATS["tests/hello.bats"] + '\n@test "breaks" {\n  false\n}\n',
    }
    repo = make_repo(files)
    spec = write_spec(
        tmp_path / "spec",
        ONLY_TESTS + "runtime: shell\nfunctional:\n  command: [bats, --tap, --output, ., tests]\n"
        "  results: {format: tap, path: results.tap}\n",
    )
    # bats writes TAP to stdout, not to the file: the list form cannot redirect, so no results.
    code, statement = check(str(repo), spec, capsys=capsys)
    functional = {c["id"]: c for c in statement["predicate"]["checks"]}["functional"]
    assert code == 1 and functional["reason_code"] == "INVALID_ARTIFACT", functional["summary"]
    assert "wrote no results file at results.tap" in functional["summary"]
    spec = write_spec(
        tmp_path / "spec2",
        ONLY_TESTS + "runtime: shell\nfunctional:\n  command: bats --tap tests > results.tap\n"
        "  results: {format: tap, path: results.tap}\n",
    )
    code, statement = check(str(repo), spec, capsys=capsys)
    functional = {c["id"]: c for c in statement["predicate"]["checks"]}["functional"]
    assert (code, functional["reason_code"]) == (1, "TESTS_FAILED"), functional["summary"]
    assert functional["failing_tests"] == ["breaks"]
    assert functional["tests"] == {"passed": 2, "failed": 1, "errors": 0, "skipped": 1}


def test_node_with_nodes_own_tap_reporter_into_a_file(
    tmp_path: Path, docker_engine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    import docker.errors

    from sandbox.node_image import node_image_tag
    from tests.conftest import ROOT, git

    try:
        docker_engine.images.get(node_image_tag())
    except docker.errors.ImageNotFound:
        unavailable("node image missing: run `acceptance image build --runtime node`")
    repo = tmp_path / "node-tool"
    shutil.copytree(ROOT / "examples" / "node-tool", repo)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    spec = write_spec(
        tmp_path / "spec",
        ONLY_TESTS + "runtime: node\nfunctional:\n  min_passed: 6\n  command: [node, --test, "
        "--test-reporter=tap, --test-reporter-destination=build/results.tap]\n"
        "  results: {format: tap, path: build/results.tap}\n",
    )
    code, statement = check(str(repo), spec, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (0, "accepted"), predicate["reasons"]
    functional = {c["id"]: c for c in predicate["checks"]}["functional"]
    # the same six tests the engine's own node:test run counts (test_node_runtime_docker.py)
    assert functional["tests"] == {"passed": 6, "failed": 0, "errors": 0, "skipped": 0}
    assert functional["runner"] == "command"
    assert functional["results_file"] == {"format": "tap", "path": "build/results.tap"}


def test_the_shell_example_with_its_tap_spec_counts_what_the_default_run_counts(
    tmp_path: Path, make_repo: RepoFactory, shell_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tests.conftest import ROOT, git

    repo = tmp_path / "shell-tool"
    shutil.copytree(ROOT / "examples" / "shell-tool", repo)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    spec = ROOT / "examples" / "specs" / "shell-tool-tap" / "acceptance.yaml"
    code, statement = check(str(repo), spec, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (0, "accepted"), predicate["reasons"]
    checks = {c["id"]: c for c in predicate["checks"]}
    # the same five tests the engine's own bats run counts (test_shell_runtime_docker.py)
    assert checks["functional"]["tests"] == {"passed": 5, "failed": 0, "errors": 0, "skipped": 0}
    assert checks["functional"]["command"] == "bats --tap --recursive tests > build/results.tap"
    assert checks["sast"]["status"] == "passed"
