"""Fair verdicts through the real sandbox: flaky tests named, a hanging test cut off
alone, a suite that overruns its time keeps what finished (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RepoFactory, check, write_spec

pytestmark = [pytest.mark.docker]

OFF = "security: false\nlicence: false\n"
CODE = {"demo/__init__.py": "def add(a, b):\n    return a + b\n"}
PASSING_TESTS = "".join(
    f"def test_pass_{i}():\n    from demo import add\n    assert add({i}, 1) == {i + 1}\n\n"
    for i in range(3)
)
# Fails on the first attempt of each pytest process tree, passes afterwards: a flaky test
# whose luck is decided by a file in /tmp, deterministic for the test suite.
FLAKY = (
    "import os\n\n"
    "def test_sometimes():\n"
    "    marker = '/tmp/acceptance-flaky-seen'\n"
    "    if not os.path.exists(marker):\n"
    "        open(marker, 'w').close()\n"
    "        assert False, 'unlucky this time'\n"
)


def functional(statement: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in statement["predicate"]["checks"] if c["id"] == "functional")


def test_a_flaky_test_is_named_and_fails_unless_the_spec_lets_it_pass(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo({**CODE, "tests/test_ok.py": PASSING_TESTS, "tests/test_flaky.py": FLAKY})
    strict = write_spec(tmp_path / "strict", OFF + "functional: {timeout: 60}\n")
    code, statement = check(str(repo), strict, capsys=capsys)
    result = functional(statement)
    assert code == 1, statement["predicate"]["reasons"]
    assert "1 flaky" in result["summary"]
    assert result["flaky"][0]["id"] == "tests/test_flaky.py::test_sometimes"
    attempts = result["flaky"][0]["attempts"]
    assert [a["outcome"] for a in attempts] == ["failed", "passed"]
    assert "unlucky this time" in attempts[0]["message"]
    assert result["reruns"] == 1

    lenient = write_spec(tmp_path / "lenient", OFF + "functional: {timeout: 60, flaky: pass}\n")
    code, statement = check(str(repo), lenient, capsys=capsys)
    result = functional(statement)
    assert code == 0, statement["predicate"]["reasons"]
    assert result["tests"]["passed"] == 4 and "1 flaky" in result["summary"]

    never = write_spec(
        tmp_path / "never", OFF + "functional: {timeout: 60, reruns: 0, flaky: pass}\n"
    )
    code, statement = check(str(repo), never, capsys=capsys)
    assert code == 1 and functional(statement)["flaky"] == []


def test_a_consistent_failure_is_never_hidden_by_reruns(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo({**CODE, "tests/test_bad.py": "def test_bad():\n    assert False\n"})
    spec = write_spec(tmp_path / "s", OFF + "functional: {timeout: 60, reruns: 2, flaky: pass}\n")
    code, statement = check(str(repo), spec, capsys=capsys)
    result = functional(statement)
    assert code == 1
    assert result["reason_code"] == "TESTS_FAILED" and result["flaky"] == []
    assert result["reruns"] == 2


def test_a_hanging_test_is_cut_off_alone_and_the_suite_goes_on(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hang = "import time\n\ndef test_hangs():\n    time.sleep(3600)\n"
    repo = make_repo({**CODE, "tests/test_a.py": PASSING_TESTS, "tests/test_b_hang.py": hang,
                      "tests/test_c.py": PASSING_TESTS.replace("test_pass_", "test_after_")})  # fmt: skip
    spec = write_spec(
        tmp_path / "s", OFF + "functional: {timeout: 60, test_timeout: 2, reruns: 0}\n"
    )
    code, statement = check(str(repo), spec, capsys=capsys)
    result = functional(statement)
    assert code == 1
    assert result["reason_code"] == "TEST_TIMEOUT"
    assert "tests/test_b_hang.py::test_hangs" in result["summary"]
    assert result["tests"]["passed"] == 6  # the tests before and after it ran
    assert result["timed_out_tests"] == ["tests/test_b_hang.py::test_hangs"]


def test_a_suite_that_overruns_keeps_what_finished_and_names_what_was_running(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = "import time\n\ndef test_slow():\n    time.sleep(3600)\n"
    repo = make_repo({**CODE, "tests/test_a.py": PASSING_TESTS, "tests/test_b_slow.py": slow})
    spec = write_spec(tmp_path / "s", OFF + "functional: {timeout: 8}\n")
    code, statement = check(str(repo), spec, capsys=capsys)
    result = functional(statement)
    assert code == 1
    assert result["reason_code"] == "TIMEOUT"
    assert result["partial"] is True
    assert result["running_test"] == "tests/test_b_slow.py::test_slow"
    finished = {r["id"]: r["outcome"] for r in result["results"]}
    assert finished == {f"tests/test_a.py::test_pass_{i}": "passed" for i in range(3)}
    assert result["tests"]["passed"] == 3
