"""Linter evasion: the supplier's ruff configuration cannot turn the owner's rules off."""

from __future__ import annotations

import pytest

from tests.conftest import MIT_LICENSE, RepoFactory, git
from tests.hostile.conftest import Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

# Every way a ruff configuration file can silence a rule or hide a file.
RUFF_SETTINGS = (
    'select = ["E501"]\nignore = ["F", "E"]\nextend-exclude = ["lib", "build", "*.py"]\n'
    'exclude = ["lib"]\nrespect-gitignore = true\n'
    '[lint]\nselect = ["E501"]\nignore = ["F401", "F841", "E741"]\nextend-ignore = ["F"]\n'
    'per-file-ignores = {"*" = ["ALL"], "lib/*" = ["ALL"]}\n'
    'extend-per-file-ignores = {"**/*.py" = ["ALL"]}\n'
)
PROJECT = {
    "LICENSE": MIT_LICENSE,
    "pyproject.toml": (
        '[project]\nname = "lib"\nversion = "1.0"\nlicense = "MIT"\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[tool.setuptools]\npackages = ["lib"]\n'
        "[tool.ruff]\n" + RUFF_SETTINGS.replace("[lint]", "[tool.ruff.lint]")
    ),
    "ruff.toml": RUFF_SETTINGS,
    ".ruff.toml": RUFF_SETTINGS,
    "lib/ruff.toml": RUFF_SETTINGS,
    ".gitignore": "extra/\n",
    "lib/__init__.py": "import os\n\n\ndef add(a, b):\n    return a + b\n",
    # A folder named like one ruff skips by default.
    "build/helpers.py": "import sys\n",
    "lib/table.py": (
        "# ruff: disable[F401]\nimport json\n# ruff: enable[F401]\n"
        "import csv  # ruff: ignore[F401]\n"
    ),
    "tests/test_lib.py": "from lib import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


def test_a_suppliers_ruff_configuration_cannot_turn_the_owners_rules_off(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    spec = hostile.spec("security: false\nlicence: false\nquality: {rules: [F, E]}\n")
    repo = make_repo(PROJECT)
    # A file the repository's .gitignore names, committed anyway: it is in the checkout.
    (repo / "extra").mkdir()
    (repo / "extra" / "mod.py").write_text("import json\n", encoding="utf-8")
    git("add", "-f", "extra/mod.py", cwd=repo)
    git("commit", "-q", "-m", "force-add an ignored file", cwd=repo)
    outcome = hostile.run(repo, spec)

    judged(outcome, "UNJUSTIFIED_SUPPRESSION", says="quality:")
    quality = outcome.check("quality")
    assert quality["status"] == "failed"
    found = {(f["rule"], f["file"], f["line"]) for f in quality["findings"] if f["blocking"]}
    assert {
        ("F401", "lib/__init__.py", 1),
        ("F401", "build/helpers.py", 1),
        ("F401", "extra/mod.py", 1),
        ("F401", "lib/table.py", 2),
        ("F401", "lib/table.py", 4),
        # the range and the line suppression give no reason: findings of their own
        ("UNJUSTIFIED_SUPPRESSION", "lib/table.py", 1),
        ("UNJUSTIFIED_SUPPRESSION", "lib/table.py", 4),
    } <= found, quality["findings"]
    assert quality["settings"]["rules"] == ["F", "E"]
    assert outcome.check("functional")["status"] == "passed"


def test_a_flood_of_suppression_comments_is_a_rejection_not_an_error(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    # More suppression-like comments than the engine reads: isort's action comments act
    # even unread, so the linter's silence proves nothing and the delivery is rejected
    # as the supplier's to fix (never a pass, never a platform error).
    flood = "".join(f"x{n} = {n}  # noqa\n" for n in range(60_000)) + "import os\n"
    files = {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": '[project]\nname = "lib"\nversion = "1.0"\n',
        "lib/__init__.py": "",
        "lib/flood.py": flood,
        "tests/test_lib.py": "def test_ok():\n    assert True\n",
    }
    spec = hostile.spec("security: false\nlicence: false\nquality: true\n")
    outcome = hostile.run(make_repo(files), spec)

    judged(outcome, "QUALITY_UNJUDGEABLE", says="suppression-like comments")
    assert outcome.check("quality")["status"] == "failed"
    assert outcome.check("functional")["status"] == "passed"
