"""The admins' pages in Chromium: axe-core finds no serious violation on the audit trail and
the emails page, with rows, with refused filters and empty, in English and French."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acceptance.service.models import Message, utcnow
from tests.dashboard_support import ADMIN, OTHER, OWNER
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in

pytestmark = pytest.mark.browser

# The browser suite's fixtures, used by name below.


@pytest.fixture(scope="module")
def emails(live: Live) -> None:
    """A delivered email and one given up on, with supplier text in its subject."""
    service = live.service
    with service.db.session() as db:
        for state, attempts, error in (("sent", 1, None), ("failed", 5, "550 mailbox unavailable")):
            db.add(
                Message(
                    event="run_finished",
                    audience="supplier",
                    recipient="bids@supplier.example",
                    language="fr",
                    subject="Supplier <b>Ltd</b>: run finished",
                    body_text="-",
                    body_html="-",
                    submission_id=service.ids.submission,
                    run_id=service.ids.accepted,
                    state=state,
                    attempts=attempts,
                    last_error=error,
                    sent_at=utcnow() if state == "sent" else None,
                )  # fmt: skip
            )


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_admin_pages_have_no_serious_axe_violation(
    page: Any, live: Live, axe_source: str, emails: None, lang: str
) -> None:
    if lang == "fr":
        page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    sign_in(page, ADMIN)
    failures: dict[str, list[str]] = {}
    for url in (
        "/audit",
        "/audit?action=spec.published",
        "/audit?action=spec.deleted&since=yesterday",  # refused filters: the error summary
        "/audit?since=2999-01-01",  # nothing matches
        "/messages",
        "/messages?state=lost",
        "/messages?state=retrying",
    ):
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
    # reached from the navigation, as an admin finds them
    page.goto("/runs")
    page.locator("nav.site-nav a[href='/audit']").click()
    page.wait_for_url("**/audit")
    assert page.locator("h1").inner_text() == ("Audit trail" if lang == "en" else "Journal d’audit")
    page.locator("nav.site-nav a[href='/messages']").click()
    page.wait_for_url("**/messages")
    assert page.locator("table tbody tr").count() == 2


def test_closing_an_opportunity_in_chromium_is_axe_clean(
    page: Any, live: Live, axe_source: str
) -> None:
    """The close form and the closed page, in English then French (each closes its own)."""
    ids = live.service.ids
    failures: dict[str, list[str]] = {}
    for lang, who, opportunity in (
        ("en", OTHER, ids.other_opportunity),
        ("fr", OWNER, ids.opportunity),
    ):
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "acceptance_lang", "value": lang, "url": live.base}])
        sign_in(page, who)
        page.goto(f"/opportunities/{opportunity}")
        for state in ("open", "closed"):
            serious = [
                f"{v['id']} ({v['impact']}): {v['help']} at "
                + ", ".join(str(n["target"]) for n in v["nodes"][:3])
                for v in run_axe(page, axe_source)
                if v["impact"] in FAILING_IMPACTS
            ]
            if serious:
                failures[f"{lang} {state}"] = serious
            if state == "open":
                page.locator("section.close-opportunity button[type=submit]").click()
                page.wait_for_url(f"**/opportunities/{opportunity}")
        assert page.locator("section.close-opportunity").count() == 0
        assert page.locator(".notice[role=status]").count() >= 1
    assert failures == {}, json.dumps(failures, indent=2, ensure_ascii=False)
