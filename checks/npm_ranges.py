"""npm semver ranges (``<4.17.11``, ``>=1.0.0 <1.2.3 || ^2.0.0``), judged with node-semver.

node-semver is a port of npm's own ``semver`` package, so a range means here
what it means to npm. Ranges come from advisory data, which is untrusted: a
range longer than ``MAX_RANGE_CHARS`` or one node-semver cannot parse is
refused (``parse_range`` returns ``None``) and the caller skips the record.
Ranges are parsed strictly (not node-semver's "loose" mode, which drops the
comparators it cannot read and so would silently widen or narrow a range).

Pre-release versions are matched with ``include_prerelease``: an installed
``4.17.5-beta.1`` is inside ``<4.17.11`` for an advisory, even though npm
would not pick it to satisfy that range as a dependency.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

import nodesemver

log = logging.getLogger(__name__)

#: the longest range in the Node.js Security WG data is about 100 characters
MAX_RANGE_CHARS = 512
#: an installed version; npm's own limit is 256
MAX_VERSION_CHARS = 256


@functools.lru_cache(maxsize=4096)
def parse_range(text: str) -> Any | None:
    """node-semver's parsed range, or ``None`` when it is not a valid npm range."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_RANGE_CHARS:
        return None
    try:
        return nodesemver.make_range(text, False)
    except (ValueError, TypeError, AttributeError, IndexError, RecursionError):
        return None


@functools.lru_cache(maxsize=65536)
def _version(text: str) -> Any | None:
    if len(text) > MAX_VERSION_CHARS:
        return None
    try:
        return nodesemver.make_semver(text, loose=False)
    except (ValueError, TypeError, AttributeError, IndexError):
        return None


def satisfies(version: str, range_text: str) -> bool | None:
    """Whether ``version`` is inside the npm range; ``None`` when either does not parse."""
    parsed, semver = parse_range(range_text), _version(version)
    if parsed is None or semver is None:
        return None
    try:
        return bool(parsed.test(semver, include_prerelease=True))
    except (ValueError, TypeError, AttributeError):
        return None


def lower_bounds(range_text: str) -> list[str]:
    """The lowest version of each alternative of a range (``>=4.17.11`` gives ``4.17.11``).

    For a ``patched_versions`` range these are the fixed versions. Alternatives
    with no inclusive lower bound (``<1.0.0``, ``>2.0.0``) give none.
    """
    parsed = parse_range(range_text)
    found: set[str] = set()
    for comparators in parsed.set if parsed is not None else []:
        lows = [
            c.semver for c in comparators
            if c.semver is not nodesemver.ANY and c.operator in (">=", "", "=")
        ]  # fmt: skip
        if lows:
            # several lower bounds in one alternative: the highest one binds
            found.add(max(lows, key=functools.cmp_to_key(_compare)).version)
    return [str(v) for v in nodesemver.sort(sorted(found), False)]


def _compare(a: Any, b: Any) -> int:
    return int(a.compare(b))


def osv_ranges(range_text: str) -> tuple[list[dict[str, Any]], list[str]] | None:
    """The npm range as OSV ``SEMVER`` ranges and ``versions``, or ``None`` if it has no exact form.

    Each alternative of the range becomes one OSV range (``>=a`` introduces,
    ``<b`` fixes, ``<=b`` is the last affected) or, for a single version, an
    entry of ``versions``. ``>a`` becomes the smallest version above ``a``
    (``a`` with the next patch and the ``-0`` pre-release), as npm itself does.
    """
    parsed = parse_range(range_text)
    if parsed is None:
        return None
    ranges: list[dict[str, Any]] = []
    versions: list[str] = []
    for comparators in parsed.set:
        lower: str | None = "0"
        upper: tuple[str, str] | None = None
        exact: str | None = None
        for comparator in comparators:
            if comparator.semver is nodesemver.ANY:
                continue
            version, operator = comparator.semver.version, comparator.operator
            if operator in ("", "="):
                if exact is not None:
                    return None
                exact = version
            elif operator in (">=", ">"):
                if lower != "0":
                    return None  # two lower bounds: no single OSV event says it
                lower = version if operator == ">=" else _successor(comparator.semver)
            elif operator in ("<", "<="):
                if upper is not None:
                    return None
                upper = ("fixed" if operator == "<" else "last_affected", version)
            else:
                return None
        if exact is not None:
            if lower != "0" or upper is not None:
                return None
            versions.append(exact)
            continue
        events: list[dict[str, str]] = [{"introduced": lower or "0"}]
        if upper is not None:
            events.append({upper[0]: upper[1]})
        ranges.append({"type": "SEMVER", "events": events})
    return ranges, versions


def _successor(semver: Any) -> str:
    """The smallest semantic version greater than ``semver``."""
    if semver.prerelease:
        return f"{semver.major}.{semver.minor}.{semver.patch}-{'.'.join(map(str, semver.prerelease))}.0"
    return f"{semver.major}.{semver.minor}.{semver.patch + 1}-0"


def npm_affects(entry: Mapping[str, Any], version: str) -> bool | None:
    """Whether one ``npm`` OSV ``affected`` entry covers ``version``, by its npm ranges.

    Entries imported from npm ranges carry them in ``database_specific``
    (``vulnerable_versions``, ``patched_versions``): they decide, with npm's
    semantics. ``None`` when the entry carries none (the caller then reads its
    OSV ``versions`` and ``SEMVER`` ranges) or when the installed version is not
    a semantic version (nothing can be said about it).
    """
    specific = entry.get("database_specific")
    if not isinstance(specific, Mapping) or not isinstance(
        specific.get("vulnerable_versions"), str
    ):
        return None
    inside = satisfies(version, specific["vulnerable_versions"])
    if not inside:
        return inside
    patched = specific.get("patched_versions")
    if isinstance(patched, str) and patched.strip():
        fixed = satisfies(version, patched)
        return None if fixed is None else not fixed
    return True
