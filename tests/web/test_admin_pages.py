"""The admins' dashboard pages: the audit trail (`/audit`) and the service's emails
(`/messages`), in English and French, linked from the admin's navigation only, refused to
every other role; changes made in the dashboard (a re-run, signing out) are recorded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from acceptance.service.models import AuditEvent, Message, utcnow
from tests.dashboard_support import ADMIN, OWNER, REVIEWER, Service, client_for, csrf_token, html
from tests.service.test_certificates import FINANCE, _finance

XSS_SUBJECT = "Run of Supplier <script>alert('subject')</script> Ltd"
XSS_ERROR = "550 <img src=x onerror=alert('error')> mailbox unavailable"


@pytest.fixture
def service(seeded: Service, tmp_path: Path) -> Service:
    """A fresh copy of the seeded service, with two emails (one failed)."""
    copy = Service(tmp_path / "data", copy_of=seeded)
    with copy.db.session() as db:
        for state, attempts, error in (("sent", 1, None), ("failed", 5, XSS_ERROR)):
            db.add(
                Message(
                    event="run_finished",
                    audience="supplier",
                    recipient="bids@supplier.example",
                    language="fr",
                    subject=XSS_SUBJECT,
                    body_text="-",
                    body_html="-",
                    submission_id=copy.ids.submission,
                    run_id=copy.ids.accepted,
                    state=state,
                    attempts=attempts,
                    last_error=error,
                    sent_at=utcnow() if state == "sent" else None,
                )  # fmt: skip
            )
    return copy


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[-1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", body, re.S)


def test_only_admins_have_the_pages_in_their_navigation(service: Service) -> None:
    admin = client_for(service, ADMIN)
    page = html(admin, "/runs")
    assert 'href="/audit"' in page and 'href="/messages"' in page
    assert 'href="/audit" aria-current="page"' in html(admin, "/audit")
    assert 'href="/messages" aria-current="page"' in html(admin, "/messages")
    _finance(service)
    for who in (OWNER, REVIEWER, FINANCE):
        for lang, refusal in (("en", "Not allowed"), ("fr", "Non permis")):
            client = client_for(service, who, lang)
            for url in ("/audit", "/messages"):
                page = html(client, url, 403)
                assert refusal in page
                assert 'href="/audit"' not in page and 'href="/messages"' not in page
    signed_out = client_for(service, None).get("/audit")
    assert signed_out.status_code == 303 and "/sign-in" in signed_out.headers["Location"]


def test_the_audit_trail_shows_who_did_what_to_which_record(service: Service) -> None:
    page = html(client_for(service, ADMIN), "/audit")
    # the seeding: four accounts by the service, three specs and two submissions by owners
    assert "9 events found" in page
    rows = _rows(page)
    assert len(rows) == 9
    published = [r for r in rows if "Spec published" in r]
    assert len(published) == 3
    assert all(OWNER in r or "other@example.org" in r for r in published)
    assert f'href="/opportunities/{service.ids.opportunity}"' in page
    registered = [r for r in rows if "Submission registered" in r]
    assert len(registered) == 2
    # supplier text is shown as text, never markup
    assert any(
        "Supplier &lt;script&gt;alert(&#39;supplier&#39;)&lt;/script&gt; Ltd" in r
        for r in registered
    )
    assert "<script>alert" not in page
    created = [r for r in rows if "Account created" in r]
    assert len(created) == 4 and all("The service" in r for r in created)


def test_the_audit_trail_filters_and_says_what_is_wrong(service: Service) -> None:
    admin = client_for(service, ADMIN)
    page = html(admin, f"/audit?action=spec.published&actor={OWNER}")
    assert "2 events found" in page
    assert '<option value="spec.published" selected>' in page
    page = html(admin, f"/audit?subject=submission:{service.ids.submission}")
    assert "1 event found" in page and "Submission registered" in page
    assert "No event matches these filters." in html(admin, "/audit?since=2999-01-01")
    page = html(admin, "/audit?action=spec.deleted&since=yesterday", 422)
    assert "Choose an action from the list." in page
    french = html(client_for(service, ADMIN, "fr"), "/audit?since=hier", 422)
    assert "Entrez une date sous la forme année-mois-jour" in french
    french = html(client_for(service, ADMIN, "fr"), "/audit?action=spec.published")
    assert "3 événements trouvés" in french
    assert "Spécification publiée" in french and "Journal d’audit" in french


def test_changes_made_in_the_dashboard_are_recorded(service: Service) -> None:
    owner = client_for(service, OWNER)
    token = csrf_token(owner, f"/runs/{service.ids.accepted}")
    reply = owner.post(f"/runs/{service.ids.accepted}/rerun", data={"csrf_token": token})
    assert reply.status_code == 303
    new_run = reply.headers["Location"].rsplit("/", 1)[-1]
    owner.post("/sign-out", data={"csrf_token": csrf_token(owner, "/runs")})
    with service.db.session() as db:
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.actor == OWNER).order_by(AuditEvent.at.desc())
        ).all()
        latest = [(e.action, e.subject_type, e.subject_id) for e in events[:2]]
    owner_id = events[0].actor_user_id
    assert latest == [
        ("session.signed_out", "user", owner_id),
        ("run.requested", "run", new_run),
    ]
    assert events[1].details["supersedes"] == service.ids.accepted
    page = html(client_for(service, ADMIN), "/audit?action=run.requested")
    assert "Run started by a person" in page and f'href="/runs/{new_run}"' in page
    assert "Signed out" in html(client_for(service, ADMIN), "/audit?action=session.signed_out")


def test_the_emails_page_lists_the_service_emails_and_their_delivery(service: Service) -> None:
    admin = client_for(service, ADMIN)
    page = html(admin, "/messages")
    assert "2 emails found" in page
    rows = _rows(page)
    assert len(rows) == 2
    assert "Not delivered" in page and "Sent" in page and "5 attempts" in page
    assert f'href="/runs/{service.ids.accepted}"' in page
    assert "&lt;script&gt;alert(&#39;subject&#39;)" in page and "<script>alert" not in page
    assert "&lt;img src=x onerror" in page and "<img src=x" not in page
    assert '<td lang="fr">' in page  # the subject is in the email's language
    failed = html(admin, "/messages?state=failed")
    assert "1 email found" in failed and '<option value="failed" selected>' in failed
    assert "Choose a delivery state from the list." in html(admin, "/messages?state=lost", 422)
    french = html(client_for(service, ADMIN, "fr"), "/messages")
    assert "Courriels envoyés par le service" in french and "Non remis" in french
    assert "5 tentatives" in french
