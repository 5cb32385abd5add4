"""A run's signed report, read back from the artifact store and shaped for the pages.

The page shows what the signed report says, not what the database summary
says, and tells whether the signature checks out against the service's keys.
Every field is read defensively: the report holds supplier-controlled text.
The supplier's page shapes only what acceptance/service/supplier_view.py lets through
(`report_from` on its `report` part), never the predicate itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from acceptance.engine.signing import SignatureError, verify_envelope
from acceptance.service.artifacts import ArtifactStore
from acceptance.service.models import Run
from acceptance.service.report_values import as_dict, as_list, as_number, as_str
from web.dashboard.report_checks import check_from
from web.dashboard.report_model import Report, Stage

REPORT_NAME = "report.dsse.json"
LOG_PREFIX = "logs/"


@dataclass(frozen=True)
class SignedPredicate:
    """A run's report predicate as stored, and whether its signature verified."""

    #: None when the report cannot be read at all
    predicate: dict[str, Any] | None
    #: key id of the service key whose signature verified; None when none did
    keyid: str | None
    problem: str | None


def load_predicate(
    store: ArtifactStore, run: Run, public_keys: list[dict[str, Any]]
) -> SignedPredicate | None:
    """The run's report predicate, verified against the service's keys; None when there is none."""
    if not run.report_sha256:
        return None
    data = store.get(run.report_sha256)
    if data is None:
        return SignedPredicate(None, None, "the signed report is missing from the artifact store")
    try:
        envelope = json.loads(data)
        payload = base64.b64decode(envelope["payload"], validate=True)
        statement = json.loads(payload)
        predicate = statement["predicate"]
        if not isinstance(predicate, dict):
            raise TypeError("predicate")
    except (ValueError, KeyError, TypeError, binascii.Error):
        return SignedPredicate(None, None, "the signed report cannot be read")
    keys = [_public_key(entry.get("pem")) for entry in public_keys]
    try:
        keyid: str | None = verify_envelope(envelope, [k for k in keys if k is not None]).keyid
        problem = None
    except SignatureError as exc:
        keyid, problem = None, exc.message
    return SignedPredicate(predicate, keyid, problem)


def load_report(store: ArtifactStore, run: Run, public_keys: list[dict[str, Any]]) -> Report | None:
    """The run's report, verified against the service's public keys; None when there is none."""
    signed = load_predicate(store, run, public_keys)
    if signed is None:
        return None
    return report_from(signed.predicate, signed.keyid, signed.problem)


def report_from(
    predicate: Mapping[str, Any] | None, keyid: str | None, problem: str | None
) -> Report:
    """A predicate (or the supplier's view of one) shaped for the pages."""
    if predicate is None:
        return _unreadable(problem or "the signed report cannot be read")
    return _report(predicate, keyid, problem)


def _public_key(pem: object) -> Ed25519PublicKey | None:
    if not isinstance(pem, str):
        return None
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except ValueError:
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def _unreadable(problem: str) -> Report:
    return Report("error", [], [], [], [], {}, None, None, None, problem)


def _report(predicate: Mapping[str, Any], keyid: str | None, problem: str | None) -> Report:
    source = as_dict(predicate.get("source"))
    not_checked = [
        (as_str(item.get("id")), as_str(item.get("reason")))
        for item in map(as_dict, as_list(predicate.get("not_checked")))
    ]
    stages = [
        Stage(as_str(s.get("name")), as_str(s.get("status")), as_number(s.get("seconds")))
        for s in map(as_dict, as_list(predicate.get("stages")))
    ]
    return Report(
        verdict=as_str(predicate.get("verdict")),
        reasons=[as_str(r) for r in as_list(predicate.get("reasons"))],
        checks=[check_from(c) for c in map(as_dict, as_list(predicate.get("checks")))],
        not_checked=not_checked,
        stages=stages,
        environment=as_dict(predicate.get("environment")),
        commit=as_str(source.get("commit")) or None,
        ref=as_str(source.get("ref")) or None,
        verified_keyid=keyid,
        problem=problem,
        reason_codes=[as_str(c, 100) for c in as_list(predicate.get("reason_codes"))],
        runtime=as_str(predicate.get("runtime"), 20) or None,
        runtime_source=as_str(predicate.get("runtime_source"), 20) or None,
        limits=as_dict(predicate.get("limits")),
    )


def log_names(run: Run) -> list[str]:
    """The stages whose logs the run kept, in the order the run stored them."""
    return [name[len(LOG_PREFIX):-len(".log")] for name in run.artifacts
            if name.startswith(LOG_PREFIX) and name.endswith(".log")]  # fmt: skip


def other_artifacts(run: Run) -> list[str]:
    """The checks' files (JUnit XML, SARIF, SBOM...), without the report and the logs."""
    return sorted(n for n in run.artifacts if n != REPORT_NAME and not n.startswith(LOG_PREFIX))
