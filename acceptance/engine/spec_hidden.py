"""The owner's hidden tests: their folder, the tests they hold and the tree hash that pins them."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath

from acceptance.engine.spec_fields import MAX_NAME_BYTES, SpecError, path_problem
from acceptance.quoting import describe, encodable, os_reason, shorten
from checks.hidden_inventory import InventoryError, hidden_test_inventory

MAX_HIDDEN_FILES = 2_000
MAX_HIDDEN_DIRS = 2_000
MAX_HIDDEN_BYTES = 50 * 1024**2
#: per-tree cap on reported problems so a folder of 2,000 symlinks stays readable
MAX_TREE_PROBLEMS = 10


def read_hidden_inventory(folder: Path | None, problems: list[str]) -> tuple[str, ...]:
    """The hidden tests pytest would collect, read (never imported) from the owner's files."""
    if folder is None:
        return ()
    try:
        return hidden_test_inventory(folder)
    except InventoryError as exc:
        problems.append(f"functional.hidden_tests: {exc}")
        return ()


def hash_tree(root: Path) -> str:
    """Return the hex sha256 tree hash of the folder ``root``, as verifiers recompute it.

    Format: walk ``root`` without following symlinks; take every regular file,
    ordered by the UTF-8 bytes of its POSIX path relative to ``root``; feed one
    sha256 with ``relpath.encode() + b"\\0" + str(size).encode() + b"\\0" + content``
    for each file in turn; return the hex digest. Folders themselves (including
    empty ones) contribute nothing. Symlinks, special files, non-UTF-8 names and
    trees over 2,000 files / 2,000 folders / 50 MiB raise ``SpecError``.
    """
    origin = str(root)
    try:
        mode = os.lstat(root).st_mode
    except (OSError, ValueError) as exc:
        raise SpecError([f"{origin}: {os_reason(exc)}"], origin=origin) from None
    if not stat.S_ISDIR(mode):
        raise SpecError([f"{origin}: not a folder"], origin=origin)
    files, problems = _scan_tree(root)
    if problems:
        raise SpecError([f"{origin}: {problem}" for problem in problems], origin=origin)
    try:
        return _hash_files(files)
    except OSError as exc:
        raise SpecError([f"{origin}: {os_reason(exc)}"], origin=origin) from None


def read_hidden_dir(section: dict[str, object], base_dir: Path, problems: list[str]) -> Path | None:
    """Resolve ``functional.hidden_tests`` and check it is a folder inside ``base_dir``."""
    where = "functional.hidden_tests"
    value = section.get("hidden_tests")
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{where}: must be a relative folder path, got {describe(value)}")
        return None
    reason = path_problem(value, value)
    if reason is not None:
        problems.append(f"{where}: {reason}, got {shorten(value)}")
        return None
    try:
        base = base_dir.resolve()
        target = (base / value).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        problems.append(f"{where}: cannot resolve {shorten(value)}: {os_reason(exc)}")
        return None
    if not target.is_relative_to(base):
        problems.append(
            f"{where}: {shorten(value)} resolves outside the spec's folder (through a symlink); "
            "put the hidden tests in a real folder beside the spec"
        )
        return None
    if target == base:
        problems.append(f"{where}: must name a subfolder beside the spec, not the spec's folder")
        return None
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError) as exc:
        problems.append(
            f"{where}: {shorten(value)} does not exist beside the spec ({os_reason(exc)})"
        )
        return None
    if not stat.S_ISDIR(mode):
        problems.append(
            f"{where}: {shorten(value)} is a file, not a folder; name the folder beside the "
            "spec that holds the hidden tests, such as `hidden`"
        )
        return None
    return target


