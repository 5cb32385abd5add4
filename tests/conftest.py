"""Shared fixtures: real Docker, the real sandbox image, real git repositories."""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeSandbox
from tests.support import accepts_connections, free_port, wait_for

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

RepoFactory = Callable[..., Path]

ROOT = Path(__file__).resolve().parents[1]
#: a supplier's usual licence file
MIT_LICENSE = (ROOT / "examples" / "contact-form" / "LICENSE").read_text(encoding="utf-8")
#: the real PyPA advisory snapshot, at ../shared from the project root (README of ../shared)
PYPA_ARCHIVE = Path(
    os.environ.get("ACCEPTANCE_TEST_PYPA_ARCHIVE")
    or ROOT.parent / "shared" / "osv" / "pypa-advisory-database.tar.gz"
)


def unavailable(message: str) -> None:
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
        unavailable(f"Docker engine unavailable: {exc.message}")
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
        unavailable(f"sandbox image {tag} missing: run `acceptance image build`")
    return tag


def _cli_sandboxes(engine: Any) -> dict[str, Any]:
    """Sandbox containers this test process started for runs with no run id, by id.

    Only this process's: other processes sharing the engine (a benchmark, a second
    checkout's tests) have sandboxes of their own that are not this test's to judge.
    """
    from sandbox.docker import LABEL, OWNER_LABEL, owner_label

    found = engine.containers.list(
        all=True, filters={"label": [LABEL, f"{OWNER_LABEL}={owner_label()}"]}
    )
    return {c.id: c for c in found if "org.acceptance.run" not in (c.labels or {})}


@pytest.fixture(autouse=True)
def _no_sandbox_left_by_this_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the very test whose run left a sandbox container behind, naming it.

    A leak seen only at the end of a module cannot say which of hundreds of earlier
    tests caused it; this check costs two engine calls per Docker test.
    """
    if "docker_engine" not in request.fixturenames:
        yield
        return
    engine = request.getfixturevalue("docker_engine")
    before = set(_cli_sandboxes(engine))
    yield
    left: dict[str, Any] = {}
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        left = {k: v for k, v in _cli_sandboxes(engine).items() if k not in before}
        if not left:
            return
        time.sleep(0.25)
    described = [
        f"{c.name} (image {c.attrs['Config']['Image']}, {c.status}, "
        f"created {c.attrs['Created']}, labels {c.labels})"
        for c in left.values()
    ]
    for container in left.values():
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
    pytest.fail(f"this test left sandbox containers behind: {described}")


def _variant_image(engine: Any, tag: str, option: str) -> str:
    """A runtime's image variant built by scripts/setup.sh, or a failure in CI."""
    import docker.errors

    try:
        engine.images.get(tag)
    except docker.errors.ImageNotFound:
        unavailable(f"image {tag} missing: run `acceptance image build {option}`")
    return tag


@pytest.fixture(scope="session")
def node_image(docker_engine: Any) -> str:
    """The node runtime's image for the current code."""
    from sandbox.node_image import node_image_tag

    return _variant_image(docker_engine, node_image_tag(), "--runtime node")


@pytest.fixture(scope="session")
def shell_image(docker_engine: Any) -> str:
    """The shell runtime's image for the current code."""
    from sandbox.shell_image import shell_image_tag

    return _variant_image(docker_engine, shell_image_tag(), "--runtime shell")


