"""Hostile deliveries against the owner's test command (`functional.command`, issue 16).

The supplier controls the repository, and the command runs its code: a results file
delivered in the checkout, a forged passing file beside a failing exit status, a huge,
malformed or empty file, links and special files at the results path. Each ends failed,
never accepted, with a sentence that says why; the harness checks containment."""

from __future__ import annotations

import pytest

from tests.conftest import RepoFactory
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

RESULTS = "reports/junit.xml"
COMMAND = (
    "functional:\n  timeout: 20\n"
    "  command: python -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests\n"
    "  results: {format: junit, path: reports/junit.xml}\n"
)
PASSING = (
    '<?xml version="1.0"?><testsuites><testsuite name="pytest">'
    '<testcase classname="tests.test_code" name="test_one"/>'
    '<testcase classname="tests.test_code" name="test_two"/></testsuite></testsuites>'
)
FAILING = {"tests/test_code.py": "def test_one():\n    assert False, 'wrong'\n"}
PASSING_CODE = {"tests/test_code.py": "def test_one():\n    assert True\n"}


def at_exit(body: str, tests: dict[str, str] = FAILING) -> dict[str, str]:
    """A conftest that runs `body` when pytest's process exits, after pytest wrote its results."""
    code = "import atexit, os\n\n@atexit.register\ndef forge():\n" + "".join(
        f"    {line}\n" for line in body.splitlines()
    )
    return {**tests, "tests/conftest.py": code}


CASES: dict[str, tuple[dict[str, str], str, str]] = {
    "a passing results file delivered in the checkout, a command that writes none": (
        {**FAILING, RESULTS: PASSING, "tests/conftest.py": "import os\nos._exit(0)\n"},
        "INVALID_ARTIFACT",
        "wrote no results file at reports/junit.xml",
    ),
    "a forged passing file while the command exits non-zero": (
        at_exit(f"open({RESULTS!r}, 'w').write({PASSING!r})"),
        "TESTS_FAILED",
        "exited with 1 although its results list no failure",
    ),
    "malformed XML": (
        at_exit(
            f"open({RESULTS!r}, 'w').write('<testsuites><testcase')\nos._exit(0)", PASSING_CODE
        ),
        "INVALID_ARTIFACT",
        "not well-formed XML",
    ),
    "entity expansion": (
        at_exit(
            f"open({RESULTS!r}, 'w').write('<!DOCTYPE a [<!ENTITY b \"c\">]><testsuites/>')\n"
            "os._exit(0)",
            PASSING_CODE,
        ),
        "INVALID_ARTIFACT",
        "forbidden XML feature",
    ),
    "zero tests": (
        at_exit(
            f"open({RESULTS!r}, 'w').write('<testsuites><testsuite name=\"x\"/></testsuites>')\n"
            "os._exit(0)",
            PASSING_CODE,
        ),
        "NO_TESTS",
        "lists no test",
    ),
    "the results file replaced by a link to a host-looking file": (
        at_exit(
            f"os.remove({RESULTS!r})\nos.symlink('/etc/passwd', {RESULTS!r})\nos._exit(0)",
            PASSING_CODE,
        ),
        "INVALID_ARTIFACT",
        "unusable",
    ),
    "the results folder replaced by a link to a forged copy": (
        at_exit(
            "import shutil\nos.makedirs('/tmp/forged', exist_ok=True)\n"
            f"open('/tmp/forged/junit.xml', 'w').write({PASSING!r})\n"
            "shutil.rmtree('reports')\nos.symlink('/tmp/forged', 'reports')\nos._exit(0)"
        ),
        "INVALID_ARTIFACT",
        "leads through a link",
    ),
    "a named pipe at the results path": (
        at_exit(f"os.remove({RESULTS!r})\nos.mkfifo({RESULTS!r})\nos._exit(0)", PASSING_CODE),
        "INVALID_ARTIFACT",
        "unusable",
    ),
    "a folder delivered at the results path": (
        {**PASSING_CODE, f"{RESULTS}/keep": "x"},
        "INVALID_ARTIFACT",
        "is a folder or cannot be removed",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_owners_command_results_are_never_believed_blindly(
    hostile: Hostile, make_repo: RepoFactory, case: str
) -> None:
    files, code, says = CASES[case]
    outcome = hostile.run(make_repo(files), hostile.spec(FUNCTIONAL_ONLY, functional=COMMAND))
    judged(outcome, code, says=says)
    functional = outcome.check("functional")
    assert functional["status"] == "failed"
    assert functional["runner"] == "command", outcome.explain()
    assert functional["results_file"] == {"format": "junit", "path": RESULTS}


def test_a_delivered_results_link_to_a_host_file_reads_nothing_of_the_host(
    hostile: Hostile, make_repo: RepoFactory, tmp_path: object
) -> None:
    # A link in the repository where the results go: the checkout refuses links out of it,
    # and whatever remains is removed before the command runs.
    repo = make_repo({**FAILING, "tests/conftest.py": "import os\nos._exit(0)\n"})
    (repo / "reports").mkdir()
    (repo / RESULTS).symlink_to(hostile.canary.files[0])
    from tests.hostile.conftest import commit_all

    commit_all(repo)
    outcome = hostile.run(repo, hostile.spec(FUNCTIONAL_ONLY, functional=COMMAND))
    assert outcome.verdict == "rejected", outcome.explain()
    assert set(outcome.reason_codes) & {"UNSAFE_REPOSITORY", "INVALID_ARTIFACT"}, outcome.explain()


def test_a_gigabyte_results_file_is_refused_unread(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # Sparse: a gigabyte costs no memory, so the disk limit is raised for the case.
    files = at_exit(f"os.truncate({RESULTS!r}, 1 << 30)\nos._exit(0)", PASSING_CODE)
    limits = "limits: {timeout: 60, memory: 256m, pids: 64, disk: 2g, output: 1m}\n"
    outcome = hostile.run(
        make_repo(files), hostile.spec(FUNCTIONAL_ONLY, limits=limits, functional=COMMAND)
    )
    judged(outcome, "INVALID_ARTIFACT", says="larger than the 20971520-byte limit")
    assert "test-command-results.xml" not in outcome.artifacts


def test_a_bats_test_that_pads_the_tap_results_is_not_believed(
    hostile: Hostile, make_repo: RepoFactory, docker_engine: object
) -> None:
    # A shell delivery whose test appends passing points to the very file bats writes:
    # the plan bats printed first no longer matches the points listed.
    import docker.errors

    from sandbox.shell_image import shell_image_tag
    from tests.conftest import unavailable

    try:
        docker_engine.images.get(shell_image_tag())  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        unavailable("shell image missing: run `acceptance image build --runtime shell`")
    files = {
        "tests/x.bats": '@test "fine" {\n  true\n}\n\n@test "pads" {\n'
        "  printf 'ok 3 extra\\nok 4 extra\\n' >> results.tap\n  false\n}\n"
    }
    functional = (
        "functional:\n  timeout: 20\n  command: bats --tap tests > results.tap\n"
        "  results: {format: tap, path: results.tap}\n"
    )
    outcome = hostile.run(
        make_repo(files), hostile.spec(FUNCTIONAL_ONLY + "runtime: shell\n", functional=functional)
    )
    assert outcome.verdict == "rejected", outcome.explain()
    check = outcome.check("functional")
    assert check["status"] == "failed", outcome.explain()
    assert check["reason_code"] in ("INVALID_ARTIFACT", "TESTS_FAILED"), outcome.explain()
    assert check["tests"]["passed"] <= 1, outcome.explain()
