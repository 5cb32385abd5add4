"""The supplier's status pages in HTML: their runs and reports, never the owner's hidden tests.

Reached by the submission's unguessable status link, without an account.
The pages render only what acceptance/service/supplier_view.py lets through (the
same dicts the JSON answers carry), never a Run or a report: logs, artifacts
and the hidden tests' output and source are not in those dicts, and their
names and messages only as far as the owner's `functional.hidden_feedback` allows.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import render_template, request

from web.dashboard.reportview import report_from


def wants_html() -> bool:
    """Browsers get the page; API clients (Accept: application/json, */*, none) keep the JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def shown(view: dict[str, Any]) -> SimpleNamespace:
    """A supplier view with attribute access, for the templates and the state helpers."""
    return SimpleNamespace(**view)


def status_page(submission: dict[str, Any], runs: list[dict[str, Any]], token: str) -> str:
    """The supplier's runs, newest first."""
    return render_template(
        "dashboard/status.html",
        submission=shown(submission),
        runs=[shown(run) for run in runs],
        token=token,
    )


def status_run_page(submission: dict[str, Any], run: dict[str, Any], token: str) -> str:
    """One run's report as the supplier view has it."""
    part = run["report"]
    return render_template(
        "dashboard/status_run.html",
        submission=shown(submission),
        run=shown(run),
        token=token,
        report=report_from(part, None, None) if part is not None else None,
    )
