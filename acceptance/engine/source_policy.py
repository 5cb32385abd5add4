"""Which repository URLs the service may fetch when no allow-list is configured.

Without ACCEPTANCE_GIT_ALLOWED_HOSTS only https to public addresses is allowed,
so a submission's repo URL cannot be used to reach internal services (SSRF):
every address the host name resolves to must be globally routable.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from acceptance.errors import UserInputError

_HINT = (
    "use an https:// URL of a public repository host, or ask the operator to list "
    "the host in ACCEPTANCE_GIT_ALLOWED_HOSTS"
)


def check_public_source(url: str) -> None:
    """Raise UserInputError unless `url` is https to a host with only public addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise UserInputError(f"repository URL {url!r} is malformed ({exc})", hint=_HINT) from None
    if parts.scheme != "https":
        raise UserInputError(f"repository URL {url!r}: only https:// is allowed here", hint=_HINT)
    host = parts.hostname or ""
    if not host:
        raise UserInputError(f"repository URL {url!r} has no host", hint=_HINT)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserInputError(
            f"repository host {host!r} cannot be resolved ({exc})", hint=_HINT
        ) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            raise UserInputError(
                f"repository host {host!r} resolves to {address}, which is not a public address",
                hint=_HINT,
            )


def check_endpoint(url: str, allowed_hosts: frozenset[str] | None, what: str) -> None:
    """Raise UserInputError unless the service may send requests to `url` (a forge's API).

    The sources' policy, for HTTP endpoints: a `host` or `host:port` listed in
    ACCEPTANCE_GIT_ALLOWED_HOSTS may be anywhere (an internal forge, a test's
    loopback server); any other must be https to a host with only public addresses.
    """
    hint = (
        f"give an https:// {what} on a public host, or ask the operator to list its host:port "
        "in ACCEPTANCE_GIT_ALLOWED_HOSTS"
    )
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UserInputError(f"{what} {url!r} is malformed ({exc})", hint=hint) from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise UserInputError(
            f"{what} {url!r}: an http(s):// URL with a host is required", hint=hint
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UserInputError(
            f"{what} {url!r}: no user name, password, query or fragment in it", hint=hint
        )
    shown = f"[{host}]" if ":" in host else host
    listed = {entry.strip().lower() for entry in allowed_hosts or ()}
    if {host, shown, f"{shown}:{port}"} & listed:
        return
    if parts.scheme != "https":
        raise UserInputError(
            f"{what} {url!r}: only https:// is allowed for an unlisted host", hint=hint
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserInputError(
            f"{what} host {host!r} cannot be resolved ({exc})", hint=hint
        ) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            raise UserInputError(
                f"{what} host {host!r} resolves to {address}, which is not a public address",
                hint=hint,
            )
