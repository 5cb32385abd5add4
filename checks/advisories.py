"""An offline store of OSV advisories, one source per ecosystem, in one SQLite file.

Three archive formats are imported, detected by their content:

* the PyPA advisory database as a ``.tar.gz``: YAML records under
  ``vulns/<package>/<ID>.yaml`` (optionally below one top-level folder, as in
  a repository snapshot);
* OSV's ``all.zip`` export: one JSON record per member;
* the Node.js Security Working Group's npm database as a ``.tar.gz``: JSON
  reports under ``vuln/npm/<n>.json`` (optionally below one top-level folder),
  each mapped to an OSV record by ``checks.nswg`` (ecosystem ``npm``).

The first two are the ``PyPI`` source, the third the ``npm`` source. Archives
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

import contextlib
import datetime
import fcntl
import functools
import gzip
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from acceptance.errors import PlatformError, UserInputError
from checks import npm_ranges, nswg

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"
#: the ecosystem the Python audit reads (and the default of every ecosystem argument)
ECOSYSTEM = "PyPI"
NPM = nswg.ECOSYSTEM
#: each archive format, the ecosystem (the source) it fills
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
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_HINT_IMPORT = "import one with `acceptance advisories import ARCHIVE`"


class AdvisoryStoreError(PlatformError):
    """The advisory store is missing or unreadable: the platform cannot audit."""

    code = "advisories:unavailable"


class ArchiveError(UserInputError):
    """The archive given to ``import_archive`` cannot be used."""

    code = "advisories:invalid-archive"


@dataclass(frozen=True)
class ImportSummary:
    """What one import put into the store."""

    source: str
    format: str
    sha256: str
    records: int
    withdrawn: int
    packages: int
    skipped: int
    newest_modified: str | None
    imported_at: str
    seconds: float
    #: the source (ecosystem) the import added or replaced
    ecosystem: str = ECOSYSTEM
    #: the other sources, carried over unchanged
    kept: tuple[str, ...] = ()
    #: the store's size in bytes after the import
    store_bytes: int = 0


@dataclass(frozen=True)
class StoreStatus:
    """What the store holds; ``records == 0`` means nothing was imported."""

    records: int
    withdrawn: int = 0
    packages: int = 0
    source: str | None = None
    format: str | None = None
    sha256: str | None = None
    imported_at: str | None = None
    newest_modified: str | None = None
    ecosystem: str = ECOSYSTEM
    #: records the import could not use (not in ``to_dict``: reports keep their fields)
    skipped: int = 0

    def to_dict(self) -> dict[str, object]:
        """The status as JSON-ready fields (what reports record as ``advisory_data``)."""
        return {
            "records": self.records,
            "withdrawn": self.withdrawn,
            "packages": self.packages,
            "source": self.source,
            "format": self.format,
            "sha256": self.sha256,
            "imported_at": self.imported_at,
            "newest_modified": self.newest_modified,
        }


# ---------------------------------------------------------------- import


def import_archive(path: Path, store: Path) -> ImportSummary:
    """Load every advisory in the archive at ``path`` into ``store``, replacing its source only.

    The archive's format decides the source (``FORMATS``): a PyPI archive
    replaces the PyPI records and keeps the npm ones, and the other way round.
    """
    started = time.monotonic()
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ArchiveError(f"cannot read the advisory archive {path}: {exc.strerror or exc}") from exc
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
    ecosystem = FORMATS[fmt]
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
            schema = _schema(db, "old")
            if schema == "1":
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
            if schema != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"unknown advisory store schema {schema!r}")
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


def package_key(name: str, ecosystem: str = ECOSYSTEM) -> str:
    """How the store indexes a package name: PEP 503 for PyPI, npm names as they are."""
    return canonicalize_name(name) if ecosystem == ECOSYSTEM else name.strip()


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


def _tar_records(path: Path) -> Iterator[tuple[str, object]]:
    """YAML records of a PyPA advisory-database tarball, read as a stream."""
    return _tar_members(path, _TAR_MEMBER, _load_yaml)


def _nswg_records(path: Path) -> Iterator[tuple[str, object]]:
    """The Node.js Security WG's reports as OSV records (``None`` for unusable ones)."""
    for name, report in _tar_members(path, _NSWG_MEMBER, _load_json):
        yield name, (None if report is None else nswg.to_osv(name, report))


def _tar_names(path: Path) -> Iterator[str]:
    """The names of a .tar.gz's regular members, read as a stream (to tell formats apart)."""
    for name, _ in _tar_members(path, None, _load_json):
        yield name


