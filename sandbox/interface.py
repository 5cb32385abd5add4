"""What the pipeline needs from an isolated environment, independent of the backend."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from acceptance.errors import PlatformError, SubmissionError


@dataclass(frozen=True)
class SandboxLimits:
    """Resource caps for one sandbox, all enforced by the backend."""

    cpus: float = 1.0
    memory: int = 1024**3
    pids: int = 256
    disk: int = 1024**3
    output: int = 10 * 1024**2
    lifetime: float = 900.0
    open_files: int = 1024


@dataclass(frozen=True)
class SandboxConfig:
    """How to start one sandbox: image, limits and what it may read."""

    image: str
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    # host directory -> path inside; always mounted read-only
    readonly_mounts: Mapping[Path, str] = field(default_factory=dict)
    runtime: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    #: another sandbox's name whose network namespace this one joins: its loopback, never
    #: a network (that one has none); None: a loopback of its own
    network_of: str | None = None


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one command run inside the sandbox."""

    exit_code: int | None
    output: bytes
    output_truncated: bool
    seconds: float
    timed_out: bool = False
    output_limit_hit: bool = False
    memory_limit_hit: bool = False
    #: a fork failed at the pids limit while the command ran
    process_limit_hit: bool = False

    @property
    def text(self) -> str:
        """The captured output as text, undecodable bytes replaced."""
        return self.output.decode("utf-8", errors="replace")


class SandboxError(PlatformError):
    """The backend failed: the platform could not run the command."""

    code = "sandbox:error"


class SandboxLimitError(SubmissionError):
    """The submission hit a sandbox limit (time, memory, output, processes)."""


@dataclass(frozen=True)
class FileRead:
    """One file read back from the sandbox: its bytes, None when absent, or why not."""

    path: str
    data: bytes | None
    error: SandboxLimitError | None = None

    def value(self) -> bytes | None:
        """The bytes (None when absent); raises the read's SandboxLimitError, as read_file does."""
        if self.error is not None:
            raise self.error
        return self.data


@dataclass(frozen=True)
class SandboxInfo:
    """Facts about the running sandbox that go into the report."""

    image_id: str
    image_tag: str
    runtime: str
    labels: Mapping[str, str] = field(default_factory=dict)


class Sandbox(abc.ABC):
    """One isolated, short-lived environment; a context manager that always cleans up."""

    @abc.abstractmethod
    def start(self) -> SandboxInfo:
        """Create and start the environment."""

    @abc.abstractmethod
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        workdir: str = "/work",
        env: Mapping[str, str] | None = None,
        max_output: int | None = None,
        user: str | None = None,
    ) -> CommandResult:
        """Run argv inside; never raises for the command's own failure, only for the backend's.

        ``user`` ("uid:gid") runs it as another user than the sandbox's: the
        engine's own steps that handle what sandboxed code must not read or
        change (the hidden tests). Never for code from the repository.
        """

    @abc.abstractmethod
    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        """Read a regular file written inside; None when absent.

        Raises SandboxLimitError (INVALID_ARTIFACT) when it is larger than max_bytes,
        a symbolic link or a special file.
        """

    def read_files(self, requests: Sequence[tuple[str, int]]) -> list[FileRead]:
        """Several `read_file(path, max_bytes)` at once, each answer or error on its own.

        Backends where a read costs a round trip (a `docker exec`) read them all in one.
        """
        answers: list[FileRead] = []
        for path, max_bytes in requests:
            try:
                answers.append(FileRead(path, self.read_file(path, max_bytes)))
            except SandboxLimitError as exc:
                answers.append(FileRead(path, None, exc))
        return answers

    def full_filesystems(self) -> tuple[str, ...]:
        """The scratch filesystems (e.g. /work, /tmp) left without space; () when unknown."""
        return ()

    @abc.abstractmethod
    def close(self) -> None:
        """Kill and remove everything the sandbox created; safe to call twice."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
