"""The licences of a Node.js delivery's installed npm packages, normalised and judged.

Each package's `license` field is read from its own package.json (on the host, from the
node_modules the engine fetched and checked; acceptance/engine/npm_fetch.py), in any of
npm's forms: an SPDX expression, the legacy `{"type": ...}` object, or a `licenses`
list (read as an OR of its entries). A value that is a valid SPDX expression is put in
canonical form (checks/licence_expressions.py) and judged against the repository's
licence with licensecheck's own compatibility matrix, the one the Python dependencies
are judged with (checks/dependency_licences.py). Anything else (`SEE LICENSE IN ...`,
npm's `UNLICENSED`, which means all rights reserved, an empty field) is listed with
`compatible: None` and so fails a spec that asks for compatible dependency licences:
never passed unread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import license_expression  # type: ignore[import-untyped]
from licensecheck import license_matrix  # type: ignore[import-untyped]
from licensecheck.types import JOINS, ucstr  # type: ignore[import-untyped]

from checks.licence_evidence import DependencyLicence, printable
from checks.licence_expressions import canonical_expression

MAX_LICENCE_CHARS = 300
#: npm's word for "not licensed for use by others" (licensecheck would read it as the Unlicense)
UNLICENSED = "UNLICENSED"


def declared_licence(manifest: Mapping[str, object]) -> str:
    """The licence a package.json declares, as one string ('' when none)."""
    value = manifest.get("license")
    if isinstance(value, Mapping):
        value = value.get("type")
    if isinstance(value, str) and value.strip():
        return printable(value.strip(), MAX_LICENCE_CHARS)
    legacy = manifest.get("licenses")
    if isinstance(legacy, list):
        kinds = [
            str(item.get("type")).strip() if isinstance(item, Mapping) else str(item).strip()
            for item in legacy[:20]
        ]
        kinds = [k for k in kinds if k and k != "None"]
        if len(kinds) == 1:
            return printable(kinds[0], MAX_LICENCE_CHARS)
        if kinds:
            return printable(" OR ".join(f"({k})" for k in kinds), MAX_LICENCE_CHARS)
    return ""


def judge_npm_licences(
    packages: Iterable[tuple[str, str, str]], project_licence: str
) -> list[DependencyLicence]:
    """(name, version, declared licence) of each package, judged against `project_licence`."""
    judged: list[DependencyLicence] = []
    for name, version, declared in packages:
        spdx = (
            canonical_expression(declared) if declared and declared.upper() != UNLICENSED else None
        )
        shown = spdx or declared
        compatible = _compatible(spdx, project_licence) if spdx else None
        judged.append(DependencyLicence(name, version, shown, compatible))
    return sorted(judged, key=lambda d: (d.name, d.version))


def _compatible(spdx: str, project_licence: str) -> bool | None:
    """licensecheck's verdict, as for Python dependencies; None when it cannot judge."""
    try:
        mine = license_matrix.licenseType(ucstr(project_licence))[0]
        parsed = license_expression.Licensing().parse(spdx)
        keys = JOINS.join(x.key for x in sorted(parsed.literals)) if parsed is not None else ""
        return bool(license_matrix.depCompatWMyLice(mine, license_matrix.licenseType(ucstr(keys))))
    except Exception:  # noqa: BLE001 - a licence licensecheck cannot place is not judged
        return None
