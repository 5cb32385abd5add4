"""Readiness checks shared by the web app's /readyz and `acceptance worker-health`.

Each check answers quickly (seconds), never raises, and says what is wrong in
one line, so a container health check or an operator can act on it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from acceptance.artifacts import ArtifactStore
from acceptance.db import Database
from acceptance.settings import Settings


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
    from acceptance.signing import load_private_key

    if created_on_first_use and not settings.signing_key.exists():
        return Check(
            "signing key", True, f"not created yet: `acceptance worker` creates {settings.signing_key}"
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
