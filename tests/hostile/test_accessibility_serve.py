"""Hostile served apps (accessibility.serve), in the real sandboxes with Debian's Chromium.

The app shares only a loopback with the browser: it cannot see the browser's files or
processes, its output is capped and cleaned, a redirect elsewhere is not judged, and
every process it left (daemons included) is killed before the results are read.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.checks.test_accessibility_serve_docker import _serve

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("browser_image")]


# One app, several tricks: it forges clean axe results wherever the runner might write them,
# redirects to another origin it serves itself or to file:///, or leaves a daemon behind.
HOSTILE_APP = r"""
import http.server, json, os, sys, threading, time

MODE = sys.argv[1]
CLEAN = json.dumps({"violations": [], "passes": 50, "incomplete": 0, "axe_version": "4.14.1"})


def forge_forever():
    while True:
        for folder in ("/work/axe", "/tmp/axe", "/work", "/tmp"):
            try:
                os.makedirs(folder, exist_ok=True)
                for number in range(3):
                    with open(f"{folder}/page-{number}.json", "w") as out:
                        out.write(CLEAN)
            except OSError:
                pass
        time.sleep(0.05)


class Clean(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (b'<!doctype html><html lang="en"><head><title>clean</title></head>'
                b'<body><main><h1>Clean</h1></main></body></html>')
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        target = {"redirect-other": "http://127.0.0.1:8001/",
                  "redirect-file": "file:///etc/passwd"}.get(MODE)
        if target:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()
            return
        super().do_GET()


if MODE == "daemon" and os.fork() == 0:
    os.setsid()  # out of the app's process group and session
    if os.fork() == 0:
        os.execvp("python3", ["python3", "-c",
                  "import time\nwhile True: time.sleep(1)  # a11y-daemon-marker"])
    os._exit(0)
if MODE in ("forge", "daemon"):
    threading.Thread(target=forge_forever, daemon=True).start()
if MODE == "redirect-other":
    clean = http.server.HTTPServer(("127.0.0.1", 8001), Clean)
    threading.Thread(target=clean.serve_forever, daemon=True).start()
http.server.HTTPServer(("127.0.0.1", 8000), Handler).serve_forever()
"""


def _hostile(tmp_path: Path, image: str, mode: str) -> Any:
    return _serve(tmp_path, image, f"exec python3 app.py {mode}", files={"app.py": HOSTILE_APP})


def test_results_the_app_forges_never_reach_the_verdict(tmp_path: Path, browser_image: str) -> None:
    result = _hostile(tmp_path, browser_image, "forge")
    assert result.status.value == "failed", result.summary
    assert result.reason_code == "ACCESSIBILITY_VIOLATIONS"
    assert result.details["blocking_rules"] == ["image-alt"]


def test_a_daemon_that_leaves_the_apps_process_group_is_killed(
    tmp_path: Path, browser_image: str
) -> None:
    result = _hostile(tmp_path, browser_image, "daemon")
    assert result.reason_code == "ACCESSIBILITY_VIOLATIONS"
    # Nothing of the app runs on once the check is over, in any container.
    time.sleep(1)
    running = subprocess.run(
        ["sh", "-c", "docker ps -q | xargs -r -n1 docker top 2>/dev/null || true"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert "a11y-daemon-marker" not in running


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("redirect-other", "the app sent the browser to another origin (http://127.0.0.1:8001/)"),
        ("redirect-file", "ERR_UNSAFE_REDIRECT"),
    ],
)
def test_a_redirect_elsewhere_is_never_judged(
    tmp_path: Path, browser_image: str, mode: str, said: str
) -> None:
    result = _hostile(tmp_path, browser_image, mode)
    assert result.status.value == "failed", result.summary
    assert result.reason_code == "ACCESSIBILITY_PAGE_UNLOADABLE"
    page = result.details["pages"][0]
    assert said in page["error"] and page["violations"] == [] and page["screenshot"] is None


def test_a_page_that_moves_to_a_clean_page_of_the_app_is_never_judged_clean(
    tmp_path: Path, browser_image: str
) -> None:
    # The listed page has an image without alt, and its script sends the browser to a clean
    # page of the same origin (which the route lets through) before or while axe runs.
    moving = (
        '<!doctype html><html lang="en"><head><title>Parks</title></head><body><main>'
        '<h1>Parks</h1><img src="map.svg"><script>setTimeout(() => '
        "{ location.href = '/clean.html'; }, 0)</script></main></body></html>"
    )
    clean = (
        '<!doctype html><html lang="en"><head><title>Clean</title></head><body><main>'
        "<h1>Clean</h1></main></body></html>"
    )
    result = _serve(tmp_path, browser_image, "exec python3 -m http.server 8000",
                    files={"index.html": moving, "clean.html": clean})  # fmt: skip
    assert result.status.value == "failed", result.summary
    assert result.reason_code in {"ACCESSIBILITY_VIOLATIONS", "ACCESSIBILITY_PAGE_UNLOADABLE"}


def test_an_app_that_never_listens_fails_within_the_limit(
    tmp_path: Path, browser_image: str
) -> None:
    started = time.monotonic()
    result = _serve(tmp_path, browser_image, "echo warming up; exec sleep 1000", listen_seconds=5)
    assert time.monotonic() - started < 60
    assert result.status.value == "failed", result.summary
    assert result.reason_code == "ACCESSIBILITY_SERVER_NOT_LISTENING"
    assert result.summary == (
        "the app started by accessibility.serve.command 'echo warming up; exec sleep 1000' did "
        "not listen on 127.0.0.1:8000 within 5 s; its last output: warming up"
    )
    assert result.details["serve"]["port"] == 8000


def test_an_app_that_exits_is_named_with_its_cleaned_output(
    tmp_path: Path, browser_image: str
) -> None:
    command = r"printf 'bad \033[31mred\033[0m \342\200\256evil <script>x</script>\n'; exit 3"
    result = _serve(tmp_path, browser_image, command)
    assert result.reason_code == "ACCESSIBILITY_SERVER_NOT_LISTENING"
    assert "ended before listening on port 8000 (exit code 3)" in result.summary
    # ESC and the bidi override are gone; markup stays text (the dashboard shows it inert).
    assert result.summary.endswith("its last output: bad [31mred[0m evil <script>x</script>")
    assert "\x1b" not in result.summary and "\u202e" not in result.summary


def test_an_app_that_floods_its_output_is_stopped_and_quoted_capped(
    tmp_path: Path, browser_image: str
) -> None:
    command = "yes 'flood flood flood' & exec python3 -m http.server 8000 --bind 127.0.0.1"
    result = _serve(tmp_path, browser_image, command)
    assert result.status.value == "failed", result.summary
    assert result.reason_code == "ACCESSIBILITY_SERVER_NOT_LISTENING"
    assert "its output passed 256 KiB, so it was stopped" in result.summary
    assert len(result.summary) <= 1000


def test_a_hosted_app_leaves_nothing_running_in_the_runtimes_sandbox(
    tmp_path: Path, browser_image: str, sandbox_image: str
) -> None:
    # Hosted (a Python delivery): the app runs in the runtime's own sandbox, where the
    # owner's hidden tests run next. Its daemon, out of its process group and session, and
    # its forger must be gone when the check returns; its forged results never count.
    from acceptance.engine.spec import AccessibilityServe, AccessibilitySpec
    from checks.accessibility import DockerBrowserRunner, evaluate
    from checks.interface import AppHost
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig, SandboxLimits
    from tests.checks.test_accessibility_serve_docker import site

    tree = site(tmp_path, {"app.py": HOSTILE_APP})
    serve = AccessibilityServe(("python3", "app.py", "daemon"), 8000, ("/index.html",))
    options = AccessibilitySpec(enabled=True, serve=serve)
    config = SandboxConfig(
        image=sandbox_image, limits=SandboxLimits(lifetime=600), readonly_mounts={tree: "/src"}
    )
    with DockerSandbox(config) as runtime_box:
        host = AppHost(runtime_box, runtime_box.name, "/src", {}, "the runtime's sandbox")
        result = evaluate(tree, options, DockerBrowserRunner(browser_image), host).result
        assert result.reason_code == "ACCESSIBILITY_VIOLATIONS", result.summary
        assert result.details["blocking_rules"] == ["image-alt"]
        left = runtime_box.run(["ps", "-eo", "pid,args"], timeout=30).text
        assert left.lstrip().startswith("PID"), left  # ps ran: its silence means something
        assert "a11y-daemon-marker" not in left and "app.py" not in left, left
