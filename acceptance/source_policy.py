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
        raise UserInputError(
            f"repository URL {url!r}: only https:// is allowed here", hint=_HINT
        )
    host = parts.hostname or ""
    if not host:
        raise UserInputError(f"repository URL {url!r} has no host", hint=_HINT)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserInputError(f"repository host {host!r} cannot be resolved ({exc})", hint=_HINT) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            raise UserInputError(
                f"repository host {host!r} resolves to {address}, which is not a public address",
                hint=_HINT,
            )
