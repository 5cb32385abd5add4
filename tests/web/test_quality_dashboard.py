"""The quality check on the dashboard and in the supplier's view: findings beside SAST's, in EN and FR."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.service.supplier_view import supplier_view_of_report
from tests.dashboard_support import OWNER, Service, client_for, html


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Service:
    return Service(tmp_path_factory.mktemp("seeded") / "data")


def test_the_run_page_lists_findings_and_suppressions_with_their_reasons(seeded: Service) -> None:
    page = html(client_for(seeded, OWNER), f"/runs/{seeded.ids.rejected}")
    section = page[page.index("Code quality (linter)") :]
    assert "Static security analysis" in page[: page.index("Code quality (linter)")]
    assert "Linter findings, blocking first" in section
    assert (
        '<a href="https://docs.astral.sh/ruff/rules/unused-import"><code>F401</code></a>' in section
    )
    assert "<code>UNJUSTIFIED_SUPPRESSION</code>" in section
    assert "suppressed with a reason" in section
    # Supplier text is inert: the markup in a path is shown, never interpreted.
    assert "app/&lt;b&gt;forms&lt;/b&gt;.py:3" in section and "<b>forms</b>" not in section
    assert "Suppression comments in the code, with the reasons they give" in section
    assert "the loader imports it by name" in section
    assert "every rule" in section and "whole file" in section
    assert "E4, E7, E9, F" in section and "ruff 0.17.6" in section
    assert "allowed with a written reason" in section


def test_the_run_page_in_french_says_the_facts_in_french(seeded: Service) -> None:
    page = html(client_for(seeded, OWNER, "fr"), f"/runs/{seeded.ids.rejected}")
    section = page[page.index("Qualité du code (analyseur)") :]
    assert "1 constat de l’analyseur bloque l’acceptation" in section
    assert "2 commentaires d’exemption, dont 1 avec une raison." in section
    assert "Commentaires d’exemption dans le code" in section
    assert "autorisées avec une raison écrite" in section
    # The engine's own sentence stays, marked as English.
    assert '<span lang="en">1 unjustified suppression(s)' in section


def test_the_supplier_sees_the_findings_suppressions_and_rules_only() -> None:
    check = {
        "id": "quality", "kind": "quality", "status": "failed", "summary": "s",
        "reason_code": "UNJUSTIFIED_SUPPRESSION",
        "findings": [{"rule": "F401", "file": "a.py", "line": 1, "level": "warning",
                      "message": "m", "blocking": True, "internal": "x"}],
        "suppressions": [{"file": "a.py", "line": 1, "scope": "line", "directive": "noqa",
                          "rules": ["F401"], "reason": None, "justified": False, "raw": "x"}],
        "unreadable_comments": [{"file": "a.py", "error": "TokenError"}],
        "files_checked": 3,
        "settings": {"rules": ["F"], "fail_on": "style", "suppressions": "justified",
                     "exclude": [], "default_rules": False},
        "tool": {"name": "ruff", "version": "0.17.6", "path": "/opt"},
    }  # fmt: skip
    (shown,) = supplier_view_of_report({"checks": [check]})["checks"]
    assert shown["findings"][0]["rule"] == "F401" and "internal" not in shown["findings"][0]
    assert shown["suppressions"][0]["justified"] is False and "raw" not in shown["suppressions"][0]
    assert shown["settings"] == {
        "rules": ["F"],
        "fail_on": "style",
        "suppressions": "justified",
        "exclude": [],
    }
    assert shown["tool"] == {"name": "ruff", "version": "0.17.6"}
    assert "unreadable_comments" not in shown and "files_checked" not in shown


def test_the_supplier_status_page_shows_the_quality_check(seeded: Service) -> None:
    url = f"/status/{seeded.ids.status_token}/runs/{seeded.ids.rejected}"
    page = html(client_for(seeded, None), url)
    assert "Code quality (linter)" in page
    assert "the loader imports it by name" in page
    assert "<code>UNJUSTIFIED_SUPPRESSION</code>" in page


def test_examples_spec_uses_quality() -> None:
    text = (
        Path(__file__).resolve().parents[2]
        / "examples"
        / "specs"
        / "contact-form"
        / "acceptance.yaml"
    ).read_text()
    assert "quality:" in text
