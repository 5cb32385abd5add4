"""An offline store of OSV advisories, one source per ecosystem, in one SQLite file.

Three archive formats are imported, detected by their content:

* the PyPA advisory database as a ``.tar.gz``: YAML records under
  ``vulns/<package>/<ID>.yaml`` (optionally below one top-level folder, as in
  a repository snapshot);
* OSV's ``all.zip`` export: one JSON record per member;
* the Node.js Security Working Group's npm database as a ``.tar.gz``: JSON
  reports under ``vuln/npm/<n>.json`` (optionally below one top-level folder),
  each mapped to an OSV record by ``checks.nswg`` (ecosystem ``npm``).

The first two are the ``PyPI`` source, the third the ``npm`` source; an OSV
export of the npm ecosystem (OSV publishes one ``all.zip`` per ecosystem) is
imported as the ``npm`` source when asked (``ecosystem="npm"``), replacing the
working group's data, whose reports stop in 2020. Archives
are read in place (never extracted to disk), member by member, with caps on
the size of each member, on the total decompressed size and on the number of
members. Only ``affected`` entries of the source's ecosystem are indexed; a
record without one is left out.

An import adds or replaces one source: it builds a new database beside the old
one holding the new source's records and a copy of every other source's, then
renames it over the old one, so readers see either the old or the new data,
never a mix. Imports into one folder take turns (a lock on the folder), so two
imports of different sources cannot lose each other's data. An archive without
a single usable record of its ecosystem is refused and the previous store is
kept. A store written before sources existed (schema 1) is read as one PyPI
source and carried over by the next import.

Reading is ``checks.advisory_store`` (``AdvisoryStore``), matching
``checks.osv_match``, the shared types ``checks.advisory_model``; this module
re-exports what callers have always imported from it.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks import nswg
from checks.advisory_archives import Caps, load_json, load_yaml, tar_members, zip_records
from checks.advisory_model import (
    ECOSYSTEM,
    NPM,
    AdvisoryStoreError,
    ArchiveError,
    ImportSummary,
    StoreStatus,
    package_key,
)
from checks.advisory_store import AdvisoryStore, schema
from checks.osv_match import SemVer, affects

# What callers have always imported from here.
__all__ = [
    "ECOSYSTEM",
    "ECOSYSTEMS",
    "FORMATS",
    "NPM",
    "AdvisoryStore",
    "AdvisoryStoreError",
    "ArchiveError",
    "ImportSummary",
    "SemVer",
    "StoreStatus",
    "affects",
    "import_archive",
    "package_key",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"
#: the ecosystems the store keeps a source for
ECOSYSTEMS = (ECOSYSTEM, NPM)
#: each archive format, the ecosystem (the source) it fills by default
FORMATS = {"pypa-yaml-tar": ECOSYSTEM, "osv-json-zip": ECOSYSTEM, "nswg-json-tar": NPM}

#: one advisory file; the largest in the PyPA database is under 20 KB
MAX_MEMBER_BYTES = 4 * 1024**2
#: everything decompressed from one archive (OSV's full export is a few GB)
MAX_TOTAL_BYTES = 16 * 1024**3
MAX_MEMBERS = 5_000_000
#: one record once serialised as JSON (guards against YAML alias expansion)
MAX_RECORD_BYTES = 4 * 1024**2
MAX_ID_CHARS = 200
#: values in one record (the largest PyPA records have a few thousand)
MAX_RECORD_NODES = 200_000

_TAR_MEMBER = re.compile(r"^(?:[^/]+/)?vulns/[^/]+/[^/]+\.ya?ml$")
_NSWG_MEMBER = re.compile(r"^(?:[^/]+/)?vuln/npm/[0-9]+\.json$")
_HINT_IMPORT = "import one with `acceptance advisories import ARCHIVE`"


# ---------------------------------------------------------------- import


def import_archive(path: Path, store: Path, ecosystem: str | None = None) -> ImportSummary:
    """Load every advisory in the archive at ``path`` into ``store``, replacing its source only.

    The archive's format decides the source (``FORMATS``): a PyPI archive
    replaces the PyPI records and keeps the npm ones, and the other way round.
    ``ecosystem`` picks which ecosystem's records an OSV ``all.zip`` export
    gives (``PyPI`` by default: OSV publishes one export per ecosystem); the
    other formats hold one ecosystem only and refuse another.
    """
    if ecosystem is not None and ecosystem not in ECOSYSTEMS:
        raise ArchiveError(
            f"unknown ecosystem {ecosystem!r}", hint=f"use one of: {', '.join(ECOSYSTEMS)}"
        )
    started = time.monotonic()
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ArchiveError(
            f"cannot read the advisory archive {path}: {exc.strerror or exc}"
        ) from exc
    records: Callable[[Path], Iterator[tuple[str, object]]]
    if magic[:2] == b"\x1f\x8b":
        fmt = _tar_format(path)
        records = _nswg_records if fmt == "nswg-json-tar" else _tar_records
    elif magic == b"PK\x03\x04":
        fmt, records = "osv-json-zip", _zip_records
    else:
        raise ArchiveError(
            f"{path} is neither a .tar.gz of YAML advisories nor a .zip of OSV JSON records",
            hint="use the PyPA advisory-database archive, OSV's all.zip export or the "
            "Node.js Security WG's npm database (.tar.gz)",
        )
    if fmt != "osv-json-zip" and ecosystem not in (None, FORMATS[fmt]):
        raise ArchiveError(
            f"{path} holds {FORMATS[fmt]} advisories ({fmt}), not {ecosystem}",
            hint="give --ecosystem only with an OSV all.zip export",
        )
    ecosystem = ecosystem or FORMATS[fmt]
    digest = _sha256(path)
    store.parent.mkdir(parents=True, exist_ok=True)
    with _folder_lock(store.parent):
        fd, tmp_name = tempfile.mkstemp(prefix=f".{store.name}.", suffix=".tmp", dir=store.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            builder = _Builder(tmp, ecosystem)
            try:
                for name, record in records(path):
                    builder.add(name, record)
                imported_at = _now()
                newest = builder.finish(
                    source=path.name, fmt=fmt, sha256=digest, imported_at=imported_at
                )
                if builder.records == 0:
                    raise ArchiveError(
                        f"{path} holds no usable {ecosystem} advisory ({builder.skipped} skipped); "
                        "the previous store was kept"
                    )
                kept = builder.carry_over(store)
            finally:
                builder.close()
            os.replace(tmp, store)
            _fsync_dir(store.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return ImportSummary(
        source=path.name,
        format=fmt,
        sha256=digest,
        records=builder.records,
        withdrawn=builder.withdrawn,
        packages=len(builder.packages),
        skipped=builder.skipped,
        newest_modified=newest,
        imported_at=imported_at,
        seconds=round(time.monotonic() - started, 3),
        ecosystem=ecosystem,
        kept=kept,
        store_bytes=store.stat().st_size,
    )


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder``: imports of two sources must not interleave.

    The lock is on the folder itself, so no lock file is left beside the store.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _tar_format(path: Path) -> str:
    """Which kind of .tar.gz this is, from its first advisory member (PyPA's when neither)."""
    for name in _tar_names(path):
        if _TAR_MEMBER.match(name):
            return "pypa-yaml-tar"
        if _NSWG_MEMBER.match(name):
            return "nswg-json-tar"
    return "pypa-yaml-tar"  # then refused as holding no usable record


class _Builder:
    """Writes records into a fresh database file."""

    def __init__(self, path: Path, ecosystem: str) -> None:
        self.ecosystem = ecosystem
        self._db = sqlite3.connect(path)
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE sources (
                ecosystem TEXT PRIMARY KEY,
                source TEXT, format TEXT, sha256 TEXT,
                records INTEGER, withdrawn INTEGER, packages INTEGER, skipped INTEGER,
                imported_at TEXT, newest_modified TEXT
            );
            CREATE TABLE vulns (
                ecosystem TEXT NOT NULL,
                id TEXT NOT NULL,
                modified TEXT,
                withdrawn TEXT,
                record TEXT NOT NULL,
                PRIMARY KEY (ecosystem, id)
            );
            CREATE TABLE affected (
                ecosystem TEXT NOT NULL,
                vuln_id TEXT NOT NULL,
                package TEXT NOT NULL,
                entry TEXT NOT NULL
            );
            """
        )
        self._modified: dict[str, datetime.datetime | None] = {}
        self.packages: set[str] = set()
        self.skipped = 0
        self.withdrawn = 0
        self.records = 0

    def add(self, name: str, raw: object) -> None:
        prepared = _prepare(name, raw, self.ecosystem)
        if prepared is None:
            self.skipped += 1
            return
        if not prepared.entries:
            return  # a record for other ecosystems only
        modified = _parse_time(prepared.modified)
        if prepared.id in self._modified:
            previous = self._modified[prepared.id]
            if previous is not None and (modified is None or modified <= previous):
                log.info("advisory %s appears twice; keeping the newer copy", prepared.id)
                return
            self._db.execute("DELETE FROM vulns WHERE id = ?", (prepared.id,))
            self._db.execute("DELETE FROM affected WHERE vuln_id = ?", (prepared.id,))
        self._modified[prepared.id] = modified
        self._db.execute(
            "INSERT INTO vulns (ecosystem, id, modified, withdrawn, record) VALUES (?, ?, ?, ?, ?)",
            (self.ecosystem, prepared.id, prepared.modified, prepared.withdrawn, prepared.record),
        )
        self._db.executemany(
            "INSERT INTO affected (ecosystem, vuln_id, package, entry) VALUES (?, ?, ?, ?)",
            [(self.ecosystem, prepared.id, package, entry) for package, entry in prepared.entries],
        )

    def finish(self, *, source: str, fmt: str, sha256: str, imported_at: str) -> str | None:
        db = self._db
        (self.records,) = db.execute("SELECT count(*) FROM vulns").fetchone()
        (self.withdrawn,) = db.execute(
            "SELECT count(*) FROM vulns WHERE withdrawn IS NOT NULL"
        ).fetchone()
        self.packages = {row[0] for row in db.execute("SELECT DISTINCT package FROM affected")}
        newest: tuple[datetime.datetime, str] | None = None
        for (text,) in db.execute("SELECT modified FROM vulns WHERE modified IS NOT NULL"):
            when = _parse_time(text)
            if when is not None and (newest is None or when > newest[0]):
                newest = (when, text)
        db.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.ecosystem, source, fmt, sha256, self.records, self.withdrawn,
                len(self.packages), self.skipped, imported_at, newest[1] if newest else None,
            ),
        )  # fmt: skip
        db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
        db.commit()
        return newest[1] if newest else None

    def carry_over(self, old: Path) -> tuple[str, ...]:
        """Copy every other source of the store at ``old``; the ecosystems copied.

        An unreadable old store is replaced (as a first import would) and logged:
        its other sources must then be imported again.
        """
        db = self._db
        kept: tuple[str, ...] = ()
        if old.is_file():
            try:
                kept = self._copy_from(old)
            except sqlite3.Error:
                db.rollback()
                log.warning(
                    "the previous advisory store %s is unreadable: only the %s source is kept",
                    old, self.ecosystem, exc_info=True,
                )  # fmt: skip
        db.execute("CREATE INDEX affected_package ON affected (ecosystem, package)")
        db.commit()
        return kept

    def _copy_from(self, old: Path) -> tuple[str, ...]:
        db = self._db
        db.execute("ATTACH DATABASE ? AS old", (old.resolve().as_uri() + "?mode=ro",))
        try:
            old_schema = schema(db, "old")
            if old_schema == "1":
                # a store from before sources existed: all of it is the PyPI source
                if self.ecosystem == ECOSYSTEM:
                    return ()
                meta = dict(db.execute("SELECT key, value FROM old.meta").fetchall())
                db.execute(
                    "INSERT INTO vulns SELECT ?, id, modified, withdrawn, record FROM old.vulns",
                    (ECOSYSTEM,),
                )
                db.execute(
                    "INSERT INTO affected SELECT ?, vuln_id, package, entry FROM old.affected",
                    (ECOSYSTEM,),
                )
                db.execute(
                    "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    (
                        ECOSYSTEM, meta.get("source"), meta.get("format"), meta.get("sha256"),
                        int(meta.get("records") or 0), int(meta.get("withdrawn") or 0),
                        int(meta.get("packages") or 0), meta.get("imported_at"),
                        meta.get("newest_modified"),
                    ),
                )  # fmt: skip
                db.commit()
                return (ECOSYSTEM,)
            if old_schema != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"unknown advisory store schema {old_schema!r}")
            mine = (self.ecosystem,)
            db.execute("INSERT INTO vulns SELECT * FROM old.vulns WHERE ecosystem != ?", mine)
            db.execute("INSERT INTO affected SELECT * FROM old.affected WHERE ecosystem != ?", mine)
            db.execute("INSERT INTO sources SELECT * FROM old.sources WHERE ecosystem != ?", mine)
            kept = tuple(
                row[0]
                for row in db.execute(
                    "SELECT ecosystem FROM sources WHERE ecosystem != ? ORDER BY ecosystem", mine
                )
            )
            db.commit()
            return kept
        finally:
            db.execute("DETACH DATABASE old")

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True)
class _Prepared:
    id: str
    modified: str | None
    withdrawn: str | None
    record: str
    entries: list[tuple[str, str]]


def _prepare(origin: str, raw: object, ecosystem: str = ECOSYSTEM) -> _Prepared | None:
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
    return _Prepared(
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


def _caps() -> Caps:
    # read at each import, so the caps can be lowered (tests) without reloading anything
    return Caps(MAX_MEMBER_BYTES, MAX_TOTAL_BYTES, MAX_MEMBERS)


def _tar_records(path: Path) -> Iterator[tuple[str, object]]:
    """YAML records of a PyPA advisory-database tarball, read as a stream."""
    return tar_members(path, _TAR_MEMBER, load_yaml, _caps())


def _zip_records(path: Path) -> Iterator[tuple[str, object]]:
    """JSON records of an OSV ``all.zip`` export."""
    return zip_records(path, _caps())


def _nswg_records(path: Path) -> Iterator[tuple[str, object]]:
    """The Node.js Security WG's reports as OSV records (``None`` for unusable ones)."""
    for name, report in tar_members(path, _NSWG_MEMBER, load_json, _caps()):
        yield name, (None if report is None else nswg.to_osv(name, report))


def _tar_names(path: Path) -> Iterator[str]:
    """The names of a .tar.gz's regular members, read as a stream (to tell formats apart)."""
    for name, _ in tar_members(path, None, load_json, _caps()):
        yield name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: object) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)
