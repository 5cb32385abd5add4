"""What a supplier may see of a run: one allow-list over the run's record and signed report.

The supplier's status page (HTML and JSON) shows only what `supplier_run`
returns. Every field it keeps is named here; anything else in the run's
record or report (the owner's hidden tests' names, messages and results,
logs, artifacts, exit codes, the spec) is dropped, so a field a later change
adds to the report stays with the owner until someone decides otherwise here.
docs/security.md ("What the supplier sees") is the same policy in prose.
Hidden tests are shown as counts, plus what the owner chose with the spec's
`functional.hidden_feedback`; sentences naming them are rewritten or withheld
(acceptance/service/hidden_redaction.py says how).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from acceptance.service.hidden_redaction import HiddenTests, is_hidden_id
from acceptance.service.models import Run, Submission
from acceptance.service.report_values import as_dict, as_list, as_number, as_str, pick, text_id


def supplier_submission(submission: Submission) -> dict[str, Any]:
    """The submission as its status page shows it: what the owner registered for this supplier."""
    return {
        "submission": submission.id,
        "opportunity": submission.opportunity.title,
        "supplier": submission.supplier,
        "repo_url": submission.repo_url,
        "branch": submission.branch,
    }


def supplier_run(run: Run, predicate: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Exactly what the supplier may see of `run`; with its signed report's predicate, the report too.

    A run that has a report, given without it (the list of runs does not open
    reports), comes without its sentences (`reasons`, `error`, check summaries
    are None): they can be checked for hidden content only against the report.
    The result is JSON-ready (timestamps as ISO 8601 strings).
    """
    hidden = HiddenTests.of(predicate)
    summary = as_dict(run.summary)
    checkable = predicate is not None or not run.report_sha256
    shown: dict[str, Any] = {
        "id": run.id,
        "submission": run.submission_id,
        "opportunity": run.submission.opportunity_id,
        "supplier": run.submission.supplier,
        "status": run.status,
        "stage": _stage_name(run.stage),
        "verdict": run.verdict,
        "reason_codes": [as_str(c, 100) for c in as_list(run.reason_codes)],
        "reasons": [hidden.sentence(r) for r in as_list(run.reasons)] if checkable else None,
        "error": hidden.sentence(run.error) if run.error and checkable else None,
        "trigger": run.trigger,
        "ref": run.ref,
        "commit": run.commit,
        "commit_message": run.commit_message,
        "spec_version": run.spec_version.version,
        "spec_sha256": run.spec_version.spec_sha256,
        "supersedes": run.supersedes_id,
        "queued_at": _iso(run.queued_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "attempts": run.attempts,
        "key_id": run.key_id,
        "stages": _stages(run.stages),
        # which runtime judged the delivery and how it was chosen: the supplier's own choice to see
        "runtime": as_str(summary.get("runtime"), 20) or None,
        "runtime_source": as_str(summary.get("runtime_source"), 20) or None,
        "checks": [
            {
                "id": as_str(c.get("id"), 100),
                "status": as_str(c.get("status"), 20),
                "summary": hidden.sentence(c.get("summary")) if checkable else None,
            }
            for c in map(as_dict, as_list(summary.get("checks")))
        ],
        "report": _report(predicate, hidden) if predicate is not None else None,
    }
    return shown


def supplier_view_of_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """What the supplier may see of a signed report (an in-toto statement, or its predicate).

    For callers that hold a report but no run record: the CLI, forge feedback.
    """
    predicate = as_dict(report.get("predicate")) if "predicate" in report else report
    return _report(predicate, HiddenTests.of(predicate))


def _report(predicate: Mapping[str, Any], hidden: HiddenTests) -> dict[str, Any]:
    """The signed report's part a supplier may see, in the predicate's own shape."""
    source = as_dict(predicate.get("source"))
    return {
        "verdict": as_str(predicate.get("verdict"), 20),
        "reasons": [hidden.sentence(r) for r in as_list(predicate.get("reasons"))],
        "reason_codes": [as_str(c, 100) for c in as_list(predicate.get("reason_codes"))],
        "source": {
            "commit": as_str(source.get("commit"), 64),
            "ref": as_str(source.get("ref"), 255),
        },
        "checks": [_check(c, hidden) for c in map(as_dict, as_list(predicate.get("checks")))],
        "not_checked": [
            {"id": as_str(item.get("id"), 100), "reason": hidden.sentence(item.get("reason"))}
            for item in map(as_dict, as_list(predicate.get("not_checked")))
        ],
        "stages": _stages(predicate.get("stages")),
        "runtime": as_str(predicate.get("runtime"), 20) or None,
        "runtime_source": as_str(predicate.get("runtime_source"), 20) or None,
    }


def _check(entry: Mapping[str, Any], hidden: HiddenTests) -> dict[str, Any]:
    kind = as_str(entry.get("kind"), 40)
    shown: dict[str, Any] = {
        "id": as_str(entry.get("id"), 100),
        "kind": kind,
        "status": as_str(entry.get("status"), 20),
        "summary": hidden.sentence(entry.get("summary")),
        "reason_code": as_str(entry.get("reason_code"), 100) or None,
    }
    evidence = _EVIDENCE.get(kind)
    if evidence is not None:
        shown.update(evidence(entry, hidden))
    return shown


def _functional(entry: Mapping[str, Any], hidden: HiddenTests) -> dict[str, Any]:
    """The supplier's own tests in full; the owner's hidden tests as counts only."""
    own_failing = [
        i for i in map(text_id, as_list(entry.get("failing_tests"))) if not is_hidden_id(i)
    ]
    failures = [
        {"id": test_id, "message": hidden.own_message(f.get("message"))}
        for f in map(as_dict, as_list(entry.get("failures")))
        if not is_hidden_id(test_id := text_id(f.get("id")))
    ]
    running = text_id(entry.get("running_test"))
    return {
        "tests": hidden.own_counts(entry),
        "failing_tests": own_failing,
        "failures": failures,
        "partial": entry.get("partial") is True,
        "running_test": running if running and not is_hidden_id(running) else None,
        "hidden": hidden.outcome(entry),
    }


def _sast(entry: Mapping[str, Any], _hidden: HiddenTests) -> dict[str, Any]:
    """Bandit's findings in the supplier's own code."""
    keep = ("test_id", "test_name", "severity", "confidence", "filename", "line", "text", "cwe",
            "blocking", "suppressed")  # fmt: skip
    return {
        "findings": [pick(f, keep) for f in map(as_dict, as_list(entry.get("findings")))],
        "findings_truncated": entry.get("findings_truncated") is True,
    }


def _dependencies(entry: Mapping[str, Any], _hidden: HiddenTests) -> dict[str, Any]:
    """Known vulnerabilities of the packages the supplier's project installed."""
    keep = ("package", "version", "id", "aliases", "fix_versions", "ignored")
    return {
        "vulnerabilities": [
            pick(v, keep) for v in map(as_dict, as_list(entry.get("vulnerabilities")))
        ]
    }


def _licence(entry: Mapping[str, Any], _hidden: HiddenTests) -> dict[str, Any]:
    """The licence found in the supplier's repository and their dependencies' licences."""
    return {
        "licence": pick(as_dict(entry.get("licence")), ("spdx", "source_file", "allowed")),
        "evidence": [
            pick(e, ("source", "kind", "matched", "score", "problem"))
            for e in map(as_dict, as_list(entry.get("evidence")))
        ],
        "dependencies": [
            pick(d, ("name", "version", "licence", "compatible"))
            for d in map(as_dict, as_list(entry.get("dependencies")))
        ],
    }


def _quality(entry: Mapping[str, Any], _hidden: HiddenTests) -> dict[str, Any]:
    """The linter's findings and the suppressions in the supplier's own code, with the rules."""
    finding_keys = ("rule", "name", "level", "file", "line", "column", "message", "url",
                    "suppressed", "suppression_reason", "blocking")  # fmt: skip
    suppression_keys = ("file", "line", "end_line", "scope", "directive", "rules", "reason",
                        "justified")  # fmt: skip
    settings = pick(as_dict(entry.get("settings")), ("rules", "fail_on", "suppressions", "exclude"))
    return {
        "findings": [pick(f, finding_keys) for f in map(as_dict, as_list(entry.get("findings")))],
        "findings_truncated": entry.get("findings_truncated") is True,
        "suppressions": [
            pick(s, suppression_keys) for s in map(as_dict, as_list(entry.get("suppressions")))
        ],
        "suppressions_truncated": entry.get("suppressions_truncated") is True,
        "counts": pick(as_dict(entry.get("counts")), ("error", "warning", "style")),
        "settings": settings,
        "tool": pick(as_dict(entry.get("tool")), ("name", "version")),
    }


def _accessibility(entry: Mapping[str, Any], _hidden: HiddenTests) -> dict[str, Any]:
    """axe-core's findings on the supplier's own pages, with the owner's settings."""
    violation_keys = ("rule", "impact", "tags", "help", "help_url", "blocking", "ignored")

    def page(item: Mapping[str, Any]) -> dict[str, Any]:
        shown = pick(item, ("page", "passes", "incomplete", "error", "screenshot"))
        shown["counts"] = pick(as_dict(item.get("counts")), _IMPACTS)
        shown["violations"] = [
            {
                **pick(v, violation_keys),
                "nodes": [
                    pick(n, ("target", "html")) for n in map(as_dict, as_list(v.get("nodes")))
                ],
            }
            for v in map(as_dict, as_list(item.get("violations")))
        ]
        return shown

    shown = pick(entry, ("standard", "tags", "fail_on", "ignore", "passes", "incomplete",
                          "axe_version", "blocking_rules"))  # fmt: skip
    shown["counts"] = pick(as_dict(entry.get("counts")), _IMPACTS)
    shown["pages"] = [page(p) for p in map(as_dict, as_list(entry.get("pages")))]
    shown["missing_pages"] = [
        pick(m, ("page", "reason")) for m in map(as_dict, as_list(entry.get("missing_pages")))
    ]
    if "serve" in entry:  # the owner's command, port and paths: what the supplier's app must do
        shown["serve"] = pick(as_dict(entry.get("serve")), ("command", "port", "paths"))
    return shown


_IMPACTS = ("minor", "moderate", "serious", "critical")


_EVIDENCE = {
    "functional": _functional,
    "sast": _sast,
    "dependencies": _dependencies,
    "licence": _licence,
    "quality": _quality,
    "accessibility": _accessibility,
}


def _stages(value: object) -> list[dict[str, Any]]:
    """Stage names, outcomes and durations: engine-chosen values only."""
    return [
        {
            "name": _stage_name(s.get("name")),
            "status": as_str(s.get("status"), 20),
            "seconds": as_number(s.get("seconds")),
        }
        for s in map(as_dict, as_list(value))
    ]


def _stage_name(value: object) -> str | None:
    return as_str(value, 64) or None


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
