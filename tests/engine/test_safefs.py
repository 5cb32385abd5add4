"""Tests for reading an untrusted checkout without following links."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from acceptance import safefs
from acceptance.errors import SubmissionError
from acceptance.safefs import FileTooLargeError, UndecodableFileError, UnsafePathError, remove_tree


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "pkg" / "sub" / "data.txt").write_text("hello")
    return root


def test_reads_regular_file(checkout: Path) -> None:
    assert safefs.read_bytes(checkout, "pyproject.toml", 1000) == b"[project]\nname = 'x'\n"
    assert safefs.read_text(checkout, "pkg/sub/data.txt", 1000) == "hello"
    assert safefs.read_text(checkout, "./pkg//sub/./data.txt", 1000) == "hello"


def test_absent_file_is_none(checkout: Path) -> None:
    assert safefs.read_bytes(checkout, "LICENSE", 1000) is None
    assert safefs.read_text(checkout, "nope/LICENSE", 1000) is None
    # a regular file where a directory is expected means "absent", not an error
    assert safefs.read_bytes(checkout, "pyproject.toml/x", 1000) is None
    assert safefs.is_regular_file(checkout, "nope/LICENSE") is False


def test_symlink_to_outside_file_is_refused(checkout: Path) -> None:
    (checkout / "LICENSE").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePathError) as info:
        safefs.read_bytes(checkout, "LICENSE", 10_000)
    assert info.value.reason == "UNSAFE_REPOSITORY"
    assert "LICENSE is a symbolic link" in info.value.message
    assert "never follows links" in info.value.message
    assert isinstance(info.value, SubmissionError)
    with pytest.raises(UnsafePathError):
        safefs.is_regular_file(checkout, "LICENSE")


def test_symlink_inside_checkout_is_also_refused(checkout: Path) -> None:
    (checkout / "alias.toml").symlink_to("pyproject.toml")
    with pytest.raises(UnsafePathError, match="alias.toml is a symbolic link"):
        safefs.read_text(checkout, "alias.toml", 10_000)


def test_dangling_symlink_is_refused(checkout: Path) -> None:
    (checkout / "setup.py").symlink_to("/nonexistent/target")
    with pytest.raises(UnsafePathError, match="setup.py is a symbolic link"):
        safefs.read_bytes(checkout, "setup.py", 10)
    with pytest.raises(UnsafePathError):
        safefs.is_regular_file(checkout, "setup.py")


def test_symlinked_parent_directory_is_refused(checkout: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "tests.txt").write_text("secret")
    (checkout / "requirements").symlink_to(outside)
    with pytest.raises(UnsafePathError) as info:
        safefs.read_bytes(checkout, "requirements/tests.txt", 1000)
    assert "requirements (on the way to requirements/tests.txt)" in info.value.message
    with pytest.raises(UnsafePathError):
        safefs.list_dir(checkout, "requirements")
    with pytest.raises(UnsafePathError):
        safefs.is_regular_file(checkout, "requirements/tests.txt")
    with pytest.raises(UnsafePathError):
        safefs.is_directory(checkout, "requirements")


def test_symlink_to_directory_as_file_is_refused(checkout: Path) -> None:
    (checkout / "etc").symlink_to("/etc")
    with pytest.raises(UnsafePathError, match="etc is a symbolic link"):
        safefs.read_bytes(checkout, "etc", 10)
    with pytest.raises(UnsafePathError):
        safefs.read_bytes(checkout, "etc/passwd", 10_000)


def test_deep_symlinked_parent(checkout: Path) -> None:
    (checkout / "pkg" / "link").symlink_to("sub")
    with pytest.raises(UnsafePathError, match="pkg/link"):
        safefs.read_bytes(checkout, "pkg/link/data.txt", 100)


def test_fifo_is_refused_without_blocking(checkout: Path) -> None:
    os.mkfifo(checkout / "requirements.txt")
    result: list[BaseException | bytes | None] = []

    def attempt() -> None:
        try:
            result.append(safefs.read_bytes(checkout, "requirements.txt", 100))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            result.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert isinstance(result[0], UnsafePathError)
    assert "named pipe" in result[0].message
    assert safefs.is_regular_file(checkout, "requirements.txt") is False


def test_directory_is_not_a_file(checkout: Path) -> None:
    with pytest.raises(UnsafePathError, match="pkg is a directory"):
        safefs.read_bytes(checkout, "pkg", 100)
    assert safefs.is_regular_file(checkout, "pkg") is False
    assert safefs.is_directory(checkout, "pkg") is True
    with pytest.raises(UnsafePathError):
        safefs.read_bytes(checkout, ".", 100)


def test_oversize_file(checkout: Path) -> None:
    (checkout / "big.txt").write_bytes(b"x" * 101)
    (checkout / "exact.txt").write_bytes(b"x" * 100)
    assert safefs.read_bytes(checkout, "exact.txt", 100) == b"x" * 100
    with pytest.raises(FileTooLargeError) as info:
        safefs.read_bytes(checkout, "big.txt", 100)
    assert info.value.reason == "FILE_TOO_LARGE"
    assert "big.txt" in info.value.message


@pytest.mark.parametrize(
    "relpath",
    ["../etc/passwd", "/etc/passwd", "pkg/../../x", "a\x00b", "pkg/..", "x" * 5000],
)
def test_bad_relpaths_are_refused(checkout: Path, relpath: str) -> None:
    with pytest.raises(UnsafePathError):
        safefs.read_bytes(checkout, relpath, 100)
    with pytest.raises(UnsafePathError):
        safefs.list_dir(checkout, relpath)


def test_invalid_utf8(checkout: Path) -> None:
    (checkout / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UndecodableFileError) as info:
        safefs.read_text(checkout, "bad.txt", 100)
    assert info.value.reason == "INVALID_FILE"


def test_bom_is_dropped(checkout: Path) -> None:
    (checkout / "bom.txt").write_bytes("\ufeffpytest\n".encode())
    assert safefs.read_text(checkout, "bom.txt", 100) == "pytest\n"


def test_list_dir(checkout: Path) -> None:
    (checkout / "link").symlink_to("/etc")
    # a link is listed (by name, never resolved) but not entered
    assert safefs.list_dir(checkout, ".") == ["link", "pkg", "pyproject.toml"]
    assert safefs.list_dir(checkout, "pkg") == ["sub"]
    assert safefs.list_dir(checkout, "missing") == []
    assert safefs.list_dir(checkout, "pyproject.toml") == []


def test_list_dir_caps_entries(checkout: Path) -> None:
    for i in range(5):
        (checkout / "pkg" / f"f{i}").write_text("")
    with pytest.raises(UnsafePathError, match="more than 3 entries"):
        safefs.list_dir(checkout, "pkg", max_entries=3)


def test_root_may_be_reached_through_a_host_link(checkout: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(checkout)
    assert safefs.read_text(alias, "pkg/sub/data.txt", 100) == "hello"


def test_no_file_descriptor_leak(checkout: Path) -> None:
    (checkout / "link").symlink_to("/etc")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        safefs.read_bytes(checkout, "pkg/sub/data.txt", 100)
        safefs.read_bytes(checkout, "pkg/none/x", 100)
        safefs.list_dir(checkout, "pkg")
        with pytest.raises(UnsafePathError):
            safefs.read_bytes(checkout, "link/passwd", 100)
    assert len(os.listdir("/proc/self/fd")) <= before


def test_remove_tree_handles_any_depth_and_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("host file")
    root = tmp_path / "tree"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(1500):  # deeper than Python's recursion limit: shutil.rmtree fails here
            os.mkdir("a", dir_fd=fd)
            os.symlink(outside, "link", dir_fd=fd)
            deeper = os.open("a", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
    finally:
        os.close(fd)
    remove_tree(root)
    assert not root.exists()
    assert (outside / "keep.txt").read_text() == "host file"
