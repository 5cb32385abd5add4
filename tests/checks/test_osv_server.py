"""The loopback OSV service, exercised over real HTTP."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from checks.advisories import import_archive
from checks.advisory_model import AdvisoryStoreError
from checks.osv_server import MAX_QUERY_BODY, serve_advisories
from tests.advisory_support import eco, pypi, record, write_tar

RECORDS = [
    record(
        "PYSEC-1", pypi("Foo_Bar", eco({"introduced": "0"}, {"fixed": "2.0"})), aliases=["CVE-1"]
    ),
    record("PYSEC-2", pypi("foo-bar", eco({"introduced": "1.5"}, {"fixed": "1.6"}))),
    record("PYSEC-3", pypi("foo-bar", versions=["1.5"]), withdrawn="2024-01-01T00:00:00Z"),
    record("PYSEC-4", pypi("other", versions=["0.1"])),
]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("osv")
    import_archive(write_tar(folder / "db.tar.gz", RECORDS), folder / "advisories.sqlite")
    return folder / "advisories.sqlite"


@pytest.fixture(scope="module")
def base_url(store_path: Path) -> Iterator[str]:
    with serve_advisories(store_path) as url:
        yield url


def request(
    base: str,
    method: str,
    path: str,
    body: object = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        payload = response.read()
        assert response.getheader("Content-Type") == "application/json"
        return response.status, json.loads(payload)
    finally:
        conn.close()


def query(base: str, name: str, version: str | None, ecosystem: str = "PyPI") -> tuple[int, Any]:
    body: dict[str, Any] = {"package": {"name": name, "ecosystem": ecosystem}}
    if version is not None:
        body["version"] = version
    return request(base, "POST", "/v1/query", body)


def test_binds_loopback_on_an_ephemeral_port(base_url: str) -> None:
    parts = urlsplit(base_url)
    assert parts.scheme == "http" and parts.hostname == "127.0.0.1" and parts.port


def test_query_returns_full_records_for_affected_versions(base_url: str) -> None:
    status, body = query(base_url, "foo.bar", "1.5.3")
    assert status == 200
    assert [v["id"] for v in body["vulns"]] == ["PYSEC-1", "PYSEC-2"]  # PYSEC-3 is withdrawn
    assert body["vulns"][0] == RECORDS[0]


def test_query_answers_an_empty_object_when_nothing_applies(base_url: str) -> None:
    assert query(base_url, "foo-bar", "2.0") == (200, {})
    assert query(base_url, "unknown-package", "1.0") == (200, {})
    assert query(base_url, "foo-bar", "1.0", ecosystem="npm") == (200, {})


def test_query_without_version_lists_the_package(base_url: str) -> None:
    status, body = query(base_url, "FOO_BAR", None)
    assert status == 200 and [v["id"] for v in body["vulns"]] == ["PYSEC-1", "PYSEC-2"]


def test_query_by_purl(base_url: str) -> None:
    status, body = request(
        base_url, "POST", "/v1/query", {"package": {"purl": "pkg:pypi/foo-bar@1.0"}}
    )
    assert status == 200 and [v["id"] for v in body["vulns"]] == ["PYSEC-1"]
    assert request(base_url, "POST", "/v1/query", {"package": {"purl": "pkg:npm/x@1"}}) == (200, {})


def test_querybatch_returns_ids_and_modified_per_query(base_url: str) -> None:
    body = {
        "queries": [
            {"package": {"name": "foo-bar", "ecosystem": "PyPI"}, "version": "1.5"},
            {"package": {"name": "foo-bar", "ecosystem": "PyPI"}, "version": "9"},
            {"package": {"name": "other", "ecosystem": "PyPI"}, "version": "0.1"},
        ]
    }
    status, answer = request(base_url, "POST", "/v1/querybatch", body)
    assert status == 200
    assert answer == {
        "results": [
            {
                "vulns": [
                    {"id": "PYSEC-1", "modified": "2024-01-01T00:00:00Z"},
                    {"id": "PYSEC-2", "modified": "2024-01-01T00:00:00Z"},
                ]
            },
            {},
            {"vulns": [{"id": "PYSEC-4", "modified": "2024-01-01T00:00:00Z"}]},
        ]
    }


def test_get_vuln_by_id(base_url: str) -> None:
    assert request(base_url, "GET", "/v1/vulns/PYSEC-1") == (200, RECORDS[0])
    status, body = request(base_url, "GET", "/v1/vulns/PYSEC-3")
    assert status == 200 and body["withdrawn"]  # withdrawn records are still served by id
    status, body = request(base_url, "GET", "/v1/vulns/NOPE-1")
    assert status == 404 and body["code"] == 5


def test_status(base_url: str) -> None:
    status, body = request(base_url, "GET", "/status")
    assert status == 200 and body["records"] == 4 and body["withdrawn"] == 1
    assert body["newest_modified"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'"text"',
        b"{}",
        b'{"package": "requests"}',
        b'{"package": {"name": "", "ecosystem": "PyPI"}}',
        b'{"package": {"name": 3, "ecosystem": "PyPI"}}',
        b'{"package": {"name": "x", "ecosystem": ["PyPI"]}}',
        b'{"package": {"name": "x", "ecosystem": "PyPI"}, "version": 1}',
        b'{"package": {"name": "x", "ecosystem": "PyPI"}, "version": ""}',
        b'{"commit": "6879efc2c1596d11a6a6ad296f80063b558d5e0f"}',
        b'{"package": {"purl": "pkg:pypi/x@1"}, "version": "2"}',
        b"[" * 30_000,
        b"\xff\xfe\x00",
    ],
)
def test_bad_bodies_get_400_with_a_json_error(base_url: str, raw: bytes) -> None:
    status, body = request(base_url, "POST", "/v1/query", raw=raw)
    assert status == 400
    assert body["code"] == 3 and isinstance(body["message"], str)


def test_bad_batches(base_url: str) -> None:
    assert request(base_url, "POST", "/v1/querybatch", {"q": []})[0] == 400
    one = {"package": {"name": "x", "ecosystem": "PyPI"}, "version": "1"}
    assert request(base_url, "POST", "/v1/querybatch", {"queries": [one] * 1001})[0] == 400
    assert request(base_url, "POST", "/v1/querybatch", {"queries": [one, 7]})[0] == 400


def test_body_size_cap_and_length_required(base_url: str) -> None:
    big = b'{"package": {"name": "' + b"a" * MAX_QUERY_BODY + b'", "ecosystem": "PyPI"}}'
    status, body = request(base_url, "POST", "/v1/query", raw=big)
    assert status == 413 and body["code"] == 3
    # A claimed length is refused before anything is read.
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
        assert b" 413 " in sock.recv(4096).split(b"\r\n")[0]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        assert b" 411 " in sock.recv(4096).split(b"\r\n")[0]


def test_unknown_paths_and_methods(base_url: str) -> None:
    assert request(base_url, "GET", "/v1/query")[0] == 404
    assert request(base_url, "POST", "/v1/nothing", {})[0] == 404
    assert request(base_url, "GET", "/")[0] == 404


def test_keep_alive_and_concurrent_clients(base_url: str) -> None:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    for _ in range(3):  # one connection, several requests (what requests' session does)
        conn.request(
            "POST",
            "/v1/query",
            body=json.dumps({"package": {"name": "other", "ecosystem": "PyPI"}, "version": "0.1"}),
        )
        assert json.loads(conn.getresponse().read())["vulns"][0]["id"] == "PYSEC-4"
    conn.close()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda v: query(base_url, "foo-bar", v), ["1.0", "1.5", "3"] * 20))
    assert all(status == 200 for status, _ in results)
    assert [len(body.get("vulns", [])) for _, body in results[:3]] == [1, 2, 0]


def test_shuts_down_cleanly(store_path: Path) -> None:
    with serve_advisories(store_path) as url:
        assert query(url, "other", "0.1")[0] == 200
    parts = urlsplit(url)
    with pytest.raises(OSError):
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()


def test_refuses_to_serve_a_missing_store(tmp_path: Path) -> None:
    with (
        pytest.raises(AdvisoryStoreError, match="no advisories imported"),
        serve_advisories(tmp_path / "advisories.sqlite"),
    ):
        pass


def test_store_removed_while_serving_is_a_503(tmp_path: Path) -> None:
    import_archive(write_tar(tmp_path / "db.tar.gz", RECORDS), tmp_path / "advisories.sqlite")
    with serve_advisories(tmp_path / "advisories.sqlite") as url:
        (tmp_path / "advisories.sqlite").unlink()
        status, body = query(url, "foo-bar", "1.0")
        assert status == 503 and "no advisory store" in body["message"]
