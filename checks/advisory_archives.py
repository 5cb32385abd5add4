"""Reading advisory archives in place: members of a .tar.gz stream or a .zip, within caps.

Nothing is extracted to disk. Each member is read only when its name matches,
at most ``Caps.member_bytes`` of it (a larger one is logged and given as
``None``); the whole decompressed stream and the number of members are capped,
and passing either cap refuses the archive (``ArchiveError``).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from checks.advisory_model import ArchiveError

log = logging.getLogger(__name__)

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Caps:
    """How much of an archive is read."""

    member_bytes: int
    total_bytes: int
    members: int


def tar_members(
    path: Path,
    pattern: re.Pattern[str] | None,
    load: Callable[[str, bytes], object],
    caps: Caps,
) -> Iterator[tuple[str, object]]:
    """``(name, load(name, data))`` of each regular member whose name matches ``pattern``.

    With no pattern, every regular member is named but none is read.
    """
    with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as gz:
        capped = _CappedReader(gz, caps.total_bytes, path)
        try:
            with tarfile.open(fileobj=capped, mode="r|") as tar:
                for count, member in enumerate(tar, start=1):
                    if count > caps.members:
                        raise ArchiveError(f"{path} has more than {caps.members} members")
                    if not member.isreg():
                        continue
                    if pattern is None:
                        yield member.name, None
                        continue
                    if not pattern.match(member.name):
                        continue
                    if member.size > caps.member_bytes:
                        log.warning("skipping %s: %d bytes", member.name, member.size)
                        yield member.name, None
                        continue
                    handle = tar.extractfile(member)
                    if handle is None:
                        continue
                    data = handle.read(caps.member_bytes + 1)
                    yield (
                        member.name,
                        None if len(data) > caps.member_bytes else load(member.name, data),
                    )
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ArchiveError(f"{path} is not a readable .tar.gz: {exc}") from exc


def zip_records(path: Path, caps: Caps) -> Iterator[tuple[str, object]]:
    """JSON records of an OSV ``all.zip`` export."""
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > caps.members:
                raise ArchiveError(f"{path} has more than {caps.members} members")
            for info in infos:
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                if info.file_size > caps.member_bytes:
                    log.warning("skipping %s: %d bytes", info.filename, info.file_size)
                    yield info.filename, None
                    continue
                with archive.open(info) as handle:
                    data = handle.read(caps.member_bytes + 1)
                total += len(data)
                if total > caps.total_bytes:
                    raise ArchiveError(f"{path} decompresses to more than {caps.total_bytes} bytes")
                too_big = len(data) > caps.member_bytes
                yield info.filename, None if too_big else load_json(info.filename, data)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{path} is not a readable .zip: {exc}") from exc


def load_yaml(name: str, data: bytes) -> object:
    """One YAML document with the safe loader; ``None`` (logged) when it does not parse."""
    try:
        return yaml.load(data.decode("utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - safe loader
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        log.warning("skipping %s: invalid YAML (%s)", name, str(exc).splitlines()[0][:200])
        return None


def load_json(name: str, data: bytes) -> object:
    """One JSON document; ``None`` (logged) when it does not parse."""
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
