"""Hosted checks (checks.interface.HostedCheck), without Docker: the Python runtime hands
its sandbox, with the project installed, to a check that wants it (the accessibility
check's served app), after the supplier's tests and before the owner's hidden tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import checks
from checks.accessibility import AccessibilityCheck, evaluate
from checks.browser_run import BrowserOutput
from checks.interface import AppHost, CheckContext, CheckOutcome, CheckResult, CheckStatus, Stage
from tests.engine.test_pipeline_fake_sandbox import INSTALL, judge, passing_sandbox, stage_names
from tests.fakes import FakeSandbox, ran

__all__ = ["judge"]  # the fixture, shared with the fake-sandbox pipeline tests


@dataclass
class ProbeCheck:
    """Records where the pipeline ran it: beside the sandbox (run) or hosted (run_hosted)."""

    wants_host: bool = True
    id: str = "probe"
    stage: Stage = Stage.BESIDE_SANDBOX
    spec_section: str | None = None
    listed_when_off: bool = True
    calls: list[tuple[str, AppHost | None]] = field(default_factory=list)

    def enabled(self, spec: object) -> bool:
        return True

    def hosted(self, spec: object) -> bool:
        return self.wants_host

    def run(self, context: CheckContext) -> CheckOutcome:
        self.calls.append(("run", None))
        return CheckOutcome(CheckResult("probe", "probe", CheckStatus.PASSED, "beside"))

    def run_hosted(self, context: CheckContext, host: AppHost) -> CheckOutcome:
        assert (context.tree / "app.py").is_file()
        self.calls.append(("hosted", host))
        return CheckOutcome(CheckResult("probe", "probe", CheckStatus.PASSED, "hosted"))


class NamedSandbox(FakeSandbox):
    """A scripted sandbox with a name, as DockerSandbox has (its loopback can be joined)."""

    name = "acceptance-fake"


@pytest.fixture
def probe() -> Iterator[ProbeCheck]:
    check = ProbeCheck()
    checks.register(check)
    try:
        yield check
    finally:
        checks.unregister("probe")


def test_the_python_runtime_hosts_the_check_after_the_suppliers_tests(
    judge: Any, probe: ProbeCheck
) -> None:
    sandbox = passing_sandbox(NamedSandbox())
    result = judge(sandbox.factory)
    assert result.verdict == "accepted", result.statement["predicate"]["reasons"]
    (how, host), = probe.calls  # fmt: skip
    assert how == "hosted" and host is not None
    assert host.sandbox is sandbox and host.name == "acceptance-fake"
    assert host.workdir == "/work/src"
    assert host.env["VIRTUAL_ENV"] == "/work/venv"
    assert host.env["PATH"].startswith("/work/venv/bin:")
    assert "/work/venv" in host.environment
    names = stage_names(result)
    assert names.index("probe") == names.index("functional") + 1, names
    listed = {c["id"]: c for c in result.statement["predicate"]["checks"]}
    assert listed["probe"]["summary"] == "hosted"


def test_a_run_that_stops_before_the_suppliers_tests_lists_the_hosted_check_not_run(
    judge: Any, probe: ProbeCheck
) -> None:
    sandbox = passing_sandbox(NamedSandbox()).on(INSTALL, ran(1, b"ERROR: no such package"))
    result = judge(sandbox.factory)
    assert probe.calls == []
    listed = {c["id"]: c for c in result.statement["predicate"]["checks"]}
    assert listed["probe"]["status"] == "not_run"
    assert listed["probe"]["reason_code"] == "NOT_RUN"


def test_a_sandbox_whose_loopback_cannot_be_joined_runs_the_check_its_own_way(
    judge: Any, probe: ProbeCheck
) -> None:
    result = judge(passing_sandbox(FakeSandbox()).factory)
    assert probe.calls == [("run", None)]
    names = stage_names(result)
    assert names.index("probe") == names.index("functional") + 1, names


def test_a_check_that_wants_no_host_still_runs_beside_the_sandbox_first(
    judge: Any, probe: ProbeCheck
) -> None:
    probe.wants_host = False
    result = judge(passing_sandbox(NamedSandbox()).factory)
    assert probe.calls == [("run", None)]
    assert stage_names(result)[:2] == ["checkout", "probe"]


def test_only_a_served_accessibility_check_wants_a_host() -> None:
    from acceptance.engine.spec import parse_spec

    base = "version: 1\ntitle: t\nfunctional: {paths: [tests]}\n"
    check = AccessibilityCheck()
    served = "accessibility: {serve: {command: x, port: 8000, paths: [/]}}\n"
    assert check.hosted(parse_spec(base + served, Path(".")))
    assert not check.hosted(parse_spec(base + "accessibility: {pages: [a.html]}\n", Path(".")))
    assert not check.hosted(parse_spec(base, Path(".")))


def test_the_served_app_is_started_in_the_host_and_the_report_says_so(tmp_path: Path) -> None:
    from acceptance.engine.spec import parse_spec

    spec = parse_spec(
        "version: 1\ntitle: t\nfunctional: {paths: [tests]}\n"
        "accessibility: {serve: {command: x, port: 8000, paths: [/]}}\n",
        Path("."),
    )
    seen: list[object] = []

    class Runner:
        def run(self, tree: Path, pages: object, tags: object) -> list[BrowserOutput]:
            raise AssertionError("no static pages")

        def serve(
            self, tree: Path, serve: object, tags: object, host: AppHost | None = None
        ) -> list[BrowserOutput]:
            seen.append(host)
            axe = b'{"violations": [], "passes": 3, "incomplete": 0, "inapplicable": 1}'
            return [BrowserOutput(axe, None)]

    host = AppHost(NamedSandbox(), "acceptance-fake", "/work/src", {}, "the test's sandbox")
    result = evaluate(tmp_path, spec.accessibility, Runner(), host).result
    assert seen == [host]
    assert result.status is CheckStatus.PASSED, result.summary
    assert result.details["serve"]["environment"] == "the test's sandbox"  # type: ignore[index]
