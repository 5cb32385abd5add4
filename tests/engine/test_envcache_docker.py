"""A re-push that changes only code downloads and installs no dependency (real Docker)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from acceptance.engine.pipeline import EngineConfig, run_acceptance
from acceptance.engine.spec import load_spec
from tests.conftest import MIT_LICENSE, RepoFactory, git, write_spec

pytestmark = pytest.mark.docker

PROJECT = {
    "LICENSE": MIT_LICENSE,
    "pyproject.toml": (
        '[project]\nname = "demo"\nversion = "1.0"\nlicense = "MIT"\ndependencies = ["iniconfig"]\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
    ),
    "demo/__init__.py": "import iniconfig\n\ndef add(a, b):\n    return a + b\n",
    "tests/test_add.py": "from demo import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}


def run(
    source: Path, config: EngineConfig, spec: Any, submission: str
) -> tuple[dict[str, Any], list[str]]:
    messages: list[str] = []
    result = run_acceptance(
        str(source), None, spec, config, progress=lambda stage, text: messages.append(f"{stage}: {text}"),
        context={"submission": submission},
    )  # fmt: skip
    return result.statement["predicate"], messages


def stages(predicate: dict[str, Any]) -> list[str]:
    return [s["name"] for s in predicate["stages"]]


def test_a_code_only_repush_installs_nothing_and_other_repositories_get_nothing(
    engine_config: EngineConfig, make_repo: RepoFactory, tmp_path: Path
) -> None:
    config = replace(engine_config, cache_dir=tmp_path / "cache")
    spec = load_spec(write_spec(tmp_path / "spec", "functional: {paths: [tests], min_passed: 1}\n"))
    repo = make_repo(PROJECT)

    cold, _ = run(repo, config, spec, "s1")
    assert cold["verdict"] == "accepted", cold["reasons"]
    assert cold["environment"]["dependency_cache"]["environment"] == "prepared"
    assert {"install", "export", "install-project"} <= set(stages(cold))
    wheels = sorted(p.name for p in (config.cache_dir / "wheels").iterdir())

    (repo / "demo" / "__init__.py").write_text(
        "import iniconfig\n\ndef add(a, b):\n    return b + a\n"
    )
    git("commit", "-qam", "code only", cwd=repo)
    warm, messages = run(repo, config, spec, "s1")

    assert warm["verdict"] == "accepted", warm["reasons"]
    assert warm["environment"]["dependency_cache"]["environment"] == "reused"
    names = stages(warm)
    assert "restore" in names and "install-project" in names
    assert not {"install", "build-env", "export", "metadata"} & set(names)
    assert any("nothing fetched" in m for m in messages if m.startswith("download:"))
    assert sorted(p.name for p in (config.cache_dir / "wheels").iterdir()) == wheels
    # The audit and the licences were judged again from the same data: same verdicts.
    assert {c["id"]: c["status"] for c in warm["checks"]} == {
        c["id"]: c["status"] for c in cold["checks"]
    }
    assert next(c for c in warm["checks"] if c["id"] == "functional")["tests"]["passed"] == 1

    # Another repository with the same dependencies: prepared for itself, never handed s1's.
    other, _ = run(make_repo(PROJECT, name="other"), config, spec, "s2")
    assert other["verdict"] == "accepted", other["reasons"]
    assert other["environment"]["dependency_cache"]["environment"] == "prepared"
    assert "restore" not in stages(other)
