"""Read files of an untrusted checkout without ever following a symbolic link.

Every path is walked one component at a time with ``openat`` semantics
(``os.open(..., dir_fd=...)``) and ``O_NOFOLLOW``, so a link planted anywhere in
the submission (``pyproject.toml -> /etc/passwd``, ``requirements -> /``) is
detected instead of followed. The checkout root itself belongs to the host and
may be reached through links.

Failure policy (stable reason codes):

* a symbolic link anywhere on the path, a non-regular file (FIFO, device,
  socket, directory) where a file was asked for, or a path that tries to leave
  the checkout -> ``UnsafePathError``, reason ``UNSAFE_REPOSITORY``;
* a file larger than the caller's ``max_bytes`` -> ``FileTooLargeError``,
  reason ``FILE_TOO_LARGE`` (a resource limit, distinct from tampering);
* a text file that is not UTF-8 -> ``UndecodableFileError``, reason
  ``INVALID_FILE``;
* an absent file -> ``None`` / ``False`` / ``[]``, never an error.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from acceptance.errors import SubmissionError

UNSAFE_REPOSITORY = "UNSAFE_REPOSITORY"
FILE_TOO_LARGE = "FILE_TOO_LARGE"
INVALID_FILE = "INVALID_FILE"

#: paths longer than this are refused before touching the filesystem
MAX_RELPATH_CHARS = 4096
#: directories with more entries than this are refused (listing is unbounded otherwise)
MAX_DIR_ENTRIES = 10_000

_LINK_HINT = "Replace the link with the real file or directory and deliver again."

# O_NONBLOCK: opening a FIFO for reading would otherwise block forever.
# O_NOCTTY: a planted terminal device must never become our controlling tty.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_READ_CHUNK = 64 * 1024


class UnsafePathError(SubmissionError):
    """A path in the submission is a link, a special file, or leaves the checkout."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(UNSAFE_REPOSITORY, message, hint=hint)


class FileTooLargeError(SubmissionError):
    """A file in the submission is larger than the limit for its kind."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(FILE_TOO_LARGE, message, hint=hint)


class UndecodableFileError(SubmissionError):
    """A text file in the submission is not valid UTF-8."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(INVALID_FILE, message, hint=hint)


def split_relpath(relpath: str) -> tuple[str, ...]:
    """Split a checkout-relative POSIX path into components, refusing escapes."""
    if not isinstance(relpath, str):
        raise UnsafePathError(f"path {relpath!r} is not a string")
    if len(relpath) > MAX_RELPATH_CHARS:
        raise UnsafePathError(
            f"path {relpath[:80]!r}... is longer than {MAX_RELPATH_CHARS} characters"
        )
    if "\x00" in relpath:
        raise UnsafePathError(f"path {relpath!r} contains a NUL character")
    if relpath.startswith("/"):
        raise UnsafePathError(
            f"path {relpath!r} is absolute; only paths inside the submission are allowed"
        )
    parts: list[str] = []
    for part in relpath.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            # Refused even when it would land back inside: no lexical tricks to audit.
            raise UnsafePathError(f"path {relpath!r} uses '..'; it must stay inside the submission")
        parts.append(part)
    return tuple(parts)


def _shown(parts: tuple[str, ...]) -> str:
    return "/".join(parts) if parts else "."


def _link_error(link: tuple[str, ...], wanted: tuple[str, ...]) -> UnsafePathError:
    if link == wanted:
        where = _shown(link)
    else:
        where = f"{_shown(link)} (on the way to {_shown(wanted)})"
    return UnsafePathError(
        f"{where} is a symbolic link; the acceptance service never follows links in a submission",
        hint=_LINK_HINT,
    )


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None


def _open_root(root: Path) -> int:
    # The root is chosen by the host, so following a link to reach it is fine.
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _open_dir_at(
    dir_fd: int, parts: tuple[str, ...], index: int, wanted: tuple[str, ...]
) -> int | None:
    """Open directory ``parts[index]`` under ``dir_fd``; None when absent or not a directory."""
    name = parts[index]
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        info = _lstat_at(dir_fd, name)
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise _link_error(parts[: index + 1], wanted) from None
        if exc.errno in (errno.ENOTDIR, errno.ENOENT):
            return None
        raise UnsafePathError(
            f"{_shown(parts[: index + 1])} cannot be opened: {exc.strerror}"
        ) from None


def _walk_to_parent(root: Path, parts: tuple[str, ...]) -> int | None:
    """Return an fd of the directory holding ``parts[-1]``, or None when a parent is absent."""
    fd = _open_root(root)
    for index in range(len(parts) - 1):
        try:
            next_fd = _open_dir_at(fd, parts, index, parts)
        finally:
            os.close(fd)
        if next_fd is None:
            return None
        fd = next_fd
    return fd


