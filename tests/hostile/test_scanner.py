"""Scanner evasion: the supplier cannot switch bandit off, silence it, or hide code from it."""

from __future__ import annotations

import pytest

from tests.conftest import MIT_LICENSE, RepoFactory
from tests.hostile.conftest import Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

EVERY_TEST = ",".join(f"B{n}" for n in (*range(101, 113), *range(201, 203), *range(301, 325),
                                         *range(401, 416), *range(501, 510), *range(601, 615),
                                         *range(701, 705)))  # fmt: skip

PROJECT = {
    "LICENSE": MIT_LICENSE,
    "pyproject.toml": (
        '[project]\nname = "runner"\nversion = "1.0"\nlicense = "MIT"\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[tool.bandit]\nskips = {EVERY_TEST.split(",")!r}\nexclude_dirs = ["runner", "tests"]\n'
    ).replace("'", '"'),
    "tests/test_runner.py": "from runner import run\n\ndef test_run():\n    assert run('true') == 0\n",
}


def test_nosec_everywhere_and_a_config_that_disables_every_test_change_nothing(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    files = {
        **PROJECT,
        "runner/__init__.py": (
            "import pickle  # nosec\nimport subprocess  # nosec\n\n\n"
            "def run(cmd):  # nosec\n"
            "    return subprocess.call(cmd, shell=True)  # nosec B602\n\n\n"
            "def load(blob):  # nosec\n"
            "    return pickle.loads(blob)  # nosec: reviewed, safe\n\n\n"
            "def calc(expr):  # nosec\n"
            "    return eval(expr)  # nosec  # noqa\n"
        ),
        ".bandit": f"[bandit]\nskips = {EVERY_TEST}\nexclude = ./runner,./tests\ntargets = ./docs\n",
        "bandit.yaml": f"skips: [{EVERY_TEST}]\nexclude_dirs: [runner]\n",
        "setup.cfg": f"[bandit]\nskips = {EVERY_TEST}\n",
        "tox.ini": f"[bandit]\nskips = {EVERY_TEST}\n",
    }
    # Every check on; medium so that eval and pickle count too.
    outcome = hostile.run(make_repo(files), hostile.spec("security: {sast: {fail_on: medium}}\n"))

    judged(outcome, "SAST_FINDINGS", says="runner/__init__.py:6")
    sast = outcome.check("sast")
    blocking = {(f["test_id"], f["line"]) for f in sast["findings"] if f["blocking"]}
    assert {("B602", 6), ("B301", 10), ("B307", 14)} <= blocking, sast["findings"]
    assert all(f["suppressed"] for f in sast["findings"] if f["blocking"])
    assert outcome.check("functional")["status"] == "passed"
    assert outcome.check("licence")["status"] == "passed"


def test_code_nested_past_the_scanners_recursion_limit_fails_closed(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # Python compiles and runs this module; bandit's AST walk gives up on it.
    padding = "+".join(["1"] * 1200)
    files = {
        **PROJECT,
        "runner/__init__.py": f"import subprocess\n\nPAD = {padding}\n\n\n"
        "def run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
    }
    outcome = hostile.run(make_repo(files), hostile.spec("licence: false\n"))

    judged(outcome, "SAST_UNSCANNABLE", says="runner/__init__.py")
    assert outcome.check("functional")["status"] == "passed"  # the code does run
    assert outcome.check("sast")["errors"] == [
        {
            "filename": "runner/__init__.py",
            "reason": "exception while scanning file",
            "valid_python": True,
        }
    ]
