"""The dashboard in a real headless Chromium: sign in, filter, open and download a report,
live updates, keyboard use, and axe-core on every page in both languages.

Needs Debian's `chromium` (or ACCEPTANCE_TEST_CHROMIUM), the `playwright` package and
axe-core installed with `npm ci --prefix tests/browser` (or ACCEPTANCE_TEST_AXE naming
axe.min.js). In CI (CI=true) anything missing is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from acceptance.engine.signing import load_public_key, verify_envelope
from tests.conftest import ROOT, unavailable
from tests.dashboard_support import (
    OTHER,
    OWNER,
    PASSWORD,
    REVIEWER,
    XSS_FINDING,
    XSS_TEST,
    Service,
)

pytestmark = pytest.mark.browser

CHROMIUM = (
    os.environ.get("ACCEPTANCE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
AXE = Path(
    os.environ.get("ACCEPTANCE_TEST_AXE")
    or ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: axe-core impacts that fail the suite (WCAG 2.1 AA: zero serious or critical)
FAILING_IMPACTS = tuple(
    os.environ.get("ACCEPTANCE_TEST_AXE_IMPACTS", "serious,critical").split(",")
)


@dataclass
class Live:
    """The seeded service served on loopback, and what the pages did that they must not."""

    service: Service
    base: str
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    service = Service(tmp_path_factory.mktemp("browser") / "data")
    server = make_server("127.0.0.1", 0, service.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(service, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        unavailable(f"axe-core is not at {AXE}: run `npm ci --prefix tests/browser`")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
        raise
    if not Path(CHROMIUM).is_file():
        unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        # Playwright starts each browser with a fresh temporary profile (user-data-dir).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any, live: Live, tmp_path: Path) -> Iterator[Any]:
    context = chromium.new_context(accept_downloads=True, base_url=live.base, locale="en-CA")
    context.set_default_timeout(15_000)
    opened = context.new_page()
    live.dialogs.clear()
    live.problems.clear()
    # Supplier payloads must never run: any dialog (alert) or script error is recorded,
    # and so is anything the CSP blocked or a stylesheet or script that failed to load.
    opened.on("dialog", lambda dialog: (live.dialogs.append(dialog.message), dialog.dismiss()))
    opened.on("pageerror", lambda error: live.problems.append(f"page error: {error}"))
    opened.on("console", lambda message: _console(live, message))
    opened.on("response", lambda response: _response(live, response))
    try:
        yield opened
    finally:
        context.close()
    assert live.dialogs == [], f"supplier text ran as script: {live.dialogs}"
    assert live.problems == [], live.problems


def _console(live: Live, message: Any) -> None:
    # A page answered 404 or 422 on purpose logs "Failed to load resource": not a problem.
    if message.type == "error" and "Failed to load resource" not in message.text:
        live.problems.append(f"console error on {message.location.get('url')}: {message.text}")


def _response(live: Live, response: Any) -> None:
    if response.request.resource_type != "document" and response.status >= 400:
        live.problems.append(f"{response.status} for {response.url}")


def sign_in(page: Any, email: str, start: str = "/runs") -> None:
    """Sign in through the form, in whichever language the page is in."""
    page.goto(start)
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/(runs|opportunities)"))


def run_axe(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (every rule axe runs by default)."""
    # Open collapsed parts (logs) so their content is checked too.
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)  # evaluated by the browser, not injected as an inline <script>
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


def test_a_reviewer_signs_in_filters_opens_a_report_and_downloads_it(
    page: Any, live: Live, tmp_path: Path
) -> None:
    from acceptance.cli import main as cli

    ids = live.service.ids
    page.goto("/runs")
    page.get_by_label("Email address").fill(REVIEWER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/runs")
    assert page.locator("h1").inner_text() == "Runs"
    assert page.locator("tbody tr").count() == 6

    page.get_by_label("Verdict").select_option("rejected")
    page.get_by_label("Supplier").select_option(
        label="Supplier <script>alert('supplier')</script> Ltd"
    )
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*verdict=rejected.*"))
    assert page.locator("tbody tr").count() == 1
    assert page.get_by_text("1 run found").is_visible()
    # The supplier's commit message shows as text, markup and escapes included or removed.
    assert (
        page.locator("tbody")
        .get_by_text("<script>alert('commit')</script> Fix the form")
        .is_visible()
    )

    page.locator("tbody tr").first.get_by_role("link").first.click()
    page.wait_for_url(f"**/runs/{ids.rejected}")
    assert "Rejected" in page.locator(".verdict").inner_text()
    assert page.get_by_text(XSS_TEST.split("::")[1]).is_visible()
    assert page.get_by_text(
        "AssertionError: <script>alert('message')</script> expected 200"
    ).is_visible()
    assert page.get_by_text(XSS_FINDING).is_visible()
    assert page.get_by_text("The signature is valid").is_visible()
    assert (
        page.locator("pre.commit-message").inner_text()
        == "<script>alert('commit')</script> Fix the form"
    )

    with page.expect_download() as report_download:
        page.get_by_role("link", name="Download the signed report").click()
    with page.expect_download() as key_download:
        page.get_by_role("link", name="Download the public key").click()
    report = tmp_path / report_download.value.suggested_filename
    key = tmp_path / key_download.value.suggested_filename
    report_download.value.save_as(report)
    key_download.value.save_as(key)
    assert report.name == f"report-{ids.rejected}.dsse.json" and key.suffix == ".pub"
    verify_envelope(json.loads(report.read_text()), [load_public_key(key)])
    # The command the page shows, exactly, run in the downloads' folder.
    command = page.locator("#verify-command").inner_text().split()
    assert command[:2] == ["acceptance", "verify"] and command[2] == report.name
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert cli(command[1:]) == 0
    finally:
        os.chdir(cwd)


def test_running_runs_update_without_a_reload(page: Any, live: Live) -> None:
    sign_in(page, OWNER)
    row = page.locator(f"tr[data-run-id='{live.service.ids.running}']")
    assert "Running: running the tests" in row.inner_text()
    page.evaluate("window.notReloaded = true")
    live.service.finish_running()
    page.wait_for_function(
        "id => !document.querySelector(`tr[data-run-id='${id}']`)",
        arg=live.service.ids.running,
        timeout=20_000,
    )
    assert page.evaluate("window.notReloaded") is True
    badge = page.locator(f"tr:has(a[href='/runs/{live.service.ids.running}']) .badge")
    assert badge.inner_text() == "✓ Accepted"
    assert badge.get_attribute("class") == "badge badge--accepted"
    # Screen readers hear the change through the polite live region.
    # (A function, not an expression string: the pages' CSP forbids eval, even for the test.)
    page.wait_for_function(
        "() => document.getElementById('live-announcer').textContent === 'Accepted'"
    )


def test_keyboard_users_can_skip_to_the_content_and_see_focus(page: Any, live: Live) -> None:
    page.goto("/sign-in")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert skip.bounding_box()["y"] >= 0  # shown when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the first control after the skip target
    focused = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.id, s.outlineStyle, s.outlineWidth]; }"
    )
    assert focused[0] == "email" and focused[1] != "none" and focused[2] != "0px"
    # The whole form works from the keyboard.
    page.keyboard.type(REVIEWER)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/runs")


