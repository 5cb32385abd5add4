"""The comparison page: what changed in a run since another (the diff: acceptance.engine.compare).

The report page links here to the previous run of the same submission
(`previous_run` in templates). Refusals are said in the reader's language.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from acceptance.service.models import Run
from web.compare import NoReport, NotComparable, load_comparison, previous_run
from web.dashboard.auth import signed_in
from web.dashboard.errors import error_page, install_error_pages

comparison = Blueprint("comparison", __name__)
install_error_pages(comparison)

#: a test's outcome as the functional check records it
OUTCOME_LABELS = {
    "passed": _l("passed"),
    "failed": _l("failed"),
    "error": _l("error"),
    "skipped": _l("skipped"),
}


@comparison.get("/runs/<run_id>/compare/<other_id>")
@signed_in
def show(run_id: str, other_id: str) -> Any:
    """Run `run_id` against `other_id` (the earlier one, usually)."""
    try:
        loaded = load_comparison(g.db, g.user, run_id, other_id)
    except NotComparable as exc:
        return error_page(422, gettext("These runs cannot be compared"), _refusal(exc.kind))
    except NoReport:
        return error_page(
            409,
            gettext("Nothing to compare yet"),
            gettext("One of the runs has no signed report yet: compare them once it has finished."),
        )
    return render_template(
        "dashboard/compare.html",
        head=loaded.head,
        base=loaded.base,
        diff=loaded.comparison,
        head_verified=loaded.head_verified,
        base_verified=loaded.base_verified,
        hidden_ids=loaded.hidden_ids,
        OUTCOME_LABELS=OUTCOME_LABELS,
    )


def _refusal(kind: str) -> str:
    if kind == "same_run":
        return str(gettext("A run is compared with itself: choose another run of the submission."))
    return str(gettext(
        "The runs belong to different opportunities: compare runs of the same submission "
        "(or at least of the same opportunity)."
    ))  # fmt: skip


@comparison.app_template_global("previous_run")
def previous_run_of(run: Run) -> Run | None:
    """The submission's run before `run` that has a report, to compare with; None when none."""
    return previous_run(g.db, run) if run.report_sha256 else None
