"""A hardened Docker container as a sandbox: no network, read-only root, capped everything."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import docker
import docker.errors
from docker.types import Mount, Ulimit

from acceptance.errors import PlatformError
from sandbox.interface import (
    CommandResult,
    Sandbox,
    SandboxConfig,
    SandboxError,
    SandboxInfo,
    SandboxLimitError,
)

log = logging.getLogger(__name__)

#: uid:gid every sandboxed process runs as; owns nothing on the host
SANDBOX_USER = "10001:10001"
LABEL = "org.acceptance.sandbox"

# PID 1 inside the container: reaps orphans and caps the container's lifetime.
# As the namespace's init it cannot be killed by a SIGKILL sent from inside, so
# `kill -9 -1` ends every sandboxed process while the container (and its tmpfs
# with the partial results) stays up for us to read.
_INIT_SCRIPT = """
import os, signal, sys
def _stop(*_):
    os._exit(0)
signal.signal(signal.SIGALRM, _stop)
signal.signal(signal.SIGTERM, _stop)
signal.alarm(int(sys.argv[1]))
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        signal.pause()
"""

# kill(-1) reaches every process the sandbox user may signal except the caller and PID 1.
_KILL_ALL = ["python3", "-I", "-S", "-c", "import os, signal; os.kill(-1, signal.SIGKILL)"]

_BASE_ENV = {
    "HOME": "/tmp",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PIP_NO_INDEX": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_INPUT": "1",
    "PYTHONUNBUFFERED": "1",
}


def docker_client(timeout: int = 120) -> docker.DockerClient:
    """Connect to the Docker engine named by the environment, or explain why not."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise PlatformError(
            f"cannot reach the Docker engine: {exc}",
            hint="start it (e.g. `dockerd --bridge=none --iptables=false &`) "
            "or set DOCKER_HOST; `acceptance doctor` checks the set-up",
        ) from exc
    return client