def test_an_owner_cannot_open_another_owners_opportunity(page: Any, live: Live) -> None:
    sign_in(page, OTHER)
    assert "Contact form" not in page.locator("main").inner_text()
    reply = page.goto(f"/opportunities/{live.service.ids.opportunity}")
    assert reply.status == 404
    assert page.locator("h1").inner_text() == "Page not found"


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_axe_finds_no_serious_or_critical_violation_on_any_page(
    page: Any, live: Live, axe_source: str, lang: str
) -> None:
    ids = live.service.ids
    failures: dict[str, list[str]] = {}

    def check(name: str) -> None:
        assert page.evaluate("document.documentElement.lang") == lang, name
        found = run_axe(page, axe_source)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in found
            if v["impact"] in FAILING_IMPACTS
        ]
        if serious:
            failures[name] = serious

    page.goto("/sign-in")
    if lang == "fr":
        page.get_by_role("link", name="Français").click()  # the toggle, remembered from now on
        page.wait_for_url("**/sign-in")
    check("sign in")
    page.get_by_role("button").filter(has_text=re.compile("Sign in|Se connecter")).click()
    check("sign in with errors")
    sign_in(page, OWNER)
    check("runs")
    page.goto("/runs?from=yesterday")
    check("runs with a bad filter")
    for name, url in [
        ("rejected report", f"/runs/{ids.rejected}"),
        ("accepted report", f"/runs/{ids.accepted}"),
        ("running run", f"/runs/{ids.queued}"),
        ("failed run", f"/runs/{ids.errored}"),
        ("opportunities", "/opportunities"),
        ("opportunity", f"/opportunities/{ids.opportunity}"),
        ("spec version", f"/opportunities/{ids.opportunity}/specs/2"),
        ("first spec version", f"/opportunities/{ids.opportunity}/specs/1"),
        ("new opportunity", "/opportunities/new"),
        ("not found", "/runs/nope"),
        ("status page", f"/status/{ids.status_token}"),
        ("status report", f"/status/{ids.status_token}/runs/{ids.rejected}"),
    ]:
        page.goto(url)
        check(name)
    page.goto(f"/opportunities/{ids.opportunity}/specs/new")
    page.locator("form.form button[type=submit]").click()
    assert page.locator(".error-summary").is_visible()
    # The script moves focus to the summary, so keyboard and screen-reader users land on it.
    page.wait_for_function("() => document.activeElement.classList.contains('error-summary')")
    check("spec form with errors")
    page.goto(f"/opportunities/{ids.opportunity}/submissions/new")
    check("submission form")
    page.locator("#supplier").fill(f"Browser supplier {lang}")
    page.locator("#repo_url").fill("ftp://example.invalid/repo")
    page.locator("form.form button[type=submit]").click()
    check("submission form with errors")
    page.locator("#repo_url").fill("https://github.com/example/browser-" + lang)
    page.locator("form.form button[type=submit]").click()
    page.wait_for_selector("#webhook-secret")
    assert page.locator("button[data-copy='webhook-secret']").is_visible()
    check("submission registered")
    assert failures == {}, json.dumps(failures, indent=2, ensure_ascii=False)


def test_copy_buttons_copy_and_announce(page: Any, live: Live, chromium: Any) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.base)
    sign_in(page, OWNER)
    page.goto(f"/opportunities/{live.service.ids.opportunity}/submissions/new")
    page.locator("#supplier").fill("Clipboard Ltd")
    page.locator("#repo_url").fill("https://github.com/example/clipboard")
    page.locator("form.form button[type=submit]").click()
    secret = page.locator("#webhook-secret").inner_text()
    page.get_by_role("button", name="Copy the webhook secret").click()
    page.wait_for_function("() => document.getElementById('live-announcer').textContent.length > 0")
    assert page.evaluate("navigator.clipboard.readText()") == secret
