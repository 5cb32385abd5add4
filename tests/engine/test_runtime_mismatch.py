"""A delivery that stops looking like Python cannot escape the owner's hidden (pytest) tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acceptance.engine.pipeline import EngineConfig, run_acceptance
from acceptance.engine.spec import parse_spec
from tests.conftest import RepoFactory
from tests.fakes import FakeSandbox

OWNER_TEST = "def test_owner():\n    assert False\n"


def _judge(repo: Path, spec_text: str, tmp_path: Path, sandbox: FakeSandbox) -> dict[str, Any]:
    hidden = tmp_path / "hidden"
    hidden.mkdir(exist_ok=True)
    (hidden / "test_owner.py").write_text(OWNER_TEST, encoding="utf-8")
    config = EngineConfig(
        image="acceptance-sandbox:fake", cache_dir=tmp_path / "cache", work_dir=tmp_path / "work",
        allow_local_sources=True, shell_image="acceptance-sandbox-shell:fake",
    )  # fmt: skip
    result = run_acceptance(
        str(repo), None, parse_spec(spec_text, tmp_path), config, sandbox_factory=sandbox.factory
    )
    predicate: dict[str, Any] = result.statement["predicate"]
    return predicate


@pytest.mark.parametrize(
    "files",
    [
        {"tool.sh": "#!/bin/sh\necho hi\n", "tests/t.bats": '@test "one" {\n  true\n}\n'},
        {"package.json": '{"name": "x", "version": "1.0.0"}\n', "index.js": "module.exports = 1\n"},
    ],
    ids=["shell", "node"],
)
def test_a_delivery_detected_as_another_runtime_is_refused_when_the_spec_has_hidden_tests(
    files: dict[str, str], make_repo: RepoFactory, tmp_path: Path, fake_sandbox: FakeSandbox
) -> None:
    spec = "version: 1\ntitle: Contact form\nfunctional: {hidden_tests: hidden}\n"
    predicate = _judge(make_repo(files), spec, tmp_path, fake_sandbox)

    assert predicate["verdict"] == "rejected"
    assert predicate["reason_codes"] == ["RUNTIME_MISMATCH"]
    assert "hidden tests are Python tests" in str(predicate["reasons"][0])
    assert predicate["runtime_source"] == "detected"
    assert predicate["runtime"] in ("shell", "node")
    assert fake_sandbox.calls == []


def test_a_shell_delivery_without_hidden_tests_is_judged_as_shell(
    make_repo: RepoFactory, tmp_path: Path, fake_sandbox: FakeSandbox
) -> None:
    files = {"tool.sh": "#!/bin/sh\necho hi\n", "tests/t.bats": '@test "one" {\n  true\n}\n'}
    predicate = _judge(make_repo(files), "version: 1\ntitle: Tool\n", tmp_path, fake_sandbox)
    assert "RUNTIME_MISMATCH" not in predicate["reason_codes"]
    assert predicate["runtime"] == "shell"
