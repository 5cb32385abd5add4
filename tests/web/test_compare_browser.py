"""The comparison page in Chromium: reached from the report page's link, and axe-core finds no
serious or critical violation on it (as the owner and as a reviewer) in English and French."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dashboard_support import OWNER, REVIEWER
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in
from tests.web.test_compare_dashboard import add_compared_runs

pytestmark = pytest.mark.browser

# The browser suite's fixtures, used by name below.


@pytest.fixture(scope="module")
def compared(live: Live) -> tuple[str, str]:
    """Two more runs of the seeded submission whose reports differ in every part."""
    return add_compared_runs(live.service)


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("who", [OWNER, REVIEWER])
def test_the_comparison_page_has_no_serious_axe_violation(
    page: Any, live: Live, axe_source: str, compared: tuple[str, str], lang: str, who: str
) -> None:
    earlier, later = compared
    if lang == "fr":
        page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    sign_in(page, who)
    page.goto(f"/runs/{later}")
    link = page.locator(f"a[href='/runs/{later}/compare/{earlier}']")
    link.click()
    page.wait_for_url(f"**/runs/{later}/compare/{earlier}")
    assert page.evaluate("document.documentElement.lang") == lang
    assert page.locator("table").count() >= 4  # findings and vulnerabilities, new and fixed
    failures: dict[str, list[str]] = {}
    for url in (
        f"/runs/{later}/compare/{earlier}",
        f"/runs/{live.service.ids.other_run}/compare/{earlier}",
    ):
        if url != page.url.removeprefix(live.base):
            page.goto(url)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in run_axe(page, axe_source)
            if v["impact"] in FAILING_IMPACTS
        ]
        if serious:
            failures[url] = serious
    assert failures == {}, json.dumps(failures, indent=2, ensure_ascii=False)
