"""Forged results: the supplier's code shares pytest's process and can write any file;
a results file that is not pytest's own account of the run is never believed."""

from __future__ import annotations

import pytest

from tests.conftest import RepoFactory
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

JUNIT = "/work/out/junit.xml"
# What a forger claims: two passing tests.
FORGED = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2">'
    '<testcase classname="tests.test_code" name="test_one" time="0.01"/>'
    '<testcase classname="tests.test_code" name="test_two" time="0.01"/>'
    "</testsuite></testsuites>"
)
# The real code is wrong: without a forgery the verdict is TESTS_FAILED.
FAILING = {
    "tests/test_code.py": "def test_one():\n    assert False, 'wrong'\n\ndef test_two():\n    assert False\n"
}
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 or "")) * 10}">' for i in range(1, 10))
    + ']><testsuites><testsuite name="pytest"><testcase classname="tests.test_code" '
    'name="test_one">&lol9;</testcase></testsuite></testsuites>'
)


def at_exit(body: str) -> dict[str, str]:
    """A conftest that runs `body` when pytest's process exits, after pytest wrote its results."""
    code = "import atexit, os\n\n@atexit.register\ndef forge():\n" + "".join(
        f"    {line}\n" for line in body.splitlines()
    )
    return {**FAILING, "tests/conftest.py": code}


CASES = {
    "own report, then os._exit(0) at import": (
        {
            **FAILING,
            "tests/conftest.py": f"import os\nos.makedirs('/work/out', exist_ok=True)\n"
            f"open({JUNIT!r}, 'w').write({FORGED!r})\nos._exit(0)\n",
        },
        "did not finish its session normally",
    ),
    "overwrite after pytest wrote it": (
        at_exit(f"open({JUNIT!r}, 'w').write({FORGED!r})\nos._exit(0)"),
        "changed after pytest wrote it",
    ),
    "redirect pytest's report, forge the expected one": (
        {
            **FAILING,
            "tests/conftest.py": "def pytest_configure(config):\n"
            "    config.option.xmlpath = '/tmp/real.xml'\n"
            f"    open({JUNIT!r}, 'w').write({FORGED!r})\n"
            "def pytest_sessionfinish(session):\n"
            "    session.exitstatus = 0\n",
        },
        "redirected",
    ),
    "symlink to a host-looking file": (
        at_exit(f"os.remove({JUNIT!r})\nos.symlink('/etc/passwd', {JUNIT!r})"),
        "symbolic link",
    ),
    "billion laughs": (
        at_exit(f"open({JUNIT!r}, 'w').write({LAUGHS!r})"),
        "forbidden XML feature",
    ),
    "sys.exit(0) from a conftest": (
        {**FAILING, "tests/conftest.py": "import sys\nsys.exit(0)\n"},
        "pytest wrote no test results",
    ),
    "exit status forced to 0 over failures": (
        {
            **FAILING,
            "tests/conftest.py": "import pytest\n\n@pytest.hookimpl(trylast=True)\n"
            "def pytest_sessionfinish(session):\n"
            "    session.exitstatus = 0\n",
        },
        "pytest reported success but its results list failures",
    ),
    "killing pytest's parent and init": (
        {
            "tests/test_code.py": "import os, signal\n\ndef test_kill():\n"
            "    for signum in (signal.SIGTERM, signal.SIGALRM, signal.SIGKILL):\n"
            "        os.kill(1, signum)\n"
            "    os.kill(os.getppid(), signal.SIGKILL)\n"
        },
        "pytest was killed by signal 9",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_forged_results_are_never_believed(
    hostile: Hostile, make_repo: RepoFactory, case: str
) -> None:
    files, says = CASES[case]
    outcome = hostile.run(make_repo(files), hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "INVALID_ARTIFACT", says=says)
    # The functional check itself carries the verdict: the sandbox (and init) survived.
    assert outcome.check("functional")["reason_code"] == "INVALID_ARTIFACT"


def test_a_gigabyte_results_file_is_refused_unread(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # Sparse: a gigabyte costs no memory, so the disk limit is raised for the case.
    files = at_exit(f"os.truncate({JUNIT!r}, 1 << 30)")
    limits = "limits: {timeout: 60, memory: 256m, pids: 64, disk: 2g, output: 1m}\n"
    outcome = hostile.run(make_repo(files), hostile.spec(FUNCTIONAL_ONLY, limits=limits))

    judged(outcome, "INVALID_ARTIFACT", says="larger than the 20971520-byte limit")
    assert "junit.xml" not in outcome.artifacts


def test_a_conftest_that_hangs_at_import_times_out(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    files = {**FAILING, "tests/conftest.py": "import time\nwhile True:\n    time.sleep(1)\n"}
    spec = hostile.spec(FUNCTIONAL_ONLY, functional="functional: {timeout: 5}\n")
    outcome = hostile.run(make_repo(files), spec)

    judged(outcome, "TIMEOUT", says="had not finished collecting", limit=5)


def test_forging_the_events_as_well_needs_a_persons_review(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # Was a strict xfail: a forgery consistent with the plugin's format is still believed
    # as evidence, but code naming the engine's files is flagged and never accepted alone.
    forge = (
        "import hashlib, json, os\n"
        f"xml = {FORGED!r}.encode()\n"
        "os.makedirs('/work/out', exist_ok=True)\n"
        f"open({JUNIT!r}, 'wb').write(xml)\n"
        "events = [{'event': 'collected', 'count': 2, 'hidden': 0, 'pytest': '9'}]\n"
        "for name in ('test_one', 'test_two'):\n"
        "    events.append({'event': 'report', 'nodeid': 'tests/test_code.py::' + name,\n"
        "                   'when': 'call', 'outcome': 'passed'})\n"
        "events.append({'event': 'finish', 'exitstatus': 0, 'junit_path': "
        f"{JUNIT!r}, 'junit_sha256': hashlib.sha256(xml).hexdigest()}})\n"
        "open(os.environ['ACCEPTANCE_EVENTS'], 'w').write('\\n'.join(map(json.dumps, events)))\n"
        "os._exit(0)\n"
    )
    outcome = hostile.run(
        make_repo({**FAILING, "tests/conftest.py": forge}), hostile.spec(FUNCTIONAL_ONLY)
    )

    judged(outcome, "SUSPICIOUS_TEST_HOOKS", says="a person must review it")
    assert outcome.check("functional")["suspicious_test_hooks"][0]["path"] == "tests/conftest.py"
