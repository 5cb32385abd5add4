"""Running the in-image axe runner: on static pages, or on the delivered app it starts.

Static pages: one sandbox of the browser image variant, the checkout mounted read-only,
pages opened as ``file://``. Served: two sandboxes of that image sharing one network
namespace that has nothing but loopback. The app runs in the first, from the read-only
checkout, as the sandbox's unprivileged user in its own session (``setsid``); the browser
runs in the second, which the app cannot see: not its processes, not its files (the
results directory), only its port on 127.0.0.1. Afterwards every process of the app's
sandbox is killed (its process group and any daemon that left it), then the browser's
results are read. What the app prints is hostile: capped by the sandbox, then cleaned.
Hosted (the pipeline's AppHost): the app runs in the runtime's sandbox instead, from the
installed checkout with the environment the supplier's tests had (its dependencies), and
the browser's sandbox joins that sandbox's loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from checks.axe_results import MAX_PAGE_JSON_BYTES, MAX_SCREENSHOT_BYTES, clean
from checks.interface import AppHost
from sandbox.interface import CommandResult, Sandbox, SandboxLimitError, SandboxLimits

SRC_MOUNT = "/src"
OUT_DIR = "/work/axe"
#: what the browser's sandbox may use, for every page together
BROWSER_LIMITS = SandboxLimits(memory=2 * 1024**3, pids=512)
#: what the served app's sandbox may use (it shares the two cores with the browser)
SERVER_LIMITS = SandboxLimits(cpus=1.0, memory=1024**3, pids=256, disk=256 * 1024**2)
#: the app's output kept at most; past it the app is stopped (a flood is the supplier's)
SERVER_OUTPUT_CAP = 256 * 1024
#: characters of the app's last output quoted in a failure
SERVER_TAIL_CHARS = 600
#: seconds one probe of the port polls for, inside the browser's sandbox
_PROBE_SECONDS = 2.0
_PROBE = """
import socket, sys, time
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
"""


@dataclass(frozen=True)
class BrowserOutput:
    """The raw files the browser wrote for one page (None: not written)."""

    results: bytes | None
    screenshot: bytes | None
    #: the file was over its cap (or not a regular file)
    too_large: bool = False


class BrowserToolError(RuntimeError):
    """The platform could not run the browser (no image, no output): never a pass."""


class PagesDidNotFinish(RuntimeError):
    """The pages kept the browser past its time, memory or process limit: the supplier's."""


class ServerNotListening(RuntimeError):
    """The served app exited, or did not listen on its port in time: the supplier's."""


class ServeOptions(Protocol):
    """``accessibility.serve`` (acceptance.engine.spec_accessibility.AccessibilityServe)."""

    @property
    def command(self) -> tuple[str, ...]: ...

    @property
    def port(self) -> int: ...

    @property
    def paths(self) -> tuple[str, ...]: ...

    @property
    def written(self) -> str | list[str]: ...

    #: seconds the app has to listen on its port; None: the runner's default (30)
    @property
    def wait(self) -> float | None: ...


#: seconds the runner waits at most for a page's requests to end before its second axe run
#: (NETWORK_IDLE_MS in sandbox/image/acceptance_axe_runner.py)
NETWORK_IDLE_SECONDS = 5.0
#: the default of ``settle_seconds`` (ACCEPTANCE_ACCESSIBILITY_SETTLE)
DEFAULT_SETTLE_SECONDS = 2.0
#: the second axe run's own time, on top of a page's load and first run
_SECOND_RUN_SECONDS = 10.0


@dataclass(frozen=True)
class Timing:
    """The browser's time: its start, then this much per page (a page can hang it)."""

    startup_seconds: float = 20.0
    seconds_per_page: float = 35.0
    #: how long the app has to accept connections on its port
    listen_seconds: float = 30.0
    #: after a page's network went idle, how long before axe runs on it again
    settle_seconds: float = DEFAULT_SETTLE_SECONDS

    def browser_seconds(self, pages: int) -> float:
        # each page: its load and first run, the wait for it to settle, the second run
        settled = NETWORK_IDLE_SECONDS + self.settle_seconds + _SECOND_RUN_SECONDS
        return self.startup_seconds + (self.seconds_per_page + settled) * pages


