"""Hostile reasons on the pages: supplier text in a reason stays in the engine's sentence, inert.

The French sentence of a reason is said from its code alone; what the supplier controls
(test ids, file names, failure messages quoted by the engine's sentence) reaches the page
only in the engine's sentence, escaped, stripped of terminal escapes, bidi controls made
visible, and marked lang="en". A check the supplier's code could make look like another
(a sentence naming a check it is not) keeps no code rather than a wrong one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import render_template_string

from acceptance.engine.report import Reason, ReportInput, build_statement
from checks.interface import CheckResult, CheckStatus
from tests.dashboard_support import Service
from web.dashboard.reportview import report_from

HOSTILE = "tests/test_<script>alert(1)</script>.py::t \x1b[31mred\x1b[0m \u202eevil\u202c"
MACRO = '{% import "dashboard/macros.html" as m with context %}{{ m.reasons_list(report, none) }}'


def _page(service: Service, predicate: dict[str, Any], lang: str) -> str:
    report = report_from(predicate, None, None)
    with service.app.test_request_context(headers={"Cookie": f"acceptance_lang={lang}"}):
        return render_template_string(MACRO, report=report)


def test_supplier_text_in_a_reason_stays_inert_in_the_engines_sentence(seeded: Service) -> None:
    checks = [
        CheckResult("functional", "functional", CheckStatus.FAILED, f"1 failed: {HOSTILE}",
                    "TESTS_FAILED"),
    ]  # fmt: skip
    report = ReportInput(
        source_url="https://example.org/r.git", ref="main", spec={},
        started=dt.datetime.now(dt.UTC), checks=checks,
        reasons=[Reason("SUSPICIOUS_TEST_HOOKS", f"touches the test machinery in {HOSTILE}")],
    )  # fmt: skip
    predicate = build_statement(report)["predicate"]
    for lang in ("fr", "en"):
        page = _page(seeded, predicate, lang)
        assert "<script>" not in page and "\x1b" not in page and "\u202e" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "\ufffdevil\ufffd" in page  # the override made visible, not obeyed
    french = _page(seeded, predicate, "fr")
    said = [item.split('<span class="reasons__engine', 1)[0] for item in french.split("<li>")[1:]]
    assert len(said) == 2
    # The French part is said from the codes: nothing of the supplier's text is in it.
    assert all("alert" not in part and "evil" not in part for part in said)
    assert said[0].startswith("Le code livré touche à la mécanique des tests")
    assert said[1].startswith("Tests fonctionnels")
    assert french.count('<span lang="en">') == 2


def test_a_sentence_naming_another_check_keeps_no_code(seeded: Service) -> None:
    # A report read back whose check sentence does not start with its own check's id (as if
    # the text had been shifted by supplier output): said as "the checks gave a reason".
    predicate = {
        "verdict": "rejected",
        "reasons": ["sast: <b>1 finding</b>"],
        "reason_codes": ["TESTS_FAILED"],
        "checks": [{"id": "functional", "kind": "functional", "status": "failed",
                    "summary": "x", "reason_code": "TESTS_FAILED"}],
    }  # fmt: skip
    french = _page(seeded, predicate, "fr")
    assert "Les contrôles ont donné une raison." in french
    assert "des tests ont échoué" not in french
    assert "&lt;b&gt;1 finding&lt;/b&gt;" in french
