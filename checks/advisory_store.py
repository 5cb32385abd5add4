"""Reading the offline advisory store: its sources and the records that cover a version.

See ``checks.advisories`` for what the store holds and ``checks.advisory_writer`` for how it
is written.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from checks.advisory_model import (
    ECOSYSTEM,
    HINT_IMPORT,
    AdvisoryStoreError,
    StoreStatus,
    package_key,
)
from checks.osv_match import matches


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
            if matches(json.loads(entry), version, ecosystem, vuln_id):
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
            raise AdvisoryStoreError(f"no advisory store at {self.path}", hint=HINT_IMPORT)

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
                f"the advisory store {self._path} is unreadable: {exc}", hint=HINT_IMPORT
            ) from exc

    def schema(self) -> str:
        """The store's schema version ("1": before sources existed)."""
        try:
            return schema(self._db, "main")
        except sqlite3.Error as exc:
            raise AdvisoryStoreError(
                f"the advisory store {self._path} is unreadable: {exc}", hint=HINT_IMPORT
            ) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()


def schema(db: sqlite3.Connection, name: str) -> str:
    """The schema of database ``name`` (``main`` or an attached one); "1" when unstated."""
    row = db.execute(f"SELECT value FROM {name}.meta WHERE key = 'schema'").fetchone()  # noqa: S608
    return str(row[0]) if row and row[0] else "1"