def visit_static(
    image: str, runtime: str | None, tree: Path, urls: Sequence[str], tags: Sequence[str],
    timing: Timing,
) -> list[BrowserOutput]:  # fmt: skip
    """Open ``file://`` URLs of the checkout in the browser's own sandbox."""
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig, SandboxError

    timeout = timing.browser_seconds(len(urls))
    config = SandboxConfig(
        image=image, limits=_with_lifetime(BROWSER_LIMITS, timeout + 60.0),
        readonly_mounts={tree: SRC_MOUNT}, runtime=runtime,
    )  # fmt: skip
    try:
        with DockerSandbox(config) as browser:
            return _run_pages(browser, urls, tags, timeout, origin=None, timing=timing)
    except SandboxLimitError as exc:
        raise PagesDidNotFinish(f"the pages kept the browser past a limit: {exc}") from exc
    except SandboxError as exc:
        raise BrowserToolError(str(exc)) from exc


def visit_served(
    image: str, runtime: str | None, tree: Path, serve: ServeOptions, tags: Sequence[str],
    timing: Timing, host: AppHost | None = None,
) -> list[BrowserOutput]:  # fmt: skip
    """Start the app, wait for its port, visit its paths, then kill every process it left.

    ``host``: the runtime's sandbox with the project installed, where the app runs in the
    environment the supplier's tests had; None: a sandbox of the browser image of its own.
    """
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig, SandboxError

    lifetime = timing.listen_seconds + timing.browser_seconds(len(serve.paths)) + 120.0
    app_config = SandboxConfig(
        image=image, limits=_with_lifetime(SERVER_LIMITS, lifetime),
        readonly_mounts={tree: SRC_MOUNT}, runtime=runtime,
    )  # fmt: skip
    try:
        if host is not None:
            place = _AppPlace(host.sandbox, host.name, host.workdir, dict(host.env))
            return _visit(image, runtime, place, serve, tags, timing, lifetime)
        with DockerSandbox(app_config) as app:
            place = _AppPlace(app, app.name, SRC_MOUNT, {})
            return _visit(image, runtime, place, serve, tags, timing, lifetime)
    except SandboxLimitError as exc:
        raise PagesDidNotFinish(f"the pages kept the browser past a limit: {exc}") from exc
    except SandboxError as exc:
        raise BrowserToolError(str(exc)) from exc


@dataclass(frozen=True)
class _AppPlace:
    """The sandbox the app runs in, the name whose loopback the browser joins, and how."""

    sandbox: Sandbox
    name: str
    workdir: str
    env: dict[str, str]


def _visit(
    image: str, runtime: str | None, place: _AppPlace, serve: ServeOptions, tags: Sequence[str],
    timing: Timing, lifetime: float,
) -> list[BrowserOutput]:  # fmt: skip
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig

    origin = f"http://127.0.0.1:{serve.port}"
    # No checkout here: the browser's sandbox holds nothing of the delivery.
    browser_config = SandboxConfig(
        image=image, limits=_with_lifetime(BROWSER_LIMITS, lifetime), runtime=runtime,
        network_of=place.name,
    )  # fmt: skip
    with DockerSandbox(browser_config) as browser:
        server = _Server(place, serve, timeout=lifetime - 30.0)
        try:
            _wait_listening(browser, server, serve, timing.listen_seconds)
            urls = [origin + path for path in serve.paths]
            browser_time = timing.browser_seconds(len(serve.paths))
            outputs = _run_pages(browser, urls, tags, browser_time, origin=origin, timing=timing)
            if server.finished():
                what = "stopped while its pages were visited"
                raise ServerNotListening(_server_failure(serve, server.stop(), what))
        finally:
            server.stop()
        return outputs


