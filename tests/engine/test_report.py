"""Verdict rules and the shape of the in-toto Statement."""

from __future__ import annotations

import datetime as dt
import json

from acceptance.engine.report import (
    PREDICATE_TYPE,
    Reason,
    ReportInput,
    build_statement,
    decide,
    serialize,
)
from checks.interface import CheckResult, CheckStatus


def report(
    *checks: CheckResult, reasons: list[Reason] | None = None, platform_failed: bool = False
) -> ReportInput:
    return ReportInput(
        source_url="https://example.org/repo.git",
        ref="main",
        spec={"title": "T", "sha256": "ab" * 32},
        started=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        commit="c" * 40,
        checks=list(checks),
        reasons=reasons or [],
        platform_failed=platform_failed,
    )


PASSED = CheckResult("functional", "functional", CheckStatus.PASSED, "2 passed")
FAILED = CheckResult("functional", "functional", CheckStatus.FAILED, "1 failed", "TESTS_FAILED")


def test_accepted_only_when_every_check_passed() -> None:
    assert decide(report(PASSED)) == "accepted"
    assert decide(report(PASSED, FAILED)) == "rejected"
    assert decide(report()) == "rejected"  # nothing judged is never accepted
    assert decide(report(PASSED, reasons=[Reason("UNSAFE_REPOSITORY", "x")])) == "rejected"
    assert decide(report(PASSED, platform_failed=True)) == "error"


def test_statement_shape() -> None:
    statement = build_statement(report(FAILED))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == PREDICATE_TYPE
    assert statement["subject"] == [
        {"name": "https://example.org/repo.git", "digest": {"gitCommit": "c" * 40}}
    ]
    predicate = statement["predicate"]
    assert predicate["verdict"] == "rejected"
    assert predicate["reason_codes"] == ["TESTS_FAILED"]
    assert predicate["reasons"] == ["functional: 1 failed"]
    assert predicate["source"] == {
        "url": "https://example.org/repo.git",
        "ref": "main",
        "commit": "c" * 40,
    }
    assert predicate["started"] == "2026-01-01T00:00:00.000000Z"
    assert predicate["checks"][0] == {
        "id": "functional",
        "kind": "functional",
        "status": "failed",
        "summary": "1 failed",
        "reason_code": "TESTS_FAILED",
    }


def test_serialize_is_deterministic_json() -> None:
    statement = build_statement(report(PASSED))
    assert serialize(statement) == serialize(json.loads(serialize(statement)))
