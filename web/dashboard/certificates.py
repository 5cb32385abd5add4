"""Acceptance certificates: the list of accepted deliveries, a certificate's page and its PDF.

The page states the facts in English and French side by side and prints to one
A4 or Letter page (static/certificate.css, `@media print`). The PDF is the same
page rendered by WeasyPrint, which reads the stylesheets from disk and fetches
nothing else. The API serves the same PDF (web/decisions.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, g, render_template
from flask_babel import force_locale, gettext
from markupsafe import Markup
from sqlalchemy.orm import Session
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from acceptance.engine.keyring import public_keys
from acceptance.errors import PlatformError
from acceptance.service.certificate import (
    CertificateFacts,
    accepted_deliveries,
    certificate_decision,
    certificate_facts,
)
from acceptance.service.models import Decision, User
from web.dashboard.auth import signed_in
from web.dashboard.errors import install_error_pages
from web.dashboard.i18n import (
    CHECK_LABELS,
    CHECK_STATUS_LABELS,
    LANGUAGES,
    VERDICT_LABELS,
    label,
    when,
)
from web.dashboard.reportview import load_report

certificates = Blueprint("certificates", __name__)
install_error_pages(certificates)

STATIC = Path(__file__).parent / "static"
#: the only files the PDF renderer may read: the page's own stylesheets
PDF_STYLESHEETS = ("dashboard.css", "certificate.css")
# The renderer warns about every screen-only rule of dashboard.css on every PDF: known, not news.
logging.getLogger("weasyprint").setLevel(logging.ERROR)


def _services() -> Any:
    from web.app import services

    return services()


@certificates.get("/certificates")
@signed_in
def index() -> Any:
    """The accepted deliveries the user may see, latest first, each with its certificate."""
    found = [certificate_facts(d) for d in accepted_deliveries(g.db, g.user)]
    return render_template("dashboard/certificates.html", certificates=found)


@certificates.get("/certificates/<decision_id>")
@signed_in
def show(decision_id: str) -> Any:
    """One certificate, printable to one page."""
    return render_template(
        "dashboard/certificate.html", **certificate_context(g.db, g.user, decision_id)
    )


@certificates.get("/certificates/<decision_id>.pdf")
@signed_in
def pdf(decision_id: str) -> Response:
    """The certificate's page as a PDF, to file."""
    return certificate_pdf_response(g.db, g.user, decision_id)


# ---------------------------------------------------------------- shared with the API


def certificate_pdf_response(db: Session, user: User, decision_id: str) -> Response:
    """The PDF download of a certificate `user` may see (NotFound otherwise)."""
    page = render_template(
        "dashboard/certificate.html", **certificate_context(db, user, decision_id)
    )
    response = Response(render_pdf(page), mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="acceptance-certificate-{decision_id}.pdf"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def certificate_context(db: Session, user: User, decision_id: str) -> dict[str, Any]:
    """What the certificate page shows: the facts, the checks and both languages' wording."""
    decision = certificate_decision(db, user, decision_id)
    facts = certificate_facts(_signed(db, decision))
    found = _services()
    report = load_report(found.store, decision.run, public_keys(found.settings))
    if report is None or report.problem is not None:
        raise PlatformError(f"the signed report of run {decision.run_id} cannot be verified")
    checks = [(c.kind or c.id, c.status) for c in report.checks]
    checks += [(check_id, "skipped") for check_id, _ in report.not_checked]
    return {
        "facts": facts,
        "columns": [_column(lang, facts, checks) for lang in LANGUAGES],
    }


def _signed(db: Session, decision: Decision) -> Decision:
    """The decision with its signature: signed now if the signer was unavailable when it was made."""
    if decision.envelope_sha256 is None:
        from web.decisions import sign_decision
        from web.links import base_url

        if sign_decision(decision.id, base_url()) is None:
            raise PlatformError(
                f"decision {decision.id} is not signed yet: the signer is unavailable"
            )
        db.expire(decision)
    return decision


def _column(lang: str, facts: CertificateFacts, checks: list[tuple[str, str]]) -> dict[str, Any]:
    """The certificate's words in one language (the values are the same in both)."""
    with force_locale(lang):
        verdict = label(VERDICT_LABELS, facts.verdict)
        results = [
            gettext("%(check)s: %(result)s", check=label(CHECK_LABELS, kind),
                    result=label(CHECK_STATUS_LABELS, status))
            for kind, status in checks
        ]  # fmt: skip
        return {
            "lang": lang,
            "title": gettext("Acceptance certificate"),
            "statement": gettext(
                "The delivery below was accepted on the strength of a signed acceptance report. "
                "This acceptance is in force."
            ),
            "override": gettext(
                "Override: accepted although the checks' verdict was “%(verdict)s”.", verdict=verdict
            ),
            "opportunity": gettext("Opportunity"),
            "reference": gettext("Reference %(id)s", id=facts.opportunity_id),
            "supplier": gettext("Supplier"),
            "repository": gettext("Repository"),
            "spec": gettext("Spec version"),
            "verdict_label": gettext("Checks' verdict"),
            "verdict": verdict,
            "checks_label": gettext("Checks"),
            "checks": " · ".join(results) or gettext("no check ran"),
            "decision_label": gettext("Decision"),
            "decision": gettext("Accepted, overriding the checks' verdict") if facts.override
            else gettext("Accepted"),
            "decided_label": gettext("Decided by"),
            "decided_at": Markup(when(facts.decided_at)),
            "reason_label": gettext("Reason"),
            "proof": gettext("Digests and verification"),
            "commit": gettext("Commit"),
            "spec_digest": gettext("Spec version %(version)s, sha256", version=facts.spec_version),
            "report_digest": gettext("Signed report, sha256"),
            "decision_digest": gettext("Signed decision, sha256"),
            "verify": gettext("Verify with"),
            "note": gettext(
                "Each sha256 is that of a signed envelope (DSSE) as the service serves it: "
                "the decision at %(decision)s, the report at %(report)s; the public keys are at %(keys)s.",
                decision=f"/api/v1/decisions/{facts.decision_id}/attestation",
                report=f"/api/v1/runs/{facts.run_id}/report", keys="/api/v1/keys",
            ),
        }  # fmt: skip


def render_pdf(page: str) -> bytes:
    """The page as PDF; the renderer reads the dashboard's stylesheets and nothing else."""
    document: bytes = HTML(
        string=page, base_url="http://certificate.invalid/", url_fetcher=_StaticOnly()
    ).write_pdf()
    return document


class _StaticOnly(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no type hints
    """WeasyPrint's fetcher: the certificate's stylesheets from disk; anything else is refused."""

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        for name in PDF_STYLESHEETS:
            if url.split("?", 1)[0].endswith(f"/ui/static/{name}"):
                body = (STATIC / name).read_bytes()
                return URLFetcherResponse(url, body, {"Content-Type": "text/css; charset=utf-8"})
        raise ValueError(f"the certificate's PDF fetches nothing but its stylesheets, not {url}")
