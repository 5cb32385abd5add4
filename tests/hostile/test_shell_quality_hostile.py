"""The quality check on shell deliveries (issue 17), through the real CLI and the shell
sandbox: ShellCheck's findings and the delivery's `# shellcheck disable=` directives judged
like ruff's and `# noqa`. A justified directive passes, an unjustified one rejects; a
`.shellcheckrc`, a directive in a loaded library and a flood of directives hide nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, judged
from tests.hostile.test_shell_hostile import _repo, _shell_image

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

__all__ = ["_shell_image"]

QUALITY = FUNCTIONAL_ONLY + "runtime: shell\nquality: true\n"
PASSING = {"tests/x.bats": '@test "ok" {\n  true\n}\n'}
#: SC2086 (info): what `quality: true` (fail on any level) rejects
UNQUOTED = "#!/bin/bash\n{directive}echo $1\n"


@pytest.mark.parametrize(
    ("directive", "verdict", "code"),
    [
        ("# shellcheck disable=SC2086 # the words must split into arguments\n", "accepted", None),
        ("# shellcheck disable=SC2086\n", "rejected", "UNJUSTIFIED_SUPPRESSION"),
        (
            "# shellcheck disable=all # nothing in this file matters\n",
            "rejected",
            "UNJUSTIFIED_SUPPRESSION",
        ),
        ("", "rejected", "QUALITY_FINDINGS"),
    ],
    ids=["justified", "no-reason", "blanket", "none"],
)
def test_a_justified_directive_passes_and_an_unjustified_one_rejects(
    hostile: Hostile, tmp_path: Path, directive: str, verdict: str, code: str | None
) -> None:
    files = {**PASSING, "bin/run.sh": UNQUOTED.format(directive=directive)}
    outcome = hostile.run(_repo(tmp_path, files), hostile.spec(QUALITY))
    quality = outcome.check("quality")
    assert outcome.verdict == verdict, outcome.explain()
    assert quality.get("reason_code") == code, quality
    assert quality["tool"]["name"] == "shellcheck" and quality["tool"]["version"] == "0.9.0"
    finding = next(f for f in quality["findings"] if f["rule"] == "SC2086")
    assert (finding["file"], finding["line"]) == ("bin/run.sh", 2 + bool(directive))
    assert finding["suppressed"] is (verdict == "accepted"), finding
    if code == "UNJUSTIFIED_SUPPRESSION":
        judged(outcome, code)
    if directive:
        (listed,) = quality["suppressions"]
        assert (listed["file"], listed["line"], listed["justified"]) == (
            "bin/run.sh", 2, verdict == "accepted"
        )  # fmt: skip


def test_an_rc_file_and_a_directive_in_a_loaded_library_hide_nothing(
    hostile: Hostile, tmp_path: Path
) -> None:
    files = {
        # ShellCheck never reads it (--norc)
        ".shellcheckrc": "disable=all\n",
        # a library with no shell suffix, loaded by the tests, silencing itself
        "lib/tidy": "# shellcheck disable=all\nclean_dir() {\n  rm -rf $1/*\n}\n",
        "tests/x.bats": 'setup() {\n  load ../lib/tidy\n}\n@test "ok" {\n  true\n}\n',
        "bin/run.sh": UNQUOTED.format(directive=""),
    }
    outcome = hostile.run(_repo(tmp_path, files), hostile.spec(QUALITY))
    judged(outcome, "UNJUSTIFIED_SUPPRESSION")
    quality = outcome.check("quality")
    blocking = {(f["file"], f["rule"]) for f in quality["findings"] if f["blocking"]}
    assert ("bin/run.sh", "SC2086") in blocking, quality["findings"]
    assert ("lib/tidy", "UNJUSTIFIED_SUPPRESSION") in blocking, quality["findings"]
    # silenced by nothing: the blanket directive is not justified
    assert ("lib/tidy", "SC2115") in blocking, quality["findings"]


def test_a_flood_of_directives_is_unjudgeable_not_a_pass(hostile: Hostile, tmp_path: Path) -> None:
    # 50,001 justified directives in 1.7 MB (under the 2 MiB a scanned file may have)
    flood = "#!/bin/bash\n" + "#shellcheck disable=SC1 # a b c\n" * 50_001
    files = {**PASSING, "bin/run.sh": flood + "echo $1\n"}
    outcome = hostile.run(_repo(tmp_path, files), hostile.spec(QUALITY))
    judged(outcome, "QUALITY_UNJUDGEABLE", says="shellcheck directives")
