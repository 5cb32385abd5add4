"""The event endpoints page in Chromium: reached from the opportunity's page, each endpoint's latest
deliveries with their state and last answer, "Send again" queues one again and re-enables a disabled
endpoint; no serious or critical axe-core violation, in English and French."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from acceptance.service.models import EventDelivery, EventEndpoint, utcnow
from tests.dashboard_support import OWNER
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in
from workers.celery_app import EVENT_TASK

pytestmark = pytest.mark.browser

HOOK = "https://erp.buyer.example/hooks/acceptance"


@pytest.fixture(scope="module")
def endpoint(live: Live) -> tuple[str, str]:
    """A disabled endpoint of the seeded opportunity, one delivery taken and one given up."""
    service = live.service
    with service.db.session() as session:
        made = EventEndpoint(
            opportunity_id=service.ids.opportunity, url=HOOK, events=["run.finished", "decision.recorded"],
            secret_encrypted=b"sealed", created_by=session.scalar(_owner()), disabled_at=utcnow(),
            disabled_reason="no delivery succeeded for a day",
        )  # fmt: skip
        session.add(made)
        session.flush()
        start = utcnow() - dt.timedelta(days=2)
        failed = EventDelivery(endpoint_id=made.id, event="decision.recorded", body="{}", state="failed",
                               attempts=31, last_status=502, last_error="the endpoint answered 502",
                               created_at=start + dt.timedelta(hours=1))  # fmt: skip
        session.add_all([
            EventDelivery(endpoint_id=made.id, event="run.finished", body="{}", state="delivered", attempts=1,
                          last_status=204, created_at=start, delivered_at=start),
            failed,
        ])  # fmt: skip
        session.flush()
        return made.id, failed.id


def _owner() -> Any:
    from sqlalchemy import select

    from acceptance.service.models import User

    return select(User.id).where(User.email == OWNER)


WORDS = {
    "en": ["Event endpoints", HOOK, "Run finished", "Decision recorded", "Delivered", "Given up", "HTTP 502",
           "Disabled", "31 attempts"],
    "fr": ["Points de réception d’événements", HOOK, "Exécution terminée", "Décision enregistrée", "Reçu",
           "Abandonné", "HTTP 502", "Désactivé", "31 tentatives"],
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_endpoints_page_shows_the_delivery_log_without_serious_axe_violations(
    page: Any, live: Live, axe_source: str, endpoint: tuple[str, str], lang: str
) -> None:
    if lang == "fr":
        page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    sign_in(page, OWNER)
    page.goto(f"/opportunities/{live.service.ids.opportunity}")
    page.locator(f"a[href='/opportunities/{live.service.ids.opportunity}/endpoints']").click()
    page.wait_for_url("**/endpoints")
    text = page.locator("main").inner_text()
    for word in WORDS[lang]:
        assert word in text, (word, text)
    if lang == "fr":
        for word in ["Event endpoints", "Given up", "Latest deliveries", "Send again"]:
            assert word not in text, word
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in run_axe(page, axe_source)
        if v["impact"] in FAILING_IMPACTS
    ]
    assert serious == [], json.dumps(serious, indent=2, ensure_ascii=False)


def test_send_again_queues_the_delivery_and_enables_the_endpoint(
    page: Any, live: Live, endpoint: tuple[str, str]
) -> None:
    endpoint_id, failed_id = endpoint
    sign_in(page, OWNER)
    page.goto(f"/opportunities/{live.service.ids.opportunity}/endpoints")
    form = page.locator(f"form[action$='/deliveries/{failed_id}/resend']")
    form.locator("button").click()
    page.wait_for_url("**/endpoints")
    assert "The event will be sent again." in page.locator("body").inner_text()
    assert (EVENT_TASK, [failed_id]) in [(name, args) for name, args, _ in live.service.celery.sent]
    with live.service.db.session() as session:
        found = session.get(EventEndpoint, endpoint_id)
        delivery = session.get(EventDelivery, failed_id)
        assert found is not None and found.disabled_at is None
        assert delivery is not None and (delivery.state, delivery.attempts) == ("queued", 0)
