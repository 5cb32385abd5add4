"""Hostile shell deliveries (issue 16): bats tests that forge or move their results, fork
bombs and output floods in .bats files, links out of the checkout, the network. Each ends
failed, never accepted; the harness checks containment after every run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import git
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

SHELL = FUNCTIONAL_ONLY + "runtime: shell\n"
FORGED = (
    '<?xml version="1.0"?><testsuites><testsuite name="x.bats" tests="2" failures="0">'
    '<testcase classname="x.bats" name="fine"/><testcase classname="x.bats" name="forger"/>'
    "</testsuite></testsuites>"
)


@pytest.fixture(autouse=True)
def _shell_image(shell_image: str) -> None:
    """Every case needs the shell runtime's image (tests/conftest.py)."""


def _repo(tmp_path: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    repo = tmp_path / "delivery"
    if repo.exists():
        shutil.rmtree(repo)
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name, target in (links or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / name)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    return repo


def _tests(body: str) -> dict[str, str]:
    return {"tests/x.bats": '@test "fine" {\n  true\n}\n\n@test "forger" {\n' + body + "\n}\n"}


def test_a_test_that_replaces_the_report_with_a_passing_one_is_not_believed(
    hostile: Hostile, tmp_path: Path
) -> None:
    # Replaces the file bats writes into with an all-passing report of the same two tests,
    # then fails: the count matches, but bats's own exit status says a test failed.
    body = (
        '  for f in /work/out/bats-*/report.xml; do rm -f "$f"; '
        f"printf '%s' '{FORGED}' > \"$f\"; done\n  false"
    )
    outcome = hostile.run(_repo(tmp_path, _tests(body)), hostile.spec(SHELL))
    judged(outcome, "INVALID_ARTIFACT", says="exited with 1 but its results list no failure")
    assert outcome.check("functional")["status"] == "failed"
    # It names the engine's output folder: a person is asked to look as well.
    assert "SUSPICIOUS_TEST_HOOKS" in outcome.reason_codes, outcome.explain()


def test_a_test_that_pads_bats_output_with_passing_tests_is_not_believed(
    hostile: Hostile, tmp_path: Path
) -> None:
    # TAP lines written to bats's own channel (fd 3) add tests bats never counted.
    body = "  printf 'ok 3 extra one\\nok 4 extra two\\n' >&3\n  false"
    outcome = hostile.run(_repo(tmp_path, _tests(body)), hostile.spec(SHELL))
    assert outcome.verdict == "rejected", outcome.explain()
    functional = outcome.check("functional")
    assert functional["status"] == "failed"
    assert functional["reason_code"] in ("INVALID_ARTIFACT", "TESTS_FAILED"), outcome.explain()
    assert functional["tests"]["passed"] <= 1, outcome.explain()
    assert "SUSPICIOUS_TEST_HOOKS" in outcome.reason_codes, outcome.explain()


def test_a_test_file_that_redefines_bats_internals_is_never_accepted(
    hostile: Hostile, tmp_path: Path
) -> None:
    # Sourced into bats's own shell, it rewrites how results are reported: bats itself then
    # says the failing test passed (exit status 0). Only the static reading catches it.
    files = {
        "tests/x.bats": "bats_exit_trap() {\n"
        '  printf \'ok %d %s\\n\' "$BATS_SUITE_TEST_NUMBER" "$BATS_TEST_DESCRIPTION" >&3\n'
        '  exit 0\n}\n\n@test "fails" {\n  false\n}\n'
    }
    outcome = hostile.run(_repo(tmp_path, files), hostile.spec(SHELL))
    judged(outcome, "SUSPICIOUS_TEST_HOOKS", says="a person must review it")
    hooks = outcome.check("functional")["suspicious_test_hooks"]
    assert hooks[0] == {"path": "tests/x.bats", "line": 1, "what": "bats_exit_trap()"}


def test_results_written_elsewhere_are_ignored_and_counts_stay_exact(
    hostile: Hostile, tmp_path: Path
) -> None:
    body = (
        "  mkdir -p /work/out && printf '%s' '" + FORGED + "' > /work/out/junit.xml\n"
        "  printf '%s' '" + FORGED + "' > /work/src/report.xml\n"
        "  printf '%s' '" + FORGED + '\' > "$BATS_RUN_TMPDIR/report.xml"\n'
        "  false"
    )
    outcome = hostile.run(_repo(tmp_path, _tests(body)), hostile.spec(SHELL))
    judged(outcome, "TESTS_FAILED")
    functional = outcome.check("functional")
    assert functional["tests"] == {"passed": 1, "failed": 1, "errors": 0, "skipped": 0}
    assert functional["failing_tests"] == ["x.bats::forger"]


def test_a_fork_bomb_in_a_bats_file_hits_the_process_limit(
    hostile: Hostile, tmp_path: Path
) -> None:
    body = "  bomb() { bomb | bomb & }\n  bomb\n  wait"
    outcome = hostile.run(
        _repo(tmp_path, _tests(body)),
        hostile.spec(SHELL, functional="functional: {timeout: 30}\n"),
    )
    judged(outcome, "PROCESS_LIMIT", says="more processes than the limit")
    assert outcome.seconds < 40, outcome.explain()


@pytest.mark.parametrize(
    "body",
    [
        # into bats's own channel (fd 3), read by its formatter line by line
        "  head -c 200000000 /dev/zero | tr '\\\\0' x >&3",
        # into the test's output, which bats keeps in a file on the sandbox's scratch space
        "  yes flood | head -c 300000000\n  false",
    ],
    ids=["bats-channel", "captured-output"],
)
def test_an_output_flood_in_a_bats_file_is_stopped(
    hostile: Hostile, tmp_path: Path, body: str
) -> None:
    outcome = hostile.run(_repo(tmp_path, _tests(body)), hostile.spec(SHELL))
    assert outcome.verdict == "rejected", outcome.explain()
    functional = outcome.check("functional")
    assert functional["status"] == "failed"
    # Whichever limit stops it first; never a pass, and within the run's limits.
    assert functional["reason_code"] in ("OUTPUT_LIMIT", "DISK_LIMIT", "TIMEOUT", "TESTS_FAILED"), (
        outcome.explain()
    )
    assert functional["tests"]["passed"] <= 1, outcome.explain()
    assert outcome.seconds < 40, outcome.explain()


def test_a_link_out_of_the_checkout_reads_nothing_of_the_host(
    hostile: Hostile, tmp_path: Path
) -> None:
    # The canary file sits on the host; a link to it resolves inside the sandbox, if at all.
    target = str(hostile.canary.files[0])
    files = {
        "tests/x.bats": '@test "reads the host" {\n  grep -q ACCEPTANCE-CANARY tests/leak\n}\n'
    }
    outcome = hostile.run(
        _repo(tmp_path, files, links={"tests/leak": target, "tests/helper.bash": "/etc/shadow"}),
        hostile.spec(SHELL),
    )
    assert outcome.verdict == "rejected", outcome.explain()
    assert outcome.exit_code == 1, outcome.explain()
    assert set(outcome.reason_codes) & {"UNSAFE_REPOSITORY", "TESTS_FAILED"}, outcome.explain()


def test_a_test_that_needs_the_network_fails(hostile: Hostile, tmp_path: Path) -> None:
    body = (
        "  run timeout 5 bash -c 'echo > /dev/tcp/1.1.1.1/53'\n  [ \"$status\" -eq 0 ]\n"
        '  run timeout 5 getent hosts deb.debian.org\n  [ "$status" -eq 0 ]'
    )
    outcome = hostile.run(_repo(tmp_path, _tests(body)), hostile.spec(SHELL))
    judged(outcome, "TESTS_FAILED")
    assert outcome.check("functional")["tests"] == {
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 0,
    }
