"""Stale advisory data is visible: the dependency check states the data's age, and a
spec's ``security.dependencies.max_data_age`` turns older data into ADVISORIES_STALE."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from acceptance.engine.spec import DependencyAuditSpec, SpecError, parse_age, parse_spec
from checks import audit_cache
from checks import dependencies as audit
from checks.interface import CheckStatus
from checks.osv_server import serve_advisories
from tests.conftest import real_snapshot

NOW = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC)
DAY = 86400
SPEC_HEAD = "version: 1\ntitle: Age\n"
VULN = {"package": "py", "version": "1.11.0", "id": "PYSEC-2022-42969", "aliases": [],
        "fix_versions": [], "ignored": False}  # fmt: skip


# ---------------------------------------------------------------- the spec field


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30d", 30 * DAY), ("12h", 12 * 3600), ("2w", 14 * DAY), ("30", 30 * DAY), (7, 7 * DAY),
     ("1H", 3600), (" 90 d ", 90 * DAY), ("3650d", 3650 * DAY)],
)  # fmt: skip
def test_ages_the_spec_accepts(value: object, seconds: int) -> None:
    assert parse_age(value) == seconds


def test_the_field_reaches_the_dependency_spec(tmp_path: Path) -> None:
    text = SPEC_HEAD + "security:\n  dependencies:\n    max_data_age: 30d\n"
    assert parse_spec(text, tmp_path).security.dependencies.max_data_age == 30 * DAY
    assert parse_spec(SPEC_HEAD, tmp_path).security.dependencies.max_data_age is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("30m", "an age like '30d', '12h' or '2w'"),
        ("1.5d", "an age like"),
        ("-1d", "an age like"),
        ("thirty days", "an age like"),
        ("0", "at least 1 hour"),
        ("0h", "at least 1 hour"),
        ("3651d", "at most 10 years"),
        ("99999999", "at most 10 years"),
        ("'99999999w'", "an age like"),
        ("true", "got boolean true"),
        ("null", "got null"),
        ("[30d]", "an age like"),
        ('"30d\\n"', "an age like"),
    ],
)
def test_a_bad_age_is_a_spec_error_naming_the_field(tmp_path: Path, value: str, says: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(SPEC_HEAD + f"security: {{dependencies: {{max_data_age: {value}}}}}\n", tmp_path)
    problems = [
        p for p in info.value.problems if p.startswith("security.dependencies.max_data_age:")
    ]
    assert problems and says in problems[0], info.value.problems


# ---------------------------------------------------------------- the verdict


def details(**advisory_data: object) -> dict[str, object]:
    return {"audited": 6, "excluded": [], "advisory_data": {"records": 2661, **advisory_data}}


def test_the_summary_states_the_datas_age_from_its_newest_record() -> None:
    result = audit._verdict([], DependencyAuditSpec(), details(
        newest_modified="2024-10-10T17:22:00.587279Z", imported_at="2026-12-05T07:00:00Z"), NOW)  # fmt: skip
    assert result.status is CheckStatus.PASSED
    assert result.summary == (
        "no known vulnerabilities in 6 installed package(s); advisory data as of 2024-10-10 (785 days old)"
    )
    assert result.details["advisory_data_age"] == {
        "as_of": "2024-10-10T17:22:00.587279Z", "days": 785.6, "max_days": None,
    }  # fmt: skip


def test_the_import_time_counts_when_no_record_carries_a_time() -> None:
    result = audit._verdict([], DependencyAuditSpec(max_data_age=DAY), details(
        newest_modified=None, imported_at="2026-12-05T02:00:00Z"), NOW)  # fmt: skip
    assert result.status is CheckStatus.PASSED
    assert result.summary.endswith("advisory data as of 2026-12-05 (6 hours old)")


def test_data_older_than_the_spec_allows_is_an_error_not_a_pass() -> None:
    spec = DependencyAuditSpec(max_data_age=30 * DAY)
    result = audit._verdict([], spec, details(newest_modified="2026-10-01T00:00:00Z"), NOW)
    assert result.status is CheckStatus.ERROR and result.reason_code == "ADVISORIES_STALE"
    assert result.summary.startswith(
        "the advisory data is 65 days old (as of 2026-10-01), older than the 30 days the spec "
        "accepts (security.dependencies.max_data_age): import a fresh export"
    )
    assert "with that data: no known vulnerabilities in 6 installed package(s)" in result.summary
    assert result.details["advisory_data_age"]["max_days"] == 30  # type: ignore[index]


def test_stale_data_that_still_finds_a_vulnerability_lists_it_as_evidence() -> None:
    spec = DependencyAuditSpec(max_data_age=12 * 3600)
    result = audit._verdict(
        [dict(VULN)], spec, details(newest_modified="2026-12-04T08:00:00Z"), NOW
    )
    assert result.status is CheckStatus.ERROR and result.reason_code == "ADVISORIES_STALE"
    assert "24 hours old" in result.summary and "older than the 12 hours" in result.summary
    assert "1 known vulnerability in 1 of 6 installed package(s): py" in result.summary
    assert result.details["vulnerabilities"] == [VULN]


def test_fresh_enough_data_judges_as_before() -> None:
    spec = DependencyAuditSpec(max_data_age=30 * DAY)
    result = audit._verdict(
        [dict(VULN)], spec, details(newest_modified="2026-12-01T00:00:00Z"), NOW
    )
    assert result.status is CheckStatus.FAILED and result.reason_code == "VULNERABLE_DEPENDENCIES"
    assert result.summary == (
        "1 known vulnerability in 1 of 6 installed package(s): py; advisory data as of 2026-12-01 (4 days old)"
    )


@pytest.mark.parametrize(
    "advisory_data", [{}, {"newest_modified": "yesterday"}, {"imported_at": 5}]
)
def test_an_unknown_age_fails_closed_only_when_the_spec_sets_a_limit(
    advisory_data: dict[str, object],
) -> None:
    data = {"audited": 6, "excluded": [], "advisory_data": advisory_data}
    unlimited = audit._verdict([], DependencyAuditSpec(), dict(data), NOW)
    assert unlimited.status is CheckStatus.PASSED and "advisory data as of" not in unlimited.summary
    limited = audit._verdict([], DependencyAuditSpec(max_data_age=DAY), dict(data), NOW)
    assert limited.status is CheckStatus.ERROR and limited.reason_code == "ADVISORIES_STALE"
    assert "age is unknown" in limited.summary


# ---------------------------------------------------------------- on the real snapshot


@pytest.fixture(scope="module")
def store() -> Path:
    snapshot = real_snapshot()
    assert snapshot.exit_code == 0, snapshot.output
    return snapshot.store


@pytest.fixture(scope="module")
def osv_url(store: Path) -> Iterator[str]:
    with serve_advisories(store) as url:
        yield url


def test_the_real_snapshot_is_too_old_for_a_30_day_limit(osv_url: str, tmp_path: Path) -> None:
    # Its newest record is from 2024-10-10: stale for any run since November 2024.
    pins = [("requests", "2.32.3")]
    outcome = audit.audit(
        pins, DependencyAuditSpec(max_data_age=30 * DAY), osv_url=osv_url, work_dir=tmp_path
    )
    result = outcome.result
    assert result.status is CheckStatus.ERROR and result.reason_code == "ADVISORIES_STALE", (
        result.summary
    )
    assert "(as of 2024-10-10)" in result.summary and "no known vulnerabilities" in result.summary
    relaxed = audit.audit(pins, DependencyAuditSpec(), osv_url=osv_url, work_dir=tmp_path / "again")
    assert relaxed.result.status is CheckStatus.PASSED
    assert "; advisory data as of 2024-10-10 (" in relaxed.result.summary


def test_a_cached_audit_is_judged_against_the_runs_own_limit(store: Path, tmp_path: Path) -> None:
    pins = [("requests", "2.32.3")]
    kwargs = {"store": store, "cache_dir": tmp_path / "cache", "timeout": 120.0}
    first = audit_cache.audit_offline(
        pins, DependencyAuditSpec(), work_dir=tmp_path / "a", **kwargs
    )  # type: ignore[arg-type]
    assert first.result.status is CheckStatus.PASSED
    again = audit_cache.audit_offline(
        pins,
        DependencyAuditSpec(max_data_age=7 * DAY),
        work_dir=tmp_path / "b",
        **kwargs,  # type: ignore[arg-type]
    )
    assert again.result.details.get("reused") is True
    assert again.result.reason_code == "ADVISORIES_STALE"
