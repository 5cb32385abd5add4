"""Helpers shared by the tests and the benchmark harness (bench/): hidden-test archives,
loopback ports, polling, HTTP to the service, signed GitHub pushes, and the `acceptance`
processes of a deployment. Plain Python, no pytest: `python -m bench` imports it too."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: the `acceptance` command of the running virtualenv
ACCEPTANCE = str(Path(sys.executable).parent / "acceptance")
#: a real GitHub push delivery, at ../shared from the project root
GITHUB_PUSH = ROOT.parent / "shared" / "webhooks" / "github" / "push-payload.json"


def tar_gz(files: dict[str, str]) -> bytes:
    """A .tar.gz of {name: text}: hidden tests as an owner uploads them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Recorder:
    """Stands in for the Celery producer: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any], dict[str, Any]]] = []

    def send_task(self, name: str, args: list[Any], **options: Any) -> None:
        self.sent.append((name, args, options))


# ---------------------------------------------------------------- loopback and polling


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts_connections(port: int) -> bool:
    """Whether something listens on `port` of 127.0.0.1."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], seconds: float, what: str, every: float = 0.5) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


# ---------------------------------------------------------------- HTTP and webhooks


def request(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
    files: dict[str, bytes] | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """One HTTP request (JSON `body`, `raw` bytes or multipart `files`): (status, JSON or bytes)."""
    headers = dict(headers or {})
    data = raw
    if files is not None:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
            for name, content in files.items()
        ]
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            payload, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        payload, status = exc.read(), exc.code
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload


def http_status(url: str, timeout: float = 2) -> int:
    """The status a GET of `url` answers with; 0 while nothing answers."""
    try:
        return request("GET", url, timeout=timeout)[0]
    except OSError:
        return 0


def signed_push(
    secret: str, repo_url: str, commit: str, delivery: str
) -> tuple[bytes, dict[str, str]]:
    """A real GitHub push payload for `commit` on main of `repo_url`, signed with `secret`."""
    payload = json.loads(GITHUB_PUSH.read_text(encoding="utf-8"))
    payload.update(ref="refs/heads/main", after=commit, deleted=False, created=True)
    payload["repository"].update(
        clone_url=repo_url, git_url=repo_url, html_url=repo_url, url=repo_url
    )
    payload["head_commit"] = dict(payload.get("head_commit") or {}, id=commit)
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256="
        + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


# ---------------------------------------------------------------- `acceptance` processes


def start_acceptance(
    args: Iterable[str], *, env: dict[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start `acceptance ARGS` in a process group of its own (killable with its children),
    its output appended to `log`."""
    output = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [ACCEPTANCE, *args], env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def stop_process_groups(procs: Iterable[subprocess.Popen[bytes]], grace: float = 30) -> None:
    """SIGTERM the process group of each running process, then SIGKILL what is still alive
    after `grace` seconds."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@dataclass
class AcceptanceProcesses:
    """The `acceptance` processes of one deployment under test: one environment, working
    directory `root`, a log file `root/<name>.log` for each process started."""

    root: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run `acceptance ARGS` to the end; its stdout (it must succeed)."""
        done = subprocess.run(
            [ACCEPTANCE, *args], env=self.env, input=stdin, capture_output=True, text=True,
            timeout=120, cwd=self.root, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"acceptance {' '.join(args)}: {done.stderr}"
        return done.stdout

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        proc = start_acceptance(args, env=self.env, cwd=self.root, log=self.root / f"{name}.log")
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        stop_process_groups(self.procs)

    def logs(self) -> str:
        """The end of every process's log, for a failure message."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in sorted(self.root.glob("*.log"))
        )