def _tar_members(
    path: Path, pattern: re.Pattern[str] | None, load: Callable[[str, bytes], object]
) -> Iterator[tuple[str, object]]:
    """``(name, load(name, data))`` of each regular member whose name matches ``pattern``.

    With no pattern, every regular member is named but none is read.
    """
    with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as gz:
        capped = _CappedReader(gz, MAX_TOTAL_BYTES, path)
        try:
            with tarfile.open(fileobj=capped, mode="r|") as tar:
                for count, member in enumerate(tar, start=1):
                    if count > MAX_MEMBERS:
                        raise ArchiveError(f"{path} has more than {MAX_MEMBERS} members")
                    if not member.isreg():
                        continue
                    if pattern is None:
                        yield member.name, None
                        continue
                    if not pattern.match(member.name):
                        continue
                    if member.size > MAX_MEMBER_BYTES:
                        log.warning("skipping %s: %d bytes", member.name, member.size)
                        yield member.name, None
                        continue
                    handle = tar.extractfile(member)
                    if handle is None:
                        continue
                    yield member.name, load(member.name, handle.read(MAX_MEMBER_BYTES + 1))
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ArchiveError(f"{path} is not a readable .tar.gz: {exc}") from exc


def _zip_records(path: Path) -> Iterator[tuple[str, object]]:
    """JSON records of an OSV ``all.zip`` export."""
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ArchiveError(f"{path} has more than {MAX_MEMBERS} members")
            for info in infos:
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                if info.file_size > MAX_MEMBER_BYTES:
                    log.warning("skipping %s: %d bytes", info.filename, info.file_size)
                    yield info.filename, None
                    continue
                with archive.open(info) as handle:
                    data = handle.read(MAX_MEMBER_BYTES + 1)
                total += len(data)
                if total > MAX_TOTAL_BYTES:
                    raise ArchiveError(f"{path} decompresses to more than {MAX_TOTAL_BYTES} bytes")
                yield info.filename, _load_json(info.filename, data)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{path} is not a readable .zip: {exc}") from exc


