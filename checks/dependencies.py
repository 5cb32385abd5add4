"""The dependency check: known vulnerabilities in the installed distributions (pip-audit).

Two halves, split by trust:

* **inside the sandbox**, ``INSTALLED_COMMAND`` lists what the install step put
  into the run venv ``/work/venv``. It runs the *tools'* Python (``-I -S``)
  reading the venv's ``*.dist-info`` metadata with ``importlib.metadata``: no
  interpreter, ``.pth`` file or module of the venv is executed, and it takes a
  fraction of the time ``pip list`` needs. The pipeline should run it right
  after the install step, before any supplier test code runs.
* **on the host**, ``parse_installed`` validates that (untrusted) listing and
  ``audit`` runs pip-audit on the validated ``name==version`` pins only, with
  ``--no-deps --disable-pip``: pip-audit resolves, downloads and builds nothing,
  and asks only the advisory service given by ``osv_url`` (the loopback
  service from ``checks.osv_server``). The run's environment points every
  proxy at a closed loopback port, except for the advisory service's host, and
  sets ``PIP_NO_INDEX``, so no other host is reachable even by accident.

What is audited: every distribution in the run venv, pip, setuptools and wheel
included. The venv is created ``--without-pip`` and builds happen in isolated
environments, so these three are only present when the project (or one of its
dependencies) installs them, and then they are real dependencies whose
advisories matter. The only exclusions are the names passed in ``exclude``:
the local projects under test, whose names may collide with unrelated
published packages that have advisories of their own.

The advisory data's age is measured from its newest record's modification time
(else from its import): the summary states it, and a spec's
``security.dependencies.max_data_age`` turns older data into an ERROR
(``ADVISORIES_STALE``), never a "no known vulnerabilities" pass.

pip-audit exits 1 both when it finds vulnerabilities and when it fails; its
JSON output file is written only in the first case, so an exit code other than
0 or 1, or a missing or unreadable output, is a platform ERROR, never a pass.
``--ignore-vuln`` is not used: pip-audit would drop the ignored findings,
while the report lists them, marked ``ignored``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from acceptance.errors import SubmissionError
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.options import DependencyAuditSpec

CHECK_ID = "dependencies"
KIND = "dependencies"
REASON = "VULNERABLE_DEPENDENCIES"
ERROR_REASON = "DEPENDENCY_AUDIT_ERROR"
STALE_REASON = "ADVISORIES_STALE"
VENV = "/work/venv"
TOOLS_PYTHON = "/opt/acceptance/tools/bin/python"

MAX_ENTRIES = 5_000
MAX_FIELD_CHARS = 200
#: what INSTALLED_COMMAND may print; 5,000 entries of 2 x 200 characters fit well
MAX_LISTING_BYTES = 4 * 1024**2
MAX_REPORTED = 1_000
#: a closed loopback port: every proxy points here, so no other host is reachable
DEAD_PROXY = "http://127.0.0.1:9"

# Runs inside the sandbox with the tools' Python, -I -S: lists the venv's
# distributions from their metadata, every one found: a second metadata folder of
# the same name must not hide the first (parse_installed refuses two versions).
_LIST_SCRIPT = r"""
import glob, importlib.metadata as md, json, sys
paths = sorted(glob.glob(sys.argv[1] + "/lib/python*/site-packages"))
out = []
for dist in md.distributions(path=paths):
    name = dist.metadata["Name"]
    entry = {"name": name, "version": dist.version}
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        direct = {}
    if isinstance(direct, dict) and str(direct.get("url", "")).startswith("file:"):
        entry["local"] = True
    out.append(entry)
