"""A fake forge on loopback, one per kind: the commit-status endpoint of GitHub, GitLab or Gitea,
checked against each forge's documented request shape, recording every request.

What is checked (and answered 422 / 401 otherwise), per the forges' API documentation:
- GitHub `POST /repos/{owner}/{repo}/statuses/{sha}`: `Authorization: Bearer <t>` (or `token <t>`,
  which GitHub takes too), a JSON body with `state` in error|failure|pending|success (required),
  `target_url`, `description`, `context` optional strings, nothing else; a description of at most
  140 characters (GitHub refuses longer ones).
- GitLab `POST /projects/{url-encoded path}/statuses/{sha}`: `PRIVATE-TOKEN: <t>`, `state` in
  pending|running|success|failed|canceled|skipped (required), `name`/`context`, `target_url`,
  `description`, `ref`, `coverage`, `pipeline_id` optional; the project path URL-encoded (`%2F`).
- Gitea/Forgejo `POST /repos/{owner}/{repo}/statuses/{sha}`: `Authorization: token <t>`,
  CreateStatusOption: `state` in pending|success|error|failure|warning|skipped, `context`,
  `target_url`, `description`.
The sha must be a full commit id. Anything else is a 404.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

_SHA = r"(?P<sha>[0-9a-f]{40}|[0-9a-f]{64})"
_NAME = r"[A-Za-z0-9_.-]+"


@dataclass(frozen=True)
class Shape:
    path: re.Pattern[str]
    states: frozenset[str]
    required: frozenset[str]
    optional: frozenset[str]
    api_prefix: str


SHAPES = {
    "github": Shape(
        re.compile(rf"/repos/(?P<owner>{_NAME})/(?P<repo>{_NAME})/statuses/{_SHA}"),
        frozenset({"error", "failure", "pending", "success"}),
        frozenset({"state"}), frozenset({"target_url", "description", "context"}), "",
    ),
    "gitlab": Shape(
        re.compile(rf"/api/v4/projects/(?P<project>[^/]+)/statuses/{_SHA}"),
        frozenset({"pending", "running", "success", "failed", "canceled", "skipped"}),
        frozenset({"state"}),
        frozenset({"name", "context", "target_url", "description", "ref", "coverage", "pipeline_id"}),
        "/api/v4",
    ),
    "gitea": Shape(
        re.compile(rf"/api/v1/repos/(?P<owner>{_NAME})/(?P<repo>{_NAME})/statuses/{_SHA}"),
        frozenset({"pending", "success", "error", "failure", "warning", "skipped"}),
        frozenset({"state"}), frozenset({"context", "target_url", "description"}), "/api/v1",
    ),
}  # fmt: skip


@dataclass
class Received:
    """One request as the fake forge saw it, and its answer."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    answer: int
    problem: str | None = None
    repository: str | None = None
    sha: str | None = None


@dataclass
class FakeForge:
    kind: str
    token: str
    requests: list[Received] = field(default_factory=list)
    #: the next requests answered with these statuses (e.g. [500, 500]) before any checking
    failures: list[int] = field(default_factory=list)
    #: the next N requests are held this long before any answer (a forge that times out)
    stalls: list[float] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{SHAPES[self.kind].api_prefix}"

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.answer == 201]

    def states(self) -> list[str]:
        return [r.body["state"] for r in self.accepted()]

    def start(self) -> FakeForge:
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                forge._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                forge._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        seen = Received(handler.command, handler.path, headers, body, 0)
        self.requests.append(seen)
        if self.stalls:
            time.sleep(self.stalls.pop(0))
        if self.failures:
            seen.answer = self.failures.pop(0)
            return _answer(handler, seen.answer, {"message": "the fake forge is down"})
        seen.answer, seen.problem = self._check(seen)
        if seen.problem:
            return _answer(handler, seen.answer, {"message": seen.problem})
        return _answer(handler, 201, {"id": len(self.requests), **(body or {})})

    def _check(self, seen: Received) -> tuple[int, str | None]:
        shape = SHAPES[self.kind]
        found = shape.path.fullmatch(seen.path)
        if seen.method != "POST" or found is None:
            return 404, f"no such endpoint: {seen.method} {seen.path}"
        if self.kind == "gitlab":
            if "%2F" not in found["project"].upper():
                return 404, "the project path must be URL-encoded"
            seen.repository = unquote(found["project"])
        else:
            seen.repository = f"{found['owner']}/{found['repo']}"
        seen.sha = found["sha"]
        if not self._authorised(seen.headers):
            return 401, "bad or missing token"
        if "json" not in seen.headers.get("content-type", ""):
            return 422, "send JSON"
        body = seen.body
        if not isinstance(body, dict):
            return 422, "the body must be a JSON object"
        missing = sorted(shape.required - set(body))
        unknown = sorted(set(body) - shape.required - shape.optional)
        if missing or unknown:
            return 422, f"missing {missing}, unknown {unknown}"
        if body["state"] not in shape.states:
            return 422, f"state {body['state']!r} is not one of {sorted(shape.states)}"
        if any(not isinstance(v, str) for k, v in body.items() if k != "coverage"):
            return 422, "fields must be strings"
        if self.kind == "github" and len(body.get("description", "")) > 140:
            return 422, "description is too long (maximum is 140 characters)"
        return 201, None

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.kind == "gitlab":
            return headers.get("private-token") == self.token
        given = headers.get("authorization", "")
        allowed = {f"token {self.token}"} | (
            {f"Bearer {self.token}"} if self.kind == "github" else set()
        )
        return given in allowed


def _answer(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:  # the client gave up (a time-out test)
        pass
