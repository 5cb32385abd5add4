"""Resident memory of process trees, read from /proc (Linux), sampled in a thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE = 1024


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_mib(pid: int) -> float | None:
    """Current resident set size of one process, MiB."""
    kib = _status_kib(pid, "VmRSS")
    return None if kib is None else kib / PAGE


def peak_rss_mib(pid: int) -> float | None:
    """The kernel's high-water mark of the process's resident set (VmHWM), MiB."""
    kib = _status_kib(pid, "VmHWM")
    return None if kib is None else kib / PAGE


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return found


def tree(pid: int) -> list[int]:
    """PID and all its descendants."""
    seen, queue = [], [pid]
    while queue:
        current = queue.pop()
        seen.append(current)
        queue.extend(children(current))
    return seen


def command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:120]


@dataclass
class TreeSampler:
    """Samples the RSS of each root's process tree every `every` seconds."""

    roots: dict[str, int]
    every: float = 0.1
    #: per root: the largest sum over the tree seen, MiB
    peak_tree: dict[str, float] = field(default_factory=dict)
    #: per root: the largest single process seen, MiB, and its command line
    peak_process: dict[str, tuple[float, str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for name, root in self.roots.items():
                total = 0.0
                for pid in tree(root):
                    rss = rss_mib(pid)
                    if rss is None:
                        continue
                    total += rss
                    if rss > self.peak_process.get(name, (0.0, ""))[0]:
                        self.peak_process[name] = (rss, command(pid))
                self.peak_tree[name] = max(self.peak_tree.get(name, 0.0), total)
            time.sleep(self.every)


def snapshot(root: int) -> list[tuple[int, float, float, str]]:
    """(pid, rss MiB, peak rss MiB, command) of every process in ROOT's tree."""
    rows = []
    for pid in tree(root):
        rss, peak = rss_mib(pid), peak_rss_mib(pid)
        if rss is not None and peak is not None:
            rows.append((pid, round(rss, 1), round(peak, 1), command(pid)))
    return rows
