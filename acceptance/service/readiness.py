"""Readiness checks shared by the web app's /readyz and `acceptance worker-health`.

Each check answers quickly (seconds), never raises, and says what is wrong in
one line, so a container health check or an operator can act on it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import socket
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import text

from acceptance.service.artifacts import ArtifactStore
from acceptance.service.db import Database
from acceptance.settings import Settings

log = logging.getLogger(__name__)

#: where the reconciler notes its last pass, in the broker's Redis
RECONCILER_KEY = "acceptance:reconciler:last-pass"
#: a last pass older than this many of its intervals: no scheduler is running
STALE_INTERVALS = 3
#: a note is forgotten after a week without passes (a deployment that dropped its scheduler)
RECONCILER_NOTE_TTL = 7 * 24 * 3600
#: seconds to wait for Redis: readiness answers quickly or not at all
REDIS_TIMEOUT = 2.0


@dataclass(frozen=True)
class Check:
    """One dependency's state."""

    name: str
    ok: bool
    detail: str = "ok"


def database(db: Database) -> Check:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = db.is_current()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return Check("database", False, f"unreachable: {type(exc).__name__}: {str(exc)[:200]}")
    if not current:
        return Check("database", False, "the schema is not the newest: run `acceptance db upgrade`")
    return Check("database", True)


def broker(celery: Any) -> Check:
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
        return Check("broker", True)
    except Exception as exc:  # noqa: BLE001
        return Check("broker", False, f"unreachable: {type(exc).__name__}: {str(exc)[:200]}")


def artifacts(store: ArtifactStore) -> Check:
    return (
        Check("artifacts", True) if store.healthy() else Check("artifacts", False, "not writable")
    )


def docker_engine(settings: Settings) -> list[Check]:
    """The engine answers, and the sandbox image the code expects is in it."""
    from acceptance.errors import PlatformError
    from sandbox.docker import docker_client
    from sandbox.image import default_image_tag

    image = settings.sandbox_image or default_image_tag(settings.sandbox_base_image)
    try:
        client = docker_client(timeout=10)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        detail = exc.message if isinstance(exc, PlatformError) else f"{type(exc).__name__}: {exc}"
        return [
            Check("docker", False, f"engine unreachable: {detail.splitlines()[0][:200]}"),
            Check("sandbox image", False, f"{image}: cannot check without the engine"),
        ]
    try:
        client.images.get(image)
        found = Check("sandbox image", True, image)
    except Exception:  # noqa: BLE001
        found = Check("sandbox image", False, f"{image} is not in the engine: load or build it")
    return [Check("docker", True), found]


def signing_key(settings: Settings, *, created_on_first_use: bool) -> Check:
    """The private key loads; a worker creates a missing one when it starts, the signer never."""
    from acceptance.engine.signing import load_private_key

    if created_on_first_use and not settings.signing_key.exists():
        return Check(
            "signing key",
            True,
            f"not created yet: `acceptance worker` creates {settings.signing_key}",
        )
    if not settings.signing_key.exists():
        return Check(
            "signing key", False,
            f"{settings.signing_key} does not exist and `acceptance signer` never creates one: "
            f"`acceptance keygen --out {settings.signing_key.parent}`",
        )  # fmt: skip
    try:
        load_private_key(settings.signing_key)
        return Check("signing key", True)
    except Exception as exc:  # noqa: BLE001
        return Check("signing key", False, str(exc).splitlines()[0][:200])


def worker_ping(celery: Any, node: str | None = None, timeout: float = 5.0) -> Check:
    """The worker process on this host answers a remote-control ping through the broker."""
    name = node or f"celery@{socket.gethostname()}"
    try:
        replies = celery.control.ping(destination=[name], timeout=timeout) or []
    except Exception as exc:  # noqa: BLE001
        return Check("worker", False, f"ping failed: {type(exc).__name__}: {str(exc)[:200]}")
    if any(name in reply for reply in replies):
        return Check("worker", True, f"{name} answered")
    return Check("worker", False, f"{name} did not answer within {timeout:g} s")


