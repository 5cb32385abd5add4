"""What the browser tests share: the Chromium to drive, axe-core, and the pages' watch.

Needs Debian's `chromium` (or ACCEPTANCE_TEST_CHROMIUM), the `playwright` package and
axe-core installed with `npm ci --prefix tests/browser` (or ACCEPTANCE_TEST_AXE naming
axe.min.js). The fixtures are in tests/web/conftest.py.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.dashboard_support import PASSWORD, Service

CHROMIUM = (
    os.environ.get("ACCEPTANCE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
AXE = Path(
    os.environ.get("ACCEPTANCE_TEST_AXE")
    or ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: axe-core impacts that fail the suite (WCAG 2.1 AA: zero serious or critical)
FAILING_IMPACTS = tuple(
    os.environ.get("ACCEPTANCE_TEST_AXE_IMPACTS", "serious,critical").split(",")
)


@dataclass
class Live:
    """The seeded service served on loopback, and what the pages did that they must not."""

    service: Service
    base: str
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def console_problem(live: Live, message: Any) -> None:
    # A page answered 404 or 422 on purpose logs "Failed to load resource": not a problem.
    if message.type == "error" and "Failed to load resource" not in message.text:
        live.problems.append(f"console error on {message.location.get('url')}: {message.text}")


def response_problem(live: Live, response: Any) -> None:
    if response.request.resource_type != "document" and response.status >= 400:
        live.problems.append(f"{response.status} for {response.url}")


def sign_in(page: Any, email: str, start: str = "/runs") -> None:
    """Sign in through the form, in whichever language the page is in."""
    page.goto(start)
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/(runs|opportunities)"))


def run_axe(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (every rule axe runs by default)."""
    # Open collapsed parts (logs) so their content is checked too.
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)  # evaluated by the browser, not injected as an inline <script>
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])
