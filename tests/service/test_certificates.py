"""Acceptance certificates (issue 13, the payment hand-off): the page (English and French side
by side, print styles), the PDF from the dashboard and the API, 404 for anything but an
acceptance in force, and the finance role that sees certificates and nothing else."""

from __future__ import annotations

import hashlib
import io
import re
from html import unescape

import pytest
from pypdf import PdfReader

from acceptance.service.accounts import create_token, create_user, user_by_email
from acceptance.service.decisions import record_decision
from acceptance.service.models import Decision, Run
from tests.dashboard_support import (
    COMMIT,
    OTHER,
    OWNER,
    PASSWORD,
    REVIEWER,
    Service,
    client_for,
    html,
)

FINANCE = "finance@example.org"
OVERRIDE_REASON = "The failing check is a known false positive, see ticket 42."


def _decide(service: Service, run_id: str, decision: str, reason: str | None = None) -> str:
    with service.db.session() as db:
        made = record_decision(db, user_by_email(db, OWNER), db.get(Run, run_id), decision, reason)
        decision_id = made.id
    # Signed once committed, as the API and the dashboard do.
    with service.app.test_request_context():
        from web.decisions import sign_decision

        assert sign_decision(decision_id, "http://127.0.0.1") is not None
    return decision_id


def _finance(service: Service) -> None:
    with service.db.session() as db:
        create_user(db, FINANCE, "finance", PASSWORD)


def _token(service: Service, email: str) -> dict[str, str]:
    with service.db.session() as db:
        secret = create_token(db, email)
    return {"Authorization": f"Bearer {secret}"}


def _digests(service: Service, decision_id: str) -> tuple[str, str]:
    with service.db.session() as db:
        decision = db.get(Decision, decision_id)
        assert decision is not None and decision.envelope_sha256 is not None
        return decision.report_sha256, decision.envelope_sha256


def _pdf_text(data: bytes) -> tuple[int, str]:
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # Long digests may wrap: compare without any white space.
    return len(reader.pages), re.sub(r"\s+", "", text)


# ---------------------------------------------------------------- the certificate


def test_the_pdf_is_one_page_stating_the_commit_and_both_digests(service: Service) -> None:
    decision_id = _decide(service, service.ids.accepted, "accepted")
    report_sha, decision_sha = _digests(service, decision_id)
    reply = client_for(service, OWNER).get(f"/certificates/{decision_id}.pdf")
    assert reply.status_code == 200 and reply.mimetype == "application/pdf"
    assert reply.headers["Content-Disposition"].startswith("attachment;")
    pages, text = _pdf_text(reply.data)
    assert pages == 1
    assert COMMIT in text and report_sha in text and decision_sha in text
    assert "Certificatderéception" in text and "Acceptancecertificate" in text
    assert f"acceptanceverifydecision-{decision_id}.dsse.json--with-reportreport-" in text
    # The report digest is the sha256 of the envelope the API serves.
    served = client_for(service, OWNER).get(f"/runs/{service.ids.accepted}/report.dsse.json").data
    assert hashlib.sha256(served).hexdigest() == report_sha


def test_the_page_is_bilingual_side_by_side_and_prints_from_static_css(service: Service) -> None:
    decision_id = _decide(service, service.ids.accepted, "accepted")
    page = html(client_for(service, OWNER, "fr"), f"/certificates/{decision_id}")
    assert '<section class="certificate__column" lang="en"' in page
    assert '<section class="certificate__column" lang="fr"' in page
    assert "Functional tests: Passed" in page and "Tests fonctionnels\u00a0: Réussi" in page
    assert "<style" not in page and 'href="/ui/static/certificate.css"' in page
    css = service.app.test_client().get("/ui/static/certificate.css").get_data(as_text=True)
    assert "@media print" in css and "@page" in css
    assert "Supplier &lt;script&gt;" in page  # supplier text stays text


def test_an_override_is_marked_on_the_certificate(service: Service) -> None:
    # The longest reason a certificate repeats (it is cut at 400 characters): still one page.
    decision_id = _decide(service, service.ids.rejected, "accepted", OVERRIDE_REASON * 8)
    page = unescape(html(client_for(service, OWNER), f"/certificates/{decision_id}"))
    assert "Override: accepted although the checks' verdict was “Rejected”." in page
    assert (
        "Dérogation\u00a0: acceptée bien que le verdict des contrôles soit «\u00a0Rejetée\u00a0»."
        in page
    )
    pages, text = _pdf_text(client_for(service, OWNER).get(f"/certificates/{decision_id}.pdf").data)
    assert pages == 1
    assert "Override:acceptedalthough" in text and OVERRIDE_REASON.replace(" ", "") in text


