"""Content-addressed artifact store: files are named by their sha256 and never overwritten.

The local directory is the default; `ArtifactStore` is the interface a shared
object store (S3-compatible) implements for workers on several hosts.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactStore(Protocol):
    """Where reports, logs and check outputs are kept."""

    def put(self, data: bytes) -> str:
        """Store `data`; return its sha256 (the key)."""
        ...

    def get(self, key: str) -> bytes | None:
        """The bytes stored under `key`, or None."""
        ...

    def healthy(self) -> bool:
        """Whether the store can be written now."""
        ...


class LocalArtifactStore:
    """Files under `root/ab/cdef...`; writes are atomic, existing keys are left alone."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _SHA256.match(key):
            raise ValueError(f"not an artifact key: {key[:80]!r}")
        return self.root / key[:2] / key[2:]

    def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists():
            return key  # same bytes: content addressing makes a rewrite pointless
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o444)
            os.link(tmp, path)  # fails if another writer got there first: never overwrite
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return key

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def healthy(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".probe-")
            probe.close()
            return True
        except OSError:
            return False
