"""The `acceptance` command line: the engine (check, verify...) and the service (web, worker...)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from acceptance import __version__
from acceptance.errors import AcceptanceError, PlatformError, SubmissionError, UserInputError
from acceptance.settings import Settings, load_settings

if TYPE_CHECKING:
    from acceptance.engine.artifact_check import ArtifactComparison
    from acceptance.service.db import Database

EXIT_ACCEPTED = 0
EXIT_REJECTED = 1
EXIT_BAD_INPUT = 2
EXIT_PLATFORM = 3

EXIT_CODES_HELP = """exit codes:
  check:  0 accepted, 1 rejected, 2 bad input (spec, arguments, unreachable or
          invalid source), 3 could not judge (Docker down, image missing)
  verify: 0 intact signature by the given key (and, with --artifacts, every
          file matches the report; with --with-report, the decision rests on
          that report), 1 verification failed, a file is missing, changed or
          extra, or the report is not the one the decision names,
          2 unreadable report, key or folder
  doctor: 0 ready, 3 something is missing (each line says how to fix it)
"""

_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: object) -> str:
    """Supplier-controlled text made safe for a terminal (no escape sequences)."""
    return _CONTROL.sub("", str(text))


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
    keygen.add_argument("--out", required=True, type=Path, help="directory for signing.key and signing.pub")
    keygen.set_defaults(handler=cmd_keygen)

    image = sub.add_parser("image", help="manage the sandbox image")
    image_sub = image.add_subparsers(required=True, metavar="ACTION")
    build = image_sub.add_parser("build", help="build the sandbox image (idempotent)")
    build.add_argument("--base-image", help="build FROM this registry image instead of debootstrap")
    build.add_argument("--mirror", help="Debian mirror for debootstrap (default: from apt sources)")
    build.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    build.set_defaults(handler=cmd_image_build)

    check = sub.add_parser(
        "check",
        help="judge a repository against a spec",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("source", metavar="SOURCE", help="https/http/git URL or a local git repository")
    check.add_argument("--spec", required=True, type=Path, help="the acceptance spec (YAML)")
    check.add_argument("--ref", help="branch, tag or commit (default: the default branch)")
    check.add_argument("--out", type=Path, help="write the signed report (DSSE envelope) here")
    check.add_argument("--key", type=Path, help="signing key (default: ACCEPTANCE_SIGNING_KEY)")
    check.add_argument("--json", action="store_true", help="print the report statement as JSON")
    check.add_argument("--logs", type=Path, help="write each stage's sandbox output into this folder")
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
        "import", help="replace the store with a PyPA advisory-database .tar.gz or OSV all.zip"
    )
    adv_import.add_argument("archive", metavar="ARCHIVE", type=Path)
    adv_import.set_defaults(handler=cmd_advisories_import)
    adv_status = advisories_sub.add_parser("status", help="say what the store holds")
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
    users_create = users_sub.add_parser("create", help="create an account (password from a prompt or stdin)")
    users_create.add_argument("email", metavar="EMAIL")
    users_create.add_argument("--role", required=True, choices=["admin", "owner", "reviewer", "finance"])
    users_create.add_argument(
        "--language", default="en", choices=["en", "fr"], help="the language of the emails this person receives"
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
        "--expires", metavar="LIFETIME", help="refused after this long: 90m, 12h, 30d, 2w (default: never)"
    )
    tokens_create.set_defaults(handler=cmd_tokens_create)
    tokens_list = tokens_sub.add_parser("list", help="a user's tokens: id, state, dates")
    tokens_list.add_argument("email", metavar="EMAIL")
    tokens_list.set_defaults(handler=cmd_tokens_list)
    tokens_revoke = tokens_sub.add_parser("revoke", help="revoke one token, or every token of a user")
    which = tokens_revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("token_id", metavar="TOKEN_ID", nargs="?", help="the id (or the token itself)")
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


# -- keygen -------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance keygen --out DIR"""
    from acceptance.engine.signing import generate_keypair, keyid_for, load_public_key

    private, public = generate_keypair(args.out)
    print(f"wrote {private} (private, mode 0600) and {public}")
    print(f"key id: {keyid_for(load_public_key(public))}")
    return 0


