"""The decision form on a run's report page, in English and French: consequences before the
click, overrides marked, CSRF, roles; the submission state where submissions appear."""

from __future__ import annotations

import re

import pytest

from tests.dashboard_support import OWNER, REVIEWER, Service, client_for, csrf_token, html

OVERRIDE_REASON = "The failing check is a known false positive, see ticket 42."


def _decide(service: Service, run_id: str, lang: str = "en", **form: str) -> tuple[int, str]:
    client = client_for(service, OWNER, lang)
    token = csrf_token(client, f"/runs/{run_id}")
    reply = client.post(f"/runs/{run_id}/decision", data={"csrf_token": token, **form})
    page = html(client, f"/runs/{run_id}")
    return reply.status_code, page


def test_the_owner_accepts_a_run_with_the_consequences_spelled_out_first(service: Service) -> None:
    run = service.ids.accepted
    page = html(client_for(service, OWNER), f"/runs/{run}")
    assert (
        "Record your decision" in page and "Accepting makes this run the accepted delivery" in page
    )
    assert (
        "Asking for changes tells the supplier" in page and "No decision on this run yet." in page
    )
    status, page = _decide(service, run, decision="accepted")
    assert status == 303
    assert (
        "Your decision is recorded and signed." in page
        and "this run is the accepted delivery." in page
    )
    assert re.search(r"<strong>Accepted</strong>\s*— by owner@example.org", page)
    opportunity = html(client_for(service, OWNER), f"/opportunities/{service.ids.opportunity}")
    assert "<td>accepted</td>" in opportunity


def test_an_override_is_refused_without_a_long_reason_and_marked_once_made_in_french(
    service: Service,
) -> None:
    run = service.ids.rejected
    page = html(client_for(service, OWNER, "fr"), f"/runs/{run}")
    assert "Accepter passe outre les contrôles" in page and "Enregistrer la décision" in page
    status, page = _decide(service, run, "fr", decision="accepted", reason="trop court")
    assert status == 303 and "expliquez pourquoi en au moins 20 caractères" in page
    assert "Aucune décision sur cette exécution pour l’instant." in page
    status, page = _decide(service, run, "fr", decision="accepted", reason=OVERRIDE_REASON)
    assert "Votre décision est enregistrée et signée." in page
    assert "(passe outre le verdict des contrôles)" in page and OVERRIDE_REASON in page


def test_a_reason_is_required_to_ask_for_changes(service: Service) -> None:
    status, page = _decide(service, service.ids.rejected, decision="changes_requested", reason=" ")
    assert status == 303 and "Give a reason for this decision." in page
    status, page = _decide(
        service, service.ids.rejected, decision="changes_requested", reason="Two tests fail."
    )
    assert "Changes requested" in page and "Two tests fail." in page


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_reviewers_see_decisions_but_no_form_and_cannot_post(service: Service, lang: str) -> None:
    client = client_for(service, REVIEWER, lang)
    page = html(client, f"/runs/{service.ids.accepted}")
    assert 'action="/runs/' + service.ids.accepted + '/decision"' not in page
    token = csrf_token(client, "/runs")
    reply = client.post(
        f"/runs/{service.ids.accepted}/decision", data={"csrf_token": token, "decision": "accepted"}
    )
    assert reply.status_code == 403


def test_the_form_needs_its_csrf_token(service: Service) -> None:
    client = client_for(service, OWNER)
    reply = client.post(f"/runs/{service.ids.accepted}/decision", data={"decision": "accepted"})
    assert reply.status_code == 400
    assert "No decision on this run yet." in html(client, f"/runs/{service.ids.accepted}")


def test_no_form_on_a_run_that_has_not_finished(service: Service) -> None:
    page = html(client_for(service, OWNER), f"/runs/{service.ids.running}")
    assert "Record your decision" not in page
    status, page = _decide(service, service.ids.running, decision="accepted")
    assert "This run has not finished with a signed report" in page
