"""A run's reasons and runtime on a page, in the reader's language.

The engine's reasons are English sentences (signed, never rewritten). Readers in
another language get each one said first from the report's fields
(acceptance/service/reason_text.py: one sentence per reason code, the check's facts
from summaries.py), then the engine's sentence, marked lang="en", which alone
quotes the supplier's text. English readers get the engine's sentence alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import get_translations, gettext, lazy_gettext

from acceptance.reasons import REASONS
from acceptance.service.reason_text import (
    RUNTIME_NAMES,
    ReasonLine,
    continued,
    reason_lines,
    reason_sentence,
    runtime_facts,
)
from acceptance.service.report_values import as_dict, as_list
from web.dashboard.i18n import CHECK_LABELS, current_language, label
from web.dashboard.report_model import Check, Report
from web.dashboard.summaries import check_summary

#: how the runtime was chosen (the report's `runtime_source`)
RUNTIME_SOURCE_LABELS = {
    "spec": lazy_gettext("named by the specification"),
    "detected": lazy_gettext("detected from the repository's files"),
}
#: the same, short, for lists
RUNTIME_SOURCE_SHORT = {
    "spec": lazy_gettext("from the spec"),
    "detected": lazy_gettext("detected"),
}


@dataclass(frozen=True)
class ShownReason:
    """One reason as a page shows it."""

    #: the engine's sentence (English, may quote the supplier's text)
    sentence: str
    #: the same reason in the reader's language; None for English readers
    said: str | None = None


def shown_reasons(report: Report | None, run: Any) -> list[ShownReason]:
    """The reasons of `report`, or of `run`'s record (a Run, or the supplier's view of one)."""
    if report is not None:
        checks: Sequence[Any] = report.checks
        lines = reason_lines(report.reasons, report.reason_codes, [_fields(c) for c in checks])
        fields: Mapping[str, Any] = _report_fields(report)
    else:
        summary = as_dict(getattr(run, "summary", None))
        checks = as_list(summary.get("checks")) or as_list(getattr(run, "checks", None))
        lines = reason_lines(
            as_list(getattr(run, "reasons", None)),
            as_list(getattr(run, "reason_codes", None)),
            checks,
        )
        fields = _runtime_source(run)
    if current_language() == "en":
        return [ShownReason(line.sentence) for line in lines]
    by_id = {c.id: c for c in checks if isinstance(c, Check)}
    return [ShownReason(line.sentence, _said(line, by_id, fields)) for line in lines]


#: the engine's sentence for a check the spec turned off (acceptance.engine.pipeline and the checks)
TURNED_OFF = "not checked: turned off in the spec"


def not_checked_said(report: Report, check_id: str, sentence: str) -> str | None:
    """Why a check did not run, in the reader's language; None for English readers or when unknown.

    Said from the check's own code (NOT_RUN, RUNTIME_CHECK_UNAVAILABLE...) when the report
    states one, or from the engine's fixed sentence for a check the spec turned off.
    """
    if current_language() == "en":
        return None
    check = next((c for c in report.checks if c.id == check_id), None)
    code = check.reason_code if check is not None else None
    if code in REASONS:
        return reason_sentence(get_translations(), code, _report_fields(report)) + "."
    if sentence == TURNED_OFF:
        return str(gettext("Not checked: the specification turns it off."))
    return None


def _report_fields(report: Report) -> dict[str, Any]:
    """What a reason's sentence is filled from: the runtime and the limits."""
    return {
        "runtime": report.runtime,
        "runtime_source": report.runtime_source,
        "limits": report.limits,
    }


def _fields(check: Check) -> dict[str, Any]:
    return {
        "id": check.id,
        "kind": check.kind,
        "status": check.status,
        "reason_code": check.reason_code,
    }


def _said(line: ReasonLine, checks: Mapping[str, Check], fields: Mapping[str, Any]) -> str:
    sentence = reason_sentence(
        get_translations(), line.code, fields, of_check=line.check is not None
    )
    if line.check is None:
        return sentence + "."
    check = checks.get(line.check)
    facts = check_summary(check) if check is not None else None
    name = label(CHECK_LABELS, check.kind if check is not None else line.check)
    sentence = continued(sentence)
    if facts:
        return str(
            gettext(
                "%(check)s: %(reason)s (%(facts)s).",
                check=name,
                reason=sentence,
                facts=facts.rstrip("."),
            )
        )
    return str(gettext("%(check)s: %(reason)s.", check=name, reason=sentence))


def _runtime_source(run: Any) -> Mapping[str, Any]:
    """Where a run's record keeps its runtime: the summary (a Run), or the supplier's view."""
    summary = as_dict(getattr(run, "summary", None))
    if summary:
        return summary
    return {
        "runtime": getattr(run, "runtime", None),
        "runtime_source": getattr(run, "runtime_source", None),
    }


def runtime_text(report: Report | None, run: Any, short: bool = False) -> str | None:
    """The runtime that judged the run and how it was chosen, in words; None when unknown."""
    source: Mapping[str, Any] = (
        {"runtime": report.runtime, "runtime_source": report.runtime_source}
        if report is not None and report.runtime
        else _runtime_source(run)
    )
    facts = runtime_facts(source)
    if facts is None:
        return None
    runtime, chosen = facts
    how = (RUNTIME_SOURCE_SHORT if short else RUNTIME_SOURCE_LABELS)[chosen]
    if short:
        return str(gettext("%(runtime)s (%(how)s)", runtime=RUNTIME_NAMES[runtime], how=how))
    return str(gettext("%(runtime)s, %(how)s", runtime=RUNTIME_NAMES[runtime], how=how))


def template_helpers() -> dict[str, Any]:
    """Functions the templates use."""
    return {
        "shown_reasons": shown_reasons,
        "runtime_text": runtime_text,
        "not_checked_said": not_checked_said,
    }
