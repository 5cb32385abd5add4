"""Red team, 2026-12-05 (second pass): a supplier against the quality check after commit 9e5dc90.

Each case is a delivery that would like a pass (or a platform error instead of a
rejection) from `quality`, judged through the real CLI and Docker sandbox. A hole still
open is a strict `xfail` whose reason says what lets it through and the fix suggested;
its safe outcome is asserted, so the test turns into a failure (XPASS) once the hole is
closed and only then should lose its marker. What the delivery needs for the attack to
work at all (the supplier's own tests pass, Python runs what ruff did not read) is a
precondition: when one fails the case errors out loudly instead of counting as the hole.
The defences that held are ordinary tests.
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
import sys
from pathlib import Path

import pytest

from tests.conftest import RepoFactory
from tests.hostile.conftest import Hostile, Outcome, commit_all, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

#: the quality check and the tests only: the other checks have suites of their own
ONLY_QUALITY = "security: false\nlicence: false\n"
OWN_TEST = "from lib import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
CLEAN_LIB = "def add(a, b):\n    return a + b\n"
#: a supplier test showing that Python compiled code the linter never saw
PYTHON_SEES_TAXE = (
    "import lib.core\n\n\n"
    "def test_python_runs_what_the_linter_did_not_read():\n"
    "    assert 'taxe' in lib.core.total.__code__.co_names\n"
)


def _hole(reason: str) -> pytest.MarkDecorator:
    # Only a failed assertion about the safe outcome is the hole; a broken precondition
    # (pytest.fail) or a crash of the harness is a real failure.
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


def _precondition(holds: bool, outcome: Outcome, what: str) -> None:
    if not holds:
        pytest.fail(f"the attack's precondition does not hold ({what}): {outcome.explain()}")


def _write(repo: Path, files: dict[str, bytes]) -> None:
    for relpath, data in files.items():
        path = repo / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _blocking_files(outcome: Outcome) -> set[str]:
    return {f["file"] for f in outcome.check("quality")["findings"] if f["blocking"]}


# ---------------------------------------------------------------- holes


#: valid Python in UTF-7, all ASCII, that starts with a bare carriage return. CPython reads
#: `\r` as a line end, so line 1 is blank and line 2 is the coding cookie; tokenize's
#: detect_encoding splits lines on `\n` only, sees one blank "line" and answers utf-8
CR_UTF7_MODULE = (
    "\r# -*- coding: utf-7 -*-\r\n"
    "def add(a, b):\r\n"
    "    return a +- b\r\n\r\n\r\n"
    "def total(prices):\r\n"
    "    rate = 1  # the rate+AAo-    import os+AAo-    return sum(prices) * taxe\r\n"
    "    return sum(prices) * rate\r\n"
).encode("ascii")


def test_a_coding_cookie_after_a_carriage_return_line_cannot_hide_code(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    repo = make_repo({"tests/test_lib.py": OWN_TEST, "tests/test_sees.py": PYTHON_SEES_TAXE})
    init = b"from lib.core import add, total\n\n__all__ = ['add', 'total']\n"
    _write(repo, {"lib/__init__.py": init, "lib/core.py": CR_UTF7_MODULE})
    commit_all(repo, "a UTF-7 module behind a carriage return")
    outcome = hostile.run(repo, hostile.spec(ONLY_QUALITY + "quality: true\n"))

    _precondition(outcome.check("functional")["status"] == "passed", outcome, "Python ran UTF-7")
    quality = outcome.check("quality")
    assert quality["status"] == "failed", quality
    assert "lib/core.py" in _blocking_files(outcome), quality["findings"]
    assert outcome.verdict == "rejected", outcome.explain()


def test_a_package_named_like_the_hidden_tests_folder_is_refused(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    files = {
        # spelled in two parts: checks/test_hooks.py reads the bytes for the folder's name
        "lib/__init__.py": (
            "import importlib\n\nadd = importlib.import_module('acceptance_' 'hidden_tests.core').add\n"
        ),
        "acceptance_hidden_tests/__init__.py": "",
        "acceptance_hidden_tests/core.py": (
            "import os\n\n\n"
            + CLEAN_LIB
            + "\n\ndef total(prices):\n    return sum(prices) * taxe\n"
        ),
        "tests/test_lib.py": OWN_TEST,
    }
    outcome = hostile.run(make_repo(files), hostile.spec(ONLY_QUALITY + "quality: true\n"))

    # The name is the owner's, with or without hidden tests: refused before anything runs
    # (it was excluded from linting while the supplier's code in it ran).
    judged(outcome, "RESERVED_PATH", says="keeps for the owner's hidden tests")


#: what Python will run for lib/core.py: an unused import and an undefined name
DIRTY_CORE = (
    "import os\n\n\n" + CLEAN_LIB + "\n\ndef total(prices):\n    return sum(prices) * taxe\n"
)
#: what ruff reads for lib/core.py
CLEAN_CORE = CLEAN_LIB + "\n\ndef total(prices):\n    return sum(prices)\n"


def test_bytecode_python_runs_instead_of_the_delivered_source_is_not_a_pass(
    hostile: Hostile, make_repo: RepoFactory, tmp_path: Path
) -> None:
    files = {
        "lib/__init__.py": "from lib.core import add, total\n\n__all__ = ['add', 'total']\n",
        "lib/core.py": CLEAN_CORE,
        "tests/test_lib.py": OWN_TEST,
        "tests/test_sees.py": PYTHON_SEES_TAXE,
    }
    repo = make_repo(files)
    dirty = tmp_path / "core.py"
    dirty.write_text(DIRTY_CORE, encoding="utf-8")
    # The host's Python makes the bytecode; the precondition below shows the sandbox ran it.
    cached = Path(importlib.util.cache_from_source(str(repo / "lib" / "core.py")))
    cached.parent.mkdir()
    py_compile.compile(
        str(dirty),
        cfile=str(cached),
        dfile="lib/core.py",
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    commit_all(repo, f"bytecode for {sys.implementation.cache_tag}")
    outcome = hostile.run(repo, hostile.spec(ONLY_QUALITY + "quality: true\n"))

    _precondition(
        outcome.check("functional")["status"] == "passed", outcome, "Python ran the bytecode"
    )
    quality = outcome.check("quality")
    assert quality["status"] == "failed", quality
    assert outcome.verdict == "rejected", outcome.explain()


def test_a_lone_surrogate_in_a_suppression_reason_does_not_break_the_rejection(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    repo = make_repo({"lib/__init__.py": CLEAN_LIB, "tests/test_lib.py": OWN_TEST})
    # the legacy file need not even be imported: it only has to be in the delivery
    legacy = (
        b"# -*- coding: raw-unicode-escape -*-\n"
        b"import os  # noqa: F401 -- kept \\ud800 for the plugin loader\n"
    )
    _write(repo, {"lib/legacy.py": legacy})
    commit_all(repo, "a legacy module")
    try:
        outcome = hostile.run(repo, hostile.spec(ONLY_QUALITY + "quality: true\n"))
    except UnicodeEncodeError as exc:
        # the CLI dies in cmd_check's signing step: no report, no verdict, a traceback
        raise AssertionError(f"the run crashed instead of rejecting: {exc}") from exc

    judged(outcome, "QUALITY_FINDINGS")
    assert "lib/legacy.py" in _blocking_files(outcome)


UNSORTED_WITH_SPLIT = "import sys\n\n# isort: split\nimport abc\n\n\ndef add(a, b):\n    return (sys, abc) and a + b\n"


def test_isort_split_comments_cannot_hide_unsorted_imports(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    files = {
        "lib/__init__.py": "from lib.core import add\n\n__all__ = ['add']\n",
        "lib/core.py": UNSORTED_WITH_SPLIT,
        "tests/test_lib.py": OWN_TEST,
    }
    spec = hostile.spec(ONLY_QUALITY + "quality: {rules: [I], fail_on: any}\n")
    outcome = hostile.run(make_repo(files), spec)

    _precondition(outcome.check("functional")["status"] == "passed", outcome, "tests pass")
    assert "lib/core.py" in _blocking_files(outcome), outcome.check("quality")
    assert outcome.verdict == "rejected", outcome.explain()


@_hole(
    "E501 skips a line whose trailing comment starts with a pragma ('# type: ignore', "
    "'# pyright: ignore', '# pylint:', '# nosec', '# noqa'), even with --ignore-noqa, however "
    "long the comment: an overlong line the owner selected E501 for passes, and the engine "
    "counts no suppression ('# type: ignore' is not one it reads). Only comment text can hide "
    "there, so this is minor. Fix: the driver's pattern (checks/quality_driver.py) also collects comments matching "
    "'type:\\s*ignore|pyright:|pylint:|nosec' with their line's width, and the host adds an "
    "E501 finding when E501 is among the selected rules and the width exceeds ruff's "
    "line-length (88); or docs/checks.md says E501 ignores pragma-led comments. Left open, "
    "documented in docs/checks.md (only comment text can be that long unseen)."
)
def test_a_pragma_comment_cannot_hide_an_overlong_line(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    words = " ".join(["this comment runs far past the line length the owner chose"] * 6)
    lib = CLEAN_LIB + f"\n\nLABEL = 'price'  # type: ignore {words}\n"
    files = {"lib/__init__.py": lib, "tests/test_lib.py": OWN_TEST}
    spec = hostile.spec(ONLY_QUALITY + "quality: {rules: [E501], fail_on: any}\n")
    outcome = hostile.run(make_repo(files), spec)

    _precondition(outcome.check("functional")["status"] == "passed", outcome, "tests pass")
    assert "lib/__init__.py" in _blocking_files(outcome), outcome.check("quality")
    assert outcome.verdict == "rejected", outcome.explain()


#: comments the driver collects (they match its pattern) but that suppress nothing
FLOOD = "# flake8: see the style guide\n" * 50_000


def test_a_flood_of_comments_cannot_hide_an_isort_skip_file(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    unsorted = "import sys\nimport abc\n\n\ndef add(a, b):\n    return (sys, abc) and a + b\n"
    files = {
        "lib/__init__.py": "from lib.core import add\n\n__all__ = ['add']\n",
        "lib/core.py": FLOOD + "# isort: skip_file\n" + unsorted,
        "tests/test_lib.py": OWN_TEST,
    }
    spec = hostile.spec(ONLY_QUALITY + "quality: {rules: [I], fail_on: any}\n")
    outcome = hostile.run(make_repo(files), spec)

    _precondition(outcome.check("functional")["status"] == "passed", outcome, "tests pass")
    quality = outcome.check("quality")
    assert quality["status"] == "failed", {k: quality[k] for k in ("status", "summary")}
    assert outcome.verdict == "rejected", outcome.explain()


# ---------------------------------------------------------------- defences that held


#: each a file that must be a blocking finding of its own
ENCODING_TRICKS: dict[str, bytes] = {
    # the cookie on line 2 after a comment line, '\r' line ends only: tokenize's cookie
    # pattern runs across '\r', so the UTF-7 declaration is found
    "lib/cr_after_comment.py": b"# header\r# -*- coding: utf-7 -*-\rX = 1  # +AAo-import os\r",
    # a cookie after a form-feed line (blank for CPython and for tokenize alike)
    "lib/form_feed.py": b"\x0c\n# -*- coding: utf-7 -*-\nX = 1  # +AAo-import os\n",
    # a UTF-8 BOM with another cookie: Python refuses it, it must not pass unread either
    "lib/bom_latin1.py": b"\xef\xbb\xbf# -*- coding: latin-1 -*-\nX = 1\n",
    # a cookie in the 'vim' spelling
    "lib/vim_cookie.py": b"#!/usr/bin/env python\n# vim: set fileencoding=utf-7 :\nX = 1\n",
    # isort's skip_file honoured anywhere: at the end, and after an import
    "lib/skip_at_end.py": b"import sys\nimport abc\n\nprint(sys, abc)\n# isort: skip_file\n",
    "lib/skip_trailing.py": b"import sys\nimport abc  # isort:skip_file\n\nprint(sys, abc)\n",
    # ripgrep's ignore files do not hide a folder from the linter
    "ignored/helpers.py": b"import os\n",
    "rgignored/helpers.py": b"import os\n",
}


def test_encoding_tricks_ignore_files_and_unreadable_names_all_block(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    repo = make_repo({"lib/__init__.py": CLEAN_LIB, "tests/test_lib.py": OWN_TEST})
    _write(repo, {**ENCODING_TRICKS, ".ignore": b"ignored/\n", ".rgignore": b"rgignored/\n"})
    # a file name that is not UTF-8: ruff names it with U+FFFD, so it cannot be read back
    (repo / "lib").joinpath(os.fsdecode(b"bad\xff.py")).write_bytes(b"import os  # noqa\n")
    # links in a loop: ruff skips both with a warning
    (repo / "lib" / "loop_a.py").symlink_to("loop_b.py")
    (repo / "lib" / "loop_b.py").symlink_to("loop_a.py")
    commit_all(repo, "encoding tricks")
    spec = hostile.spec(ONLY_QUALITY + "quality: {rules: [E4, E7, E9, F, I], fail_on: any}\n")
    outcome = hostile.run(repo, spec)

    judged(outcome, "UNJUSTIFIED_SUPPRESSION")
    blocking = _blocking_files(outcome)
    assert set(ENCODING_TRICKS) <= blocking, sorted(blocking)
    assert {"lib/loop_a.py", "lib/loop_b.py"} <= blocking, sorted(blocking)
    assert any(f.startswith("lib/bad") and f != "lib/bad.py" for f in blocking), sorted(blocking)
    assert "lib/__init__.py" not in blocking
