"""The quality check through the real engine: ruff in the Docker sandbox, the CLI, a signed report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from acceptance.engine.spec import QualitySpec
from checks.interface import CheckStatus
from sandbox.interface import Sandbox
from tests.conftest import MIT_LICENSE, RepoFactory, check, write_spec

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env")]

PROJECT = {
    "LICENSE": MIT_LICENSE,
    "pyproject.toml": (
        '[project]\nname = "demo"\nversion = "1.0"\nlicense = "MIT"\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
    ),
    "tests/test_add.py": "from demo import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}
# Only the quality check and the tests: the other checks have suites of their own.
SPEC = "security: false\nlicence: false\nquality: true\n"


def _demo(import_line: str) -> dict[str, str]:
    return {**PROJECT, "demo/__init__.py": f"{import_line}\n\n\ndef add(a, b):\n    return a + b\n"}


def quality_of(statement: dict[str, Any]) -> dict[str, Any]:
    checks = statement["predicate"]["checks"]
    assert [c["id"] for c in checks] == ["functional", "sast", "dependencies", "licence", "quality"]
    return dict(checks[-1])


def test_an_unjustified_noqa_rejects_what_a_justified_one_accepts(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "spec", SPEC)
    artifacts = tmp_path / "artifacts"

    code, statement = check(
        str(make_repo(_demo("import os  # noqa"))),
        spec,
        "--artifacts",
        str(artifacts),
        capsys=capsys,
    )
    quality = quality_of(statement)
    assert code == 1, statement["predicate"]["reasons"]
    assert statement["predicate"]["verdict"] == "rejected"
    assert quality["status"] == "failed"
    assert quality["reason_code"] == "UNJUSTIFIED_SUPPRESSION"
    assert "UNJUSTIFIED_SUPPRESSION" in statement["predicate"]["reason_codes"]
    blocking = [(f["rule"], f["file"], f["line"]) for f in quality["findings"] if f["blocking"]]
    # The blanket noqa is a finding, and it silenced nothing: ruff's F401 stands too.
    assert ("UNJUSTIFIED_SUPPRESSION", "demo/__init__.py", 1) in blocking
    assert ("F401", "demo/__init__.py", 1) in blocking
    assert quality["suppressions"] == [
        {
            "file": "demo/__init__.py", "line": 1, "scope": "line", "directive": "noqa",
            "rules": [], "reason": None, "justified": False,
        }
    ]  # fmt: skip
    assert quality["tool"]["name"] == "ruff" and quality["tool"]["version"] == "0.17.6"
    assert quality["settings"]["rules"] == ["E4", "E7", "E9", "F"]
    assert statement["predicate"]["environment"]["tools"]["ruff"] == "0.17.6"
    sarif = json.loads((artifacts / "quality.sarif").read_bytes())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"F401", "UNJUSTIFIED_SUPPRESSION"}
    assert "quality.sarif" in statement["predicate"]["artifacts"]

    justified = "import os  # noqa: F401 -- imported for its side effect on the loader"
    code, statement = check(str(make_repo(_demo(justified))), spec, capsys=capsys)
    quality = quality_of(statement)
    assert code == 0, statement["predicate"]["reasons"]
    assert quality["status"] == "passed", quality["summary"]
    assert quality["suppressions"][0]["reason"] == "imported for its side effect on the loader"
    assert quality["suppressions"][0]["justified"] is True
    (silenced,) = quality["findings"]
    assert silenced["rule"] == "F401" and silenced["suppressed"] and not silenced["blocking"]
    assert "1 justified suppression" in quality["summary"]


def test_a_file_wide_blanket_noqa_is_flagged_and_silences_nothing(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "spec", SPEC)
    files = {
        **_demo("import os"),
        "demo/__init__.py": "# ruff: noqa\nimport os\n\n\ndef add(a, b):\n    return a + b\n",
    }
    code, statement = check(str(make_repo(files)), spec, capsys=capsys)
    quality = quality_of(statement)
    assert code == 1
    assert quality["reason_code"] == "UNJUSTIFIED_SUPPRESSION"
    rules = {(f["rule"], f["line"]) for f in quality["findings"] if f["blocking"]}
    assert rules == {("UNJUSTIFIED_SUPPRESSION", 1), ("F401", 2)}
    assert quality["suppressions"][0]["scope"] == "file"
    assert quality["suppressions"][0]["directive"] == "ruff: noqa"
    assert "demo/__init__.py:2 F401" in quality["summary"]


def test_a_string_that_looks_like_noqa_is_not_a_suppression_and_levels_filter(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        **PROJECT,
        "demo/__init__.py": (
            'HELP = "write # noqa to silence a line"\n\n\n'
            "def add(a, b):\n    l = a + b\n    return l\n"
        ),
    }
    # E741 (ambiguous name `l`) is a style rule: it fails `any`, not `warning`.
    spec = write_spec(tmp_path / "a", "security: false\nlicence: false\nquality: {rules: [E, F]}\n")
    code, statement = check(str(make_repo(files)), spec, capsys=capsys)
    quality = quality_of(statement)
    assert code == 1 and quality["reason_code"] == "QUALITY_FINDINGS"
    assert [(f["rule"], f["level"]) for f in quality["findings"]] == [("E741", "style")]
    assert quality["suppressions"] == []

    spec = write_spec(
        tmp_path / "b",
        "security: false\nlicence: false\nquality: {rules: [E, F], fail_on: warning}\n",
    )
    code, statement = check(str(make_repo(files)), spec, capsys=capsys)
    quality = quality_of(statement)
    assert code == 0, statement["predicate"]["reasons"]
    assert quality["status"] == "passed"
    assert quality["counts"] == {"error": 0, "warning": 0, "style": 1}
    assert "no ruff finding at warning or above (1 below it)" in quality["summary"]


# ---------------------------------------------------------------- the check alone, in a real sandbox

REPO = {
    "pkg/__init__.py": "import os  # noqa: F401 -- imported for its side effect on the loader\n",
    "pkg/gen.py": "import sys\n",
    "migrations/0001.py": "import json\n",
}


@pytest.fixture(scope="module")
def quality_sandbox(
    sandbox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig

    root = tmp_path_factory.mktemp("quality-repo")
    for relpath, text in REPO.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text, encoding="utf-8")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the sandbox user
    sandbox = DockerSandbox(SandboxConfig(image=sandbox_image, readonly_mounts={root: "/src"}))
    try:
        sandbox.start()
        yield sandbox
    finally:
        sandbox.close()


def test_a_linter_that_cannot_run_is_an_error_never_a_pass(
    quality_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from acceptance.engine.report import ReportInput, decide
    from checks import quality

    monkeypatch.setattr(quality, "TOOLS_RUFF", "/opt/acceptance/tools/bin/no-such-ruff")
    outcome = quality.run_quality(
        quality_sandbox, QualitySpec(enabled=True), timeout=120, target="/src"
    )
    assert outcome.result.status is CheckStatus.ERROR
    assert outcome.result.reason_code == "QUALITY_TOOL_ERROR"
    assert "the linter did not run" in outcome.result.summary
    report = ReportInput(source_url="x", ref=None, spec={}, started=dt.datetime.now(dt.UTC))
    report.checks.append(outcome.result)
    assert decide(report) == "error"


def test_forbidden_and_exclude_in_a_real_sandbox(quality_sandbox: Sandbox) -> None:
    from checks.quality import run_quality

    spec = QualitySpec(enabled=True, suppressions="forbidden", exclude=("migrations",))
    outcome = run_quality(quality_sandbox, spec, timeout=120, target="/src", out_dir="/work/out/f")
    details = outcome.result.details
    assert outcome.result.reason_code == "FORBIDDEN_SUPPRESSION"
    found = {(f["rule"], f["file"]) for f in details["findings"]}  # type: ignore[attr-defined,index]
    assert found == {
        ("F401", "pkg/__init__.py"),
        ("F401", "pkg/gen.py"),
        ("FORBIDDEN_SUPPRESSION", "pkg/__init__.py"),
    }
    assert details["files_checked"] == 2

    allowed = run_quality(
        quality_sandbox,
        QualitySpec(enabled=True, rules=("F401",)),
        timeout=120,
        target="/src",
        out_dir="/work/out/a",
    )
    assert allowed.result.reason_code == "QUALITY_FINDINGS"
    blocking = [(f["file"], f["blocking"]) for f in allowed.result.details["findings"]]  # type: ignore[attr-defined]
    assert sorted(blocking) == [
        ("migrations/0001.py", True),
        ("pkg/__init__.py", False),
        ("pkg/gen.py", True),
    ]