class _Server:
    """The app's command, run in its sandbox by a thread until the app ends or is killed."""

    def __init__(self, place: _AppPlace, serve: ServeOptions, timeout: float) -> None:
        app = self._app = place.sandbox
        self._result: CommandResult | None = None
        self._error: BaseException | None = None
        # setsid: the app leads its own session and process group, apart from docker's exec.
        argv = ["setsid", "--wait", "--", *serve.command]
        env = {**place.env, "PORT": str(serve.port), "HOST": "127.0.0.1"}

        def run() -> None:
            try:
                self._result = app.run(
                    argv, timeout=timeout, workdir=place.workdir, env=env,
                    max_output=SERVER_OUTPUT_CAP,
                )  # fmt: skip
            except BaseException as exc:  # noqa: BLE001 -- handed to the caller's thread
                self._error = exc

        self._thread = threading.Thread(target=run, name="accessibility-serve", daemon=True)
        self._thread.start()

    def finished(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> CommandResult | None:
        """Kill every process in the app's sandbox; the command's result, once it ended."""
        if self._thread.is_alive():
            # DockerSandbox's: init SIGKILLs every process but itself, daemons included.
            kill = getattr(self._app, "kill_processes", None)
            if callable(kill):
                kill()
            self._thread.join(30)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._result


def _wait_listening(browser: Sandbox, server: _Server, serve: ServeOptions, seconds: float) -> None:
    """Return once 127.0.0.1:<port> accepts a connection; ServerNotListening otherwise."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        if server.finished():
            result = server.stop()
            raise ServerNotListening(
                _server_failure(serve, result, f"ended before listening on port {serve.port}")
            )
        probe = browser.run(
            ["python3", "-I", "-S", "-c", _PROBE, str(serve.port), str(_PROBE_SECONDS)],
            timeout=_PROBE_SECONDS + 15.0, max_output=4096,
        )  # fmt: skip
        if probe.exit_code == 0:
            return
        if time.monotonic() >= deadline:
            what = f"did not listen on 127.0.0.1:{serve.port} within {seconds:.0f} s"
            raise ServerNotListening(_server_failure(serve, server.stop(), what, killed=True))


def _server_failure(
    serve: ServeOptions, result: CommandResult | None, what: str, *, killed: bool = False
) -> str:
    """One line naming the command, what went wrong, and the tail of its output (cleaned).

    ``killed``: the engine ended the app, so its exit code says nothing about it.
    """
    written = serve.written if isinstance(serve.written, str) else " ".join(serve.written)
    message = f"the app started by accessibility.serve.command {clean(written, 200)!r} {what}"
    if result is None:
        return message
    if result.output_limit_hit:
        message += f" (its output passed {SERVER_OUTPUT_CAP // 1024} KiB, so it was stopped)"
    elif result.memory_limit_hit or result.process_limit_hit:
        message += " (it hit its sandbox's memory or process limit)"
    elif result.exit_code is not None and not result.timed_out and not killed:
        message += f" (exit code {result.exit_code})"
    # The end of what it printed is where it says why it stopped: keep the last characters.
    tail = clean(result.text[-SERVER_TAIL_CHARS * 4 :], SERVER_TAIL_CHARS * 4)
    if len(tail) > SERVER_TAIL_CHARS:
        tail = "…" + tail[-(SERVER_TAIL_CHARS - 1) :]
    return f"{message}; its last output: {tail}" if tail else f"{message}; it printed nothing"


def _run_pages(
    browser: Sandbox, urls: Sequence[str], tags: Sequence[str], timeout: float,
    origin: str | None, timing: Timing,
) -> list[BrowserOutput]:  # fmt: skip
    """The in-image runner on ``urls``; the time, memory and process limits are the pages'."""
    from sandbox.browser_image import RUNNER_PATH
    from sandbox.image import TOOLS_VENV

    browser.run(["mkdir", "-p", OUT_DIR], timeout=30)
    argv = [f"{TOOLS_VENV}/bin/python", RUNNER_PATH, "--settle", f"{timing.settle_seconds:g}"]
    if origin is not None:
        argv += ["--origin", origin]
    result = browser.run([*argv, OUT_DIR, ",".join(tags), *urls], timeout=timeout)
    if result.timed_out or result.memory_limit_hit or result.process_limit_hit:
        limit = (
            f"time ({timeout:.0f} s for {len(urls)} page(s))"
            if result.timed_out
            else "memory limit"
            if result.memory_limit_hit
            else "process limit"
        )
        raise PagesDidNotFinish(f"the pages kept the browser past its {limit}")
    if result.exit_code != 0:
        said = clean(result.text[-400:], 400)
        raise BrowserToolError(f"the browser runner exited with {result.exit_code}: {said}")
    return read_outputs(browser, len(urls))


def read_outputs(sandbox: Sandbox, count: int) -> list[BrowserOutput]:
    """Each page's results and screenshot, read back through their caps."""
    requests: list[tuple[str, int]] = []
    for number in range(count):
        requests.append((f"{OUT_DIR}/page-{number}.json", MAX_PAGE_JSON_BYTES))
        requests.append((f"{OUT_DIR}/page-{number}.png", MAX_SCREENSHOT_BYTES))
    answers = sandbox.read_files(requests)
    outputs: list[BrowserOutput] = []
    for number in range(count):
        results, shot = answers[2 * number], answers[2 * number + 1]
        too_large = isinstance(results.error, SandboxLimitError)
        outputs.append(BrowserOutput(
            results=results.data if results.error is None else None,
            screenshot=shot.data if shot.error is None else None,
            too_large=too_large,
        ))  # fmt: skip
    return outputs


def _with_lifetime(limits: SandboxLimits, lifetime: float) -> SandboxLimits:
    from dataclasses import replace

    return replace(limits, lifetime=lifetime)
