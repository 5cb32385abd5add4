"""The Python runtime's install: the plan's record, host-side wheels, metadata built in the
sandbox, the offline pip install, the installed listing and its advisory audit.

Moved out of acceptance/engine/pipeline.py unchanged (issue 15): the stages, their names
and their reasons are the ones Python deliveries were always judged with.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from acceptance.engine.dependencies import own_project_names, requirements_from_metadata
from acceptance.engine.install_plan import InstallPlan, LocalProject
from acceptance.engine.prepared import PreparedEnvironments
from acceptance.engine.runtimes.interface import RunSession
from acceptance.errors import SubmissionError
from checks import audit_cache
from checks import dependencies as dependency_audit
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from sandbox.image import TOOLS_VENV
from sandbox.interface import Sandbox

SRC_MOUNT = "/src"
HIDDEN_MOUNT = "/hidden"
WHEELS_MOUNT = "/wheels"
WORK_SRC = "/work/src"
VENV = "/work/venv"
MAX_LISTING_BYTES = dependency_audit.MAX_LISTING_BYTES


def record_plan(session: RunSession, plan: InstallPlan) -> None:
    """The install plan, as the report shows it."""
    session.report.install = {
        "requirements": list(plan.requirements),
        "build_requirements": list(plan.build_requirements),
        "local_projects": [
            {"path": p.path, "extras": list(p.extras), "editable": p.editable}
            for p in plan.local_projects
        ],
        "evidence": list(plan.evidence),
        "metadata_from_sandbox": plan.needs_sandbox_metadata,
    }


def python_version(session: RunSession) -> str | None:
    """The sandbox's Python version, as its image's label gave it."""
    python = session.report.environment.get("python_version")
    return python if isinstance(python, str) else None


def download(
    session: RunSession,
    prepared: PreparedEnvironments | None,
    requirements: list[str] | tuple[str, ...],
    wheels: Path,
) -> None:
    """The wheels of REQUIREMENTS, on the host, unless an earlier run resolved the same."""
    if not requirements:
        return
    python = python_version(session)
    wanted = list(dict.fromkeys(requirements))
    cached = prepared.cached_resolution(wanted, python) if prepared else None
    if cached is not None:
        session.progress(
            "download", f"resolution cached: {len(cached.wheels)} wheel(s), nothing fetched"
        )
        return
    result = session.download_wheels(
        wanted, wheels, python_version=python, timeout=max(30.0, session.remaining())
    )
    if prepared is not None:
        prepared.remember(wanted, python, result.files)
    session.progress("download", f"{len(result.files)} wheel(s) ready in {result.seconds:.1f} s")


def sandbox_metadata(
    session: RunSession, sandbox: Sandbox, plan: InstallPlan, built_names: dict[str, str]
) -> list[str]:
    """The requirements of the local projects whose metadata only a build can tell."""
    requirements: list[str] = []
    for index, project in enumerate(plan.local_projects):
        out = f"/work/meta/{index}"
        build = session.sandbox_run(
            sandbox,
            [
                f"{TOOLS_VENV}/bin/python",
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-index",
                "--find-links",
                WHEELS_MOUNT,
                "--progress-bar",
                "off",
                "--use-pep517",
                "--wheel-dir",
                out,
                project_path(project),
            ],
            f"metadata-{index}",
        )
        if build.exit_code != 0:
            raise SubmissionError(
                "INSTALL_FAILED",
                f"building the project at {project.path!r} failed: {tail(build.text, 1500)}",
            )
        listing = session.sandbox_run(
            sandbox,
            [f"{TOOLS_VENV}/bin/python", "-I", "-c", READ_METADATA, out],
            f"metadata-read-{index}",
        )
        name, lines = built_metadata(listing.text, project.path)
        built_names[project.path] = name
        requirements.extend(requirements_from_metadata(lines, project.extras))
    return requirements


def install(session: RunSession, sandbox: Sandbox, plan: InstallPlan) -> None:
    """pip install, offline, from the downloaded wheels, into the run's venv."""
    argv = [
        f"{TOOLS_VENV}/bin/python",
        "-m",
        "pip",
        "--python",
        f"{VENV}/bin/python",
        "install",
        "--no-index",
        "--find-links",
        WHEELS_MOUNT,
        "--progress-bar",
        "off",
        "--no-cache-dir",
        "--use-pep517",
    ]
    for project in plan.local_projects:
        argv.extend(["-e", project_path(project)] if project.editable else [project_path(project)])
    if plan.requirements:
        argv.append("--")
        argv.extend(plan.requirements)
    result = session.sandbox_run(sandbox, argv, "install")
    if result.timed_out:
        raise SubmissionError("TIMEOUT", "installing the dependencies did not finish in time")
    if result.memory_limit_hit:
        raise SubmissionError("MEMORY_LIMIT", "installing the dependencies ran out of memory")
    if result.exit_code != 0:
        raise install_failure(result.text)


