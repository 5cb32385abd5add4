"""The engine's commands: keygen, image build, check, verify, advisories, doctor.

They judge and verify without the service's database (verify also reads signed decisions).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from acceptance.errors import PlatformError, UserInputError
from acceptance.settings import Settings

if TYPE_CHECKING:
    from acceptance.engine.artifact_check import ArtifactComparison
from acceptance.cli.common import EXIT_ACCEPTED, EXIT_PLATFORM, EXIT_REJECTED, clean
from acceptance.engine.keyring import ensure_signing_key


def cmd_keygen(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance keygen --out DIR"""
    from acceptance.engine.signing import generate_keypair, keyid_for, load_public_key

    private, public = generate_keypair(args.out)
    print(f"wrote {private} (private, mode 0600) and {public}")
    print(f"key id: {keyid_for(load_public_key(public))}")
    return 0


def cmd_image_build(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance image build"""
    from sandbox.docker import docker_client
    from sandbox.image import ImageBuilder

    if getattr(args, "browser", False):
        from sandbox.browser_image import BrowserImageBuilder

        browser = BrowserImageBuilder(docker_client(), settings.cache_dir, progress=_say)
        built = browser.build_browser(
            mirror=args.mirror or settings.debian_mirror, force=args.force
        )
        print(f"{built.tag} {built.image_id}")
        print("tools: " + ", ".join(f"{k} {v}" for k, v in sorted(built.tools.items())))
        return 0
    if getattr(args, "runtime", "python") == "shell":
        from sandbox.shell_image import ShellImageBuilder

        shell = ShellImageBuilder(docker_client(), settings.cache_dir, progress=_say)
        built = shell.build_shell(mirror=args.mirror or settings.debian_mirror, force=args.force)
        print(f"{built.tag} {built.image_id}")
        print("tools: " + ", ".join(f"{k} {v}" for k, v in sorted(built.tools.items())))
        return 0
    if getattr(args, "runtime", "python") == "node":
        from sandbox.node_image import NodeImageBuilder

        node = NodeImageBuilder(docker_client(), settings.cache_dir, progress=_say)
        built = node.build_node(mirror=args.mirror or settings.debian_mirror, force=args.force)
        print(f"{built.tag} {built.image_id}")
        print("tools: " + ", ".join(f"{k} {v}" for k, v in sorted(built.tools.items())))
        return 0
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
        npm_registry=settings.npm_registry,
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
    print(
        f"Spec:    {clean(predicate['spec']['title'])} (sha256 {predicate['spec']['sha256'][:16]}…)",
        file=out,
    )
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
        lines.append(
            f"{vuln.get('package')} {vuln.get('version')}: {vuln.get('id')} (fix: {fixes}){ignored}"
        )
    own = check.get("licence")
    if isinstance(own, dict) and own.get("spdx"):
        lines.append(f"licence: {own['spdx']} from {own.get('source_file')}")
    for dep in check.get("dependencies", []):
        if isinstance(dep, dict) and dep.get("compatible") is not True:
            lines.append(
                f"dependency {dep.get('name')} {dep.get('version')}: {dep.get('licence')} (not compatible)"
            )
    return lines


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
        if statement.get("predicateType") != PREDICATE_TYPE and not (
            is_decision(statement) or is_vsa(statement)
        ):
            raise SignatureError(
                f"the signed payload is not an acceptance report ({PREDICATE_TYPE})"
            )
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
        print(
            f"Subject: {clean(subject.get('name'))} @ {clean(subject.get('digest', {}).get('gitCommit'))}"
        )
        print(f"Spec:    {clean(predicate.get('spec', {}).get('sha256'))}")
        reused = predicate.get("reused_from")
        if isinstance(reused, dict):  # the evidence of a run of another commit of the same tree
            print(
                f"Reuses:  run {clean(reused.get('run_id'))} @ {clean(reused.get('commit'))} "
                f"(its report's sha256 {clean(reused.get('report_sha256'))})"
            )
    if files is None:
        return 0
    return _print_artifact_comparison(
        files, args.artifacts, stream=sys.stderr if args.json else sys.stdout
    )


def _verified_decision(statement: dict[str, Any], keyid: str, args: argparse.Namespace) -> int:
    """Print a verified decision or its SLSA VSA; with --with-report, check it rests on that report.

    A VSA whose verificationResult is FAILED is still an intact signature (exit 0):
    it records that the owner did not accept the delivery.
    """
    from acceptance.engine.signing import read_envelope
    from acceptance.service import vsa
    from acceptance.service.decision_statement import describe, is_decision, report_link_problem

    if not (is_decision(statement) or vsa.is_vsa(statement)):
        print(
            "FAILED: --with-report needs a signed decision or VSA, this is a report",
            file=sys.stderr,
        )
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
        print(
            f"FAILED: {args.with_report} is not the report this decision rests on: {problem}",
            file=sys.stderr,
        )
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
            'run\'s page of the dashboard ("Download the public key"); then pass --pubkey FILE',
        )
    return load_public_key(pubkey or settings.public_key)


def _compare_artifacts(predicate: object, args: argparse.Namespace) -> ArtifactComparison:
    from acceptance.engine.artifact_check import compare_artifacts, recorded_artifacts

    return compare_artifacts(recorded_artifacts(predicate), args.artifacts, skip=[args.report])


def _print_artifact_comparison(files: ArtifactComparison, folder: Path, stream: TextIO) -> int:
    if files.ok:
        print(
            f"Artifacts: all {len(files.matching)} files in {folder} match the signed report",
            file=stream,
        )
        return 0
    print(f"FAILED: the files in {folder} do not match the signed report", file=sys.stderr)
    for problem in files.problems:
        print(f"  {clean(problem)}", file=sys.stderr)
    return EXIT_REJECTED


def cmd_advisories_import(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance advisories import ARCHIVE"""
    from checks.advisories import import_archive

    summary = import_archive(args.archive, settings.advisories_db, args.ecosystem)
    print(
        f"imported {summary.records} advisories ({summary.withdrawn} withdrawn) "
        f"for {summary.packages} packages from {clean(summary.source)} in {summary.seconds:.1f} s"
    )
    print(f"newest modified: {summary.newest_modified or 'unknown'}")
    if summary.skipped:
        print(f"skipped {summary.skipped} unreadable record(s)")
    kept = ", ".join(summary.kept) or "none"
    print(f"ecosystem: {summary.ecosystem} ({summary.format}) replaced; other sources kept: {kept}")
    print(f"store: {settings.advisories_db} ({summary.store_bytes} bytes)")
    return 0


def cmd_advisories_status(args: argparse.Namespace, settings: Settings) -> int:
    """acceptance advisories status"""
    from checks.advisory_model import ECOSYSTEM
    from checks.advisory_store import AdvisoryStore

    sources = AdvisoryStore(settings.advisories_db).sources()
    if not any(status.records for status in sources):
        print(f"no advisories imported (store: {settings.advisories_db})")
        print("import them with: acceptance advisories import ARCHIVE")
        return EXIT_PLATFORM
    for index, status in enumerate(sources):
        if index:
            print()
        print(f"ecosystem: {clean(status.ecosystem)} ({clean(status.format)})")
        print(
            f"{status.records} advisories ({status.withdrawn} withdrawn) for {status.packages} packages"
        )
        print(f"source: {clean(status.source)} (sha256 {status.sha256})")
        print(f"imported at: {status.imported_at}")
        print(f"newest modified: {status.newest_modified or 'unknown'}")
        if status.skipped:
            print(f"skipped at import: {status.skipped} unreadable record(s)")
    if not any(status.ecosystem == ECOSYSTEM for status in sources):
        print(f"\nno {ECOSYSTEM} advisories: Python dependencies cannot be audited")
    return 0


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
        results.append(_shell_image_check(client))
        results.append(_node_image_check(client))
    except PlatformError as exc:
        results.append(
            (
                False,
                f"Docker engine unreachable ({exc.message.splitlines()[0][:120]})",
                "apt-get install -y docker.io && dockerd --bridge=none --iptables=false &",
            )
        )
        results.append(
            (False, f"sandbox image {image} (cannot check without Docker)", "start Docker first")
        )
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


def _shell_image_check(client: Any) -> tuple[bool, str, str]:
    """The shell runtime's image: needed only for shell deliveries, so its absence is named."""
    from sandbox.shell_image import shell_image_tag

    tag = shell_image_tag()
    try:
        client.images.get(tag)
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return (
            False,
            f"shell runtime image {tag} is missing",
            "acceptance image build --runtime shell",
        )
    return True, f"shell runtime image {tag}", ""


def _node_image_check(client: Any) -> tuple[bool, str, str]:
    """The node runtime's image: needed only for Node.js deliveries, so its absence is named."""
    from sandbox.node_image import node_image_tag

    tag = node_image_tag()
    try:
        client.images.get(tag)
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return (
            False,
            f"node runtime image {tag} is missing",
            "acceptance image build --runtime node",
        )
    return True, f"node runtime image {tag}", ""


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
        fix = (
            f"chmod 600 {key}"
            if shared
            else f"move it away, then `acceptance keygen --out {key.parent}`"
        )
        return False, f"signing key {key}: {exc.message.splitlines()[0][:160]}", fix
    return True, f"signing key {key}", ""
