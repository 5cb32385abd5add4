"""The base URL of links the service hands out (webhook, status page, report), in one place.

A link is built from ACCEPTANCE_PUBLIC_URL when it is set. Otherwise it comes
from the request, but only when the request's Host is one the operator listed
in ACCEPTANCE_ALLOWED_HOSTS (loopback when unset): a client that forges
`Host: attacker.example` must not get a webhook or status link pointing there
(and a page showing one). Building a link for any other host answers 400.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, make_response, request
from werkzeug.exceptions import BadRequest

from web.dashboard.errors import unknown_host_page
from web.dashboard.supplier import wants_html

_MACHINE_PREFIXES = ("/api/", "/hooks/", "/metrics")


class UnknownHost(BadRequest):
    """A link was needed for a Host header the operator did not list."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"links are not built for the host {host[:100]!r}: set ACCEPTANCE_PUBLIC_URL, "
            "or list the host in ACCEPTANCE_ALLOWED_HOSTS"
        )


def init_app(app: Flask) -> None:
    app.register_error_handler(UnknownHost, _unknown_host)


def base_url() -> str:
    """`https://host[:port]` without a trailing slash, for links in answers and pages."""
    from web.app import services

    settings = services().settings
    if settings.public_url:
        return settings.public_url
    host = request.host
    if not host_allowed(host, settings.allowed_hosts):
        raise UnknownHost(host)
    return request.host_url.rstrip("/")


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """Whether `host` (a Host header: name or [v6], maybe `:port`) is listed.

    An entry without a port allows the name on any port; one with a port, that port only.
    """
    value = host.strip().lower()
    name, port = _split(value)
    name = name.rstrip(".")
    return name in allowed or (port is not None and f"{name}:{port}" in allowed)


def _split(host: str) -> tuple[str, str | None]:
    if host.startswith("["):
        end = host.find("]")
        if end == -1:
            return host, None
        rest = host[end + 1 :]
        return host[: end + 1], rest[1:] if rest.startswith(":") else None
    name, colon, port = host.rpartition(":")
    return (name, port) if colon and ":" not in name else (host, None)


def _unknown_host(exc: UnknownHost) -> Any:
    if not request.path.startswith(_MACHINE_PREFIXES) and wants_html():
        return make_response(unknown_host_page())
    response = jsonify(error="unknown_host", detail=exc.description)
    response.status_code = 400
    return response
