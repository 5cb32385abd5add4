"""The service's commands: web, worker, signer, scheduler, db, users, tokens, audit, worker-health.

Each one that reads or writes the service's records first checks the database schema is current.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import socket
import sys
from typing import TYPE_CHECKING, Any

from acceptance.errors import PlatformError, UserInputError
from acceptance.settings import Settings

if TYPE_CHECKING:
    from acceptance.service.db import Database
from acceptance.cli.common import EXIT_PLATFORM
from acceptance.engine.keyring import ensure_signing_key


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance web [--host H] [--port P]"""
    from web.server import serve

    _require_schema(settings)
    if not settings.public_key.exists():  # the web app serves the public key only
        ensure_signing_key(settings)
    serve(settings, host=args.host, port=args.port, workers=args.workers)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance worker [--concurrency N] [--queues Q] [--beat]

    It first re-queues the runs this host's dead workers held (removing their
    sandboxes); without --beat it warns once when no scheduler's reconciler runs.
    """
    from acceptance.logs import bind_celery_logging
    from workers.celery_app import SIGNING_QUEUE
    from workers.startup import recover_this_host, warn_without_scheduler
    from workers.tasks import app

    queues = args.queues.split(",")
    if SIGNING_QUEUE in queues:
        raise UserInputError(
            f"a worker does not consume the `{SIGNING_QUEUE}` queue", hint="run `acceptance signer`"
        )
    database = _require_schema(settings)
    if "runs" in queues and settings.signer == "local":  # with `queue`, the signer holds the key
        ensure_signing_key(settings)
    bind_celery_logging(settings.log_format)
    # Before the pool forks (a dead worker's pid is not yet reused by one of ours).
    recover_this_host(database)
    database.engine.dispose()  # the pool's processes open their own connections
    if not args.beat:
        warn_without_scheduler(settings)
    argv = [
        "worker", "--loglevel=INFO", f"--concurrency={max(1, args.concurrency)}",
        f"--queues={args.queues}", "--pool=prefork", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    if args.beat:
        argv.append("--beat")
    app.worker_main(argv)
    return 0


def cmd_signer(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance signer [--concurrency N]"""
    from acceptance.engine.signing import load_private_key
    from acceptance.logs import bind_celery_logging
    from workers.celery_app import SIGNER_NODE, SIGNING_QUEUE
    from workers.tasks import app

    _require_schema(settings)
    if not settings.signing_key.exists():  # never created here: a new key would sign unnoticed
        raise PlatformError(
            f"the signing key {settings.signing_key} does not exist",
            hint=f"create it with `acceptance keygen --out {settings.signing_key.parent}`, "
            "or point ACCEPTANCE_SIGNING_KEY at the service's key",
        )
    load_private_key(settings.signing_key)  # an unsafe mode or another algorithm: said now
    logging.getLogger("workers.signer").setLevel(logging.INFO)  # every signature is logged
    bind_celery_logging(settings.log_format)
    app.worker_main([
        "worker", "--loglevel=INFO", f"--concurrency={max(1, args.concurrency)}",
        f"--queues={SIGNING_QUEUE}", f"--hostname={SIGNER_NODE}", "--pool=prefork",
        "--without-gossip", "--without-mingle",
    ])  # fmt: skip
    return 0


