"""An OSV-compatible HTTP service over the offline advisory store, on loopback.

It answers what OSV clients such as pip-audit call, from ``AdvisoryStore``:

* ``POST /v1/query`` with ``{"package": {"name", "ecosystem"}, "version"}``
  (or ``{"package": {"purl": "pkg:pypi/name@version"}}``, ``pkg:npm/...``):
  ``{"vulns": [records]}``, or ``{}`` when none apply, as OSV answers. Without
  a version, every record naming the package. The ``PyPI`` and ``npm``
  ecosystems have data (each from its own source of the store); others get ``{}``.
* ``POST /v1/querybatch`` with ``{"queries": [...]}`` (at most 1,000):
  ``{"results": [{"vulns": [{"id", "modified"}]} | {}]}``, as OSV answers.
* ``GET /v1/vulns/<id>``: the record (withdrawn ones too) or 404.
* ``GET /status``: what the store holds for PyPI (not part of OSV; used by the
  Python check to refuse auditing against an empty store and to record the
  data's age).

Bad bodies get 400 with ``{"code": 3, "message": ...}`` (OSV's error shape),
bodies over the cap 413, unknown paths 404. The server binds 127.0.0.1 on an
ephemeral port by default and never calls out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from checks.advisory_model import ECOSYSTEM, NPM, AdvisoryStoreError
from checks.advisory_store import AdvisoryStore

log = logging.getLogger(__name__)

MAX_QUERY_BODY = 64 * 1024
MAX_BATCH_BODY = 4 * 1024**2
MAX_BATCH_QUERIES = 1000
MAX_FIELD_CHARS = 500
#: seconds an idle keep-alive connection is kept
IDLE_TIMEOUT = 30.0

_PURL = re.compile(
    r"^pkg:(?P<type>pypi|npm)/(?P<name>[^@?#]+)(?:@(?P<version>[^?#]+))?(?:[?#].*)?$"
)
#: each purl type's OSV ecosystem
_PURL_ECOSYSTEMS = {"pypi": ECOSYSTEM, "npm": NPM}
SERVED_ECOSYSTEMS = frozenset(_PURL_ECOSYSTEMS.values())
_INVALID_ARGUMENT = 3
_NOT_FOUND = 5
_INTERNAL = 13


class _BadRequest(Exception):
    pass


class AdvisoryServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the store its handlers read."""

    daemon_threads = True
    #: listen backlog; the default (5) resets bursts of parallel clients
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], store: AdvisoryStore) -> None:
        self.store = store
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: AdvisoryServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server_version = "acceptance-osv/1"
    sys_version = ""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/v1/query":
            self._answer(lambda body: self._query(_as_query(body)), MAX_QUERY_BODY)
        elif self.path == "/v1/querybatch":
            self._answer(self._batch, MAX_BATCH_BODY)
        else:
            self._drain()
            self._error(HTTPStatus.NOT_FOUND, _NOT_FOUND, "no such endpoint")

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith("/v1/vulns/"):
            vuln_id = unquote(self.path.removeprefix("/v1/vulns/"))
            if not vuln_id or len(vuln_id) > MAX_FIELD_CHARS:
                self._error(HTTPStatus.BAD_REQUEST, _INVALID_ARGUMENT, "invalid id")
                return
            try:
                record = self.server.store.get(vuln_id)
            except AdvisoryStoreError as exc:
                self._error(HTTPStatus.SERVICE_UNAVAILABLE, _INTERNAL, exc.message)
                return
            if record is None:
                self._error(HTTPStatus.NOT_FOUND, _NOT_FOUND, "Bug not found.")
            else:
                self._send(HTTPStatus.OK, record)
        elif self.path == "/status":
            self._send(HTTPStatus.OK, self.server.store.status().to_dict())
        else:
            self._error(HTTPStatus.NOT_FOUND, _NOT_FOUND, "no such endpoint")

    # -- endpoints

    def _query(self, query: tuple[str, str, str | None]) -> dict[str, Any]:
        ecosystem, name, version = query
        if ecosystem not in SERVED_ECOSYSTEMS:
            return {}
        store = self.server.store
        vulns = (
            store.for_package(name, ecosystem)
            if version is None
            else store.query(name, version, ecosystem)
        )
        return {"vulns": vulns} if vulns else {}

    def _batch(self, body: object) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("queries"), list):
            raise _BadRequest('expected {"queries": [...]}')
        queries = body["queries"]
        if len(queries) > MAX_BATCH_QUERIES:
            raise _BadRequest(f"at most {MAX_BATCH_QUERIES} queries per batch")
        parsed = [_as_query(item) for item in queries]
        results: list[dict[str, Any]] = []
        for query in parsed:
            answer = self._query(query)
            vulns = [
                {"id": record["id"], "modified": record.get("modified")}
                for record in answer.get("vulns", [])
            ]
            results.append({"vulns": vulns} if vulns else {})
        return {"results": results}

    # -- plumbing

    def _answer(self, endpoint: Any, cap: int) -> None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length is None:
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, _INVALID_ARGUMENT, "Content-Length required")
            return
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0 or size > cap:
            self.close_connection = True
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                _INVALID_ARGUMENT,
                f"the body must be at most {cap} bytes",
            )
            return
        raw = self.rfile.read(size)
        try:
            body = json.loads(raw)
            payload = endpoint(body)
        except (ValueError, RecursionError):
            self._error(HTTPStatus.BAD_REQUEST, _INVALID_ARGUMENT, "the body is not valid JSON")
            return
        except _BadRequest as exc:
            self._error(HTTPStatus.BAD_REQUEST, _INVALID_ARGUMENT, str(exc))
            return
        except AdvisoryStoreError as exc:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, _INTERNAL, exc.message)
            return
        self._send(HTTPStatus.OK, payload)

    def _drain(self) -> None:
        try:
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            size = 0
        if 0 < size <= MAX_BATCH_BODY:
            self.rfile.read(size)
        elif size:
            self.close_connection = True

    def _error(self, status: HTTPStatus, code: int, message: str) -> None:
        self._send(status, {"code": code, "message": message})

    def _send(self, status: HTTPStatus, payload: object) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature
        log.debug("osv %s - %s", self.address_string(), format % args)


