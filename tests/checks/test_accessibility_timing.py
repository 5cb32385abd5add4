"""The accessibility check's time, without a browser: the second axe run after the page
settles (ACCEPTANCE_ACCESSIBILITY_SETTLE), the union of both runs' violations, and how
long a served app has to listen (accessibility.serve.wait)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from acceptance.engine.spec import SpecError, parse_spec
from acceptance.errors import UserInputError
from acceptance.settings import accessibility_settle, load_settings
from checks import accessibility
from checks.accessibility import DockerBrowserRunner, evaluate
from checks.browser_run import BrowserOutput, Timing
from checks.interface import CheckContext, CheckOutcome, CheckResult, CheckStatus

BASE = "version: 1\ntitle: t\nfunctional: {paths: [tests]}\n"
RUNNER = Path(__file__).resolve().parents[2] / "sandbox" / "image" / "acceptance_axe_runner.py"


def _section(serve: str) -> str:
    return BASE + f"accessibility: {{serve: {{command: x, port: 8000, paths: [/]{serve}}}}}\n"


def _runner_module() -> ModuleType:
    """The in-image runner, loaded from its file (the host's venv has Playwright too)."""
    spec = importlib.util.spec_from_file_location("acceptance_axe_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- accessibility.serve.wait


def test_serve_wait_is_read_bounded_and_absent_by_default() -> None:
    serve = parse_spec(_section(""), Path(".")).accessibility.serve
    assert serve is not None and serve.wait is None
    serve = parse_spec(_section(", wait: 90"), Path(".")).accessibility.serve
    assert serve is not None and serve.wait == 90


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        ("0", "from 1 to 300 (default 30), got 0"),
        ("301", "must be at most 300, got 301"),
        ("2.5", "got number 2.5"),
        ("'30'", "got string"),
        ("true", "got boolean true"),
    ],
)
def test_a_serve_wait_out_of_bounds_is_refused_naming_the_field(wait: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_section(f", wait: {wait}"), Path("."))
    problems = caught.value.problems
    assert any(p.startswith("accessibility.serve.wait:") and expected in p for p in problems), (
        problems
    )


def test_the_published_schema_knows_serve_wait_and_does_not_require_it() -> None:
    from acceptance.engine.spec_schema import spec_schema

    schema = spec_schema()
    serve = schema["properties"]["accessibility"]["properties"]["serve"]
    assert serve["required"] == ["command", "port", "paths"]
    assert serve["properties"]["wait"] == {
        "description": "seconds the app has to accept connections on its port (default 30)",
        "type": "integer", "minimum": 1, "maximum": 300,
    }  # fmt: skip


def test_the_runner_waits_for_the_app_as_long_as_the_spec_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[Timing] = []

    def visit(*args: Any) -> list[BrowserOutput]:
        seen.append(args[5])  # image, runtime, tree, serve, tags, timing, host
        return []

    monkeypatch.setattr(accessibility, "visit_served", visit)
    runner = DockerBrowserRunner("image", settle_seconds=1.5)
    for wait, expected in (("", 30.0), (", wait: 120", 120.0)):
        options = parse_spec(_section(wait), Path(".")).accessibility
        assert options.serve is not None
        runner.serve(tmp_path, options.serve, ("wcag2a",))
        assert (seen[-1].listen_seconds, seen[-1].settle_seconds) == (expected, 1.5)


def test_the_report_names_the_wait_only_when_the_spec_wrote_it(tmp_path: Path) -> None:
    class Served:
        def run(self, tree: Path, pages: Sequence[str], tags: Sequence[str]) -> list[BrowserOutput]:
            raise AssertionError("static pages are not visited")

        def serve(self, tree: Path, serve: object, tags: Sequence[str]) -> list[BrowserOutput]:
            return [BrowserOutput(json.dumps(_axe()).encode(), None)]

    for wait, expected in (("", None), (", wait: 45", 45)):
        options = parse_spec(_section(wait), Path(".")).accessibility
        details: Any = evaluate(tmp_path, options, Served()).result.details
        assert details["serve"].get("wait") == expected


# ---------------------------------------------------------------- the settle time


def test_the_settle_setting_defaults_to_two_seconds_and_is_bounded() -> None:
    assert accessibility_settle({}) == 2.0
    assert load_settings({"ACCEPTANCE_DATA_DIR": "/tmp/x"}).accessibility_settle == 2.0
    assert accessibility_settle({"ACCEPTANCE_ACCESSIBILITY_SETTLE": "0"}) == 0.0
    assert accessibility_settle({"ACCEPTANCE_ACCESSIBILITY_SETTLE": " 7.5 "}) == 7.5
    for bad in ("-1", "31", "soon", "nan", "inf"):
        with pytest.raises(UserInputError, match="ACCEPTANCE_ACCESSIBILITY_SETTLE is"):
            accessibility_settle({"ACCEPTANCE_ACCESSIBILITY_SETTLE": bad})


