"""Error pages for the dashboard's blueprints (the JSON API keeps its own JSON errors)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from acceptance.errors import PlatformError
from acceptance.service.access import Forbidden, NotFound


def error_page(status: int, title: str, message: str) -> Any:
    """A page saying what went wrong, with its HTTP status."""
    return render_template("dashboard/error.html", title=title, message=message), status


def install_error_pages(blueprint: Blueprint) -> None:
    """Answer the blueprint's failures with a page in the reader's language."""

    @blueprint.errorhandler(NotFound)
    def _missing(_exc: NotFound) -> Any:
        return _not_found()

    @blueprint.errorhandler(Forbidden)
    def _forbidden(_exc: Forbidden) -> Any:
        return _refused()

    @blueprint.errorhandler(CSRFError)
    def _csrf(_exc: CSRFError) -> Any:
        return error_page(
            400,
            gettext("The form has expired"),
            gettext("Go back, reload the page and send the form again."),
        )

    @blueprint.errorhandler(PlatformError)
    def _platform(_exc: PlatformError) -> Any:
        return error_page(
            503,
            gettext("Temporarily unavailable"),
            gettext("A stored file could not be read. Try again in a few minutes."),
        )

    @blueprint.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if exc.code == 404:
            return _not_found()
        if exc.code == 403:
            return _refused()
        if exc.code == 413:
            return error_page(
                413, gettext("Too large"), gettext("The upload is larger than allowed.")
            )
        return error_page(exc.code or 500, gettext("Something went wrong"), gettext("Try again."))


def _not_found() -> Any:
    return error_page(
        404,
        gettext("Page not found"),
        gettext("It does not exist, or your account may not see it."),
    )


def _refused() -> Any:
    return error_page(
        403,
        gettext("Not allowed"),
        gettext("Your account may see this but not do this. Ask the opportunity's owner."),
    )


def bad_address_page(status: int) -> Any:
    """A link with NUL, control characters or values too long (web/guards.py)."""
    return error_page(
        status,
        gettext("This address is not valid"),
        gettext(
            "It contains characters or values this service does not accept. "
            "Check the link you were given."
        ),
    )


def bad_form_page(status: int) -> Any:
    """A form with NUL or text no database can store (web/guards.py)."""
    return error_page(
        status,
        gettext("The form could not be read"),
        gettext(
            "It contains characters this service does not accept. Correct it and send it again."
        ),
    )


def unknown_host_page() -> Any:
    """A page that shows links, reached under a Host the operator did not list (web/links.py)."""
    return error_page(
        400,
        gettext("Unknown address"),
        gettext(
            "This service does not build links for the address it was reached at. "
            "Use the address your administrator gave you."
        ),
    )
