"""The npm lookup: installed (name, version) pairs against the offline store's npm source.

What a Node.js dependency audit calls with the packages of a lockfile (checked
against ``node_modules``). Its findings have exactly the shape of the Python
audit's (``checks.dependencies``): ``package``, ``version``, ``id``,
``aliases``, ``fix_versions``, ``ignored``, sorted by package then id, so the
report, the comparison of runs and the dashboard read both alike.

A version that is not a semantic version cannot be placed in any npm range: it
is returned in ``unjudged``, never counted as free of advisories. A store with
no npm source raises ``AdvisoryStoreError`` (the platform cannot audit).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checks import npm_ranges
from checks.advisory_model import NPM, AdvisoryStoreError
from checks.advisory_store import AdvisoryStore

#: an npm package name is at most 214 characters; longer ones are not looked up
MAX_NAME_CHARS = 214


@dataclass(frozen=True)
class NpmLookup:
    """The findings for a package list, and what could not be judged."""

    findings: list[dict[str, object]]
    #: distinct (name, version) pairs looked up
    audited: int
    #: "name@version" of pairs that could not be judged (not a semantic version, bad name)
    unjudged: list[str] = field(default_factory=list)


def lookup_npm(
    store: AdvisoryStore, installed: Iterable[tuple[str, str]], ignore: Collection[str] = ()
) -> NpmLookup:
    """The advisories of the npm source that affect each installed (name, version)."""
    if store.status(NPM).records == 0:
        raise AdvisoryStoreError(
            f"no npm advisories imported in {store.path}",
            hint="import the Node.js Security WG's database with `acceptance advisories import ARCHIVE`",
        )
    ignored_ids = {item.strip().upper() for item in ignore}
    pairs = sorted({(str(name).strip(), str(version).strip()) for name, version in installed})
    findings: list[dict[str, object]] = []
    unjudged: list[str] = []
    for name, version in pairs:
        if (
            not name
            or len(name) > MAX_NAME_CHARS
            or len(version) > npm_ranges.MAX_VERSION_CHARS
            or npm_ranges.satisfies(version, "*") is None
        ):
            unjudged.append(f"{name[:MAX_NAME_CHARS]}@{version[: npm_ranges.MAX_VERSION_CHARS]}")
            continue
        for record in store.query(name, version, NPM):
            findings.append(
                finding(name, version, record, _fix_versions(record, name), ignored_ids)
            )
    findings.sort(key=lambda v: (str(v["package"]), str(v["id"])))
    return NpmLookup(findings=findings, audited=len(pairs), unjudged=unjudged)


def finding(
    package: str,
    version: str,
    record: Mapping[str, Any],
    fix_versions: list[str],
    ignored_ids: Collection[str],
) -> dict[str, object]:
    """One finding, shaped as the Python audit's (``checks.dependencies._findings``)."""
    aliases = record.get("aliases")
    ids = [
        str(record.get("id")),
        *(str(a) for a in (aliases if isinstance(aliases, list) else [])),
    ]
    return {
        "package": package,
        "version": version,
        "id": ids[0],
        "aliases": sorted(ids[1:]),
        "fix_versions": fix_versions,
        "ignored": any(i.upper() in ignored_ids for i in ids),
    }


def _fix_versions(record: Mapping[str, Any], name: str) -> list[str]:
    """The versions that fix ``record`` for ``name``: its patched range's lowest versions.

    From ``patched_versions`` when the entry carries npm ranges, else the OSV
    ``fixed`` events of its ranges.
    """
    found: list[str] = []
    affected = record.get("affected")
    for entry in affected if isinstance(affected, list) else []:
        if not isinstance(entry, Mapping):
            continue
        package = entry.get("package")
        if not isinstance(package, Mapping) or package.get("name") != name:
            continue
        specific = entry.get("database_specific")
        patched = specific.get("patched_versions") if isinstance(specific, Mapping) else None
        if isinstance(patched, str):
            found.extend(npm_ranges.lower_bounds(patched))
            continue
        ranges = entry.get("ranges")
        for rng in ranges if isinstance(ranges, list) else []:
            events = rng.get("events") if isinstance(rng, Mapping) else None
            for event in events if isinstance(events, list) else []:
                fixed = event.get("fixed") if isinstance(event, Mapping) else None
                if isinstance(fixed, str):
                    found.append(fixed)
    return list(dict.fromkeys(found))
