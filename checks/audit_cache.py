"""pip-audit's findings, cached by what they are computed from.

pip-audit's output (the JSON findings and the CycloneDX SBOM) is a function of
the audited ``name==version`` pins, the advisory data it was asked about and the
versions of pip-audit and of our advisory service. With the offline store, the
data's identity is the store file itself (``acceptance advisories import``
replaces it, so its inode, size and modification time change). The key hashes
all of those; the verdict is still made for every run from the cached output
with the run's own spec (``ignore``, ``fail_on_vulnerabilities``).

Only the offline store is cached: an external OSV service (``ACCEPTANCE_OSV_URL``)
can change its answers at any time, so every run asks it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Collection, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from acceptance.safefs import write_atomic
from checks import dependencies as audit
from checks.advisory_model import AdvisoryStoreError
from checks.interface import CheckOutcome, CheckStatus
from checks.options import DependencyAuditSpec
from checks.osv_server import serve_advisories

log = logging.getLogger(__name__)

FORMAT = 1
FINDINGS = "pip-audit.json"
SBOM = "sbom.cdx.json"


@cache
def _tool_identity() -> str:
    parts = [str(FORMAT)]
    try:
        parts.append(f"pip-audit=={importlib.metadata.version('pip-audit')}")
    except importlib.metadata.PackageNotFoundError:
        parts.append("pip-audit==?")
    import checks.advisories
    import checks.advisory_records
    import checks.advisory_store
    import checks.advisory_writer
    import checks.osv_match
    import checks.osv_server

    # every module whose code decides what the advisory service answers
    modules = (
        checks.osv_server, checks.advisories, checks.advisory_records, checks.advisory_writer,
        checks.advisory_store, checks.osv_match, audit,
    )  # fmt: skip
    for module in modules:
        parts.append(hashlib.sha256(Path(str(module.__file__)).read_bytes()).hexdigest())
    return "|".join(parts)


def audit_key(
    installed: Sequence[tuple[str, str]], exclude: Collection[str], store: Path
) -> str | None:
    """The cache key of auditing INSTALLED (minus EXCLUDE) against STORE; None if unreadable."""
    try:
        info = store.stat()
    except OSError:
        return None
    excluded = {canonicalize_name(name) for name in exclude}
    pins = sorted({(str(canonicalize_name(n)), str(Version(v))) for n, v in installed})
    pins = [pin for pin in pins if pin[0] not in excluded]
    record = {
        "tool": _tool_identity(),
        "store": [str(store.resolve()), info.st_ino, info.st_size, info.st_mtime_ns],
        "pins": pins,
        "excluded": sorted(excluded),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def audit_offline(
    installed: Sequence[tuple[str, str]],
    spec: DependencyAuditSpec,
    *,
    store: Path,
    work_dir: Path,
    cache_dir: Path,
    timeout: float,
    exclude: Collection[str] = (),
) -> CheckOutcome:
    """``checks.dependencies.audit`` against the offline store, reusing an identical audit."""
    if not spec.enabled:
        return audit.audit((), spec, osv_url="", work_dir=work_dir)
    key = audit_key(installed, exclude, store)
    entry = cache_dir / f"{key}.json" if key else None
    if entry is not None:
        reused = _from_cache(entry, spec)
        if reused is not None:
            return reused
    try:
        with serve_advisories(store) as url:
            outcome = audit.audit(
                installed, spec, osv_url=url, work_dir=work_dir, timeout=timeout, exclude=exclude
            )
    except AdvisoryStoreError as exc:
        return _unavailable(exc.message)
    if entry is not None and outcome.result.status in (CheckStatus.PASSED, CheckStatus.FAILED):
        findings, sbom = outcome.artifacts.get(FINDINGS), outcome.artifacts.get(SBOM)
        details = {
            k: v for k, v in outcome.result.details.items()
            if k in ("audited", "excluded", "advisory_data")
        }  # fmt: skip
        if findings is not None and sbom is not None:
            record = {
                "format": FORMAT,
                "details": details,
                "findings": findings.decode("utf-8"),
                "sbom": sbom.decode("utf-8"),
            }
            try:
                write_atomic(entry, json.dumps(record).encode())
            except (OSError, UnicodeDecodeError):
                log.warning("audit_cache_write_failed", exc_info=True)
    return outcome


def _from_cache(entry: Path, spec: DependencyAuditSpec) -> CheckOutcome | None:
    try:
        record: dict[str, Any] = json.loads(entry.read_bytes())
        if record.get("format") != FORMAT:
            return None
        findings = str(record["findings"]).encode("utf-8")
        sbom = str(record["sbom"]).encode("utf-8")
        details = dict(record["details"])
        vulnerabilities, skipped = audit._findings(findings, spec.ignore)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("audit_cache_entry_unreadable", extra={"entry": entry.name})
        return None
    if skipped:
        return None
    details["reused"] = True
    return CheckOutcome(
        audit._verdict(vulnerabilities, spec, details), {FINDINGS: findings, SBOM: sbom}
    )


def _unavailable(why: str) -> CheckOutcome:
    from checks.interface import CheckResult

    return CheckOutcome(
        CheckResult(
            audit.CHECK_ID,
            audit.KIND,
            CheckStatus.ERROR,
            f"the dependencies could not be audited: {why}; import advisories with "
            "`acceptance advisories import ARCHIVE` or set ACCEPTANCE_OSV_URL",
            audit.ERROR_REASON,
        )
    )
