"""How much a folder holds on disk, measured without following links (git's checkout limits)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DiskUsage:
    """Files in the work tree (outside .git) and bytes under dest (including .git)."""

    files: int
    bytes: int


def disk_usage(root: Path, *, byte_cap: int | None = None) -> DiskUsage:
    """Measure `root` with lstat only, never following symlinks; stop early past `byte_cap`."""
    files = size = 0
    stack: list[tuple[str, bool]] = [(str(root), False)]
    while stack:
        directory, in_git = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # git may delete temporary files while we look
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(
                        (entry.path, in_git or (directory == str(root) and entry.name == ".git"))
                    )
                    continue
                size += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
            files += 0 if in_git else 1
        if byte_cap is not None and size > byte_cap:
            break
    return DiskUsage(files=files, bytes=size)
