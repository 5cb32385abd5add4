"""The pipeline against a scripted sandbox (tests/fakes.py), no Docker.

Its stage order, how each sandbox limit (time, memory, processes, output, disk)
becomes a reason code and a verdict, and partial results: a stage that fails
leaves every later check reported as not run, never as passed. The checkout is a
real git repository; only the sandbox is scripted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from acceptance.engine import pipeline
from acceptance.engine.pipeline import EngineConfig, RunResult, run_acceptance
from acceptance.engine.spec import parse_spec
from acceptance.engine.wheels import DownloadResult
from checks import functional, sast
from sandbox.interface import SandboxConfig, SandboxError
from tests.conftest import RepoFactory
from tests.fakes import FakeSandbox, ran

BANDIT = f"/work/out/{sast.REPORT_NAME}"
PYTEST = functional.RUNNER
INSTALL = "/work/venv/bin/python install"
PREPARE = "cp -a /src/."

SPEC = """version: 1
title: Fake sandbox
functional: {paths: [tests], min_passed: 1, reruns: 0}
install: {requirements: []}
security: {dependencies: false}
licence: false
limits: {cpus: 1, memory: 512m, pids: 64, disk: 2g, output: 64k, timeout: 600}
"""

CASES = (
    '<testcase classname="tests.test_a" name="test_one" time="0.01"/>'
    '<testcase classname="tests.test_a" name="test_two" time="0.01"/>'
)


def junit_xml(cases: str = CASES) -> bytes:
    return f'<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>'.encode()


def plugin_events(junit: bytes, exit_code: int, *, passed: tuple[str, ...]) -> bytes:
    """What the image's pytest plugin records for a run that wrote JUNIT."""
    events: list[dict[str, object]] = [
        {"event": "collected", "count": len(passed), "pytest": "8.3.0"}
    ]
    events += [
        {"event": "report", "nodeid": n, "when": "call", "outcome": "passed"} for n in passed
    ]
    events.append({
        "event": "finish", "exitstatus": exit_code, "junit_path": functional.JUNIT_PATH,
        "junit_sha256": hashlib.sha256(junit).hexdigest(),
    })  # fmt: skip
    return b"\n".join(json.dumps(e).encode() for e in events)


def passing_sandbox(sandbox: FakeSandbox | None = None) -> FakeSandbox:
    """SANDBOX (a new one by default) scripted so every stage succeeds: bandit finds
    nothing, the supplier's two tests pass."""
    junit = junit_xml()
    events = plugin_events(
        junit, 0, passed=("tests/test_a.py::test_one", "tests/test_a.py::test_two")
    )
    return (
        (sandbox or FakeSandbox())
        .on("bandit", files={BANDIT: b'{"results": [], "errors": []}'})
        .on(PYTEST, files={functional.JUNIT_PATH: junit, functional.EVENTS_PATH: events})
    )


