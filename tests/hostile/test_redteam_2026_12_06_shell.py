"""Red team, 2026-12-06: a supplier against the shell runtime (issue 16).

Each case is a bash delivery that would like a signed "accepted" (or an error instead of
a rejection), judged through the real CLI and Docker sandbox. A hole still open is a
strict `xfail` whose reason says what lets it through and the fix suggested; its safe
outcome is asserted, so it turns into a failure (XPASS) once the hole is closed. What the
attack needs to work at all (the supplier's tests pass) is a precondition: when it fails
the case errors out loudly instead of counting as the hole. The defences that held are
ordinary tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, Outcome, commit_all, judged
from tests.hostile.test_shell_hostile import _repo, _shell_image

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

__all__ = ["_shell_image"]

SHELL = FUNCTIONAL_ONLY + "runtime: shell\n"
#: ShellCheck on, nothing else but the tests
SHELL_SAST = "licence: false\nruntime: shell\n"
#: what ShellCheck flags (SC2115, a warning: medium, blocking by default)
UNQUOTED_RM = "clean_dir() {\n  rm -rf $1/*\n}\n"
#: a test the library passes, loaded through bats's `load`, which ShellCheck does not follow
LOADS_TIDY = (
    "setup() {\n  load '../lib/tidy'\n}\n\n"
    '@test "clean_dir empties a folder" {\n'
    '  d="$BATS_TEST_TMPDIR/d"\n  mkdir -p "$d"\n  touch "$d/a"\n  clean_dir "$d"\n'
    '  [ ! -e "$d/a" ]\n}\n'
)


def _hole(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


def _precondition(holds: bool, outcome: Outcome, what: str) -> None:
    if not holds:
        pytest.fail(f"the attack's precondition does not hold ({what}): {outcome.explain()}")


# ---------------------------------------------------------------- holes (none open)


@pytest.mark.parametrize(
    "files",
    [
        # ShellCheck reads only *.sh, *.bash, *.bats, *.ksh and shell shebangs, and never
        # what they source (not even with -x): a library named lib/tidy, loaded by the
        # tests, ran unread and the check passed. Closed: checks/shell_sources.py follows
        # what `load`, `source`, `.`, `bash FILE` and `source=` directives name, and
        # ShellCheck's own SC1091 notes, and scans those files with --shell=bash
        pytest.param({"lib/tidy": UNQUOTED_RM, "tests/x.bats": LOADS_TIDY}, id="loaded-library"),
        # the same library through `source`, hidden by a `source=/dev/null` directive
        pytest.param(
            {
                "lib/tidy": UNQUOTED_RM,
                "tests/x.bats": LOADS_TIDY.replace(
                    "  load '../lib/tidy'\n",
                    '  # shellcheck source=/dev/null\n  source "$BATS_TEST_DIRNAME/../lib/tidy"\n',
                ),
            },
            id="sourced-library-behind-dev-null",
        ),
        # through a variable the host's reading does not resolve: ShellCheck's own
        # "Not following: ./lib/tidy" note names it, and a second ShellCheck run reads it
        pytest.param(
            {
                "lib/tidy": UNQUOTED_RM,
                "tests/x.bats": LOADS_TIDY.replace(
                    "  load '../lib/tidy'\n",
                    '  root="$BATS_TEST_DIRNAME/.."\n  source "$root/lib/tidy"\n',
                ),
            },
            id="library-through-a-variable",
        ),
        # a library run as `bash FILE` that loads a second one: followed until closed
        pytest.param(
            {
                "lib/run": '. lib/tidy\nclean_dir "$1"\n',
                "lib/tidy": UNQUOTED_RM,
                "tests/x.bats": '@test "tidy empties a folder" {\n'
                '  d="$BATS_TEST_TMPDIR/d"\n  mkdir -p "$d"\n  touch "$d/a"\n'
                '  bash lib/run "$d"\n  [ ! -e "$d/a" ]\n}\n',
            },
            id="run-library-loads-another",
        ),
        # a script whose shebang passes env an option first: the kernel runs it with bash;
        # the shebang pattern (env, then -S at most, then the shell) missed it, closed
        # here (checks/shellcheck.py reads every word after env)
        pytest.param(
            {
                "bin/tidy": "#!/usr/bin/env -S -i bash\n" + UNQUOTED_RM + 'clean_dir "$1"\n',
                "tests/x.bats": '@test "tidy empties a folder" {\n'
                '  d="$BATS_TEST_TMPDIR/d"\n  mkdir -p "$d"\n  touch "$d/a"\n'
                '  "$BATS_TEST_DIRNAME/../bin/tidy" "$d"\n  [ ! -e "$d/a" ]\n}\n',
            },
            id="env-option-shebang",
        ),
    ],
)
def test_shell_code_the_tests_run_is_scanned_too(
    hostile: Hostile, tmp_path: Path, files: dict[str, str]
) -> None:
    repo = _repo(tmp_path, files)
    for name in files:
        if name.startswith("bin/"):
            (repo / name).chmod(0o755)
    commit_all(repo, "executable scripts")
    outcome = hostile.run(repo, hostile.spec(SHELL_SAST))

    _precondition(outcome.check("functional")["status"] == "passed", outcome, "the test passes")
    assert outcome.check("sast")["status"] == "failed", outcome.check("sast")
    assert outcome.verdict == "rejected", outcome.explain()
    library = next(n for n in ("bin/tidy", "lib/tidy") if n in files)
    blocking = {
        (f["filename"], f["test_id"]) for f in outcome.check("sast")["findings"] if f["blocking"]
    }
    assert (library, "SC2115") in blocking, outcome.check("sast")


# With no `runtime` in the spec the delivery chose its runtime: an empty requirements.txt
# and one passing tests/test_ok.py made a bash delivery 'python' (bats never ran its failing
# test, ShellCheck never read its scripts); the mirror, a Python delivery with no packaging
# file, added one passing .bats file and was judged as shell (pytest and bandit never ran).
# Closed: the tests of two runtimes without a runtime in the spec are RUNTIME_AMBIGUOUS,
# refused before anything runs (acceptance/engine/runtime_choice.py, docs/runtimes.md).
@pytest.mark.parametrize(
    ("files", "chosen"),
    [
        (
            {
                "bin/tidy.sh": "#!/bin/bash\n" + UNQUOTED_RM + 'clean_dir "$1"\n',
                "tests/tidy.bats": '@test "tidy is broken" {\n  false\n}\n',
                "requirements.txt": "",
                "tests/test_ok.py": "def test_ok():\n    assert True\n",
            },
            "python",
        ),
        # the mirror: a Python delivery with no packaging file (judged as Python before
        # runtimes) adds one passing .bats file, and pytest and bandit never run
        (
            {
                "app.py": "def answer():\n    return eval(input())\n",
                "tests/test_app.py": "def test_app():\n    assert False\n",
                "tests/ok.bats": '@test "ok" {\n  true\n}\n',
            },
            "shell",
        ),
    ],
    ids=["bash-as-python", "python-as-shell"],
)
def test_a_delivery_cannot_choose_its_runtime_to_skip_its_checks(
    hostile: Hostile, tmp_path: Path, files: dict[str, str], chosen: str
) -> None:
    outcome = hostile.run(_repo(tmp_path, files), hostile.spec("licence: false\n"))

    judged(outcome, "RUNTIME_AMBIGUOUS", says="the engine does not choose")
    assert outcome.predicate.get("runtime") is None, outcome.explain()  # neither was chosen
    # refused before anything ran: no check passed, none was judged
    assert all(c["status"] != "passed" for c in outcome.predicate["checks"]), outcome.explain()


# ---------------------------------------------------------------- closed here


def test_a_failing_test_that_marks_itself_completed_is_never_accepted(
    hostile: Hostile, tmp_path: Path
) -> None:
    # bats's exit trap reads BATS_TEST_COMPLETED and BATS_TEARDOWN_COMPLETED: set before
    # `exit 0`, the failing test reads "ok" and bats exits 0 (shown in the image). No
    # function is redefined and nothing is written to fd 3; the static reading now names
    # bats's internal state variables.
    body = '@test "fails" {\n  [ "$(echo 1)" = 2 ] || { BATS_TEST_COMPLETED=1 BATS_TEARDOWN_COMPLETED=1; exit 0; }\n}\n'
    outcome = hostile.run(_repo(tmp_path, {"tests/x.bats": body}), hostile.spec(SHELL))
    judged(outcome, "SUSPICIOUS_TEST_HOOKS", says="a person must review it")
    hooks: list[dict[str, Any]] = outcome.check("functional")["suspicious_test_hooks"]
    assert {"path": "tests/x.bats", "line": 2, "what": "BATS_TEST_COMPLETED"} in hooks, hooks


# ---------------------------------------------------------------- defences that held


@pytest.mark.parametrize(
    ("files", "code"),
    [
        # a .bats file that defines no test: bats counts 0
        ({"tests/x.bats": "# nothing to see\ntrue\n"}, "NO_TESTS"),
        # every test skipped (in setup): nothing passed, against the default min_passed 1
        (
            {"tests/x.bats": 'setup() {\n  skip "later"\n}\n\n@test "a" {\n  false\n}\n'},
            "TOO_FEW_PASSED",
        ),
        # the tests live outside functional.paths (default tests/): bats finds no folder
        ({"spec/x.bats": '@test "a" {\n  true\n}\n'}, "TESTS_FAILED"),
    ],
    ids=["no-test-defined", "all-skipped", "outside-paths"],
)
def test_deliveries_with_nothing_tested_are_rejected(
    hostile: Hostile, tmp_path: Path, files: dict[str, str], code: str
) -> None:
    outcome = hostile.run(_repo(tmp_path, files), hostile.spec(SHELL))
    judged(outcome, code)
    assert outcome.check("functional")["tests"]["passed"] == 0, outcome.explain()


def test_a_test_that_kills_bats_is_not_a_pass(hostile: Hostile, tmp_path: Path) -> None:
    # Every bats process but the test's own shell is killed, then the test fails.
    body = (
        '@test "fine" {\n  true\n}\n\n@test "killer" {\n'
        "  pkill -9 -f bats-format || true\n  pkill -9 -f bats-exec-suite || true\n  false\n}\n"
    )
    outcome = hostile.run(_repo(tmp_path, {"tests/x.bats": body}), hostile.spec(SHELL))
    assert outcome.verdict == "rejected", outcome.explain()
    functional = outcome.check("functional")
    assert functional["status"] == "failed", outcome.explain()
    assert functional["tests"]["passed"] <= 1, outcome.explain()


#: each file hides the unquoted rm in its own way; ShellCheck must still report each
DIRECTIVE_TRICKS = {
    ".shellcheckrc": "disable=all\n",
    "bin/a.sh": "#!/bin/bash\n#shellcheck disable=all\n" + UNQUOTED_RM,
    "bin/b.sh": "#!/bin/bash\n# shellcheck disable=SC2115 disable=SC2086 source=/dev/null\n"
    + UNQUOTED_RM,
    "bin/c.sh": "#!/bin/bash\ncat <<'EOF'\n# shellcheck disable=SC2115\nEOF\n" + UNQUOTED_RM,
    "bin/d.bash": "# caf\u00e9 \u00ff\n" + UNQUOTED_RM,
    "bin/e": "#!/bin/sh -e\n" + UNQUOTED_RM,
}


def test_directives_an_rc_file_and_odd_bytes_hide_no_finding(
    hostile: Hostile, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, {**DIRECTIVE_TRICKS, "tests/x.bats": '@test "ok" {\n  true\n}\n'})
    # Latin-1 bytes, not UTF-8, in one file: ShellCheck reads them (the image's C.UTF-8)
    latin = repo / "bin/d.bash"
    latin.write_bytes(latin.read_text(encoding="utf-8").encode("latin-1"))
    commit_all(repo, "latin-1")
    outcome = hostile.run(repo, hostile.spec(SHELL_SAST))
    judged(outcome, "SAST_FINDINGS")
    blocking = {f["filename"] for f in outcome.check("sast")["findings"] if f["blocking"]}
    assert blocking == {"bin/a.sh", "bin/b.sh", "bin/c.sh", "bin/d.bash", "bin/e"}, blocking
