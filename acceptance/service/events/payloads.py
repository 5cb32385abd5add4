"""What each event says: the run or the decision and the report's sha256, never the hidden tests.

Bodies follow Standard Webhooks' recommended shape `{type, timestamp, data}`. A run's
reasons are left out (they may name the owner's hidden tests); its reason codes, its
verdict and the sha256 of its signed report say what happened, and the report itself
is one authenticated API call away (`report_url`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from acceptance.service.events.endpoints import DECISION_RECORDED, RUN_FINISHED, STATE_CHANGED
from acceptance.service.models import Decision, Run, Submission


def body(event: str, data: dict[str, Any], at: dt.datetime) -> str:
    """The exact text signed and sent (compact JSON, keys in a fixed order)."""
    stamp = at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event, "timestamp": stamp, "data": data}, separators=(",", ":"))


def run_finished(run: Run, base_url: str | None) -> dict[str, Any]:
    return {
        "run": {
            "id": run.id,
            "opportunity": run.submission.opportunity_id,
            "submission": run.submission_id,
            "supplier": run.submission.supplier,
            "status": run.status,
            "verdict": run.verdict,
            "reason_codes": list(run.reason_codes or []),
            "trigger": run.trigger,
            "ref": run.ref,
            "commit": run.commit,
            "spec_version": run.spec_version.version,
            "spec_sha256": run.spec_version.spec_sha256,
            "queued_at": _iso(run.queued_at),
            "finished_at": _iso(run.finished_at),
            "report_sha256": run.report_sha256,
            "report_url": f"{base_url}/api/v1/runs/{run.id}/report"
            if base_url and run.report_sha256
            else None,
        }
    }


def decision_recorded(decision: Decision, base_url: str | None) -> dict[str, Any]:
    return {
        "decision": {
            "id": decision.id,
            "run": decision.run_id,
            "opportunity": decision.submission.opportunity_id,
            "submission": decision.submission_id,
            "decision": decision.decision,
            "override": decision.override,
            "reason": decision.reason,
            "decided_by": decision.person.email,
            "decided_at": _iso(decision.decided_at),
            "report_sha256": decision.report_sha256,
            "supersedes": decision.supersedes_id,
            "attestation_url": f"{base_url}/api/v1/decisions/{decision.id}/attestation"
            if base_url
            else None,
        }
    }


def state_changed(submission: Submission, before: str | None, after: str) -> dict[str, Any]:
    return {
        "submission": {
            "id": submission.id,
            "opportunity": submission.opportunity_id,
            "supplier": submission.supplier,
            "state": after,
            "previous_state": before,
        }
    }


EVENT_NAMES = (RUN_FINISHED, DECISION_RECORDED, STATE_CHANGED)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None
