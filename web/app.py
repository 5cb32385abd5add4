"""The Flask application: the JSON API, webhook intake, supplier status, health."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from flask import Flask, current_app, jsonify
from redis import Redis
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from acceptance.service.artifacts import ArtifactStore
from acceptance.service.artifacts_s3 import artifact_store
from acceptance.service.db import Database
from acceptance.service.secretbox import SecretBox
from acceptance.settings import Settings, load_settings

log = logging.getLogger(__name__)

#: a spec (1 MiB) plus a hidden-tests archive (the archive's own cap is 50 MiB unpacked)
MAX_UPLOAD_BYTES = 60 * 1024**2
#: seconds to wait for Redis before giving up: a request must not hang on a broker outage
REDIS_TIMEOUT = 2.0


@dataclass
class Services:
    """What request handlers use; one per app (per process)."""

    settings: Settings
    db: Database
    store: ArtifactStore
    box: SecretBox
    celery: Any

    @cached_property
    def redis(self) -> Redis:
        """The broker's Redis, for short-lived counters (sign-in throttling); connects on first use."""
        return Redis.from_url(
            self.settings.broker_url,
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )

    def enqueue(self, run_id: str, run_timeout: int) -> None:
        """Hand a committed run to the workers; its forge (if any) is told it is pending."""
        from acceptance.service.forge.delivery import ForgeFeedback
        from workers.celery_app import enqueue_forge_status, enqueue_run

        enqueue_run(self.celery, run_id, run_timeout)
        forge = ForgeFeedback(self.db, functools.partial(enqueue_forge_status, self.celery))
        forge.run_changed(run_id)


def services() -> Services:
    found: Services = current_app.extensions["acceptance"]
    return found


def create_app(settings: Settings | None = None, *, celery: Any = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES, JSON_SORT_KEYS=False)
    if settings.proxy_hops:
        # Behind N reverse proxies the TCP peer is the nearest proxy: take the client's
        # address and scheme from the N proxies' own X-Forwarded-* entries (the sign-in
        # throttle counts per client), never from anything further left a client wrote.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    if celery is None:
        from workers.celery_app import make_celery

        celery = make_celery(settings)
    app.extensions["acceptance"] = Services(
        settings=settings,
        db=Database(settings.database_url),
        store=artifact_store(settings),
        box=SecretBox(settings.secrets_key),
        celery=celery,
    )

    from web import guards, links

    guards.init_app(app)  # NUL, control characters and oversized values: 4xx before any route
    links.init_app(app)  # links only for ACCEPTANCE_PUBLIC_URL or ACCEPTANCE_ALLOWED_HOSTS

    from web.api import api
    from web.compare import compare_api
    from web.decisions import decisions_api
    from web.health import health
    from web.hooks import hooks
    from web.status import status

    app.register_blueprint(api)
    app.register_blueprint(decisions_api)
    app.register_blueprint(compare_api)
    from web.audit import audit_api
    from web.messages import messages_api

    app.register_blueprint(
        messages_api
    )  # GET /api/v1/messages: emails and their delivery, for admins
    app.register_blueprint(audit_api)  # GET /api/v1/audit: the audit trail, for admins
    from web.events import events_api

    app.register_blueprint(events_api)  # owners' event endpoints and their deliveries (issue 14)
    from web.schemas import schemas_api

    app.register_blueprint(schemas_api)  # the spec's and the report's JSON Schemas, public
    app.register_blueprint(status)
    app.register_blueprint(hooks)
    app.register_blueprint(health)
    from web.metrics import metrics

    app.register_blueprint(metrics)  # /metrics (Prometheus)
    from web.dashboard import init_app as init_dashboard

    init_dashboard(app)  # the HTML dashboard: sign-in, runs, reports, opportunities (issue 5)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        response = jsonify(
            error=(exc.name or "error").lower().replace(" ", "_"), detail=exc.description
        )
        response.status_code = exc.code or 500
        return response

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app
