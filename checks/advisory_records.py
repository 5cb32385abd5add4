"""One OSV advisory record checked before it enters the store.

A record comes from a supplier-independent but still untrusted archive: it
must be a mapping with a usable id, small enough once serialised as JSON, and
made of plain values (YAML timestamps become RFC 3339 strings; a YAML alias
bomb is cut off at ``MAX_RECORD_NODES`` values). Only its ``affected`` entries
of the source's ecosystem are kept for the index. An unusable record is
logged and skipped, never guessed at.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from typing import Any

from checks.advisory_model import ECOSYSTEM, package_key

log = logging.getLogger(__name__)

#: one record once serialised as JSON (guards against YAML alias expansion)
MAX_RECORD_BYTES = 4 * 1024**2
MAX_ID_CHARS = 200
#: values in one record (the largest PyPA records have a few thousand)
MAX_RECORD_NODES = 200_000


@dataclass(frozen=True)
class PreparedRecord:
    """A record as stored: its JSON text and its index entries (package key, entry JSON)."""

    id: str
    modified: str | None
    withdrawn: str | None
    record: str
    entries: list[tuple[str, str]]


def prepare_record(origin: str, raw: object, ecosystem: str = ECOSYSTEM) -> PreparedRecord | None:
    """Validate one record; ``None`` when it is unusable (logged)."""
    if not isinstance(raw, dict):
        log.warning("skipping %s: not an OSV record (a mapping)", origin)
        return None
    try:
        record = _plain(raw)
    except (_TooBig, RecursionError):
        log.warning("skipping %s: more than %d values", origin, MAX_RECORD_NODES)
        return None
    vuln_id = record.get("id")
    if not isinstance(vuln_id, str) or not vuln_id.strip() or len(vuln_id) > MAX_ID_CHARS:
        log.warning("skipping %s: no valid id", origin)
        return None
    try:
        text = json.dumps(record, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        log.warning("skipping %s: not representable as JSON (%s)", origin, exc)
        return None
    if len(text) > MAX_RECORD_BYTES:
        log.warning("skipping %s: larger than %d bytes as JSON", origin, MAX_RECORD_BYTES)
        return None
    affected = record.get("affected")
    entries: list[tuple[str, str]] = []
    for entry in affected if isinstance(affected, list) else []:
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict) or package.get("ecosystem") != ecosystem:
            continue
        name = package.get("name")
        if not isinstance(name, str) or not name.strip():
            log.warning("%s: an affected entry without a package name is ignored", vuln_id)
            continue
        entries.append((package_key(name, ecosystem), json.dumps(entry, sort_keys=True)))
    modified = record.get("modified")
    withdrawn = record.get("withdrawn")
    return PreparedRecord(
        id=vuln_id,
        modified=modified if isinstance(modified, str) else None,
        withdrawn=str(withdrawn) if withdrawn not in (None, "") else None,
        record=text,
        entries=entries,
    )


class _TooBig(Exception):
    pass


def _plain(value: Any, budget: list[int] | None = None) -> Any:
    """A copy with YAML timestamps as RFC 3339 strings, so the record is plain JSON.

    Raises ``_TooBig`` past ``MAX_RECORD_NODES`` values: YAML aliases can make a
    small file expand exponentially (a "billion laughs" document).
    """
    budget = [MAX_RECORD_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig
    if isinstance(value, dict):
        return {key: _plain(item, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, budget) for item in value]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def parse_time(text: object) -> datetime.datetime | None:
    """An OSV timestamp as an aware datetime (UTC when it names no zone); None if unreadable."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)
