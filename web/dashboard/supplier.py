"""The supplier's status pages in HTML: their runs and reports, never the owner's hidden tests.

Reached by the submission's unguessable status link, without an account.
Logs and the signed report are not offered here: pytest's output and the
report's failure messages can quote the hidden tests' source.
"""

from __future__ import annotations

from flask import render_template, request

from acceptance.artifacts import ArtifactStore
from acceptance.models import Run, Submission
from web.dashboard.reportview import load_report, without_hidden_sources


def wants_html() -> bool:
    """Browsers get the page; API clients (Accept: application/json, */*, none) keep the JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def status_page(submission: Submission, runs: list[Run], token: str) -> str:
    """The supplier's runs, newest first."""
    return render_template("dashboard/status.html", submission=submission, runs=runs, token=token)


def status_run_page(
    submission: Submission,
    run: Run,
    token: str,
    store: ArtifactStore,
    keys: list[dict[str, object]],
) -> str:
    """One run's report, without what would reveal the owner's hidden tests."""
    report = load_report(store, run, keys)
    return render_template(
        "dashboard/status_run.html",
        submission=submission,
        run=run,
        token=token,
        report=without_hidden_sources(report) if report is not None else None,
    )
