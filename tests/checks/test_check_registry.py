"""A check added through the registry alone (issue 15): its module, one registration, its test.

The check below fails a delivery that holds a file named TODO. Nothing else in the
engine knows it: the pipeline runs it beside the sandbox, lists it after the built-in
checks, and the report's verdict and reasons follow from its result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import checks
from checks.interface import CheckContext, CheckOutcome, CheckResult, CheckStatus, Stage
from tests.conftest import RepoFactory, check, write_spec
from tests.engine.test_engine_docker import PASSING


@dataclass(frozen=True)
class TodoCheck:
    """Fails when the delivery still has a TODO file at its root."""

    id: str = "todo"
    stage: Stage = Stage.BESIDE_SANDBOX
    spec_section: str | None = None
    listed_when_off: bool = True

    def enabled(self, spec: object) -> bool:
        return True

    def run(self, context: CheckContext) -> CheckOutcome:
        if (context.tree / "TODO").exists():
            result = CheckResult(
                "todo", "todo", CheckStatus.FAILED, "the delivery has a TODO file", "CHECK_FAILED"
            )
        else:
            result = CheckResult("todo", "todo", CheckStatus.PASSED, "no TODO file")
        return CheckOutcome(result)


@pytest.fixture
def todo_check() -> Iterator[None]:
    checks.register(TodoCheck())
    try:
        yield
    finally:
        checks.unregister("todo")


def test_the_registry_lists_the_built_in_checks_in_report_order() -> None:
    ids = [c.id for c in checks.registered()]
    assert ids == ["functional", "sast", "dependencies", "licence", "quality", "accessibility"]
    with pytest.raises(ValueError, match="already registered"):
        checks.register(TodoCheck(id="sast"))
    with pytest.raises(ValueError, match="built-in"):
        checks.unregister("functional")


@pytest.mark.docker
@pytest.mark.usefixtures("cli_env", "todo_check")
def test_a_registered_check_fails_a_delivery_with_a_todo_file(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "spec", "functional: {paths: [tests], min_passed: 2}\n")

    code, statement = check(str(make_repo({**PASSING, "TODO": "finish\n"})), spec, capsys=capsys)
    predicate = statement["predicate"]
    assert code == 1
    assert predicate["verdict"] == "rejected"
    assert [c["id"] for c in predicate["checks"]] == [
        "functional", "sast", "dependencies", "licence", "todo",
    ]  # fmt: skip
    assert predicate["checks"][-1]["status"] == "failed"
    assert predicate["reason_codes"] == ["CHECK_FAILED"]
    assert "todo" in [s["name"] for s in predicate["stages"]]

    code, statement = check(str(make_repo(PASSING)), spec, capsys=capsys)
    assert code == 0, statement["predicate"]["reasons"]
    assert statement["predicate"]["checks"][-1]["status"] == "passed"