json.dump(out, sys.stdout)
"""

#: argv run inside the sandbox; prints ``[{"name", "version"}, ...]`` (pip list's JSON shape)
INSTALLED_COMMAND: list[str] = [TOOLS_PYTHON, "-I", "-S", "-c", _LIST_SCRIPT, VENV]

# PEP 508 names
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def parse_installed(output: bytes) -> list[tuple[str, str]]:
    """Validate the sandbox's listing: ``[(name, normalised version), ...]`` sorted by name.

    Accepts ``INSTALLED_COMMAND``'s output and ``pip list --format json``.
    Anything unexpected is the submission's doing: ``SubmissionError("INVALID_ARTIFACT")``.
    """

    def invalid(message: str) -> SubmissionError:
        return SubmissionError("INVALID_ARTIFACT", f"the list of installed packages {message}")

    if len(output) > MAX_LISTING_BYTES:
        raise invalid(f"is larger than {MAX_LISTING_BYTES} bytes")
    try:
        listing = json.loads(output)
    except (ValueError, RecursionError) as exc:
        raise invalid("is not JSON") from exc
    if not isinstance(listing, list):
        raise invalid("is not a JSON list")
    if len(listing) > MAX_ENTRIES:
        raise invalid(f"has more than {MAX_ENTRIES} entries")
    found: dict[str, tuple[str, str]] = {}
    versions: dict[str, Version] = {}
    for index, item in enumerate(listing):
        if not isinstance(item, dict):
            raise invalid(f"has a non-object entry at index {index}")
        name, version = item.get("name"), item.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise invalid(f"has an entry without a string name and version at index {index}")
        if len(name) > MAX_FIELD_CHARS or len(version) > MAX_FIELD_CHARS:
            raise invalid(f"has a name or version longer than {MAX_FIELD_CHARS} characters")
        if not _NAME.match(name):
            raise invalid(f"has an invalid package name at index {index}: {name[:60]!r}")
        try:
            parsed = Version(version)
        except InvalidVersion as exc:
            raise invalid(f"has an invalid version for {name}: {version[:60]!r}") from exc
        key = canonicalize_name(name)
        if key in versions:
            if versions[key] != parsed:  # PEP 440 equality: 1 == 1.0
                # e.g. a build's data files wrote a newer dist-info beside a vulnerable one
                raise invalid(
                    f"lists {name} twice with different versions ({versions[key]} and {parsed}): "
                    "two metadata folders claim the same package"
                )
            continue
        versions[key] = parsed
        found[key] = (key, str(parsed))
    return sorted(found.values())


def local_names(output: bytes) -> frozenset[str]:
    """Names ``INSTALLED_COMMAND`` marked as installed from a local path (the delivered project).

    They are not published releases, so an advisory for a same-named package
    on the index does not apply to them. Call after ``parse_installed`` accepted
    the output; anything odd here just yields no names.
    """
    try:
        listing = json.loads(output)
    except (ValueError, RecursionError):
        return frozenset()
    if not isinstance(listing, list):
        return frozenset()
    return frozenset(
        canonicalize_name(item["name"])
        for item in listing
        if isinstance(item, dict)
        and item.get("local") is True
        and isinstance(item.get("name"), str)
    )


def audit(
    installed: Sequence[tuple[str, str]],
    spec: DependencyAuditSpec,
    *,
    osv_url: str,
    work_dir: Path,
    timeout: float = 300,
    exclude: Collection[str] = (),
) -> CheckOutcome:
    """Audit the validated pins against the advisory service at ``osv_url``.

    ``osv_url`` is the service's base URL (what ``serve_advisories`` yields);
    a URL ending in ``/v1/query`` is accepted too. Never raises for a finding
    or a tool failure: those are FAILED and ERROR results.
    """
    if not spec.enabled:
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
        )
    base = osv_url.rstrip("/").removesuffix("/v1/query")
    excluded = {canonicalize_name(name) for name in exclude}
    all_pins = {(canonicalize_name(name), str(Version(version))) for name, version in installed}
    pins = sorted(pin for pin in all_pins if pin[0] not in excluded)
    details: dict[str, object] = {"audited": len(pins), "excluded": sorted(excluded)}
    status = _service_status(base)
    if isinstance(status, str):
        return _error(f"the advisory service is unavailable: {status}", details)
    details["advisory_data"] = status
    if not status.get("records"):
        return _error(
            "the advisory service has no data; import advisories with "
            "`acceptance advisories import ARCHIVE`",
            details,
        )
    work_dir.mkdir(parents=True, exist_ok=True)
    requirements = work_dir / "pins.txt"
    requirements.write_text("".join(f"{n}=={v}\n" for n, v in pins), encoding="utf-8")
    started = time.monotonic()
    runs = _run_pip_audit(requirements, f"{base}/v1/query", work_dir, timeout)
    details["seconds"] = round(time.monotonic() - started, 3)
    findings_run, sbom_run = runs["json"], runs["cyclonedx-json"]
    problem = findings_run.problem or sbom_run.problem
    if problem:
        return _error(problem, details)
    assert findings_run.output is not None and sbom_run.output is not None
    try:
        vulnerabilities, skipped = _findings(findings_run.output, spec.ignore)
    except ValueError as exc:
        return _error(f"pip-audit wrote unexpected JSON: {exc}", details)
    if skipped:
        return _error("pip-audit could not audit " + "; ".join(skipped[:10]), details)
    artifacts = {"pip-audit.json": findings_run.output, "sbom.cdx.json": sbom_run.output}
    return CheckOutcome(_verdict(vulnerabilities, spec, details), artifacts)


# ---------------------------------------------------------------- internals


class _Run:
    def __init__(self, problem: str | None, output: bytes | None) -> None:
        self.problem = problem
        self.output = output


def _pip_audit_env(osv_host: str, work_dir: Path) -> dict[str, str]:
    """A closed environment: the advisory host is the only one reachable."""
    no_proxy = ",".join(sorted({osv_host, "127.0.0.1", "localhost"}))
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work_dir / "home"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PIP_NO_INDEX": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "all_proxy": DEAD_PROXY,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def pip_audit_command(
    requirements: Path, query_url: str, fmt: str, out: Path, cache: Path
) -> list[str]:
    """The exact pip-audit invocation (also what an auditor re-runs by hand)."""
    return [
        sys.executable, "-I", "-m", "pip_audit",
        "--requirement", str(requirements),
        "--no-deps", "--disable-pip",
        "--vulnerability-service", "osv", "--osv-url", query_url,
        "--format", fmt, "--output", str(out),
        "--progress-spinner", "off",
        "--cache-dir", str(cache),
    ]  # fmt: skip


def _run_pip_audit(
    requirements: Path, query_url: str, work_dir: Path, timeout: float
) -> dict[str, _Run]:
    """pip-audit twice, concurrently: JSON findings and the CycloneDX SBOM.

    One run cannot give both (``--format`` takes one value). The two runs ask
    the loopback service the same questions, which costs milliseconds.
    """
    env = _pip_audit_env(urlsplit(query_url).hostname or "127.0.0.1", work_dir)
    (work_dir / "home").mkdir(exist_ok=True)
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for fmt in ("json", "cyclonedx-json"):
        out = work_dir / f"pip-audit.{fmt}"
        out.unlink(missing_ok=True)
        argv = pip_audit_command(requirements, query_url, fmt, out, work_dir / f"cache-{fmt}")
        procs[fmt] = (
            subprocess.Popen(
                argv, cwd=work_dir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            ),
            out,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    runs: dict[str, _Run] = {}
    for fmt, (proc, out) in procs.items():
        try:
            _, stderr = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            runs[fmt] = _Run(f"pip-audit ({fmt}) did not finish within {timeout:g} s", None)
            continue
        runs[fmt] = _judge_run(fmt, proc.returncode, stderr, out)
    return runs


def _judge_run(fmt: str, code: int, stderr: bytes, out: Path) -> _Run:
    try:
        output = out.read_bytes() if out.is_file() else None
    except OSError:
        output = None
    if code in (0, 1) and output:
        return _Run(None, output)
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    useful = [ln for ln in lines if "--no-deps is supported" not in ln and "pip-compile" not in ln]
    tail = (useful or ["no message"])[-1][:300]
    return _Run(f"pip-audit ({fmt}) failed with exit code {code}: {tail}", None)


def _service_status(base: str) -> dict[str, Any] | str:
    """The advisory service's ``/status``, or why it could not be read."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base}/status", timeout=15) as response:
            data = json.loads(response.read(1024 * 1024))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))[:200]
    if not isinstance(data, dict):
        return "its /status answer is not a JSON object"
    return data


