"""The dependency check: hostile listings, and pip-audit on the host against the loopback service."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from acceptance.engine.spec import DependencyAuditSpec
from acceptance.errors import SubmissionError
from checks import dependencies
from checks.dependencies import (
    INSTALLED_COMMAND,
    MAX_ENTRIES,
    audit,
    parse_installed,
    pip_audit_command,
)
from checks.interface import CheckOutcome, CheckStatus
from checks.osv_server import serve_advisories
from tests.conftest import real_snapshot, unavailable

# requests 2.19.0 and what `pip install requests==2.19.0` pulled in at the time
PINS = [
    ("requests", "2.19.0"),
    ("urllib3", "1.23"),
    ("idna", "2.7"),
    ("chardet", "3.0.4"),
    ("certifi", "2018.8.24"),
]
#: what breaks every outside access for pip and requests-based tools
NO_NETWORK_ENV = {
    "PIP_NO_INDEX": "1",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1",
}


# ---------------------------------------------------------------- parse_installed


def listing(*entries: object) -> bytes:
    return json.dumps(list(entries)).encode()


def test_parse_installed_accepts_pip_list_json() -> None:
    output = listing(
        {"name": "Requests", "version": "2.19.0"},
        {"name": "zope.interface", "version": "6.0"},
        {"name": "my_project", "version": "0.1.0", "editable_project_location": "/work/src"},
        {"name": "certifi", "version": "2018.08.24"},
    )
    assert parse_installed(output) == [
        ("certifi", "2018.8.24"),  # PEP 440 normal form
        ("my-project", "0.1.0"),
        ("requests", "2.19.0"),
        ("zope-interface", "6.0"),
    ]
    assert parse_installed(b"[]") == []
    # the same distribution twice (two site directories) collapses
    assert parse_installed(
        listing({"name": "a", "version": "1"}, {"name": "A", "version": "1.0"})
    ) == [("a", "1")]


@pytest.mark.parametrize(
    "output",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b'{"name": "a", "version": "1"}',
        b"[" * 100_000 + b"]" * 100_000,
        listing("requests==2.19.0"),
        listing({"name": "a"}),
        listing({"name": "a", "version": 1}),
        listing({"name": None, "version": "1"}),
        listing({"name": ["a"], "version": "1"}),
        listing({"name": "--index-url", "version": "1"}),
        listing({"name": "-e", "version": "1"}),
        listing({"name": "a==1", "version": "1"}),
        listing({"name": "a b", "version": "1"}),
        listing({"name": "a\n--extra-index-url http://evil", "version": "1"}),
        listing({"name": "a;python_version>'0'", "version": "1"}),
        listing({"name": "a @ file:///etc", "version": "1"}),
        listing({"name": "ａ", "version": "1"}),
        listing({"name": "", "version": "1"}),
        listing({"name": "-a", "version": "1"}),
        listing({"name": "a", "version": "1 ; rm -rf /"}),
        listing({"name": "a", "version": "1\n--index-url=http://evil"}),
        listing({"name": "a", "version": "latest"}),
        listing({"name": "a", "version": ""}),
        listing(
            {
                "name": "a",
                "version": "1",
            },
            {"name": "A", "version": "2"},
        ),
        listing({"name": "a" * 201, "version": "1"}),
        listing({"name": "a", "version": "1." + "0" * 200}),
        listing(*({"name": f"p{i}", "version": "1"} for i in range(MAX_ENTRIES + 1))),
        b"[" + b" " * (dependencies.MAX_LISTING_BYTES + 1) + b"]",
    ],
)
def test_parse_installed_rejects_hostile_listings(output: bytes) -> None:
    with pytest.raises(SubmissionError) as caught:
        parse_installed(output)
    assert caught.value.reason == "INVALID_ARTIFACT"
    assert len(caught.value.message) < 400


def test_installed_command_lists_a_real_venv_like_pip_list() -> None:
    """The in-sandbox script, pointed at this venv with this interpreter, agrees with pip."""
    assert INSTALLED_COMMAND[:4] == ["/opt/acceptance/tools/bin/python", "-I", "-S", "-c"]
    argv = [sys.executable, *INSTALLED_COMMAND[1:-1], sys.prefix]
    started = time.monotonic()
    ours = subprocess.run(argv, capture_output=True, check=True, timeout=60)
    ours_seconds = time.monotonic() - started
    started = time.monotonic()
    pips = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    pip_seconds = time.monotonic() - started
    print(f"INSTALLED_COMMAND {ours_seconds:.2f} s, pip list {pip_seconds:.2f} s")
    listed = parse_installed(ours.stdout)
    assert ("pip-audit", "2.10.1") in listed
    assert set(listed) == set(parse_installed(pips.stdout))


def test_installed_command_lists_every_metadata_folder_so_none_can_shadow_another(
    tmp_path: Path,
) -> None:
    """A second folder claiming an installed package is listed too, and the listing refused."""
    for where, version in (
        ("lib/python3.0/site-packages", "2.2.3"),
        ("lib/python3.11/site-packages", "1.23"),
    ):
        folder = tmp_path / where / f"urllib3-{version}.dist-info"
        folder.mkdir(parents=True)
        (folder / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: urllib3\nVersion: {version}\n"
        )
    argv = [sys.executable, *INSTALLED_COMMAND[1:-1], str(tmp_path)]
    output = subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout
    assert sorted(entry["version"] for entry in json.loads(output)) == ["1.23", "2.2.3"]
    with pytest.raises(SubmissionError) as caught:
        parse_installed(output)
    assert "urllib3 twice with different versions" in caught.value.message


@pytest.mark.docker
def test_installed_command_inside_the_sandbox(sandbox_image: str) -> None:
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig

    with DockerSandbox(SandboxConfig(image=sandbox_image)) as box:
        made = box.run(["python3", "-m", "venv", "/work/venv"], timeout=120)
        assert made.exit_code == 0, made.text
        result = box.run(INSTALLED_COMMAND, timeout=60)
        assert result.exit_code == 0, result.text
        pip_list = box.run(
            ["/opt/acceptance/tools/bin/python", "-m", "pip", "--python", "/work/venv/bin/python",
             "list", "--format", "json"], timeout=120,
        )  # fmt: skip
    print(
        f"in the sandbox: INSTALLED_COMMAND {result.seconds:.2f} s, pip list {pip_list.seconds:.2f} s"
    )
    listed = parse_installed(result.output)
    assert "pip" in {name for name, _ in listed}  # the venv's own, from ensurepip
    assert set(listed) == set(parse_installed(pip_list.output))


# ---------------------------------------------------------------- audit on real data


@pytest.fixture(scope="module")
def osv_url() -> Iterator[str]:
    snapshot = real_snapshot()
    with serve_advisories(snapshot.store) as url:
        yield url


@pytest.fixture(scope="module")
def failing(osv_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[CheckOutcome, float]:
    started = time.monotonic()
    outcome = audit(
        PINS, DependencyAuditSpec(), osv_url=osv_url, work_dir=tmp_path_factory.mktemp("audit")
    )
    return outcome, time.monotonic() - started


def vulns_of(outcome: CheckOutcome) -> list[dict[str, Any]]:
    found = outcome.result.details["vulnerabilities"]
    assert isinstance(found, list)
    return found


def test_old_requests_fails_with_requests_and_urllib3_advisories(
    failing: tuple[CheckOutcome, float],
) -> None:
    outcome, seconds = failing
    print(f"audit (two pip-audit runs) {seconds:.2f} s")
    result = outcome.result
    assert result.status is CheckStatus.FAILED, result.summary
    assert (result.id, result.kind, result.reason_code) == (
        "dependencies",
        "dependencies",
        "VULNERABLE_DEPENDENCIES",
    )
    by_package: dict[str, set[str]] = {}
    for vuln in vulns_of(outcome):
        by_package.setdefault(vuln["package"], set()).add(vuln["id"])
        assert vuln["ignored"] is False
        assert set(vuln) == {"package", "version", "id", "aliases", "fix_versions", "ignored"}
    assert {"PYSEC-2018-28", "PYSEC-2023-74"} <= by_package["requests"]
    assert "PYSEC-2019-132" in by_package["urllib3"]
    assert "chardet" not in by_package
    pysec_2018_28 = next(v for v in vulns_of(outcome) if v["id"] == "PYSEC-2018-28")
    assert pysec_2018_28["version"] == "2.19.0"
    assert "CVE-2018-18074" in pysec_2018_28["aliases"]
    assert pysec_2018_28["fix_versions"] == ["2.20.0"]
    assert result.details["audited"] == 5
    data = result.details["advisory_data"]
    assert isinstance(data, dict) and data["records"] > 2000 and data["newest_modified"]
    assert "in 4 of 5 installed package(s)" in result.summary and "requests" in result.summary


def test_artifacts_hold_the_raw_json_and_a_cyclonedx_sbom(
    failing: tuple[CheckOutcome, float],
) -> None:
    outcome, _ = failing
    raw = json.loads(outcome.artifacts["pip-audit.json"])
    assert sorted(d["name"] for d in raw["dependencies"]) == sorted(n for n, _ in PINS)
    sbom = json.loads(outcome.artifacts["sbom.cdx.json"])
    assert sbom["bomFormat"] == "CycloneDX"
    assert sorted((c["name"], c["version"]) for c in sbom["components"]) == sorted(PINS)
    assert {v["id"] for v in sbom["vulnerabilities"]} == {v["id"] for v in vulns_of(outcome)}


def test_findings_equal_pip_audit_by_hand_which_only_talks_to_the_loopback_service(
    failing: tuple[CheckOutcome, float], osv_url: str, tmp_path: Path
) -> None:
    """Same pins, same flags, same server; every socket pip-audit opens is recorded."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{n}=={v}\n" for n, v in PINS))
    out, events = tmp_path / "by-hand.json", tmp_path / "events.jsonl"
    argv = pip_audit_command(requirements, f"{osv_url}/v1/query", "json", out, tmp_path / "cache")
    assert argv[:4] == [sys.executable, "-I", "-m", "pip_audit"]
    # The same run, with an audit hook logging every connection, name lookup and process.
    hooked = [sys.executable, "-I", "-c", _AUDIT_HOOK, str(events), *argv[4:]]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **NO_NETWORK_ENV}
    done = subprocess.run(hooked, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # 1: vulnerabilities found
    by_hand = json.loads(out.read_text())
    checked = json.loads(failing[0].artifacts["pip-audit.json"])
    for document in (by_hand, checked):  # pip-audit keeps aliases in a set: order varies
        document["dependencies"].sort(key=lambda d: d["name"])
        for dep in document["dependencies"]:
            for vuln in dep["vulns"]:
                vuln["aliases"].sort()
    assert by_hand == checked
    flat = {
        (d["name"], d["version"], v["id"], tuple(sorted(v["aliases"])), tuple(v["fix_versions"]))
        for d in by_hand["dependencies"]
        for v in d["vulns"]
    }
    ours = {
        (v["package"], v["version"], v["id"], tuple(v["aliases"]), tuple(v["fix_versions"]))
        for v in vulns_of(failing[0])
    }
    assert flat == ours

    port = int(osv_url.rsplit(":", 1)[1])
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    connects = [args for event, args in logged if event == "socket.connect"]
    lookups = [
        args for event, args in logged if event in ("socket.getaddrinfo", "socket.gethostbyname")
    ]
    assert connects and all(address == ["127.0.0.1", port] for address in connects), connects
    assert all(host == "127.0.0.1" for host in lookups), lookups
    processes = [args for event, args in logged if event == "subprocess.Popen"]
    assert all(argv_[1:] == ["-m", "pip", "--version"] for argv_ in processes), processes


_AUDIT_HOOK = r"""
import json, runpy, sys
log = open(sys.argv[1], "a")
def hook(event, args):
    if event == "socket.connect":
        address = args[1]
        log.write(json.dumps([event, list(address) if isinstance(address, tuple) else str(address)]) + "\n")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname"):
        log.write(json.dumps([event, str(args[0])]) + "\n")
    elif event == "subprocess.Popen":
        log.write(json.dumps([event, [str(a) for a in args[1]]]) + "\n")
    elif event in ("socket.sendto", "socket.sendmsg"):
        log.write(json.dumps(["socket.send-unconnected", str(args)]) + "\n")
    log.flush()
sys.addaudithook(hook)
sys.argv = ["pip-audit", *sys.argv[2:]]
runpy.run_module("pip_audit", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_same_verdict_in_a_network_namespace_with_only_loopback(
    failing: tuple[CheckOutcome, float], tmp_path: Path
) -> None:
    """Server and audit inside a fresh network namespace: no interface but `lo` exists."""
    if shutil.which("unshare") is None:
        unavailable("unshare(1) is not installed (Debian's util-linux)")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        unavailable("user and network namespaces are not available here")
    script = r"""
import json, socket, sys
from pathlib import Path
from checks.osv_server import serve_advisories
from acceptance.engine.spec import DependencyAuditSpec
from checks.dependencies import audit
outside = socket.socket()
outside.settimeout(3)
reach = outside.connect_ex(("192.0.2.1", 443))  # TEST-NET-1: any outside address
with serve_advisories(Path(sys.argv[1])) as url:
    outcome = audit(json.loads(sys.argv[2]), DependencyAuditSpec(), osv_url=url, work_dir=Path(sys.argv[3]))
print(json.dumps({"reach": reach, "status": outcome.result.status.value,
                  "vulnerabilities": outcome.result.details.get("vulnerabilities")}))
"""
    done = subprocess.run(
        ["unshare", "-rn", "sh", "-c", 'ip link set lo up 2>/dev/null; exec "$@"', "sh",
         sys.executable, "-c", script, str(real_snapshot().store), json.dumps(PINS), str(tmp_path / "w")],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["reach"] != 0  # nothing outside is reachable in there
    assert answer["status"] == "failed"
    assert answer["vulnerabilities"] == vulns_of(failing[0])


def test_pip_audit_runs_with_every_proxy_dead_except_the_service(tmp_path: Path) -> None:
    env = dependencies._pip_audit_env("127.0.0.1", tmp_path)
    assert env["PIP_NO_INDEX"] == "1" and env["PIP_CONFIG_FILE"] == os.devnull
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        assert env[key] == "http://127.0.0.1:9"
    assert env["NO_PROXY"] == "127.0.0.1,localhost"
    assert "PYTHONPATH" not in env and env["HOME"].startswith(str(tmp_path))


def test_ignoring_every_reported_id_passes(
    failing: tuple[CheckOutcome, float], osv_url: str, tmp_path: Path
) -> None:
    found = vulns_of(failing[0])
    # some by their own id, the rest by an alias (CVE/GHSA), plus one that matches nothing
    ignore = [v["aliases"][0] if i % 2 and v["aliases"] else v["id"] for i, v in enumerate(found)]
    spec = DependencyAuditSpec(ignore=(*ignore, "CVE-0000-0000"))
    outcome = audit(PINS, spec, osv_url=osv_url, work_dir=tmp_path)
    result = outcome.result
    assert result.status is CheckStatus.PASSED, result.summary
    assert result.reason_code is None
    assert all(v["ignored"] for v in vulns_of(outcome))
    assert {v["id"] for v in vulns_of(outcome)} == {v["id"] for v in found}
    assert f"{len(found)} ignored by the spec" in result.summary
    assert result.details["unused_ignores"] == ["CVE-0000-0000"]

    partly = audit(
        PINS, DependencyAuditSpec(ignore=("cve-2018-18074",)), osv_url=osv_url, work_dir=tmp_path
    )
    assert partly.result.status is CheckStatus.FAILED
    assert [v["id"] for v in vulns_of(partly) if v["ignored"]] == ["PYSEC-2018-28"]


def test_not_failing_on_vulnerabilities_passes_but_lists_them(osv_url: str, tmp_path: Path) -> None:
    spec = DependencyAuditSpec(fail_on_vulnerabilities=False)
    outcome = audit(PINS[:1], spec, osv_url=osv_url, work_dir=tmp_path)
    assert outcome.result.status is CheckStatus.PASSED
    assert len(vulns_of(outcome)) >= 2 and "not failing" in outcome.result.summary


def test_current_requests_passes(osv_url: str, tmp_path: Path) -> None:
    outcome = audit(
        [("requests", "2.32.3")], DependencyAuditSpec(), osv_url=osv_url, work_dir=tmp_path
    )
    assert outcome.result.status is CheckStatus.PASSED, outcome.result.summary
    assert vulns_of(outcome) == [] and outcome.result.details["audited"] == 1
    # the snapshot's newest record is from 2024-10-10; its age depends on today's date
    assert outcome.result.summary.startswith(
        "no known vulnerabilities in 1 installed package(s); advisory data as of 2024-10-10 ("
    )
    assert json.loads(outcome.artifacts["sbom.cdx.json"])["components"][0]["name"] == "requests"


def test_excluded_local_projects_are_not_audited(osv_url: str, tmp_path: Path) -> None:
    outcome = audit(
        PINS[:2],
        DependencyAuditSpec(),
        osv_url=osv_url + "/v1/query",
        work_dir=tmp_path,
        exclude=["Requests"],
    )
    assert {v["package"] for v in vulns_of(outcome)} == {"urllib3"}
    assert outcome.result.details["audited"] == 1 and outcome.result.details["excluded"] == [
        "requests"
    ]


def test_turned_off_is_skipped(tmp_path: Path) -> None:
    outcome = audit(
        PINS, DependencyAuditSpec(enabled=False), osv_url="http://127.0.0.1:9", work_dir=tmp_path
    )
    assert outcome.result.status is CheckStatus.SKIPPED
    assert outcome.result.summary == "not checked: turned off in the spec"
    assert not (tmp_path / "pins.txt").exists()


# ---------------------------------------------------------------- platform failures


def test_service_down_is_an_error(tmp_path: Path) -> None:
    outcome = audit(PINS, DependencyAuditSpec(), osv_url="http://127.0.0.1:9", work_dir=tmp_path)
    assert outcome.result.status is CheckStatus.ERROR
    assert "advisory service is unavailable" in outcome.result.summary
    assert outcome.artifacts == {}


class _Stub(BaseHTTPRequestHandler):
    status_body: dict[str, Any] = {"records": 10}
    query_status = 500

    def do_GET(self) -> None:  # noqa: N802
        self._send(200, self.status_body)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(self.query_status, {"code": 13, "message": "boom"})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[_Stub]]]:
    handler = type("Handler", (_Stub,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_service_failing_mid_audit_is_an_error_not_a_pass(
    stub: tuple[str, type[_Stub]], tmp_path: Path
) -> None:
    url, _ = stub
    outcome = audit(PINS, DependencyAuditSpec(), osv_url=url, work_dir=tmp_path)
    result = outcome.result
    assert result.status is CheckStatus.ERROR, result.summary
    assert result.reason_code == "DEPENDENCY_AUDIT_ERROR"
    assert "pip-audit (json) failed with exit code 1" in result.summary  # exit 1, but no output


def test_an_empty_advisory_service_is_an_error(
    stub: tuple[str, type[_Stub]], tmp_path: Path
) -> None:
    url, handler = stub
    handler.status_body = {"records": 0}
    outcome = audit(PINS, DependencyAuditSpec(), osv_url=url, work_dir=tmp_path)
    assert outcome.result.status is CheckStatus.ERROR
    assert "acceptance advisories import" in outcome.result.summary


def test_timeout_is_an_error(osv_url: str, tmp_path: Path) -> None:
    outcome = audit(PINS, DependencyAuditSpec(), osv_url=osv_url, work_dir=tmp_path, timeout=0.05)
    assert outcome.result.status is CheckStatus.ERROR
    assert "did not finish within 0.05 s" in outcome.result.summary


def test_result_is_reportable(failing: tuple[CheckOutcome, float]) -> None:
    entry = failing[0].result.to_report()
    json.dumps(entry)
    assert entry["status"] == "failed" and entry["reason_code"] == "VULNERABLE_DEPENDENCIES"
    assert dataclasses.is_dataclass(failing[0])
