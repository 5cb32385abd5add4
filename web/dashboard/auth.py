"""Signing in and out of the dashboard, and the guard every dashboard page goes through."""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, ngettext
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from acceptance.service.accounts import authenticate, end_sessions
from acceptance.service.audit import Action, Subject, record
from acceptance.service.models import User
from web.access import endpoint_allowed
from web.dashboard.errors import error_page, install_error_pages
from web.dashboard.forms import SignInForm
from web.dashboard.i18n import number, safe_next
from web.dashboard.throttle import SignInThrottle

F = TypeVar("F", bound=Callable[..., Any])

auth = Blueprint("auth", __name__)
install_error_pages(auth)

SESSION_USER = "uid"
#: changes when the password or the user's session generation does: a new password,
#: signing out or being disabled ends every session, even one whose cookie was copied
SESSION_CHECK = "pwd"


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as the page header shows it (still readable after the session closed)."""

    email: str
    role: str


def _session_check(user: User) -> str:
    # The cookie is signed but lives in the browser: what ends it is this value moving on.
    material = f"session:{user.session_generation}:{user.password_hash}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


def session_user(db: Session) -> User | None:
    """The signed-in user, when the session cookie is still current for an enabled account."""
    user_id, check = session.get(SESSION_USER), session.get(SESSION_CHECK)
    if not isinstance(user_id, str) or not isinstance(check, str):
        return None
    user = db.get(User, user_id)
    if user is None or user.disabled or not hmac.compare_digest(_session_check(user), check):
        return None
    return user


def _services() -> Any:
    from web.app import services

    return services()


def _guard(view: F, *, as_json: bool) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.after_commit = []
        with _services().db.session() as db:
            user = session_user(db)
            if user is None:
                if as_json:
                    response = jsonify(error="unauthenticated", detail="sign in again")
                    response.status_code = 401
                    return response
                target = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("auth.sign_in", next=target), code=303)
            g.user, g.db = user, db
            g.viewer = Viewer(user.email, user.role)
            if not endpoint_allowed(user, request.endpoint):
                return _outside_role(as_json)
            result = view(*args, **kwargs)
        # Enqueue only once the rows are committed: a worker must find them.
        for action in g.after_commit:
            action()
        return result

    return wrapper  # type: ignore[return-value]


def _outside_role(as_json: bool) -> Any:
    """A page or call the role never reaches (web/access.py): 403, or the role's own first page."""
    if as_json:
        response = jsonify(error="forbidden", detail="your role may not use this")
        response.status_code = 403
        return response
    if request.endpoint == "runs.index" and request.method == "GET":
        # The dashboard's first page (after sign-in): finance officers start at the certificates.
        return redirect(url_for("certificates.index"), code=303)
    return error_page(
        403,
        gettext("Not allowed"),
        gettext("Your account reads acceptance certificates only."),
    )


def signed_in(view: F) -> F:
    """Pages: a signed-in user in `g.user`, the database session in `g.db`; else the sign-in page."""
    return _guard(view, as_json=False)


def signed_in_json(view: F) -> F:
    """Like `signed_in`, answering 401 JSON instead of redirecting (for the page's own scripts)."""
    return _guard(view, as_json=True)


@auth.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    """The sign-in form; a right email and password start a fresh session.

    Too many recent failures for the email or the client address: 429, and the
    password is not even checked (see web/dashboard/throttle.py).
    """
    form = SignInForm()
    target = safe_next(request.args.get("next"), url_for("runs.index"))
    if form.validate_on_submit():
        email = form.email.data or ""
        # The peer's address: X-Forwarded-For is not trusted (no proxy is configured to set it).
        address = request.remote_addr or "unknown"
        throttle = SignInThrottle.of(_services())
        wait = throttle.retry_after(email, address)
        if wait is not None:
            minutes = math.ceil(wait / 60)
            form.form_errors.append(
                ngettext(
                    "Too many failed sign-in attempts. Try again in %(minutes)s minute.",
                    "Too many failed sign-in attempts. Try again in %(minutes)s minutes.",
                    minutes,
                    minutes=number(minutes),
                )
            )
            page = render_template("dashboard/sign_in.html", form=form, next=target)
            return page, 429, {"Retry-After": str(wait)}
        with _services().db.session() as db:
            user = authenticate(db, email, form.password.data or "")
            if user is not None:
                throttle.succeeded(email)
                # A fresh session: nothing from before signing in carries over.
                session.clear()
                session.permanent = True
                session[SESSION_USER] = user.id
                session[SESSION_CHECK] = _session_check(user)
                return redirect(target, code=303)
        throttle.failed(email, address)
        form.form_errors.append(gettext("The email address or the password is not right."))
    status = 422 if request.method == "POST" else 200
    return render_template("dashboard/sign_in.html", form=form, next=target), status


@auth.post("/sign-out")
def sign_out() -> Response:
    """End the session (a POST with the CSRF token, so no other site can sign you out).

    Clearing the cookie is not enough: a copy of it would still be valid. The
    user's session generation moves on, which ends every session of theirs,
    in this browser and any other.
    """
    # The CSRF token was checked before this view ran, as for every dashboard POST.
    with _services().db.session() as db:
        user = session_user(db)
        if user is not None:
            end_sessions(db, user)
            record(db, user, Action.SESSION_SIGNED_OUT, Subject.USER, user.id)
    session.clear()
    flash(gettext("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"), code=303)
