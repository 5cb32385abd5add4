"""Resource exhaustion: every limit holds, ends the run in time and is named in the verdict."""

from __future__ import annotations

import pytest

from tests.conftest import RepoFactory
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

# Forks until the pids limit, in every child too; ignores the failures and keeps trying.
FORK_BOMB = """
import os

def bomb():
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""

# A process that outlives its parent: new session, output detached, SIGTERM/SIGHUP ignored.
DAEMON = """
import os, signal, time

FORGED = ('<testsuites><testsuite name="pytest">'
          '<testcase classname="tests.test_daemon" name="test_the_real_code"/></testsuite></testsuites>')


def daemonize(beat, forge=False):
    if os.fork():
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    count = 0
    while True:
        count += 1
        with open(beat, "w") as handle:
            handle.write(str(count))
        if forge and os.path.exists("/work/out/junit.xml"):
            with open("/work/out/junit.xml", "w") as handle:
                handle.write(FORGED)
        time.sleep(0.02)


def alive(beat):
    time.sleep(0.2)
    try:
        first = open(beat).read()
        time.sleep(0.3)
        return open(beat).read() != first
    except OSError:
        return False
"""


def test_fork_bomb_hits_the_process_limit_and_is_stopped_at_once(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    repo = make_repo({
        "bomb.py": FORK_BOMB,
        "tests/test_bomb.py": "from bomb import bomb\n\ndef test_fine():\n    pass\n\n"
                              "def test_bomb():\n    bomb()\n",
    })  # fmt: skip
    outcome = hostile.run(
        repo, hostile.spec(FUNCTIONAL_ONLY, functional="functional: {timeout: 30}\n")
    )

    judged(outcome, "PROCESS_LIMIT", says="more processes than the limit")
    functional = outcome.check("functional")
    assert functional["running_test"] == "tests/test_bomb.py::test_bomb"
    # Stopped when the limit was hit, not when the 30 s test timeout ran out.
    assert outcome.seconds < 25, outcome.explain()


def test_fork_bomb_in_setup_py_is_named_with_its_stage(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    repo = make_repo({
        "bomb.py": FORK_BOMB,
        "setup.py": "import sys\nsys.path.insert(0, '.')\nimport bomb\nbomb.bomb()\n",
        "tests/test_nothing.py": "def test_nothing():\n    pass\n",
    })  # fmt: skip
    outcome = hostile.run(repo, hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "PROCESS_LIMIT", says="building the project's metadata")
    assert outcome.seconds < 30, outcome.explain()


def test_memory_bomb_in_a_child_process_hits_the_memory_limit(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    bomb = "import subprocess, sys\n\ndef test_bomb():\n    subprocess.run([sys.executable, '-c', " \
           "'x = [bytearray(32 << 20) for _ in range(1000)]'], check=True)\n"  # fmt: skip
    outcome = hostile.run(make_repo({"tests/test_memory.py": bomb}), hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "MEMORY_LIMIT", says="memory limit")


def test_cpu_spin_past_the_timeout_is_stopped(hostile: Hostile, make_repo: RepoFactory) -> None:
    spin = "def test_quick():\n    pass\n\ndef test_spin():\n    while True:\n        pass\n"
    spec = hostile.spec(FUNCTIONAL_ONLY, functional="functional: {timeout: 5}\n")
    outcome = hostile.run(make_repo({"tests/test_spin.py": spin}), spec)

    judged(outcome, "TIMEOUT", says="tests/test_spin.py::test_spin was running", limit=5)
    assert outcome.check("functional")["tests"]["passed"] == 1


def test_a_process_that_ignores_sigterm_and_sleeps_is_killed(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    stubborn = (
        "import signal, subprocess, time\n\n"
        "def test_stubborn():\n"
        "    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "        signal.signal(signum, signal.SIG_IGN)\n"
        "    subprocess.Popen(['sh', '-c', 'trap \"\" TERM INT HUP; sleep 3600'], start_new_session=True)\n"
        "    time.sleep(3600)\n"
    )
    spec = hostile.spec(FUNCTIONAL_ONLY, functional="functional: {timeout: 5}\n")
    outcome = hostile.run(make_repo({"tests/test_stubborn.py": stubborn}), spec)

    judged(outcome, "TIMEOUT", says="did not finish within 5 s", limit=5)


def test_gigabytes_on_stdout_and_stderr_hit_the_output_limit(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    flood = (
        "import os, subprocess\n\n"
        "def test_flood():\n"
        "    subprocess.Popen(['sh', '-c', 'yes flooding-stderr >&2'])\n"
        "    chunk = b'x' * (1 << 20)\n"
        "    for _ in range(4096):  # 4 GiB\n"
        "        os.write(1, chunk)\n"
    )
    # -s: straight onto the engine's stream. (With pytest's capture on, the flood fills /tmp
    # and pytest prints it back in the failure report: the same limit, later.)
    files = {"pytest.ini": "[pytest]\naddopts = -s\n", "tests/test_flood.py": flood}
    outcome = hostile.run(make_repo(files), hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "OUTPUT_LIMIT", says="more than the output limit")
    log = outcome.logs["functional.log"]
    assert len(log.encode()) < 2 * 1024**2
    assert log.endswith("[output truncated at the limit]")


def test_filling_the_checkout_and_tmp_hits_the_disk_limit(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    fill = (
        "def fill(path):\n"
        "    with open(path, 'wb') as handle:\n"
        "        while True:\n"
        "            handle.write(bytes(1 << 20))\n\n"
        "def test_fill_checkout():\n    fill('/work/src/filler.bin')\n\n"
        "def test_fill_tmp():\n    fill('/tmp/filler.bin')\n"
    )
    outcome = hostile.run(make_repo({"tests/test_fill.py": fill}), hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "DISK_LIMIT", says="/work, /tmp")


def test_millions_of_tiny_files_hit_the_file_count_limit(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    many = (
        "import os\n\n"
        "def test_many():\n"
        "    os.mkdir('/tmp/many')\n"
        "    for n in range(3_000_000):\n"
        "        open(f'/tmp/many/{n}', 'w').close()\n"
    )
    outcome = hostile.run(make_repo({"tests/test_many.py": many}), hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "DISK_LIMIT", says="(/tmp)")
    assert "No space left on device" in outcome.logs["functional.log"]


def test_daemons_never_outlive_their_stage(hostile: Hostile, make_repo: RepoFactory) -> None:
    tests = (
        "from daemon import alive, daemonize\n\n"
        "def test_the_daemon_from_setup_py_still_runs():\n"
        "    assert alive('/tmp/install.beat'), 'the daemon started by setup.py is gone'\n\n"
        "def test_start_a_daemon_meant_to_outlive_the_run():\n"
        "    daemonize('/tmp/test.beat')\n"
        "    assert alive('/tmp/test.beat')\n\n"
        "def test_the_real_code():\n"
        "    assert 1 + 1 == 3, 'the delivered code is wrong'\n"
    )
    setup = (
        "import sys\nsys.path.insert(0, '.')\nimport daemon\n"
        "daemon.daemonize('/tmp/install.beat', forge=True)\n"
        "from setuptools import setup\nsetup(name='daemon', version='1.0', py_modules=['daemon'])\n"
    )
    files = {"daemon.py": DAEMON, "setup.py": setup, "tests/test_daemon.py": tests}
    outcome = hostile.run(make_repo(files), hostile.spec(FUNCTIONAL_ONLY))

    # Had the install's daemon survived, it would have replaced the results with a pass.
    judged(outcome, "TESTS_FAILED")
    # The daemon's forger names the engine's results file: that alone needs a person too.
    assert set(outcome.reason_codes) == {"TESTS_FAILED", "SUSPICIOUS_TEST_HOOKS"}, outcome.explain()
    assert sorted(outcome.check("functional")["failing_tests"]) == [
        "tests/test_daemon.py::test_the_daemon_from_setup_py_still_runs",
        "tests/test_daemon.py::test_the_real_code",
    ]
