"""The `acceptance` command line: the engine's commands (check, verify...) and the service's (web, worker...).

This package sits above every other: the service's commands start the web app and the workers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from acceptance import __version__
from acceptance.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CODES_HELP,
    EXIT_PLATFORM,
    EXIT_REJECTED,
)
from acceptance.cli.engine_commands import (
    cmd_advisories_import,
    cmd_advisories_status,
    cmd_check,
    cmd_doctor,
    cmd_image_build,
    cmd_keygen,
    cmd_verify,
)
from acceptance.cli.service_commands import (
    cmd_audit_list,
    cmd_db_upgrade,
    cmd_scheduler,
    cmd_signer,
    cmd_tokens_create,
    cmd_tokens_list,
    cmd_tokens_revoke,
    cmd_users_create,
    cmd_users_disable,
    cmd_users_enable,
    cmd_web,
    cmd_worker,
    cmd_worker_health,
)
from acceptance.errors import AcceptanceError, PlatformError, SubmissionError, UserInputError
from acceptance.settings import Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    settings = load_settings()
    from acceptance.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level or "WARNING")
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        return handler(args, settings)
    except SubmissionError as exc:
        _error(exc)
        return EXIT_REJECTED
    except UserInputError as exc:
        _error(exc)
        return EXIT_BAD_INPUT
    except PlatformError as exc:
        _error(exc)
        return EXIT_PLATFORM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_PLATFORM


def _error(exc: AcceptanceError) -> None:
    print(f"error: {exc.diagnostics()}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acceptance",
        description="Decide, verifiably, whether delivered code meets its acceptance spec.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"acceptance {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    keygen = sub.add_parser("keygen", help="create an Ed25519 signing key pair")
    keygen.add_argument(
        "--out", required=True, type=Path, help="directory for signing.key and signing.pub"
    )
    keygen.set_defaults(handler=cmd_keygen)

    image = sub.add_parser("image", help="manage the sandbox image")
    image_sub = image.add_subparsers(required=True, metavar="ACTION")
    build = image_sub.add_parser("build", help="build the sandbox image (idempotent)")
    build.add_argument("--base-image", help="build FROM this registry image instead of debootstrap")
    build.add_argument("--mirror", help="Debian mirror for debootstrap (default: from apt sources)")
    build.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    build.add_argument(
        "--browser",
        action="store_true",
        help="build the browser variant (Chromium, Playwright, axe-core) for the accessibility check",
    )
    build.add_argument(
        "--runtime",
        choices=["python", "shell", "node"],
        default="python",
        help="the runtime whose image to build: python (the main image, default), shell "
        "(bash, bats and shellcheck from Debian) or node (nodejs and npm from Debian)",
    )
    build.set_defaults(handler=cmd_image_build)

    check = sub.add_parser(
        "check",
        help="judge a repository against a spec",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "source", metavar="SOURCE", help="https/http/git URL or a local git repository"
    )
    check.add_argument("--spec", required=True, type=Path, help="the acceptance spec (YAML)")
    check.add_argument("--ref", help="branch, tag or commit (default: the default branch)")
    check.add_argument("--out", type=Path, help="write the signed report (DSSE envelope) here")
    check.add_argument("--key", type=Path, help="signing key (default: ACCEPTANCE_SIGNING_KEY)")
    check.add_argument("--json", action="store_true", help="print the report statement as JSON")
    check.add_argument(
        "--logs", type=Path, help="write each stage's sandbox output into this folder"
    )
    check.add_argument(
        "--artifacts", type=Path,
        help="write the checks' files (JUnit, SARIF, SBOM, pip-audit, licences) into this folder",
    )  # fmt: skip
    check.set_defaults(handler=cmd_check)

    verify = sub.add_parser(
        "verify",
        help="verify a signed report offline",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("report", metavar="REPORT", type=Path)
    verify.add_argument(
        "--pubkey", type=Path,
        help="the service's public key, from GET /api/v1/keys or a run's page in the dashboard "
        "(default: beside this machine's signing key)",
    )  # fmt: skip
    verify.add_argument(
        "--artifacts", type=Path, metavar="DIR",
        help="also check the files in DIR (JUnit, SARIF, SBOM...) against the report's sha256 and sizes",
    )  # fmt: skip
    verify.add_argument(
        "--with-report", type=Path, metavar="REPORT",
        help="REPORT is a signed decision or its SLSA VSA: also check that it rests on this signed report "
        "(the sha256 of its envelope)",
    )  # fmt: skip
    verify.add_argument("--json", action="store_true", help="print the verified statement as JSON")
    verify.set_defaults(handler=cmd_verify)

    doctor = sub.add_parser("doctor", help="say what is missing and how to fix it")
    doctor.set_defaults(handler=cmd_doctor)

    advisories = sub.add_parser("advisories", help="manage the offline vulnerability advisories")
    advisories_sub = advisories.add_subparsers(required=True, metavar="ACTION")
    adv_import = advisories_sub.add_parser(
        "import",
        help="add or replace one source of the store: PyPI from a PyPA advisory-database .tar.gz "
        "or OSV all.zip, npm from the Node.js Security WG's .tar.gz (the other sources are kept)",
    )
    adv_import.add_argument("archive", metavar="ARCHIVE", type=Path)
    adv_import.add_argument(
        "--ecosystem",
        choices=["PyPI", "npm"],
        help="with an OSV all.zip export: the ecosystem whose records to import (default PyPI)",
    )
    adv_import.set_defaults(handler=cmd_advisories_import)
    adv_status = advisories_sub.add_parser(
        "status",
        help="say what the store holds: each source, its ecosystem, records, newest record",
    )
    adv_status.set_defaults(handler=cmd_advisories_status)

    web = sub.add_parser("web", help="serve the web app and API (gunicorn)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8000)
    web.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    web.set_defaults(handler=cmd_web)

    worker = sub.add_parser("worker", help="run a Celery worker for acceptance runs")
    worker.add_argument("--concurrency", type=int, default=1, help="runs at the same time")
    worker.add_argument(
        "--queues", default="runs,service", help="comma-separated queues to consume (runs, service)"
    )
    worker.add_argument("--beat", action="store_true", help="also run the reconciler's schedule")
    worker.set_defaults(handler=cmd_worker)

    signer = sub.add_parser(
        "signer", help="sign the workers' reports (queue `signing`; ACCEPTANCE_SIGNER=queue)"
    )
    signer.add_argument("--concurrency", type=int, default=1, help="signatures at the same time")
    signer.set_defaults(handler=cmd_signer)

    scheduler = sub.add_parser("scheduler", help="run the reconciler's schedule (Celery beat)")
    scheduler.set_defaults(handler=cmd_scheduler)

    db = sub.add_parser("db", help="the service's database")
    db_sub = db.add_subparsers(required=True, metavar="ACTION")
    db_upgrade = db_sub.add_parser("upgrade", help="apply migrations")
    db_upgrade.set_defaults(handler=cmd_db_upgrade)

    users = sub.add_parser("users", help="service accounts")
    users_sub = users.add_subparsers(required=True, metavar="ACTION")
    users_create = users_sub.add_parser(
        "create", help="create an account (password from a prompt or stdin)"
    )
    users_create.add_argument("email", metavar="EMAIL")
    users_create.add_argument(
        "--role", required=True, choices=["admin", "owner", "reviewer", "finance"]
    )
    users_create.add_argument(
        "--language",
        default="en",
        choices=["en", "fr"],
        help="the language of the emails this person receives",
    )
    users_create.set_defaults(handler=cmd_users_create)
    users_disable = users_sub.add_parser(
        "disable", help="no sign-in, no API token, and open dashboard sessions end"
    )
    users_disable.add_argument("email", metavar="EMAIL")
    users_disable.set_defaults(handler=cmd_users_disable)
    users_enable = users_sub.add_parser("enable", help="undo `users disable`")
    users_enable.add_argument("email", metavar="EMAIL")
    users_enable.set_defaults(handler=cmd_users_enable)

    tokens = sub.add_parser("tokens", help="API tokens")
    tokens_sub = tokens.add_subparsers(required=True, metavar="ACTION")
    tokens_create = tokens_sub.add_parser(
        "create", help="create an API token (the token on stdout, once; its id on stderr)"
    )
    tokens_create.add_argument("email", metavar="EMAIL")
    tokens_create.add_argument(
        "--expires",
        metavar="LIFETIME",
        help="refused after this long: 90m, 12h, 30d, 2w (default: never)",
    )
    tokens_create.set_defaults(handler=cmd_tokens_create)
    tokens_list = tokens_sub.add_parser("list", help="a user's tokens: id, state, dates")
    tokens_list.add_argument("email", metavar="EMAIL")
    tokens_list.set_defaults(handler=cmd_tokens_list)
    tokens_revoke = tokens_sub.add_parser(
        "revoke", help="revoke one token, or every token of a user"
    )
    which = tokens_revoke.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "token_id", metavar="TOKEN_ID", nargs="?", help="the id (or the token itself)"
    )
    which.add_argument("--all", metavar="EMAIL", dest="all_of", help="every token of this user")
    tokens_revoke.set_defaults(handler=cmd_tokens_revoke)

    audit = sub.add_parser("audit", help="the audit trail: who changed what, and when")
    audit_sub = audit.add_subparsers(required=True, metavar="ACTION")
    audit_list = audit_sub.add_parser("list", help="the newest events first")
    audit_list.add_argument("--action", help="one action, such as decision.recorded")
    audit_list.add_argument("--actor", help="an email, a user id, or cli, webhook, system")
    audit_list.add_argument("--subject", help="a record's id, or type:id (submission:ID)")
    audit_list.add_argument("--since", help="an ISO 8601 date or time (UTC unless it says)")
    audit_list.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    audit_list.add_argument("--json", action="store_true", help="one JSON object per line")
    audit_list.set_defaults(handler=cmd_audit_list)

    worker_health = sub.add_parser(
        "worker-health", help="check what a worker needs (exit 0 ready, 3 not ready)"
    )
    worker_health.add_argument(
        "--ping", action="store_true", help="also require this host's worker to answer a ping"
    )
    worker_health.add_argument(
        "--no-sandbox", action="store_true", help="skip the Docker engine, image and key checks"
    )
    worker_health.add_argument(
        "--signer", action="store_true",
        help="check what `acceptance signer` needs instead (database, broker, private key)",
    )  # fmt: skip
    worker_health.add_argument("--json", action="store_true", help="print the checks as JSON")
    worker_health.set_defaults(handler=cmd_worker_health)
    return parser
