"""Red team, 2026-12-05: a supplier against the quality check (ruff with justified suppressions).

Each case is a delivery that would like a pass (or a platform error instead of a
rejection) from `quality`, judged through the real CLI and Docker sandbox. Each case
asserts the safe outcome; the holes found on 2026-12-05 (files in another encoding,
isort action comments, lookalike file names, a crash or a flood of findings) are closed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RepoFactory
from tests.hostile.conftest import Hostile, commit_all, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

#: the quality check and the tests only: the other checks have suites of their own
ONLY_QUALITY = "security: false\nlicence: false\n"
PYPROJECT = '[project]\nname = "lib"\nversion = "1.0"\n'
OWN_TEST = "from lib import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
CLEAN_LIB = "def add(a, b):\n    return a + b\n"
#: valid Python 3 in Latin-1, declared by its coding cookie: Python imports it, ruff cannot read it
LATIN1_MODULE = (
    "# -*- coding: latin-1 -*-\n"
    "import os\n\n\n"
    "def add(a, b):\n"
    "    return a + b\n\n\n"
    "def total(prices):\n"
    "    return sum(prices) * taxe  # the name does not exist: a crash at the first call\n"
    "\n\n"
    "LABEL = 'prix \xe9tiquet\xe9'\n"
).encode("latin-1")


def _repo(make_repo: RepoFactory, files: dict[str, str]) -> Path:
    return make_repo({"pyproject.toml": PYPROJECT, "tests/test_lib.py": OWN_TEST, **files})


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param("true", id="default-rules-list-E902"),
        pytest.param("{rules: [F]}", id="rules-without-E9"),
    ],
)
def test_a_module_ruff_cannot_decode_is_never_a_pass(
    hostile: Hostile, make_repo: RepoFactory, rules: str
) -> None:
    """A Latin-1 module (valid Python, unused import, undefined name) must not pass unlinted."""
    repo = _repo(make_repo, {"lib/__init__.py": ""})
    (repo / "lib" / "__init__.py").write_bytes(LATIN1_MODULE)
    commit_all(repo, "latin-1 module")
    outcome = hostile.run(repo, hostile.spec(ONLY_QUALITY + f"quality: {rules}\n"))

    assert outcome.check("functional")["status"] == "passed", outcome.explain()
    quality = outcome.check("quality")
    assert quality["status"] == "failed", quality
    assert outcome.verdict == "rejected", outcome.explain()
    assert any(f["file"] == "lib/__init__.py" and f["blocking"] for f in quality["findings"])


#: valid Python in UTF-7, all ASCII: ruff reads it as UTF-8, so `+AAo-` (a newline for Python)
#: is text inside a comment, and the two lines after it are code only Python sees
UTF7_MODULE = (
    "# -*- coding: utf-7 -*-\n"
    "def add(a, b):\n"
    "    return a +- b\n\n\n"
    "def total(prices):\n"
    "    rate = 1  # the rate+AAo-    import os+AAo-    return sum(prices) * taxe\n"
    "    return sum(prices) * rate\n"
)


def test_code_hidden_in_a_utf7_comment_is_not_a_pass(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # The supplier's own test shows that Python compiles the lines ruff took for a comment.
    sees = "import lib\n\n\ndef test_python_sees_them():\n    assert 'taxe' in lib.total.__code__.co_names\n"
    repo = _repo(make_repo, {"lib/__init__.py": UTF7_MODULE, "tests/test_sees.py": sees})
    outcome = hostile.run(repo, hostile.spec(ONLY_QUALITY + "quality: true\n"))

    assert outcome.check("functional")["status"] == "passed", outcome.explain()
    quality = outcome.check("quality")
    assert quality["status"] == "failed", quality
    assert outcome.verdict == "rejected", outcome.explain()


def test_isort_action_comments_cannot_hide_unsorted_imports(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    unsorted = "import sys\nimport abc\n\n\ndef add(a, b):\n    return (sys, abc) and a + b\n"
    files = {
        "lib/__init__.py": "from lib.core import add\n\n__all__ = ['add']\n",
        "lib/core.py": "# isort: skip_file\n" + unsorted,
        "lib/other.py": "# isort: off\n" + unsorted,
    }
    spec = hostile.spec(ONLY_QUALITY + "quality: {rules: [I], fail_on: any}\n")
    outcome = hostile.run(_repo(make_repo, files), spec)

    assert outcome.check("functional")["status"] == "passed", outcome.explain()
    quality = outcome.check("quality")
    blocking = {f["file"] for f in quality["findings"] if f["blocking"]}
    # Either the unsorted imports or the unjustified directives block, in both files.
    assert {"lib/core.py", "lib/other.py"} <= blocking, quality["findings"]
    assert outcome.verdict == "rejected", outcome.explain()


def test_a_justified_noqa_in_a_lookalike_file_cannot_silence_another_file(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    files = {
        "lib/__init__.py": "from lib.core import add\n\n__all__ = ['add']\n",
        # the real module: an unused import with no suppression at all
        "lib/core.py": "import os\n\n\n" + CLEAN_LIB,
        # a file nobody imports, whose name differs only by a zero-width space
        "lib/core\u200b.py": "import os  # noqa: F401 -- kept for the plugin loader\n",
    }
    outcome = hostile.run(_repo(make_repo, files), hostile.spec(ONLY_QUALITY + "quality: true\n"))

    judged(outcome, "QUALITY_FINDINGS")
    quality = outcome.check("quality")
    real = [f for f in quality["findings"] if f["rule"] == "F401" and not f["suppressed"]]
    assert real, quality["findings"]


#: delivered files that keep the linter from judging: each must not make a rejection an `error`
UNJUDGEABLE = {
    # nested past ruff's stack: ruff aborts (a run of unary minus hits the memory limit: failed)
    "stack-overflow": "x = " + "[" * 50_000 + "]" * 50_000 + "\n",
    # more findings than the engine reads (20 MiB of ruff's JSON): E401 and F811 on every line
    "finding-flood": "import os, sys\n" * 60_000,
}
#: an owner's ordinary limits: with the suite's 256 MiB, the flood ends in MEMORY_LIMIT (failed)
ORDINARY_LIMITS = "limits: {timeout: 120, memory: 2g, pids: 64, disk: 512m, output: 1m}\n"


@pytest.mark.parametrize("junk", sorted(UNJUDGEABLE))
def test_a_file_the_linter_cannot_judge_does_not_turn_a_rejection_into_a_platform_error(
    hostile: Hostile, make_repo: RepoFactory, junk: str
) -> None:
    files = {
        "lib/__init__.py": "def add(a, b):\n    return a - b\n",  # wrong: the tests fail
        "lib/junk.py": UNJUDGEABLE[junk],
    }
    spec = hostile.spec(ONLY_QUALITY + "quality: true\n", limits=ORDINARY_LIMITS)
    outcome = hostile.run(_repo(make_repo, files), spec)

    assert outcome.check("functional")["status"] == "failed", outcome.explain()
    judged(outcome, "TESTS_FAILED", limit=120)  # rejected, exit 1: the supplier's fault


def test_files_in_folders_ruff_skips_by_default_and_stubs_and_links_are_linted(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    """ruff's default excludes, dot files, stubs and a symlinked module hide nothing."""
    bad = "import os\n"
    hiding = (
        ".venv/helpers.py",
        "venv/helpers.py",
        "node_modules/helpers.py",
        "site-packages/helpers.py",
        "__pypackages__/helpers.py",
        "dist/helpers.py",
        "_build/helpers.py",
        "lib/__pycache__/helpers.py",
        "lib/.hidden.py",
        ".tox/helpers.py",
        "lib/stubs.pyi",
    )
    files = {"lib/__init__.py": CLEAN_LIB, "real/impl.py": bad, **dict.fromkeys(hiding, bad)}
    repo = _repo(make_repo, files)
    (repo / "lib" / "impl.py").symlink_to("../real/impl.py")
    commit_all(repo, "a symlinked module")
    outcome = hostile.run(repo, hostile.spec(ONLY_QUALITY + "quality: true\n"))

    judged(outcome, "QUALITY_FINDINGS")
    quality = outcome.check("quality")
    flagged = {f["file"] for f in quality["findings"] if f["rule"] == "F401" and f["blocking"]}
    assert {*hiding, "real/impl.py", "lib/impl.py"} <= flagged, sorted(flagged)


