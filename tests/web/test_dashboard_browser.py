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
from pathlib import Path
from typing import Any

import pytest

from acceptance.engine.signing import load_public_key, verify_envelope
from tests.dashboard_support import (
    OTHER,
    OWNER,
    PASSWORD,
    REVIEWER,
    XSS_FINDING,
    XSS_TEST,
)
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in

pytestmark = pytest.mark.browser


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