def hidden_tests_name_problem(value: str, spec_name: str = "acceptance.yaml") -> str | None:
    """Why ``value`` cannot name the hidden tests' folder beside a spec file, or ``None``.

    For a service that unpacks an uploaded archive into that folder before the spec is
    loaded: the name must be safe to create, and not the spec file itself.
    """
    reason = path_problem(value, value)
    if reason is not None:
        return f"{reason}, got {shorten(value)}"
    parts = PurePosixPath(value).parts
    if not parts:
        return f"must name a subfolder beside the spec, not the spec's folder, got {shorten(value)}"
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        return f"each folder name must be at most {MAX_NAME_BYTES} bytes, got {shorten(value)}"
    if parts[0] == spec_name:
        return (
            f"{shorten(value)} is the spec file itself, not a folder; name the folder that "
            "holds the hidden tests, such as `hidden`"
        )
    return None


def hidden_hash(root: Path | None, problems: list[str]) -> str | None:
    """Check the hidden tests tree and return its hash, or ``None`` on problems or no folder."""
    if root is None:
        return None
    files, tree_problems = _scan_tree(root)
    problems.extend(f"functional.hidden_tests: {problem}" for problem in tree_problems)
    if tree_problems:
        return None
    try:
        return _hash_files(files)
    except OSError as exc:
        problems.append(f"functional.hidden_tests: {os_reason(exc)}")
        return None


def _scan_tree(root: Path) -> tuple[list[tuple[str, Path, int]], list[str]]:
    """List ``(relpath, path, size)`` of regular files under ``root`` and every rule broken."""
    files: list[tuple[str, Path, int]] = []
    problems: list[str] = []
    total = 0
    folders = 0
    # Iterative so a deep tree cannot exhaust the interpreter stack.
    pending: list[tuple[Path, str]] = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            problems.append(f"cannot list {shorten(prefix or '.')}: {os_reason(exc)}")
            continue
        for entry in entries:
            relpath = prefix + entry.name
            if not encodable(relpath):
                problems.append(f"{shorten(relpath)}: file names must be valid UTF-8")
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:
                problems.append(f"cannot inspect {shorten(relpath)}: {os_reason(exc)}")
                continue
            if stat.S_ISLNK(info.st_mode):
                problems.append(
                    f"{shorten(relpath)} is a symlink; symlinks are not allowed, "
                    "copy the file instead"
                )
            elif stat.S_ISDIR(info.st_mode):
                folders += 1
                pending.append((Path(entry.path), relpath + "/"))
            elif stat.S_ISREG(info.st_mode):
                files.append((relpath, Path(entry.path), info.st_size))
                total += info.st_size
            else:
                problems.append(
                    f"{shorten(relpath)} is a special file (device, socket or pipe); "
                    "only regular files and folders are allowed"
                )
            if len(files) > MAX_HIDDEN_FILES:
                return files, [*problems, f"more than {MAX_HIDDEN_FILES} files"]
            if folders > MAX_HIDDEN_DIRS:
                return files, [*problems, f"more than {MAX_HIDDEN_DIRS} folders"]
            if len(problems) >= MAX_TREE_PROBLEMS:
                return files, [*problems, "(further problems not listed)"]
    if total > MAX_HIDDEN_BYTES:
        problems.append(
            f"files total {total} bytes, more than the {MAX_HIDDEN_BYTES} byte (50 MiB) limit"
        )
    return files, problems


def _hash_files(files: list[tuple[str, Path, int]]) -> str:
    """Hash scanned files in the documented ``hash_tree`` format; raises ``OSError``."""
    digest = hashlib.sha256()
    for relpath, path, size in sorted(files, key=lambda item: item[0].encode("utf-8")):
        digest.update(relpath.encode("utf-8") + b"\0" + str(size).encode() + b"\0")
        if _feed_file(digest, path) != size:
            raise OSError(f"{relpath!r} changed while it was being hashed")
    return digest.hexdigest()


def _feed_file(digest: hashlib._Hash, path: Path) -> int:
    """Feed the content of the regular file ``path`` to ``digest`` and return its length."""
    # O_NOFOLLOW/O_NONBLOCK: a file swapped for a symlink or pipe after the scan must not
    # redirect or block the read.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name!r} is no longer a regular file")
        length = 0
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            length += len(chunk)
    return length
