"""Prepared node_modules folders: kept per lockfile, reused whole, evicted least recently used.

A folder `npm_fetch` checked is published under `<cache>/node-modules/<key>` by a rename,
its marker (`.acceptance-ready`: its size and a random token) inside, so a half-written
folder is never seen. The folders together are capped like the prepared Python
environments (ACCEPTANCE_ENV_CACHE_SIZE, envcache.MAX_TOTAL_BYTES: the same size, for the
npm folders on their own), least recently used first, and a folder unused for
envcache.MAX_IDLE_SECONDS goes too.

Never half-used: a run does not read the cache's folder in place; it hard-links it into
its own work folder (a copy where links cannot be made), which eviction cannot empty
afterwards (removing a name leaves the run's link), and then checks the marker again.
Eviction removes the marker first, then renames the folder away, then deletes it: a
copy made while the marker stayed, with the same token, is whole. A copy that lost the
race is dropped and the packages are fetched again.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from pathlib import Path

from acceptance.engine import envcache

READY = ".acceptance-ready"
#: a folder being published, or being removed, whose run or eviction died: removed after
_LEFTOVER_SECONDS = 3600.0


def reuse(prepared: Path, into: Path) -> bool:
    """Link the prepared folder into `into` (absent) and mark it used; False when there is
    no whole folder to reuse (never prepared, evicted before or during the copy)."""
    marker = prepared / READY
    before = _read_marker(marker)
    if before is None:
        return False
    try:
        shutil.copytree(prepared, into, symlinks=True, copy_function=_link_or_copy)
    except (OSError, shutil.Error):
        shutil.rmtree(into, ignore_errors=True)
        return False
    if _read_marker(marker) != before:  # evicted (and maybe prepared again) meanwhile
        shutil.rmtree(into, ignore_errors=True)
        return False
    (into / READY).unlink(missing_ok=True)  # the run's copy is not a cache entry
    now = time.time()
    try:
        os.utime(marker, (now, now))  # least recently used is judged by the marker's time
    except OSError:
        pass
    return True


def publish(project_dir: Path, prepared: Path, size: int, max_total_bytes: int) -> bool:
    """Copy the checked folder into the cache, whole or not at all (a rename publishes it),
    then evict until the cache fits; False when it was not kept."""
    if size > max_total_bytes:
        return False
    prepared.parent.mkdir(parents=True, exist_ok=True)
    staging = prepared.parent / f".{prepared.name}-{secrets.token_hex(6)}"
    try:
        shutil.copytree(project_dir, staging, symlinks=True)
        marker = {"format": 1, "size": size, "token": secrets.token_hex(16)}
        (staging / READY).write_text(json.dumps(marker), encoding="utf-8")
        os.rename(staging, prepared)
    except OSError:  # another run published it first, or the disk is full: not needed
        shutil.rmtree(staging, ignore_errors=True)
        return False
    evict(prepared.parent, max_total_bytes, keep=prepared.name)
    return True


def evict(
    root: Path, max_total_bytes: int, *, keep: str | None = None, now: float | None = None
) -> list[str]:
    """Remove folders until the rest fit in `max_total_bytes`, least recently used first,
    and those idle longer than envcache.MAX_IDLE_SECONDS (never `keep`); the keys removed."""
    now = time.time() if now is None else now
    entries: list[tuple[float, str, int]] = []
    try:
        children = list(os.scandir(root))
    except OSError:
        return []
    for child in children:
        if not child.is_dir(follow_symlinks=False):
            continue
        if child.name.startswith("."):
            _remove_leftover(Path(child.path), now)
            continue
        marker = Path(child.path) / READY
        try:
            used = marker.stat().st_mtime
        except OSError:
            continue  # not a published folder
        entries.append((used, child.name, _size(Path(child.path), marker)))
    total = sum(size for _, _, size in entries)
    removed: list[str] = []
    for used, name, size in sorted(entries):
        if name == keep:
            continue
        if total <= max_total_bytes and now - used < envcache.MAX_IDLE_SECONDS:
            continue
        if _remove(root / name):
            removed.append(name)
            total -= size
    return removed


def _remove(folder: Path) -> bool:
    """The marker first (no run starts using the folder), then the folder, renamed away."""
    try:
        (folder / READY).unlink()
    except FileNotFoundError:
        return False  # another eviction has it
    except OSError:
        return False
    trash = folder.parent / f".evicted-{folder.name}-{secrets.token_hex(6)}"
    try:
        os.rename(folder, trash)
    except OSError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _remove_leftover(path: Path, now: float) -> None:
    try:
        if now - path.lstat().st_mtime > _LEFTOVER_SECONDS:
            shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass


def _read_marker(marker: Path) -> str | None:
    try:
        return marker.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _size(folder: Path, marker: Path) -> int:
    """The size the marker records; for a marker without one (made before eviction
    existed), the folder's regular files added up."""
    try:
        size = json.loads(marker.read_text(encoding="utf-8"))["size"]
        if isinstance(size, int) and size >= 0:
            return size
    except (OSError, ValueError, KeyError, TypeError):
        pass
    total = 0
    for parent, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:
                continue
    return total


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link (no bytes copied; the run's name survives eviction), or a copy where
    the run's work folder is on another filesystem."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(src, dst, follow_symlinks=False)
