"""The reviewer and owner dashboard: server-rendered pages in English and French.

`init_app(app)` adds sign-in sessions, CSRF protection, the two languages,
security headers for pages, and the dashboard's blueprints.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, g, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from web.dashboard.config import DashboardConfig, dashboard_config, session_key

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TRANSLATIONS = HERE / "translations"

#: scripts and styles only from this origin, no inline code, no framing, forms post here only
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

#: templates and static files shared by every dashboard page
ui = Blueprint(
    "ui", __name__, template_folder="templates", static_folder="static",
    static_url_path="/ui/static",
)  # fmt: skip

csrf = CSRFProtect()


def init_app(app: Flask, config: DashboardConfig | None = None) -> None:
    """Register the dashboard on the service's app."""
    from web.dashboard import i18n, presenting, reasons, summaries
    from web.dashboard.admin import admin
    from web.dashboard.auth import auth
    from web.dashboard.certificates import certificates
    from web.dashboard.comparison import comparison
    from web.dashboard.decisions import decisions
    from web.dashboard.events import event_endpoints
    from web.dashboard.opportunities import opportunities
    from web.dashboard.runs import runs
    from web.dashboard.text import inert

    settings = app.extensions["acceptance"].settings
    config = config or dashboard_config(settings)
    keys_dir = settings.data_dir / "keys"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = session_key(keys_dir / "session.key")
    app.config.update(
        SESSION_COOKIE_NAME="acceptance_session",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        # Only the dashboard's forms are checked: the API and webhooks authenticate otherwise.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the sign-in session
        BABEL_DEFAULT_LOCALE=i18n.LANGUAGES[0],
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
        DASHBOARD_TIMEZONE=config.timezone,
        DASHBOARD_PAGE_SIZE=config.page_size,
    )
    Babel(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    _warn_if_uncompiled()
    csrf.init_app(app)
    forms_here = {"auth", "runs", "opportunities", "decisions"}

    @app.before_request
    def _csrf_on_dashboard_posts() -> None:
        enabled = app.config.get("WTF_CSRF_ENABLED", True)
        if enabled and request.method == "POST" and request.blueprint in forms_here:
            csrf.protect()

    @app.after_request
    def _page_headers(response: Any) -> Any:
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
            # Same-origin form posts carry a Referer, which CSRF checks require over https;
            # links to other sites (a repository, a commit) still carry none.
            response.headers["Referrer-Policy"] = "same-origin"
            if g.get("viewer") is not None:
                response.headers.setdefault("Cache-Control", "private, no-store")
        return response

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["inert"] = inert
    app.jinja_env.globals.update(i18n.template_helpers())
    app.jinja_env.globals.update(presenting.template_helpers())
    app.jinja_env.globals["check_summary"] = summaries.check_summary
    app.jinja_env.globals.update(reasons.template_helpers())

    @app.context_processor
    def _viewer() -> dict[str, Any]:
        return {"viewer": g.get("viewer")}

    for blueprint in (
        ui, i18n.language, auth, runs, opportunities, decisions, certificates, comparison, admin,
        event_endpoints,
    ):  # fmt: skip
        app.register_blueprint(blueprint)


def _warn_if_uncompiled() -> None:
    """Without compiled catalogues the pages silently fall back to English: say so once."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            log.warning(
                "translations_not_compiled",
                extra={
                    "catalogue": str(po),
                    "fix": "pybabel compile -d web/dashboard/translations",
                },
            )
