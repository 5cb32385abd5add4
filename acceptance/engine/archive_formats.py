"""Read tar.gz and zip archives member by member into an ArchiveWriter, refusing what is not a file."""

from __future__ import annotations

import gzip
import io
import stat
import struct
import tarfile
import zipfile
import zlib

from acceptance.engine.archive_rules import (
    MAX_NAME_BYTES,
    REMAKE_HINT,
    ArchiveError,
    ArchiveLimits,
    shown_name,
)
from acceptance.engine.archive_writer import CHUNK_BYTES, ArchiveWriter

# Per member, what a tar stream may hold besides file data: header, padding,
# and long-name or pax records.
_TAR_OVERHEAD_PER_ENTRY = 4096
_ZIP_CENTRAL_ENTRY_BYTES = 46 + MAX_NAME_BYTES + 256
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ZIP_ENCRYPTED = 0x1


# ---------------------------------------------------------------- tar.gz


class _CappedStream(io.RawIOBase):
    """The decompressed tar stream, failing once it exceeds ``cap`` bytes (gzip bombs)."""

    def __init__(self, inner: gzip.GzipFile, cap: int) -> None:
        super().__init__()
        self._inner = inner
        self._cap = cap
        self._count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_BYTES), b""))
        # Never ask gzip for more than one byte past the cap: it decompresses what it is asked for.
        data = self._inner.read(min(size, self._cap - self._count + 1))
        self._count += len(data)
        if self._count > self._cap:
            raise ArchiveError(
                f"the tar.gz decompresses to more than {self._cap} bytes",
                hint="hidden tests should be small; leave large data out of the archive",
            )
        return data


def extract_tar(raw: bytes, writer: ArchiveWriter) -> None:
    limits = writer.limits
    cap = limits.max_total_bytes + limits.max_entries * _TAR_OVERHEAD_PER_ENTRY + 64 * 1024
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb") as unzipped:
            stream = _CappedStream(unzipped, cap)
            # "r|": a forward-only stream, so members are seen (and checked) as they arrive.
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    _extract_tar_member(tar, member, writer)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"the tar.gz cannot be read: {exc}", hint=REMAKE_HINT) from exc


def _extract_tar_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, writer: ArchiveWriter
) -> None:
    name = member.name
    parts = writer.entry(name)

    def refuse(what: str) -> ArchiveError:
        return ArchiveError(
            f"member {shown_name(name)} is {what}; only files and folders are accepted",
            member=name,
            hint="replace it with the real file, or leave it out; " + REMAKE_HINT,
        )

    if member.issym() or member.islnk():
        kind = "a symbolic link" if member.issym() else "a hard link"
        raise refuse(f"{kind} (to {shown_name(member.linkname)})")
    if member.ischr() or member.isblk():
        raise refuse("a device")
    if member.isfifo():
        raise refuse("a FIFO")
    if member.issparse():
        raise refuse("a sparse file")
    if member.isdir():
        if parts:
            writer.directory(parts, name)
        return
    if not member.isreg():
        raise refuse(f"of tar type {member.type!r}")
    if not parts:
        raise ArchiveError(
            f"member {shown_name(name)} is a file without a name", member=name, hint=REMAKE_HINT
        )
    source = tar.extractfile(member)
    if source is None:  # only for links and special files, refused above
        raise refuse("not a regular file")
    writer.file(parts, name, member.size, source)


# ---------------------------------------------------------------- zip


def extract_zip(raw: bytes, writer: ArchiveWriter) -> None:
    limits = writer.limits
    _check_central_directory(raw, limits)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise ArchiveError(
                    f"the archive has more than {limits.max_entries} entries",
                    hint=f"keep at most {limits.max_files} files in the archive",
                )
            for info in infos:
                _extract_zip_member(archive, info, writer)
    except (
        zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, struct.error,
        # zipfile's answers to bogus offsets (BytesIO seek) and to flags it cannot handle
        ValueError, NotImplementedError,
    ) as exc:  # fmt: skip
        raise ArchiveError(f"the zip cannot be read: {exc}", hint=REMAKE_HINT) from exc


def _extract_zip_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, writer: ArchiveWriter
) -> None:
    # orig_filename keeps what zipfile cuts at a NUL, so "evil\0.py" cannot pass as "evil".
    name = info.orig_filename
    parts = writer.entry(name)
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise ArchiveError(
            f"member {shown_name(name)} is a symbolic link; only files and folders are accepted",
            member=name,
            hint="replace it with the real file; " + REMAKE_HINT,
        )
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveError(
            f"member {shown_name(name)} is a device, FIFO or socket; only files and folders are accepted",
            member=name,
            hint=REMAKE_HINT,
        )
    if info.flag_bits & _ZIP_ENCRYPTED:
        raise ArchiveError(
            f"member {shown_name(name)} is encrypted",
            member=name,
            hint="upload the archive without a password",
        )
    if name.endswith("/") or kind == stat.S_IFDIR:
        if parts:
            writer.directory(parts, name)
        return
    if info.compress_type not in _ZIP_METHODS:
        raise ArchiveError(
            f"member {shown_name(name)} uses zip compression method {info.compress_type}; "
            "only stored and deflate are accepted",
            member=name,
            hint="create the zip with default settings (`zip -r hidden.zip .`)",
        )
    if not parts:
        raise ArchiveError(
            f"member {shown_name(name)} is a file without a name", member=name, hint=REMAKE_HINT
        )
    with archive.open(info) as source:
        writer.file(parts, name, info.file_size, source)


def _check_central_directory(raw: bytes, limits: ArchiveLimits) -> None:
    """Refuse a zip whose central directory is too big before zipfile loads all of it.

    zipfile reads every central directory entry into memory when it opens the
    archive, so a small zip listing millions of entries would exhaust memory.
    The end record is found the way zipfile finds it.
    """
    end = b"PK\x05\x06"
    if len(raw) >= 22 and raw[-22:-18] == end and raw[-2:] == b"\x00\x00":
        at = len(raw) - 22
    else:
        at = raw.rfind(end, max(0, len(raw) - 65535 - 22))
    if at < 0 or len(raw) < at + 22:
        return  # not a zip: zipfile says so
    entries, size = struct.unpack_from("<HI", raw, at + 10)
    locator = at - 20
    if locator >= 56 and raw[locator : locator + 4] == b"PK\x06\x07":
        record = raw[locator - 56 : locator]
        if record[:4] == b"PK\x06\x06":
            on_disk, total, size64 = struct.unpack_from("<QQQ", record, 24)
            entries, size = max(entries, on_disk, total), max(size, size64)
    if entries > limits.max_entries or size > limits.max_entries * _ZIP_CENTRAL_ENTRY_BYTES:
        raise ArchiveError(
            f"the zip lists more than {limits.max_entries} entries",
            hint=f"keep at most {limits.max_files} files in the archive",
        )
