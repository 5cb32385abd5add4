"""The dependency audit of a Node.js delivery: its installed npm packages against the store.

The packages are the lockfile's, each checked against the package.json of its folder in
node_modules before it gets here (acceptance/engine/npm_fetch.py). They are looked up in
the offline store's npm source (checks/npm_advisories.py) and judged exactly as the
Python audit's pins are (checks/dependencies.py: the same findings, details, ignores,
data age and verdict), so the report and the dashboard read both alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from checks.advisory_model import NPM, AdvisoryStoreError
from checks.advisory_store import AdvisoryStore
from checks.dependencies import CHECK_ID, ERROR_REASON, KIND
from checks.dependencies import _verdict as judge_findings  # one verdict for every ecosystem
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.npm_advisories import lookup_npm

FINDINGS = "npm-audit.json"
SBOM = "sbom.cdx.json"


class AuditOptions(Protocol):
    """What the audit reads of the spec (checks.options.DependencyAuditSpec)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def ignore(self) -> tuple[str, ...]: ...


def audit_npm(
    installed: Sequence[tuple[str, str]], spec: AuditOptions, store_path: Path | None
) -> CheckOutcome:
    """The `dependencies` check for the installed npm packages; never raises for bad data."""
    if not spec.enabled:
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
        )
    pairs = sorted(set(installed))
    details: dict[str, object] = {"audited": len(pairs), "excluded": [], "ecosystem": "npm"}
    if not pairs:  # nothing installed: nothing any advisory could affect
        return CheckOutcome(CheckResult(
            CHECK_ID, KIND, CheckStatus.PASSED,
            "no npm packages are installed (the lockfile lists none): nothing to audit", None,
            {**details, "vulnerabilities": [], "vulnerabilities_truncated": False,
             "unused_ignores": sorted(spec.ignore)},
        ))  # fmt: skip
    if store_path is None:
        return _error("no advisory store is configured", details)
    store = AdvisoryStore(store_path)
    try:
        lookup = lookup_npm(store, pairs, spec.ignore)
        details["advisory_data"] = store.status(NPM).to_dict()
    except AdvisoryStoreError as exc:
        return _error(f"the npm advisories could not be read: {exc.message}", details)
    if lookup.unjudged:
        return _error(
            "these packages' versions cannot be placed in npm ranges: "
            + ", ".join(lookup.unjudged[:10]),
            details,
        )
    # The spec's DependencyAuditSpec is what is passed; the Protocol keeps checks/ off the spec.
    result = judge_findings(lookup.findings, spec, details)  # type: ignore[arg-type]
    findings = json.dumps({"dependencies": lookup.findings}, indent=1, sort_keys=True).encode()
    return CheckOutcome(result, {FINDINGS: findings, SBOM: sbom(pairs)})


def sbom(pairs: Sequence[tuple[str, str]]) -> bytes:
    """A CycloneDX 1.5 list of the installed npm components, with `pkg:npm/...` purls."""
    components = [
        {
            "type": "library",
            "name": name,
            "version": version,
            "purl": f"pkg:npm/{quote(name, safe='/').replace('@', '%40', 1)}@{quote(version)}",
        }
        for name, version in pairs
    ]
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": components,
    }
    return json.dumps(document, indent=1).encode()


def _error(summary: str, details: dict[str, object]) -> CheckOutcome:
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.ERROR, summary, ERROR_REASON, details)
    )
