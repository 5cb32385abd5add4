"""Signing reports: in the worker (`local`), or by `acceptance signer` over a queue (`queue`).

Workers run suppliers' code in sandboxes. With ACCEPTANCE_SIGNER=queue they hold
no private key: they send the serialized statement to the `signing` queue and
wait for the envelope. The signer, the only process holding the key, signs
only a report of the run and attempt that the database says is being executed
(`running`, `attempts == attempt`), and logs every signature it gives.

The web process sends decisions the same way (the request's first argument is
then the decision's id, the attempt 0): the signer signs a decision statement
only when it says exactly what the database recorded for that decision and
names the run's own report by its sha256 (acceptance.service.decisions.claim_problem);
likewise the decision's SLSA VSA, which must be byte for byte the one the
database makes (acceptance.service.decisions.vsa_claim_problem).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from acceptance.engine.report import PREDICATE_TYPE, STATEMENT_TYPE, Verdict, serialize
from acceptance.engine.signing import keyid_for, sign_envelope
from acceptance.service.db import Database
from acceptance.service.decision_statement import PREDICATE_TYPE as DECISION_PREDICATE_TYPE
from acceptance.service.decisions import claim_problem, vsa_claim_problem
from acceptance.service.models import Run, RunStatus
from acceptance.service.vsa import PREDICATE_TYPE as VSA_PREDICATE_TYPE
from acceptance.settings import Settings
from workers.celery_app import SIGN_TASK, SIGNING_QUEUE, make_celery

log = logging.getLogger(__name__)

#: a statement's bytes at most, so its envelope (base64) stays readable by `read_envelope` (16 MiB)
MAX_STATEMENT_BYTES = 12 * 1024 * 1024
_VERDICTS = frozenset({Verdict.ACCEPTED, Verdict.REJECTED, Verdict.ERROR})


class SigningRefused(Exception):
    """The signer will not sign this statement; the message says why. Never retried."""


class SignerUnavailable(Exception):
    """No usable signature came back (no signer, broker down, timeout): a platform failure."""


@dataclass(frozen=True)
class SignedReport:
    """A DSSE envelope and the id of the key that signed it."""

    envelope: dict[str, Any]
    key_id: str


class ReportSigner(Protocol):
    def sign(self, run_id: str, attempt: int, payload: bytes) -> SignedReport: ...


def report_signer(settings: Settings, celery: Any = None) -> ReportSigner:
    """The signer ACCEPTANCE_SIGNER names; `queue` sends through `celery` (or a new app)."""
    if settings.signer == "queue":
        return QueueSigner(celery or make_celery(settings), settings.sign_timeout)
    return LocalSigner(settings)


# -- the worker's side ----------------------------------------------------------


class LocalSigner:
    """The worker signs with the key on its own disk (created on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def sign(self, run_id: str, attempt: int, payload: bytes) -> SignedReport:
        from acceptance.engine.keyring import ensure_signing_key

        key = ensure_signing_key(self.settings)
        return SignedReport(sign_envelope(payload, key), keyid_for(key.public_key()))


class QueueSigner:
    """The worker asks `acceptance signer` and waits, at most `timeout` seconds."""

    def __init__(self, celery: Any, timeout: float) -> None:
        self.celery = celery
        self.timeout = timeout

    def sign(self, run_id: str, attempt: int, payload: bytes) -> SignedReport:
        encoded = base64.standard_b64encode(payload).decode("ascii")
        result = None
        try:
            # Expires with the wait: a signer that comes back later skips what nobody awaits.
            result = self.celery.send_task(
                SIGN_TASK, args=[run_id, attempt, encoded], queue=SIGNING_QUEUE,
                expires=self.timeout, ignore_result=False,
            )  # fmt: skip
            answer = result.get(timeout=self.timeout, disable_sync_subtasks=False)
        except SigningRefused:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed, the run is retried later
            raise SignerUnavailable(
                f"no signature from the signer within {self.timeout:g} s "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from exc
        finally:
            _forget(result)
        return _signed_report(answer, payload)


def _forget(result: Any) -> None:
    if result is None:
        return
    try:
        result.forget()
    except Exception:  # noqa: BLE001 - the result backend expires it anyway
        log.debug("sign_result_not_forgotten", exc_info=True)


def _signed_report(answer: object, payload: bytes) -> SignedReport:
    """The signer's answer, checked to carry the very payload that was sent."""
    if isinstance(answer, dict):
        envelope, key_id = answer.get("envelope"), answer.get("key_id")
        if isinstance(envelope, dict) and isinstance(key_id, str):
            signed = envelope.get("payload")
            if signed == base64.standard_b64encode(payload).decode("ascii"):
                return SignedReport(envelope, key_id)
    raise SignerUnavailable("the signer's answer is not an envelope of the report that was sent")


# -- the signer's side ----------------------------------------------------------


class Signer:
    """In `acceptance signer`: check a statement against the run's claim, sign it, log it."""

    def __init__(self, db: Database, key: Ed25519PrivateKey) -> None:
        self.db = db
        self.key = key
        self.key_id = keyid_for(key.public_key())

    def sign(self, run_id: object, attempt: object, encoded: object) -> dict[str, Any]:
        """`{envelope, key_id}` for the statement, or SigningRefused saying why not."""
        try:
            if not isinstance(run_id, str) or type(attempt) is not int:
                _refuse("the request must name a run id (text) and an attempt (a number)")
            payload = decode_payload(encoded)
            decision = parse_statement(payload)
            if decision.get("predicateType") in (DECISION_PREDICATE_TYPE, VSA_PREDICATE_TYPE):
                return self._sign_decision(run_id, payload, decision)
            statement = check_statement(payload, run_id, attempt)
            self._check_claim(run_id, attempt, statement)
        except SigningRefused as exc:
            log.warning("sign_refused", extra={"run": str(run_id)[:64], "why": str(exc)})
            raise
        envelope = sign_envelope(payload, self.key)
        log.info(
            "report_signed",
            extra={
                "run": run_id,
                "attempt": attempt,
                "statement_sha256": hashlib.sha256(payload).hexdigest(),
                "key_id": self.key_id,
                "verdict": statement["predicate"]["verdict"],
            },
        )
        return {"envelope": envelope, "key_id": self.key_id}

    def _sign_decision(
        self, decision_id: str, payload: bytes, statement: dict[str, Any]
    ) -> dict[str, Any]:
        """Sign a decision statement or VSA that says what the database recorded, nothing else."""
        check = (
            vsa_claim_problem
            if statement.get("predicateType") == VSA_PREDICATE_TYPE
            else claim_problem
        )
        with self.db.session() as session:
            problem = check(session, decision_id, statement)
        if problem is not None:
            _refuse(problem)
        envelope = sign_envelope(payload, self.key)
        log.info(
            "decision_signed",
            extra={
                "decision": decision_id,
                "predicate_type": statement.get("predicateType"),
                "statement_sha256": hashlib.sha256(payload).hexdigest(),
                "key_id": self.key_id,
            },
        )
        return {"envelope": envelope, "key_id": self.key_id}

    def _check_claim(self, run_id: str, attempt: int, statement: dict[str, Any]) -> None:
        """The database must say this attempt is executing this run, of this submission."""
        with self.db.session() as session:
            run = session.get(Run, run_id)
            if run is None:
                _refuse(f"run {run_id} does not exist")
            if run.status != RunStatus.RUNNING.value:
                _refuse(f"run {run_id} is {run.status}, not running")
            if run.attempts != attempt:
                _refuse(
                    f"attempt {attempt} does not hold run {run_id} "
                    f"(the run is at attempt {run.attempts})"
                )
            predicate = statement["predicate"]
            if predicate["run"].get("submission") != run.submission_id:
                _refuse(f"the statement names another submission than run {run_id}'s")
            source = predicate.get("source")
            if not isinstance(source, dict) or source.get("url") != run.submission.repo_url:
                _refuse(f"the statement names another source than run {run_id}'s repository")


def decode_payload(encoded: object) -> bytes:
    """The statement's bytes from the request's standard base64."""
    if not isinstance(encoded, str):
        _refuse("the statement must be sent as base64 text")
    if len(encoded) > (MAX_STATEMENT_BYTES + 2) // 3 * 4:
        _refuse(f"the statement is larger than {MAX_STATEMENT_BYTES} bytes")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        _refuse("the statement is not valid base64")


def parse_statement(payload: bytes) -> dict[str, Any]:
    """The in-toto Statement in `payload`, in its canonical serialization, of any predicate."""
    try:
        statement = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        _refuse("the statement is not JSON")
    if not isinstance(statement, dict):
        _refuse("the statement is not a JSON object")
    # One byte string per statement: no duplicate keys or spacing a verifier could read otherwise.
    if serialize(statement) != payload:
        _refuse("the statement is not in its canonical serialization")
    if statement.get("_type") != STATEMENT_TYPE:
        _refuse(f"the payload is not an in-toto Statement ({STATEMENT_TYPE})")
    return statement


def check_statement(payload: bytes, run_id: str, attempt: int) -> dict[str, Any]:
    """The statement in `payload`, if it is an acceptance report of `run_id` at `attempt`."""
    statement = parse_statement(payload)
    if statement.get("predicateType") != PREDICATE_TYPE:
        _refuse(f"the statement is not an acceptance report ({PREDICATE_TYPE})")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict) or predicate.get("verdict") not in _VERDICTS:
        _refuse("the statement's predicate has no verdict")
    context = predicate.get("run")
    if not isinstance(context, dict):
        _refuse("the statement names no run")
    if context.get("id") != run_id:
        _refuse(f"the statement is about run {str(context.get('id'))[:64]}, not run {run_id}")
    if type(context.get("attempt")) is not int or context.get("attempt") != attempt:
        _refuse(f"the statement is of attempt {context.get('attempt')!r}, not attempt {attempt}")
    return statement


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"non-standard JSON constant {name}")


def _refuse(why: str) -> NoReturn:
    raise SigningRefused(why)
