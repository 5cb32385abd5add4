"""Both official languages: choosing the locale, the language toggle, locale-aware formatting."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, request
from flask_babel import (
    format_datetime,
    format_decimal,
    get_locale,
    gettext,
    lazy_gettext,
    lazy_pgettext,
)
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from acceptance.service.hidden_redaction import WITHHELD

LANGUAGES = ("en", "fr")
#: each language's name in itself, for the toggle
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
LANGUAGE_COOKIE = "acceptance_lang"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600

language = Blueprint("language", __name__)


def select_locale() -> str:
    """The remembered choice, else the browser's preference, else English."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def select_timezone() -> str:
    """The zone dates are shown in (ACCEPTANCE_TIMEZONE)."""
    zone: str = current_app.config["DASHBOARD_TIMEZONE"]
    return zone


def current_language() -> str:
    """The language of this response: `en` or `fr`."""
    locale = get_locale()
    return locale.language if locale is not None else LANGUAGES[0]


def other_language() -> str:
    """The language the toggle offers."""
    return LANGUAGES[1] if current_language() == LANGUAGES[0] else LANGUAGES[0]


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go back to; anything else (another host, a scheme) is refused."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


@language.get("/language/<code>")
def switch(code: str) -> Response:
    """Remember the chosen language and go back to the page the toggle was on."""
    response = redirect(safe_next(request.args.get("next")), code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_AGE,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
    return response


# ---------------------------------------------------------------- formatting for templates


def when(moment: dt.datetime | str | None) -> Markup:
    """A <time> element: machine-readable UTC, shown in the locale's format and zone.

    Takes a datetime, or the ISO 8601 text of one (the supplier's view is JSON-ready).
    """
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment)
        except ValueError:
            return Markup("—")
    if moment is None:
        return Markup("—")
    iso = moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    shown = format_datetime(moment, "medium") + " " + format_datetime(moment, "zzz")
    return Markup('<time datetime="{}">{}</time>').format(iso, shown)


def number(value: Any) -> str:
    """A count or measure in the locale's digits and separators."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(escape(value)) if value is not None else "—"
    return str(format_decimal(value))


def seconds(value: Any) -> str:
    """A duration in seconds, one decimal, in the locale's format."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return str(gettext("%(seconds)s s", seconds=format_decimal(value, format="#,##0.0")))


# Names of the closed sets the service stores as identifiers.
STATUS_LABELS = {
    "queued": lazy_gettext("Queued"),
    "running": lazy_gettext("Running"),
    "finished": lazy_gettext("Finished"),
    "error": lazy_gettext("Could not judge"),
}
VERDICT_LABELS = {
    "accepted": lazy_gettext("Accepted"),
    "rejected": lazy_gettext("Rejected"),
    "error": lazy_gettext("Could not judge"),
    "pending": lazy_gettext("In progress"),
}
CHECK_STATUS_LABELS = {
    "passed": lazy_gettext("Passed"),
    "failed": lazy_gettext("Failed"),
    "error": lazy_gettext("Could not judge"),
    "skipped": lazy_gettext("Not checked"),
    "not_run": lazy_gettext("Not run"),
}
CHECK_LABELS = {
    "functional": lazy_gettext("Functional tests"),
    "sast": lazy_gettext("Static security analysis"),
    "dependencies": lazy_gettext("Dependency vulnerabilities"),
    "licence": lazy_gettext("Licence"),
    "quality": lazy_gettext("Code quality (linter)"),
    "accessibility": lazy_gettext("Accessibility (axe-core in a browser)"),
}
ROLE_LABELS = {
    "admin": lazy_gettext("Administrator"),
    "owner": lazy_gettext("Owner"),
    "reviewer": lazy_gettext("Reviewer"),
    "finance": lazy_gettext("Finance"),
}
STAGE_LABELS = {
    "starting": lazy_gettext("starting"),
    "checkout": lazy_gettext("cloning the repository"),
    "plan": lazy_gettext("planning the install"),
    "sandbox": lazy_gettext("starting the sandbox"),
    "prepare": lazy_gettext("preparing the sandbox"),
    "sast": lazy_gettext("static security analysis"),
    "quality": lazy_gettext("linting the code"),
    "accessibility": lazy_gettext("checking the pages' accessibility"),
    "metadata": lazy_gettext("reading the project's metadata"),
    "download": lazy_gettext("downloading dependencies"),
    "install": lazy_gettext("installing"),
    "installed": lazy_gettext("listing installed packages"),
    "licence": lazy_gettext("checking licences"),
    "functional": lazy_gettext("running the tests"),
    "dependencies": lazy_gettext("auditing dependencies"),
    "hidden": lazy_gettext("copying the hidden tests"),
    "hidden-tests": lazy_gettext("running the owner's hidden tests"),
}
#: "Failed" in context: a stage (une étape) is feminine in French, a check's status is not
STAGE_STATUS_LABELS = {"ok": lazy_gettext("Completed"), "failed": lazy_pgettext("stage", "Failed")}
SEVERITY_LABELS = {
    "low": lazy_gettext("Low"),
    "medium": lazy_gettext("Medium"),
    "high": lazy_gettext("High"),
}


#: the quality check's finding levels (docs/checks.md)
LEVEL_LABELS = {
    "error": lazy_gettext("Error"),
    "warning": lazy_gettext("Warning"),
    "style": lazy_gettext("Style"),
}


#: axe-core's impacts of an accessibility violation
IMPACT_LABELS = {
    "critical": lazy_gettext("Critical"),
    "serious": lazy_gettext("Serious"),
    "moderate": lazy_gettext("Moderate"),
    "minor": lazy_gettext("Minor"),
}


def label(table: dict[str, Any], key: Any) -> str:
    """The translated name of `key`, or the key itself when it is not a known one."""
    found = table.get(key) if isinstance(key, str) else None
    return str(found) if found is not None else ("" if key is None else str(key))


#: sentences the service itself puts in place of engine text, shown in the reader's language
ENGINE_SENTENCES = {
    WITHHELD: lazy_gettext("withheld: this sentence would reveal the owner's hidden tests"),
}


def stage_label(stage: Any) -> str:
    """A run stage's name in the reader's language."""
    return label(STAGE_LABELS, stage)


def template_helpers() -> dict[str, Any]:
    """Functions and tables the templates use."""
    return {
        "when": when,
        "number": number,
        "seconds": seconds,
        "label": label,
        "stage_label": stage_label,
        "STATUS_LABELS": STATUS_LABELS,
        "VERDICT_LABELS": VERDICT_LABELS,
        "CHECK_STATUS_LABELS": CHECK_STATUS_LABELS,
        "CHECK_LABELS": CHECK_LABELS,
        "ROLE_LABELS": ROLE_LABELS,
        "SEVERITY_LABELS": SEVERITY_LABELS,
        "LEVEL_LABELS": LEVEL_LABELS,
        "IMPACT_LABELS": IMPACT_LABELS,
        "STAGE_STATUS_LABELS": STAGE_STATUS_LABELS,
        "ENGINE_SENTENCES": ENGINE_SENTENCES,
        "LANGUAGE_NAMES": LANGUAGE_NAMES,
        "current_language": current_language,
        "other_language": other_language,
    }
