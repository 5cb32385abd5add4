"""Deployment: compose.yaml validated by docker-compose and checked for what the operations
guide promises; secrets from files; the worker health check; and the service image built
without a registry and run as production runs it (read-only, no capabilities, secrets as
files), a web container and a worker container judging a real run on the host's engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from acceptance.settings import load_settings
from tests.conftest import REDIS, ROOT, RepoFactory, git, unavailable
from tests.service import test_scale_out as scale_out
from tests.support import ACCEPTANCE, free_port, request, wait_for

APP_UID = 10002
HOST_CA = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
COMPOSE_FILES = [ROOT / "compose.yaml", ROOT / "deploy" / "worker-host.compose.yaml"]
#: what a secret's environment variable may be called: only ever a path to a file
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "ACCESS_KEY")


def compose(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


# ---------------------------------------------------------------- compose files


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_validates_with_docker_compose(path: Path, tmp_path: Path) -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
        return
    env = {
        **os.environ,
        "ACCEPTANCE_DB_HOST": "db.internal",
        "ACCEPTANCE_REDIS_HOST": "redis.internal",
        "ACCEPTANCE_ARTIFACTS_URL": "s3://bucket/prefix",
        "ACCEPTANCE_SECRETS_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [tool, "--project-directory", str(path.parent), "-f", str(path), "config", "-q"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_compose_has_the_services_the_issue_names_each_with_a_health_check() -> None:
    services = compose(ROOT / "compose.yaml")["services"]
    assert {
        "web",
        "worker",
        "signer",
        "scheduler",
        "redis",
        "postgres",
        "engine",
        "migrate",
    } <= set(services)
    for name, service in services.items():
        check = service.get("healthcheck", {})
        if check.get("disable"):
            assert service.get("restart") == "no", f"{name}: only one-shot services go unchecked"
        else:
            assert check.get("test"), f"{name} has no health check"
    # Scalable: nothing that pins one container (a name, a published port).
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][:3] == ["worker", "--queues", "runs"]
    assert "--beat" in services["scheduler"]["command"] and "--beat" not in worker["command"]
    assert services["web"]["command"][0] == "web"  # gunicorn: `acceptance web`
    assert services["signer"]["command"][0] == "signer"
    assert services["signer"]["healthcheck"]["test"][1:] == [
        "acceptance",
        "worker-health",
        "--signer",
        "--ping",
    ]
    for name in ("web", "worker", "signer", "scheduler"):
        assert services[name]["image"] == services["web"]["image"]
        assert services[name]["build"]["context"] == "."


def test_redis_keeps_every_message_and_never_evicts() -> None:
    redis = compose(ROOT / "compose.yaml")["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert "requirepass" in command and "/run/secrets/redis_password" in command


def test_state_lives_in_named_volumes() -> None:
    document = compose(ROOT / "compose.yaml")
    volumes = set(document["volumes"])
    assert {"data", "postgres", "redis", "engine-data"} <= volumes
    services = document["services"]
    assert "postgres:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis:/data" in services["redis"]["volumes"]
    assert "data:/var/lib/acceptance" in services["worker"]["volumes"]


def test_workers_use_a_dedicated_engine_not_the_hosts_socket() -> None:
    for path in COMPOSE_FILES:
        services = compose(path)["services"]
        for name, service in services.items():
            for volume in service.get("volumes", []):
                assert "docker.sock" not in str(volume).split(":")[0], (
                    f"{path.name}: {name} mounts {volume}"
                )
        engine = services["engine"]
        assert engine["privileged"] is True and engine["network_mode"] == "none"
        assert any("--host=unix:///run/engine/docker.sock" == arg for arg in engine["command"])
        assert "--group=10002" in engine["command"]
        assert services["worker"]["environment"]["DOCKER_HOST"] == "unix:///run/engine/docker.sock"
        # The engine resolves sandbox bind mounts: it sees the data volume at the same path.
        assert "data:/var/lib/acceptance:ro" in engine["volumes"]


def test_secrets_are_files_never_values_and_the_private_key_reaches_the_signer_only() -> None:
    for path in COMPOSE_FILES:
        document = compose(path)
        for name, service in document["services"].items():
            for key, value in (service.get("environment") or {}).items():
                if any(word in key for word in SECRET_WORDS):
                    assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), (
                        name,
                        key,
                    )
        for secret in document["secrets"].values():
            assert set(secret) == {"file"}
        services = document["services"]
        holders = {
            name for name, service in services.items()
            for s in service.get("secrets", []) if (s if isinstance(s, str) else s["source"]) == "signing_key"
        }  # fmt: skip
        # Workers run suppliers' code: they ask the signer (one, on the main machine).
        expected = {"signer"} if path.name == "compose.yaml" else set()
        assert holders == expected, f"{path.name}: the private key is mounted into {holders}"
        assert services["worker"]["environment"]["ACCEPTANCE_SIGNER"] == "queue"
        if "signer" in services:
            signer = services["signer"]
            assert signer["networks"] == ["backend"] and "volumes" not in signer


def test_the_build_context_excludes_everything_but_the_prepared_inputs() -> None:
    lines = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    assert lines[0] == "*"
    assert all(line.startswith("!deploy/build/") for line in lines[1:])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in dockerfile
    assert "--no-index" in dockerfile and "USER acceptance" in dockerfile
    assert "secrets" not in dockerfile.lower().replace("no secret is ever", "")


# ---------------------------------------------------------------- secrets from files


def test_passwords_come_from_files_into_the_urls(tmp_path: Path) -> None:
    (tmp_path / "db").write_text("p@ss:w/rd %\n")
    (tmp_path / "redis").write_text("r3dis\n")
    settings = load_settings({
        "ACCEPTANCE_DATABASE_URL": "postgresql+psycopg://acceptance@postgres:5432/acceptance",
        "ACCEPTANCE_DATABASE_PASSWORD_FILE": str(tmp_path / "db"),
        "ACCEPTANCE_BROKER_URL": "redis://redis:6379/0",
        "ACCEPTANCE_BROKER_PASSWORD_FILE": str(tmp_path / "redis"),
    })  # fmt: skip
    from kombu.utils.url import parse_url
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    assert (url.username, url.password, url.host, url.database) == (
        "acceptance", "p@ss:w/rd %", "postgres", "acceptance",
    )  # fmt: skip
    broker = parse_url(settings.broker_url)
    assert (broker["password"], broker["hostname"], broker["virtual_host"]) == (
        "r3dis",
        "redis",
        "0",
    )
    assert "p@ss" not in repr(settings) and "r3dis" not in repr(settings)


def test_an_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    from acceptance.errors import UserInputError

    with pytest.raises(UserInputError, match="ACCEPTANCE_DATABASE_PASSWORD_FILE: cannot read"):
        load_settings({"ACCEPTANCE_DATABASE_PASSWORD_FILE": str(tmp_path / "missing")})


# ---------------------------------------------------------------- worker health


def test_worker_health_says_what_is_missing(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
        "ACCEPTANCE_BROKER_URL": f"{REDIS}/15",
    }

    def health(*args: str, **extra: str) -> tuple[int, list[dict[str, Any]]]:
        done = subprocess.run(
            [ACCEPTANCE, "worker-health", "--json", *args], env={**env, **extra},
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        return done.returncode, json.loads(done.stdout)

    code, checks = health("--no-sandbox")
    assert code == 3 and {c["name"]: c["ok"] for c in checks}["database"] is False
    subprocess.run([ACCEPTANCE, "db", "upgrade"], env=env, check=True, capture_output=True)
    code, checks = health("--no-sandbox")
    if not {c["name"]: c["ok"] for c in checks}["broker"]:
        unavailable(f"Redis unavailable at {REDIS}")
    assert code == 0, checks
    code, checks = health(
        "--no-sandbox", ACCEPTANCE_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    assert code == 3 and {c["name"]: c["ok"] for c in checks}["broker"] is False
    # No worker of this host is running: the ping fails, quickly.
    code, checks = health("--no-sandbox", "--ping")
    assert code == 3 and checks[-1]["name"] == "worker" and not checks[-1]["ok"]


# ---------------------------------------------------------------- the service image


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=10
        ) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def service_image(docker_engine: object) -> str:
    """deploy/build-images.sh, for real: the wheelhouse and .debs on the host, then
    `docker build --network none` (about 3 minutes; seconds when it is up to date)."""
    prebuilt = os.environ.get("ACCEPTANCE_TEST_SERVICE_IMAGE")
    if prebuilt:  # a developer iterating on the tests, not on the image
        return prebuilt
    if shutil.which("apt-get") is None:
        unavailable("apt-get is needed to fetch the image's Debian packages")
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "build-images.sh")], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "IMAGE_TAG": "acceptance-service:test", "PYTHON": sys.executable},
        timeout=1500, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    print(f"service image ready in {time.monotonic() - started:.0f} s")
    return done.stdout.strip().splitlines()[-1]


class Containers:
    """Containers started by one test, always removed."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def run(
        self, image: str, *args: str, detach: bool = False, opts: list[str]
    ) -> subprocess.CompletedProcess[str]:
        name = f"acceptance-test-{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        argv = [
            "docker",
            "run",
            "--name",
            name,
            *(["-d"] if detach else ["--rm"]),
            *opts,
            image,
            *args,
        ]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)

    def logs(self) -> str:
        out = []
        for name in self.names:
            done = subprocess.run(
                ["docker", "logs", "--tail", "60", name],
                capture_output=True,
                text=True,
                check=False,
            )
            out.append(f"--- {name}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return "\n".join(out)

    def remove(self) -> None:
        for name in self.names:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


@pytest.mark.docker
@pytest.mark.service
@pytest.mark.slow
def test_the_image_runs_web_and_a_worker_as_production_does(
    service_image: str, sandbox_image: str, database_url: str, git_server: tuple[Path, str],
    make_repo: RepoFactory,
) -> None:  # fmt: skip
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    # Not under /tmp: the containers mount their own tmpfs there. Same path inside and out,
    # because the host's engine resolves the sandboxes' bind mounts.
    root = Path(tempfile.mkdtemp(prefix="acceptance-deploy-", dir="/var/tmp"))
    containers = Containers()
    redis = scale_out.RedisServer(root)
    try:
        root.chmod(0o755)
        data = root / "data"
        data.mkdir()
        os.chown(data, APP_UID, APP_UID)
        secrets = root / "secrets"
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "make-secrets.sh"), str(secrets)],
            check=True,
            capture_output=True,
        )
        redis_password = (secrets / "redis_password").read_text().strip()
        redis.start()
        subprocess.run(
            ["redis-cli", "-p", str(redis.port), "config", "set", "requirepass", redis_password],
            check=True,
            capture_output=True,
        )

        base, git_url = git_server
        repo = make_repo(scale_out.PROJECT)
        git("clone", "-q", "--bare", str(repo), str(base / "calc.git"), cwd=repo.parent)
        web_port = free_port()
        common = [
            "--network", "host", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges:true", "-v", f"{data}:{data}",
            "-e", f"ACCEPTANCE_DATA_DIR={data}", "-e", f"HOME={data}",
            "-e", f"ACCEPTANCE_DATABASE_URL={database_url}",
            "-e", "ACCEPTANCE_DATABASE_PASSWORD_FILE=/run/secrets/db_password",
            "-e", f"ACCEPTANCE_BROKER_URL=redis://127.0.0.1:{redis.port}/0",
            "-e", "ACCEPTANCE_BROKER_PASSWORD_FILE=/run/secrets/redis_password",
            "-e", "ACCEPTANCE_SIGNING_KEY=/run/secrets/signing.key",
            "-e", "ACCEPTANCE_METRICS_TOKEN_FILE=/run/secrets/metrics_token",
            "-e", f"ACCEPTANCE_SANDBOX_IMAGE={sandbox_image}",
            "-e", f"ACCEPTANCE_GIT_ALLOWED_HOSTS={git_url.removeprefix('git://')}",
            "-e", "ACCEPTANCE_LOG_FORMAT=json", "-e", "ACCEPTANCE_LOG_LEVEL=INFO",
            "-v", f"{secrets}/db_password:/run/secrets/db_password:ro",
            "-v", f"{secrets}/redis_password:/run/secrets/redis_password:ro",
            "-v", f"{secrets}/signing.pub:/run/secrets/signing.pub:ro",
            "-v", f"{secrets}/metrics_token:/run/secrets/metrics_token:ro",
            # the host's CA bundle for the workers' wheel downloads, as an operator mounts theirs
            "-v", f"{HOST_CA}:/etc/ssl/certs/host-ca.crt:ro", "-e", "PIP_CERT=/etc/ssl/certs/host-ca.crt",
        ]  # fmt: skip
        migrated = containers.run(service_image, "db", "upgrade", opts=common)
        assert migrated.returncode == 0, migrated.stderr

        # The web app holds no private key: only the public half is mounted.
        web = containers.run(
            service_image, "web", "--host", "127.0.0.1", "--port", str(web_port), "--workers", "1",
            detach=True, opts=common,
        )  # fmt: skip
        assert web.returncode == 0, web.stderr
        base_url = f"http://127.0.0.1:{web_port}"
        try:
            wait_for(lambda: _get(f"{base_url}/healthz")[0] == 200, 90, "the web container")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{containers.logs()}") from None
        status, body = _get(f"{base_url}/readyz")
        assert status == 200, (body, containers.logs())
        assert json.loads(body)["checks"] == {"database": "ok", "broker": "ok", "artifacts": "ok"}
        keys = json.loads(_get(f"{base_url}/api/v1/keys")[1])["keys"]
        from acceptance.engine.signing import keyid_for, load_public_key

        assert [k["keyid"] for k in keys] == [keyid_for(load_public_key(secrets / "signing.pub"))]
        # /metrics wants the token make-secrets.sh wrote (Prometheus's), not an open door
        assert _get(f"{base_url}/metrics")[0] == 401
        metrics_token = (secrets / "metrics_token").read_text().strip()
        assert b"acceptance_broker_up 1.0" in _get(f"{base_url}/metrics", metrics_token)[1]
        user = subprocess.run(
            ["docker", "exec", containers.names[-1], "id", "-u"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert user.stdout.strip() == str(APP_UID)

        # A worker on the host's engine (the documented alternative to compose's own engine).
        socket_gid = str(os.stat("/var/run/docker.sock").st_gid)
        worker_opts = [
            *common, "--group-add", socket_gid, "-v", "/var/run/docker.sock:/var/run/docker.sock",
            "-v", f"{secrets}/signing.key:/run/secrets/signing.key:ro",
        ]  # fmt: skip
        health = containers.run(service_image, "worker-health", "--json", opts=worker_opts)
        assert health.returncode == 0, health.stdout + health.stderr
        assert {c["name"] for c in json.loads(health.stdout)} >= {
            "docker",
            "sandbox image",
            "signing key",
        }
        worker = containers.run(
            service_image, "worker", "--queues", "runs,service", detach=True, opts=worker_opts
        )
        assert worker.returncode == 0, worker.stderr
        worker_name = containers.names[-1]

        # A run, start to finish, through the containers: API → broker → worker → report.
        token = _owner_token(database_url)
        status, opportunity = _api(
            "POST", f"{base_url}/api/v1/opportunities", token, files={"spec": scale_out.SPEC}
        )
        assert status == 201, opportunity
        status, submission = _api(
            "POST", f"{base_url}/api/v1/opportunities/{opportunity['id']}/submissions", token,
            {"repo_url": f"{git_url}/calc.git", "supplier": "Supplier Ltd", "branch": "main"},
        )  # fmt: skip
        assert status == 201, submission
        status, created = _api(
            "POST", f"{base_url}/api/v1/submissions/{submission['id']}/runs", token, {}
        )
        assert status in (201, 202), created
        run_id = created["id"] if "id" in created else created["run_id"]

        def finished() -> bool:
            status, body = _get(f"{base_url}/api/v1/runs/{run_id}", token)
            return status == 200 and json.loads(body)["status"] in ("finished", "error")

        try:
            wait_for(finished, 240, "the run to finish in the worker container")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{containers.logs()}") from None
        run = json.loads(_get(f"{base_url}/api/v1/runs/{run_id}", token)[1])
        assert run["verdict"] == "accepted", (
            run["reasons"],
            run["error"],
            containers.logs()[-3000:],
        )
        assert run["key_id"] == keys[0]["keyid"]
        status, envelope = _get(f"{base_url}/api/v1/runs/{run_id}/report", token)
        assert status == 200 and json.loads(envelope)["signatures"][0]["keyid"] == keys[0]["keyid"]
        # The worker's lines are JSON and name the run.
        logs = subprocess.run(
            ["docker", "logs", worker_name], capture_output=True, text=True, check=False
        )
        events = [
            json.loads(line)
            for line in (logs.stdout + logs.stderr).splitlines()
            if line.startswith("{")
        ]
        assert any(event.get("run") == run_id for event in events)
    finally:
        containers.remove()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


def _owner_token(database_url: str) -> str:
    from acceptance.service.accounts import create_token, create_user
    from acceptance.service.db import Database

    with Database(database_url).session() as session:
        create_user(session, "owner@example.org", "owner", "a long password 1")
        return create_token(session, "owner@example.org")


def _api(
    method: str, url: str, token: str, body: Any = None, *, files: dict[str, bytes] | None = None
) -> tuple[int, Any]:
    return request(method, url, body, {"Authorization": f"Bearer {token}"}, files=files)


def test_the_wheel_carries_every_file_the_packages_need(tmp_path: Path) -> None:
    """The image installs the project's wheel, not the checkout: templates, translations,
    migrations and the sandbox plugin must be package data, or the image breaks where tests pass."""
    import zipfile

    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("acceptance-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    # Sources of generated files (message catalogues, extraction config), notes, and the
    # template for writing new migrations need not ship.
    skipped = {".pyc", ".po", ".pot", ".cfg", ".md", ".mako"}
    missing = sorted(
        str(path.relative_to(ROOT))
        for package in ("acceptance", "sandbox", "checks", "web", "workers")
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in skipped
        and str(path.relative_to(ROOT)) not in packaged
    )  # fmt: skip
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"
