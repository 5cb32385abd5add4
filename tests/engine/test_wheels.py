"""Tests for downloading pre-built wheels into the shared cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from acceptance.engine import wheels
from acceptance.engine.install_plan import DependencyError
from acceptance.engine.wheels import download_wheels
from acceptance.errors import PlatformError


def test_empty_request_runs_no_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip must not run")

    monkeypatch.setattr(subprocess, "run", forbidden)
    result = download_wheels([], tmp_path / "cache")
    assert result.files == ()


@pytest.mark.parametrize(
    "line",
    [
        "--index-url=https://example.invalid",
        "-r /etc/passwd",
        "six\n--pre",
        "x @ https://e.invalid/x.whl",
        "!!",
    ],
)
def test_only_validated_lines_reach_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip must not run")

    monkeypatch.setattr(subprocess, "run", forbidden)
    with pytest.raises(DependencyError) as info:
        download_wheels(["six", line], tmp_path / "cache")
    assert info.value.reason == "UNSUPPORTED_REQUIREMENT"


def test_command_is_wheels_only_and_uses_cache() -> None:
    command = wheels._command(Path("/w/r.txt"), Path("/w/dest"), Path("/cache"), "3.12")
    assert "--only-binary=:all:" in command
    assert command[-2:] == ["-r", "/w/r.txt"]
    assert command[command.index("--find-links") + 1] == "/cache"
    assert command[command.index("--python-version") + 1] == "3.12"
    assert not any("index-url" in part for part in command)


def test_bad_python_version(tmp_path: Path) -> None:
    with pytest.raises(PlatformError):
        download_wheels(["six"], tmp_path, python_version="3.12; rm -rf /")


@pytest.mark.parametrize(
    "stderr",
    [
        (
            "WARNING: Retrying ... after connection broken by 'NewConnectionError(...: "
            "[Errno 101] Network is unreachable')\nERROR: No matching distribution found for six"
        ),
        "ERROR: ... Max retries exceeded with url: /simple/six/",
        "[Errno 111] Connection refused",
    ],
)
def test_network_failures_are_platform_errors(stderr: str) -> None:
    assert isinstance(wheels._classify_failure(stderr), PlatformError)


NOT_FOUND = (
    "ERROR: Could not find a version that satisfies the requirement foo==1.0 "
    "(from versions: none)\nERROR: No matching distribution found for foo==1.0\n"
)


def classify(published: list[str] | None, stderr: str = NOT_FOUND) -> DependencyError:
    """What a failed download says when the index publishes PUBLISHED under the name."""
    asked: list[str] = []

    def probe(name: str) -> list[str] | None:
        asked.append(name)
        return published

    error = wheels._classify_failure(stderr, "3.11", probe)
    assert isinstance(error, DependencyError) and error.reason == "DEPENDENCY_UNAVAILABLE"
    assert asked == ["foo"]
    return error


def test_a_project_the_index_does_not_have_is_named_as_such() -> None:
    error = classify([])
    assert error.message == (
        "the requirement foo==1.0 names a project that does not exist on the package index: "
        "nothing is published there as 'foo'"
    )
    assert "spelling of 'foo'" in str(error.hint)
    assert "source" not in error.message and "wheel" not in error.message


def test_a_version_the_index_does_not_have_lists_what_it_has() -> None:
    error = classify(["2.1", "2.0", "1.1rc1", "not a version"])
    assert (
        error.message
        == "no published version of foo matches ==1.0 (the package index has 2.1, 2.0, 1.1rc1)"
    )


def test_a_published_version_without_a_wheel_says_so() -> None:
    error = classify(["1.1", "1.0", "0.9"])
    assert error.message.startswith(
        "foo is published on the package index (matching: 1.0), but not as a wheel for "
        "Python 3.11 on this platform (only as source"
    )
    assert "does not exist" not in error.message


def test_when_the_index_cannot_be_asked_the_message_claims_nothing_it_does_not_know() -> None:
    error = classify(None)
    assert error.message.startswith("no installable wheel found for foo==1.0:")
    assert "may not exist there, or be published only as source" in error.message


@pytest.mark.parametrize(
    ("code", "stdout", "stderr", "expected"),
    [
        (0, "six (1.17.0)\nAvailable versions: 1.17.0, 1.16.0, 1.0b1\n  LATEST: 1.17.0\n",
         "WARNING: pip index is currently an experimental command.\n", ["1.17.0", "1.16.0", "1.0b1"]),
        (1, "", "WARNING: pip index is currently an experimental command.\n"
                "ERROR: No matching distribution found for nope\n", []),
        (1, "", "WARNING: Retrying ... NewConnectionError(...)\n"
                "ERROR: No matching distribution found for six\n", None),
        (2, "", "ERROR: unknown command \"index\"\n", None),
        (0, "six (1.17.0)\n", "", None),
    ],
)  # fmt: skip
def test_what_pip_index_versions_says_is_read_defensively(
    code: int, stdout: str, stderr: str, expected: list[str] | None
) -> None:
    assert wheels._parse_published(code, stdout, stderr) == expected


def test_conflict_is_a_dependency_error() -> None:
    error = wheels._classify_failure("ERROR: ResolutionImpossible: for help visit ...")
    assert isinstance(error, DependencyError)


def test_unknown_failure_is_platform_error() -> None:
    assert isinstance(wheels._classify_failure("Segmentation fault"), PlatformError)


def test_timeout_is_platform_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object, **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(cmd="pip", timeout=1)

    monkeypatch.setattr(subprocess, "run", slow)
    with pytest.raises(PlatformError, match="did not finish within 1 seconds"):
        download_wheels(["six"], tmp_path / "cache", timeout=1)
    # the temporary download directory is cleaned up
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.slow
def test_download_and_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = download_wheels(["six==1.16.0", "iniconfig"], cache)
    names = sorted(path.name for path in first.files)
    assert names[0].startswith("iniconfig-") and names[1] == "six-1.16.0-py2.py3-none-any.whl"
    assert all(path.parent == cache and path.is_file() for path in first.files)
    assert sorted(p.name for p in cache.iterdir()) == names  # no temp dirs left behind
    six = cache / "six-1.16.0-py2.py3-none-any.whl"
    before = six.stat()

    # Second call with every package source switched off: only the cache can serve it.
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    second = download_wheels(["six==1.16.0", "iniconfig"], cache)
    assert sorted(path.name for path in second.files) == names
    after = six.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.slow
def test_nonexistent_package(tmp_path: Path) -> None:
    with pytest.raises(DependencyError) as info:
        download_wheels(["this-package-does-not-exist-xyz==1.0"], tmp_path / "cache")
    assert info.value.reason == "DEPENDENCY_UNAVAILABLE"
    assert "this-package-does-not-exist-xyz==1.0" in info.value.message
    assert "does not exist on the package index" in info.value.message
    assert "source" not in info.value.message


@pytest.mark.slow
def test_sdist_only_package(tmp_path: Path) -> None:
    # docopt 0.6.2 is published only as a source distribution.
    with pytest.raises(DependencyError) as info:
        download_wheels(["docopt==0.6.2"], tmp_path / "cache")
    assert info.value.reason == "DEPENDENCY_UNAVAILABLE"
    assert info.value.message.startswith(
        "docopt is published on the package index (matching: 0.6.2)"
    )
    assert "not as a wheel" in info.value.message and "only as source" in info.value.message


@pytest.mark.slow
def test_an_unpublished_version_of_a_real_project(tmp_path: Path) -> None:
    with pytest.raises(DependencyError) as info:
        download_wheels(["six==99.0"], tmp_path / "cache", python_version="3.11")
    assert info.value.message.startswith(
        "no published version of six matches ==99.0 (the package index has "
    )
    assert "1.16.0" in info.value.message