def _load_yaml(name: str, data: bytes) -> object:
    if len(data) > MAX_MEMBER_BYTES:
        return None
    try:
        return yaml.load(data.decode("utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - safe loader
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        log.warning("skipping %s: invalid YAML (%s)", name, str(exc).splitlines()[0][:200])
        return None


def _load_json(name: str, data: bytes) -> object:
    if len(data) > MAX_MEMBER_BYTES:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        log.warning("skipping %s: invalid JSON (%s)", name, str(exc)[:200])
        return None


class _CappedReader(io.RawIOBase):
    """A read-only stream that fails once more than ``cap`` bytes were read."""

    def __init__(self, inner: IO[bytes] | gzip.GzipFile, cap: int, path: Path) -> None:
        super().__init__()
        self._inner = inner
        self._cap = cap
        self._path = path
        self._read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._inner.read(-1 if size is None else size)
        self._read += len(data)
        if self._read > self._cap:
            raise ArchiveError(f"{self._path} decompresses to more than {self._cap} bytes")
        return data


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


# ---------------------------------------------------------------- reading


class AdvisoryStore:
    """Read-only access to an imported store; safe to share between threads.

    Every call opens its own connection, so a re-import (a rename) is picked up
    by the next call without restarting anything.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """Whether an import has created the store."""
        return self.path.is_file()

    def status(self, ecosystem: str = ECOSYSTEM) -> StoreStatus:
        """What the store holds for one ecosystem (PyPI: what the Python audit reads).

        ``records == 0`` when nothing was imported for it yet.
        """
        for status in self.sources():
            if status.ecosystem == ecosystem:
                return status
        return StoreStatus(records=0, ecosystem=ecosystem)

    def sources(self) -> list[StoreStatus]:
        """Each imported source (one per ecosystem), by ecosystem name; empty before any import."""
        if not self.exists():
            return []
        with self._connect() as db:
            schema = db.schema()
            if schema == "1":
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                return [
                    StoreStatus(
                        records=int(meta.get("records") or 0),
                        withdrawn=int(meta.get("withdrawn") or 0),
                        packages=int(meta.get("packages") or 0),
                        source=meta.get("source"),
                        format=meta.get("format"),
                        sha256=meta.get("sha256"),
                        imported_at=meta.get("imported_at"),
                        newest_modified=meta.get("newest_modified"),
                    )
                ]
            rows = db.execute(
                "SELECT ecosystem, source, format, sha256, records, withdrawn, packages, skipped, "
                "imported_at, newest_modified FROM sources ORDER BY ecosystem"
            ).fetchall()
        return [
            StoreStatus(
                ecosystem=row[0], source=row[1], format=row[2], sha256=row[3],
                records=int(row[4] or 0), withdrawn=int(row[5] or 0), packages=int(row[6] or 0),
                skipped=int(row[7] or 0), imported_at=row[8], newest_modified=row[9],
            )
            for row in rows
        ]  # fmt: skip

    def query(self, name: str, version: str, ecosystem: str = ECOSYSTEM) -> list[dict[str, Any]]:
        """The non-withdrawn records whose ``affected`` entries of ``ecosystem`` cover ``name`` ``version``."""
        rows = self._rows(name, ecosystem)
        matched: dict[str, str] = {}
        for vuln_id, record, entry in rows:
            if vuln_id in matched:
                continue
            if _matches(json.loads(entry), version, ecosystem, vuln_id):
                matched[vuln_id] = record
        return [json.loads(matched[key]) for key in sorted(matched)]

    def for_package(self, name: str, ecosystem: str = ECOSYSTEM) -> list[dict[str, Any]]:
        """Every non-withdrawn record naming the package, whatever the version."""
        records = {vuln_id: record for vuln_id, record, _ in self._rows(name, ecosystem)}
        return [json.loads(records[key]) for key in sorted(records)]

    def get(self, vuln_id: str) -> dict[str, Any] | None:
        """One record by id (withdrawn ones too, as OSV serves them), or ``None``."""
        self._require()
        with self._connect() as db:
            row = db.execute("SELECT record FROM vulns WHERE id = ?", (vuln_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def modified(self, vuln_ids: Sequence[str]) -> dict[str, str | None]:
        """The ``modified`` time of each known id (for batch answers)."""
        self._require()
        found: dict[str, str | None] = {}
        with self._connect() as db:
            for vuln_id in vuln_ids:
                row = db.execute("SELECT modified FROM vulns WHERE id = ?", (vuln_id,)).fetchone()
                if row:
                    found[vuln_id] = row[0]
        return found

    def _rows(self, name: str, ecosystem: str) -> list[tuple[str, str, str]]:
        self._require()
        key = package_key(name, ecosystem)
        with self._connect() as db:
            if db.schema() == "1":
                if ecosystem != ECOSYSTEM:
                    return []
                return db.execute(
                    "SELECT v.id, v.record, a.entry FROM affected a "
                    "JOIN vulns v ON v.id = a.vuln_id "
                    "WHERE a.package = ? AND v.withdrawn IS NULL ORDER BY v.id",
                    (key,),
                ).fetchall()
            return db.execute(
                "SELECT v.id, v.record, a.entry FROM affected a "
                "JOIN vulns v ON v.ecosystem = a.ecosystem AND v.id = a.vuln_id "
                "WHERE a.ecosystem = ? AND a.package = ? AND v.withdrawn IS NULL ORDER BY v.id",
                (ecosystem, key),
            ).fetchall()

    def _require(self) -> None:
        if not self.exists():
            raise AdvisoryStoreError(f"no advisory store at {self.path}", hint=_HINT_IMPORT)

    @functools.cached_property
    def _uri(self) -> str:
        return self.path.resolve().as_uri() + "?mode=ro"

    def _connect(self) -> _Connection:
        try:
            db = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise AdvisoryStoreError(f"cannot open the advisory store {self.path}: {exc}") from exc
        return _Connection(db, self.path)


class _Connection:
    """A connection closed on exit, SQLite failures turned into ``AdvisoryStoreError``."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise AdvisoryStoreError(
                f"the advisory store {self._path} is unreadable: {exc}", hint=_HINT_IMPORT
            ) from exc

    def schema(self) -> str:
        """The store's schema version ("1": before sources existed)."""
        try:
            return _schema(self._db, "main")
        except sqlite3.Error as exc:
            raise AdvisoryStoreError(
                f"the advisory store {self._path} is unreadable: {exc}", hint=_HINT_IMPORT
            ) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()


def _schema(db: sqlite3.Connection, name: str) -> str:
    """The schema of database ``name`` (``main`` or an attached one); "1" when unstated."""
    row = db.execute(f"SELECT value FROM {name}.meta WHERE key = 'schema'").fetchone()  # noqa: S608
    return str(row[0]) if row and row[0] else "1"


# ---------------------------------------------------------------- matching


def _matches(entry: Mapping[str, Any], version: str, ecosystem: str, vuln_id: str) -> bool:
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