def _require_schema(settings: Settings) -> Database:
    """The service's database, once it is reachable and at the newest migration.

    Every command that reads or writes the service's records comes through
    here, so a database never migrated (or migrated by older code) is one clear
    sentence, never a traceback from the first query.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from acceptance.service.db import Database

    database = Database(settings.database_url)
    where = _safe_url(settings.database_url)
    try:
        current = database.is_current()
        empty = not current and not database.has_tables()
    except SQLAlchemyError as exc:
        raise PlatformError(
            f"the database at {where} is unreachable: {str(exc).splitlines()[0][:200]}",
            hint="check ACCEPTANCE_DATABASE_URL and that the server runs",
        ) from None
    if empty:
        raise PlatformError(
            f"the database at {where} has no tables yet", hint="run `acceptance db upgrade`"
        )
    if not current:
        raise PlatformError(
            f"the database at {where} is not at the newest schema",
            hint="run `acceptance db upgrade`",
        )
    return database


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance scheduler"""
    from workers.tasks import app

    app.start(["beat", "--loglevel=INFO"])
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance db upgrade"""
    from acceptance.service.db import upgrade

    upgrade(settings.database_url)
    print(f"database is up to date ({_safe_url(settings.database_url)})")
    return 0


def _safe_url(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def cmd_users_create(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance users create EMAIL --role ROLE [--language en|fr]"""
    from acceptance.service.accounts import create_user
    from acceptance.service.audit import CLI

    database = _require_schema(settings)
    password = _read_password()
    with database.session() as session:
        user = create_user(session, args.email, args.role, password, args.language, actor=CLI)
        print(f"created {args.role} {user.email} ({user.id})")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise UserInputError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance users disable EMAIL"""
    from acceptance.service.accounts import disable_user
    from acceptance.service.audit import CLI

    with _require_schema(settings).session() as session:
        user = disable_user(session, args.email, actor=CLI)
        print(f"disabled {user.email}: no sign-in, no API token, open dashboard sessions ended")
    return 0


def cmd_users_enable(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance users enable EMAIL"""
    from acceptance.service.accounts import enable_user
    from acceptance.service.audit import CLI

    with _require_schema(settings).session() as session:
        user = enable_user(session, args.email, actor=CLI)
        print(f"enabled {user.email} (revoked or expired tokens stay so)")
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance tokens create EMAIL [--expires LIFETIME]"""
    from acceptance.service.accounts import issue_token, parse_lifetime
    from acceptance.service.audit import CLI

    lifetime = parse_lifetime(args.expires) if args.expires is not None else None
    with _require_schema(settings).session() as session:
        issued = issue_token(session, args.email, lifetime, actor=CLI)
    # stdout holds the token alone, so `TOKEN=$(acceptance tokens create ...)` keeps working.
    print(issued.secret)
    until = f", expires {_when(issued.expires_at)}" if issued.expires_at else ", no expiry"
    print(f"· token id {issued.id}{until}", file=sys.stderr)
    print("· shown once: only its hash is kept", file=sys.stderr)
    return 0


def cmd_tokens_list(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance tokens list EMAIL"""
    from acceptance.service.accounts import list_tokens, token_state

    with _require_schema(settings).session() as session:
        tokens = list_tokens(session, args.email)
        if not tokens:
            print(f"{args.email.strip().lower()} has no API tokens")
        for token in tokens:
            print(
                f"{token.id}  {token_state(token).value:<7}  created {_when(token.created_at)}  "
                f"last used {_when(token.last_used_at)}  expires {_when(token.expires_at)}"
                + (f"  revoked {_when(token.revoked_at)}" if token.revoked_at else "")
            )
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance tokens revoke TOKEN_ID | --all EMAIL"""
    from acceptance.service.accounts import revoke_token, revoke_tokens
    from acceptance.service.audit import CLI

    with _require_schema(settings).session() as session:
        if args.all_of is not None:
            revoked = revoke_tokens(session, args.all_of, actor=CLI)
            print(f"revoked {len(revoked)} token(s) of {args.all_of.strip().lower()}")
            for token in revoked:
                print(f"  {token.id}")
            return 0
        token, changed = revoke_token(session, args.token_id, actor=CLI)
        print(
            f"{'revoked' if changed else 'already revoked:'} token {token.id} of {token.user.email}"
        )
    return 0


def cmd_audit_list(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance audit list [--action A] [--actor WHO] [--subject ID] [--since WHEN] [--json]"""
    from acceptance.service.audit import event_to_json, latest_events, parse_filter

    if not 1 <= args.limit <= 10_000:
        raise UserInputError("--limit: a number from 1 to 10000")
    wanted = parse_filter(
        {"action": args.action, "actor": args.actor, "subject": args.subject, "since": args.since}
    )
    with _require_schema(settings).session() as session:
        events = latest_events(session, wanted, args.limit)
        for event in events:
            if args.json:
                print(json.dumps(event_to_json(event), sort_keys=True))
            else:
                details = json.dumps(event.details, sort_keys=True, ensure_ascii=False)
                print(
                    f"{event.at.strftime('%Y-%m-%d %H:%M:%S UTC')}  {event.actor}  {event.action}  "
                    f"{event.subject_type}:{event.subject_id}  {details}"
                )
        if not events and not args.json:
            print("no audit events match", file=sys.stderr)
    return 0


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


def cmd_worker_health(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance worker-health [--ping] [--no-sandbox] [--signer] [--json]"""
    from acceptance.service.artifacts_s3 import artifact_store
    from acceptance.service.readiness import signer_checks, worker_checks
    from workers.celery_app import SIGNER_NODE, make_celery

    if args.signer:
        node = SIGNER_NODE.replace("%h", socket.gethostname()) if args.ping else None
        checks = signer_checks(settings, make_celery(settings), ping_node=node)
    else:
        checks = worker_checks(
            settings, make_celery(settings), artifact_store(settings),
            ping=args.ping, sandbox=not args.no_sandbox,
        )  # fmt: skip
    if args.json:
        print(json.dumps([{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]))
    else:
        for check in checks:
            print(f"[{'ok  ' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    return 0 if all(check.ok for check in checks) else EXIT_PLATFORM
