"""The acceptance certificate in Chromium: axe-core in English and French, and the browser's
own print on A4 and Letter paper gives one page (the @media print styles)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pypdf import PdfReader

from tests.dashboard_support import OWNER, PASSWORD
from tests.service.test_certificates import FINANCE, OVERRIDE_REASON, _decide, _finance
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in

pytestmark = pytest.mark.browser

# The browser suite's fixtures, used by name below.


@pytest.fixture(scope="module")
def certificate(live: Live) -> str:
    """An override (the longest certificate: its banner and reason) on the seeded service."""
    _finance(live.service)
    return _decide(live.service, live.service.ids.rejected, "accepted", OVERRIDE_REASON * 6)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_certificate_pages_have_no_serious_axe_violation(
    page: Any, live: Live, axe_source: str, certificate: str, lang: str
) -> None:
    if lang == "fr":
        page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    # A finance officer lands on the certificates (sign_in() expects the runs).
    page.goto("/certificates")
    page.locator("#email").fill(FINANCE)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/certificates")
    failures: dict[str, list[str]] = {}
    for url in ("/certificates", f"/certificates/{certificate}"):
        page.goto(url)
        assert page.evaluate("document.documentElement.lang") == lang
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in run_axe(page, axe_source)
            if v["impact"] in FAILING_IMPACTS
        ]
        if serious:
            failures[url] = serious
    assert failures == {}, json.dumps(failures, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_the_browser_prints_the_certificate_on_one_page(
    page: Any, live: Live, certificate: str, paper: str
) -> None:
    sign_in(page, OWNER)
    page.goto(f"/certificates/{certificate}")
    page.emulate_media(media="print")
    assert not page.locator(".site-header").is_visible()  # the print styles apply
    printed = PdfReader(io.BytesIO(page.pdf(format=paper, prefer_css_page_size=False)))
    assert len(printed.pages) == 1
