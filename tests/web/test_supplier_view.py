"""The supplier's view: only allow-listed fields, and nothing of the owner's hidden tests but counts.

A canary is planted in every part of a run the supplier must not see (hidden
test ids, messages, results, logs, artifacts, the spec, fields the view does
not know); it must appear nowhere in what the view returns or the status
routes answer, while the supplier's own failing test and its message do.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from markupsafe import escape

from acceptance.engine.keyring import ensure_signing_key
from acceptance.engine.report import Reason, ReportInput, build_statement, serialize
from acceptance.engine.signing import keyid_for, sign_envelope
from acceptance.service.hidden_redaction import HIDDEN_TEST, WITHHELD
from acceptance.service.models import Run, RunStatus, SpecVersion, Submission
from acceptance.service.runs import create_run
from acceptance.service.supplier_view import supplier_run, supplier_view_of_report
from checks.interface import CheckResult, CheckStatus
from tests.dashboard_support import COMMIT, REVIEWER, Service, client_for

ROOT = Path(__file__).resolve().parents[2]
CANARY = "CANARY-5e1f0c9a"
HIDDEN = "acceptance_hidden_tests/test_owner.py"
HIDDEN_FAILING = f"{HIDDEN}::test_rejects[{CANARY}-blank]"
HIDDEN_ERROR = f"{HIDDEN}::test_errors[{CANARY}]"
HIDDEN_RUNNING = f"{HIDDEN}::test_slow[{CANARY}-slow]"
HIDDEN_MISSING = f"{HIDDEN}::test_{CANARY}_never_ran"
HIDDEN_EXTRA = f"{HIDDEN}::test_forged_{CANARY}"
HIDDEN_MESSAGE = f"AssertionError: assert post('/contact', email='') == {CANARY} answer"
OWN_TEST = "tests/test_form.py::test_submits"
OWN_MESSAGE = "AssertionError: expected 200, got 500 from the supplier's own form"
SUMMARY = (
    "1 passed, 1 failed, 0 errors, 0 skipped: 1 test(s) failed or errored; hidden tests: "
    "1 passed, 1 failed, 1 errors: the hidden tests did not finish within 60 s; "
    f"{HIDDEN_RUNNING} was running"
)
#: a sentence quoting a hidden test's message: no engine sentence should, the view makes sure
QUOTING = f"install: the build printed {HIDDEN_MESSAGE}"


def functional_details() -> dict[str, Any]:
    """The functional check's evidence as the engine writes it, hidden part full of canaries."""
    return {
        "tests": {"passed": 2, "failed": 2, "errors": 1, "skipped": 0},
        "own_tests": {"passed": 1, "failed": 1, "errors": 0, "skipped": 0},
        "failing_tests": [OWN_TEST],
        "failures": [{"id": OWN_TEST, "message": OWN_MESSAGE}],
        "results": [
            {"id": OWN_TEST, "outcome": "failed", "duration": 0.1},
            {"id": "tests/test_form.py::test_renders", "outcome": "passed", "duration": 0.1},
        ],
        "results_truncated": False,
        "exit_code": 1,
        "hidden_tests": 3,
        "hidden": {
            "tests": {"passed": 1, "failed": 1, "errors": 1, "skipped": 0},
            "expected": 4,
            "failing_tests": [HIDDEN_FAILING, HIDDEN_ERROR],
            "failures": [
                {"id": HIDDEN_FAILING, "message": HIDDEN_MESSAGE},
                {"id": HIDDEN_ERROR, "message": f"ImportError: {CANARY}"},
            ],
            "results": [
                {"id": f"{HIDDEN}::test_passes[{CANARY}]", "outcome": "passed", "duration": 0.2},
                {"id": HIDDEN_FAILING, "outcome": "failed", "duration": 0.3},
                {"id": HIDDEN_ERROR, "outcome": "error", "duration": 0.0},
            ],
            "missing": [HIDDEN_MISSING],
            "unexpected": [HIDDEN_EXTRA],
            "skipped_tests": [],
            "running_test": HIDDEN_RUNNING,
            "integrity": f"the results file lists {HIDDEN_EXTRA} as passed",
            "exit_code": 1,
        },
    }


