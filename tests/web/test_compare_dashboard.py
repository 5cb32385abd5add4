"""The comparison page in English and French: linked from the report page to the previous run of
the submission, what changed (tests, findings, vulnerabilities, licences), hidden test names for
owners only, supplier text inert, refusals in the reader's language."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from acceptance.engine.keyring import ensure_signing_key
from acceptance.engine.report import PREDICATE_TYPE, STATEMENT_TYPE, serialize
from acceptance.engine.signing import keyid_for, sign_envelope
from acceptance.service.models import Run, RunStatus, Submission
from acceptance.service.runs import create_run
from tests.dashboard_support import ADMIN, OWNER, REVIEWER, XSS_TEST, Service, client_for, html
from tests.service.test_compare import (
    dependencies,
    finding,
    functional,
    licence,
    predicate,
    sast,
    vuln,
)

HIDDEN = "acceptance_hidden_tests/test_owner.py::test_hidden_name"
BEFORE = predicate(
    "accepted",
    functional({"tests/test_a.py::test_a": "passed", XSS_TEST: "passed"}, hidden={HIDDEN: "passed"}),
    sast(finding("B602", "run.py", 4, "subprocess call with shell=True", "HIGH")),
    dependencies(vuln("requests", "2.0", "GHSA-old")),
    licence("MIT", {"six": ("1.0", "MIT")}),
)  # fmt: skip
AFTER = predicate(
    "rejected",
    functional({"tests/test_a.py::test_a": "failed", XSS_TEST: "failed", "tests/test_b.py::test_b": "passed"},
               hidden={HIDDEN: "failed"}),
    sast(finding("B303", "app/<b>x</b>.py", 7, "Use of insecure <svg onload=alert(1)> MD5", "MEDIUM")),
    dependencies(vuln("urllib3", "1.0", "PYSEC-new")),
    licence("GPL-3.0-only", {"six": ("1.1", "GPL-2.0")}),
)  # fmt: skip


def add_compared_runs(service: Service) -> tuple[str, str]:
    """Two more finished runs of the seeded submission, after the seeded ones: (earlier, later)."""
    key = ensure_signing_key(service.settings)
    made = []
    with service.db.session() as session:
        submission = session.get(Submission, service.ids.submission)
        assert submission is not None
        start = dt.datetime.now(dt.UTC)
        for hours, body in ((1, BEFORE), (2, AFTER)):
            run, _ = create_run(
                session, submission, trigger="webhook", ref="main", commit=f"{hours}" * 40
            )
            run.queued_at = start + dt.timedelta(hours=hours)
            run.status, run.verdict = RunStatus.FINISHED.value, body["verdict"]
            statement = _statement(run, body)
            run.report_sha256 = service.store.put(
                json.dumps(sign_envelope(serialize(statement), key)).encode()
            )
            run.key_id = keyid_for(key.public_key())
            session.flush()
            made.append(run.id)
    return made[0], made[1]


def _statement(run: Run, body: dict[str, Any]) -> dict[str, Any]:
    subject = {
        "name": "https://github.com/example/contact-form",
        "digest": {"gitCommit": run.commit},
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": body,
    }


def test_the_report_page_links_to_the_comparison_with_the_previous_run(service: Service) -> None:
    ids = service.ids
    page = html(client_for(service, OWNER), f"/runs/{ids.rejected}")
    assert f'href="/runs/{ids.rejected}/compare/{ids.accepted}"' in page
    assert "Compare with the previous run of this submission" in page
    french = html(client_for(service, OWNER, "fr"), f"/runs/{ids.rejected}")
    assert "Comparer avec l’exécution précédente de cette soumission" in french
    first = html(client_for(service, OWNER), f"/runs/{ids.accepted}")
    assert "/compare/" not in first  # the first run has nothing before it
    # A run that ended without a report (error) is skipped: the next one compares with the rejected.
    earlier, later = add_compared_runs(service)
    assert f'href="/runs/{earlier}/compare/{ids.rejected}"' in html(
        client_for(service, OWNER), f"/runs/{earlier}"
    )
    assert f'href="/runs/{later}/compare/{earlier}"' in html(
        client_for(service, OWNER), f"/runs/{later}"
    )


def test_the_comparison_page_says_what_changed_in_english(service: Service) -> None:
    earlier, later = add_compared_runs(service)
    page = html(client_for(service, OWNER), f"/runs/{later}/compare/{earlier}")
    assert "Comparison of two runs" in page and "Changed: Accepted before, Rejected now." in page
    assert (
        "Newly failing" in page
        and "tests/test_a.py::test_a" in page
        and "Passed, now Failed" not in page
    )
    assert "(passed, now failed)" in page and "tests/test_b.py::test_b" in page
    assert HIDDEN in page  # the owner sees the hidden tests' names
    assert "New findings" in page and "B303" in page and "Fixed findings" in page and "B602" in page
    assert "urllib3" in page and "PYSEC-new" in page and "GHSA-old" in page
    assert "The project's licence changed: MIT before, GPL-3.0-only now." in page
    # Supplier text is inert.
    assert "<svg onload" not in page and "<b>x</b>" not in page and "<img src=x" not in page


def test_the_comparison_page_in_french(service: Service) -> None:
    earlier, later = add_compared_runs(service)
    page = html(client_for(service, OWNER, "fr"), f"/runs/{later}/compare/{earlier}")
    assert 'lang="fr"' in page and "Comparaison de deux exécutions" in page
    assert "Changé\u00a0: Acceptée auparavant, Rejetée désormais." in page
    assert "Nouveaux échecs" in page and "(réussi, désormais échoué)" in page
    assert "Nouveaux constats" in page and "Vulnérabilités corrigées" in page
    assert "La licence du projet a changé\u00a0: MIT auparavant, GPL-3.0-only désormais." in page
    for english in ("Newly failing", "New findings", "Comparison of two runs", "The project"):
        assert english not in page


def test_reviewers_see_the_hidden_tests_counted_not_named(service: Service) -> None:
    earlier, later = add_compared_runs(service)
    page = html(client_for(service, REVIEWER), f"/runs/{later}/compare/{earlier}")
    assert HIDDEN not in page and "test_hidden_name" not in page
    assert "Newly failing: 1; newly passing: 0; added: 0; removed: 0." in page
    assert "tests/test_a.py::test_a" in page  # the supplier's own tests are named


def test_refusals_are_pages_in_the_readers_language(service: Service) -> None:
    ids = service.ids
    french = html(
        client_for(service, ADMIN, "fr"),
        f"/runs/{ids.other_run}/compare/{ids.accepted}",
        status=422,
    )
    assert (
        "Ces exécutions ne peuvent pas être comparées" in french
        and "occasions différentes" in french
    )
    itself = html(
        client_for(service, OWNER), f"/runs/{ids.accepted}/compare/{ids.accepted}", status=422
    )
    assert "A run is compared with itself" in itself
    pending = html(
        client_for(service, OWNER, "fr"), f"/runs/{ids.running}/compare/{ids.accepted}", status=409
    )
    assert "Rien à comparer pour l’instant" in pending
    html(client_for(service, OWNER), f"/runs/{ids.other_run}/compare/{ids.accepted}", status=404)
