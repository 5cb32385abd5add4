"""Host-side reads of a running container: its cgroup counters and its output stream."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

CGROUP_MEMORY_FILES = (
    "/sys/fs/cgroup/memory/docker/{id}/memory.oom_control",  # cgroup v1, cgroupfs driver
    "/sys/fs/cgroup/memory/system.slice/docker-{id}.scope/memory.oom_control",  # v1, systemd
    "/sys/fs/cgroup/docker/{id}/memory.events",  # cgroup v2, cgroupfs driver
    "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.events",  # v2, systemd
)
# {name} is pids.current or pids.events
CGROUP_PIDS_FILES = (
    "/sys/fs/cgroup/pids/docker/{id}/{name}",  # cgroup v1, cgroupfs driver
    "/sys/fs/cgroup/pids/system.slice/docker-{id}.scope/{name}",  # v1, systemd
    "/sys/fs/cgroup/docker/{id}/{name}",  # cgroup v2, cgroupfs driver
    "/sys/fs/cgroup/system.slice/docker-{id}.scope/{name}",  # v2, systemd
)


def cgroup_oom_kills(container_id: str) -> int | None:
    # Docker's OOMKilled flag only covers the container's main process, not a
    # `docker exec`, so read the kernel's own counter when this host shows it.
    return cgroup_value(container_id, CGROUP_MEMORY_FILES, "", "oom_kill")


def cgroup_value(
    container_id: str, patterns: Sequence[str], name: str, key: str | None = None
) -> int | None:
    """A number from the container's cgroup files: the whole file, or the line `key N`."""
    for pattern in patterns:
        try:
            with open(pattern.format(id=container_id, name=name), encoding="ascii") as handle:
                if key is None:
                    return int(handle.read().strip())
                for line in handle:
                    field, _, value = line.partition(" ")
                    if field == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


class OutputReader(threading.Thread):
    """Drains an exec stream, keeping at most `cap` bytes and discarding the rest.

    `attention` is set when the stream ends or first passes the cap; the reader
    keeps draining after that so the engine never blocks on a full pipe.
    """

    def __init__(self, stream: Any, cap: int) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._cap = cap
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False
        self.limit_hit = False
        self.attention = threading.Event()

    def run(self) -> None:
        try:
            for chunk in self._stream:
                room = self._cap - self._size
                if room > 0:
                    self._chunks.append(chunk[:room])
                    self._size += min(len(chunk), room)
                if len(chunk) > room and not self.limit_hit:
                    self.truncated = self.limit_hit = True
                    self.attention.set()
        except Exception:
            log.debug("sandbox_stream_closed", exc_info=True)
        finally:
            self.attention.set()

    def data(self) -> bytes:
        return b"".join(self._chunks)
