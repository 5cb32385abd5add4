"""What a run's commit status says: its state, context, one-line description and link.

The description is said in the submission's language (the supplier's), from the
supplier's view of the run (acceptance.service.supplier_view): a reason that would name
the owner's hidden tests is rewritten or withheld there, so it is here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from babel.support import NullTranslations

from acceptance.service.forge.interface import MAX_DESCRIPTION, CommitStatus, StatusState
from acceptance.service.models import Run, RunStatus
from acceptance.service.notifications import translations
from acceptance.service.reason_text import plain_reason, reasons_of
from acceptance.service.supplier_view import supplier_run

_VERDICT_STATES = {
    "accepted": StatusState.SUCCESS,
    "rejected": StatusState.FAILURE,
    "error": StatusState.ERROR,
}


def wanted_state(run: Run) -> StatusState:
    """The status a run calls for now: pending until it ends, then its verdict's."""
    if run.status in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
        return StatusState.PENDING
    if run.status == RunStatus.ERROR.value:
        return StatusState.ERROR
    return _VERDICT_STATES.get(run.verdict or "", StatusState.ERROR)


def context(run: Run) -> str:
    """The status's name on the forge: one per opportunity, so a commit sent to two shows two."""
    return f"acceptance/{run.submission.opportunity_id}"


def status_page(run: Run, public_url: str | None) -> str | None:
    """The supplier's status page, or None when the service's public URL is not configured."""
    return f"{public_url}/status/{run.submission.status_token}" if public_url else None


def describe(run: Run, predicate: Mapping[str, Any] | None) -> str:
    """One line of at most MAX_DESCRIPTION characters: the verdict, then the first reason."""
    t = translations(run.submission.language)
    view = supplier_run(run, predicate)
    state = wanted_state(run)
    if state == StatusState.PENDING:
        words = (
            t.gettext("Acceptance run queued")
            if run.status == RunStatus.QUEUED.value
            else (t.gettext("Acceptance run in progress"))
        )
        return _one_line(words)
    # the first reason in the supplier's language only: the engine's sentence would not fit
    reasons, told = reasons_of(view)
    if not reasons:
        return _one_line(_verdict(t, state))
    first = plain_reason(t, reasons[0], told, quote=False)
    return _one_line(
        t.gettext("%(verdict)s: %(reason)s") % {"verdict": _verdict(t, state), "reason": first}
    )


def commit_status(
    run: Run, predicate: Mapping[str, Any] | None, public_url: str | None
) -> CommitStatus | None:
    """The status to send for `run`; None while its commit is unknown (a branch not yet checked out)."""
    if not run.commit:
        return None
    return CommitStatus(
        sha=run.commit, state=wanted_state(run), context=context(run),
        description=describe(run, predicate), target_url=status_page(run, public_url),
    )  # fmt: skip


def _verdict(t: NullTranslations, state: StatusState) -> str:
    words = {
        StatusState.SUCCESS: t.gettext("Accepted by the acceptance checks"),
        StatusState.FAILURE: t.gettext("Rejected by the acceptance checks"),
        StatusState.ERROR: t.gettext("Not judged: a platform error, not the supplier's fault"),
    }
    return words[state]


#: runs of white space but the no-break spaces French puts before « : ; ! ? »
_SPACES = re.compile(r"[^\S\u00a0\u202f]+")


def _one_line(text: str) -> str:
    flat = _SPACES.sub(" ", text).strip()
    return flat if len(flat) <= MAX_DESCRIPTION else flat[: MAX_DESCRIPTION - 1] + "…"
