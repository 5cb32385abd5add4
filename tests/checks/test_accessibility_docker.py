"""The accessibility check through the real engine: axe-core in Debian's Chromium, in the
browser image variant's sandbox with no network, the CLI and a signed report."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RepoFactory, check, write_spec

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env", "browser_image")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "static-site"
EXAMPLE_SPEC = EXAMPLE.parent / "specs" / "static-site" / "acceptance.yaml"


def example_files(changes: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """The example site's files, each change replacing one string in one file."""
    files = {
        str(path.relative_to(EXAMPLE)): path.read_text(encoding="utf-8")
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    for name, (old, new) in (changes or {}).items():
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new)
    return files


def accessibility_of(statement: dict[str, Any]) -> dict[str, Any]:
    checks = statement["predicate"]["checks"]
    assert checks[-1]["id"] == "accessibility"
    return dict(checks[-1])


def test_an_image_without_alt_and_an_unlabelled_input_are_rejected_then_accepted_fixed(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    spec = spec_dir / "acceptance.yaml"
    shutil.copy(EXAMPLE_SPEC, spec)
    artifacts = tmp_path / "artifacts"

    broken = example_files({
        "index.html": (' alt="Map of the town\'s three parks"', ""),
        "contact.html": ('<label for="email">Your email address</label>', ""),
    })  # fmt: skip
    code, statement = check(
        str(make_repo(broken)), spec, "--artifacts", str(artifacts), capsys=capsys
    )
    result = accessibility_of(statement)
    assert code == 1, statement["predicate"]["reasons"]
    assert statement["predicate"]["verdict"] == "rejected"
    assert result["status"] == "failed", result["summary"]
    assert result["reason_code"] == "ACCESSIBILITY_VIOLATIONS"
    assert "ACCESSIBILITY_VIOLATIONS" in statement["predicate"]["reason_codes"]
    assert result["blocking_rules"] == ["image-alt", "label"]
    assert "image-alt" in result["summary"] and "label" in result["summary"]
    pages = {page["page"]: page for page in result["pages"]}
    image_alt = next(v for v in pages["index.html"]["violations"] if v["rule"] == "image-alt")
    assert image_alt["impact"] == "critical" and "wcag2a" in image_alt["tags"]
    assert image_alt["nodes"][0]["html"].startswith("<img")
    assert image_alt["help_url"].startswith("https://dequeuniversity.com/rules/axe/4.14/image-alt")
    label = next(v for v in pages["contact.html"]["violations"] if v["rule"] == "label")
    assert label["nodes"][0]["target"] == "#email"
    assert pages["index.html"]["passes"] > 0
    assert result["axe_version"] == "4.14.1"
    # A screenshot per page, a real PNG, counted in the signed artifacts.
    for number in (0, 1):
        name = f"accessibility-page-{number}.png"
        assert (artifacts / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert name in statement["predicate"]["artifacts"]

    code, statement = check(str(make_repo(example_files())), spec, capsys=capsys)
    result = accessibility_of(statement)
    assert code == 0, statement["predicate"]["reasons"]
    assert statement["predicate"]["verdict"] == "accepted"
    assert result["status"] == "passed", result["summary"]
    assert result["counts"]["serious"] == 0 and result["counts"]["critical"] == 0


def test_a_listed_page_the_delivery_lacks_is_a_failure(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = example_files()
    del files["contact.html"]
    spec = write_spec(
        tmp_path / "spec",
        "functional: {paths: [tests]}\nsecurity: false\nlicence: false\n"
        "accessibility: {pages: [index.html, contact.html]}\n",
    )
    code, statement = check(str(make_repo(files)), spec, capsys=capsys)
    result = accessibility_of(statement)
    assert code == 1
    assert result["status"] == "failed"
    assert result["reason_code"] == "ACCESSIBILITY_PAGE_MISSING"
    assert "contact.html (no such file in the delivery)" in result["summary"]


# ---------------------------------------------------------------- hostile pages, the check alone


def _site(tmp_path: Path, html: str) -> Path:
    """A one-page site the sandbox user can read (pytest's tmp_path is the host user's only)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(html)
    for path in (tmp_path, site):
        path.chmod(0o755)
    (site / "index.html").chmod(0o644)
    return site


def _options(*pages: str) -> Any:
    from acceptance.engine.spec import AccessibilitySpec

    return AccessibilitySpec(enabled=True, pages=pages)


def test_a_page_that_hangs_the_browser_fails_the_check_not_the_platform(
    tmp_path: Path, browser_image: str
) -> None:
    from checks.accessibility import DockerBrowserRunner, evaluate

    site = _site(
        tmp_path,
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        "<h1>Hi</h1><script>setTimeout(() => { for (;;) {} }, 0)</script></main></body></html>",
    )
    runner = DockerBrowserRunner(browser_image, startup_seconds=5, seconds_per_page=10)
    result = evaluate(site, _options("index.html"), runner).result
    assert result.status.value == "failed", result.summary
    assert result.reason_code == "ACCESSIBILITY_PAGE_UNLOADABLE"
    assert "past its time" in result.summary


def test_a_page_that_fakes_axe_cannot_pass(tmp_path: Path, browser_image: str) -> None:
    from checks.accessibility import DockerBrowserRunner, evaluate

    # The page claims a clean result through a window.axe it locks, and breaks the
    # built-ins axe uses: axe runs in an isolated world, so it still sees the bare image.
    site = _site(
        tmp_path,
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        '<h1>Hi</h1><img src="a.png"><script>'
        "Object.defineProperty(window, 'axe', {configurable: false, get() { return {"
        " version: '4.14.1', run: async () => ({violations: [], passes: [],"
        " incomplete: [], inapplicable: []}) }; }, set() {} });"
        "Element.prototype.getAttribute = () => 'fine'; Array.prototype.map = () => [];"
        "</script></main></body></html>",
    )
    result = evaluate(site, _options("index.html"), DockerBrowserRunner(browser_image)).result
    assert result.status.value == "failed", result.summary
    assert result.reason_code == "ACCESSIBILITY_VIOLATIONS"
    assert result.details["blocking_rules"] == ["image-alt"]


def test_a_page_that_moves_to_a_clean_file_is_never_judged_clean(
    tmp_path: Path, browser_image: str
) -> None:
    from checks.accessibility import DockerBrowserRunner, evaluate

    # The listed page has an image without alt; its script opens a clean file of the
    # checkout (file:// is routed) before or while axe runs.
    site = _site(
        tmp_path,
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        '<h1>Hi</h1><img src="a.png"><script>setTimeout(() => '
        "{ location.href = 'clean.html'; }, 0)</script></main></body></html>",
    )
    (site / "clean.html").write_text(
        '<!doctype html><html lang="en"><head><title>c</title></head><body><main>'
        "<h1>Clean</h1></main></body></html>"
    )
    (site / "clean.html").chmod(0o644)
    result = evaluate(site, _options("index.html"), DockerBrowserRunner(browser_image)).result
    assert result.status.value == "failed", result.summary
    assert result.reason_code in {"ACCESSIBILITY_VIOLATIONS", "ACCESSIBILITY_PAGE_UNLOADABLE"}


def test_a_page_name_with_spaces_and_a_hash_sign_still_loads(
    tmp_path: Path, browser_image: str
) -> None:
    from checks.accessibility import DockerBrowserRunner, evaluate

    site = _site(tmp_path, "<html></html>")
    name = "a b#c é.html"
    (site / name).write_text(
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        '<h1>Hi</h1><img src="a.png"></main></body></html>'
    )
    (site / name).chmod(0o644)
    result = evaluate(site, _options(name), DockerBrowserRunner(browser_image)).result
    assert result.reason_code == "ACCESSIBILITY_VIOLATIONS", result.summary


def test_content_a_static_page_adds_after_its_load_is_judged_with_what_it_removed(
    tmp_path: Path, browser_image: str
) -> None:
    from checks.accessibility import DockerBrowserRunner, evaluate

    # As served pages (tests/hostile/test_redteam_2026_12_06_serve.py): an input without a
    # label shown only at the load, an image without alt added 3 s after it; both runs
    # of axe are judged together, so both are found. A settle time of 6 s keeps the second
    # run well after the change and the first well before it, on a loaded machine too.
    site = _site(
        tmp_path,
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        '<h1>Hi</h1><input id="early"><div id="late"></div><script>setTimeout(() => {'
        " document.getElementById('early').remove();"
        " document.getElementById('late').innerHTML = '<img src=\"a.png\">'; }, 3000)"
        "</script></main></body></html>",
    )
    runner = DockerBrowserRunner(browser_image, settle_seconds=6.0)
    result = evaluate(site, _options("index.html"), runner).result
    assert result.reason_code == "ACCESSIBILITY_VIOLATIONS", result.summary
    assert result.details["blocking_rules"] == ["image-alt", "label"]