def worker_checks(
    settings: Settings, celery: Any, store: ArtifactStore, *, ping: bool, sandbox: bool = True
) -> list[Check]:
    """What a run worker needs: database, broker, artifact store, signing key, engine and image.

    With ACCEPTANCE_SIGNER=queue the worker holds no key: `acceptance signer` signs.
    """
    checks = [database(Database(settings.database_url)), broker(celery), artifacts(store)]
    if sandbox:
        if settings.signer == "local":
            checks.append(signing_key(settings, created_on_first_use=True))
        checks += docker_engine(settings)
    if ping:
        checks.append(worker_ping(celery))
    return checks


def signer_checks(settings: Settings, celery: Any, *, ping_node: str | None) -> list[Check]:
    """What `acceptance signer` needs: database, broker, the private key; its node answering."""
    checks = [
        database(Database(settings.database_url)), broker(celery),
        signing_key(settings, created_on_first_use=False),
    ]  # fmt: skip
    if ping_node is not None:
        checks.append(worker_ping(celery, ping_node))
    return checks


# -- the reconciler's last pass ---------------------------------------------------


@dataclass(frozen=True)
class ReconcilerPass:
    """When the reconciler last went over the runs, and every how many seconds it does."""

    at: dt.datetime
    every: float
    #: seconds since `at`, by the Redis server's clock (the same for every host)
    age: float

    @property
    def stale_after(self) -> float:
        return STALE_INTERVALS * self.every

    @property
    def stale(self) -> bool:
        return self.age > self.stale_after

    def check(self) -> Check:
        when = self.at.isoformat().replace("+00:00", "Z")
        if self.stale:
            return Check(
                "reconciler", False,
                f"stale: the last pass was at {when}, {self.age:.0f} s ago (every {self.every:g} s): "
                "is `acceptance scheduler` (or a worker with --beat) running?",
            )  # fmt: skip
        return Check("reconciler", True)

    def as_json(self) -> dict[str, Any]:
        return {
            "last_pass": self.at.isoformat().replace("+00:00", "Z"),
            "age_seconds": round(self.age, 1),
            "every": self.every,
            "stale_after": self.stale_after,
        }


def redis_client(broker_url: str) -> redis.Redis:
    """The broker's Redis, with short timeouts; ValueError for a broker that is not Redis."""
    return redis.Redis.from_url(
        broker_url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )


def note_reconciler_pass(settings: Settings, every: float) -> None:
    """Record a reconciler pass now (best effort: a failed note never fails the pass)."""
    try:
        with redis_client(settings.broker_url) as client:  # one pass every 30 s: no pool to keep
            seconds, micros = client.time()
            note = {"at": seconds + micros / 1e6, "every": every}
            client.set(RECONCILER_KEY, json.dumps(note), ex=RECONCILER_NOTE_TTL)
    except (redis.RedisError, ValueError) as exc:
        log.warning("reconciler_pass_not_noted", extra={"why": f"{type(exc).__name__}: {exc}"})


def last_reconciler_pass(client: redis.Redis) -> ReconcilerPass | None:
    """The last pass noted, or None when none is (never, or not within a week).

    Raises redis.RedisError when Redis does not answer.
    """
    raw = client.get(RECONCILER_KEY)
    if raw is None:
        return None
    try:
        note = json.loads(raw)
        at, every = float(note["at"]), float(note["every"])
    except (ValueError, TypeError, KeyError):
        return None  # not ours to read: as if never noted
    if not (math.isfinite(at) and math.isfinite(every) and every > 0):
        return None
    seconds, micros = client.time()
    return ReconcilerPass(
        at=dt.datetime.fromtimestamp(at, dt.UTC),
        every=every,
        age=max(0.0, seconds + micros / 1e6 - at),
    )