def _as_query(body: object) -> tuple[str, str, str | None]:
    """(ecosystem, name, version or None) from one OSV query object."""
    if not isinstance(body, dict):
        raise _BadRequest("a query must be a JSON object")
    if "commit" in body:
        raise _BadRequest("commit queries are not supported; query by package and version")
    package = body.get("package")
    if not isinstance(package, dict):
        raise _BadRequest('a query needs "package"')
    version = body.get("version")
    purl = package.get("purl")
    if purl is not None:
        if not isinstance(purl, str) or len(purl) > MAX_FIELD_CHARS:
            raise _BadRequest('"package.purl" must be a string')
        match = _PURL.match(purl)
        if match is None:
            return "", "", None  # another ecosystem (or unusable): no data
        if match["version"] and version is not None:
            raise _BadRequest('give the version either in "version" or in the purl')
        name, version = (
            unquote(match["name"]),
            version or (unquote(match["version"]) if match["version"] else None),
        )
        ecosystem = _PURL_ECOSYSTEMS[match["type"]]
    else:
        given_name = package.get("name")
        given_ecosystem = package.get("ecosystem")
        if (
            not isinstance(given_name, str)
            or not given_name.strip()
            or len(given_name) > MAX_FIELD_CHARS
        ):
            raise _BadRequest('"package.name" must be a non-empty string')
        if not isinstance(given_ecosystem, str) or len(given_ecosystem) > MAX_FIELD_CHARS:
            raise _BadRequest('"package.ecosystem" must be a string')
        name, ecosystem = given_name, given_ecosystem
    if version is not None and (
        not isinstance(version, str) or not version.strip() or len(version) > MAX_FIELD_CHARS
    ):
        raise _BadRequest('"version" must be a non-empty string')
    return ecosystem, name, version


@contextlib.contextmanager
def serve_advisories(store_path: Path, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve the store at ``store_path`` while the block runs; yields the base URL.

    Raises ``AdvisoryStoreError`` when nothing was imported into the store.
    """
    store = AdvisoryStore(store_path)
    if store.status().records == 0:
        raise AdvisoryStoreError(
            f"no advisories imported at {store_path} for {ECOSYSTEM}",
            hint="import them with `acceptance advisories import ARCHIVE`",
        )
    server = AdvisoryServer((host, port), store)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        daemon=True,
        name="osv-server",
    )
    thread.start()
    try:
        yield server.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
