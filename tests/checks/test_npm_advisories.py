"""npm advisories in the offline store: the Node.js Security WG import, sources kept apart,
npm ranges judged with node-semver, the lookup's findings, hostile data, the CLI."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance.cli import main
from checks import npm_ranges, nswg
from checks.advisories import import_archive
from checks.advisory_model import AdvisoryStoreError, ArchiveError
from checks.advisory_store import AdvisoryStore
from checks.dependencies import _findings
from checks.npm_advisories import lookup_npm
from tests.advisory_support import pypi, record, write_tar, write_zip
from tests.conftest import PYPA_ARCHIVE, unavailable

NSWG_ARCHIVE = PYPA_ARCHIVE.parent / "nodejs-security-wg-npm.tar.gz"


def report(
    number: int, name: str = "pkg", vulnerable: object = "<1.2.0", **extra: Any
) -> dict[str, Any]:
    return {
        "id": number,
        "created_at": "2019-01-01",
        "updated_at": "2019-02-01",
        "publish_date": "2018-12-30",
        "title": f"issue {number}",
        "module_name": name,
        "cves": [f"CVE-2019-{1000 + number}"],
        "vulnerable_versions": vulnerable,
        "patched_versions": ">=1.2.0",
        "overview": "an overview",
        "recommendation": "update",
        "references": ["https://example.invalid/a"],
        "cvss_vector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "cvss_score": 9.8,
        **extra,
    }


def write_nswg(path: Path, reports: list[object], *, raw: dict[str, bytes] | None = None) -> Path:
    """A tarball laid out as nodejs/security-wg's (one top folder, vuln/npm/<n>.json)."""
    with tarfile.open(path, "w:gz") as tar:
        members = {
            f"security-wg/vuln/npm/{index}.json": json.dumps(r).encode()
            for index, r in enumerate(reports, start=1)
        }
        members["security-wg/vuln/npm/index.json"] = b"{}"  # the aggregate: not a report
        members["security-wg/LICENSE.md"] = b"MIT"
        for name, data in {**members, **(raw or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def npm_ids(store: AdvisoryStore, name: str, version: str) -> list[str]:
    return [r["id"] for r in store.query(name, version, "npm")]


@pytest.fixture
def real_nswg(tmp_path: Path) -> AdvisoryStore:
    if not NSWG_ARCHIVE.is_file():
        unavailable(f"the Node.js Security WG archive is not at {NSWG_ARCHIVE}")
    import_archive(NSWG_ARCHIVE, tmp_path / "advisories.sqlite")
    return AdvisoryStore(tmp_path / "advisories.sqlite")


# ---------------------------------------------------------------- the real data


def test_real_lodash_below_4_17_11_is_reported_with_its_ids_and_cves(
    real_nswg: AdvisoryStore,
) -> None:
    old = lookup_npm(real_nswg, [("lodash", "4.17.4"), ("lodash", "4.17.21")])
    assert old.audited == 2 and old.unjudged == []
    by_id = {f["id"]: f for f in old.findings}
    assert set(by_id) == {"NSWG-ECO-368", "NSWG-ECO-493"}  # <4.17.5 and <4.17.11
    assert by_id["NSWG-ECO-493"] == {
        "package": "lodash", "version": "4.17.4", "id": "NSWG-ECO-493",
        "aliases": ["CVE-2018-16487"], "fix_versions": ["4.17.11"], "ignored": False,
    }  # fmt: skip
    assert by_id["NSWG-ECO-368"]["aliases"] == ["CVE-2018-3721"]
    assert npm_ids(real_nswg, "lodash", "4.17.21") == []
    assert npm_ids(real_nswg, "lodash", "4.17.11") == []  # patched is inclusive
    assert npm_ids(real_nswg, "lodash", "4.17.16") == ["NSWG-ECO-516"]  # >=4.17.15 <4.17.19


def test_real_import_counts_every_report(real_nswg: AdvisoryStore) -> None:
    with tarfile.open(NSWG_ARCHIVE, "r:gz") as tar:
        reports = [m for m in tar.getmembers() if m.name.rsplit("/", 1)[-1][:-5].isdigit()]
    status = real_nswg.status("npm")
    assert status.records + status.skipped == len(reports) == 467
    assert status.format == "nswg-json-tar" and status.ecosystem == "npm"
    assert status.newest_modified is not None and status.newest_modified.startswith("20")
    assert real_nswg.status().records == 0  # no PyPI source: the Python audit has nothing


def test_ignore_by_id_or_cve_alias(real_nswg: AdvisoryStore) -> None:
    found = lookup_npm(real_nswg, [("lodash", "4.17.4")], ignore=["cve-2018-16487", "NSWG-ECO-368"])
    assert [f["ignored"] for f in found.findings] == [True, True]


def test_findings_have_exactly_the_python_audits_shape(real_nswg: AdvisoryStore) -> None:
    pip_audit = {
        "dependencies": [
            {
                "name": "requests",
                "version": "2.19.0",
                "vulns": [
                    {
                        "id": "PYSEC-2018-28",
                        "aliases": ["CVE-2018-18074"],
                        "fix_versions": ["2.20.0"],
                    }
                ],
            }
        ]
    }
    python, _ = _findings(json.dumps(pip_audit).encode(), [])
    npm = lookup_npm(real_nswg, [("lodash", "4.17.4")]).findings
    assert list(npm[0]) == list(python[0])
    assert {k: type(v) for k, v in npm[0].items()} == {k: type(v) for k, v in python[0].items()}


# ---------------------------------------------------------------- mapping and ranges


def test_a_report_maps_to_an_osv_record(tmp_path: Path) -> None:
    rec = nswg.to_osv(
        "x",
        report(7, "left-pad", ">=1.0.0 <1.2.0 || =0.9.0", cves=["CVE-2019-1", "CVE-2019-1234", 5]),
    )
    assert rec is not None
    assert rec["id"] == "NSWG-ECO-7" and rec["aliases"] == ["CVE-2019-1234"]
    assert rec["modified"] == "2019-02-01T00:00:00Z" and rec["published"] == "2018-12-30T00:00:00Z"
    (entry,) = rec["affected"]
    assert entry["package"] == {"ecosystem": "npm", "name": "left-pad", "purl": "pkg:npm/left-pad"}
    assert entry["ranges"] == [
        {"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "1.2.0"}]}
    ]
    assert entry["versions"] == ["0.9.0"]
    assert entry["database_specific"] == {
        "vulnerable_versions": ">=1.0.0 <1.2.0 || =0.9.0",
        "patched_versions": ">=1.2.0",
    }
    assert rec["severity"] == [
        {"type": "CVSS_V3", "score": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
    ]


@pytest.mark.parametrize(
    ("vulnerable", "patched", "version", "affected"),
    [
        ("<4.17.11", ">=4.17.11", "4.17.4", True),
        ("<4.17.11", ">=4.17.11", "4.17.11", False),
        ("<4.17.11", ">=4.17.11", "4.17.11-beta.1", True),  # pre-releases count for advisories
        ("<=1.5.1", None, "1.5.1", True),
        ("*", None, "0.0.1", True),
        ("2.0.x || 2.1.x", None, "2.1.9", True),
        ("2.0.x || 2.1.x", None, "2.2.0", False),
        ("^1.2.3", None, "1.9.0", True),
        ("^1.2.3", None, "2.0.0", False),
        ("~0.8.0-pre", None, "0.8.5", True),
        ("<1.6.5 || < 2.1.7 > 2.0.0", None, "2.1.0", True),
        ("<1.6.5 || < 2.1.7 > 2.0.0", None, "2.0.0", False),
        ("<=v2.0.0-alpha7", None, "2.0.0-alpha6", True),
        ("<3.0.0", ">=1.5.0 <2.0.0 || >=2.4.0", "1.6.0", False),  # patched inside the range
        ("<3.0.0", ">=1.5.0 <2.0.0 || >=2.4.0", "2.1.0", True),
        ("<3.0.0", None, "v2.0.0", True),  # npm accepts a leading v
        ("<3.0.0", None, "not-a-version", False),
    ],
)
def test_npm_ranges_mean_what_they_mean_to_npm(
    tmp_path: Path, vulnerable: str, patched: str | None, version: str, affected: bool
) -> None:
    archive = write_nswg(
        tmp_path / "wg.tar.gz", [report(1, "pkg", vulnerable, patched_versions=patched)]
    )
    summary = import_archive(archive, tmp_path / "advisories.sqlite")
    assert (summary.records, summary.skipped) == (1, 0)
    store = AdvisoryStore(tmp_path / "advisories.sqlite")
    assert npm_ids(store, "pkg", version) == (["NSWG-ECO-1"] if affected else [])


def test_an_unparsable_installed_version_is_unjudged_not_clean(tmp_path: Path) -> None:
    import_archive(write_nswg(tmp_path / "wg.tar.gz", [report(1)]), tmp_path / "s.sqlite")
    found = lookup_npm(
        AdvisoryStore(tmp_path / "s.sqlite"), [("pkg", "latest"), ("pkg", "1.0.0"), ("", "1.0.0")]
    )
    assert [f["id"] for f in found.findings] == ["NSWG-ECO-1"]
    assert found.unjudged == ["@1.0.0", "pkg@latest"]


def test_fix_versions_come_from_the_patched_range() -> None:
    assert npm_ranges.lower_bounds(">=4.17.11") == ["4.17.11"]
    assert npm_ranges.lower_bounds("^2.0.1 || >=1.2.3 <2.0.0 || <0.1.0") == ["1.2.3", "2.0.1"]
    assert npm_ranges.lower_bounds("not a range ((") == []


def test_npm_names_are_exact_and_pypi_names_stay_normalised(tmp_path: Path) -> None:
    store_path = tmp_path / "advisories.sqlite"
    import_archive(
        write_nswg(tmp_path / "wg.tar.gz", [report(1, "JSONStream"), report(2, "@scope/pkg")]),
        store_path,
    )
    import_archive(
        write_tar(tmp_path / "py.tar.gz", [record("A-1", pypi("Foo_Bar", versions=["1.0"]))]),
        store_path,
    )
    store = AdvisoryStore(store_path)
    assert npm_ids(store, "JSONStream", "1.0.0") == ["NSWG-ECO-1"]
    assert npm_ids(store, "jsonstream", "1.0.0") == []  # another npm package
    assert npm_ids(store, "@scope/pkg", "1.0.0") == ["NSWG-ECO-2"]
    assert [r["id"] for r in store.query("foo-bar", "1.0")] == ["A-1"]
    assert npm_ids(store, "foo-bar", "1.0.0") == [] and store.query("JSONStream", "1.0.0") == []


# ---------------------------------------------------------------- one source at a time


def test_importing_npm_keeps_pypi_and_the_other_way_round(tmp_path: Path) -> None:
    store_path = tmp_path / "advisories.sqlite"
    py1 = write_tar(tmp_path / "py1.tar.gz", [record("A-1", pypi("pkg", versions=["1.0"]))])
    py2 = write_zip(tmp_path / "py2.zip", [record("B-1", pypi("pkg", versions=["1.0"]))])
    wg1 = write_nswg(tmp_path / "wg1.tar.gz", [report(1)])
    wg2 = write_nswg(tmp_path / "wg2.tar.gz", [report(2), report(3, "other")])
    store = AdvisoryStore(store_path)

    import_archive(py1, store_path)
    summary = import_archive(wg1, store_path)
    assert summary.ecosystem == "npm" and summary.kept == ("PyPI",)
    assert [r["id"] for r in store.query("pkg", "1.0")] == ["A-1"]
    assert npm_ids(store, "pkg", "1.0.0") == ["NSWG-ECO-1"]
    pypi_status = store.status()
    assert pypi_status.source == "py1.tar.gz" and pypi_status.records == 1

    assert import_archive(py2, store_path).kept == ("npm",)  # PyPI replaced, npm kept
    assert [r["id"] for r in store.query("pkg", "1.0")] == ["B-1"]
    assert npm_ids(store, "pkg", "1.0.0") == ["NSWG-ECO-1"]
    assert store.status("npm").source == "wg1.tar.gz"

    import_archive(wg2, store_path)  # npm replaced whole: NSWG-ECO-1 is gone
    assert npm_ids(store, "pkg", "1.0.0") == ["NSWG-ECO-2"]
    assert [r["id"] for r in store.query("pkg", "1.0")] == ["B-1"]
    assert [(s.ecosystem, s.records, s.source) for s in store.sources()] == [
        ("PyPI", 1, "py2.zip"),
        ("npm", 2, "wg2.tar.gz"),
    ]
    assert store.status().to_dict()["source"] == "py2.zip"  # what reports record: PyPI's
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_failed_import_leaves_that_sources_previous_data(tmp_path: Path) -> None:
    store_path = tmp_path / "advisories.sqlite"
    import_archive(
        write_tar(tmp_path / "py.tar.gz", [record("A-1", pypi("pkg", versions=["1.0"]))]),
        store_path,
    )
    good = write_nswg(tmp_path / "wg.tar.gz", [report(1)])
    import_archive(good, store_path)
    before = store_path.read_bytes()
    store = AdvisoryStore(store_path)

    nothing_usable = write_nswg(
        tmp_path / "bad.tar.gz", [report(5, vulnerable=">>>nope"), "not an object"]
    )
    with pytest.raises(ArchiveError, match="no usable npm advisory"):
        import_archive(nothing_usable, store_path)
    (tmp_path / "cut.tar.gz").write_bytes(good.read_bytes()[:80])
    with pytest.raises(ArchiveError, match="not a readable"):
        import_archive(tmp_path / "cut.tar.gz", store_path)
    assert store_path.read_bytes() == before
    assert npm_ids(store, "pkg", "1.0.0") == ["NSWG-ECO-1"]
    assert [r["id"] for r in store.query("pkg", "1.0")] == ["A-1"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_store_from_before_sources_is_read_and_carried_over(tmp_path: Path) -> None:
    """Schema 1 (one PyPI store, no sources table), as every deployment has it today."""
    store_path = tmp_path / "advisories.sqlite"
    db = sqlite3.connect(store_path)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE vulns (id TEXT PRIMARY KEY, modified TEXT, withdrawn TEXT, record TEXT NOT NULL);
        CREATE TABLE affected (vuln_id TEXT NOT NULL, package TEXT NOT NULL, entry TEXT NOT NULL);
        """
    )
    rec = record("OLD-1", pypi("pkg", versions=["1.0"]))
    db.execute(
        "INSERT INTO vulns VALUES ('OLD-1', '2024-01-01T00:00:00Z', NULL, ?)", (json.dumps(rec),)
    )
    db.execute("INSERT INTO affected VALUES ('OLD-1', 'pkg', ?)", (json.dumps(rec["affected"][0]),))
    meta = {
        "schema": "1",
        "source": "old.tar.gz",
        "format": "pypa-yaml-tar",
        "sha256": "ab" * 32,
        "records": "1",
        "withdrawn": "0",
        "packages": "1",
        "imported_at": "2026-01-01T00:00:00Z",
        "newest_modified": "2024-01-01T00:00:00Z",
    }
    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    db.commit()
    db.close()
    store = AdvisoryStore(store_path)
    old_status = store.status()
    assert (old_status.records, old_status.source, old_status.ecosystem) == (
        1,
        "old.tar.gz",
        "PyPI",
    )
    assert [r["id"] for r in store.query("pkg", "1.0")] == ["OLD-1"] and npm_ids(
        store, "pkg", "1.0.0"
    ) == []

    assert import_archive(write_nswg(tmp_path / "wg.tar.gz", [report(1)]), store_path).kept == (
        "PyPI",
    )
    assert store.status().to_dict() == old_status.to_dict()  # the PyPI source, unchanged
    assert [r["id"] for r in store.query("pkg", "1.0")] == ["OLD-1"]
    assert npm_ids(store, "pkg", "1.0.0") == ["NSWG-ECO-1"]


def test_a_corrupt_previous_store_is_replaced_by_the_import(tmp_path: Path) -> None:
    store_path = tmp_path / "advisories.sqlite"
    store_path.write_bytes(b"garbage" * 100)
    summary = import_archive(write_nswg(tmp_path / "wg.tar.gz", [report(1)]), store_path)
    assert summary.kept == ()
    assert npm_ids(AdvisoryStore(store_path), "pkg", "1.0.0") == ["NSWG-ECO-1"]


def test_lookup_without_an_npm_source_is_a_platform_error(tmp_path: Path) -> None:
    store_path = tmp_path / "advisories.sqlite"
    with pytest.raises(AdvisoryStoreError):
        lookup_npm(AdvisoryStore(store_path), [("lodash", "4.17.4")])
    import_archive(
        write_tar(tmp_path / "py.tar.gz", [record("A-1", pypi("pkg", versions=["1.0"]))]),
        store_path,
    )
    with pytest.raises(AdvisoryStoreError, match="no npm advisories"):
        lookup_npm(AdvisoryStore(store_path), [("lodash", "4.17.4")])


# ---------------------------------------------------------------- hostile data


def test_hostile_reports_are_counted_and_skipped_never_crash(tmp_path: Path) -> None:
    huge = "A" * 1_000_000
    reports: list[object] = [
        report(1),  # the one good report
        report(2, vulnerable=">=1.0.0 <<2"),  # odd range
        report(3, vulnerable="<" + "1." * 400 + "0"),  # too long a range
        report(4, vulnerable=12),  # not a string
        report(5, vulnerable=None),
        report(6, patched_versions=["1.0.0"]),  # patched not a string
        report(7, name=["lodash"]),  # name not a string
        report(8, name="../../etc/passwd"),
        report(9, name="x" * 300),
        {**report(10), "id": "10"},  # id not an integer
        {**report(11), "id": True},
        {**report(12), "id": -3},
        [1, 2, 3],
        "a string",
        None,
    ]
    odd_fields = report(
        20,
        "odd",
        cves="CVE-2020-1",
        title=None,
        overview={"x": 1},
        references=[1, None, "javascript:alert(1)"],
        cvss_vector="<script>",
        cvss_score="9.8",
        updated_at="yesterday",
        publish_date=20200101,
    )
    dup_old = {**report(30, "dup"), "updated_at": "2019-01-01", "vulnerable_versions": "<9.0.0"}
    dup_new = {**report(30, "dup"), "updated_at": "2020-01-01", "vulnerable_versions": "<1.0.0"}
    raw = {
        "security-wg/vuln/npm/900.json": b"{not json",
        "security-wg/vuln/npm/901.json": b"\xff\xfe",
        "security-wg/vuln/npm/902.json": b"[" * 100_000 + b"]" * 100_000,  # deep nesting
        "security-wg/vuln/npm/903.json": json.dumps(
            report(903, overview=huge)
        ).encode(),  # huge text
        "security-wg/vuln/npm/904.json": json.dumps(odd_fields).encode(),
        "security-wg/vuln/npm/905.json": json.dumps(dup_old).encode(),
        "security-wg/vuln/npm/906.json": json.dumps(dup_new).encode(),
        "security-wg/vuln/npm/907.json": b'{"id": 1e999}',
    }
    archive = write_nswg(tmp_path / "wg.tar.gz", reports, raw=raw)
    started = time.monotonic()
    summary = import_archive(archive, tmp_path / "advisories.sqlite")
    assert time.monotonic() - started < 20
    # good: 1, 903 (huge text capped, under the member cap), 904 (odd fields dropped), 30 (one copy)
    assert summary.records == 4
    assert summary.skipped == 18  # the 14 bad reports in the list, 900, 901, 902 and 907
    store = AdvisoryStore(tmp_path / "advisories.sqlite")
    assert store.status("npm").skipped == summary.skipped
    odd = store.query("odd", "1.0.0", "npm")[0]
    assert odd["id"] == "NSWG-ECO-20" and "aliases" not in odd and "summary" not in odd
    assert odd["references"] == [
        {
            "type": "ADVISORY",
            "url": "https://github.com/nodejs/security-wg/blob/main/vuln/npm/20.json",
        }
    ]
    assert "severity" not in odd and odd["modified"] == "2019-01-01T00:00:00Z"  # created_at
    assert len(store.query("pkg", "1.0.0", "npm")[0]["details"]) <= nswg.MAX_TEXT_CHARS
    assert npm_ids(store, "dup", "2.0.0") == []  # the newer copy (<1.0.0) was kept
    assert npm_ids(store, "dup", "0.5.0") == ["NSWG-ECO-30"]


def test_an_oversized_report_is_skipped_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import checks.advisories as advisories

    monkeypatch.setattr(advisories, "MAX_MEMBER_BYTES", 2000)
    archive = write_nswg(tmp_path / "wg.tar.gz", [report(1), report(2, overview="x" * 5000)])
    summary = import_archive(archive, tmp_path / "advisories.sqlite")
    assert (summary.records, summary.skipped) == (1, 1)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "module_name",
                "vulnerable_versions",
                "patched_versions",
                "cves",
                "updated_at",
                "references",
                "cvss_vector",
                "cvss_score",
                "title",
            ]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=80),
            st.lists(st.text(max_size=20), max_size=3),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        ),
    )
)
def test_any_report_maps_or_is_refused(raw: dict[str, object]) -> None:
    rec = nswg.to_osv("fuzz", raw)
    if rec is not None:
        json.dumps(rec, allow_nan=False)
        assert rec["id"].startswith("NSWG-ECO-")


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="<>=~^|x*-. 0123456789abv", max_size=120),
    st.text(alphabet="0123456789.-abv", max_size=20),
)
def test_any_range_and_version_answer_or_refuse(range_text: str, version: str) -> None:
    assert npm_ranges.satisfies(version, range_text) in (True, False, None)
    npm_ranges.lower_bounds(range_text)
    npm_ranges.osv_ranges(range_text)


def test_a_long_hostile_range_is_refused_quickly() -> None:
    started = time.monotonic()
    for text in ["1" * 10_000, "<" * 511, " || ".join(["<1.0.0"] * 100), "1.2.3 - " * 60]:
        npm_ranges.satisfies("1.0.0", text)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- the CLI


def test_cli_import_and_status_list_each_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path / "data"))
    py = write_tar(tmp_path / "py.tar.gz", [record("A-1", pypi("pkg", versions=["1.0"]))])
    wg = write_nswg(tmp_path / "wg.tar.gz", [report(1), report(2, vulnerable="((bad")])
    assert main(["advisories", "import", str(wg)]) == 0
    out = capsys.readouterr().out
    assert "imported 1 advisories (0 withdrawn) for 1 packages from wg.tar.gz" in out
    assert "skipped 1 unreadable record(s)" in out
    assert "ecosystem: npm (nswg-json-tar) replaced; other sources kept: none" in out

    assert main(["advisories", "status"]) == 0
    out = capsys.readouterr().out
    assert "ecosystem: npm (nswg-json-tar)" in out and "skipped at import: 1" in out
    assert "no PyPI advisories: Python dependencies cannot be audited" in out

    assert main(["advisories", "import", str(py)]) == 0
    assert "other sources kept: npm" in capsys.readouterr().out
    assert main(["advisories", "status"]) == 0
    out = capsys.readouterr().out
    blocks = out.strip().split("\n\n")
    assert blocks[0].splitlines()[:2] == [
        "ecosystem: PyPI (pypa-yaml-tar)",
        "1 advisories (0 withdrawn) for 1 packages",
    ]
    assert blocks[1].startswith(
        "ecosystem: npm (nswg-json-tar)\n1 advisories (0 withdrawn) for 1 packages"
    )
    assert "newest modified: 2019-02-01T00:00:00Z" in blocks[1]
    assert "cannot be audited" not in out


# ---------------------------------------------------------------- the OSV endpoint and concurrency


def test_the_osv_endpoint_answers_npm_queries_from_the_npm_source(tmp_path: Path) -> None:
    from checks.osv_server import serve_advisories
    from tests.checks.test_osv_server import request

    store_path = tmp_path / "advisories.sqlite"
    import_archive(
        write_tar(tmp_path / "py.tar.gz", [record("A-1", pypi("pkg", versions=["1.0"]))]),
        store_path,
    )
    import_archive(
        write_nswg(tmp_path / "wg.tar.gz", [report(1), report(2, "@scope/pkg")]), store_path
    )
    with serve_advisories(store_path) as base:
        by_name = {"package": {"name": "pkg", "ecosystem": "npm"}, "version": "1.0.0"}
        status, body = request(base, "POST", "/v1/query", by_name)
        assert status == 200 and [v["id"] for v in body["vulns"]] == ["NSWG-ECO-1"]
        assert request(base, "POST", "/v1/query", {**by_name, "version": "1.2.0"}) == (200, {})
        status, body = request(
            base, "POST", "/v1/query", {"package": {"purl": "pkg:npm/%40scope/pkg@1.1.0"}}
        )
        assert [v["id"] for v in body["vulns"]] == ["NSWG-ECO-2"]
        status, body = request(
            base,
            "POST",
            "/v1/query",
            {"package": {"name": "pkg", "ecosystem": "PyPI"}, "version": "1.0"},
        )
        assert [v["id"] for v in body["vulns"]] == ["A-1"]  # the ecosystems stay apart
        status, body = request(base, "GET", "/status")
        assert body["source"] == "py.tar.gz"  # what the Python audit records: PyPI's


def test_concurrent_imports_of_two_sources_keep_both(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store_path = tmp_path / "advisories.sqlite"
    py = write_tar(
        tmp_path / "py.tar.gz",
        [record(f"A-{i}", pypi("pkg", versions=["1.0"])) for i in range(300)],
    )
    wg = write_nswg(tmp_path / "wg.tar.gz", [report(i) for i in range(1, 300)])
    for _ in range(3):
        store_path.unlink(missing_ok=True)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda archive: import_archive(archive, store_path), [py, wg]))
        assert [(s.ecosystem, s.records) for s in AdvisoryStore(store_path).sources()] == [
            ("PyPI", 300),
            ("npm", 299),
        ]


def test_an_import_waits_for_the_one_in_progress(tmp_path: Path) -> None:
    """Two imports must not both copy the old store and then each rename over the other."""
    from concurrent.futures import ThreadPoolExecutor

    from checks.advisories import _folder_lock

    store_path = tmp_path / "advisories.sqlite"
    wg = write_nswg(tmp_path / "wg.tar.gz", [report(1)])
    with ThreadPoolExecutor(1) as pool:
        with _folder_lock(tmp_path):  # as an import in progress holds it
            waiting = pool.submit(import_archive, wg, store_path)
            time.sleep(0.5)
            assert not waiting.done() and not store_path.exists()
        assert waiting.result(timeout=30).records == 1


def test_an_osv_npm_export_is_the_npm_source_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """OSV's npm all.zip (GitHub's advisories, kept up to date) instead of the WG's, frozen in 2020."""
    ghsa = record(
        "GHSA-jf85-cpcp-j695",
        {"package": {"name": "lodash", "ecosystem": "npm"},
         "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.12"}]}]},
        aliases=["CVE-2019-10744"],
    )  # fmt: skip
    export = write_zip(
        tmp_path / "npm-all.zip", [ghsa, record("A-1", pypi("pkg", versions=["1.0"]))]
    )
    store_path = tmp_path / "advisories.sqlite"
    import_archive(write_nswg(tmp_path / "wg.tar.gz", [report(1, "lodash")]), store_path)
    import_archive(
        write_tar(tmp_path / "py.tar.gz", [record("B-1", pypi("pkg", versions=["1.0"]))]),
        store_path,
    )

    summary = import_archive(export, store_path, "npm")
    assert (summary.ecosystem, summary.format, summary.records, summary.kept) == (
        "npm",
        "osv-json-zip",
        1,
        ("PyPI",),
    )
    store = AdvisoryStore(store_path)
    found = lookup_npm(store, [("lodash", "4.17.4"), ("lodash", "4.17.12")]).findings
    assert found == [
        {
            "package": "lodash",
            "version": "4.17.4",
            "id": "GHSA-jf85-cpcp-j695",
            "aliases": ["CVE-2019-10744"],
            "fix_versions": ["4.17.12"],
            "ignored": False,
        }
    ]
    assert [r["id"] for r in store.query("pkg", "1.0")] == ["B-1"]  # PyPI kept, not the zip's A-1

    with pytest.raises(ArchiveError, match="holds PyPI advisories"):
        import_archive(tmp_path / "py.tar.gz", store_path, "npm")
    with pytest.raises(ArchiveError, match="unknown ecosystem"):
        import_archive(export, store_path, "crates.io")

    monkeypatch.setenv("ACCEPTANCE_ADVISORIES_DB", str(store_path))
    assert main(["advisories", "import", "--ecosystem", "npm", str(export)]) == 0
    assert (
        "ecosystem: npm (osv-json-zip) replaced; other sources kept: PyPI"
        in capsys.readouterr().out
    )
    assert main(["advisories", "import", str(export)]) == 0  # default: the zip's PyPI records
    assert [r["id"] for r in store.query("pkg", "1.0")] == ["A-1"]
    assert npm_ids(store, "lodash", "4.17.4") == ["GHSA-jf85-cpcp-j695"]
