"""/healthz (the process is up) and /readyz (database, broker, artifact store, the reconciler)."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, jsonify
from sqlalchemy import text

from acceptance.service.readiness import last_reconciler_pass

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@health.get("/readyz")
def readyz() -> Any:
    """`checks` holds one line per dependency ("ok" or what is wrong); any other: 503.

    `reconciler` says when the reconciler last went over the runs. Once a pass
    has been noted, `checks.reconciler` is there too, and a pass older than three
    of its intervals (no scheduler running) makes the service not ready. A
    deployment that never ran a scheduler has no note, and no such check.
    """
    from web.app import services

    found = services()
    checks: dict[str, str] = {}
    try:
        with found.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        with found.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    checks["artifacts"] = "ok" if found.store.healthy() else "not writable"
    reconciler = _reconciler(found, checks)
    ready = all(value == "ok" for value in checks.values())
    status = "ready" if ready else "not ready"
    response = jsonify(status=status, checks=checks, reconciler=reconciler)
    response.status_code = 200 if ready else 503
    return response


def _reconciler(found: Any, checks: dict[str, str]) -> dict[str, Any]:
    """The last reconciler pass, as JSON; adds `checks.reconciler` once a pass was noted."""
    if checks["broker"] != "ok":
        return {"last_pass": None, "unknown": "the broker is unreachable"}
    try:
        last = last_reconciler_pass(found.redis)
    except (redis.RedisError, ValueError) as exc:  # ValueError: a broker URL that is not Redis
        return {"last_pass": None, "unknown": f"{type(exc).__name__}"}
    if last is None:
        return {"last_pass": None}
    check = last.check()
    checks[check.name] = "ok" if check.ok else check.detail
    return last.as_json()
