"""Shared fixtures: real Docker, the real sandbox image, real git repositories."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

RepoFactory = Callable[..., Path]


def _unavailable(message: str) -> None:
    # In CI a missing engine or image is a failure, never a silent skip.
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def docker_engine() -> object:
    """A connected Docker client, or a failure in CI."""
    from acceptance.errors import PlatformError
    from sandbox.docker import docker_client

    try:
        return docker_client(timeout=30)
    except PlatformError as exc:
        _unavailable(f"Docker engine unavailable: {exc.message}")
        raise


@pytest.fixture(scope="session")
def sandbox_image(docker_engine: object) -> str:
    """The sandbox image tag for the current code; built by scripts/setup.sh."""
    import docker.errors

    from sandbox.image import default_image_tag

    tag = default_image_tag(os.environ.get("ACCEPTANCE_SANDBOX_BASE_IMAGE") or None)
    try:
        docker_engine.images.get(tag)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        _unavailable(f"sandbox image {tag} missing: run `acceptance image build`")
    return tag


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel cache for the whole session, as a worker would keep it."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def engine_config(sandbox_image: str, wheel_cache: Path, tmp_path: Path) -> object:
    """An EngineConfig on the real image, with local sources allowed (as the CLI does)."""
    from acceptance.pipeline import EngineConfig

    return EngineConfig(
        image=sandbox_image,
        cache_dir=wheel_cache,
        work_dir=tmp_path / "work",
        allow_local_sources=True,
    )


def git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity; return stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Supplier",
        "GIT_AUTHOR_EMAIL": "supplier@example.invalid",
        "GIT_COMMITTER_NAME": "Supplier",
        "GIT_COMMITTER_EMAIL": "supplier@example.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def make_repo(tmp_path: Path) -> RepoFactory:
    """Create a git repository from {relative path: text} and commit it on `main`."""
    counter = iter(range(1000))

    def factory(files: dict[str, str], *, name: str | None = None, message: str = "deliver") -> Path:
        repo = tmp_path / (name or f"repo{next(counter)}")
        repo.mkdir(parents=True)
        for relpath, text in files.items():
            path = repo / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        git("init", "-q", "-b", "main", cwd=repo)
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", message, cwd=repo)
        return repo

    return factory


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`git daemon` on loopback: (base directory to put bare repos in, base URL)."""
    base = tmp_path / "served"
    base.mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [
            "git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
            "--listen=127.0.0.1", f"--port={port}", str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield base, f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