def test_the_browsers_time_grows_with_the_settle_time_per_page() -> None:
    quick, slow = Timing(settle_seconds=0.0), Timing(settle_seconds=10.0)
    assert slow.browser_seconds(3) - quick.browser_seconds(3) == 30.0
    # the load, the first run, the wait for the network (5 s) and the second run fit
    assert quick.browser_seconds(1) == 20.0 + 35.0 + 5.0 + 10.0


def test_the_registered_check_reads_the_settle_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sandbox.browser_image

    made: list[DockerBrowserRunner] = []

    judged = CheckOutcome(CheckResult("accessibility", "accessibility", CheckStatus.PASSED, "ok"))

    def fake_evaluate(
        tree: Path, options: object, runner: DockerBrowserRunner, host: object
    ) -> CheckOutcome:
        made.append(runner)
        return judged

    monkeypatch.setattr(sandbox.browser_image, "browser_image_tag", lambda: "browser:tag")
    monkeypatch.setattr(accessibility, "evaluate", fake_evaluate)
    monkeypatch.setenv("ACCEPTANCE_ACCESSIBILITY_SETTLE", "1.25")
    spec = parse_spec(BASE + "accessibility: {pages: [index.html]}\n", Path("."))
    assert accessibility.AccessibilityCheck().run(CheckContext(tmp_path, spec)) is judged
    assert made[0].settle_seconds == 1.25 and made[0].image == "browser:tag"


# ---------------------------------------------------------------- the runner's two runs


def _axe(*rules: dict[str, object], passes: int = 3) -> dict[str, object]:
    return {"violations": list(rules), "passes": passes, "incomplete": 0, "inapplicable": 1,
            "axe_version": "4.14.1"}  # fmt: skip


def _rule(rule: str, *targets: str) -> dict[str, object]:
    return {"id": rule, "impact": "serious", "tags": ["wcag2a"], "help": "h", "helpUrl": "u",
            "nodes": [{"target": [t], "html": f"<{t}>"} for t in targets]}  # fmt: skip


def test_both_runs_violations_are_judged_once_per_rule_and_target() -> None:
    runner = _runner_module()
    at_load = _axe(_rule("image-alt", "img.a"), _rule("label", "#q"), passes=5)
    settled = _axe(_rule("image-alt", "img.a", "img.late"), _rule("region", "p"), passes=7)
    united = runner._union(at_load, settled)
    assert [r["id"] for r in united["violations"]] == ["image-alt", "label", "region"]
    nodes = {r["id"]: [n["target"] for n in r["nodes"]] for r in united["violations"]}
    assert nodes == {"image-alt": [["img.a"], ["img.late"]], "label": [["#q"]], "region": [["p"]]}
    assert united["passes"] == 7, "the counts are the settled page's"
    # a violation the page removed after its load still counts
    assert runner._union(at_load, _axe())["violations"][0]["id"] == "image-alt"


def test_the_union_keeps_at_most_fifty_elements_a_rule_and_refuses_a_failed_run() -> None:
    runner = _runner_module()
    many = _axe(_rule("image-alt", *(f"img.n{n}" for n in range(40))))
    more = _axe(_rule("image-alt", *(f"img.m{n}" for n in range(40))))
    assert len(runner._union(many, more)["violations"][0]["nodes"]) == 50
    for broken in (None, "x", [1]):
        with pytest.raises(runner.AxeFailed):
            runner._union(_axe(), broken)
    with pytest.raises(runner.AxeFailed):
        runner._union(_axe(), {"violations": ["not a rule"]})


def test_the_runner_reads_its_origin_and_settle_options_and_bounds_the_settle() -> None:
    runner = _runner_module()
    assert runner._options(["r", "/out", "wcag2a", "file:///src/a.html"]) == (
        "", 2.0, ["/out", "wcag2a", "file:///src/a.html"],
    )  # fmt: skip
    assert runner._options(
        ["r", "--settle", "1.5", "--origin", "http://127.0.0.1:8000", "/out", "t", "u"]
    ) == ("http://127.0.0.1:8000", 1.5, ["/out", "t", "u"])
    assert runner._options(["r", "--settle", "600", "/o", "t", "u"])[1] == 30.0
    assert runner._options(["r", "--settle", "-4", "/o", "t", "u"])[1] == 0.0