# -- image build --------------------------------------------------------------


def cmd_image_build(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance image build"""
    from sandbox.docker import docker_client
    from sandbox.image import ImageBuilder

    builder = ImageBuilder(docker_client(), settings.cache_dir, progress=_say)
    built = builder.build(
        base_image=args.base_image or settings.sandbox_base_image,
        mirror=args.mirror or settings.debian_mirror,
        force=args.force,
    )
    tools = ", ".join(f"{k} {v}" for k, v in sorted(built.tools.items()))
    print(f"{built.tag} {built.image_id}")
    print(f"tools: {tools}")
    return 0


def _say(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


# -- check --------------------------------------------------------------------


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance check SOURCE --spec SPEC"""
    from acceptance.engine.pipeline import EngineConfig, run_acceptance
    from acceptance.engine.spec import load_spec
    from sandbox.image import default_image_tag

    spec = load_spec(args.spec)
    key = _signing_key(args, settings) if args.out else None
    config = EngineConfig(
        image=settings.sandbox_image or default_image_tag(settings.sandbox_base_image),
        cache_dir=settings.cache_dir,
        work_dir=settings.work_dir,
        runtime=settings.sandbox_runtime,
        allow_local_sources=True,
        allowed_hosts=settings.git_allowed_hosts,
        osv_url=settings.osv_url,
        advisories_db=settings.advisories_db,
        env_cache_max_bytes=settings.env_cache_max_bytes,
    )
    result = run_acceptance(args.source, args.ref, spec, config, progress=_progress)
    if args.logs:
        _write_logs(args.logs, result.logs)
    if args.artifacts:
        _write_artifacts(args.artifacts, result.artifacts)
    envelope_path = None
    if key is not None:
        envelope_path = _sign_to(result.statement, key, args.out)
    if args.json:
        json.dump(result.statement, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        _print_summary(result.statement, envelope_path, sys.stdout)
    return {"accepted": EXIT_ACCEPTED, "rejected": EXIT_REJECTED}.get(result.verdict, EXIT_PLATFORM)


def _signing_key(args: argparse.Namespace, settings: Settings) -> Any:
    from acceptance.engine.signing import load_private_key

    if args.key is not None:
        return load_private_key(args.key)
    return ensure_signing_key(settings)


def ensure_signing_key(settings: Settings) -> Any:
    """The signing key, created on first use with a line saying so."""
    from acceptance.engine.signing import KeyFileError, generate_keypair, load_private_key

    if not settings.signing_key.exists():
        try:
            generate_keypair(settings.signing_key.parent)
            print(f"· created a new signing key at {settings.signing_key}", file=sys.stderr)
            logging.getLogger("acceptance").warning(
                "created a new signing key at %s", settings.signing_key
            )
        except (FileExistsError, KeyFileError):
            if not settings.signing_key.exists():
                raise
            # another process created it first
    return load_private_key(settings.signing_key)


def _sign_to(statement: dict[str, Any], key: Any, out: Path) -> Path:
    from acceptance.engine.report import serialize
    from acceptance.engine.signing import sign_envelope

    envelope = sign_envelope(serialize(statement), key)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def _write_logs(folder: Path, logs: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in logs.items():
        (folder / f"{name}.log").write_text(text, encoding="utf-8")


def _write_artifacts(folder: Path, artifacts: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in artifacts.items():
        (folder / Path(name).name).write_bytes(data)


def _progress(stage: str, message: str) -> None:
    print(f"[{stage}] {clean(message)}", file=sys.stderr, flush=True)


def _print_summary(statement: dict[str, Any], envelope: Path | None, out: TextIO) -> None:
    predicate = statement["predicate"]
    source = predicate["source"]
    print(f"Verdict: {predicate['verdict'].upper()}", file=out)
    print(f"Source:  {clean(source['url'])} @ {source.get('commit') or '(no commit)'}", file=out)
    print(f"Spec:    {clean(predicate['spec']['title'])} (sha256 {predicate['spec']['sha256'][:16]}…)", file=out)
    for check in predicate["checks"]:
        print(f"Check:   {check['id']}: {check['status']} - {clean(check['summary'])}", file=out)
        for line in _evidence_lines(check)[:20]:
            print(f"           {clean(line)}", file=out)
    for code, reason in zip(predicate["reason_codes"], predicate["reasons"], strict=False):
        print(f"Reason:  [{code}] {clean(reason)}", file=out)
    timings = ", ".join(f"{s['name']} {s['seconds']:.1f}s" for s in predicate["stages"])
    print(f"Stages:  {timings}", file=out)
    if envelope is not None:
        print(f"Report:  {envelope} (signed; check with `acceptance verify {envelope}`)", file=out)


def _evidence_lines(check: dict[str, Any]) -> list[str]:
    """The few lines of evidence a person reads first, per kind of check."""
    lines = [f"failing: {test}" for test in check.get("failing_tests", [])]
    for finding in check.get("findings", []):
        if finding.get("blocking", True):
            lines.append(
                f"{finding.get('filename')}:{finding.get('line')} {finding.get('test_id')} "
                f"{finding.get('severity')}: {finding.get('text')}"
            )
    for vuln in check.get("vulnerabilities", []):
        ignored = " (ignored by the spec)" if vuln.get("ignored") else ""
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix"
        lines.append(f"{vuln.get('package')} {vuln.get('version')}: {vuln.get('id')} (fix: {fixes}){ignored}")
    own = check.get("licence")
    if isinstance(own, dict) and own.get("spdx"):
        lines.append(f"licence: {own['spdx']} from {own.get('source_file')}")
    for dep in check.get("dependencies", []):
        if isinstance(dep, dict) and dep.get("compatible") is not True:
            lines.append(f"dependency {dep.get('name')} {dep.get('version')}: {dep.get('licence')} (not compatible)")
    return lines


# -- verify -------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance verify REPORT [--pubkey PUB] [--artifacts DIR] [--with-report REPORT] [--json]"""
    from acceptance.engine.report import PREDICATE_TYPE, STATEMENT_TYPE
    from acceptance.engine.signing import SignatureError, read_envelope, verify_envelope
    from acceptance.service.decision_statement import is_decision
    from acceptance.service.vsa import is_vsa

    public_key = _verifying_key(args.pubkey, settings)
    envelope = read_envelope(args.report)
    try:
        verified = verify_envelope(envelope, [public_key])
        statement = json.loads(verified.payload)
        if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
            raise SignatureError("the signed payload is not an in-toto Statement v1")
        if statement.get("predicateType") != PREDICATE_TYPE and not (is_decision(statement) or is_vsa(statement)):
            raise SignatureError(f"the signed payload is not an acceptance report ({PREDICATE_TYPE})")
    except SignatureError as exc:
        print(f"FAILED: {exc.message}", file=sys.stderr)
        if args.pubkey is None:  # perhaps this machine's key is not the one that signed
            print(
                f"· checked with this machine's key {settings.public_key}; the service's keys "
                "are at GET /api/v1/keys and on each run's page of the dashboard (--pubkey FILE)",
                file=sys.stderr,
            )
        return EXIT_REJECTED
    except ValueError as exc:
        print(f"FAILED: the signed payload is not JSON: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    if is_decision(statement) or is_vsa(statement) or args.with_report is not None:
        return _verified_decision(statement, verified.keyid, args)
    predicate = statement.get("predicate", {})
    files = _compare_artifacts(predicate, args) if args.artifacts is not None else None
    if args.json:
        json.dump(statement, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        subject = (statement.get("subject") or [{}])[0]
        print(f"OK: signature valid (key {verified.keyid})")
        print(f"Verdict: {clean(predicate.get('verdict'))}")
        print(f"Subject: {clean(subject.get('name'))} @ {clean(subject.get('digest', {}).get('gitCommit'))}")
        print(f"Spec:    {clean(predicate.get('spec', {}).get('sha256'))}")
        reused = predicate.get("reused_from")
        if isinstance(reused, dict):  # the evidence of a run of another commit of the same tree
            print(
                f"Reuses:  run {clean(reused.get('run_id'))} @ {clean(reused.get('commit'))} "
                f"(its report's sha256 {clean(reused.get('report_sha256'))})"
            )
    if files is None:
        return 0
    return _print_artifact_comparison(files, args.artifacts, stream=sys.stderr if args.json else sys.stdout)


def _verified_decision(statement: dict[str, Any], keyid: str, args: argparse.Namespace) -> int:
    """Print a verified decision or its SLSA VSA; with --with-report, check it rests on that report.

    A VSA whose verificationResult is FAILED is still an intact signature (exit 0):
    it records that the owner did not accept the delivery.
    """
    from acceptance.engine.signing import read_envelope
    from acceptance.service import vsa
    from acceptance.service.decision_statement import describe, is_decision, report_link_problem

    if not (is_decision(statement) or vsa.is_vsa(statement)):
        print("FAILED: --with-report needs a signed decision or VSA, this is a report", file=sys.stderr)
        return EXIT_REJECTED
    if args.json:
        json.dump(statement, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(f"OK: signature valid (key {keyid})")
        for line in vsa.describe(statement) if vsa.is_vsa(statement) else describe(statement):
            print(clean(line))
    if args.with_report is None:
        return 0
    read_envelope(args.with_report)  # unreadable or not JSON: bad input (exit 2)
    problem = report_link_problem(statement, args.with_report.read_bytes())
    if problem is not None:
        print(f"FAILED: {args.with_report} is not the report this decision rests on: {problem}", file=sys.stderr)
        return EXIT_REJECTED
    stream = sys.stderr if args.json else sys.stdout
    print(f"Report link: {args.with_report} is the report this decision rests on", file=stream)
    return 0


def _verifying_key(pubkey: Path | None, settings: Settings) -> Any:
    """The key given, else this machine's; without either, where the service's key is found."""
    from acceptance.engine.signing import load_public_key

    if pubkey is None and not settings.public_key.exists():
        raise UserInputError(
            f"no --pubkey given and no public key at {settings.public_key}",
            hint="the service publishes its public keys at GET /api/v1/keys (no token needed; "
            "save the `pem` of the key whose `keyid` the report's signature names) and on each "
            "run's page of the dashboard (\"Download the public key\"); then pass --pubkey FILE",
        )
    return load_public_key(pubkey or settings.public_key)


def _compare_artifacts(predicate: object, args: argparse.Namespace) -> ArtifactComparison:
    from acceptance.engine.artifact_check import compare_artifacts, recorded_artifacts

    return compare_artifacts(recorded_artifacts(predicate), args.artifacts, skip=[args.report])


def _print_artifact_comparison(files: ArtifactComparison, folder: Path, stream: TextIO) -> int:
    if files.ok:
        print(f"Artifacts: all {len(files.matching)} files in {folder} match the signed report", file=stream)
        return 0
    print(f"FAILED: the files in {folder} do not match the signed report", file=sys.stderr)
    for problem in files.problems:
        print(f"  {clean(problem)}", file=sys.stderr)
    return EXIT_REJECTED


# -- advisories ---------------------------------------------------------------


def cmd_advisories_import(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance advisories import ARCHIVE"""
    from acceptance.engine.advisories import import_archive

    summary = import_archive(args.archive, settings.advisories_db)
    print(
        f"imported {summary.records} advisories ({summary.withdrawn} withdrawn) "
        f"for {summary.packages} packages from {clean(summary.source)} in {summary.seconds:.1f} s"
    )
    print(f"newest modified: {summary.newest_modified or 'unknown'}")
    if summary.skipped:
        print(f"skipped {summary.skipped} unreadable record(s)")
    print(f"store: {settings.advisories_db}")
    return 0


def cmd_advisories_status(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance advisories status"""
    from acceptance.engine.advisories import AdvisoryStore

    status = AdvisoryStore(settings.advisories_db).status()
    if status.records == 0:
        print(f"no advisories imported (store: {settings.advisories_db})")
        print("import them with: acceptance advisories import ARCHIVE")
        return EXIT_PLATFORM
    print(f"{status.records} advisories ({status.withdrawn} withdrawn) for {status.packages} packages")
    print(f"source: {clean(status.source)} (sha256 {status.sha256})")
    print(f"imported at: {status.imported_at}")
    print(f"newest modified: {status.newest_modified or 'unknown'}")
    return 0


# -- service ------------------------------------------------------------------


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
    from acceptance.service.audit import CLI
    from acceptance.service.core import create_user

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
    from acceptance.service.audit import CLI
    from acceptance.service.core import disable_user

    with _require_schema(settings).session() as session:
        user = disable_user(session, args.email, actor=CLI)
        print(f"disabled {user.email}: no sign-in, no API token, open dashboard sessions ended")
    return 0


def cmd_users_enable(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance users enable EMAIL"""
    from acceptance.service.audit import CLI
    from acceptance.service.core import enable_user

    with _require_schema(settings).session() as session:
        user = enable_user(session, args.email, actor=CLI)
        print(f"enabled {user.email} (revoked or expired tokens stay so)")
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance tokens create EMAIL [--expires LIFETIME]"""
    from acceptance.service.audit import CLI
    from acceptance.service.core import issue_token, parse_lifetime

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
    from acceptance.service.core import list_tokens, token_state

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
    from acceptance.service.audit import CLI
    from acceptance.service.core import revoke_token, revoke_tokens

    with _require_schema(settings).session() as session:
        if args.all_of is not None:
            revoked = revoke_tokens(session, args.all_of, actor=CLI)
            print(f"revoked {len(revoked)} token(s) of {args.all_of.strip().lower()}")
            for token in revoked:
                print(f"  {token.id}")
            return 0
        token, changed = revoke_token(session, args.token_id, actor=CLI)
        print(f"{'revoked' if changed else 'already revoked:'} token {token.id} of {token.user.email}")
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


# -- doctor -------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance doctor"""
    problems = 0
    for ok, what, fix in _doctor_checks(settings):
        mark = "ok  " if ok else "MISS"
        print(f"[{mark}] {what}")
        if not ok:
            problems += 1
            print(f"       fix: {fix}")
    return 0 if problems == 0 else EXIT_PLATFORM


def _doctor_checks(settings: Settings) -> list[tuple[bool, str, str]]:
    from sandbox.image import default_image_tag

    results: list[tuple[bool, str, str]] = []
    git = shutil.which("git")
    results.append((git is not None, f"git: {git or 'not found'}", "apt-get install -y git"))
    image = settings.sandbox_image or default_image_tag(settings.sandbox_base_image)
    try:
        from sandbox.docker import docker_client

        client = docker_client(timeout=10)
        version = client.version().get("Version", "?")
        results.append((True, f"Docker engine {version}", ""))
        try:
            client.images.get(image)
            results.append((True, f"sandbox image {image}", ""))
        except Exception:  # noqa: BLE001 - any failure means "not usable"
            results.append((False, f"sandbox image {image} is missing", "acceptance image build"))
    except PlatformError as exc:
        results.append(
            (
                False,
                f"Docker engine unreachable ({exc.message.splitlines()[0][:120]})",
                "apt-get install -y docker.io && dockerd --bridge=none --iptables=false &",
            )
        )
        results.append((False, f"sandbox image {image} (cannot check without Docker)", "start Docker first"))
    debootstrap = shutil.which("debootstrap")
    results.append(
        (
            debootstrap is not None or settings.sandbox_base_image is not None,
            f"debootstrap (to build the image without a registry): {debootstrap or 'not found'}",
            "apt-get install -y debootstrap",
        )
    )
    results.append(_key_check(settings))
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=False
    )
    results.append((pip.returncode == 0, "pip (downloads wheels on the host)", "install pip"))
    return results


def _key_check(settings: Settings) -> tuple[bool, str, str]:
    if settings.signer == "queue":  # this host never holds the private key
        return True, "signing key: held by `acceptance signer` (ACCEPTANCE_SIGNER=queue)", ""
    from acceptance.engine.signing import KeyFileError, load_private_key

    key = settings.signing_key
    if not key.exists():  # as the README says: created on first use, nothing to fix
        first_use = "created on first use by `acceptance check --out`, `web` or `worker`"
        return True, f"signing key {key}: not created yet ({first_use})", ""
    try:
        load_private_key(key)
    except KeyFileError as exc:
        shared = key.stat().st_mode & 0o077
        fix = f"chmod 600 {key}" if shared else f"move it away, then `acceptance keygen --out {key.parent}`"
        return False, f"signing key {key}: {exc.message.splitlines()[0][:160]}", fix
    return True, f"signing key {key}", ""
