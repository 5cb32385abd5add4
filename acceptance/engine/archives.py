"""Extract an owner's hidden-tests archive (tar.gz or zip) safely into a fresh folder.

The archive is hostile until proven otherwise. Anything that could write
outside the folder, be more than it claims, or mean two things is refused,
never skipped: absolute paths, ``..``, links, devices and FIFOs, duplicate or
conflicting names, NUL/control characters and backslashes in names, too many
files, too deep, too large (counted in real decompressed bytes while
streaming, so zip and gzip bombs stop at the cap), encrypted or unusually
compressed zip members, and any format other than tar.gz and zip (told by
magic bytes, not by file name).

Extraction happens in a temporary sibling of ``dest`` through directory file
descriptors with ``O_NOFOLLOW`` and ``O_EXCL``, and is renamed to ``dest`` only
when everything was written: on any error nothing is left behind. Folders are
0o755 and files 0o644 whatever the archive says.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Self

from acceptance.errors import UserInputError

MAX_FILES: Final = 2000
MAX_TOTAL_BYTES: Final = 50 * 1024 * 1024
MAX_FILE_BYTES: Final = 10 * 1024 * 1024
MAX_DEPTH: Final = 32
#: the archive itself, before decompression
MAX_ARCHIVE_BYTES: Final = 64 * 1024 * 1024
#: a member's whole name and each of its path components, in UTF-8 bytes
MAX_NAME_BYTES: Final = 1024
MAX_COMPONENT_BYTES: Final = 255

_CHUNK = 64 * 1024
# Per member, what a tar stream may hold besides file data: header, padding,
# and long-name or pax records.
_TAR_OVERHEAD_PER_ENTRY = 4096
_ZIP_CENTRAL_ENTRY_BYTES = 46 + MAX_NAME_BYTES + 256
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ZIP_ENCRYPTED = 0x1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"[A-Za-z]:")

_REMAKE = (
    "re-create the archive from a plain folder of test files (tar -czf hidden.tar.gz -C DIR .)"
)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ArchiveError(UserInputError):
    """The uploaded archive is refused; ``member`` names the offending entry, if any."""

    code = "input:invalid-archive"

    def __init__(self, message: str, *, member: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.member = member


@dataclass(frozen=True, slots=True)
class ExtractSummary:
    """What was extracted, and the archive it came from."""

    #: ``tar.gz`` or ``zip``
    format: str
    files: int
    directories: int
    #: file bytes written (decompressed)
    bytes: int
    archive_sha256: str


@dataclass(frozen=True, slots=True)
class _Limits:
    max_files: int
    max_total_bytes: int
    max_file_bytes: int
    max_depth: int

    @property
    def max_entries(self) -> int:
        """Files plus explicit folder entries; folders are cheap but not free."""
        return 2 * self.max_files


def extract_archive(
    data: bytes | Path,
    dest: Path,
    *,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_depth: int = MAX_DEPTH,
    max_archive_bytes: int = MAX_ARCHIVE_BYTES,
) -> ExtractSummary:
    """Extract a tar.gz or zip archive into ``dest``, which must not exist yet.

    Raises ArchiveError (a UserInputError) naming the offending member and how
    to fix it; then ``dest`` does not exist. Missing parents of ``dest`` are
    created. FileExistsError if ``dest`` exists (even as a dangling link).
    """
    raw = _read_input(data, max_archive_bytes)
    kind = _detect(raw)
    limits = _Limits(max_files, max_total_bytes, max_file_bytes, max_depth)
    if os.path.lexists(dest):
        raise FileExistsError(f"{dest} already exists; extraction needs a fresh folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
    try:
        with _Writer(staging, limits) as writer:
            if kind == "tar.gz":
                _extract_tar(raw, writer)
            else:
                _extract_zip(raw, writer)
        if writer.files == 0:
            raise ArchiveError("the archive holds no files", hint=_REMAKE)
        os.chmod(staging, 0o755)
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExtractSummary(
        format=kind,
        files=writer.files,
        directories=writer.directories,
        bytes=writer.total_bytes,
        archive_sha256=hashlib.sha256(raw).hexdigest(),
    )


def _read_input(data: bytes | Path, cap: int) -> bytes:
    if isinstance(data, Path):
        with open(data, "rb") as handle:
            raw = handle.read(cap + 1)
    else:
        raw = bytes(data)
    if len(raw) > cap:
        raise ArchiveError(
            f"the archive is larger than {cap} bytes",
            hint="keep only the hidden test files and what they need in the archive",
        )
    return raw


def _detect(raw: bytes) -> str:
    """The archive's format from its first bytes; its name is never trusted."""
    if raw[:2] == b"\x1f\x8b":
        return "tar.gz"
    if raw[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if not raw:
        raise ArchiveError("the archive is empty", hint=_REMAKE)
    if raw[257:262] == b"ustar":
        found = "an uncompressed tar"
    elif raw[:3] == b"BZh":
        found = "a bzip2 file"
    elif raw[:6] == b"\xfd7zXZ\x00":
        found = "an xz file"
    elif raw[:6] == b"7z\xbc\xaf\x27\x1c":
        found = "a 7-Zip archive"
    elif raw[:4] == b"Rar!":
        found = "a RAR archive"
    else:
        found = "neither a tar.gz nor a zip"
    raise ArchiveError(
        f"the archive is {found}; only tar.gz and zip are accepted",
        hint="create it with `tar -czf hidden.tar.gz -C DIR .` or `zip -r hidden.zip .`",
    )


# ---------------------------------------------------------------- names


def _show(name: str) -> str:
    """A member name fit for a message: escaped, and short."""
    return repr(name if len(name) <= 120 else name[:120] + "...")


def _member_parts(name: str, limits: _Limits) -> tuple[str, ...]:
    """The path components of a member name, or ArchiveError saying what is wrong with it."""
    shown = _show(name)

    def refuse(why: str, hint: str = _REMAKE) -> ArchiveError:
        return ArchiveError(f"member {shown}: {why}", member=name, hint=hint)

    if not name:
        raise refuse("the name is empty")
    if _CONTROL.search(name):
        raise refuse("the name contains a NUL or control character")
    if "\\" in name:
        raise refuse("the name contains a backslash", "create the archive with a tool that uses /")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse("the name is not valid UTF-8") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise refuse(f"the name is longer than {MAX_NAME_BYTES} bytes")
    if name.startswith("/") or _DRIVE.match(name):
        raise refuse("the path is absolute", "archive paths relative to the folder of tests")
    # "./" and empty components are what `tar -C DIR .` writes; they change nothing.
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise refuse("the path contains '..'", "archive paths relative to the folder of tests")
    if len(parts) > limits.max_depth:
        raise refuse(f"the path is nested deeper than {limits.max_depth} folders")
    if any(len(part.encode("utf-8")) > MAX_COMPONENT_BYTES for part in parts):
        raise refuse(f"a path component is longer than {MAX_COMPONENT_BYTES} bytes")
    return parts


# ---------------------------------------------------------------- writing


class _Writer:
    """Writes members under a root folder through directory descriptors, never following links."""

    def __init__(self, root: Path, limits: _Limits) -> None:
        self.limits = limits
        self.files = 0
        self.directories = 0
        self.total_bytes = 0
        self._entries = 0
        self._seen: set[tuple[str, ...]] = set()
        self._root = os.open(root, _DIR_FLAGS)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._root)

    def entry(self, name: str) -> tuple[str, ...]:
        """Count one archive member and return its checked path components."""
        self._entries += 1
        if self._entries > self.limits.max_entries:
            raise ArchiveError(
                f"the archive has more than {self.limits.max_entries} entries",
                hint=f"keep at most {self.limits.max_files} files in the archive",
            )
        parts = _member_parts(name, self.limits)
        if parts and parts in self._seen:
            raise ArchiveError(
                f"member {_show(name)} appears more than once",
                member=name,
                hint="keep one copy of each file; " + _REMAKE,
            )
        self._seen.add(parts)
        return parts

    def directory(self, parts: tuple[str, ...], name: str) -> None:
        os.close(self._open_folder(parts, name))

    def file(self, parts: tuple[str, ...], name: str, declared: int, source: IO[bytes]) -> None:
        """Copy ``source`` to ``parts``, counting the bytes really read against the caps."""
        self.files += 1
        if self.files > self.limits.max_files:
            raise ArchiveError(
                f"the archive has more than {self.limits.max_files} files",
                member=name,
                hint="keep only the hidden tests and what they need",
            )
        # Headers may lie, so this early refusal is a courtesy; the counting below is the guard.
        self._check_size(declared, name)
        folder = self._open_folder(parts[:-1], name)
        try:
            descriptor = os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=folder)
        except (FileExistsError, IsADirectoryError):
            raise self._conflict(name) from None
        finally:
            os.close(folder)
        written = 0
        with open(descriptor, "wb") as out:
            os.fchmod(out.fileno(), 0o644)
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                self._check_size(written, name)
                out.write(chunk)
        self.total_bytes += written

    def _check_size(self, size: int, name: str) -> None:
        if size > self.limits.max_file_bytes:
            raise ArchiveError(
                f"member {_show(name)} is larger than {self.limits.max_file_bytes} bytes",
                member=name,
                hint="hidden tests should be small; leave large data out of the archive",
            )
        if self.total_bytes + size > self.limits.max_total_bytes:
            raise ArchiveError(
                f"the archive's files add up to more than {self.limits.max_total_bytes} bytes "
                f"(at member {_show(name)})",
                member=name,
                hint="hidden tests should be small; leave large data out of the archive",
            )

    def _open_folder(self, parts: tuple[str, ...], name: str) -> int:
        """Open (creating as needed) the folder ``parts`` below the root; the caller closes it."""
        current = os.dup(self._root)
        for depth, part in enumerate(parts, start=1):
            try:
                os.mkdir(part, 0o700, dir_fd=current)
                created = True
            except FileExistsError:
                created = False
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=current)
            except NotADirectoryError:
                raise self._conflict(name, "/".join(parts[:depth])) from None
            finally:
                os.close(current)
            current = child
            if created:
                # mkdir's mode is filtered by the umask; fchmod is not.
                os.fchmod(current, 0o755)
                self.directories += 1
        return current

    def _conflict(self, name: str, prefix: str | None = None) -> ArchiveError:
        where = f" ({prefix!r} is a file)" if prefix else ""
        return ArchiveError(
            f"member {_show(name)} clashes with another member of the same name{where}",
            member=name,
            hint="a path cannot be both a file and a folder; " + _REMAKE,
        )


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
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        # Never ask gzip for more than one byte past the cap: it decompresses what it is asked for.
        data = self._inner.read(min(size, self._cap - self._count + 1))
        self._count += len(data)
        if self._count > self._cap:
            raise ArchiveError(
                f"the tar.gz decompresses to more than {self._cap} bytes",
                hint="hidden tests should be small; leave large data out of the archive",
            )
        return data


