"""Every reason code said in French: the catalogue, the engine's reports read back, the pages, the emails.

A code added to acceptance/reasons.py without a sentence in acceptance/service/reason_text.py,
or a sentence without its French, fails here. The reasons are tied to their codes from the
fields a report already has (the engine's own reports, built here by acceptance.engine.report),
and supplier text stays in the engine's sentence, escaped and marked lang="en".
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace
from typing import Any, cast

import pytest
from babel.messages.pofile import read_po
from babel.support import NullTranslations

from acceptance.engine.report import Reason, ReportInput, build_statement
from acceptance.reasons import REASONS
from acceptance.service.hidden_redaction import WITHHELD
from acceptance.service.notifications import run_finished_mail, translations
from acceptance.service.reason_text import (
    REASON_SENTENCES,
    ReasonLine,
    continued,
    reason_lines,
    reason_sentence,
    runtime_facts,
)
from checks.interface import CheckResult, CheckStatus
from tests.dashboard_support import OWNER, PO_FILE, Service, client_for, compile_translations

NBSP = "\u00a0"


def french_catalogue() -> dict[str, str]:
    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    return {
        m.id: m.string
        for m in catalog
        if isinstance(m.id, str) and isinstance(m.string, str) and m.id and not m.fuzzy
    }


def test_every_reason_code_has_a_sentence_and_its_french() -> None:
    french = french_catalogue()
    missing = sorted(code for code in REASONS if code not in REASON_SENTENCES)
    assert missing == [], f"reason codes without a sentence in reason_text.py: {missing}"
    untranslated = sorted(
        code for code in REASONS if not french.get(REASON_SENTENCES[code], "").strip()
    )
    assert untranslated == [], f"reason codes without French in messages.po: {untranslated}"
    # Said in French, not copied: every sentence reads differently from its English.
    assert sorted(c for c in REASONS if french[REASON_SENTENCES[c]] == REASON_SENTENCES[c]) == []


@pytest.mark.parametrize(
    "code",
    ["RUNTIME_UNDETECTED", "RUNTIME_UNSUPPORTED", "RUNTIME_MISMATCH", "RUNTIME_CHECK_UNAVAILABLE",
     "LOCKFILE_REQUIRED", "NPM_SOURCE_REFUSED", "NPM_INSTALL_MISMATCH",
     "NODE_TEST_SCRIPT_UNSUPPORTED", "QUALITY_FINDINGS", "UNJUSTIFIED_SUPPRESSION",
     "FORBIDDEN_SUPPRESSION", "QUALITY_UNJUDGEABLE", "QUALITY_TOOL_ERROR",
     "ACCESSIBILITY_VIOLATIONS", "ACCESSIBILITY_PAGE_MISSING", "ACCESSIBILITY_PAGE_UNLOADABLE",
     "ACCESSIBILITY_SERVER_NOT_LISTENING", "ACCESSIBILITY_TOOL_ERROR"],
)  # fmt: skip
def test_the_newer_codes_are_said_in_french(code: str) -> None:
    compile_translations()
    said = reason_sentence(translations("fr"), code, {})
    assert said and said != REASON_SENTENCES[code]
    assert reason_sentence(NullTranslations(), code, {}) == REASON_SENTENCES[code]


def test_a_mismatch_names_the_detected_runtime_from_the_reports_fields() -> None:
    compile_translations()
    fields = {"runtime": "node", "runtime_source": "detected"}
    said = reason_sentence(translations("fr"), "RUNTIME_MISMATCH", fields)
    assert said == (f"Le dépôt est un projet Node.js, mais les tests cachés de la spécification "
                    f"sont des tests Python{NBSP}: il est refusé")  # fmt: skip
    # A runtime the report does not know is never put in the sentence: the code's own is said.
    odd = {"runtime": "<script>", "runtime_source": "detected"}
    assert "<script>" not in reason_sentence(translations("fr"), "RUNTIME_MISMATCH", odd)
    assert runtime_facts(odd) is None
    assert runtime_facts({"runtime": "shell", "runtime_source": "spec"}) == ("shell", "spec")


def _statement(reasons: list[Reason], checks: list[CheckResult]) -> dict[str, Any]:
    report = ReportInput(source_url="https://example.org/r.git", ref="main", spec={},
                         started=dt.datetime.now(dt.UTC), checks=checks, reasons=reasons)  # fmt: skip
    predicate: dict[str, Any] = build_statement(report)["predicate"]
    return predicate


def _lines(predicate: dict[str, Any]) -> list[ReasonLine]:
    return reason_lines(predicate["reasons"], predicate["reason_codes"], predicate["checks"])


def test_the_engines_reasons_are_tied_to_their_codes_and_checks() -> None:
    checks = [
        CheckResult("functional", "functional", CheckStatus.FAILED, "2 of 5 tests failed",
                    "TESTS_FAILED"),
        CheckResult("sast", "sast", CheckStatus.PASSED, "no blocking findings"),
        CheckResult("quality", "quality", CheckStatus.FAILED, "3 findings", "QUALITY_FINDINGS"),
        CheckResult("licence", "licence", CheckStatus.ERROR, "could not read", None),
    ]  # fmt: skip
    hooks = Reason("SUSPICIOUS_TEST_HOOKS", "the delivered code touches the test machinery")
    lines = _lines(_statement([hooks], checks))
    assert [(line.code, line.check) for line in lines] == [
        ("SUSPICIOUS_TEST_HOOKS", None),
        ("TESTS_FAILED", "functional"),
        ("QUALITY_FINDINGS", "quality"),
        ("CHECK_FAILED", "licence"),  # the engine's own code for a check that names none
    ]
    assert lines[1].sentence == "functional: 2 of 5 tests failed"
    # A rejection before any check: the run's one reason has the first code.
    early = _lines(_statement([Reason("LOCKFILE_REQUIRED", "no package-lock.json")], []))
    assert early == [ReasonLine("no package-lock.json", "LOCKFILE_REQUIRED")]


def test_a_report_that_does_not_fit_the_engines_shape_keeps_no_code_rather_than_a_wrong_one() -> (
    None
):
    # More failed checks than reasons, sentences that do not name their check, junk values.
    checks = [{"id": "functional", "status": "failed", "reason_code": "TESTS_FAILED"},
              {"id": "sast", "status": "failed", "reason_code": "SAST_FINDINGS"}]  # fmt: skip
    assert reason_lines(["one"], ["TESTS_FAILED"], checks) == [ReasonLine("one")]
    lines = reason_lines(["quality: forged", "sast: 1 finding"], ["TESTS_FAILED"], checks)
    assert lines == [ReasonLine("quality: forged"), ReasonLine("sast: 1 finding", "SAST_FINDINGS",
                                                               "sast")]  # fmt: skip
    junk = reason_lines([{"a": 1}, None], [7, "NOT_A_CODE"], [None, "x", 3])
    assert [line.code for line in junk] == [None, None]
    forged = [{"id": "functional", "status": "failed", "reason_code": "<b>BOGUS</b>"}]
    assert reason_lines(["functional: x"], [], forged) == [ReasonLine("functional: x", None,
                                                                      "functional")]  # fmt: skip
    # A sentence the supplier's view withheld keeps its check and code.
    assert reason_lines([WITHHELD], ["TESTS_FAILED"], checks[:1])[0].code == "TESTS_FAILED"


def test_a_sentence_after_a_checks_name_goes_on_in_lower_case() -> None:
    assert continued("N’a pas réussi") == "n’a pas réussi"
    assert continued("Des tests ont échoué") == "des tests ont échoué"
    assert continued("NPM a refusé") == "NPM a refusé"
    assert continued("") == ""


# ---------------------------------------------------------------- on the pages


def _reasons(page: str) -> str:
    found = re.search(r'<ul class="reasons">.*?</ul>', page, re.S)
    assert found, "no reasons on the page"
    return found.group(0)


def test_french_pages_say_each_reason_in_french_then_the_engines_sentence_marked_english(
    seeded: Service,
) -> None:
    french = client_for(seeded, OWNER, "fr")
    reasons = _reasons(french.get(f"/runs/{seeded.ids.rejected}").get_data(as_text=True))
    assert (f"<li>Tests fonctionnels{NBSP}: des tests ont échoué ou fini en erreur "
            "(3 réussis, 2 échoués, 0 en erreur, 1 ignoré). ") in reasons  # fmt: skip
    assert (
        f'Dans le rapport signé{NBSP}: <span lang="en">functional: 2 of 5 tests failed</span>'
        in reasons
    )
    # The supplier's file name stays in the engine's sentence only, escaped and marked English.
    assert ('<span lang="en">quality: 1 unjustified suppression(s) '
            "(app/&lt;b&gt;forms&lt;/b&gt;.py:3)</span>") in reasons  # fmt: skip
    assert f"Qualité du code (analyseur){NBSP}: un commentaire fait taire l’analyseur" in reasons
    assert "<b>" not in reasons
    supplier = seeded.app.test_client()
    supplier.set_cookie("acceptance_lang", "fr")
    page = supplier.get(f"/status/{seeded.ids.status_token}/runs/{seeded.ids.rejected}",
                        headers={"Accept": "text/html"}).get_data(as_text=True)  # fmt: skip
    assert f"<li>Tests fonctionnels{NBSP}: des tests ont échoué" in _reasons(page)


def test_english_pages_keep_the_engines_sentences_alone(seeded: Service) -> None:
    page = client_for(seeded, OWNER).get(f"/runs/{seeded.ids.rejected}").get_data(as_text=True)
    assert _reasons(page).startswith(
        '<ul class="reasons"><li><span>functional: 2 of 5 tests failed</span></li>'
    )
    assert "In the signed report:" not in _reasons(page)


def test_the_runtime_and_how_it_was_chosen_are_shown_in_both_languages(seeded: Service) -> None:
    for lang, facts, short in [
        ("en", "<dt>Runtime</dt><dd>Python, detected from the repository&#39;s files</dd>",
         "<td>Python (detected)</td>"),
        ("fr", "<dt>Environnement d’exécution</dt><dd>Python, détecté d’après les fichiers du "
         "dépôt</dd>", "<td>Python (détecté)</td>"),
    ]:  # fmt: skip
        client = client_for(seeded, OWNER, lang)
        assert facts in client.get(f"/runs/{seeded.ids.rejected}").get_data(as_text=True)
        assert short in client.get("/runs").get_data(as_text=True)
        supplier = seeded.app.test_client()
        supplier.set_cookie("acceptance_lang", lang)
        base = f"/status/{seeded.ids.status_token}"
        html = {"Accept": "text/html"}
        assert short in supplier.get(base, headers=html).get_data(as_text=True)
        run_page = supplier.get(f"{base}/runs/{seeded.ids.rejected}", headers=html)
        assert facts in run_page.get_data(as_text=True)
    # A run without a runtime (queued, or judged before the lists kept it) shows none.
    page = client_for(seeded, OWNER).get(f"/runs/{seeded.ids.queued}").get_data(as_text=True)
    assert "<dt>Runtime</dt>" not in page
    data = seeded.app.test_client().get(f"/status/{seeded.ids.status_token}").get_json()
    assert {(r["runtime"], r["runtime_source"]) for r in data["runs"]} >= {("python", "detected")}


# ---------------------------------------------------------------- in the emails


def _run() -> Any:
    opportunity = SimpleNamespace(title="Contact form")
    submission = SimpleNamespace(opportunity=opportunity, supplier="Supplier <b>Ltd</b>")
    return cast(Any, SimpleNamespace(submission=submission, commit="c" * 40, ref="main",
                                     verdict="rejected"))  # fmt: skip


def test_a_french_email_says_the_reasons_in_french_and_quotes_the_engine() -> None:
    compile_translations()
    predicate = _statement(
        [Reason("NODE_TEST_SCRIPT_UNSUPPORTED", "package.json's test script is 'jest --ci'")], []
    )
    view = {"report": predicate, "reasons": predicate["reasons"], "checks": []}
    mail = run_finished_mail(translations("fr"), "owner", _run(), view, [], None)
    assert ("Le script de test de package.json n’est pas de la forme node --test [chemins]. — "
            f"Dans le rapport signé{NBSP}: package.json's test script is 'jest --ci'") \
        in mail.paragraphs  # fmt: skip
    english = run_finished_mail(translations("en"), "owner", _run(), view, [], None)
    assert "package.json's test script is 'jest --ci'" in english.paragraphs
    assert "&#x27;jest" in mail.html("fr") or "&#39;jest" in mail.html("fr")


def test_checks_that_did_not_run_say_why_in_french(seeded: Service) -> None:
    from web.dashboard.reasons import not_checked_said
    from web.dashboard.reportview import report_from

    checks = [
        CheckResult("functional", "functional", CheckStatus.NOT_RUN,
                    "not run: an earlier stage failed (INSTALL_FAILED)", "NOT_RUN"),
        CheckResult("sast", "sast", CheckStatus.SKIPPED, "not checked: turned off in the spec"),
        CheckResult("licence", "licence", CheckStatus.SKIPPED, "<b>odd</b>"),
    ]  # fmt: skip
    report = report_from(_statement([Reason("INSTALL_FAILED", "pip failed")], checks), None, None)
    said = {}
    for lang in ("fr", "en"):
        with seeded.app.test_request_context(headers={"Cookie": f"acceptance_lang={lang}"}):
            said[lang] = [not_checked_said(report, i, r) for i, r in report.not_checked]
    assert said["fr"] == [
        "Le contrôle n’a pas été exécuté parce qu’une étape précédente a échoué.",
        f"Non vérifié{NBSP}: la spécification le désactive.",
        None,  # an engine sentence without a code stands alone, marked English
    ]
    assert said["en"] == [None, None, None]


def test_a_limit_reached_is_said_with_the_limit_the_report_records() -> None:
    compile_translations()
    fr, en = translations("fr"), NullTranslations()
    limits = {"memory": 256 * 1024 * 1024, "pids": 64, "output": 1536, "test_timeout": 30}
    fields = {"limits": limits}
    assert reason_sentence(fr, "MEMORY_LIMIT", fields) == (
        f"Une étape a épuisé la mémoire que la spécification permet (256{NBSP}Mio)"
    )
    assert reason_sentence(en, "PROCESS_LIMIT", fields) == (
        "A stage tried to start more than the 64 processes the specification allows"
    )
    assert reason_sentence(fr, "OUTPUT_LIMIT", fields) == (
        f"Une étape a affiché plus de sortie que les 1536{NBSP}octets permis par la spécification"
    )
    assert reason_sentence(en, "OUTPUT_LIMIT", {"limits": {"output": 2048}}) == (
        "A stage printed more than the 2 KiB of output the specification allows"
    )
    assert f"30{NBSP}s" in reason_sentence(fr, "TEST_TIMEOUT", fields)
    # A limit the report does not state as a positive whole number: the code's own sentence.
    for odd in ({"pids": True}, {"pids": -1}, {"pids": "64; rm -rf"}, {"pids": 2.5}, "x"):
        assert (
            reason_sentence(en, "PROCESS_LIMIT", {"limits": odd})
            == (REASON_SENTENCES["PROCESS_LIMIT"])
        )
