"""The quality check on shell deliveries (checks/quality_shellcheck.py), without Docker:
ShellCheck's comments and the delivered directives judged like ruff's findings and noqa."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acceptance.engine.spec import QualityLevel, QualitySpec
from checks import quality_shellcheck
from checks.interface import CheckStatus
from checks.quality_shellcheck import directives_in_file, evaluate_shellcheck_quality
from checks.shellcheck_scan import Collected

ON = QualitySpec(enabled=True)
SCRIPT = b"#!/bin/bash\n# shellcheck disable=SC2086 # the words must split here\necho $1\n"


def _comment(
    line: int, code: int = 2086, level: str = "info", file: str = "./a.sh"
) -> dict[str, object]:
    return {"file": file, "line": line, "endLine": line, "column": 6, "endColumn": 8,
            "level": level, "code": code, "message": "Double quote to prevent globbing."}  # fmt: skip


def _judge(
    files: dict[str, bytes],
    plain: list[dict[str, object]],
    as_delivered: list[dict[str, object]] | None,
    spec: QualitySpec = ON,
    unscanned: dict[str, str] | None = None,
) -> tuple[CheckStatus, str | None, dict[str, object]]:
    result = evaluate_shellcheck_quality(
        Collected(plain, as_delivered), files, spec, unscanned or {}, "0.9.0"
    ).result
    return result.status, result.reason_code, result.details


def test_a_justified_directive_silences_what_shellcheck_no_longer_reports() -> None:
    status, code, details = _judge({"a.sh": SCRIPT}, [_comment(3)], [])
    assert (status, code) == (CheckStatus.PASSED, None), details
    assert details["suppressions"] == [{
        "file": "a.sh", "line": 2, "scope": "range", "directive": "shellcheck disable",
        "rules": ["SC2086"], "reason": "the words must split here", "justified": True,
        "end_line": 3,
    }]  # fmt: skip
    finding = details["findings"][0]  # type: ignore[index]
    assert (finding["rule"], finding["suppressed"], finding["blocking"]) == ("SC2086", True, False)
    assert details["tool"] == {"name": "shellcheck", "version": "0.9.0"}
    assert details["settings"]["rules"] == ["shellcheck:default"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("directive", "says"),
    [
        (b"# shellcheck disable=SC2086", "gives no reason"),
        (b"# shellcheck disable=SC2086 # ok", "gives no reason"),  # fewer than three words
        (b"#shellcheck disable=all # every rule is fine here", "silences every rule"),
        (b"# shellcheck disable=SC2000-SC2999 # a whole family is fine", "silences every rule"),
    ],
)
def test_an_unjustified_or_blanket_directive_is_a_finding_and_silences_nothing(
    directive: bytes, says: str
) -> None:
    script = b"#!/bin/bash\n" + directive + b"\necho $1\n"
    status, code, details = _judge({"a.sh": script}, [_comment(3)], [])
    assert (status, code) == (CheckStatus.FAILED, "UNJUSTIFIED_SUPPRESSION")
    by_rule = {f["rule"]: f for f in details["findings"]}  # type: ignore[attr-defined]
    assert says in by_rule["UNJUSTIFIED_SUPPRESSION"]["message"]
    assert (
        by_rule["UNJUSTIFIED_SUPPRESSION"]["file"],
        by_rule["UNJUSTIFIED_SUPPRESSION"]["line"],
    ) == ("a.sh", 2)
    assert by_rule["SC2086"]["blocking"] and not by_rule["SC2086"]["suppressed"]
    # `allowed` lets it stand; `forbidden` makes even a justified one a finding
    allowed = QualitySpec(enabled=True, suppressions="allowed")
    assert _judge({"a.sh": script}, [_comment(3)], [], allowed)[:2] == (CheckStatus.PASSED, None)
    forbidden = QualitySpec(enabled=True, suppressions="forbidden")
    assert _judge({"a.sh": SCRIPT}, [_comment(3)], [], forbidden)[:2] == (
        CheckStatus.FAILED,
        "FORBIDDEN_SUPPRESSION",
    )


def test_a_directive_shellcheck_did_not_honour_silences_nothing_even_when_allowed() -> None:
    # a trailing directive, or one inside a here-document: ShellCheck still reports the
    # finding as delivered, so the engine does not silence it either
    script = b"#!/bin/bash\necho $1 # shellcheck disable=SC2086\n"
    allowed = QualitySpec(enabled=True, suppressions="allowed")
    status, code, details = _judge({"a.sh": script}, [_comment(2)], [_comment(2)], allowed)
    assert (status, code) == (CheckStatus.FAILED, "QUALITY_FINDINGS")
    assert details["suppression_counts"]["silenced_findings"] == 0  # type: ignore[index]


def test_levels_and_fail_on() -> None:
    plain = [_comment(2, 2115, "warning"), _comment(3, 2034, "style"), _comment(4, 1072, "error")]
    files = {"a.sh": b"#!/bin/bash\n"}
    status, code, details = _judge(files, plain, None)
    assert (status, code) == (CheckStatus.FAILED, "QUALITY_FINDINGS")
    assert details["counts"] == {"error": 1, "warning": 1, "style": 1}
    errors_only = QualitySpec(enabled=True, fail_on=QualityLevel.ERROR)
    _, _, strict = _judge(files, plain[:2], None, errors_only)
    assert not any(f["blocking"] for f in strict["findings"])  # type: ignore[attr-defined]


def test_a_file_not_scanned_always_blocks() -> None:
    result = evaluate_shellcheck_quality(
        Collected([], None), {}, ON, {"big.sh": "too large to scan"}
    ).result
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "QUALITY_FINDINGS")
    assert result.details["findings"][0]["rule"] == "UNLINTED"  # type: ignore[index]
    assert "1 file(s) not linted as the runtime reads them (big.sh)" in result.summary
    assert "suppression" not in result.summary


def test_ruffs_rules_are_not_run_never_passed() -> None:
    spec = QualitySpec(enabled=True, rules=("E",), default_rules=False)
    status, code, _ = _judge({}, [], None, spec)
    assert (status, code) == (CheckStatus.NOT_RUN, "RUNTIME_CHECK_UNAVAILABLE")


def test_a_flood_of_directives_is_unjudgeable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quality_shellcheck, "MAX_DIRECTIVES", 10)
    flood = b"#!/bin/bash\n" + b"# shellcheck disable=SC2086 # fine, said three times\n" * 11
    assert _judge({"a.sh": flood}, [], None)[:2] == (CheckStatus.FAILED, "QUALITY_UNJUDGEABLE")


def test_directives_are_read_as_shellcheck_writes_them() -> None:
    found = directives_in_file(
        "a.sh",
        b"x=1 # shellcheck disable=SC2034,2086 # both are wanted in this place\n"
        b"# shellcheck source=lib.sh shell=bash\n"  # not a suppression
        b"echo '# shellcheck disable=SC1'\n"  # inside a string: not at a comment's start
        b"# shellcheck disable=SC2115 -- the folder is checked before\n"
        b"# shellcheck disable=foo\n",  # names no check: silences nothing, not listed
    )
    assert [(s.line, s.rules, s.reason) for s in found] == [
        (1, ("SC2034", "SC2086"), "both are wanted in this place"),
        (4, ("SC2115",), "the folder is checked before"),
    ]


@given(st.binary(max_size=300))
def test_hostile_bytes_as_a_report_or_a_file_never_pass(data: bytes) -> None:
    try:
        document = json.loads(data)
        comments = document.get("comments") if isinstance(document, dict) else None
    except (ValueError, RecursionError):
        comments = None
    plain = (
        comments
        if isinstance(comments, list) and all(isinstance(c, dict) for c in comments)
        else [{"x": 1}]
    )
    result = evaluate_shellcheck_quality(Collected(plain, None), {"a.sh": data}, ON).result
    if result.status is CheckStatus.PASSED:
        assert plain == []
        assert all(d.justified for d in directives_in_file("a.sh", data))
