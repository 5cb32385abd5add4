"""Which routes a role may reach at all, before any record is looked at.

Finance officers file acceptance certificates and see nothing else: every
other dashboard page and API route answers 403 for them, whatever the records
would allow. Both sign-in guards (the dashboard's session, the API's token)
ask `endpoint_allowed` first.
"""

from __future__ import annotations

from acceptance.service.models import Role, User

#: the only endpoints a finance officer reaches: the certificates, their PDFs
FINANCE_ENDPOINTS = frozenset({
    "certificates.index",
    "certificates.show",
    "certificates.pdf",
    "decisions_api.certificate_pdf",
})  # fmt: skip


def endpoint_allowed(user: User, endpoint: str | None) -> bool:
    """Whether `user`'s role may reach `endpoint` (records are checked later, by the view)."""
    if user.role == Role.FINANCE.value:
        return endpoint in FINANCE_ENDPOINTS
    return True
