"""The accessibility check without a browser: the spec section, page paths, and judging
the browser's untrusted output (huge, mistyped, with control characters or markup)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

import checks
from acceptance.engine.spec import AccessibilityImpact, AccessibilitySpec, SpecError, parse_spec
from acceptance.reasons import REASONS, Fault
from checks.accessibility import (
    AccessibilityCheck,
    BrowserOutput,
    BrowserToolError,
    evaluate,
    page_problem,
    page_url,
)
from checks.axe_results import MAX_PAGE_JSON_BYTES, PNG_MAGIC, UntrustedResults, parse_results
from checks.interface import CheckContext, CheckStatus

BASE = "version: 1\ntitle: t\nfunctional: {paths: [tests]}\n"


def spec_of(section: str) -> AccessibilitySpec:
    return parse_spec(BASE + section + "\n", Path(".")).accessibility


def problems_of(section: str) -> tuple[str, ...]:
    with pytest.raises(SpecError) as caught:
        parse_spec(BASE + section + "\n", Path("."))
    return tuple(caught.value.problems)


# ---------------------------------------------------------------- spec


def test_the_check_is_off_unless_the_spec_turns_it_on() -> None:
    assert parse_spec(BASE, Path(".")).accessibility == AccessibilitySpec(enabled=False)
    assert spec_of("accessibility: false").enabled is False


def test_defaults_and_every_field() -> None:
    spec = spec_of("accessibility: {pages: [index.html]}")
    assert (spec.enabled, spec.pages, spec.standard, spec.fail_on, spec.ignore) == (
        True, ("index.html",), "wcag21aa", AccessibilityImpact.SERIOUS, (),
    )  # fmt: skip
    spec = spec_of(
        "accessibility: {pages: [index.html, docs/a.htm], standard: WCAG22AA, "
        "fail_on: Minor, ignore: [region, color-contrast]}"
    )
    assert spec.pages == ("index.html", "docs/a.htm")
    assert spec.standard == "wcag22aa"
    assert spec.fail_on is AccessibilityImpact.MINOR
    assert spec.ignore == ("region", "color-contrast")


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("accessibility: true", "accessibility: list the HTML files to check"),
        ("accessibility: {}", "accessibility.pages: missing"),
        ("accessibility: {pages: []}", "accessibility.pages: an empty list would check nothing"),
        ("accessibility: {pages: index.html}", "write it in brackets"),
        ("accessibility: {pages: [../up.html]}", "must not contain '..'"),
        ("accessibility: {pages: [/etc/x.html]}", "must be a relative POSIX path"),
        ("accessibility: {pages: [app.py]}", "must name an HTML file"),
        ("accessibility: {pages: ['*.html']}", "no glob characters"),
        ("accessibility: {pages: [a.html, ./a.html]}", "duplicates accessibility.pages[0]"),
        (
            "accessibility: {pages: [a.html], standard: wcag3}",
            "accessibility.standard: must be one of",
        ),
        (
            "accessibility: {pages: [a.html], fail_on: high}",
            "accessibility.fail_on: must be one of",
        ),
        ("accessibility: {pages: [a.html], ignore: [Image_Alt]}", "must be an axe-core rule id"),
        ("accessibility: {pages: [a.html], colour: red}", "colour"),
        (
            "accessibility: {serve: {command: x, port: 8000}}",
            "accessibility.serve.paths: missing; serve needs command, port and paths",
        ),
        ("accessibility: yes please", "must be a mapping of keys"),
        ("accessibility: {serve: true}", "accessibility.serve: must be a mapping with command"),
        (
            "accessibility: {pages: [a.html], serve: {command: x, port: 8000, paths: [/]}}",
            "give either pages (static HTML files opened as file://) or serve",
        ),
        (
            "accessibility: {serve: {command: x, port: 80, paths: [/]}}",
            "accessibility.serve.port: must be the port the app listens on, from 1024 to 65535",
        ),
        ("accessibility: {serve: {command: x, port: 65536, paths: [/]}}", "at most 65535"),
        ("accessibility: {serve: {command: x, port: '8000', paths: [/]}}", "got string '8000'"),
        ("accessibility: {serve: {command: x, port: true, paths: [/]}}", "got boolean true"),
        ("accessibility: {serve: {command: '  ', port: 8000, paths: [/]}}", "must not be blank"),
        ("accessibility: {serve: {command: [], port: 8000, paths: [/]}}", "a list of arguments"),
        ("accessibility: {serve: {command: [a, 1], port: 8000, paths: [/]}}", "command[1]"),
        (
            'accessibility: {serve: {command: "a\\nb", port: 8000, paths: [/]}}',
            "must not contain control characters",
        ),
        (
            "accessibility: {serve: {command: [" + ", ".join(["a"] * 51) + "], port: 8000, "
            "paths: [/]}}",
            "at most 50 arguments",
        ),
        ("accessibility: {serve: {command: x, port: 8000, paths: []}}", "an empty list"),
        ("accessibility: {serve: {command: x, port: 8000, paths: /}}", "write it in brackets"),
        ("accessibility: {serve: {command: x, port: 8000, paths: [index.html]}}", "single /"),
        (
            "accessibility: {serve: {command: x, port: 8000, paths: ['//evil.example/']}}",
            "single /",
        ),
        ("accessibility: {serve: {command: x, port: 8000, paths: ['/a#b']}}", "without '#'"),
        ("accessibility: {serve: {command: x, port: 8000, paths: ['/a b']}}", "visible ASCII"),
        ("accessibility: {serve: {command: x, port: 8000, paths: ['/\\x']}}", "backslashes"),
        ("accessibility: {serve: {command: x, port: 8000, paths: [/a, /a]}}", "list it once"),
        ("accessibility: {serve: {command: x, port: 8000, paths: [/], host: h}}", "serve.host"),
    ],
)
def test_invalid_sections_are_refused_with_a_clear_message(section: str, expected: str) -> None:
    problems = problems_of(section)
    assert any(expected in problem for problem in problems), problems


def test_serve_reads_a_command_line_or_arguments_a_port_and_url_paths() -> None:
    spec = spec_of(
        "accessibility: {serve: {command: python3 -m http.server 8000, port: 8000, "
        "paths: [/, /contact.html, '/search?q=parks']}}"
    )
    assert spec.enabled and spec.pages == () and spec.serve is not None
    assert spec.serve.command == ("sh", "-c", "python3 -m http.server 8000")
    assert spec.serve.shell and spec.serve.written == "python3 -m http.server 8000"
    assert (spec.serve.port, spec.serve.paths) == (8000, ("/", "/contact.html", "/search?q=parks"))
    spec = spec_of("accessibility: {serve: {command: [python3, app.py], port: 1024, paths: [/]}}")
    assert spec.serve is not None and spec.serve.command == ("python3", "app.py")
    assert not spec.serve.shell and spec.serve.written == ["python3", "app.py"]
    long_path = "/" + "a" * 300
    assert any("at most 300 characters" in p for p in problems_of(
        f"accessibility: {{serve: {{command: x, port: 8000, paths: ['{long_path}']}}}}"
    ))  # fmt: skip
    assert any("at most 2000 characters in all" in p for p in problems_of(
        f"accessibility: {{serve: {{command: [{'a' * 1500}, {'b' * 600}], port: 8000, paths: [/]}}}}"
    ))  # fmt: skip


def test_reason_codes_are_registered_with_whose_fault() -> None:
    assert REASONS["ACCESSIBILITY_VIOLATIONS"] is Fault.SUPPLIER
    assert REASONS["ACCESSIBILITY_PAGE_MISSING"] is Fault.SUPPLIER
    assert REASONS["ACCESSIBILITY_PAGE_UNLOADABLE"] is Fault.SUPPLIER
    assert REASONS["ACCESSIBILITY_TOOL_ERROR"] is Fault.PLATFORM


def test_the_check_is_registered_after_quality_and_listed_only_when_on() -> None:
    ids = [check.id for check in checks.registered()]
    assert ids[-2:] == ["quality", "accessibility"]
    check = next(c for c in checks.registered() if c.id == "accessibility")
    assert check.listed_when_off is False
    assert check.enabled(parse_spec(BASE, Path("."))) is False
    assert check.enabled(parse_spec(BASE + "accessibility: {pages: [a.html]}\n", Path(".")))


# ---------------------------------------------------------------- pages


def test_page_paths_must_be_regular_files_inside_the_checkout(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "index.html").write_text("<html></html>")
    (tmp_path / "outside.html").write_text("<html></html>")
    (tree / "out.html").symlink_to(tmp_path / "outside.html")
    (tree / "in.html").symlink_to(tree / "index.html")
    assert page_problem(tree, "index.html") is None
    assert page_problem(tree, "in.html") is None
    assert page_problem(tree, "out.html") == "a symbolic link leading out of the checkout"
    assert page_problem(tree, "gone.html") == "no such file in the delivery"
    assert page_problem(tree, "docs") == "not a regular file"
    assert page_url("docs/a b#c.html") == "file:///src/docs/a%20b%23c.html"


# ---------------------------------------------------------------- judging


def axe_rule(
    rule: str = "image-alt", impact: str = "critical", **extra: object
) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": rule,
        "impact": impact,
        "tags": ["wcag2a", "wcag111"],
        "help": "Images must have alternative text",
        "helpUrl": f"https://dequeuniversity.com/rules/axe/4.14/{rule}?application=axeAPI",
        "nodes": [{"target": ["img"], "html": '<img src="a.png">'}],
    }
    entry.update(extra)
    return entry


def axe_json(*violations: object, passes: object = 12, incomplete: object = 1) -> bytes:
    document = {
        "violations": list(violations), "passes": passes, "incomplete": incomplete,
        "inapplicable": 40, "axe_version": "4.14.1",
    }  # fmt: skip
    return json.dumps(document).encode()


class FakeRunner:
    def __init__(self, outputs: Sequence[BrowserOutput] | BrowserToolError) -> None:
        self.outputs = outputs
        self.calls: list[tuple[Path, tuple[str, ...], tuple[str, ...]]] = []

    def run(self, tree: Path, pages: Sequence[str], tags: Sequence[str]) -> list[BrowserOutput]:
        self.calls.append((tree, tuple(pages), tuple(tags)))
        if isinstance(self.outputs, BrowserToolError):
            raise self.outputs
        return list(self.outputs)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<html></html>")
    (tmp_path / "form.html").write_text("<html></html>")
    return tmp_path


def test_violations_at_or_above_fail_on_reject_naming_the_rules(site: Path) -> None:
    options = spec_of("accessibility: {pages: [index.html, form.html]}")
    shot = PNG_MAGIC + b"rest"
    runner = FakeRunner([
        BrowserOutput(axe_json(axe_rule()), shot),
        BrowserOutput(axe_json(axe_rule("label"), axe_rule("region", "moderate")), None),
    ])  # fmt: skip
    outcome = evaluate(site, options, runner)
    result = outcome.result
    assert runner.calls[0][1:] == (
        ("index.html", "form.html"), ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa"),
    )  # fmt: skip
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "ACCESSIBILITY_VIOLATIONS"
    assert "image-alt" in result.summary and "label" in result.summary
    assert "region" not in result.summary
    details = result.details
    assert details["blocking_rules"] == ["image-alt", "label"]
    assert details["counts"] == {"minor": 0, "moderate": 1, "serious": 0, "critical": 2}
    assert details["passes"] == 24 and details["incomplete"] == 2
    pages = details["pages"]
    assert isinstance(pages, list)
    assert pages[0]["screenshot"] == "accessibility-page-0.png"
    assert pages[1]["screenshot"] is None
    assert outcome.artifacts == {"accessibility-page-0.png": shot}
    first = pages[0]["violations"][0]
    assert first["rule"] == "image-alt" and first["blocking"] is True
    assert first["nodes"] == [{"target": "img", "html": '<img src="a.png">'}]
    assert first["help_url"].startswith("https://dequeuniversity.com/rules/axe/4.14/image-alt")


def test_ignored_and_lower_impact_violations_pass(site: Path) -> None:
    options = spec_of("accessibility: {pages: [index.html], ignore: [image-alt]}")
    outcome = evaluate(site, options, FakeRunner([
        BrowserOutput(axe_json(axe_rule(), axe_rule("region", "moderate")), None),
    ]))  # fmt: skip
    assert outcome.result.status is CheckStatus.PASSED
    assert outcome.result.reason_code is None
    violations = outcome.result.details["pages"][0]["violations"]  # type: ignore[index]
    assert [(v["rule"], v["ignored"], v["blocking"]) for v in violations] == [
        ("image-alt", True, False), ("region", False, False),
    ]  # fmt: skip


def test_a_missing_page_is_a_failure_and_the_browser_never_starts(site: Path) -> None:
    options = spec_of("accessibility: {pages: [index.html, nowhere.html]}")
    runner = FakeRunner([])
    result = evaluate(site, options, runner).result
    assert runner.calls == []
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "ACCESSIBILITY_PAGE_MISSING"
    assert "nowhere.html (no such file in the delivery)" in result.summary


def test_no_output_or_a_broken_browser_is_a_platform_error_never_a_pass(site: Path) -> None:
    options = spec_of("accessibility: {pages: [index.html]}")
    for runner in (
        FakeRunner(BrowserToolError("chromium did not start")),
        FakeRunner([BrowserOutput(None, None)]),
        FakeRunner([]),
    ):
        result = evaluate(site, options, runner).result
        assert result.status is CheckStatus.ERROR
        assert result.reason_code == "ACCESSIBILITY_TOOL_ERROR"


def test_a_page_that_did_not_load_fails(site: Path) -> None:
    options = spec_of("accessibility: {pages: [index.html]}")
    error = json.dumps({"error": "net::ERR_FILE_NOT_FOUND\x1b[31m\nat file:///src/index.html"})
    result = evaluate(site, options, FakeRunner([BrowserOutput(error.encode(), None)])).result
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "ACCESSIBILITY_PAGE_UNLOADABLE"
    assert "\x1b" not in result.summary and "\n" not in result.summary


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe not utf-8",
        b"[1, 2]",
        b"{" * 100_000,
        axe_json(passes="12"),
        axe_json(passes=True),
        axe_json(passes=-1),
        axe_json(incomplete=10**12),
        json.dumps({"violations": "none"}).encode(),
        axe_json(*[axe_rule(f"rule-{n}") for n in range(201)]),
        axe_json(axe_rule(impact="catastrophic")),
        axe_json(axe_rule(impact=None)),
        axe_json(axe_rule(rule="<script>alert(1)</script>")),
        axe_json(axe_rule(tags="wcag2a")),
        axe_json(axe_rule(tags=["wcag2a", "<b>"])),
        axe_json(axe_rule(nodes=[{"target": "img", "html": "<img>"}])),
        axe_json(axe_rule(nodes=[{"target": ["img"], "html": 7}])),
        axe_json(axe_rule(nodes=[["img"]])),
        axe_json(axe_rule(nodes=[{"target": ["img"], "html": "x"}] * 51)),
    ],
)
def test_output_that_is_not_axe_cores_is_refused(raw: bytes) -> None:
    with pytest.raises(UntrustedResults):
        parse_results("index.html", raw)


def test_huge_output_is_refused_before_it_is_parsed(site: Path) -> None:
    with pytest.raises(UntrustedResults, match="larger than"):
        parse_results("index.html", b" " * (MAX_PAGE_JSON_BYTES + 1))
    options = spec_of("accessibility: {pages: [index.html]}")
    for output in (
        BrowserOutput(None, None, too_large=True),
        BrowserOutput(axe_json(axe_rule(impact="huge")), None),
    ):
        result = evaluate(site, options, FakeRunner([output])).result
        # Rewritten or flooding results are the page's doing: a failure, not a pass or an error.
        assert result.status is CheckStatus.FAILED
        assert result.reason_code == "ACCESSIBILITY_PAGE_UNLOADABLE"


def test_selectors_snippets_and_text_are_cleaned_and_capped() -> None:
    hostile = "<script>alert('x')</script>\x00\x1b[2J\u202e" + "A" * 10_000
    rule = axe_rule(
        help="Help\x07 text\u200b" + "h" * 1000,
        helpUrl="javascript:alert(1)",
        nodes=[{"target": [hostile, "#b"], "html": hostile}],
    )
    page = parse_results("index.html", axe_json(rule))
    violation = page.violations[0]
    node = violation.nodes[0]
    for text in (node.target, node.html, violation.help):
        assert not any(ord(ch) < 32 or ch in "\u202e\u200b\x7f" for ch in text)
        assert len(text) <= 300
    # Kept as text (the dashboard escapes it); only its length and characters are touched.
    assert node.html.startswith("<script>alert('x')</script>")
    assert violation.help_url is None
    other = parse_results("a.html", axe_json(axe_rule(helpUrl="https://evil.example/rules/axe/")))
    assert other.violations[0].help_url is None


def test_a_screenshot_that_is_not_a_png_or_too_big_is_dropped(site: Path) -> None:
    options = spec_of("accessibility: {pages: [index.html]}")
    for shot in (b"GIF89a", PNG_MAGIC + b"x" * (2 * 1024**2)):
        outcome = evaluate(site, options, FakeRunner([BrowserOutput(axe_json(), shot)]))
        assert outcome.artifacts == {}
        assert outcome.result.status is CheckStatus.PASSED


def test_the_registered_check_reads_its_section_from_the_spec(site: Path) -> None:
    spec = parse_spec(BASE + "accessibility: {pages: [index.html]}\n", Path("."))
    check = AccessibilityCheck(FakeRunner([BrowserOutput(axe_json(axe_rule("label")), None)]))
    outcome = check.run(CheckContext(tree=site, spec=spec))
    assert outcome.result.id == "accessibility"
    assert outcome.result.reason_code == "ACCESSIBILITY_VIOLATIONS"


def test_the_example_spec_uses_accessibility_and_quality() -> None:
    from acceptance.engine.spec import load_spec

    root = Path(__file__).resolve().parents[2] / "examples"
    spec = load_spec(root / "specs" / "static-site" / "acceptance.yaml")
    assert spec.accessibility.pages == ("index.html", "contact.html")
    assert spec.quality.enabled
    for page in spec.accessibility.pages:
        assert page_problem(root / "static-site", page) is None


def test_the_served_example_spec_serves_the_same_pages() -> None:
    from acceptance.engine.spec import load_spec

    root = Path(__file__).resolve().parents[2] / "examples"
    spec = load_spec(root / "specs" / "static-site-served" / "acceptance.yaml")
    serve = spec.accessibility.serve
    assert serve is not None and spec.accessibility.pages == ()
    assert serve.port == 8000 and f"http.server {serve.port}" in serve.command[-1]
    for path in serve.paths:  # http.server serves the checkout: each path is one of its files
        assert page_problem(root / "static-site", path.lstrip("/")) is None


# ---------------------------------------------------------------- serve, without Docker

SERVED = (
    "accessibility: {serve: {command: python3 -m http.server 8000, port: 8000, "
    "paths: [/, /contact]}}"
)


class FakeServedRunner(FakeRunner):
    def __init__(self, outputs: Sequence[BrowserOutput] | Exception) -> None:
        super().__init__([])
        self.served: Sequence[BrowserOutput] | Exception = outputs
        self.serve_calls: list[tuple[Path, object, tuple[str, ...]]] = []

    def serve(self, tree: Path, serve: object, tags: Sequence[str]) -> list[BrowserOutput]:
        self.serve_calls.append((tree, serve, tuple(tags)))
        if isinstance(self.served, Exception):
            raise self.served
        return list(self.served)


def test_served_paths_are_judged_by_url_path_and_the_report_names_the_app(site: Path) -> None:
    options = spec_of(SERVED)
    runner = FakeServedRunner([
        BrowserOutput(axe_json(axe_rule()), PNG_MAGIC + b"x"), BrowserOutput(axe_json(), None),
    ])  # fmt: skip
    outcome = evaluate(site, options, runner)
    result = outcome.result
    assert runner.calls == [] and runner.serve_calls[0][1] is options.serve
    assert result.reason_code == "ACCESSIBILITY_VIOLATIONS"
    assert [page["page"] for page in result.details["pages"]] == ["/", "/contact"]  # type: ignore[index, union-attr]
    assert result.details["serve"] == {
        "command": "python3 -m http.server 8000", "port": 8000, "paths": ["/", "/contact"],
        "environment": "the browser image's Python 3 and Debian base, without the delivery's "
        "dependencies",
    }  # fmt: skip
    assert outcome.artifacts == {"accessibility-page-0.png": PNG_MAGIC + b"x"}


def test_an_app_that_does_not_listen_is_the_suppliers_failure(site: Path) -> None:
    from checks.browser_run import ServerNotListening

    said = "the app started by accessibility.serve.command 'x' ended before listening"
    result = evaluate(site, spec_of(SERVED), FakeServedRunner(ServerNotListening(said))).result
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "ACCESSIBILITY_SERVER_NOT_LISTENING"
    assert result.summary == said
    assert REASONS["ACCESSIBILITY_SERVER_NOT_LISTENING"] is Fault.SUPPLIER
    assert result.details["serve"]["port"] == 8000  # type: ignore[index]


def test_a_served_check_never_passes_without_a_browser_that_can_serve(site: Path) -> None:
    options = spec_of(SERVED)
    result = evaluate(site, options, FakeRunner([])).result
    assert result.status is CheckStatus.ERROR and result.reason_code == "ACCESSIBILITY_TOOL_ERROR"
    result = evaluate(site, options, FakeServedRunner(BrowserToolError("no image"))).result
    assert result.status is CheckStatus.ERROR and "no image" in result.summary
    result = evaluate(site, options, FakeServedRunner([BrowserOutput(axe_json(), None)])).result
    assert result.status is CheckStatus.ERROR, "fewer outputs than paths"


def test_the_apps_output_is_capped_and_cleaned_in_the_failure() -> None:
    from checks.browser_run import SERVER_OUTPUT_CAP, _server_failure
    from sandbox.interface import CommandResult

    serve = spec_of(SERVED).serve
    assert serve is not None
    hostile = ("x" * 5000 + "\x1b[2J\u202eevil\x00 <img src=x onerror=alert(1)>\r\nend").encode()
    result = CommandResult(exit_code=1, output=hostile, output_truncated=False, seconds=1.0)
    message = _server_failure(serve, result, "ended before listening on port 8000")
    assert message.startswith(
        "the app started by accessibility.serve.command 'python3 -m http.server 8000' ended "
        "before listening on port 8000 (exit code 1); its last output: "
    )
    assert message.endswith("[2Jevil <img src=x onerror=alert(1)> end")
    assert not any(ch in message for ch in "\x1b\u202e\x00\r\n")
    assert len(message) < 900
    flood = CommandResult(1, b"y\n" * 10, True, 1.0, output_limit_hit=True)
    assert f"passed {SERVER_OUTPUT_CAP // 1024} KiB, so it was stopped" in _server_failure(
        serve, flood, "stopped while its pages were visited"
    )
    killed = CommandResult(137, b"", False, 1.0)
    message = _server_failure(serve, killed, "did not listen", killed=True)
    assert message.endswith("did not listen; it printed nothing")