def _extract_tar(raw: bytes, writer: _Writer) -> None:
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
        raise ArchiveError(f"the tar.gz cannot be read: {exc}", hint=_REMAKE) from exc


def _extract_tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, writer: _Writer) -> None:
    name = member.name
    parts = writer.entry(name)

    def refuse(what: str) -> ArchiveError:
        return ArchiveError(
            f"member {_show(name)} is {what}; only files and folders are accepted",
            member=name,
            hint="replace it with the real file, or leave it out; " + _REMAKE,
        )

    if member.issym() or member.islnk():
        kind = "a symbolic link" if member.issym() else "a hard link"
        raise refuse(f"{kind} (to {_show(member.linkname)})")
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
            f"member {_show(name)} is a file without a name", member=name, hint=_REMAKE
        )
    source = tar.extractfile(member)
    if source is None:  # only for links and special files, refused above
        raise refuse("not a regular file")
    writer.file(parts, name, member.size, source)


# ---------------------------------------------------------------- zip


def _extract_zip(raw: bytes, writer: _Writer) -> None:
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
        raise ArchiveError(f"the zip cannot be read: {exc}", hint=_REMAKE) from exc


def _extract_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, writer: _Writer) -> None:
    # orig_filename keeps what zipfile cuts at a NUL, so "evil\0.py" cannot pass as "evil".
    name = info.orig_filename
    parts = writer.entry(name)
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise ArchiveError(
            f"member {_show(name)} is a symbolic link; only files and folders are accepted",
            member=name,
            hint="replace it with the real file; " + _REMAKE,
        )
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveError(
            f"member {_show(name)} is a device, FIFO or socket; only files and folders are accepted",
            member=name,
            hint=_REMAKE,
        )
    if info.flag_bits & _ZIP_ENCRYPTED:
        raise ArchiveError(
            f"member {_show(name)} is encrypted",
            member=name,
            hint="upload the archive without a password",
        )
    if name.endswith("/") or kind == stat.S_IFDIR:
        if parts:
            writer.directory(parts, name)
        return
    if info.compress_type not in _ZIP_METHODS:
        raise ArchiveError(
            f"member {_show(name)} uses zip compression method {info.compress_type}; "
            "only stored and deflate are accepted",
            member=name,
            hint="create the zip with default settings (`zip -r hidden.zip .`)",
        )
    if not parts:
        raise ArchiveError(
            f"member {_show(name)} is a file without a name", member=name, hint=_REMAKE
        )
    with archive.open(info) as source:
        writer.file(parts, name, info.file_size, source)


def _check_central_directory(raw: bytes, limits: _Limits) -> None:
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