def _open_dir(root: Path, parts: tuple[str, ...]) -> int | None:
    """Return an fd of directory ``parts`` (the root when empty), or None when absent."""
    if not parts:
        return _open_root(root)
    parent = _walk_to_parent(root, parts)
    if parent is None:
        return None
    try:
        return _open_dir_at(parent, parts, len(parts) - 1, parts)
    finally:
        os.close(parent)


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


def _read_fd(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, min(_READ_CHUNK, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_bytes(root: Path, relpath: str, max_bytes: int) -> bytes | None:
    """Return the content of a regular file in the checkout, or None when it is absent."""
    parts = split_relpath(relpath)
    if not parts:
        raise UnsafePathError("the submission root is a directory, not a file")
    parent = _walk_to_parent(root, parts)
    if parent is None:
        return None
    shown = _shown(parts)
    try:
        # lstat first so a device or FIFO is refused without ever being opened.
        before = _lstat_at(parent, parts[-1])
        if before is None:
            return None
        if stat.S_ISLNK(before.st_mode):
            raise _link_error(parts, parts)
        if not stat.S_ISREG(before.st_mode):
            raise UnsafePathError(f"{shown} is {_describe(before.st_mode)}, not a regular file")
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link_error(parts, parts) from None
            raise UnsafePathError(f"{shown} cannot be opened: {exc.strerror}") from None
    finally:
        os.close(parent)
    try:
        # fstat again: the entry may have been swapped between lstat and open.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{shown} is {_describe(info.st_mode)}, not a regular file")
        # One byte past the limit tells "exactly max_bytes" from "too large".
        data = _read_fd(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise FileTooLargeError(
            f"{shown} is larger than the {max_bytes}-byte limit for this file",
            hint="Keep project metadata files small; generated content does not belong there.",
        )
    return data


def read_text(root: Path, relpath: str, max_bytes: int) -> str | None:
    """Return a UTF-8 text file of the checkout (a leading BOM dropped), or None when absent."""
    data = read_bytes(root, relpath, max_bytes)
    if data is None:
        return None
    try:
        # utf-8-sig: files saved by Windows editors start with a BOM that TOML/pip tolerate.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UndecodableFileError(
            f"{_shown(split_relpath(relpath))} is not valid UTF-8 (byte {exc.start})",
            hint="Save the file as UTF-8.",
        ) from None


def is_regular_file(root: Path, relpath: str) -> bool:
    """Tell whether a regular file exists at the path; links on the way raise UnsafePathError."""
    parts = split_relpath(relpath)
    if not parts:
        return False
    parent = _walk_to_parent(root, parts)
    if parent is None:
        return False
    try:
        info = _lstat_at(parent, parts[-1])
    finally:
        os.close(parent)
    if info is None:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise _link_error(parts, parts)
    return stat.S_ISREG(info.st_mode)


def is_directory(root: Path, relpath: str) -> bool:
    """Tell whether a real directory exists at the path ("." is the root)."""
    parts = split_relpath(relpath)
    fd = _open_dir(root, parts)
    if fd is None:
        return False
    os.close(fd)
    return True


def list_dir(root: Path, relpath: str, max_entries: int = MAX_DIR_ENTRIES) -> list[str]:
    """Return the sorted entry names of a directory ("." is the root); [] when absent."""
    parts = split_relpath(relpath)
    fd = _open_dir(root, parts)
    if fd is None:
        return []
    names: list[str] = []
    try:
        # scandir on an fd reads entries without resolving any of them.
        with os.scandir(fd) as entries:
            for entry in entries:
                names.append(entry.name)
                if len(names) > max_entries:
                    raise UnsafePathError(
                        f"{_shown(parts)} holds more than {max_entries} entries",
                    )
    finally:
        os.close(fd)
    return sorted(names)


def remove_tree(root: Path) -> None:
    """Delete ``root`` and everything below it, never following a link; errors are ignored.

    Iterative: ``shutil.rmtree`` recurses once per folder level, so a tree a
    submission nested a few thousand levels deep raised RecursionError (Python
    3.11) and left the checkout on the host.
    """
    # (folder, listed): a folder is listed once, then removed once its contents are gone.
    pending = [(str(root), False)]
    while pending:
        folder, listed = pending.pop()
        if listed:
            try:
                os.rmdir(folder)
            except OSError:
                pass
            continue
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except NotADirectoryError:
            _unlink(folder)
            continue
        except OSError:
            continue
        pending.append((folder, True))
        for entry in entries:
            if _is_real_dir(entry):
                pending.append((entry.path, False))
            else:
                _unlink(entry.path)


def _is_real_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write DATA to PATH through a temporary file and a rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