def installed(session: RunSession, sandbox: Sandbox) -> bytes:
    """The venv's distributions as listed inside the sandbox, validated here."""
    result = session.sandbox_run(sandbox, dependency_audit.INSTALLED_COMMAND, "installed")
    if result.output_limit_hit or len(result.output) > MAX_LISTING_BYTES:
        raise SubmissionError(
            "INVALID_ARTIFACT", "the list of installed packages is larger than allowed"
        )
    if result.exit_code != 0:
        raise SubmissionError(
            "INVALID_ARTIFACT",
            f"the installed packages could not be listed: {tail(result.text, 500)}",
        )
    dependency_audit.parse_installed(result.output)
    return result.output


def audit(
    session: RunSession,
    prepared: PreparedEnvironments | None,
    built_names: dict[str, str],
    listing: bytes,
    scratch: Path,
) -> CheckOutcome:
    """The installed distributions against the advisory service or the offline store."""
    spec = session.spec.security.dependencies
    config = session.config
    found = dependency_audit.parse_installed(listing)
    # Left out only when the engine itself installed a project of that name from the
    # checkout: a direct_url.json saying "file:" is a file any build can write.
    projects = prepared.projects if prepared is not None else ()
    exclude = dependency_audit.local_names(listing) & own_project_names(projects, built_names)
    work = scratch / "audit"
    timeout = max(30.0, session.remaining())
    if config.osv_url:
        return dependency_audit.audit(
            found, spec, osv_url=config.osv_url, work_dir=work, timeout=timeout,
            exclude=exclude,
        )  # fmt: skip
    store = config.advisories_db
    if store is None:
        return audit_unavailable("no advisory service is configured")
    # The same pins against the same store give the same findings (checks.audit_cache).
    return audit_cache.audit_offline(
        found, spec, store=store, work_dir=work, timeout=timeout, exclude=exclude,
        cache_dir=config.cache_dir / "audits",
    )  # fmt: skip


def audit_unavailable(why: str) -> CheckOutcome:
    return CheckOutcome(
        CheckResult(
            dependency_audit.CHECK_ID,
            dependency_audit.KIND,
            CheckStatus.ERROR,
            f"the dependencies could not be audited: {why}; import advisories with "
            "`acceptance advisories import ARCHIVE` or set ACCEPTANCE_OSV_URL",
            dependency_audit.ERROR_REASON,
        )
    )


_MISSING = re.compile(r"No matching distribution found for ([^\s]+)")


def install_failure(output: str) -> SubmissionError:
    """Why the install in the sandbox failed, from pip's output, pointing at the cause."""
    missing = _MISSING.search(output)
    if missing is None:
        return SubmissionError(
            "INSTALL_FAILED", f"installing the project failed: {tail(output, 1500)}"
        )
    # The host resolved and downloaded every declared requirement before the install
    # (an unpublished one fails there, named as such): a requirement missing here was
    # asked for only by a build, so no wheel of it was ever fetched.
    return SubmissionError(
        "DEPENDENCY_UNAVAILABLE",
        f"the requirement {missing.group(1)!r} was asked for while building the project, but it "
        "is not among the requirements the project declares, so no wheel of it was downloaded: "
        "the sandbox installs offline, from the wheels fetched for the declared requirements",
        hint=(
            f"Declare {missing.group(1)!r} in [build-system] requires (for a build backend's "
            "own needs) or in the project's dependencies, then push again."
        ),
    )


# Runs inside the sandbox with the tools' Python: the built wheel's Name and Requires-Dist,
# as one JSON object per wheel. Only the wheel's own, top-level .dist-info counts: its
# data files may carry other dist-info folders (written into the venv on install).
READ_METADATA = """
import email.parser, json, pathlib, sys, zipfile
for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        meta = email.parser.BytesParser().parsebytes(archive.read(name))
        requires = [str(r) for r in meta.get_all("Requires-Dist") or []]
        print(json.dumps({"name": str(meta.get("Name", "")), "requires_dist": requires}))
"""
_BUILT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?")


def built_metadata(output: str, path: str) -> tuple[str, list[str]]:
    """(name, Requires-Dist lines) of the one wheel built for the project at PATH.

    Read back after the project's build ran: untrusted, so anything but exactly one
    well-formed record is the submission's fault.
    """
    records = [line for line in output.splitlines() if line.startswith("{")]
    problem = (
        "no wheel with readable metadata was built"
        if not records
        else "more than one wheel was built"
    )
    if len(records) == 1:
        try:
            record = json.loads(records[0])
        except ValueError:
            record = None
        name = record.get("name") if isinstance(record, dict) else None
        requires = record.get("requires_dist") if isinstance(record, dict) else None
        if (
            isinstance(name, str)
            and _BUILT_NAME.fullmatch(name)
            and isinstance(requires, list)
            and all(isinstance(line, str) for line in requires)
        ):
            return name, requires
        problem = "its metadata has no valid Name or Requires-Dist"
    raise SubmissionError(
        "INVALID_ARTIFACT",
        f"the metadata built for the project at {path!r} cannot be read: {problem}",
    )


def project_path(project: LocalProject) -> str:
    path = WORK_SRC if project.path in (".", "") else f"{WORK_SRC}/{project.path}"
    return f"{path}[{','.join(project.extras)}]" if project.extras else path


def tail(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
