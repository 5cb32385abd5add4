"""Bearer-token authentication for the JSON API: the user in `g.user`, one session in `g.db`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from acceptance.service.accounts import TokenRefused, token_user
from web.access import endpoint_allowed
from web.api_errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def _services() -> Any:
    from web.app import services

    return services()


def authenticated(view: F) -> F:
    """Require `Authorization: Bearer <token>`; the user is in `g.user`, the session in `g.db`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
        g.after_commit = []
        with _services().db.session() as session:
            try:
                user = token_user(session, token.strip())
            except TokenRefused as exc:
                raise ApiError(401, "unauthenticated", exc.message) from None
            g.user, g.db = user, session
            if not endpoint_allowed(user, request.endpoint):
                raise ApiError(403, "forbidden", f"the {user.role} role may not use this route")
            result = view(*args, **kwargs)
        # Enqueue only once the rows are committed: a worker must find them.
        for action in g.after_commit:
            action()
        return result

    return wrapper  # type: ignore[return-value]
