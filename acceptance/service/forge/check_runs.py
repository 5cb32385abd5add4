"""What a run's GitHub check run says (with a GitHub App): status, conclusion, Markdown summary, annotations.

Everything comes from the supplier's view of the run (acceptance.service.supplier_view), like the
status page: the owner's hidden tests are never named, their failures never annotated.
Annotations point at the supplier's own code: SAST findings (bandit), the linter's findings
(the quality check) and failing tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from acceptance.service.forge.status import context, describe, status_page
from acceptance.service.models import Run, RunStatus
from acceptance.service.notifications import translations
from acceptance.service.reason_text import plain_reason, reasons_of
from acceptance.service.supplier_view import supplier_run

#: GitHub's limit of annotations per request: more are sent in further updates of the check run
ANNOTATIONS_PER_REQUEST = 50
#: annotations sent at most per run (GitHub keeps them all; a page of them is already a lot)
MAX_ANNOTATIONS = 500
_MAX_SUMMARY = 60000
_MAX_MESSAGE = 2000
#: the run's verdict as a check run's conclusion: a platform error is not the supplier's failure
CONCLUSIONS = {"accepted": "success", "rejected": "failure", "error": "cancelled"}
_LEVELS = {"HIGH": "failure", "MEDIUM": "warning"}
#: the quality check's levels (issue 17) as annotation levels
_QUALITY_LEVELS = {"error": "failure", "warning": "warning"}


@dataclass(frozen=True)
class CheckRunUpdate:
    """A check run's state as GitHub takes it (`POST`/`PATCH .../check-runs`)."""

    name: str
    head_sha: str
    external_id: str
    status: str
    conclusion: str | None
    title: str
    summary: str
    details_url: str | None = None
    annotations: list[dict[str, Any]] = field(default_factory=list)


def wanted_check(run: Run) -> str:
    """`queued`, `in_progress:<stage>` while it runs, or the conclusion once the run ended."""
    if run.status == RunStatus.QUEUED.value:
        return "queued"
    if (
        run.status == RunStatus.RUNNING.value
    ):  # each stage an update: the checks tab follows the run
        return f"in_progress:{run.stage}"[:64] if run.stage else "in_progress"
    if run.status == RunStatus.ERROR.value:
        return CONCLUSIONS["error"]
    return CONCLUSIONS.get(run.verdict or "", CONCLUSIONS["error"])


def check_run(
    run: Run, predicate: Mapping[str, Any] | None, public_url: str | None
) -> CheckRunUpdate | None:
    """The check run for `run` now; None while its commit is unknown."""
    if not run.commit:
        return None
    wanted = wanted_check(run)
    done = wanted != "queued" and not wanted.startswith("in_progress")
    view = supplier_run(run, predicate)
    return CheckRunUpdate(
        name=context(run), head_sha=run.commit, external_id=run.id,
        status="completed" if done else wanted.partition(":")[0], conclusion=wanted if done else None,
        title=describe(run, predicate), summary=_summary(run, view),
        details_url=status_page(run, public_url),
        annotations=_annotations(view.get("report")) if done else [],
    )  # fmt: skip


def _summary(run: Run, view: Mapping[str, Any]) -> str:
    """The verdict, its reasons and the checks, in Markdown, in the supplier's language."""
    t = translations(run.submission.language)
    lines = [f"**{_md(describe(run, None))}**", ""]
    if run.status == RunStatus.RUNNING.value and run.stage:
        lines += [t.gettext("Current stage: %(stage)s") % {"stage": _md(run.stage)}, ""]
    # each reason in the supplier's language, then the engine's sentence (reason_text.py)
    reasons, told = reasons_of(view)
    if reasons:
        lines += [f"- {_md(plain_reason(t, r, told))}" for r in reasons[:30]] + [""]
    checks = view.get("checks") or []
    if checks:
        # gettext outside f-strings: pybabel reads the words from here
        headings = (t.gettext("Check"), t.gettext("Status"), t.gettext("Summary"))
        lines += ["| " + " | ".join(headings) + " |", "| --- | --- | --- |"]
        lines += [
            f"| {_md(c.get('id'))} | {_md(c.get('status'))} | {_md(c.get('summary') or '')} |"
            for c in checks
        ]
    text = "\n".join(lines).strip()
    return text if len(text) <= _MAX_SUMMARY else text[: _MAX_SUMMARY - 1] + "…"


def _annotations(report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """SAST findings and the supplier's failing tests, as GitHub annotations (path, lines, level)."""
    found: list[dict[str, Any]] = []
    for check in (report or {}).get("checks") or []:
        if check.get("kind") == "sast":
            for finding in check.get("findings") or []:
                path = _path(finding.get("filename"))
                if not path or finding.get("suppressed"):
                    continue
                line = (
                    finding.get("line")
                    if isinstance(finding.get("line"), int) and finding["line"] > 0
                    else 1
                )
                found.append({
                    "path": path, "start_line": line, "end_line": line,
                    "annotation_level": _LEVELS.get(str(finding.get("severity")).upper(), "notice"),
                    "title": f"{finding.get('test_id') or 'SAST'} {finding.get('test_name') or ''}".strip()[:255],
                    "message": str(finding.get("text") or "a security finding")[:_MAX_MESSAGE],
                })  # fmt: skip
        if check.get("kind") == "quality":
            for finding in check.get("findings") or []:
                path = _path(finding.get("file"))
                if not path or finding.get("suppressed"):
                    continue
                line = (
                    finding.get("line")
                    if isinstance(finding.get("line"), int) and finding["line"] > 0
                    else 1
                )
                found.append({
                    "path": path, "start_line": line, "end_line": line,
                    "annotation_level": _QUALITY_LEVELS.get(str(finding.get("level")), "notice"),
                    "title": f"{finding.get('rule') or 'lint'} {finding.get('name') or ''}".strip()[:255],
                    "message": str(finding.get("message") or "a linter finding")[:_MAX_MESSAGE],
                })  # fmt: skip
        if check.get("kind") == "functional":
            for failure in check.get("failures") or []:
                test_id = str(failure.get("id") or "")
                path = _path(test_id.split("::", 1)[0])
                if not path:
                    continue
                found.append({
                    "path": path, "start_line": 1, "end_line": 1, "annotation_level": "failure",
                    "title": f"Failing test: {test_id}"[:255],
                    "message": str(failure.get("message") or test_id)[:_MAX_MESSAGE],
                })  # fmt: skip
    return found[:MAX_ANNOTATIONS]


def _path(value: object) -> str | None:
    """A path relative to the repository, as GitHub annotations take it; None for anything else."""
    text = str(value or "").strip().removeprefix("./")
    if not text or text.startswith("/") or ".." in text.split("/") or "\n" in text:
        return None
    return text


#: every ASCII punctuation character, each of which CommonMark lets a backslash make literal
_MARKDOWN_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;=?@[\\]^_`{|}~")


def _md(value: object) -> str:
    """Text inside Markdown (a table cell too): no layout, no link, no HTML.

    The words come from the supplier (file names, test ids, messages): any punctuation left
    live could make a link, an image or a heading in the check run, so every ASCII punctuation
    character is escaped and the angle brackets become entities.
    """
    text = " ".join(str(value or "").split())
    escaped = "".join(f"\\{c}" if c in _MARKDOWN_PUNCTUATION else c for c in text)
    return escaped.replace("<", "&lt;").replace(">", "&gt;")