class DockerSandbox(Sandbox):
    """One fresh container per run; every stage is a `docker exec` inside it."""

    def __init__(self, config: SandboxConfig, client: docker.DockerClient | None = None) -> None:
        self._config = config
        self._client = client
        self._container: Any = None
        self._name = f"acceptance-{uuid.uuid4().hex[:12]}"

    @property
    def name(self) -> str:
        """The container's name (unique per sandbox)."""
        return self._name

    def start(self) -> SandboxInfo:
        """Create and start the hardened container."""
        client = self._client or docker_client()
        self._client = client
        try:
            image = client.images.get(self._config.image)
        except docker.errors.ImageNotFound as exc:
            raise PlatformError(
                f"the sandbox image {self._config.image} is missing",
                hint="build it with `acceptance image build`",
            ) from exc
        except docker.errors.DockerException as exc:
            raise SandboxError(f"cannot inspect the sandbox image: {exc}") from exc
        limits = self._config.limits
        try:
            self._container = client.containers.run(
                image.id,
                command=["python3", "-I", "-S", "-c", _INIT_SCRIPT, str(int(limits.lifetime) + 1)],
                name=self._name,
                detach=True,
                user=SANDBOX_USER,
                environment=dict(_BASE_ENV),
                working_dir="/work",
                network_mode="none",
                read_only=True,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges:true"],
                pids_limit=limits.pids,
                mem_limit=limits.memory,
                memswap_limit=limits.memory,
                nano_cpus=int(limits.cpus * 1e9),
                shm_size=64 * 1024**2,
                ulimits=[
                    Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                    Ulimit(name="fsize", soft=limits.disk, hard=limits.disk),
                    Ulimit(name="core", soft=0, hard=0),
                ],
                tmpfs={
                    "/work": f"rw,exec,nosuid,nodev,size={limits.disk},mode=1777",
                    "/tmp": f"rw,exec,nosuid,nodev,size={limits.disk},mode=1777",
                },
                mounts=[
                    Mount(target=target, source=str(source), type="bind", read_only=True)
                    for source, target in self._config.readonly_mounts.items()
                ],
                labels={LABEL: "1", **self._config.labels},
                log_config={"type": "none"},
                oom_score_adj=500,
                ipc_mode="private",
                runtime=self._config.runtime,
                auto_remove=False,
            )
        except docker.errors.DockerException as exc:
            raise SandboxError(f"cannot start the sandbox container: {exc}") from exc
        runtime = self._config.runtime or "runc"
        return SandboxInfo(
            image_id=str(image.id),
            image_tag=self._config.image,
            runtime=runtime,
            labels=dict(image.labels or {}),
        )

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        workdir: str = "/work",
        env: Mapping[str, str] | None = None,
        max_output: int | None = None,
    ) -> CommandResult:
        """Run argv as the sandbox user; the host enforces the timeout and output cap."""
        if self._container is None or self._client is None:
            raise SandboxError("the sandbox is not running")
        cap = self._config.limits.output if max_output is None else max_output
        api = self._client.api
        oom_before = self._oom_kills()
        started = time.monotonic()
        try:
            exec_id = api.exec_create(
                self._container.id,
                list(argv),
                user=SANDBOX_USER,
                workdir=workdir,
                environment={**_BASE_ENV, **(env or {})},
            )["Id"]
            stream = api.exec_start(exec_id, stream=True, demux=False)
        except docker.errors.APIError as exc:
            if self._is_gone():
                raise SandboxLimitError(
                    "SANDBOX_GONE", "the sandbox stopped before the stage could start"
                ) from exc
            raise SandboxError(f"cannot run a command in the sandbox: {exc}") from exc
        reader = _OutputReader(stream, cap)
        reader.start()
        signalled = reader.attention.wait(timeout)
        timed_out = not signalled
        if reader.is_alive():
            # Past the deadline or the output cap: end every sandboxed process.
            self.kill_processes()
            reader.join(10)
            if reader.is_alive():
                self._kill_container()
                reader.join(10)
        seconds = time.monotonic() - started
        exit_code = self._exit_code(exec_id)
        return CommandResult(
            exit_code=exit_code,
            output=reader.data(),
            output_truncated=reader.truncated,
            seconds=seconds,
            timed_out=timed_out,
            output_limit_hit=reader.limit_hit,
            memory_limit_hit=self._oom_kills() > oom_before,
        )

    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        """Read a file from inside; raise INVALID_ARTIFACT when it exceeds max_bytes."""
        script = 'test -f "$1" && test ! -L "$1" || exit 3; exec head -c "$2" -- "$1"'
        result = self.run(
            ["sh", "-c", script, "sh", path, str(max_bytes + 1)],
            timeout=60,
            max_output=max_bytes + 1,
        )
        if result.exit_code == 3:
            return None
        if result.exit_code != 0 or result.timed_out:
            raise SandboxLimitError("INVALID_ARTIFACT", f"could not read {path} from the sandbox")
        if len(result.output) > max_bytes:
            raise SandboxLimitError(
                "INVALID_ARTIFACT", f"{path} is larger than the {max_bytes}-byte limit"
            )
        return result.output

    def kill_processes(self) -> None:
        """SIGKILL every sandboxed process except PID 1, keeping the container's files."""
        if self._container is None or self._client is None:
            return
        api = self._client.api
        try:
            exec_id = api.exec_create(
                self._container.id, _KILL_ALL, user=SANDBOX_USER, stdout=False, stderr=False
            )
            # Detached: attaching to this exec's stream has been seen to hang.
            api.exec_start(exec_id, detach=True)
            deadline = time.monotonic() + 5
            while api.exec_inspect(exec_id).get("Running") and time.monotonic() < deadline:
                time.sleep(0.05)
        except docker.errors.DockerException:
            # No room for one more process (pids limit) or already gone: end it all.
            self._kill_container()

    def close(self) -> None:
        """Kill and remove the container; safe to call twice."""
        container, self._container = self._container, None
        if container is None:
            return
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            log.warning("sandbox_remove_failed", extra={"container": self._name, "error": str(exc)})

    def _kill_container(self) -> None:
        try:
            if self._container is not None:
                self._container.kill()
        except docker.errors.DockerException:
            pass

    def _is_gone(self) -> bool:
        try:
            self._container.reload()
        except docker.errors.DockerException:
            return True
        return bool(self._container.attrs["State"]["Status"] != "running")

    def _oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has ended in this container."""
        count = _cgroup_oom_kills(str(self._container.id))
        if count is not None:
            return count
        try:
            self._container.reload()
        except docker.errors.DockerException:
            return 0
        return int(bool(self._container.attrs["State"].get("OOMKilled")))

    def _exit_code(self, exec_id: str) -> int | None:
        assert self._client is not None
        try:
            code = self._client.api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.DockerException:
            return None
        return int(code) if code is not None else None


_CGROUP_MEMORY_FILES = (
    "/sys/fs/cgroup/memory/docker/{id}/memory.oom_control",  # cgroup v1, cgroupfs driver
    "/sys/fs/cgroup/memory/system.slice/docker-{id}.scope/memory.oom_control",  # v1, systemd
    "/sys/fs/cgroup/docker/{id}/memory.events",  # cgroup v2, cgroupfs driver
    "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.events",  # v2, systemd
)


def _cgroup_oom_kills(container_id: str) -> int | None:
    # Docker's OOMKilled flag only covers the container's main process, not a
    # `docker exec`, so read the kernel's own counter when this host shows it.
    for pattern in _CGROUP_MEMORY_FILES:
        try:
            with open(pattern.format(id=container_id), encoding="ascii") as handle:
                for line in handle:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


class _OutputReader(threading.Thread):
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
