"""The run page's commit-status section in Chromium: the forge, the status to show and every request
with the forge's answer, in English and French, with no serious or critical axe-core violation."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from acceptance.service.forge.credentials import ForgeCredentials, store_forge
from acceptance.service.forge.interface import ForgeKind
from acceptance.service.models import ForgeAttempt, ForgeStatus, Submission, utcnow
from acceptance.service.secretbox import SecretBox
from tests.dashboard_support import OWNER
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in

pytestmark = pytest.mark.browser

ERROR = "GitHub answered 500: the forge is down"
TOKEN = "forge-token-never-shown"


@pytest.fixture(scope="module")
def with_forge(live: Live) -> str:
    """The seeded submission sends statuses to GitHub; its rejected run's status took three tries."""
    service = live.service
    run_id = service.ids.rejected
    with service.db.session() as session:
        submission = session.get(Submission, service.ids.submission)
        assert submission is not None
        credentials = ForgeCredentials(
            ForgeKind.GITHUB, "https://api.github.com", "example/contact-form", TOKEN
        )
        store_forge(submission, credentials, SecretBox(service.settings.secrets_key))
        start = utcnow() - dt.timedelta(minutes=5)
        session.add_all([
            ForgeAttempt(run_id=run_id, forge="github", state="pending", http_status=500, ok=False,
                         error=ERROR, at=start),
            ForgeAttempt(run_id=run_id, forge="github", state="failure", http_status=None, ok=False,
                         error="GitHub could not be reached: ReadTimeout", at=start + dt.timedelta(minutes=1)),
            ForgeAttempt(run_id=run_id, forge="github", state="failure", http_status=201, ok=True,
                         at=start + dt.timedelta(minutes=2)),
            ForgeStatus(run_id=run_id, wanted="failure", delivered="failure", state="delivered", attempts=2,
                        delivered_at=start + dt.timedelta(minutes=2)),
        ])  # fmt: skip
    return run_id


WORDS = {
    "en": ["Commit status on the forge", "GitHub", "example/contact-form", "failure (rejected)",
           "taken by the forge", "refused (HTTP 500)", "no answer", "taken (HTTP 201)"],
    "fr": ["Statut du commit sur la forge", "GitHub", "example/contact-form", "échec (refusée)",
           "pris en compte par la forge", "refusé (HTTP 500)", "pas de réponse", "pris en compte (HTTP 201)"],
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_run_page_shows_the_forge_attempts_without_serious_axe_violations(
    page: Any, live: Live, axe_source: str, with_forge: str, lang: str
) -> None:
    if lang == "fr":
        page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    sign_in(page, OWNER)
    page.goto(f"/runs/{with_forge}")
    assert page.evaluate("document.documentElement.lang") == lang
    section = page.locator("#forge-heading").evaluate(
        "h => { let t = h.textContent; for (let e = h.nextElementSibling; e && e.tagName !== 'H2';"
        " e = e.nextElementSibling) t += ' ' + e.innerText; return t; }"
    )
    for word in WORDS[lang]:
        assert word in section, (word, section)
    assert ERROR in section and TOKEN not in page.content()
    if lang == "fr":
        for word in WORDS["en"][:1] + WORDS["en"][3:]:
            assert word not in section, word
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in run_axe(page, axe_source)
        if v["impact"] in FAILING_IMPACTS
    ]
    assert serious == [], json.dumps(serious, indent=2, ensure_ascii=False)