def functional_check() -> CheckResult:
    return CheckResult(
        "functional",
        "functional",
        CheckStatus.FAILED,
        SUMMARY,
        "TESTS_FAILED",
        functional_details(),
    )


def other_checks() -> list[CheckResult]:
    """The other checks, each with a field the view does not know carrying the canary."""
    finding = {"test_id": "B102", "test_name": "exec_used", "severity": "medium",
               "confidence": "high", "filename": "app/views.py", "line": 42,
               "text": "Use of exec detected", "cwe": "CWE-78", "blocking": False,
               "suppressed": False, "code": CANARY}  # fmt: skip
    vulnerability = {"package": "jinja2", "version": "3.1.2", "id": "GHSA-h5c8-rqwp-cp95",
                     "aliases": ["CVE-2024-22195"], "fix_versions": ["3.1.3"], "ignored": True,
                     "description": CANARY}  # fmt: skip
    return [
        CheckResult(
            "sast",
            "sast",
            CheckStatus.PASSED,
            "no blocking findings",
            None,
            {"findings": [finding], "findings_truncated": False, "raw": CANARY},
        ),
        CheckResult(
            "dependencies",
            "dependencies",
            CheckStatus.PASSED,
            "1 ignored vulnerability",
            None,
            {"vulnerabilities": [vulnerability], "audited": 3, "sbom": CANARY},
        ),
        CheckResult(
            "licence",
            "licence",
            CheckStatus.PASSED,
            "licensed MIT (from LICENSE)",
            None,
            {
                "licence": {
                    "spdx": "MIT",
                    "source_file": "LICENSE",
                    "allowed": True,
                    "text": CANARY,
                },
                "evidence": [
                    {
                        "source": "LICENSE",
                        "kind": "file",
                        "matched": "MIT",
                        "score": 100.0,
                        "problem": None,
                        "excerpt": CANARY,
                    }
                ],
                "dependencies": [
                    {
                        "name": "flask",
                        "version": "3.0.0",
                        "licence": "BSD-3-Clause",
                        "compatible": True,
                        "classifiers": [CANARY],
                    }
                ],
            },
        ),
    ]


