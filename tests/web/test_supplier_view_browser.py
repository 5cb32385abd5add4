"""The supplier's report page with each `hidden_feedback` setting, checked by axe-core in Chromium.

The names and messages of failing hidden tests reach the supplier's page only
when the owner allows them (tests/test_supplier_view.py); here the page that
shows them must be as accessible as the rest, in English and French.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe
from tests.web.test_supplier_view import CANARY, REJECTS, feedback_statement, store_run

pytestmark = pytest.mark.browser

# The browser suite's fixtures, used by name below.


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("level", ["none", "names", "messages"])
def test_the_supplier_page_with_hidden_feedback_has_no_serious_axe_violation(
    page: Any, live: Live, axe_source: str, lang: str, level: str
) -> None:
    service = live.service
    run_id = store_run(service, feedback_statement(level))
    if lang == "fr":
        page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    page.goto(f"/status/{service.ids.status_token}/runs/{run_id}")
    assert page.evaluate("document.documentElement.lang") == lang
    text = page.locator("main").inner_text()
    assert (REJECTS in text) is (level != "none")
    # The canary is in the messages: only `messages` shows them.
    assert (CANARY in text) is (level == "messages")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in run_axe(page, axe_source)
        if v["impact"] in FAILING_IMPACTS
    ]
    assert serious == [], json.dumps(serious, indent=2, ensure_ascii=False)