def test_links_into_the_owners_hidden_tests_tell_the_linter_nothing(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    """ruff runs with /hidden mounted: a link into it must not lint, list or probe the owner's files."""
    repo = _repo(make_repo, {"lib/__init__.py": CLEAN_LIB})
    (repo / "owner.py").symlink_to("/hidden/test_owner.py")  # there
    (repo / "guess.py").symlink_to("/hidden/test_not_there.py")  # not there
    (repo / "peek").symlink_to("/hidden")
    commit_all(repo, "links into the hidden tests")
    hidden = {"test_owner.py": "import zebra_pricing_rules\n\n\ndef test_owner():\n    pass\n"}
    functional = "functional: {timeout: 20, paths: [tests], hidden_tests: hidden}\n"
    spec = hostile.spec(ONLY_QUALITY + "quality: true\n", functional=functional, hidden=hidden)
    outcome = hostile.run(repo, spec)

    quality = outcome.check("quality")
    messages = {f["file"]: f["message"] for f in quality["findings"]}
    # The same answer for a hidden file that exists and one that does not: no oracle.
    assert messages.get("owner.py") == messages.get("guess.py"), messages
    assert not any(f["file"].startswith("peek/") for f in quality["findings"]), messages
    assert "zebra_pricing_rules" not in str(outcome.statement)
    assert "test_owner" not in str(quality)
