"""A decision as a SLSA Verification Summary Attestation v1 (the ecosystem's own format).

Pure data, no database, like acceptance.service.decision_statement: the service builds
it (acceptance.service.decisions.decision_vsa), the signer checks it (workers.signer)
and `acceptance verify` reads it. The verifier is the service (its public URL),
the policy the spec version the run was judged against, the input attestation
the run's signed report, and the result the person's decision: `PASSED` only
for an acceptance, `FAILED` otherwise (as `slsa-verifier verify-vsa` reads it).

`verifiedLevels` carries our own values (the specification allows custom
values not starting with `SLSA_`), one per "track" (docs/decisions.md):

- the decision: ACCEPTANCE_ACCEPTED, ACCEPTANCE_CHANGES_REQUESTED or ACCEPTANCE_REJECTED;
- the machine verdict it rests on: ACCEPTANCE_VERDICT_ACCEPTED, _REJECTED or _ERROR
  (an accepted decision on a rejected verdict is an override, visible here);
- and the specification's own `FAILED` when the result is FAILED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from acceptance.engine.report import STATEMENT_TYPE
from acceptance.service.decision_statement import ACCEPTED, report_digest

PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
SLSA_VERSION = "1.0"
PASSED = "PASSED"
FAILED = "FAILED"
#: our verifiedLevels values start with this (never `SLSA_`, which the specification reserves)
LEVEL_PREFIX = "ACCEPTANCE_"


@dataclass(frozen=True)
class VsaFacts:
    """What a decision's VSA says, gathered from the database and the service's URL."""

    verifier_url: str
    decided_at: str
    decision: str
    verdict: str | None
    repo_url: str
    commit: str | None
    policy_uri: str
    spec_sha256: str
    report_uri: str
    report_sha256: str


def build_vsa(facts: VsaFacts) -> dict[str, Any]:
    """The in-toto Statement of the VSA; its subject is the run's report's subject."""
    subject: dict[str, Any] = {"name": facts.repo_url, "digest": {}}
    if facts.commit:
        subject["digest"] = {"gitCommit": facts.commit}
    predicate: dict[str, Any] = {
        "verifier": {"id": facts.verifier_url},
        # The person's decision is the verification: when it was recorded, not when it was served,
        # so every copy of a decision's VSA is the same bytes.
        "timeVerified": facts.decided_at,
        "resourceUri": resource_uri(facts.repo_url, facts.commit),
        "policy": {"uri": facts.policy_uri, "digest": {"sha256": facts.spec_sha256}},
        "inputAttestations": [{"uri": facts.report_uri, "digest": {"sha256": facts.report_sha256}}],
        "verificationResult": PASSED if facts.decision == ACCEPTED else FAILED,
        "verifiedLevels": verified_levels(facts.decision, facts.verdict),
        "slsaVersion": SLSA_VERSION,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def verified_levels(decision: str, verdict: str | None) -> list[str]:
    """Our verifiedLevels: the decision, the machine verdict, and `FAILED` unless accepted."""
    levels = [
        f"{LEVEL_PREFIX}{decision.upper()}",
        f"{LEVEL_PREFIX}VERDICT_{(verdict or 'error').upper()}",
    ]
    return levels if decision == ACCEPTED else [FAILED, *levels]


def resource_uri(repo_url: str, commit: str | None) -> str:
    """The repository at the commit, as SPDX and SLSA write a git location: `git+https://host/repo@commit`."""
    location = (
        repo_url
        if repo_url.startswith("git+") or urlsplit(repo_url).scheme == "git"
        else f"git+{repo_url}"
    )
    return f"{location}@{commit}" if commit else location


def policy_uri(base_url: str, opportunity_id: str, version: int) -> str:
    """Where the spec version is read (GET /api/v1/opportunities/<id>/specs/<version>)."""
    return f"{base_url}/api/v1/opportunities/{opportunity_id}/specs/{version}"


def is_vsa(statement: object) -> bool:
    """Whether a parsed statement is a SLSA VSA v1."""
    return isinstance(statement, Mapping) and statement.get("predicateType") == PREDICATE_TYPE


def describe(statement: Mapping[str, Any]) -> list[str]:
    """Lines a person reads about a verified VSA (`acceptance verify`)."""
    predicate = statement.get("predicate")
    predicate = predicate if isinstance(predicate, Mapping) else {}
    verifier = predicate.get("verifier")
    policy = predicate.get("policy")
    policy = policy if isinstance(policy, Mapping) else {}
    digest = policy.get("digest")
    levels = predicate.get("verifiedLevels")
    return [
        f"Result:   {predicate.get('verificationResult')}",
        f"Levels:   {', '.join(str(v) for v in levels) if isinstance(levels, list) else levels}",
        f"Resource: {predicate.get('resourceUri')}",
        f"Verifier: {verifier.get('id') if isinstance(verifier, Mapping) else None} at {predicate.get('timeVerified')}",
        f"Policy:   {policy.get('uri')} (sha256 {digest.get('sha256') if isinstance(digest, Mapping) else None})",
        f"Report:   sha256 {report_digest(statement)}",
    ]