def test_only_an_acceptance_in_force_has_a_certificate(service: Service) -> None:
    asked = _decide(service, service.ids.rejected, "changes_requested", "Two tests fail.")
    accepted = _decide(service, service.ids.accepted, "accepted")
    client = client_for(service, OWNER)
    assert client.get(f"/certificates/{asked}").status_code == 404
    assert client.get(f"/certificates/{accepted}").status_code == 200
    # A later decision on the same run supersedes the acceptance: its certificate is gone.
    _decide(service, service.ids.accepted, "rejected", "Found a licence problem after all.")
    assert client.get(f"/certificates/{accepted}").status_code == 404
    assert client.get(f"/certificates/{accepted}.pdf").status_code == 404
    assert client.get("/certificates/no-such-decision").status_code == 404
    assert "No delivery has been accepted yet." in html(client, "/certificates")


def test_the_api_serves_the_pdf_and_404s_otherwise(service: Service) -> None:
    asked = _decide(service, service.ids.rejected, "changes_requested", "Two tests fail.")
    decision_id = _decide(service, service.ids.accepted, "accepted")
    client = service.app.test_client()
    url = f"/api/v1/decisions/{decision_id}/certificate.pdf"
    assert client.get(url).status_code == 401
    reply = client.get(url, headers=_token(service, REVIEWER))
    assert reply.status_code == 200 and reply.data.startswith(b"%PDF-")
    # Another owner does not see this opportunity: not found, as for the decision itself.
    assert client.get(url, headers=_token(service, OTHER)).status_code == 404
    missing = client.get(
        f"/api/v1/decisions/{asked}/certificate.pdf", headers=_token(service, OWNER)
    )
    assert missing.status_code == 404 and missing.json is not None
    assert missing.json["error"] == "not_found"


def test_the_list_shows_each_accepted_delivery_with_its_links(service: Service) -> None:
    decision_id = _decide(service, service.ids.accepted, "accepted")
    page = html(client_for(service, REVIEWER), "/certificates")
    assert (
        f'href="/certificates/{decision_id}"' in page
        and f'href="/certificates/{decision_id}.pdf"' in page
    )
    assert f'href="/certificates/{decision_id}"' not in html(
        client_for(service, OTHER), "/certificates"
    )
    assert 'href="/certificates"' in html(client_for(service, OWNER), "/runs")  # in the navigation


# ---------------------------------------------------------------- the finance role


def test_finance_users_are_created_from_the_command_line(service: Service) -> None:
    from acceptance.cli import _parser

    args = _parser().parse_args(["users", "create", FINANCE, "--role", "finance"])
    assert args.role == "finance"
    _finance(service)
    with service.db.session() as db:
        assert user_by_email(db, FINANCE).role == "finance"


def test_finance_sees_certificates_and_their_pdfs(service: Service) -> None:
    decision_id = _decide(service, service.ids.accepted, "accepted")
    _finance(service)
    for lang in ("en", "fr"):
        client = client_for(service, FINANCE, lang)
        reply = client.get("/runs")  # the dashboard's first page, after signing in
        assert reply.status_code == 303 and reply.headers["Location"] == "/certificates"
        page = html(client, "/certificates")
        assert f'href="/certificates/{decision_id}.pdf"' in page
        assert 'href="/runs"' not in page and 'href="/opportunities"' not in page
        html(client, f"/certificates/{decision_id}")
        assert client.get(f"/certificates/{decision_id}.pdf").data.startswith(b"%PDF-")
    api = service.app.test_client().get(
        f"/api/v1/decisions/{decision_id}/certificate.pdf", headers=_token(service, FINANCE)
    )
    assert api.status_code == 200 and api.data.startswith(b"%PDF-")


@pytest.mark.parametrize("url", [
    "/opportunities/new", "/runs/{run}", "/runs/{run}/report.dsse.json", "/opportunities",
    "/opportunities/{opportunity}", "/runs/live?id={run}", "/runs.csv",
])  # fmt: skip
def test_finance_sees_nothing_else_in_the_dashboard(service: Service, url: str) -> None:
    _finance(service)
    ids = service.ids
    reply = client_for(service, FINANCE).get(
        url.format(run=ids.accepted, opportunity=ids.opportunity)
    )
    assert reply.status_code == 403
    assert "Contact form" not in reply.get_data(as_text=True)


@pytest.mark.parametrize("method,url", [
    ("GET", "/api/v1/runs"), ("GET", "/api/v1/runs/{run}"), ("GET", "/api/v1/runs/{run}/report"),
    ("GET", "/api/v1/opportunities"), ("GET", "/api/v1/submissions/{submission}"),
    ("GET", "/api/v1/decisions/{decision}"), ("GET", "/api/v1/decisions/{decision}/attestation"),
    ("POST", "/api/v1/runs/{run}/decision"), ("GET", "/api/v1/runs.csv"),
])  # fmt: skip
def test_finance_sees_nothing_else_in_the_api(service: Service, method: str, url: str) -> None:
    decision_id = _decide(service, service.ids.accepted, "accepted")
    _finance(service)
    ids = service.ids
    path = url.format(run=ids.accepted, submission=ids.submission, decision=decision_id)
    reply = service.app.test_client().open(
        path,
        method=method,
        headers=_token(service, FINANCE),
        json={"decision": "rejected", "reason": "x"},
    )
    assert (
        reply.status_code == 403 and reply.json is not None and reply.json["error"] == "forbidden"
    )