@pytest.fixture
def judge(make_repo: RepoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the real pipeline on a real checkout with SANDBOX standing for Docker."""

    # The host's wheel download (pytest, which the plan always adds) would reach PyPI:
    # the wheels are only ever read by the sandbox, which is scripted here.
    def download(requirements: list[str], cache: Path, **options: object) -> DownloadResult:
        return DownloadResult(files=(), seconds=0.0)

    monkeypatch.setattr(pipeline, "download_wheels", download)
    repo = make_repo(
        {"app.py": "def one():\n    return 1\n", "tests/test_a.py": "def test_one():\n    pass\n"}
    )

    def run(sandbox: Any, spec_text: str = SPEC) -> RunResult:
        spec = parse_spec(spec_text, tmp_path)
        config = EngineConfig(
            image="acceptance-sandbox:fake", cache_dir=tmp_path / "cache", work_dir=tmp_path / "work",
            allow_local_sources=True,
        )  # fmt: skip
        return run_acceptance(str(repo), None, spec, config, sandbox_factory=sandbox)

    return run


def checks(result: RunResult) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in result.statement["predicate"]["checks"]}


def stage_names(result: RunResult) -> list[str]:
    # Host-side work in the pool threads (licence detection, downloads) overlaps the
    # sandbox stages: its place in the list is a race, so it is checked apart.
    return [
        s["name"]
        for s in result.statement["predicate"]["stages"]
        if s["name"] not in ("licence-detect", "download")
    ]


def test_stages_run_in_order_and_a_clean_run_is_accepted(
    judge: Any, fake_sandbox: FakeSandbox
) -> None:
    sandbox = passing_sandbox(fake_sandbox)
    result = judge(sandbox.factory)
    assert result.verdict == "accepted", result.statement["predicate"]["reasons"]
    assert stage_names(result) == [
        "checkout", "plan", "sandbox", "prepare", "sast", "install", "licence", "functional",
    ]  # fmt: skip
    names = {s["name"] for s in result.statement["predicate"]["stages"]}
    assert {"licence-detect", "download"} <= names
    # The sandbox's own view: copy in, scan before any supplier code runs, install, test.
    assert sandbox.events[0] == "start" and sandbox.events[-1] == "close"
    order = [PREPARE, "bandit", INSTALL, PYTEST]
    runs = sandbox.commands()
    assert len(runs) == len(order)
    assert all(text in command for text, command in zip(order, runs, strict=True)), runs
    reads = [e.removeprefix("read ") for e in sandbox.events if e.startswith("read ")]
    assert reads == [
        BANDIT, f"/work/out/{sast.SARIF_NAME}", functional.EVENTS_PATH, functional.JUNIT_PATH,
    ]  # fmt: skip
    pytest_call = sandbox.calls[-1]
    assert pytest_call.workdir == "/work/src"
    assert (
        pytest_call.env is not None
        and pytest_call.env["ACCEPTANCE_EVENTS"] == functional.EVENTS_PATH
    )
    # Without hidden tests, no step runs as another user than the sandbox's.
    assert all(call.user is None for call in sandbox.calls)
    assert [c["status"] for c in result.statement["predicate"]["checks"]] == [
        "passed", "passed", "skipped", "skipped",
    ]  # fmt: skip
    assert checks(result)["functional"]["tests"]["passed"] == 2
    assert result.artifacts["junit.xml"] == junit_xml()


def test_the_spec_limits_reach_the_sandbox(judge: Any) -> None:
    sandbox = passing_sandbox()
    judge(sandbox.factory)
    assert isinstance(sandbox.config, SandboxConfig)
    limits = sandbox.config.limits
    assert (limits.cpus, limits.memory, limits.pids, limits.disk, limits.output) == (
        1.0, 512 * 1024**2, 64, 2 * 1024**3, 64 * 1024,
    )  # fmt: skip
    assert 0 < limits.lifetime <= 600
    assert sandbox.config.image == "acceptance-sandbox:fake"
    assert set(sandbox.config.readonly_mounts.values()) >= {"/src", "/wheels"}


@pytest.mark.parametrize(
    ("flags", "code", "words"),
    [
        ({"timed_out": True}, "TIMEOUT", "did not finish within the run's 600"),
        ({"memory_limit_hit": True}, "MEMORY_LIMIT", "ran out of the memory limit"),
        ({"process_limit_hit": True}, "PROCESS_LIMIT", "more than 64 processes"),
        ({"output_limit_hit": True}, "OUTPUT_LIMIT", "more than the 65536-byte output limit"),
        # The root cause first: a fork bomb is usually killed at the time limit too.
        ({"process_limit_hit": True, "timed_out": True}, "PROCESS_LIMIT", "processes"),
    ],
)
def test_a_limit_hit_while_installing_rejects_and_stops_the_run(
    judge: Any, flags: dict[str, bool], code: str, words: str
) -> None:
    sandbox = passing_sandbox().on(INSTALL, ran(None if flags.get("timed_out") else 137, **flags))
    result = judge(sandbox.factory)
    predicate = result.statement["predicate"]
    assert result.verdict == "rejected"
    assert predicate["reason_codes"][0] == code
    assert (
        words in predicate["reasons"][0]
        and "installing the dependencies" in predicate["reasons"][0]
    )
    assert not any(PYTEST in command for command in sandbox.commands())
    assert (predicate["stages"][-1]["name"], predicate["stages"][-1]["status"]) == (
        "install",
        "failed",
    )
    assert sandbox.events[-1] == "close"


def test_output_beyond_the_spec_cap_is_an_output_limit(judge: Any) -> None:
    # The fake cuts output at the configured cap as the Docker backend does.
    sandbox = passing_sandbox().on(INSTALL, ran(0, b"x" * (64 * 1024 + 1)))
    result = judge(sandbox.factory)
    assert result.verdict == "rejected"
    assert result.statement["predicate"]["reason_codes"][0] == "OUTPUT_LIMIT"
    assert result.logs["install"].endswith("[output truncated at the limit]")


def test_a_full_disk_during_the_install_is_a_disk_limit(judge: Any) -> None:
    sandbox = passing_sandbox().on(INSTALL, ran(1, b"OSError: [Errno 28]"), full=("/work",))
    result = judge(sandbox.factory)
    assert result.verdict == "rejected"
    assert result.statement["predicate"]["reason_codes"][0] == "DISK_LIMIT"
    assert "(/work)" in result.statement["predicate"]["reasons"][0]


def test_no_space_while_copying_the_checkout_is_a_disk_limit(judge: Any) -> None:
    sandbox = passing_sandbox().on(PREPARE, ran(1, b"cp: error writing: No space left on device"))
    result = judge(sandbox.factory)
    assert result.statement["predicate"]["reason_codes"][0] == "DISK_LIMIT"
    assert [c["status"] for c in result.statement["predicate"]["checks"]][:2] == [
        "not_run",
        "not_run",
    ]


@pytest.mark.parametrize(
    ("flags", "full", "code"),
    [
        ({"timed_out": True}, (), "TIMEOUT"),
        ({"memory_limit_hit": True}, (), "MEMORY_LIMIT"),
        ({"process_limit_hit": True}, (), "PROCESS_LIMIT"),
        ({"output_limit_hit": True}, (), "OUTPUT_LIMIT"),
        ({}, ("/tmp",), "DISK_LIMIT"),
    ],
)
def test_a_limit_hit_by_the_tests_fails_the_functional_check(
    judge: Any, flags: dict[str, bool], full: tuple[str, ...], code: str
) -> None:
    # The tests' own limits are judged by the functional check, not as a run failure:
    # the checks that ran before keep their results.
    sandbox = passing_sandbox().on(PYTEST, ran(None if flags else 1, **flags), full=full)
    result = judge(sandbox.factory)
    found = checks(result)
    assert result.verdict == "rejected"
    assert found["functional"]["status"] == "failed"
    assert found["functional"]["reason_code"] == code
    assert found["sast"]["status"] == "passed"
    assert result.statement["predicate"]["reason_codes"] == [code]


def test_a_scanner_timeout_fails_sast_and_the_tests_still_run(judge: Any) -> None:
    sandbox = passing_sandbox().on("bandit", ran(None, timed_out=True))
    result = judge(sandbox.factory)
    found = checks(result)
    assert result.verdict == "rejected"
    assert (found["sast"]["status"], found["sast"]["reason_code"]) == ("failed", "TIMEOUT")
    assert found["functional"]["status"] == "passed"
    assert any(PYTEST in command for command in sandbox.commands())


def test_a_failed_install_leaves_the_later_checks_not_run_never_passed(judge: Any) -> None:
    sandbox = passing_sandbox().on(INSTALL, ran(1, b"ERROR: something went wrong"))
    result = judge(sandbox.factory)
    predicate = result.statement["predicate"]
    found = checks(result)
    assert result.verdict == "rejected"
    assert predicate["reason_codes"] == ["INSTALL_FAILED"]
    assert found["sast"]["status"] == "passed"  # ran before the install
    assert found["functional"]["status"] == "not_run"
    assert found["functional"]["reason_code"] == "NOT_RUN"
    assert "INSTALL_FAILED" in found["functional"]["summary"]
    # Turned off in the spec stays skipped; stopped by the failure is listed as not run.
    assert {n["id"]: n["status"] for n in predicate["not_checked"]} == {
        "functional": "not_run", "dependencies": "skipped", "licence": "skipped",
    }  # fmt: skip
    assert "junit.xml" not in result.artifacts


def test_a_listing_the_sandbox_corrupts_stops_the_audit_and_the_tests(judge: Any) -> None:
    spec = SPEC.replace("security: {dependencies: false}", "security: {dependencies: true}")
    sandbox = passing_sandbox().on("importlib.metadata", ran(0, b"not json"))
    result = judge(sandbox.factory, spec)
    found = checks(result)
    assert result.statement["predicate"]["reason_codes"] == ["INVALID_ARTIFACT"]
    assert stage_names(result)[-1] == "installed"
    assert found["dependencies"]["status"] == "not_run"
    assert found["functional"]["status"] == "not_run"
    assert "passed" not in {found["dependencies"]["status"], found["functional"]["status"]}


def test_a_sandbox_that_cannot_start_is_an_error_with_every_check_not_run(judge: Any) -> None:
    def broken(config: SandboxConfig) -> FakeSandbox:
        raise SandboxError("the Docker engine refused the container")

    result = judge(broken)
    predicate = result.statement["predicate"]
    assert result.verdict == "error"
    assert predicate["reason_codes"][0] == "PLATFORM_ERROR"
    assert [c["status"] for c in predicate["checks"]] == [
        "not_run",
        "not_run",
        "skipped",
        "skipped",
    ]
    assert predicate["stages"][-1]["name"] == "sandbox"
    assert predicate["stages"][-1]["status"] == "failed"