def _findings(output: bytes, ignore: Sequence[str]) -> tuple[list[dict[str, object]], list[str]]:
    document = json.loads(output)
    if not isinstance(document, dict) or not isinstance(document.get("dependencies"), list):
        raise ValueError('no "dependencies" list')
    ignored_ids = {item.strip().upper() for item in ignore}
    found: list[dict[str, object]] = []
    skipped: list[str] = []
    for dep in document["dependencies"]:
        if not isinstance(dep, dict):
            raise ValueError("a dependency is not an object")
        if "skip_reason" in dep:
            skipped.append(f"{dep.get('name')}: {dep.get('skip_reason')}")
            continue
        for vuln in dep.get("vulns") or []:
            ids = [str(vuln.get("id")), *(str(a) for a in vuln.get("aliases") or [])]
            found.append(
                {
                    "package": str(dep.get("name")),
                    "version": str(dep.get("version")),
                    "id": ids[0],
                    "aliases": sorted(ids[1:]),
                    "fix_versions": [str(v) for v in vuln.get("fix_versions") or []],
                    "ignored": any(i.upper() in ignored_ids for i in ids),
                }
            )
    found.sort(key=lambda v: (str(v["package"]), str(v["id"])))
    return found, skipped


def data_age(advisory_data: object, now: dt.datetime | None = None) -> tuple[str, float] | None:
    """(as of, age in seconds) of the advisory service's data, from its ``/status``.

    As of its newest record's modification time, else of its import; None when
    the service states neither (an external OSV service), or in an unreadable form.
    """
    if not isinstance(advisory_data, Mapping):
        return None
    for key in ("newest_modified", "imported_at"):
        text = advisory_data.get(key)
        if not isinstance(text, str) or len(text) > 64:
            continue
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            continue
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        current = now or dt.datetime.now(dt.UTC)
        return text, max(0.0, (current - when).total_seconds())
    return None


