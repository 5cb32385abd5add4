"""accessibility.serve through the real engine: the delivered app started in a no-network
sandbox, visited by Debian's Chromium on the loopback it shares with the browser's sandbox."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.checks.test_accessibility_docker import accessibility_of, example_files
from tests.conftest import RepoFactory, check

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env", "browser_image")]

SERVED_SPEC = (
    Path(__file__).resolve().parents[2] / "examples" / "specs" / "static-site-served"
    / "acceptance.yaml"
)  # fmt: skip


def test_a_served_image_without_alt_is_rejected_then_accepted_fixed(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    spec = spec_dir / "acceptance.yaml"
    shutil.copy(SERVED_SPEC, spec)
    artifacts = tmp_path / "artifacts"

    broken = example_files({"index.html": (' alt="Map of the town\'s three parks"', "")})
    code, statement = check(
        str(make_repo(broken)), spec, "--artifacts", str(artifacts), capsys=capsys
    )
    result: dict[str, Any] = accessibility_of(statement)
    assert code == 1, statement["predicate"]["reasons"]
    assert statement["predicate"]["verdict"] == "rejected"
    assert result["status"] == "failed", result["summary"]
    assert result["reason_code"] == "ACCESSIBILITY_VIOLATIONS"
    assert result["blocking_rules"] == ["image-alt"]
    assert result["serve"] == {
        "command": "python3 -m http.server 8000 --bind 127.0.0.1",
        "port": 8000,
        "paths": ["/index.html", "/contact.html"],
        # a Python delivery: the app ran in the Python runtime's sandbox, installed
        "environment": "the Python runtime's sandbox: /work/venv and /work/src as installed",
    }
    pages = {page["page"]: page for page in result["pages"]}
    assert list(pages) == ["/index.html", "/contact.html"]
    image_alt = next(v for v in pages["/index.html"]["violations"] if v["rule"] == "image-alt")
    assert image_alt["nodes"][0]["html"].startswith("<img")
    assert (artifacts / "accessibility-page-0.png").read_bytes().startswith(b"\x89PNG")

    code, statement = check(str(make_repo(example_files())), spec, capsys=capsys)
    result = accessibility_of(statement)
    assert code == 0, statement["predicate"]["reasons"]
    assert statement["predicate"]["verdict"] == "accepted"
    assert result["status"] == "passed", result["summary"]


def test_a_served_path_the_app_does_not_have_fails_with_its_status(
    tmp_path: Path, browser_image: str
) -> None:
    result = _serve(tmp_path, browser_image, "python3 -m http.server 8000 --bind 127.0.0.1",
                    "/index.html", "/missing.html")  # fmt: skip
    assert result.status.value == "failed", result.summary
    assert result.reason_code == "ACCESSIBILITY_PAGE_UNLOADABLE"
    pages = {page["page"]: page for page in result.details["pages"]}
    assert pages["/index.html"]["error"] is None
    assert "the app answered HTTP 404" in pages["/missing.html"]["error"]


def test_a_redirect_within_the_app_is_followed(tmp_path: Path, browser_image: str) -> None:
    # http.server answers /docs with a 301 to /docs/: the same origin, so the page is judged.
    result = _serve(tmp_path, browser_image, "exec python3 -m http.server 8000", "/docs",
                    files={"docs/index.html": SITE_PAGE})  # fmt: skip
    assert result.reason_code == "ACCESSIBILITY_VIOLATIONS", result.summary
    assert result.details["pages"][0]["page"] == "/docs"


# ---------------------------------------------------------------- helpers


SITE_PAGE = (
    '<!doctype html><html lang="en"><head><title>Parks</title></head><body><main>'
    '<h1>Parks</h1><img src="map.svg"></main></body></html>'
)


def site(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    """A checkout the sandbox user can read, with an index.html whose image has no alt."""
    root = tmp_path / "site"
    root.mkdir()
    for name, text in {"index.html": SITE_PAGE, **(files or {})}.items():
        if (root / name).parent != root:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).parent.chmod(0o755)
        (root / name).write_text(text)
        (root / name).chmod(0o644)
    for path in (tmp_path, root):
        path.chmod(0o755)
    return root


def _serve(
    tmp_path: Path, image: str, command: str, *paths: str, listen_seconds: float = 30.0,
    files: dict[str, str] | None = None,
) -> Any:  # fmt: skip
    from acceptance.engine.spec import AccessibilityServe, AccessibilitySpec
    from checks.accessibility import DockerBrowserRunner, evaluate

    serve = AccessibilityServe(("sh", "-c", command), 8000, paths or ("/index.html",), shell=True)
    options = AccessibilitySpec(enabled=True, serve=serve)
    runner = DockerBrowserRunner(image, listen_seconds=listen_seconds)
    return evaluate(site(tmp_path, files), options, runner).result


#: a Python delivery whose app is its own package in a src layout: importable only once
#: the engine installed the project, so the app listens only in the installed environment
INSTALLED_APP = {
    "LICENSE": "MIT License\n",
    "pyproject.toml": (
        '[project]\nname = "parks"\nversion = "1.0"\n'
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n'
    ),
    "src/parks/__init__.py": f"PAGE = {SITE_PAGE.encode()!r}\n",
    "src/parks/__main__.py": (
        "import http.server\n\nfrom parks import PAGE\n\n\n"
        "class Handler(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Type', 'text/html')\n"
        "        self.end_headers()\n"
        "        self.wfile.write(PAGE)\n\n\n"
        "http.server.HTTPServer(('127.0.0.1', 8000), Handler).serve_forever()\n"
    ),
    "tests/test_parks.py": "from parks import PAGE\n\n\ndef test_page():\n    assert b'<h1>' in PAGE\n",
}


def test_a_python_app_runs_with_the_project_installed_by_the_functional_stage(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import write_spec

    hidden = {"test_hidden.py": "from parks import PAGE\n\n\ndef test_hidden():\n    assert PAGE\n"}
    spec = write_spec(tmp_path / "spec", (
        "functional: {paths: [tests], min_passed: 1, hidden_tests: hidden}\n"
        "security: false\nlicence: false\n"
        "accessibility: {serve: {command: [python3, -m, parks], port: 8000, paths: [/]}}\n"
    ), hidden=hidden)  # fmt: skip
    code, statement = check(str(make_repo(INSTALLED_APP)), spec, capsys=capsys)
    result = accessibility_of(statement)
    # Not ACCESSIBILITY_SERVER_NOT_LISTENING (no module named parks): the app listened.
    assert result["reason_code"] == "ACCESSIBILITY_VIOLATIONS", result["summary"]
    assert result["blocking_rules"] == ["image-alt"]
    assert "/work/venv" in result["serve"]["environment"]
    # After the supplier's tests, before the owner's hidden tests, which still pass.
    names = [stage["name"] for stage in statement["predicate"]["stages"]]
    assert names.index("functional") < names.index("accessibility") < names.index("hidden-tests")
    functional = statement["predicate"]["checks"][0]
    assert functional["status"] == "passed", functional["summary"]
    assert code == 1
