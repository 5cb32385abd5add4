"""The accessibility check on the dashboard and in the supplier's view: axe-core's findings per
page, inert supplier markup, EN and FR, and the run page itself passing axe in Chromium."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

import tests.dashboard_support as support
from acceptance.service.supplier_view import supplier_view_of_report
from checks.interface import CheckResult, CheckStatus
from tests.dashboard_support import OWNER, Service, client_for, html
from tests.web.browser_support import FAILING_IMPACTS, Live, run_axe, sign_in

HOSTILE_HTML = '<img src="x" onerror="alert(1)"><script>alert(2)</script>'


def accessibility_check(failing: bool) -> CheckResult:
    violation = {
        "rule": "image-alt", "impact": "critical", "tags": ["wcag2a", "wcag111"],
        "help": "Images must have alternative text",
        "help_url": "https://dequeuniversity.com/rules/axe/4.14/image-alt?application=axeAPI",
        "blocking": True, "ignored": False,
        "nodes": [{"target": "main > img", "html": HOSTILE_HTML}],
    }  # fmt: skip
    region = {
        "rule": "region", "impact": "moderate", "tags": ["best-practice"], "help": "All content",
        "help_url": "javascript:alert(3)", "blocking": False, "ignored": True,
        "nodes": [{"target": "<b>p</b>", "html": "<p>text</p>"}],
    }  # fmt: skip
    page_entry = {
        # the accepted run's check served the app (accessibility.serve), the rejected one's
        # opened files
        "page": "index.html" if failing else "/index.html",
        "violations": [region, violation] if failing else [],
        "counts": {"minor": 0, "moderate": 1 if failing else 0, "serious": 0,
                   "critical": 1 if failing else 0},
        "passes": 14, "incomplete": 2, "error": None, "screenshot": "accessibility-page-0.png",
    }  # fmt: skip
    return CheckResult(
        "accessibility", "accessibility",
        CheckStatus.FAILED if failing else CheckStatus.PASSED,
        "1 violation(s) at or above serious (wcag21aa) on 1 page(s): image-alt" if failing
        else "no violation at or above serious (wcag21aa) on 1 page(s)",
        "ACCESSIBILITY_VIOLATIONS" if failing else None,
        {
            "standard": "wcag21aa", "tags": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"],
            "fail_on": "serious", "ignore": ["region"], "pages": [page_entry],
            "missing_pages": [], "counts": page_entry["counts"], "passes": 14, "incomplete": 2,
            "axe_version": "4.14.1",
            **({} if failing else {"serve": SERVED}),
        },
    )  # fmt: skip


SERVED = {"command": ["python3", "serve.py", "<b>8000</b>"], "port": 8000, "paths": ["/index.html"]}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    original = support._checks
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            support, "_checks", lambda failing: [*original(failing), accessibility_check(failing)]
        )
        yield Service(tmp_path_factory.mktemp("a11y") / "data")


def test_the_run_page_lists_violations_per_page_with_inert_snippets(seeded: Service) -> None:
    text = html(client_for(seeded, OWNER), f"/runs/{seeded.ids.rejected}")
    section = text[text.index("Accessibility (axe-core in a browser)") :]
    assert "Code quality (linter)" in text[: text.index("Accessibility (axe-core in a browser)")]
    assert "Accessibility violations on this page, blocking first" in section
    assert (
        '<a href="https://dequeuniversity.com/rules/axe/4.14/image-alt?application=axeAPI">'
        "<code>image-alt</code></a>" in section
    )
    # Supplier markup is shown as text, never interpreted, and only axe's links are links.
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in section
    assert "<script>alert(2)" not in section and 'onerror="alert(1)"' not in section
    assert "javascript:alert(3)" not in section and "&lt;b&gt;p&lt;/b&gt;" in section
    assert "ignored by the spec" in section and "<code>region</code>" in section
    assert section.index("image-alt") < section.index("<code>region</code>")
    assert "wcag21aa" in section and "axe-core 4.14.1" in section
    assert "accessibility-page-0.png" in section
    assert "rules passed: 14" in section and "to review by hand: 2" in section


def test_the_run_page_in_french(seeded: Service) -> None:
    text = html(client_for(seeded, OWNER, "fr"), f"/runs/{seeded.ids.rejected}")
    section = text[text.index("Accessibilité (axe-core dans un navigateur)") :]
    assert "1 violation d’accessibilité bloque l’acceptation." in section
    assert "Violations d’accessibilité sur cette page, les bloquantes d’abord" in section
    assert "Critique" in section and "règles respectées\u00a0: 14" in section
    assert '<span lang="en">1 violation(s) at or above serious' in section


def test_a_served_check_shows_the_app_its_port_and_url_paths(seeded: Service) -> None:
    text = html(client_for(seeded, OWNER), f"/runs/{seeded.ids.accepted}")
    section = text[text.index("Accessibility (axe-core in a browser)") :]
    assert "App started by the check" in section
    assert "<code>python3 serve.py &lt;b&gt;8000&lt;/b&gt;</code> listening on port 8000" in section
    assert "URL paths visited</dt><dd><code>/index.html</code>" in section
    assert "<h4><code>/index.html</code></h4>" in section
    text = html(client_for(seeded, OWNER, "fr"), f"/runs/{seeded.ids.accepted}")
    section = text[text.index("Accessibilité (axe-core dans un navigateur)") :]
    assert "Application démarrée par la vérification" in section
    assert "à l’écoute sur le port 8000" in section and "Chemins d’URL visités" in section
    # The rejected run opened files: no served app is shown.
    text = html(client_for(seeded, OWNER), f"/runs/{seeded.ids.rejected}")
    assert "App started by the check" not in text


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "The delivered app did not listen on port 8000 in time."),
        ("fr", "L’application livrée n’a pas écouté sur le port 8000 dans le délai."),
    ],
)
def test_an_app_that_did_not_listen_is_summarised_in_both_languages(
    seeded: Service, lang: str, said: str
) -> None:
    from web.dashboard.report_checks import check_from
    from web.dashboard.summaries import accessibility_summary

    entry = {
        "id": "accessibility", "kind": "accessibility", "status": "failed",
        "summary": "the app started by accessibility.serve.command ... did not listen",
        "reason_code": "ACCESSIBILITY_SERVER_NOT_LISTENING", "standard": "wcag21aa",
        "pages": [], "missing_pages": [], "serve": SERVED,
    }  # fmt: skip
    with seeded.app.test_request_context(headers={"Accept-Language": lang}):
        assert accessibility_summary(check_from(entry)) == said


def test_the_supplier_sees_the_served_app() -> None:
    check = accessibility_check(False).to_report()
    (shown,) = supplier_view_of_report({"checks": [check]})["checks"]
    assert shown["serve"] == SERVED
    (shown,) = supplier_view_of_report({"checks": [accessibility_check(True).to_report()]})[
        "checks"
    ]
    assert "serve" not in shown


def test_the_supplier_sees_the_findings_on_their_own_pages() -> None:
    check = accessibility_check(True).to_report()
    page_entry = check["pages"][0]  # type: ignore[index]
    page_entry["internal"] = "x"
    (shown,) = supplier_view_of_report({"checks": [check]})["checks"]
    (shown_page,) = shown["pages"]
    assert "internal" not in shown_page
    assert [v["rule"] for v in shown_page["violations"]] == ["region", "image-alt"]
    assert shown_page["violations"][1]["nodes"] == [{"target": "main > img", "html": HOSTILE_HTML}]
    assert shown["fail_on"] == "serious" and shown["ignore"] == ["region"]


def test_the_supplier_status_page_shows_the_accessibility_check(seeded: Service) -> None:
    url = f"/status/{seeded.ids.status_token}/runs/{seeded.ids.rejected}"
    text = html(client_for(seeded, None), url)
    assert "Accessibility (axe-core in a browser)" in text
    assert "<code>image-alt</code>" in text
    assert "<script>alert(2)" not in text


# ---------------------------------------------------------------- in Chromium


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
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_run_page_with_accessibility_findings_passes_axe(
    page: Any, live: Live, axe_source: str, lang: str, tmp_path: Path
) -> None:
    page.context.add_cookies([{"name": "acceptance_lang", "value": lang, "url": live.base}])
    sign_in(page, OWNER)
    page.goto(f"/runs/{live.service.ids.rejected}")
    assert page.locator("text=image-alt").count() >= 1
    failing = [v for v in run_axe(page, axe_source) if v["impact"] in FAILING_IMPACTS]
    assert failing == [], [(v["id"], [n["target"] for n in v["nodes"]]) for v in failing]