def _describe_age(seconds: float) -> str:
    if seconds < 2 * 86400:
        hours = int(seconds // 3600)
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return f"{int(seconds // 86400)} days"


def _staleness(age: tuple[str, float] | None, spec: DependencyAuditSpec) -> str | None:
    """Why the data is too old for this spec, or None when its age is acceptable."""
    if spec.max_data_age is None:
        return None
    limit = _describe_age(spec.max_data_age)
    if age is None:
        return (
            "the advisory data's age is unknown (the service states no record or import time), "
            f"and the spec accepts data at most {limit} old (security.dependencies.max_data_age)"
        )
    as_of, seconds = age
    if seconds <= spec.max_data_age:
        return None
    return (
        f"the advisory data is {_describe_age(seconds)} old (as of {as_of[:10]}), older than "
        f"the {limit} the spec accepts (security.dependencies.max_data_age): import a fresh "
        "export with `acceptance advisories import ARCHIVE`"
    )


def _verdict(
    vulnerabilities: list[dict[str, object]],
    spec: DependencyAuditSpec,
    details: dict[str, object],
    now: dt.datetime | None = None,
) -> CheckResult:
    active = [v for v in vulnerabilities if not v["ignored"]]
    ignored = len(vulnerabilities) - len(active)
    packages = sorted({str(v["package"]) for v in active})
    used: set[str] = set()
    for vuln in vulnerabilities:
        if vuln["ignored"]:
            aliases = vuln["aliases"]
            used.add(str(vuln["id"]).upper())
            used.update(str(a).upper() for a in (aliases if isinstance(aliases, list) else []))
    details = {
        **details,
        "vulnerabilities": vulnerabilities[:MAX_REPORTED],
        "vulnerabilities_truncated": len(vulnerabilities) > MAX_REPORTED,
        "unused_ignores": sorted(i for i in spec.ignore if i.strip().upper() not in used),
    }
    audited = details["audited"]
    if active:
        counts = (
            f"{len(active)} known vulnerabilit{'y' if len(active) == 1 else 'ies'} "
            f"in {len(packages)} of {audited} installed package(s)"
        )
    else:
        counts = f"no known vulnerabilities in {audited} installed package(s)"
    counts += f", {ignored} ignored by the spec" if ignored else ""
    if active:
        counts += ": " + ", ".join(packages[:10]) + (", ..." if len(packages) > 10 else "")
    age = data_age(details.get("advisory_data"), now)
    as_of = ""
    if age is not None:
        details["advisory_data_age"] = {
            "as_of": age[0],
            "days": round(age[1] / 86400, 1),
            "max_days": None if spec.max_data_age is None else round(spec.max_data_age / 86400, 2),
        }
        as_of = f"; advisory data as of {age[0][:10]} ({_describe_age(age[1])} old)"
    stale = _staleness(age, spec)
    if stale is not None:
        # Old data can only miss advisories: "none found" would claim more than it knows.
        summary = f"{stale}; with that data: {counts}"
        return CheckResult(CHECK_ID, KIND, CheckStatus.ERROR, summary, STALE_REASON, details)
    if active and spec.fail_on_vulnerabilities:
        return CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, counts + as_of, REASON, details)
    note = " (not failing: the spec does not fail on vulnerabilities)" if active else ""
    return CheckResult(CHECK_ID, KIND, CheckStatus.PASSED, counts + note + as_of, None, details)


def _error(summary: str, details: Mapping[str, object]) -> CheckOutcome:
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.ERROR, summary, ERROR_REASON, dict(details))
    )
