"""Step 1: was the raw body signed with the submission's secret (or sent with its token)?"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from web.webhooks.delivery import Provider, WebhookAuthError, fold_headers

_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_GITHUB_HOOKSHOT = "GitHub-Hookshot/"
_GITEA_MARKERS = (
    "x-gitea-event", "x-forgejo-event", "x-gitea-delivery", "x-forgejo-delivery",
    "x-gitea-signature", "x-forgejo-signature",
)  # fmt: skip
_SECRET_HINT = (
    "set the webhook's secret to the webhook_secret given when the submission was created"
)


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> Provider:
    """Check the delivery's signature or token against ``secret``; return its sender.

    Every signature header present must match; SHA-1 (``X-Hub-Signature``)
    alone is refused. Comparisons take constant time.
    """
    if not secret:
        raise WebhookAuthError("no webhook secret is configured for this submission")
    found = fold_headers(headers)
    key = secret.encode("utf-8", "surrogatepass")
    if "x-gitlab-event" in found or "x-gitlab-token" in found:
        token = found.get("x-gitlab-token")
        if token is None:
            raise WebhookAuthError("the X-Gitlab-Token header is missing", hint=_SECRET_HINT)
        # Digests of both sides: equal lengths, so the time taken says nothing about the secret.
        sent = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if not hmac.compare_digest(sent, hashlib.sha256(key).digest()):
            raise WebhookAuthError("X-Gitlab-Token does not match", hint=_SECRET_HINT)
        return Provider.GITLAB

    provider = _hmac_provider(found)
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    headers_checked = 0
    for name, prefix in _signature_headers(provider):
        value = found.get(name.lower())
        if value is None:
            continue
        headers_checked += 1
        if not _signature_matches(value, prefix, expected):
            raise WebhookAuthError(f"{name} does not match the body", hint=_SECRET_HINT)
    if headers_checked == 0:
        if "x-hub-signature" in found:
            raise WebhookAuthError(
                "only the SHA-1 X-Hub-Signature header was sent; X-Hub-Signature-256 is required",
                hint=_SECRET_HINT,
            )
        raise WebhookAuthError(
            "no signature header (X-Hub-Signature-256) was sent", hint=_SECRET_HINT
        )
    return provider


def _hmac_provider(found: Mapping[str, str]) -> Provider:
    if any(marker in found for marker in _GITEA_MARKERS):
        return Provider.GITEA
    if found.get("user-agent", "").startswith(_GITHUB_HOOKSHOT):
        return Provider.GITHUB
    return Provider.GENERIC


def _signature_headers(provider: Provider) -> tuple[tuple[str, str], ...]:
    github = ("X-Hub-Signature-256", "sha256=")
    if provider is Provider.GITEA:
        return (github, ("X-Gitea-Signature", ""), ("X-Forgejo-Signature", ""))
    return (github,)


def _signature_matches(value: str, prefix: str, expected_hex: str) -> bool:
    if prefix:
        if value[: len(prefix)].lower() != prefix:
            return False
        value = value[len(prefix) :]
    if not _HEX_SIGNATURE.fullmatch(value):
        return False
    return hmac.compare_digest(value.lower(), expected_hex)
