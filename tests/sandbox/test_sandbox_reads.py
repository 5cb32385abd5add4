"""Reading result files back from the sandbox: several in one exec, each judged on its own."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from sandbox.docker_scripts import parse_file_reads
from sandbox.interface import CommandResult, FileRead, Sandbox, SandboxLimitError


def _ran(output: bytes, *, exit_code: int = 0, timed_out: bool = False) -> CommandResult:
    return CommandResult(
        exit_code=exit_code, output=output, output_truncated=False, seconds=0.01,
        timed_out=timed_out, output_limit_hit=False, memory_limit_hit=False,
        process_limit_hit=False,
    )  # fmt: skip


def _answers(reads: list[FileRead]) -> list[object]:
    return [read.data if read.error is None else read.error.message for read in reads]


def test_the_framing_is_read_file_by_file() -> None:
    out = b"0 5\nhello3 0\n4 0\n0 0\n"
    reads = parse_file_reads(_ran(out), [("/a", 10), ("/b", 10), ("/c", 10), ("/d", 10)])
    assert _answers(reads) == [
        b"hello", None, "/c is a symbolic link or not a regular file", b"",
    ]  # fmt: skip


def test_a_file_over_its_limit_is_refused_and_the_next_one_still_read() -> None:
    out = b"0 4\nabcd0 2\nok"
    reads = parse_file_reads(_ran(out), [("/big", 3), ("/small", 3)])
    assert _answers(reads) == ["/big is larger than the 3-byte limit", b"ok"]


@pytest.mark.parametrize(
    ("out", "exit_code", "timed_out"),
    [
        (b"0 5\nhel", 5, False),  # cut short
        (b"0 2\nokhead: cannot open x\n", 5, False),  # an error message where a header goes
        (b"0 2\nok", 0, True),  # timed out: nothing is trusted
    ],
)
def test_past_the_first_unreadable_answer_nothing_is_trusted(
    out: bytes, exit_code: int, timed_out: bool
) -> None:
    reads = parse_file_reads(
        _ran(out, exit_code=exit_code, timed_out=timed_out), [("/a", 9), ("/b", 9)]
    )
    readable = [read.data for read in reads if read.error is None]
    assert len(readable) <= 1 and reads[-1].error is not None
    assert reads[-1].error.message == "could not read /b from the sandbox"


class _CountingSandbox(Sandbox):
    """The default read_files: one read_file per file, errors kept per file."""

    def __init__(self, files: dict[str, bytes | None | Exception]) -> None:
        self.files = files

    def start(self) -> Any:
        return None

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:  # type: ignore[override]
        raise AssertionError("not used")

    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        value = self.files[path]
        if isinstance(value, Exception):
            raise value
        return value

    def close(self) -> None:
        pass


def test_the_default_reads_one_by_one_and_keeps_each_error() -> None:
    refused = SandboxLimitError("INVALID_ARTIFACT", "/b is a symbolic link or not a regular file")
    sandbox = _CountingSandbox({"/a": b"x", "/b": refused, "/c": None})
    reads = sandbox.read_files([("/a", 5), ("/b", 5), ("/c", 5)])
    assert _answers(reads) == [b"x", refused.message, None]
    with pytest.raises(SandboxLimitError):
        reads[1].value()


# ---------------------------------------------------------------- in the real sandbox


@pytest.fixture(scope="module")
def sandbox(sandbox_image: str) -> Iterator[Sandbox]:
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig

    box = DockerSandbox(SandboxConfig(image=sandbox_image))
    try:
        box.start()
        made = box.run(
            ["sh", "-c",
             "cd /work && printf 'junit' > junit.xml && : > empty && head -c 3000 /dev/zero > big"
             " && ln -s /etc/passwd link && mkfifo fifo && mkdir folder"],
            timeout=30,
        )  # fmt: skip
        assert made.exit_code == 0, made.text
        yield box
    finally:
        box.close()


@pytest.mark.docker
def test_one_exec_reads_them_all_as_read_file_would(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = [
        ("/work/junit.xml", 100), ("/work/empty", 100), ("/work/big", 2999), ("/work/absent", 100),
        ("/work/link", 100), ("/work/fifo", 100), ("/work/folder", 100), ("/work/big", 3000),
    ]  # fmt: skip
    one_by_one: list[object] = []
    for path, limit in wanted:
        try:
            one_by_one.append(sandbox.read_file(path, limit))
        except SandboxLimitError as exc:
            one_by_one.append(exc.message)

    execs: list[Sequence[str]] = []
    real_run = sandbox.run

    def counted(argv: Sequence[str], **kwargs: Any) -> CommandResult:
        execs.append(argv)
        return real_run(argv, **kwargs)

    monkeypatch.setattr(sandbox, "run", counted)
    together = _answers(sandbox.read_files(wanted))
    assert len(execs) == 1
    assert together == one_by_one
    assert together == [
        b"junit", b"", "/work/big is larger than the 2999-byte limit", None,
        "/work/link is a symbolic link or not a regular file",
        "/work/fifo is a symbolic link or not a regular file",
        "/work/folder is a symbolic link or not a regular file",
        b"\0" * 3000,
    ]  # fmt: skip
