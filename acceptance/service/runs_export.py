"""Runs and their decisions as CSV, for an owner's records.

One row per decision on a run (newest first), or one row with empty decision
columns for a run nobody decided on; `decision_in_force` marks the decision
that counts. Cells a spreadsheet would read as a formula (starting with =, +,
-, @, a tab or a carriage return) are prefixed with a quote, as OWASP advises
against CSV injection: supplier names, refs and reasons are written by others.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from acceptance.service.decisions import StateOfSubmission, submission_state
from acceptance.service.models import Decision, Run

#: more matching runs than this: narrow the filters (the export is built in memory)
MAX_EXPORT_RUNS = 10_000
COLUMNS = (
    "run_id", "queued_at", "finished_at", "opportunity_id", "opportunity", "submission_id",
    "supplier", "repository", "ref", "commit", "spec_version", "status", "verdict",
    "reason_codes", "report_sha256", "submission_state", "accepted_delivery", "decision_id",
    "decision", "decision_in_force", "override", "decided_by", "decided_at", "reason",
    "decision_sha256",
    # last, so every earlier column keeps its place: the runtime that judged the run, and
    # how it was chosen (`spec` or `detected`); empty for runs judged before the summary kept it
    "runtime", "runtime_source",
)  # fmt: skip
#: the decision's columns, between the run's and the runtime's
_DECISION_COLUMNS = 8
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """`value` as a CSV cell no spreadsheet runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def export_rows(session: Session, runs: Sequence[Run]) -> list[list[object]]:
    """The rows of `runs` (already filtered to what the reader may see), in their order."""
    decisions = _decisions_by_run(session, [r.id for r in runs])
    states: dict[str, StateOfSubmission] = {}
    rows: list[list[object]] = []
    for run in runs:
        if run.submission_id not in states:
            states[run.submission_id] = submission_state(session, run.submission)
        standing = states[run.submission_id]
        base = _run_cells(run, standing)
        summary = run.summary if isinstance(run.summary, dict) else {}
        runtime = [summary.get("runtime"), summary.get("runtime_source")]
        made = decisions.get(run.id, [])
        if not made:
            rows.append(base + [None] * _DECISION_COLUMNS + runtime)
        for index, decision in enumerate(made):
            rows.append(base + _decision_cells(decision, in_force=index == 0) + runtime)
    return rows


def to_csv(rows: Iterable[Sequence[object]]) -> str:
    """The header and rows as CSV text (RFC 4180 quoting, CRLF line ends), every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


def _decisions_by_run(session: Session, run_ids: list[str]) -> dict[str, list[Decision]]:
    found: dict[str, list[Decision]] = {}
    for start in range(0, len(run_ids), 500):  # bounded IN lists
        query = (
            select(Decision)
            .where(Decision.run_id.in_(run_ids[start : start + 500]))
            .order_by(Decision.decided_at.desc(), Decision.id.desc())
        )
        for decision in session.scalars(query):
            found.setdefault(decision.run_id, []).append(decision)
    return found


def _run_cells(run: Run, standing: StateOfSubmission) -> list[object]:
    submission = run.submission
    return [
        run.id, run.queued_at, run.finished_at, submission.opportunity_id,
        submission.opportunity.title, submission.id, submission.supplier, submission.repo_url,
        run.ref, run.commit, run.spec_version.version, run.status, run.verdict,
        " ".join(str(code) for code in run.reason_codes or []), run.report_sha256,
        standing.state.value,
        standing.accepted_run_id == run.id,
    ]  # fmt: skip


def _decision_cells(decision: Decision, *, in_force: bool) -> list[object]:
    return [
        decision.id, decision.decision, in_force, decision.override, decision.person.email,
        decision.decided_at, decision.reason, decision.envelope_sha256,
    ]  # fmt: skip
