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

Reading archives is ``checks.advisory_archives``, checking each record
``checks.advisory_records``, writing the database ``checks.advisory_writer``;
reading the store is ``checks.advisory_store`` (``AdvisoryStore``), matching
``checks.osv_match``, the shared types ``checks.advisory_model``.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from checks import nswg
from checks.advisory_archives import Caps, load_json, load_yaml, tar_members, zip_records
from checks.advisory_model import ECOSYSTEM, NPM, ArchiveError, ImportSummary
from checks.advisory_writer import StoreBuilder

#: the ecosystems the store keeps a source for
ECOSYSTEMS = (ECOSYSTEM, NPM)
#: each archive format, the ecosystem (the source) it fills by default
FORMATS = {"pypa-yaml-tar": ECOSYSTEM, "osv-json-zip": ECOSYSTEM, "nswg-json-tar": NPM}

#: one advisory file; the largest in the PyPA database is under 20 KB
MAX_MEMBER_BYTES = 4 * 1024**2
#: everything decompressed from one archive (OSV's full export is a few GB)
MAX_TOTAL_BYTES = 16 * 1024**3
MAX_MEMBERS = 5_000_000

_TAR_MEMBER = re.compile(r"^(?:[^/]+/)?vulns/[^/]+/[^/]+\.ya?ml$")
_NSWG_MEMBER = re.compile(r"^(?:[^/]+/)?vuln/npm/[0-9]+\.json$")


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
            builder = StoreBuilder(tmp, ecosystem)
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
