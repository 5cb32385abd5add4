"""The Node.js Security Working Group's npm reports, mapped to OSV records.

The working group's ecosystem database (``vuln/npm/<n>.json`` in the
nodejs/security-wg repository) is not OSV: each report names one npm package
(``module_name``), its ``vulnerable_versions`` and ``patched_versions`` as npm
semver ranges, CVE ids (``cves``), dates and prose. ``to_osv`` maps one report
to one OSV record:

* ``id``: ``NSWG-ECO-<n>``, the id the working group publishes them under;
* ``aliases``: the CVE ids; ``modified``/``published``: ``updated_at`` and
  ``publish_date`` (dates, as midnight UTC);
* one ``affected`` entry, ecosystem ``npm``, with the npm ranges kept verbatim
  in its ``database_specific`` (what the store matches with, through
  node-semver) and, where the range has an exact OSV form, ``SEMVER`` ranges and
  ``versions`` for other OSV readers;
* ``summary``, ``details``, ``references``, a ``CVSS_V3`` ``severity``.

The data is untrusted: a report that is not an object, has no positive integer
id, no package name, or a range node-semver cannot read is refused (``None``:
the importer counts and reports it). Text fields are capped; values of the
wrong type are dropped rather than guessed.
"""

from __future__ import annotations

import datetime
import logging
import re
from typing import Any

from checks import npm_ranges

log = logging.getLogger(__name__)

ECOSYSTEM = "npm"
ID_PREFIX = "NSWG-ECO-"
#: an npm package name is at most 214 characters
MAX_NAME_CHARS = 214
MAX_TEXT_CHARS = 20_000
MAX_REFERENCES = 100
MAX_URL_CHARS = 2_000
MAX_ALIASES = 50

_CVE = re.compile(r"^CVE-\d{4}-\d{4,9}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# npm names: lower case (older packages may have capitals), scoped or not, no spaces or slashes
_NAME = re.compile(r"^(?:@[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9_.][\w.-]*$")
_CVSS3 = re.compile(r"^CVSS:3\.[01]/[A-Z:/.]{10,200}$")


def to_osv(origin: str, report: object) -> dict[str, Any] | None:
    """The OSV record for one working-group report, or ``None`` when it is unusable (logged)."""
    if not isinstance(report, dict):
        log.warning("skipping %s: not a report (a JSON object)", origin)
        return None
    number = report.get("id")
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 10**9:
        log.warning("skipping %s: no positive integer id", origin)
        return None
    vuln_id = f"{ID_PREFIX}{number}"
    name = report.get("module_name")
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not _NAME.match(name):
        log.warning("skipping %s: no valid npm package name", vuln_id)
        return None
    vulnerable = report.get("vulnerable_versions")
    patched = report.get("patched_versions")
    if not isinstance(vulnerable, str) or npm_ranges.parse_range(vulnerable) is None:
        log.warning("skipping %s: unreadable vulnerable_versions %.100r", vuln_id, vulnerable)
        return None
    if patched is not None and (
        not isinstance(patched, str)
        or (patched.strip() and npm_ranges.parse_range(patched) is None)
    ):
        log.warning("skipping %s: unreadable patched_versions %.100r", vuln_id, patched)
        return None
    patched = patched.strip() if isinstance(patched, str) and patched.strip() else None

    entry: dict[str, Any] = {
        "package": {"ecosystem": ECOSYSTEM, "name": name, "purl": f"pkg:npm/{_purl_name(name)}"},
        "database_specific": {"vulnerable_versions": vulnerable, "patched_versions": patched},
    }
    # The SEMVER form is for other OSV readers; it is exact only when nothing is patched
    # inside the vulnerable range, so it is left out otherwise (the npm ranges decide).
    exact = (
        npm_ranges.osv_ranges(vulnerable)
        if patched is None or _disjoint(vulnerable, patched)
        else None
    )
    if exact is not None:
        ranges, versions = exact
        if ranges:
            entry["ranges"] = ranges
        if versions:
            entry["versions"] = versions

    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": vuln_id,
        "modified": _date(report.get("updated_at")) or _date(report.get("created_at")),
        "published": _date(report.get("publish_date")) or _date(report.get("created_at")),
        "aliases": _aliases(report.get("cves")),
        "summary": _text(report.get("title"), 500),
        "details": _details(report),
        "affected": [entry],
        "references": _references(vuln_id, report.get("references")),
        "database_specific": {"source": "nodejs/security-wg", "nswg_id": number},
    }
    vector = report.get("cvss_vector")
    if isinstance(vector, str) and _CVSS3.match(vector):
        record["severity"] = [{"type": "CVSS_V3", "score": vector}]
    score = report.get("cvss_score")
    if isinstance(score, int | float) and not isinstance(score, bool) and 0 <= score <= 10:
        record["database_specific"]["cvss_score"] = score
    return {key: value for key, value in record.items() if value not in (None, "", [])}


def _disjoint(vulnerable: str, patched: str) -> bool:
    """Whether no fixed version of ``patched`` lies inside ``vulnerable`` (the usual case)."""
    return not any(npm_ranges.satisfies(v, vulnerable) for v in npm_ranges.lower_bounds(patched))


def _purl_name(name: str) -> str:
    return name.replace("@", "%40", 1) if name.startswith("@") else name


def _date(value: object) -> str | None:
    """An RFC 3339 time from a report's ``YYYY-MM-DD`` date (midnight UTC)."""
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return None
    return f"{value}T00:00:00Z"


def _text(value: object, cap: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    return text if len(text) <= cap else text[: cap - 1] + "…"


def _details(report: dict[str, Any]) -> str | None:
    parts = [
        _text(report.get("overview"), MAX_TEXT_CHARS),
        _text(report.get("recommendation"), MAX_TEXT_CHARS),
    ]
    joined = "\n\n".join(part for part in parts if part)
    return _text(joined, MAX_TEXT_CHARS)


def _aliases(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    found = {item.strip() for item in value if isinstance(item, str) and _CVE.match(item.strip())}
    return sorted(found)[:MAX_ALIASES]


def _references(vuln_id: str, value: object) -> list[dict[str, str]]:
    urls = [
        item for item in (value if isinstance(value, list) else [])
        if isinstance(item, str) and len(item) <= MAX_URL_CHARS
        and item.startswith(("https://", "http://"))
    ]  # fmt: skip
    refs = [{"type": "WEB", "url": url} for url in dict.fromkeys(urls)][:MAX_REFERENCES]
    number = vuln_id.removeprefix(ID_PREFIX)
    refs.append(
        {
            "type": "ADVISORY",
            "url": f"https://github.com/nodejs/security-wg/blob/main/vuln/npm/{number}.json",
        }
    )
    return refs
