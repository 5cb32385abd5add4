"""Red team, 2026-12-05: a supplier against the forge feedback (statuses, check runs).

* What the supplier names (files, test ids) reaches the GitHub check run's Markdown summary:
  a real hostile run through the CLI and Docker sandbox, its signed statement finished by the
  worker and delivered by the forge task to the fake GitHub App (tests/forge_fake.py).
* A forge API URL that passes the egress policy (a listed or public host) then redirects the
  service to an internal address: each forge's real client against a loopback forge that
  answers with a redirect, and a loopback "internal" server that must see nothing.
* Internal addresses in their many spellings are refused when a forge is given.

Each case asserts the safe outcome; the holes it found (Markdown links in the check run's
summary, python-gitlab following a redirect) are closed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from acceptance.errors import UserInputError
from acceptance.service.forge import gitea, github, gitlab
from acceptance.service.forge.credentials import parse_forge
from acceptance.service.forge.interface import (
    CommitStatus,
    ForgeError,
    ForgeKind,
    ForgeTarget,
    StatusState,
)
from tests.conftest import RepoFactory
from tests.forge_fake import FakeGitHubApp
from tests.hostile.conftest import Hostile
from tests.service.test_forge_app import APP_ID, COMMIT, INSTALLATION_ID, World

#: a Markdown link the supplier would like the check run to show, spelled so it fits a path
LINK_TEXT = "Pay the supplier now"
LINK_DIR = f"[{LINK_TEXT}](https:"
#: an unescaped Markdown link or image: `[text](` whose brackets no backslash escapes
_MARKDOWN_LINK = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(")


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fake_github(app_key: rsa.RSAPrivateKey) -> Iterator[FakeGitHubApp]:
    public = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = FakeGitHubApp(APP_ID, INSTALLATION_ID, public).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.mark.docker
@pytest.mark.hostile
def test_names_the_supplier_chooses_are_no_markdown_links_in_the_check_run(
    hostile: Hostile,
    make_repo: RepoFactory,
    tmp_path: Path,
    database_url: str,
    fake_github: FakeGitHubApp,
    app_key: rsa.RSAPrivateKey,
) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "lib"\nversion = "1.0"\n',
        "lib/__init__.py": "def add(a, b):\n    return a + b\n",
        # an unused import in a file whose path spells a link: the quality summary names it
        f"{LINK_DIR}/evil.example/pay).py": "import os\n",
        # a failing test whose id spells a link (the sentences give counts only; annotations
        # are plain text): must stay harmless wherever it is quoted
        "tests/test_lib.py": (
            "import pytest\n\n\n"
            f"@pytest.mark.parametrize('case', ['[{LINK_TEXT}](https://evil.example/pay)'])\n"
            "def test_add(case):\n    assert case == ''\n"
        ),
    }
    spec = hostile.spec("security: false\nlicence: false\nquality: true\n")
    outcome = hostile.run(make_repo(files), spec)
    assert outcome.verdict == "rejected", outcome.explain()
    assert LINK_TEXT in " ".join(outcome.reasons), outcome.explain()  # the engine's sentences

    # The worker finishes the run with this statement; the forge task sends the check run.
    world = World(tmp_path, database_url, fake_github, app_key)
    statement = outcome.statement
    statement["predicate"]["source"]["commit"] = COMMIT  # the run the world registered
    claim = world.claim()
    assert world.executor._finish(claim, statement, {}, {}) == "done"
    assert world.deliver().state == "delivered"

    summary = fake_github.check_runs[1]["output"]["summary"]
    assert LINK_TEXT in summary  # shown, as text...
    assert _MARKDOWN_LINK.search(summary) is None, summary  # ...never as a link


class _Recorder(ThreadingHTTPServer):
    """A loopback HTTP server: `answer` for every request, each request path kept."""

    def __init__(self, status: int, location: str | None = None) -> None:
        self.seen: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                recorder.seen.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PATCH = _any  # noqa: N815 - the http.server API

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


SENDERS = {ForgeKind.GITHUB: github.send_status, ForgeKind.GITLAB: gitlab.send_status,
           ForgeKind.GITEA: gitea.send_status}  # fmt: skip
API_PATHS = {ForgeKind.GITHUB: "/api/v3", ForgeKind.GITLAB: "/api/v4", ForgeKind.GITEA: "/api/v1"}


@pytest.mark.parametrize("redirect", [307, 308, 302])
@pytest.mark.parametrize(
    "kind",
    [
        ForgeKind.GITHUB,
        ForgeKind.GITEA,
        ForgeKind.GITLAB,
    ],
)
def test_a_forge_cannot_redirect_the_service_to_an_internal_address(
    kind: ForgeKind, redirect: int
) -> None:
    internal = _Recorder(200)  # e.g. a metadata service or an admin port on the worker's network
    forge = _Recorder(redirect, f"http://{internal.host}/latest/meta-data/")
    try:
        api_url = f"http://{forge.host}{API_PATHS[kind]}"
        # The forge as given passes the egress policy: its host is listed (or public).
        repo_url = "https://forge.example.org/supplier/contact.git"
        given = parse_forge(
            {"kind": kind.value, "token": "a-token", "api_url": api_url},
            repo_url,
            frozenset({forge.host, "forge.example.org"}),
        )
        target = ForgeTarget(kind, given.api_url, given.repository, "a-token")
        status = CommitStatus(COMMIT, StatusState.SUCCESS, "acceptance/x", "Accepted")
        try:
            SENDERS[kind](target, status, timeout=2.0)
        except ForgeError:
            pass  # refusing the redirect is the safe answer
        assert forge.seen, "the forge was never asked"
        assert internal.seen == [], f"the service followed the forge to {internal.seen}"
    finally:
        for server in (internal, forge):
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize(
    "api_url",
    [
        "https://127.0.0.1/api/v1",
        "https://127.1/api/v1",
        "https://2130706433/api/v1",
        "https://0x7f000001/api/v1",
        "https://0177.0.0.1/api/v1",
        "https://localhost/api/v1",
        "https://localhost./api/v1",
        "https://[::1]/api/v1",
        "https://[::ffff:127.0.0.1]/api/v1",
        "https://[::ffff:7f00:1]/api/v1",
        "https://169.254.169.254/api/v1",
        "https://[fd00:ec2::254]/api/v1",
        "https://10.0.0.1/api/v1",
        "https://100.64.0.1/api/v1",
        "https://0.0.0.0/api/v1",
        "http://forge.example.org/api/v1",
        "https://user:pass@forge.example.org/api/v1",
        "https://forge.example.org/api/v1?next=http://127.0.0.1/",
        "https://forge.example.org/api/v1#@127.0.0.1",
    ],
)
def test_a_forge_api_url_on_an_internal_address_is_refused(api_url: str) -> None:
    with pytest.raises(UserInputError):
        parse_forge(
            {"kind": "gitea", "token": "a-token", "api_url": api_url},
            "https://forge.example.org/supplier/contact.git",
            None,
        )