@pytest.fixture(scope="session")
def browser_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The browser variant, built once (reused when its inputs are unchanged)."""
    from sandbox.browser_image import BrowserImageBuilder
    from sandbox.docker import docker_client

    cache = tmp_path_factory.mktemp("browser-image-cache")
    builder = BrowserImageBuilder(docker_client(), cache, progress=lambda _: None)
    return builder.build_browser().tag


#: the machine's PostgreSQL server; tests create and drop databases of their own on it
PG_ADMIN = os.environ.get("ACCEPTANCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the machine's server, dropped afterwards."""
    import uuid

    import psycopg

    name = f"acceptance_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL unavailable at {PG_ADMIN}: {exc}")
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: the machine's Redis server; tests use databases 8-15 on it and empty them
REDIS = os.environ.get("ACCEPTANCE_TEST_REDIS", "redis://127.0.0.1:6379")


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A Redis database of its own (numbers 8-15), emptied before and after."""
    import uuid

    import redis

    url = f"{REDIS}/{8 + uuid.uuid4().int % 8}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        unavailable(f"Redis unavailable at {REDIS}: {exc}")
    yield url
    client.flushdb()


@dataclass(frozen=True)
class Snapshot:
    """The real PyPA archive imported through the CLI, once per test session."""

    data_dir: Path
    store: Path
    output: str
    exit_code: int
    seconds: float


_SNAPSHOT: list[Snapshot] = []


def real_snapshot() -> Snapshot:
    """Import the real archive with `acceptance advisories import` (cached for the session)."""
    from acceptance.cli import main

    if not PYPA_ARCHIVE.is_file():
        unavailable(f"the PyPA advisory archive is not at {PYPA_ARCHIVE}")
    if not _SNAPSHOT:
        data_dir = Path(tempfile.mkdtemp(prefix="advisories-"))
        atexit.register(shutil.rmtree, data_dir, True)
        out = io.StringIO()
        started = time.monotonic()
        saved = os.environ.get("ACCEPTANCE_DATA_DIR")
        os.environ["ACCEPTANCE_DATA_DIR"] = str(data_dir)
        try:
            with contextlib.redirect_stdout(out):
                code = main(["advisories", "import", str(PYPA_ARCHIVE)])
        finally:
            if saved is None:
                os.environ.pop("ACCEPTANCE_DATA_DIR", None)
            else:
                os.environ["ACCEPTANCE_DATA_DIR"] = saved
        seconds = time.monotonic() - started
        _SNAPSHOT.append(
            Snapshot(data_dir, data_dir / "advisories.sqlite", out.getvalue(), code, seconds)
        )
    return _SNAPSHOT[0]


@pytest.fixture(scope="session")
def advisories_db() -> Path:
    """The real advisory snapshot imported once; engines audit against it offline."""
    snapshot = real_snapshot()
    assert snapshot.exit_code == 0, snapshot.output
    return snapshot.store


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel cache for the whole session, as a worker would keep it."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def engine_config(
    sandbox_image: str, wheel_cache: Path, tmp_path: Path, advisories_db: Path
) -> object:
    """An EngineConfig on the real image, with local sources allowed (as the CLI does)."""
    from acceptance.engine.pipeline import EngineConfig

    return EngineConfig(
        image=sandbox_image,
        cache_dir=wheel_cache,
        work_dir=tmp_path / "work",
        allow_local_sources=True,
        advisories_db=advisories_db,
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


def example_delivery(example: Path, tmp_path: Path, changes: dict[str, str] | None = None) -> Path:
    """A copy of an example project, with `changes` (file -> text), committed as a delivery."""
    repo = tmp_path / example.name
    shutil.copytree(example, repo)
    for name, text in (changes or {}).items():
        (repo / name).write_text(text, encoding="utf-8")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    return repo


@pytest.fixture
def make_repo(tmp_path: Path) -> RepoFactory:
    """Create a git repository from {relative path: text} and commit it on `main`."""
    counter = iter(range(1000))

    def factory(
        files: dict[str, str], *, name: str | None = None, message: str = "deliver"
    ) -> Path:
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


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`git daemon` on loopback: (base directory to put bare repos in, base URL)."""
    base = tmp_path / "served"
    base.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: accepts_connections(port), 10, "git daemon to listen", every=0.05)
        yield base, f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---------------------------------------------------------------- the CLI, end to end


@pytest.fixture(scope="session")
def cli_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir (wheel cache, signing key) for the session, as a worker keeps it."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, cli_data_dir: Path, sandbox_image: str, advisories_db: Path
) -> None:
    """The environment `acceptance check` reads: real image, real advisories, shared caches."""
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(cli_data_dir))
    monkeypatch.setenv("ACCEPTANCE_SANDBOX_IMAGE", sandbox_image)
    monkeypatch.setenv("ACCEPTANCE_ADVISORIES_DB", str(advisories_db))


def write_spec(folder: Path, body: str = "", *, hidden: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "acceptance.yaml"
    text = "version: 1\ntitle: Demo acceptance\n" + body
    if hidden is not None:
        for relpath, content in hidden.items():
            path = folder / "hidden" / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    spec.write_text(text, encoding="utf-8")
    # Every spec a test writes also shows the published schema never refuses a valid one.
    from tests.schema_support import assert_schema_accepts_if_parser_does

    assert_schema_accepts_if_parser_does(spec)
    return spec


def check(
    source: str, spec: Path, *extra: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    """Run `acceptance check --json`; return the exit code and the statement."""
    from acceptance.cli import main

    code = main(["check", source, "--spec", str(spec), "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


@pytest.fixture
def fake_sandbox() -> FakeSandbox:
    """A scripted FakeSandbox (tests/fakes.py) implementing the real Sandbox interface; no Docker."""
    return FakeSandbox()


# ---------------------------------------------------------------- the seeded dashboard service


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The web app on its own database with the dashboard tests' users and runs, per module."""
    from tests.dashboard_support import Service

    return Service(tmp_path_factory.mktemp("seeded") / "data")


@pytest.fixture
def service(seeded: Any, tmp_path: Path) -> Any:
    """A fresh copy of the seeded service for each test (tests change it)."""
    from tests.dashboard_support import Service

    return Service(tmp_path / "data", copy_of=seeded)
