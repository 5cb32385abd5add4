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


# ---------------------------------------------------------------- a GitHub App: tokens and check runs

CHECK_STATUSES = frozenset({"queued", "in_progress", "completed"})
#: the conclusions an integration may set (`stale` is GitHub's own)
CONCLUSIONS = frozenset(
    {"action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"}
)
LEVELS = frozenset({"notice", "warning", "failure"})
ANNOTATION_FIELDS = frozenset({"path", "start_line", "end_line", "annotation_level", "message"})
ANNOTATION_OPTIONAL = frozenset({"start_column", "end_column", "title", "raw_details"})
CHECK_FIELDS = frozenset({"name", "head_sha", "details_url", "external_id", "status", "started_at",
                          "conclusion", "completed_at", "output", "actions"})  # fmt: skip


@dataclass
class FakeGitHubApp:
    """GitHub for one App installation: `POST /app/installations/{id}/access_tokens` (a JWT signed with
    the App's key, RS256, `iss` the App id) and the check runs API, checked against GitHub's
    documented shapes: `name` and `head_sha` to create; `status` queued|in_progress|completed; a
    `conclusion` from GitHub's list, required with `completed`; `output` with `title` and `summary`;
    at most 50 `annotations` per request, each with path, start_line, end_line, annotation_level
    (notice|warning|failure) and message. Check runs are kept with all their annotations."""

    app_id: int
    installation_id: int
    public_key_pem: bytes
    requests: list[Received] = field(default_factory=list)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    #: check-run requests so far, and the one (1-based) to answer 502, once
    check_requests: int = 0
    fail_check_request: int | None = None
    server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeGitHubApp:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                fake._handle(self)

            def do_PATCH(self) -> None:  # noqa: N802
                fake._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self)

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
            body = None
        seen = Received(handler.command, handler.path, headers, body, 0)
        self.requests.append(seen)
        if "check-runs" in handler.path:
            self.check_requests += 1
            if self.failures or self.check_requests == self.fail_check_request:
                seen.answer = self.failures.pop(0) if self.failures else 502
                return _answer(handler, seen.answer, {"message": "the fake GitHub is down"})
        seen.answer, answer = self._route(seen)
        if seen.answer >= 400:
            seen.problem = str(answer.get("message"))
        return _answer(handler, seen.answer, answer)

    def _route(self, seen: Received) -> tuple[int, dict[str, Any]]:
        token_path = re.fullmatch(r"/app/installations/(\d+)/access_tokens", seen.path)
        if token_path and seen.method == "POST":
            return self._token(seen, int(token_path[1]))
        runs = re.fullmatch(
            rf"/repos/(?P<owner>{_NAME})/(?P<repo>{_NAME})/check-runs(?:/(?P<id>\d+))?", seen.path
        )
        if runs is None:
            return 404, {"message": f"no such endpoint: {seen.method} {seen.path}"}
        seen.repository = f"{runs['owner']}/{runs['repo']}"
        given = seen.headers.get("authorization", "")
        if given.removeprefix("token ").removeprefix("Bearer ") not in self.tokens:
            return 401, {"message": "Bad credentials"}
        if seen.method == "POST" and runs["id"] is None:
            return self._create(seen)
        if seen.method == "PATCH" and runs["id"] is not None:
            return self._update(seen, int(runs["id"]))
        return 404, {"message": "only POST check-runs and PATCH check-runs/{id} here"}

    def _token(self, seen: Received, installation: int) -> tuple[int, dict[str, Any]]:
        import jwt

        scheme, _, token = seen.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or installation != self.installation_id:
            return 401, {"message": "a JWT (Bearer) for this installation is required"}
        try:
            claims = jwt.decode(
                token, self.public_key_pem, algorithms=["RS256"], options={"verify_iat": False}
            )
        except jwt.PyJWTError as exc:
            return 401, {"message": f"bad JWT: {exc}"}
        if str(claims.get("iss")) != str(self.app_id) or claims["exp"] - claims["iat"] > 660:
            return 401, {"message": "the JWT's iss is not the App, or it lives over 10 minutes"}
        issued = f"ghs_fake{len(self.tokens)}"
        self.tokens.add(issued)
        return 201, {
            "token": issued,
            "expires_at": "2099-01-01T00:00:00Z",
            "permissions": {"checks": "write"},
        }

    def _create(self, seen: Received) -> tuple[int, dict[str, Any]]:
        body = seen.body
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("name"), str)
            or not body.get("head_sha")
        ):
            return 422, {"message": "name and head_sha are required"}
        if not re.fullmatch(r"[0-9a-f]{40}", str(body["head_sha"])):
            return 422, {"message": "head_sha is not a commit"}
        problem = _check_fields(body)
        if problem:
            return 422, {"message": problem}
        number = len(self.check_runs) + 1
        self.check_runs[number] = {**{k: v for k, v in body.items() if k != "output"},
                                   "output": dict(body.get("output") or {}), "annotations": []}  # fmt: skip
        self._keep_annotations(number, body)
        return 201, self._shown(number, seen.repository or "")

    def _update(self, seen: Received, number: int) -> tuple[int, dict[str, Any]]:
        if number not in self.check_runs:
            return 404, {"message": "no such check run"}
        body = seen.body
        if not isinstance(body, dict):
            return 422, {"message": "a JSON object is required"}
        problem = _check_fields(body)
        if problem:
            return 422, {"message": problem}
        kept = self.check_runs[number]
        kept.update({k: v for k, v in body.items() if k != "output"})
        if "output" in body:
            kept["output"] = {
                **kept["output"],
                **{k: v for k, v in body["output"].items() if k != "annotations"},
            }
        self._keep_annotations(number, body)
        return 200, self._shown(number, seen.repository or "")

    def _keep_annotations(self, number: int, body: dict[str, Any]) -> None:
        self.check_runs[number]["annotations"] += list(
            (body.get("output") or {}).get("annotations") or []
        )

    def _shown(self, number: int, repository: str) -> dict[str, Any]:
        kept = self.check_runs[number]
        return {"id": number, "url": f"{self.api_url}/repos/{repository}/check-runs/{number}",
                "head_sha": kept.get("head_sha"), "name": kept.get("name"), "status": kept.get("status"),
                "conclusion": kept.get("conclusion")}  # fmt: skip


