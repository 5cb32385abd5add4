"""The shell runtime through the real pipeline with the shared FakeSandbox (no Docker):
its stages, image, limits and commands, and how limits and forged counts end."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from acceptance.engine.pipeline import EngineConfig, RunResult, run_acceptance
from acceptance.engine.spec import parse_spec
from tests.conftest import RepoFactory
from tests.fakes import FakeSandbox, ran

REPORT = "/work/out/bats-" + "0" * 16 + "/report.xml"
JUNIT = b"""<?xml version="1.0"?><testsuites><testsuite name="t.bats" tests="2">
<testcase classname="t.bats" name="one" time="0.01"/><testcase classname="t.bats" name="two" time="0.01"/>
</testsuite></testsuites>"""
SPEC = (
    "version: 1\ntitle: Shell\nruntime: shell\nlicence: false\nlimits: {pids: 99, memory: 300m}\n"
)


def scripted(sandbox: FakeSandbox, *, count: bytes = b"2\n", junit: bytes = JUNIT) -> FakeSandbox:
    return (
        sandbox.on("shellcheck", files={"/work/out/shellcheck.json": b'{"comments": []}'})
        .on("bats --count", result=ran(0, count))
        .on("bats --formatter junit", files={REPORT: junit})
    )


@pytest.fixture
def judge(make_repo: RepoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The report's folder is named at random per run; fixed here so the script can fill it.
    monkeypatch.setattr(secrets, "token_hex", lambda n=16: "0" * (2 * n))
    repo = make_repo(
        {"tool.sh": "#!/bin/sh\necho hi\n", "tests/t.bats": '@test "one" {\n  true\n}\n'}
    )

    def run(sandbox: Any, spec_text: str = SPEC) -> RunResult:
        config = EngineConfig(
            image="acceptance-sandbox:fake", cache_dir=tmp_path / "cache", work_dir=tmp_path / "work",
            allow_local_sources=True, shell_image="acceptance-sandbox-shell:fake",
        )  # fmt: skip
        return run_acceptance(
            str(repo), None, parse_spec(spec_text, tmp_path), config, sandbox_factory=sandbox
        )

    return run


def _checks(result: RunResult) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in result.statement["predicate"]["checks"]}


def test_a_shell_delivery_runs_its_stages_in_the_shell_image_and_is_accepted(
    judge: Any, fake_sandbox: FakeSandbox
) -> None:
    result = judge(scripted(fake_sandbox).factory)
    predicate = result.statement["predicate"]
    assert result.verdict == "accepted", predicate["reasons"]
    stages = [s["name"] for s in predicate["stages"] if s["name"] != "licence-detect"]
    assert stages == ["checkout", "sandbox", "prepare", "sast", "licence", "functional"]
    assert (predicate["runtime"], predicate["runtime_source"]) == ("shell", "spec")
    config = fake_sandbox.config
    assert config is not None
    assert config.image == "acceptance-sandbox-shell:fake"
    assert (config.limits.pids, config.limits.memory) == (99, 300 * 1024**2)
    assert set(config.readonly_mounts.values()) == {"/src", "/scan"}
    commands = fake_sandbox.commands()
    assert any(
        "shellcheck --norc -f json1" in c and "./tool.sh" in c and "./tests/t.bats" in c
        for c in commands
    )
    assert "bats --count --recursive ./tests" in commands
    checks = _checks(result)
    assert checks["functional"]["tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 0}
    assert checks["dependencies"]["status"] == "skipped"
    assert checks["licence"]["status"] == "skipped"
    assert predicate["install"]["evidence"][0].startswith("shell runtime: nothing to install")


def test_the_per_test_limit_reaches_bats(judge: Any, fake_sandbox: FakeSandbox) -> None:
    judge(scripted(fake_sandbox).factory, SPEC + "functional: {test_timeout: 7}\n")
    bats_run = next(c for c in fake_sandbox.calls if "--formatter junit" in c.command)
    assert bats_run.env is not None and bats_run.env["BATS_TEST_TIMEOUT"] == "7"
    assert bats_run.workdir == "/work/src"


def test_more_results_than_bats_counted_are_not_believed(
    judge: Any, fake_sandbox: FakeSandbox
) -> None:
    result = judge(scripted(fake_sandbox, count=b"1\n").factory)
    functional = _checks(result)["functional"]
    assert (result.verdict, functional["reason_code"]) == ("rejected", "INVALID_ARTIFACT")
    assert "bats counted 1" in functional["summary"]


def test_a_fork_bomb_in_the_tests_is_a_process_limit(judge: Any, fake_sandbox: FakeSandbox) -> None:
    scripted(fake_sandbox).on("bats --formatter junit", result=ran(137, process_limit_hit=True))
    result = judge(fake_sandbox.factory)
    assert _checks(result)["functional"]["reason_code"] == "PROCESS_LIMIT"
    assert result.verdict == "rejected"


QUALITY_REPORT = "/work/out/shellcheck-quality.json"
SC2086 = (
    b'{"comments": [{"file": "./tool.sh", "line": 2, "endLine": 2, "column": 6, "endColumn": 8,'
    b' "level": "info", "code": 2086, "message": "Double quote to prevent globbing."}]}'
)


@pytest.mark.parametrize(
    ("spec", "report", "status", "code"),
    [
        ("quality: true\n", b'{"comments": []}', "passed", None),
        # fail_on any (the default): an info finding fails
        ("quality: true\n", SC2086, "failed", "QUALITY_FINDINGS"),
        ("quality: {fail_on: warning}\n", SC2086, "passed", None),
        # ruff's rules cannot be ShellCheck's: never a pass
        ("quality: {rules: [E, F]}\n", b'{"comments": []}', "not_run", "RUNTIME_CHECK_UNAVAILABLE"),
    ],
)
def test_quality_on_a_shell_delivery_is_shellcheck_judged_like_ruff(
    judge: Any, fake_sandbox: FakeSandbox, spec: str, report: bytes, status: str, code: str | None
) -> None:
    sandbox = scripted(fake_sandbox).on("shellcheck-quality", files={QUALITY_REPORT: report})
    result = judge(sandbox.factory, SPEC + spec)
    quality = _checks(result)["quality"]
    assert (quality["status"], quality.get("reason_code")) == (status, code), quality
    assert result.verdict == ("accepted" if status == "passed" else "rejected")
    if status != "not_run":
        assert quality["tool"] == {"name": "shellcheck", "version": "unknown"}
        assert quality["settings"]["rules"] == ["shellcheck:default"]
        assert any("shellcheck-quality.json" in c and "--norc" in c for c in sandbox.commands())
    if code == "QUALITY_FINDINGS":
        finding = quality["findings"][0]
        assert (finding["rule"], finding["file"], finding["line"], finding["level"]) == (
            "SC2086",
            "tool.sh",
            2,
            "style",
        )
