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

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from acceptance.engine.archive_formats import extract_tar, extract_zip
from acceptance.engine.archive_rules import (
    MAX_ARCHIVE_BYTES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    REMAKE_HINT,
    ArchiveError,
    ArchiveLimits,
)
from acceptance.engine.archive_writer import ArchiveWriter


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
    limits = ArchiveLimits(max_files, max_total_bytes, max_file_bytes, max_depth)
    if os.path.lexists(dest):
        raise FileExistsError(f"{dest} already exists; extraction needs a fresh folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
    try:
        with ArchiveWriter(staging, limits) as writer:
            if kind == "tar.gz":
                extract_tar(raw, writer)
            else:
                extract_zip(raw, writer)
        if writer.files == 0:
            raise ArchiveError("the archive holds no files", hint=REMAKE_HINT)
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
        raise ArchiveError("the archive is empty", hint=REMAKE_HINT)
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
