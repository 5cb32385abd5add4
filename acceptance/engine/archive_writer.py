"""Write archive members under a staging folder, never following links, counting real bytes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Self

from acceptance.engine.archive_rules import (
    REMAKE_HINT,
    ArchiveError,
    ArchiveLimits,
    member_parts,
    shown_name,
)

CHUNK_BYTES = 64 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class ArchiveWriter:
    """Writes members under a root folder through directory descriptors, never following links."""

    def __init__(self, root: Path, limits: ArchiveLimits) -> None:
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
        parts = member_parts(name, self.limits)
        if parts and parts in self._seen:
            raise ArchiveError(
                f"member {shown_name(name)} appears more than once",
                member=name,
                hint="keep one copy of each file; " + REMAKE_HINT,
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
            while chunk := source.read(CHUNK_BYTES):
                written += len(chunk)
                self._check_size(written, name)
                out.write(chunk)
        self.total_bytes += written

    def _check_size(self, size: int, name: str) -> None:
        if size > self.limits.max_file_bytes:
            raise ArchiveError(
                f"member {shown_name(name)} is larger than {self.limits.max_file_bytes} bytes",
                member=name,
                hint="hidden tests should be small; leave large data out of the archive",
            )
        if self.total_bytes + size > self.limits.max_total_bytes:
            raise ArchiveError(
                f"the archive's files add up to more than {self.limits.max_total_bytes} bytes "
                f"(at member {shown_name(name)})",
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
            f"member {shown_name(name)} clashes with another member of the same name{where}",
            member=name,
            hint="a path cannot be both a file and a folder; " + REMAKE_HINT,
        )
