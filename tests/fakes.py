"""Fakes that implement the real interfaces, shared by tests through tests/conftest.py.

`FakeSandbox` is a `sandbox.interface.Sandbox`: mypy checks its methods against the
abstract ones (`tests.fakes` is in `[tool.mypy] modules`), so the pipeline drives it
exactly as it drives `DockerSandbox`. It answers each command from a script, and
records every call, so the pipeline's stage order, limit mapping and partial results
are tested without Docker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Self

from sandbox.interface import (
    CommandResult,
    Sandbox,
    SandboxConfig,
    SandboxError,
    SandboxInfo,
    SandboxLimitError,
)

#: a file's content inside the fake: bytes, absent (None), or the refusal `read_file` raises
FileContent = bytes | None | SandboxLimitError


def ran(exit_code: int | None = 0, output: bytes = b"", **flags: bool | float) -> CommandResult:
    """A CommandResult as the backend reports it; `flags` sets timed_out, memory_limit_hit..."""
    seconds = float(flags.pop("seconds", 0.01))
    truncated = bool(flags.pop("output_truncated", flags.get("output_limit_hit", False)))
    return CommandResult(exit_code, output, truncated, seconds, **flags)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Response:
    """What one scripted command does: its result, the files it leaves, the disks it fills."""

    result: CommandResult
    #: written (or removed, with None) inside the sandbox when the command runs
    files: Mapping[str, FileContent] = field(default_factory=dict)
    #: scratch filesystems left full from then on (what `full_filesystems` answers)
    full: tuple[str, ...] = ()


@dataclass(frozen=True)
class Call:
    """One `run` the fake received, with every argument as given."""

    argv: tuple[str, ...]
    timeout: float
    workdir: str
    env: Mapping[str, str] | None
    max_output: int | None
    user: str | None

    @property
    def command(self) -> str:
        """The argv joined by spaces: what scripts match against."""
        return " ".join(self.argv)


class FakeSandbox(Sandbox):
    """A scripted sandbox: the latest rule whose text appears in a command answers it.

    Commands no rule matches get ``default`` (exit 0, no output). Every `start`,
    `run`, `read_file` and `close` is appended to ``events``; runs are in ``calls``.
    """

    def __init__(
        self,
        default: CommandResult | None = None,
        files: Mapping[str, FileContent] | None = None,
        *,
        info: SandboxInfo | None = None,
    ) -> None:
        self.default = default or ran()
        self.files: dict[str, FileContent] = dict(files or {})
        self.info = info or SandboxInfo(
            "sha256:fake", "acceptance-sandbox:fake", "runc", {"org.acceptance.python": "3.11"}
        )
        self.rules: list[tuple[str, Response]] = []
        self.calls: list[Call] = []
        self.events: list[str] = []
        #: the configuration the pipeline built, when started through `factory`
        self.config: SandboxConfig | None = None
        self.full: tuple[str, ...] = ()
        self.started = self.closed = False

    def on(
        self,
        text: str,
        result: CommandResult | None = None,
        *,
        files: Mapping[str, FileContent] | None = None,
        full: tuple[str, ...] = (),
    ) -> Self:
        """Answer commands containing TEXT with RESULT (default: success), leaving FILES.

        A later rule overrides an earlier one for the commands both match.
        """
        self.rules.append((text, Response(result or ran(), dict(files or {}), full)))
        return self

    def factory(self, config: SandboxConfig) -> Self:
        """A `SandboxFactory` for `run_acceptance`: records the config, returns this sandbox."""
        self.config = config
        return self

    def commands(self) -> list[str]:
        """Every command run so far, joined."""
        return [call.command for call in self.calls]

    # -- the Sandbox interface -------------------------------------------------------

    def start(self) -> SandboxInfo:
        if self.started:
            raise SandboxError("the sandbox was already started")
        self.started = True
        self.events.append("start")
        return self.info

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
        if not self.started or self.closed:
            raise SandboxError("the sandbox is not running")
        call = Call(tuple(argv), timeout, workdir, dict(env) if env else None, max_output, user)
        self.calls.append(call)
        self.events.append(f"run {call.command}")
        response = next(
            (answer for text, answer in reversed(self.rules) if text in call.command),
            Response(self.default),
        )
        self.files.update(response.files)
        self.full = self.full or response.full
        result = response.result
        cap = (
            max_output
            if max_output is not None
            else (self.config.limits.output if self.config else None)
        )
        if cap is not None and len(result.output) > cap:
            # As the Docker backend does: the output is cut at the cap and the hit recorded.
            result = CommandResult(
                result.exit_code, result.output[:cap], True, result.seconds, result.timed_out,
                True, result.memory_limit_hit, result.process_limit_hit,
            )  # fmt: skip
        return result

    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        if not self.started or self.closed:
            raise SandboxError("the sandbox is not running")
        self.events.append(f"read {path}")
        value = self.files.get(path)
        if isinstance(value, SandboxLimitError):
            raise value
        if value is not None and len(value) > max_bytes:
            raise SandboxLimitError("INVALID_ARTIFACT", f"{path} is larger than {max_bytes} bytes")
        return value

    def full_filesystems(self) -> tuple[str, ...]:
        return self.full

    def close(self) -> None:
        if not self.closed:
            self.events.append("close")
        self.closed = True
