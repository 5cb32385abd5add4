"""The report page's decision panel in Chromium: the form, the decisions on the run (one of
them superseded, one an override) and a refused decision, with axe-core in English and French."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dashboard_support import OWNER, REVIEWER
from tests.service.test_certificates import OVERRIDE_REASON, _decide
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in

pytestmark = pytest.mark.browser

# The browser suite's fixtures, used by name below.


@pytest.fixture(scope="module")
def decided(live: Live) -> str:
    """The rejected run with two decisions on it: changes asked for, then an override."""
    run = live.service.ids.rejected
    _decide(live.service, run, "changes_requested", "The contact form must refuse blank emails.")
    _decide(live.service, run, "accepted", OVERRIDE_REASON)
    return run


def serious_violations(page: Any, axe_source: str) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in run_axe(page, axe_source)
        if v["impact"] in FAILING_IMPACTS
    ]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_decision_panel_has_no_serious_axe_violation(
    page: Any, live: Live, axe_source: str, decided: str, lang: str
) -> None:
    if lang == "fr":
        page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    failures: dict[str, list[str]] = {}

    def check(name: str) -> None:
        assert page.evaluate("document.documentElement.lang") == lang, name
        if found := serious_violations(page, axe_source):
            failures[name] = found

    sign_in(page, OWNER)
    page.goto(f"/runs/{decided}")
    assert page.locator("ul.decisions > li").count() == 2
    assert page.locator("ul.decisions .override").count() == 1
    assert page.locator("#decision form").is_visible()
    check("decisions and the form")
    # A decision the service refuses comes back as a message on the same page.
    page.locator("#decision input[value=rejected]").check()
    page.locator("#decision form button[type=submit]").click()
    page.wait_for_url(f"**/runs/{decided}#decision")
    assert page.locator("ul.decisions > li").count() == 2  # nothing recorded
    refusal = page.get_by_role("alert")
    assert refusal.inner_text() == (
        "Give a reason for this decision."
        if lang == "en"
        else "Indiquez le motif de cette décision."
    )
    check("refused decision")
    page.goto(f"/runs/{live.service.ids.accepted}")
    check("a run before the accepted delivery")
    assert failures == {}, json.dumps(failures, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_reviewers_read_the_decisions_without_a_form(
    page: Any, live: Live, axe_source: str, decided: str, lang: str
) -> None:
    if lang == "fr":
        page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    sign_in(page, REVIEWER)
    page.goto(f"/runs/{decided}")
    assert page.locator("ul.decisions > li").count() == 2
    assert page.locator("#decision form").count() == 0
    assert serious_violations(page, axe_source) == []
