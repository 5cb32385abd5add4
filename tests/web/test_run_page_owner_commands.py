"""What the owner's commands did, on the run page (issues 16 and 17): the functional check's
test command and its results file, and the accessibility check's served app with its wait
and environment; in English and French, the report's text inert, the page passing axe."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from markupsafe import escape
from werkzeug.serving import make_server

import tests.dashboard_support as support
from checks.interface import CheckResult, CheckStatus
from tests.dashboard_support import OWNER, Service, client_for, html
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in
from web.dashboard.report_checks import check_from

#: the report's text is read as untrusted, even the owner's own command
COMMAND = "make test ARGS='<script>alert(1)</script>'"
RESULTS_PATH = "build/<b>results</b>.xml"
ENVIRONMENT = "the Python runtime's sandbox: /opt/venv and /work/src as installed"
SERVED = {
    "command": ["python3", "serve.py"], "port": 8000, "paths": ["/"], "wait": 45,
    "environment": ENVIRONMENT,
}  # fmt: skip


def _with_commands(checks: list[CheckResult], failing: bool) -> list[CheckResult]:
    """The seeded checks, the functional one run by the owner's command (JUnit when accepted,
    TAP when rejected), plus an accessibility check that served the app."""
    functional = next(c for c in checks if c.kind == "functional")
    command = {
        "runner": "command", "command": COMMAND,
        "results_file": {"format": "tap" if failing else "junit", "path": RESULTS_PATH},
    }  # fmt: skip
    accessibility = CheckResult(
        "accessibility", "accessibility", CheckStatus.PASSED,
        "no violation at or above serious (wcag21aa) on 1 page(s)", None,
        {
            "standard": "wcag21aa", "fail_on": "serious", "ignore": [], "axe_version": "4.14.1",
            "pages": [{"page": "/", "violations": [], "counts": {}, "passes": 3}],
            "missing_pages": [], "serve": SERVED,
        },
    )  # fmt: skip
    changed = dataclasses.replace(functional, details={**functional.details, **command})
    return [changed if c is functional else c for c in checks] + [accessibility]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    original = support._checks
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            support, "_checks", lambda failing: _with_commands(original(failing), failing)
        )
        yield Service(tmp_path_factory.mktemp("commands") / "data")


def _section(text: str, heading: str, until: str) -> str:
    """The check's section, from its heading (the reasons above it name the check too)."""
    found = re.search(r'<h3 id="check-\d+">\s*' + re.escape(heading), text)
    assert found is not None, heading
    return text[found.start() : text.index(until, found.start())]


def test_the_functional_check_shows_the_owners_command_and_results_file(seeded: Service) -> None:
    text = html(client_for(seeded, OWNER), f"/runs/{seeded.ids.accepted}")
    section = _section(text, "Functional tests", "</section>")
    assert (
        "Tests run by the owner's command: <code>make test ARGS=&#39;&lt;script&gt;alert(1)"
        "&lt;/script&gt;&#39;</code>, results read as JUnit from "
        "<code>build/&lt;b&gt;results&lt;/b&gt;.xml</code>" in section
    )
    assert "<script>alert(1)" not in text and "<b>results" not in text
    text = html(client_for(seeded, OWNER, "fr"), f"/runs/{seeded.ids.rejected}")
    section = _section(text, "Tests fonctionnels", "</section>")
    assert "Tests lancés par la commande du propriétaire\u00a0: <code>make test" in section
    assert "résultats lus au format TAP dans <code>build/&lt;b&gt;results" in section
    assert "<script>alert(1)" not in text


def test_another_runner_shows_no_command() -> None:
    # The line is only for the owner's command; a malformed results_file still shows the command.
    entry = {"id": "functional", "kind": "functional", "status": "passed", "summary": "",
             "runner": "pytest", "command": COMMAND}  # fmt: skip
    assert check_from(entry).test_command is None
    entry = {**entry, "runner": "command", "results_file": "not a mapping"}
    assert check_from(entry).test_command == {"command": COMMAND, "format": "", "path": ""}


def test_the_served_app_shows_its_wait_and_environment(seeded: Service) -> None:
    text = html(client_for(seeded, OWNER), f"/runs/{seeded.ids.accepted}")
    section = text[text.index("Accessibility (axe-core in a browser)") :]
    assert "Time the app had to listen</dt><dd>45 seconds</dd>" in section
    assert f"What the app ran with</dt><dd><span>{escape(ENVIRONMENT)}</span></dd>" in section
    text = html(client_for(seeded, OWNER, "fr"), f"/runs/{seeded.ids.accepted}")
    section = text[text.index("Accessibilité (axe-core dans un navigateur)") :]
    assert "Délai laissé à l’application pour écouter</dt><dd>45 secondes</dd>" in section
    # The engine's sentence is English, marked so for the French reader.
    assert (
        f'Environnement de l’application</dt><dd><span lang="en">{escape(ENVIRONMENT)}</span></dd>'
        in section
    )


@pytest.mark.parametrize("wait", [None, 0, True, "45", 4.5])
def test_a_wait_that_is_not_a_count_of_seconds_is_not_shown(wait: object) -> None:
    entry = {"id": "accessibility", "kind": "accessibility", "status": "passed",
             "summary": "", "serve": {**SERVED, "wait": wait, "environment": ["x"]}}  # fmt: skip
    served = check_from(entry).accessibility_settings["serve"]
    assert served["wait"] is None and served["environment"] is None


@pytest.fixture(scope="module")
def live(seeded: Service) -> Iterator[Live]:
    server = make_server("127.0.0.1", 0, seeded.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(seeded, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.browser
def test_the_run_page_with_the_owners_commands_passes_axe_in_french(
    page: Any, live: Live, axe_source: str
) -> None:
    page.context.add_cookies([{"name": "acceptance_lang", "value": "fr", "url": live.base}])
    sign_in(page, OWNER)
    page.goto(f"/runs/{live.service.ids.accepted}")
    assert page.locator("text=Délai laissé à l’application pour écouter").count() == 1
    assert page.locator("code", has_text="<script>alert(1)</script>").count() == 1
    failing = [v for v in run_axe(page, axe_source) if v["impact"] in FAILING_IMPACTS]
    assert failing == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in failing]
