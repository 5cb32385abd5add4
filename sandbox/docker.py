"""A hardened Docker container as a sandbox: no network, read-only root, capped everything."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import docker
import docker.errors
from docker.types import Mount, Ulimit

from acceptance.errors import PlatformError
from sandbox.docker_host import (
    CGROUP_PIDS_FILES,
    OutputReader,
    cgroup_oom_kills,
    cgroup_value,
)
from sandbox.docker_scripts import (
    FULL_SCRIPT,
    INIT_SCRIPT,
    READ_FILES_SCRIPT,
    SCRATCH,
    parse_file_reads,
)
from sandbox.interface import (
    CommandResult,
    FileRead,
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
#: how often a running command's memory and pids counters are looked at
_WATCH_SECONDS = 0.25
#: inodes of each scratch tmpfs: one per this many bytes of its size, at least MIN_INODES
BYTES_PER_INODE = 2048
MIN_INODES = 16_384
#: which host process started a sandbox ("host:pid"): what a leak report names
OWNER_LABEL = "org.acceptance.owner"
#: removals tried before a container is left to the reconciler
_REMOVE_ATTEMPTS = 3

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


def owner_label() -> str:
    """This process as a sandbox's owner: the host's name and the process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def remove_labelled_containers(client: docker.DockerClient, label: str, value: str) -> list[str]:
    """Kill and remove every container, running or exited, labelled `label=value`; their names.

    For what a dead process left behind: a sandbox whose owner was killed keeps
    running until its lifetime cap, then stays, exited, with its files in its layer.
    """
    removed: list[str] = []
    for container in client.containers.list(all=True, filters={"label": f"{label}={value}"}):
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            continue  # removed meanwhile by whoever else cleans up (another worker, the reconciler)
        removed.append(str(container.name))
    return removed


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
        inodes = max(MIN_INODES, limits.disk // BYTES_PER_INODE)
        try:
            self._container = client.containers.run(
                image.id,
                command=["python3", "-I", "-S", "-c", INIT_SCRIPT, str(int(limits.lifetime) + 1)],
                name=self._name,
                detach=True,
                user=SANDBOX_USER,
                environment=dict(_BASE_ENV),
                working_dir="/work",
                network_mode=(
                    f"container:{self._config.network_of}" if self._config.network_of else "none"
                ),
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
                # nr_inodes: millions of empty files cost kernel memory, not disk space.
                tmpfs=dict.fromkeys(
                    ("/work", "/tmp"),
                    f"rw,exec,nosuid,nodev,size={limits.disk},nr_inodes={inodes},mode=1777",
                ),
                mounts=[
                    Mount(target=target, source=str(source), type="bind", read_only=True)
                    for source, target in self._config.readonly_mounts.items()
                ],
                labels={LABEL: "1", OWNER_LABEL: owner_label(), **self._config.labels},
                log_config={"type": "none"},
                oom_score_adj=500,
                ipc_mode="private",
                runtime=self._config.runtime,
                auto_remove=False,
            )
        except docker.errors.DockerException as exc:
            self._remove_unstarted(client)
            raise SandboxError(f"cannot start the sandbox container: {exc}") from exc
        except BaseException:
            self._remove_unstarted(client)
            raise
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
        user: str | None = None,
    ) -> CommandResult:
        """Run argv as the sandbox user; the host enforces the timeout and output cap.

        Every process the command started is gone when this returns: a daemon
        left behind by one stage (a build backend, a test) must not tamper with
        the next stage or with the results read back afterwards.
        """
        if self._container is None or self._client is None:
            raise SandboxError("the sandbox is not running")
        cap = self._config.limits.output if max_output is None else max_output
        api = self._client.api
        oom_before = self._oom_kills()
        pids_before = self._process_limit_hits()
        started = time.monotonic()
        try:
            exec_id = api.exec_create(
                self._container.id,
                list(argv),
                user=user or SANDBOX_USER,
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
        reader = OutputReader(stream, cap)
        reader.start()
        deadline = started + timeout
        timed_out = stopped = False
        # A hit memory or pids limit ends the command at once: the verdict is
        # already decided, and a fork bomb would otherwise burn the whole timeout.
        while not reader.attention.wait(max(0.0, min(_WATCH_SECONDS, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                timed_out = True
                break
            if self._limit_hit(oom_before, pids_before):
                stopped = True
                break
            if self._exec_finished(exec_id):
                break  # done; whatever still holds its output is a straggler, ended below
        if not (timed_out or stopped or reader.limit_hit):
            # The output closed, but the command may still run with it closed.
            timed_out = not self._wait_exec(exec_id, deadline)
        if timed_out or stopped or reader.limit_hit or reader.is_alive():
            # Past the deadline, a limit or the output cap, or stragglers holding
            # the output open: end every sandboxed process.
            self.kill_processes()
            reader.join(10)
            if reader.is_alive():
                self._kill_container()
                reader.join(10)
        else:
            self._end_stragglers()
        seconds = time.monotonic() - started
        exit_code = self._exit_code(exec_id)
        pids_after = self._process_limit_hits()
        return CommandResult(
            exit_code=exit_code,
            output=reader.data(),
            output_truncated=reader.truncated,
            seconds=seconds,
            timed_out=timed_out,
            output_limit_hit=reader.limit_hit,
            memory_limit_hit=self._oom_kills() > oom_before,
            process_limit_hit=(
                pids_before is not None and pids_after is not None and pids_after > pids_before
            ),
        )

    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        """Read a regular file from inside; None when absent.

        Raises INVALID_ARTIFACT when it exceeds max_bytes or is a link or special
        file: results are never read through a link the tests planted.
        """
        script = (
            'if test -L "$1"; then exit 4; fi; test -e "$1" || exit 3; test -f "$1" || exit 4; '
            'exec head -c "$2" -- "$1"'
        )
        result = self.run(
            ["sh", "-c", script, "sh", path, str(max_bytes + 1)],
            timeout=60,
            max_output=max_bytes + 1,
        )
        if result.exit_code == 3:
            return None
        if result.exit_code == 4:
            raise SandboxLimitError(
                "INVALID_ARTIFACT", f"{path} is a symbolic link or not a regular file"
            )
        if result.exit_code != 0 or result.timed_out:
            raise SandboxLimitError("INVALID_ARTIFACT", f"could not read {path} from the sandbox")
        if len(result.output) > max_bytes:
            raise SandboxLimitError(
                "INVALID_ARTIFACT", f"{path} is larger than the {max_bytes}-byte limit"
            )
        return result.output

    def read_files(self, requests: Sequence[tuple[str, int]]) -> list[FileRead]:
        """Read several regular files in one exec (each read_file is a ~60 ms round trip).

        Same rules as read_file, per file: a link or special file is INVALID_ARTIFACT,
        never followed; a file over its limit is INVALID_ARTIFACT; absent is None.
        """
        if not requests:
            return []
        argv = ["sh", "-c", READ_FILES_SCRIPT, "sh"]
        for path, max_bytes in requests:
            argv += [path, str(max_bytes + 1)]
        cap = sum(max_bytes + 1 + 64 for _, max_bytes in requests)
        result = self.run(argv, timeout=60, max_output=cap)
        return parse_file_reads(result, requests)

    def full_filesystems(self) -> tuple[str, ...]:
        """The scratch filesystems with (almost) no space or inodes left."""
        if self._container is None:
            return ()
        try:
            result = self.run(
                ["python3", "-I", "-S", "-c", FULL_SCRIPT, *SCRATCH], timeout=30, max_output=4096
            )
        except SandboxLimitError:
            return ()
        if result.exit_code != 0:
            return ()
        return tuple(line for line in result.text.split() if line in SCRATCH)

    def kill_processes(self) -> None:
        """SIGKILL every sandboxed process except PID 1, keeping the container's files."""
        if self._container is None or self._client is None:
            return
        try:
            # init does the killing (see INIT_SCRIPT): no new process is needed.
            self._container.kill(signal="SIGUSR1")
        except docker.errors.DockerException:
            self._kill_container()
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process_count() <= 1:
                return
            time.sleep(0.05)
        # Something survived (e.g. init itself is stuck): end the container.
        log.warning("sandbox_kill_incomplete", extra={"container": self._name})
        self._kill_container()

    def close(self) -> None:
        """Kill and remove the container; safe to call twice."""
        container, self._container = self._container, None
        if container is None:
            return
        self._remove(container)

    def _remove_unstarted(self, client: docker.DockerClient) -> None:
        # docker-py's run() is create-then-start and leaves the created container
        # when start fails (e.g. the container whose network it joins has ended),
        # or when the engine answered after the client's timeout: find it by name.
        try:
            container = client.containers.get(self._name)
        except docker.errors.NotFound:
            return
        except docker.errors.DockerException as exc:
            log.warning("sandbox_remove_failed", extra={"container": self._name, "error": str(exc)})
            return
        self._remove(container)

    def _remove(self, container: Any) -> None:
        # A busy engine can refuse a removal for a moment ("removal already in
        # progress", a timeout): try again before leaving it to the reconciler.
        for attempt in range(_REMOVE_ATTEMPTS):
            try:
                container.remove(force=True, v=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.DockerException as exc:
                if attempt + 1 == _REMOVE_ATTEMPTS:
                    log.warning(
                        "sandbox_remove_failed", extra={"container": self._name, "error": str(exc)}
                    )
                    return
                time.sleep(0.5 * (attempt + 1))

    def _limit_hit(self, oom_before: int, pids_before: int | None) -> bool:
        pids = self._process_limit_hits()
        return self._oom_kills() > oom_before or (
            pids is not None and pids_before is not None and pids > pids_before
        )

    def _end_stragglers(self) -> None:
        if self._process_count() > 1:
            self.kill_processes()

    def _wait_exec(self, exec_id: str, deadline: float) -> bool:
        """Wait until the exec's process ended; False when the deadline passed first."""
        while not self._exec_finished(exec_id):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _exec_finished(self, exec_id: str) -> bool:
        # An exec that has not started yet is not running either, but has no exit code.
        assert self._client is not None
        try:
            state = self._client.api.exec_inspect(exec_id)
        except docker.errors.DockerException:
            return True
        return not state.get("Running") and state.get("ExitCode") is not None

    def _process_count(self) -> int:
        """Tasks in the container (init included); 0 when it is gone."""
        if self._container is None or self._client is None:
            return 0
        count = cgroup_value(str(self._container.id), CGROUP_PIDS_FILES, "pids.current")
        if count is not None:
            return count
        try:
            return len(self._client.api.top(self._container.id).get("Processes") or [])
        except docker.errors.DockerException:
            return 0

    def _process_limit_hits(self) -> int | None:
        """How often a fork failed at the pids limit; None when this host does not say."""
        if self._container is None:
            return None
        return cgroup_value(str(self._container.id), CGROUP_PIDS_FILES, "pids.events", "max")

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
        count = cgroup_oom_kills(str(self._container.id))
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