def _check_fields(body: dict[str, Any]) -> str | None:
    unknown = sorted(set(body) - CHECK_FIELDS)
    if unknown:
        return f"unknown fields {unknown}"
    status = body.get("status")
    if status is not None and status not in CHECK_STATUSES:
        return f"status {status!r} is not one of {sorted(CHECK_STATUSES)}"
    conclusion = body.get("conclusion")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        return f"conclusion {conclusion!r} is not one an integration may set"
    if status == "completed" and conclusion is None:
        return "conclusion is required when status is completed"
    output = body.get("output")
    if output is None:
        return None
    if (
        not isinstance(output, dict)
        or not isinstance(output.get("title"), str)
        or not isinstance(output.get("summary"), str)
    ):
        return "output needs title and summary"
    if len(output["summary"]) > 65535:
        return "output.summary is over 65535 characters"
    annotations = output.get("annotations") or []
    if len(annotations) > 50:
        return "at most 50 annotations per request"
    for item in annotations:
        missing = sorted(ANNOTATION_FIELDS - set(item))
        unknown = sorted(set(item) - ANNOTATION_FIELDS - ANNOTATION_OPTIONAL)
        if missing or unknown:
            return f"annotation: missing {missing}, unknown {unknown}"
        if item["annotation_level"] not in LEVELS:
            return f"annotation_level {item['annotation_level']!r}"
        if not isinstance(item["start_line"], int) or item["end_line"] < item["start_line"]:
            return "annotation lines"
    return None