def statement(
    run_id: str, submission_id: str, feedback: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A report whose every part the supplier must not see carries the canary.

    `feedback` adds to the report's spec section (`hidden_feedback`, `hidden_test_ids`).
    """
    started = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)
    report = ReportInput(
        source_url="https://github.com/example/contact-form",
        ref="main",
        spec={"version": 1, "functional": {"hidden_tests": f"hidden-{CANARY}"}, **(feedback or {})},
        started=started,
        commit=COMMIT,
        finished=started + dt.timedelta(seconds=90),
        environment={"image": "acceptance-sandbox:test", "hidden": CANARY},
        limits={"note": CANARY},
        install={"log": CANARY},
        stages=[
            {"name": "functional", "seconds": 3.5, "status": "ok"},
            {"name": "hidden-tests", "seconds": 2.5, "status": "failed", "detail": CANARY},
        ],
        checks=[functional_check(), *other_checks()],
        reasons=[Reason("TESTS_FAILED", QUOTING)],
        artifacts={"hidden-junit.xml": {"sha256": "0" * 64, "size": 1, "name": CANARY}},
        run={"id": run_id, "submission": submission_id},
    )
    return build_statement(report)


def make_run(predicate: dict[str, Any]) -> Run:
    """A run record as the worker leaves it, with canaries where the supplier must not look."""
    submission = Submission(id="sub1", opportunity_id="opp1", supplier="Supplier Ltd",
                            repo_url="https://github.com/example/contact-form")  # fmt: skip
    spec = SpecVersion(id="spec1", opportunity_id="opp1", version=2, spec_sha256="a" * 64)
    return Run(
        id="run1", submission_id="sub1", submission=submission, spec_version=spec,
        trigger="webhook", ref="main", commit=COMMIT, commit_message="Fix the form",
        status=RunStatus.FINISHED.value, verdict=predicate["verdict"],
        reason_codes=predicate["reason_codes"], reasons=predicate["reasons"],
        stages=[*predicate["stages"], {"name": "sign", "seconds": 0.1, "status": "ok"}],
        queued_at=dt.datetime(2025, 5, 1, 11, 59, tzinfo=dt.UTC),
        started_at=dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC),
        finished_at=dt.datetime(2025, 5, 1, 12, 2, tzinfo=dt.UTC),
        attempts=1, error=None, key_id="key1", report_sha256="b" * 64,
        artifacts={"logs/hidden-tests.log": CANARY, "hidden-junit.xml": CANARY,
                   f"logs/{CANARY}.log": "c" * 64},
        summary={
            "checks": [{"id": c["id"], "status": c["status"], "summary": c["summary"], "x": CANARY}
                       for c in predicate["checks"]],
            "environment": {"image": CANARY},
        },
    )  # fmt: skip


def reveals(view: object) -> list[str]:
    """What in `view` would give away the hidden tests (empty when nothing does)."""
    text = json.dumps(view, ensure_ascii=False)
    return [word for word in (CANARY, "acceptance_hidden_tests", "test_owner") if word in text]


def keys_of(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_of(item)


@pytest.fixture
def predicate() -> dict[str, Any]:
    return statement("run1", "sub1")["predicate"]


# ---------------------------------------------------------------- the view function


def test_the_canary_in_hidden_tests_logs_and_artifacts_reaches_no_field(
    predicate: dict[str, Any],
) -> None:
    # The canary really is in the run and its report: the test would catch a leak.
    assert CANARY in json.dumps(predicate) and CANARY in json.dumps(make_run(predicate).artifacts)
    for view in (supplier_run(make_run(predicate), predicate), supplier_run(make_run(predicate))):
        assert reveals(view) == []
    whole = statement("run1", "sub1")
    assert supplier_view_of_report(whole) == supplier_view_of_report(whole["predicate"])
    assert reveals(supplier_view_of_report(whole)) == []
    assert supplier_view_of_report(whole) == supplier_run(make_run(predicate), predicate)["report"]


def test_the_supplier_sees_their_own_failing_test_and_hidden_tests_as_counts(
    predicate: dict[str, Any],
) -> None:
    view = supplier_run(make_run(predicate), predicate)
    assert view["report"] is not None
    functional = view["report"]["checks"][0]
    assert functional["failing_tests"] == [OWN_TEST]
    assert functional["failures"] == [{"id": OWN_TEST, "message": OWN_MESSAGE}]
    assert functional["tests"] == {"passed": 1, "failed": 1, "errors": 0, "skipped": 0}
    assert functional["hidden"] == {
        "tests": {"passed": 1, "failed": 1, "errors": 1, "skipped": 0},
        "expected": 4,
        "missing": 1,
        "unexpected": 1,
        "partial": False,
        # The report does not record the owner's hidden_feedback: counts only, as it was made.
        "feedback": "none",
        "failing_tests": [],
        "missing_tests": [],
        "failures": [],
    }
    assert functional["running_test"] is None  # the hidden test that was running is not named


def test_engine_sentences_keep_their_counts_and_lose_hidden_names(
    predicate: dict[str, Any],
) -> None:
    view = supplier_run(make_run(predicate), predicate)
    assert view["report"] is not None
    summary = view["report"]["checks"][0]["summary"]
    assert summary.startswith("1 passed, 1 failed, 0 errors, 0 skipped")
    assert summary.endswith(f"; {HIDDEN_TEST} was running")
    assert view["report"]["reasons"] == [WITHHELD, f"functional: {summary}"]
    assert view["reasons"] == view["report"]["reasons"]
    # The list does not open reports, so it leaves out the sentences it cannot check.
    listed = supplier_run(make_run(predicate))
    assert listed["report"] is None and listed["reasons"] is None
    assert listed["checks"][0] == {"id": "functional", "status": "failed", "summary": None}
    # A run with no report (an error before signing) keeps them, checked for the hidden folder.
    unsigned = make_run(predicate)
    unsigned.report_sha256, unsigned.error = None, f"crashed on {HIDDEN_FAILING}"
    assert supplier_run(unsigned)["error"] == WITHHELD
    assert supplier_run(unsigned)["checks"][0]["summary"] == WITHHELD


def test_an_own_message_that_quotes_a_hidden_test_is_withheld(predicate: dict[str, Any]) -> None:
    functional = predicate["checks"][0]
    functional["failures"] = [{"id": OWN_TEST, "message": f"I read this: {HIDDEN_MESSAGE}"}]
    run = make_run(predicate)
    run.error = f"the hidden stage crashed on {HIDDEN_FAILING}"
    view = supplier_run(run, predicate)
    assert view["report"] is not None
    assert view["report"]["checks"][0]["failures"] == [{"id": OWN_TEST, "message": WITHHELD}]
    assert view["error"] == f"the hidden stage crashed on {HIDDEN_TEST}"
    assert reveals(view) == []


def test_older_reports_that_mixed_hidden_tests_into_the_lists_show_them_as_counts() -> None:
    predicate = statement("run1", "sub1")["predicate"]
    functional = predicate["checks"][0]
    hidden = functional.pop("hidden")
    functional["failing_tests"] += hidden["failing_tests"]
    functional["failures"] += hidden["failures"]
    functional["results"] += hidden["results"]
    functional["tests"] = {"passed": 2, "failed": 2, "errors": 1, "skipped": 0}
    functional["summary"] = "2 passed, 2 failed, 1 errors, 0 skipped: 3 test(s) failed or errored"
    view = supplier_run(make_run(predicate), predicate)
    assert view["report"] is not None
    shown = view["report"]["checks"][0]
    assert shown["failing_tests"] == [OWN_TEST]
    assert shown["tests"] == {"passed": 1, "failed": 1, "errors": 0, "skipped": 0}
    assert shown["hidden"]["tests"] == {"passed": 1, "failed": 1, "errors": 1, "skipped": 0}
    assert reveals(view) == []


def test_every_field_the_view_keeps_is_documented(predicate: dict[str, Any]) -> None:
    docs = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    section = docs.split("## What the supplier sees", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z0-9_]+)`", section))
    view = supplier_run(make_run(predicate), predicate)
    assert {"findings", "vulnerabilities", "evidence", "dependencies"} <= set(keys_of(view))
    assert sorted(set(keys_of(view)) - documented) == []


# ---------------------------------------------------------------- through the status routes


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Service:
    return Service(tmp_path_factory.mktemp("supplier-view") / "data")


@pytest.fixture
def canary_run(seeded: Service) -> str:
    """A finished run of the seeded submission whose report, logs and artifacts carry the canary."""
    return store_run(seeded, statement)


def store_run(service: Service, make_statement: Callable[[str, str], dict[str, Any]]) -> str:
    """A finished run of the seeded submission, signed, its report made by `make_statement`."""
    with service.db.session() as session:
        submission = session.get(Submission, service.ids.submission)
        assert submission is not None
        run, _ = create_run(session, submission, trigger="webhook", ref="main", commit=COMMIT,
                            commit_message="Fix the form", delivery_id=f"canary-{dt.datetime.now()}")  # fmt: skip
        signed = make_statement(run.id, submission.id)
        key = ensure_signing_key(service.settings)
        envelope = sign_envelope(serialize(signed), key)
        store = service.store
        keys = {
            "junit.xml": store.put(b"<testsuites/>"),
            "hidden-junit.xml": store.put(f"<testsuites name='{CANARY}'/>".encode()),
            "logs/functional.log": store.put(b"1 failed, 1 passed\n"),
            "logs/hidden-tests.log": store.put(f"{HIDDEN_FAILING} FAILED\n{CANARY}\n".encode()),
            "report.dsse.json": store.put(json.dumps(envelope).encode()),
        }
        predicate = signed["predicate"]
        run.status, run.verdict = RunStatus.FINISHED.value, predicate["verdict"]
        run.reason_codes, run.reasons = predicate["reason_codes"], predicate["reasons"]
        run.stages, run.artifacts = predicate["stages"], keys
        run.finished_at = run.queued_at + dt.timedelta(seconds=100)
        run.report_sha256, run.key_id = keys["report.dsse.json"], keyid_for(key.public_key())
        run.summary = {"checks": [{"id": c["id"], "status": c["status"], "summary": c["summary"]}
                                  for c in predicate["checks"]]}  # fmt: skip
        return run.id


def answers(client: FlaskClient, url: str) -> tuple[str, dict[str, Any]]:
    """The page a browser gets and the JSON a client gets at `url`."""
    page = client.get(url, headers={"Accept": "text/html"})
    data = client.get(url, headers={"Accept": "application/json"})
    assert page.status_code == data.status_code == 200, url
    assert page.mimetype == "text/html" and data.mimetype == "application/json"
    payload = data.get_json()
    assert isinstance(payload, dict)
    return page.get_data(as_text=True), payload


def test_the_status_routes_never_answer_the_canary(seeded: Service, canary_run: str) -> None:
    client = seeded.app.test_client()
    token = seeded.ids.status_token
    listing, runs = answers(client, f"/status/{token}")
    page, report = answers(client, f"/status/{token}/runs/{canary_run}")
    live = client.get(f"/status/{token}/live?id={canary_run}").get_data(as_text=True)
    for text in (listing, page, json.dumps(runs), json.dumps(report), live):
        assert CANARY not in text and "acceptance_hidden_tests" not in text
    # The supplier's own failing test and its message are there, the hidden ones as counts.
    assert OWN_TEST in page and "expected 200, got 500" in page
    assert "The owner's hidden tests" in page and f"{HIDDEN_TEST} was running" in page
    assert canary_run in [r["id"] for r in runs["runs"]]
    assert all("artifacts" not in r and "report_url" not in r for r in runs["runs"])
    functional = report["report"]["checks"][0]
    assert functional["failures"] == [{"id": OWN_TEST, "message": OWN_MESSAGE}]
    assert functional["hidden"]["tests"] == {"passed": 1, "failed": 1, "errors": 1, "skipped": 0}
    assert report["reasons"][0] == WITHHELD


def test_a_withheld_sentence_reads_in_french(seeded: Service, canary_run: str) -> None:
    client = seeded.app.test_client()
    client.set_cookie("acceptance_lang", "fr")
    reply = client.get(f"/status/{seeded.ids.status_token}/runs/{canary_run}",
                       headers={"Accept": "text/html"})  # fmt: skip
    page = reply.get_data(as_text=True)
    assert "masqué\u00a0: cette phrase révélerait les tests cachés du propriétaire" in page
    assert "Tests cachés du propriétaire" in page and CANARY not in page


def test_the_owners_page_still_shows_the_hidden_tests_in_full(
    seeded: Service, canary_run: str
) -> None:
    page = client_for(seeded, REVIEWER).get(f"/runs/{canary_run}").get_data(as_text=True)
    assert "The owner's hidden tests" in page and "Only counts are shown" not in page
    for shown in (HIDDEN_FAILING, HIDDEN_MISSING, HIDDEN_EXTRA, f"{CANARY} answer"):
        assert escape(shown) in page, shown


# ---------------------------------------------------------------- the owner's hidden_feedback

#: the hidden tests' inventory, as the engine reads it from the owner's files
INVENTORY = [
    f"{HIDDEN}::{name}"
    for name in ("test_errors", "test_never_ran", "test_passes", "test_rejects", "test_slow")
]
#: a "hidden test" the run reported that the owner never wrote, named after what it read
FORGED = f"{HIDDEN}::test_source_{CANARY}"
REJECTS, ERRORS, NEVER_RAN = (
    "test_owner.py::test_rejects",
    "test_owner.py::test_errors",
    "test_owner.py::test_never_ran",
)


def feedback_statement(
    level: str | None, inventory: list[str] | None = INVENTORY
) -> Callable[[str, str], dict[str, Any]]:
    """Reports recording the owner's `hidden_feedback` (None: not recorded) and inventory.

    The hidden block also lists a second failing parametrization of `test_rejects`, a
    test that did not run (in the inventory) and a failure of a test the owner did not
    write whose name and message carry the canary, as a supplier's code could forge them.
    """

    def make(run_id: str, submission_id: str) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if level is not None:
            extra["hidden_feedback"] = level
        if inventory is not None:
            extra["hidden_test_ids"] = inventory
        signed = statement(run_id, submission_id, extra)
        hidden = signed["predicate"]["checks"][0]["hidden"]
        hidden["missing"] = [f"{HIDDEN}::test_never_ran"]
        hidden["failing_tests"] += [f"{HIDDEN}::test_rejects[second]", FORGED]
        hidden["failures"] += [
            {"id": f"{HIDDEN}::test_rejects[second]", "message": "AssertionError: second"},
            {"id": FORGED, "message": f"def test_owner(): {CANARY}"},
        ]
        return signed

    return make


def feedback_report(level: str | None, inventory: list[str] | None = INVENTORY) -> dict[str, Any]:
    """The supplier's view of such a report, and its functional check's `hidden` part."""
    view = supplier_view_of_report(feedback_statement(level, inventory)("run1", "sub1"))
    return view


def hidden_part(view: dict[str, Any]) -> dict[str, Any]:
    functional = view["checks"][0]
    assert functional["kind"] == "functional"
    hidden = functional["hidden"]
    assert isinstance(hidden, dict)
    return hidden


@pytest.mark.parametrize("level", [None, "none", "everything", "NAMES", 3])
def test_without_a_recorded_setting_hidden_tests_stay_counts_only(level: Any) -> None:
    view = feedback_report(level)
    hidden = hidden_part(view)
    assert hidden["tests"] == {"passed": 1, "failed": 1, "errors": 1, "skipped": 0}
    assert hidden["feedback"] == "none"
    assert (hidden["failing_tests"], hidden["missing_tests"], hidden["failures"]) == ([], [], [])
    # Neither the canary in the messages nor the names of the owner's tests.
    assert reveals(view) == []


def test_names_show_the_failing_and_missing_hidden_tests_but_no_message() -> None:
    view = feedback_report("names")
    hidden = hidden_part(view)
    assert hidden["feedback"] == "names"
    # Once per test, without parametrization; the forged name is not in the inventory.
    assert hidden["failing_tests"] == [REJECTS, ERRORS]
    assert hidden["missing_tests"] == [NEVER_RAN]
    assert hidden["failures"] == []
    text = json.dumps(view, ensure_ascii=False)
    assert CANARY not in text and "acceptance_hidden_tests" not in text
    assert "AssertionError: second" not in text


def test_messages_show_the_failing_hidden_tests_messages_too() -> None:
    view = feedback_report("messages")
    hidden = hidden_part(view)
    assert hidden["feedback"] == "messages"
    assert hidden["failing_tests"] == [REJECTS, ERRORS]
    assert hidden["missing_tests"] == [NEVER_RAN]
    # The first message of each test; the forged test's message (the canary "source") is not there.
    assert hidden["failures"] == [
        {"id": REJECTS, "message": HIDDEN_MESSAGE},
        {"id": ERRORS, "message": f"ImportError: {CANARY}"},
    ]
    hidden["failures"] = []
    text = json.dumps(view, ensure_ascii=False)
    assert CANARY not in text and "acceptance_hidden_tests" not in text


def test_without_an_inventory_only_the_tests_that_did_not_run_are_named() -> None:
    # A failing name can be checked only against the inventory; missing ones come from it.
    hidden = hidden_part(feedback_report("messages", inventory=None))
    assert hidden["failing_tests"] == [] and hidden["failures"] == []
    assert hidden["missing_tests"] == [NEVER_RAN]


def test_a_missing_name_outside_the_inventory_is_not_shown() -> None:
    make = feedback_statement("names", inventory=INVENTORY[:1])
    hidden = hidden_part(supplier_view_of_report(make("run1", "sub1")))
    assert hidden["missing_tests"] == [] and hidden["failing_tests"] == [ERRORS]


def test_a_hidden_message_is_cut_to_an_assertions_length() -> None:
    signed = feedback_statement("messages")("run1", "sub1")
    failure = signed["predicate"]["checks"][0]["hidden"]["failures"][0]
    failure["message"] = "\n".join(f"line {n} " + "x" * 200 for n in range(100))
    hidden = hidden_part(supplier_view_of_report(signed))
    message = hidden["failures"][0]["message"]
    assert len(message) == 1000 and message.startswith("line 0 ")
    short_lines = feedback_statement("messages")("run1", "sub1")
    failure = short_lines["predicate"]["checks"][0]["hidden"]["failures"][0]
    failure["message"] = "\n".join(f"line {n}" for n in range(100))
    message = hidden_part(supplier_view_of_report(short_lines))["failures"][0]["message"]
    assert message.splitlines()[-1] == "line 11"


def test_the_status_page_names_failing_hidden_tests_with_names(seeded: Service) -> None:
    run_id = store_run(seeded, feedback_statement("names"))
    client = seeded.app.test_client()
    page, data = answers(client, f"/status/{seeded.ids.status_token}/runs/{run_id}")
    for text in (page, json.dumps(data)):
        assert CANARY not in text and "acceptance_hidden_tests" not in text
    assert REJECTS in page and ERRORS in page and NEVER_RAN in page
    assert "The owner shows the names of hidden tests that failed or did not run;" in page
    assert hidden_part(data["report"])["failing_tests"] == [REJECTS, ERRORS]
    client.set_cookie("acceptance_lang", "fr")
    french = client.get(f"/status/{seeded.ids.status_token}/runs/{run_id}",
                        headers={"Accept": "text/html"}).get_data(as_text=True)  # fmt: skip
    assert "Le propriétaire affiche le nom des tests cachés en échec" in french
    assert REJECTS in french and CANARY not in french


def test_the_status_page_shows_hidden_messages_with_messages(seeded: Service) -> None:
    run_id = store_run(seeded, feedback_statement("messages"))
    client = seeded.app.test_client()
    page, data = answers(client, f"/status/{seeded.ids.status_token}/runs/{run_id}")
    assert escape(HIDDEN_MESSAGE) in page and REJECTS in page
    assert "and the failure messages of those that failed" in page
    assert f"def test_owner(): {CANARY}" not in page and FORGED not in page
    assert hidden_part(data["report"])["failures"][0] == {"id": REJECTS, "message": HIDDEN_MESSAGE}


def test_the_status_page_shows_counts_only_with_none(seeded: Service) -> None:
    run_id = store_run(seeded, feedback_statement("none"))
    url = f"/status/{seeded.ids.status_token}/runs/{run_id}"
    page, data = answers(seeded.app.test_client(), url)
    for text in (page, json.dumps(data)):
        assert CANARY not in text and "test_owner" not in text
    assert "Only counts are shown" in page
