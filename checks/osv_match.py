"""OSV matching: whether an ``affected`` entry covers a version.

Matching (``AdvisoryStore.query``) follows the OSV schema's evaluation rules:
package names are compared after PEP 503 normalisation; a version is affected
when an entry's ``versions`` list names it (PEP 440 equality) or when an
``ECOSYSTEM`` range covers it, its events sorted by PEP 440 order
(``introduced`` opens, ``fixed`` closes exclusively, ``last_affected`` closes
inclusively, ``limit`` bounds the whole range exclusively). ``SEMVER`` ranges
are evaluated with Semantic Versioning 2.0 order when the queried version is a
semantic version. ``GIT`` ranges name commits, not versions: they play no part
(the commits' release versions are in the ``versions`` list). A range with an
event version that does not parse is skipped and logged. Withdrawn records are
never returned by ``query``. ``npm`` entries are matched by their npm ranges
with node-semver (``checks.npm_ranges``), or else by their ``versions`` and
``SEMVER`` ranges as above.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from typing import Any

from packaging.version import InvalidVersion, Version

from checks import npm_ranges
from checks.advisory_model import NPM

log = logging.getLogger(__name__)


def matches(entry: Mapping[str, Any], version: str, ecosystem: str, vuln_id: str) -> bool:
    """Whether one ``affected`` entry covers ``version``, by its ecosystem's rules."""
    if ecosystem == NPM:
        decided = npm_ranges.npm_affects(entry, version)
        if decided is not None:
            return decided
    return affects(entry, version, vuln_id=vuln_id)


@functools.lru_cache(maxsize=65536)
def _pep440(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$"
)


@functools.total_ordering
class SemVer:
    """A Semantic Versioning 2.0 version, ordered by its rules (build metadata ignored)."""

    def __init__(self, text: str) -> None:
        match = _SEMVER.match(text)
        if match is None:
            raise ValueError(f"not a semantic version: {text!r}")
        self.core = (int(match[1]), int(match[2]), int(match[3]))
        self.pre: tuple[tuple[int, int | str], ...] = tuple(
            (0, int(part)) if part.isdigit() else (1, part)
            for part in (match[4].split(".") if match[4] else ())
        )

    def _key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int | str], ...]]:
        # A release sorts after all of its pre-releases.
        return (self.core, 0 if self.pre else 1, self.pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def _semver(text: str) -> SemVer | None:
    try:
        return SemVer(text)
    except ValueError:
        return None


def affects(entry: Mapping[str, Any], version: str, *, vuln_id: str = "?") -> bool:
    """Whether one OSV ``affected`` entry covers ``version`` (see the module docstring)."""
    wanted = _pep440(version)
    listed = entry.get("versions")
    if isinstance(listed, list):
        for item in listed:
            if not isinstance(item, str):
                continue
            if item == version:
                return True
            parsed = _pep440(item)
            if wanted is not None and parsed is not None and parsed == wanted:
                return True
    ranges = entry.get("ranges")
    for rng in ranges if isinstance(ranges, list) else []:
        if not isinstance(rng, dict):
            continue
        kind = rng.get("type")
        if kind == "ECOSYSTEM":
            if wanted is not None and _in_range(rng, wanted, _pep440, vuln_id):
                return True
        elif kind == "SEMVER":
            semver = _semver(version)
            if semver is not None and _in_range(rng, semver, _semver, vuln_id):
                return True
    return False


def _in_range(rng: Mapping[str, Any], version: Any, parse: Any, vuln_id: str) -> bool:
    """OSV's range evaluation for one ordered version type."""
    events = rng.get("events")
    if not isinstance(events, list) or not events:
        return False
    parsed: list[tuple[Any, str, object]] = []  # (sort key or None for "0", kind, value)
    limits: list[Any] = []
    for event in events:
        if not isinstance(event, dict) or len(event) != 1:
            log.warning("%s: skipping a range with a malformed event %r", vuln_id, event)
            return False
        ((kind, value),) = event.items()
        if kind not in ("introduced", "fixed", "last_affected", "limit") or not isinstance(
            value, str
        ):
            log.warning("%s: skipping a range with a malformed event %r", vuln_id, event)
            return False
        if kind == "introduced" and value == "0":
            parsed.append((None, kind, value))
            continue
        if kind == "limit" and value == "*":
            continue  # no limit
        point = parse(value)
        if point is None:
            log.warning("%s: skipping a range with the unparsable version %r", vuln_id, value)
            return False
        if kind == "limit":
            limits.append(point)
        else:
            parsed.append((point, kind, value))
    if limits and not any(version < limit for limit in limits):
        return False
    # "0" sorts before everything; ties keep the file's order (a stable sort).
    ordered = [item for item in parsed if item[0] is None] + sorted(
        (item for item in parsed if item[0] is not None), key=lambda item: item[0]
    )
    vulnerable = False
    for point, kind, _ in ordered:
        if kind == "introduced":
            if point is None or version >= point:
                vulnerable = True
        elif kind == "fixed":
            if version >= point:
                vulnerable = False
        elif kind == "last_affected" and version > point:
            vulnerable = False
    return vulnerable
