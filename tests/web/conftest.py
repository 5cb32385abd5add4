"""Fixtures of the browser tests: the seeded service served on loopback, Chromium, axe-core.

Each is module-scoped where it was: every test module gets its own live service and browser.
In CI (CI=true) a missing browser, driver or axe-core is a failure, never a skip.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import unavailable
from tests.dashboard_support import Service
from tests.web.browser_support import (
    AXE,
    CHROMIUM,
    CHROMIUM_FLAGS,
    Live,
    console_problem,
    response_problem,
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    service = Service(tmp_path_factory.mktemp("browser") / "data")
    server = make_server("127.0.0.1", 0, service.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(service, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        unavailable(f"axe-core is not at {AXE}: run `npm ci --prefix tests/browser`")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
        raise
    if not Path(CHROMIUM).is_file():
        unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        # Playwright starts each browser with a fresh temporary profile (user-data-dir).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any, live: Live, tmp_path: Path) -> Iterator[Any]:
    context = chromium.new_context(accept_downloads=True, base_url=live.base, locale="en-CA")
    context.set_default_timeout(15_000)
    opened = context.new_page()
    live.dialogs.clear()
    live.problems.clear()
    # Supplier payloads must never run: any dialog (alert) or script error is recorded,
    # and so is anything the CSP blocked or a stylesheet or script that failed to load.
    opened.on("dialog", lambda dialog: (live.dialogs.append(dialog.message), dialog.dismiss()))
    opened.on("pageerror", lambda error: live.problems.append(f"page error: {error}"))
    opened.on("console", lambda message: console_problem(live, message))
    opened.on("response", lambda response: response_problem(live, response))
    try:
        yield opened
    finally:
        context.close()
    assert live.dialogs == [], f"supplier text ran as script: {live.dialogs}"
    assert live.problems == [], live.problems
