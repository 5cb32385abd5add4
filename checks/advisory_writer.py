"""The SQLite file an import writes: one source's records, then the other sources copied.

``StoreBuilder`` fills a fresh database (no journal: the file is renamed over
the store only once complete), indexing each record's ``affected`` entries by
package; ``carry_over`` copies every other ecosystem's source from the store
it replaces, reading a schema-1 store (before sources existed) as the PyPI
source. ``checks.advisory_store`` reads what is written here.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
from pathlib import Path

from checks.advisory_model import ECOSYSTEM
from checks.advisory_records import parse_time, prepare_record
from checks.advisory_store import schema

log = logging.getLogger(__name__)

#: the layout written here ("1": one source, from before npm was imported)
SCHEMA_VERSION = "2"


class StoreBuilder:
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
        prepared = prepare_record(name, raw, self.ecosystem)
        if prepared is None:
            self.skipped += 1
            return
        if not prepared.entries:
            return  # a record for other ecosystems only
        modified = parse_time(prepared.modified)
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
            when = parse_time(text)
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
