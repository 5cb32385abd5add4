"""The signed decision: an in-toto Statement v1 whose predicate is a person's decision on a run.

Pure data, no database: the service builds it (acceptance.service.decisions), the signer
checks it (workers.signer) and `acceptance verify` reads it. The predicate names
the machine report it rests on the way SLSA's Verification Summary Attestation
does (`inputAttestations: [{uri, digest: {sha256}}]`), the digest being the
sha256 of the report's DSSE envelope bytes as served by the API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from acceptance.engine.report import STATEMENT_TYPE

PREDICATE_TYPE = "urn:acceptance-service:acceptance-decision:v1"

ACCEPTED = "accepted"
CHANGES_REQUESTED = "changes_requested"
REJECTED = "rejected"
DECISIONS = (ACCEPTED, CHANGES_REQUESTED, REJECTED)


@dataclass(frozen=True)
class DecisionFacts:
    """What a decision statement says, gathered from the database."""

    decision_id: str
    decision: str
    reason: str | None
    override: bool
    person_id: str
    person_email: str
    decided_at: str
    run_id: str
    submission_id: str
    opportunity_id: str
    verdict: str | None
    repo_url: str
    commit: str | None
    report_sha256: str
    report_uri: str


def build_decision_statement(facts: DecisionFacts) -> dict[str, Any]:
    """The in-toto Statement of one decision; its subject is the run's report's subject."""
    subject: dict[str, Any] = {"name": facts.repo_url, "digest": {}}
    if facts.commit:
        subject["digest"] = {"gitCommit": facts.commit}
    predicate: dict[str, Any] = {
        "decision": facts.decision,
        "id": facts.decision_id,
        "reason": facts.reason,
        "override": facts.override,
        "decided_by": {"id": facts.person_id, "email": facts.person_email},
        "decided_at": facts.decided_at,
        "run": {
            "id": facts.run_id,
            "submission": facts.submission_id,
            "opportunity": facts.opportunity_id,
            "verdict": facts.verdict,
        },
        # Named and shaped as in SLSA VSA v1, so tools that follow attestation chains read it.
        "inputAttestations": [{"uri": facts.report_uri, "digest": {"sha256": facts.report_sha256}}],
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def is_decision(statement: object) -> bool:
    """Whether a parsed statement is a decision statement."""
    return isinstance(statement, Mapping) and statement.get("predicateType") == PREDICATE_TYPE


def report_digest(statement: Mapping[str, Any]) -> str | None:
    """The sha256 of the report the decision rests on, or None when the statement names none."""
    predicate = statement.get("predicate")
    inputs = predicate.get("inputAttestations") if isinstance(predicate, Mapping) else None
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], Mapping):
        return None
    digest = inputs[0].get("digest")
    value = digest.get("sha256") if isinstance(digest, Mapping) else None
    return value if isinstance(value, str) else None


def report_link_problem(statement: Mapping[str, Any], report: bytes) -> str | None:
    """Why `report` (a DSSE envelope's bytes) is not the report the decision names, or None."""
    expected = report_digest(statement)
    if expected is None:
        return "the decision names no report (predicate.inputAttestations)"
    actual = hashlib.sha256(report).hexdigest()
    if actual != expected:
        return f"the report's sha256 is {actual}, the decision rests on {expected}"
    return None


def describe(statement: Mapping[str, Any]) -> list[str]:
    """Lines a person reads about a verified decision (`acceptance verify`)."""
    predicate = statement.get("predicate")
    predicate = predicate if isinstance(predicate, Mapping) else {}
    person = predicate.get("decided_by")
    person = person if isinstance(person, Mapping) else {}
    run = predicate.get("run")
    run = run if isinstance(run, Mapping) else {}
    subjects = statement.get("subject")
    subject = (
        subjects[0]
        if isinstance(subjects, list) and subjects and isinstance(subjects[0], Mapping)
        else {}
    )
    digest = subject.get("digest")
    commit = digest.get("gitCommit") if isinstance(digest, Mapping) else None
    decision = str(predicate.get("decision"))
    if predicate.get("override") is True:
        decision += " (OVERRIDE of the machine verdict)"
    return [
        f"Decision: {decision}",
        f"By:       {person.get('email')} ({person.get('id')}) at {predicate.get('decided_at')}",
        f"Reason:   {predicate.get('reason') or '-'}",
        f"Run:      {run.get('id')} (machine verdict {run.get('verdict')})",
        f"Subject:  {subject.get('name')} @ {commit}",
        f"Report:   sha256 {report_digest(statement)}",
    ]
