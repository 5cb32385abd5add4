"""The offline advisory store: safe archive import, OSV range matching, the CLI, real data."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sqlite3
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from acceptance.cli import main
from checks.advisories import import_archive
from checks.advisory_model import AdvisoryStoreError, ArchiveError
from checks.advisory_store import AdvisoryStore
from checks.osv_match import SemVer, affects
from tests.advisory_support import eco, pypi, record, write_tar, write_zip
from tests.conftest import PYPA_ARCHIVE, real_snapshot, unavailable

REAL_ARCHIVE = PYPA_ARCHIVE


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def real_store() -> AdvisoryStore:
    snapshot = real_snapshot()
    assert snapshot.exit_code == 0, snapshot.output
    return AdvisoryStore(snapshot.store)


# ---------------------------------------------------------------- hand-made archives


def add_members(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    """Append raw members to an uncompressed copy, then re-compress."""
    with tarfile.open(path, "r:gz") as src:
        kept = [(m, src.extractfile(m).read() if m.isreg() else None) for m in src.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(path, "w:gz") as tar:
        for info, data in [*kept, *members]:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def store_of(tmp_path: Path, *records: dict[str, Any]) -> AdvisoryStore:
    archive = write_tar(tmp_path / "db.tar.gz", list(records))
    import_archive(archive, tmp_path / "advisories.sqlite")
    return AdvisoryStore(tmp_path / "advisories.sqlite")


def ids(store: AdvisoryStore, name: str, version: str) -> list[str]:
    return [r["id"] for r in store.query(name, version)]


# ---------------------------------------------------------------- range rules


def test_introduced_zero_and_fixed(tmp_path: Path) -> None:
    store = store_of(
        tmp_path, record("A-1", pypi("pkg", eco({"introduced": "0"}, {"fixed": "2.0"})))
    )
    assert ids(store, "pkg", "0.0.1") == ["A-1"]
    assert ids(store, "pkg", "1.9.9") == ["A-1"]
    assert ids(store, "pkg", "2.0rc1") == ["A-1"]  # PEP 440: a pre-release sorts before 2.0
    assert ids(store, "pkg", "2.0") == []  # fixed is exclusive
    assert ids(store, "pkg", "2.0.0") == []  # 2.0.0 == 2.0 under PEP 440
    assert ids(store, "pkg", "2.0.post1") == []
    assert ids(store, "pkg", "10.0") == []  # numeric, not lexical, order


def test_introduced_later_version(tmp_path: Path) -> None:
    store = store_of(
        tmp_path, record("A-1", pypi("pkg", eco({"introduced": "1.5"}, {"fixed": "1.10"})))
    )
    assert ids(store, "pkg", "1.4") == []
    assert ids(store, "pkg", "1.5") == ["A-1"]  # introduced is inclusive
    assert ids(store, "pkg", "1.9") == ["A-1"]
    assert ids(store, "pkg", "1.10") == []


def test_last_affected_is_inclusive(tmp_path: Path) -> None:
    store = store_of(
        tmp_path, record("A-1", pypi("pkg", eco({"introduced": "0"}, {"last_affected": "1.11.0"})))
    )
    assert ids(store, "pkg", "1.11.0") == ["A-1"]
    assert ids(store, "pkg", "1.11") == ["A-1"]
    assert ids(store, "pkg", "1.11.0.post1") == []
    assert ids(store, "pkg", "1.11.1") == []


def test_open_range_affects_every_later_version(tmp_path: Path) -> None:
    store = store_of(tmp_path, record("A-1", pypi("pkg", eco({"introduced": "3.0"}))))
    assert ids(store, "pkg", "2.9") == []
    assert ids(store, "pkg", "3.0") == ["A-1"]
    assert ids(store, "pkg", "99.0") == ["A-1"]


def test_limit_bounds_the_range(tmp_path: Path) -> None:
    store = store_of(
        tmp_path,
        record("A-1", pypi("pkg", eco({"introduced": "0"}, {"limit": "2.0"}))),
        record("B-1", pypi("other", eco({"introduced": "1.0"}, {"limit": "*"}))),
    )
    assert ids(store, "pkg", "1.9") == ["A-1"]
    assert ids(store, "pkg", "2.0") == []  # limit is exclusive
    assert ids(store, "pkg", "3.0") == []
    assert ids(store, "other", "7.0") == ["B-1"]  # "*" means no limit


def test_several_introduced_fixed_pairs_in_one_range(tmp_path: Path) -> None:
    events = [{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.5"}]
    store = store_of(tmp_path, record("A-1", pypi("pkg", eco(*events))))
    expected = {
        "0.9": [],
        "1.0": ["A-1"],
        "1.4.9": ["A-1"],
        "1.5": [],
        "1.9": [],
        "2.0": ["A-1"],
        "2.4": ["A-1"],
        "2.5": [],
        "3.0": [],
    }
    assert {v: ids(store, "pkg", v) for v in expected} == expected


def test_unsorted_events_are_sorted_by_version_first(tmp_path: Path) -> None:
    events = [{"fixed": "2.5"}, {"introduced": "2.0"}, {"fixed": "1.10"}, {"introduced": "0"}]
    store = store_of(tmp_path, record("A-1", pypi("pkg", eco(*events))))
    expected = {"0.1": ["A-1"], "1.9": ["A-1"], "1.10": [], "1.11": [], "2.0": ["A-1"], "2.5": []}
    assert {v: ids(store, "pkg", v) for v in expected} == expected


def test_explicit_versions_list_uses_pep440_equality(tmp_path: Path) -> None:
    store = store_of(tmp_path, record("A-1", pypi("pkg", versions=["0.12.01", "1.0", "2.0rc1"])))
    assert ids(store, "pkg", "0.12.1") == ["A-1"]  # 0.12.01 normalises to 0.12.1
    assert ids(store, "pkg", "1.0.0") == ["A-1"]
    assert ids(store, "pkg", "2.0.0-rc.1") == ["A-1"]
    assert ids(store, "pkg", "1.1") == []


def test_versions_list_and_ranges_combine(tmp_path: Path) -> None:
    entry = pypi("pkg", eco({"introduced": "2.0"}, {"fixed": "2.1"}), versions=["1.0"])
    store = store_of(tmp_path, record("A-1", entry))
    assert ids(store, "pkg", "1.0") == ["A-1"]
    assert ids(store, "pkg", "2.0.5") == ["A-1"]
    assert ids(store, "pkg", "1.5") == []


def test_package_names_are_normalised(tmp_path: Path) -> None:
    store = store_of(tmp_path, record("A-1", pypi("Foo_Bar.baz", versions=["1.0"])))
    for name in ("foo-bar-baz", "FOO.BAR_BAZ", "foo__bar--baz", "Foo_Bar.baz"):
        assert ids(store, name, "1.0") == ["A-1"], name
    assert ids(store, "foobarbaz", "1.0") == []


def test_withdrawn_records_are_excluded_but_still_served_by_id(tmp_path: Path) -> None:
    store = store_of(
        tmp_path,
        record("W-1", pypi("pkg", versions=["1.0"]), withdrawn="2024-02-01T00:00:00Z"),
        record("A-1", pypi("pkg", versions=["1.0"])),
    )
    assert ids(store, "pkg", "1.0") == ["A-1"]
    assert store.get("W-1") is not None
    assert store.status().withdrawn == 1


def test_invalid_versions_skip_only_that_range(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = pypi(
        "pkg",
        eco({"introduced": "0"}, {"fixed": "not a version!"}),
        eco({"introduced": "5.0"}, {"fixed": "6.0"}),
        versions=["1.0"],
    )
    store = store_of(tmp_path, record("A-1", entry))
    with caplog.at_level(logging.WARNING, logger="checks.advisories"):
        assert ids(store, "pkg", "3.0") == []  # the broken range is skipped, not guessed
        assert ids(store, "pkg", "5.5") == ["A-1"]  # the other range still counts
        assert ids(store, "pkg", "1.0") == ["A-1"]  # and so does the versions list
    assert "unparsable version 'not a version!'" in caplog.text


def test_an_invalid_queried_version_does_not_crash(tmp_path: Path) -> None:
    store = store_of(
        tmp_path, record("A-1", pypi("pkg", eco({"introduced": "0"}), versions=["weird-1"]))
    )
    assert ids(store, "pkg", "weird-1") == ["A-1"]  # exact string match in versions
    assert ids(store, "pkg", "no such version") == []


def test_malformed_events_skip_the_range() -> None:
    assert not affects({"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": 1}]}]}, "1.0")
    assert not affects({"ranges": [{"type": "ECOSYSTEM", "events": [{"bogus": "1"}]}]}, "1.0")
    assert not affects({"ranges": [{"type": "ECOSYSTEM", "events": "nope"}]}, "1.0")
    assert not affects({"ranges": "nope", "versions": [1, None]}, "1.0")


def test_git_ranges_are_not_version_ranges(tmp_path: Path) -> None:
    git = {
        "type": "GIT",
        "repo": "https://example.invalid/r",
        "events": [{"introduced": "0"}, {"fixed": "abc123"}],
    }
    store = store_of(tmp_path, record("A-1", pypi("pkg", git, versions=["1.0"])))
    assert ids(store, "pkg", "1.0") == ["A-1"]
    assert ids(store, "pkg", "1.1") == []


def test_semver_ranges_use_semver_order(tmp_path: Path) -> None:
    semver = eco({"introduced": "1.0.0-alpha"}, {"fixed": "1.0.0"}, kind="SEMVER")
    store = store_of(tmp_path, record("A-1", pypi("pkg", semver)))
    assert ids(store, "pkg", "1.0.0-beta.2") == ["A-1"]
    assert ids(store, "pkg", "1.0.0") == []
    assert ids(store, "pkg", "0.9.0") == []
    assert ids(store, "pkg", "1.0") == []  # not a semantic version: the range cannot apply
    assert SemVer("1.0.0-alpha") < SemVer("1.0.0-alpha.1") < SemVer("1.0.0-beta.2")
    assert SemVer("1.0.0-beta.2") < SemVer("1.0.0-beta.11") < SemVer("1.0.0-rc.1") < SemVer("1.0.0")
    assert SemVer("1.0.0+build.1") == SemVer("1.0.0")


def test_only_pypi_entries_are_indexed(tmp_path: Path) -> None:
    npm = {"package": {"name": "pkg", "ecosystem": "npm"}, "versions": ["1.0"]}
    store = store_of(
        tmp_path,
        record("NPM-1", npm),
        record("MIX-1", npm, pypi("other", versions=["1.0"])),
        record("A-1", pypi("x", versions=["1"])),
    )
    assert ids(store, "pkg", "1.0") == []
    assert ids(store, "other", "1.0") == ["MIX-1"]
    assert store.get("NPM-1") is None
    assert store.status().records == 2


def test_returned_records_are_the_osv_records(tmp_path: Path) -> None:
    rec = record("A-1", pypi("pkg", versions=["1.0"]), aliases=["CVE-1"], summary="s")
    store = store_of(tmp_path, rec)
    assert store.query("pkg", "1.0") == [rec]
    assert store.for_package("PKG") == [rec]


# ---------------------------------------------------------------- import


def test_import_records_source_count_and_newest_modified(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "db.tar.gz",
        [
            record("A-1", pypi("a", versions=["1"]), modified="2023-05-01T10:00:00Z"),
            record("B-1", pypi("b", versions=["1"]), modified="2024-03-02T08:00:00.123456Z"),
            record("C-1", pypi("b", versions=["1"]), modified="2022-01-01T00:00:00Z"),
        ],
        prefix="advisory-database-main/",  # a repository snapshot's top folder
    )
    summary = import_archive(archive, tmp_path / "s" / "advisories.sqlite")
    assert (summary.records, summary.packages, summary.skipped) == (3, 2, 0)
    assert summary.newest_modified == "2024-03-02T08:00:00.123456Z"
    assert summary.format == "pypa-yaml-tar" and summary.source == "db.tar.gz"
    status = AdvisoryStore(tmp_path / "s" / "advisories.sqlite").status()
    assert status.records == 3 and status.source == "db.tar.gz"
    assert status.newest_modified == summary.newest_modified
    assert status.imported_at == summary.imported_at and status.sha256 == summary.sha256


def test_yaml_timestamps_become_rfc3339_strings(tmp_path: Path) -> None:
    archive = tmp_path / "db.tar.gz"
    data = (
        b"id: T-1\nmodified: 2021-07-05T00:01:25.632991Z\npublished: 2014-10-15\n"
        b"affected:\n- package: {name: pkg, ecosystem: PyPI}\n  versions: ['1.0']\n"
    )
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("vulns/pkg/T-1.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    summary = import_archive(archive, tmp_path / "advisories.sqlite")
    rec = AdvisoryStore(tmp_path / "advisories.sqlite").query("pkg", "1.0")[0]
    assert rec["modified"] == "2021-07-05T00:01:25.632991Z" == summary.newest_modified
    assert rec["published"] == "2014-10-15"


def test_osv_zip_export_is_imported(tmp_path: Path) -> None:
    archive = write_zip(
        tmp_path / "all.zip",
        [
            record("PYSEC-1", pypi("pkg", eco({"introduced": "0"}, {"fixed": "2"}))),
            record("GO-1", {"package": {"name": "x", "ecosystem": "Go"}, "versions": ["1"]}),
        ],
    )
    summary = import_archive(archive, tmp_path / "advisories.sqlite")
    assert (summary.records, summary.format) == (1, "osv-json-zip")
    assert ids(AdvisoryStore(tmp_path / "advisories.sqlite"), "pkg", "1.0") == ["PYSEC-1"]


def test_osv_zip_built_from_real_records(tmp_path: Path) -> None:
    if not REAL_ARCHIVE.is_file():
        unavailable(f"the PyPA advisory archive is not at {REAL_ARCHIVE}")
    wanted = {"vulns/requests/PYSEC-2018-28.yaml", "vulns/urllib3/PYSEC-2019-132.yaml"}
    records = []
    with tarfile.open(REAL_ARCHIVE, "r:gz") as tar:
        for name in sorted(wanted):
            loaded = yaml.safe_load(tar.extractfile(name).read())  # type: ignore[union-attr]
            records.append(json.loads(json.dumps(loaded, default=str)))
    import_archive(write_zip(tmp_path / "all.zip", records), tmp_path / "advisories.sqlite")
    store = AdvisoryStore(tmp_path / "advisories.sqlite")
    assert ids(store, "requests", "2.19.0") == ["PYSEC-2018-28"]
    assert ids(store, "requests", "2.20.0") == []
    assert ids(store, "urllib3", "1.23") == ["PYSEC-2019-132"]


def test_duplicate_ids_keep_the_newest_copy(tmp_path: Path) -> None:
    archive = write_zip(
        tmp_path / "all.zip",
        [
            record("A-1", pypi("pkg", versions=["2.0"]), modified="2024-06-01T00:00:00Z"),
            record("A-1", pypi("pkg", versions=["1.0"]), modified="2023-01-01T00:00:00Z"),
        ],
    )
    assert import_archive(archive, tmp_path / "advisories.sqlite").records == 1
    store = AdvisoryStore(tmp_path / "advisories.sqlite")
    assert ids(store, "pkg", "2.0") == ["A-1"] and ids(store, "pkg", "1.0") == []


def test_hostile_tar_members_are_skipped(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "db.tar.gz", [record("A-1", pypi("pkg", versions=["1.0"]))])
    link = tarfile.TarInfo("vulns/pkg/LINK.yaml")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    device = tarfile.TarInfo("vulns/pkg/DEV.yaml")
    device.type = tarfile.CHRTYPE
    outside = (
        b"id: EVIL-1\naffected: [{package: {name: pkg, ecosystem: PyPI}, versions: ['1.0']}]\n"
    )
    traversal = tarfile.TarInfo("../../vulns/pkg/EVIL-1.yaml")
    traversal.size = len(outside)
    deep = tarfile.TarInfo("a/b/vulns/pkg/EVIL-2.yaml")
    deep.size = len(outside)
    bad_yaml = b"id: [unclosed\n"
    broken = tarfile.TarInfo("vulns/pkg/BROKEN.yaml")
    broken.size = len(bad_yaml)
    laughs = (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "id: BOMB-1\naffected: [{package: {name: pkg, ecosystem: PyPI}, versions: ['1.0']}]\n"
    )
    bomb = tarfile.TarInfo("vulns/pkg/BOMB-1.yaml")
    bomb.size = len(laughs)
    add_members(
        archive,
        [
            (link, None),
            (device, None),
            (traversal, outside),
            (deep, outside),
            (broken, bad_yaml),
            (bomb, laughs.encode()),
        ],
    )
    started = time.monotonic()
    summary = import_archive(archive, tmp_path / "advisories.sqlite")
    assert time.monotonic() - started < 10  # the alias bomb is refused, not expanded
    assert summary.records == 1
    assert summary.skipped == 2  # the invalid YAML and the bomb
    assert ids(AdvisoryStore(tmp_path / "advisories.sqlite"), "pkg", "1.0") == ["A-1"]
    assert not (tmp_path / "etc").exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "advisories.sqlite",
        "db.tar.gz",
    ]


def test_oversized_member_is_skipped_without_reading_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import checks.advisories as advisories

    monkeypatch.setattr(advisories, "MAX_MEMBER_BYTES", 1000)
    big = record("BIG-1", pypi("pkg", versions=[f"1.{i}" for i in range(500)]))
    archive = write_tar(tmp_path / "db.tar.gz", [big, record("A-1", pypi("pkg", versions=["1.0"]))])
    summary = import_archive(archive, tmp_path / "advisories.sqlite")
    assert (summary.records, summary.skipped) == (1, 1)


def test_decompression_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import checks.advisories as advisories

    monkeypatch.setattr(advisories, "MAX_TOTAL_BYTES", 4096)
    archive = write_tar(
        tmp_path / "db.tar.gz", [record(f"A-{i}", pypi("pkg", versions=["1"])) for i in range(50)]
    )
    with pytest.raises(ArchiveError, match="decompresses to more than"):
        import_archive(archive, tmp_path / "advisories.sqlite")


def test_reimport_replaces_atomically_and_failures_keep_the_old_store(tmp_path: Path) -> None:
    store_path = tmp_path / "advisories.sqlite"
    first = write_tar(tmp_path / "one.tar.gz", [record("A-1", pypi("pkg", versions=["1.0"]))])
    second = write_tar(tmp_path / "two.tar.gz", [record("B-1", pypi("pkg", versions=["1.0"]))])
    import_archive(first, store_path)
    store = AdvisoryStore(store_path)
    held = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)  # a reader during the swap
    import_archive(second, store_path)
    assert held.execute("SELECT id FROM vulns").fetchall() == [("A-1",)]  # old snapshot intact
    held.close()
    assert ids(store, "pkg", "1.0") == ["B-1"]  # the next call sees the new data

    (tmp_path / "junk.bin").write_bytes(b"not an archive at all")
    with pytest.raises(ArchiveError, match="neither"):
        import_archive(tmp_path / "junk.bin", store_path)
    (tmp_path / "cut.tar.gz").write_bytes(second.read_bytes()[:60])
    with pytest.raises(ArchiveError, match="not a readable"):
        import_archive(tmp_path / "cut.tar.gz", store_path)
    npm_only = write_zip(
        tmp_path / "npm.zip", [record("N-1", {"package": {"name": "x", "ecosystem": "npm"}})]
    )
    with pytest.raises(ArchiveError, match="no usable PyPI advisory"):
        import_archive(npm_only, store_path)
    with pytest.raises(ArchiveError, match="cannot read"):
        import_archive(tmp_path / "missing.tar.gz", store_path)
    assert ids(store, "pkg", "1.0") == ["B-1"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_missing_or_corrupt_store_is_a_platform_error(tmp_path: Path) -> None:
    store = AdvisoryStore(tmp_path / "advisories.sqlite")
    assert store.status().records == 0
    with pytest.raises(AdvisoryStoreError, match="no advisory store"):
        store.query("pkg", "1.0")
    (tmp_path / "advisories.sqlite").write_bytes(b"garbage" * 100)
    with pytest.raises(AdvisoryStoreError):
        store.status()


# ---------------------------------------------------------------- the real snapshot


def test_real_snapshot_import(real_store: AdvisoryStore) -> None:
    with tarfile.open(REAL_ARCHIVE, "r:gz") as tar:
        files = [m for m in tar.getmembers() if m.isreg() and m.name.endswith(".yaml")]
    status = real_store.status()
    assert status.records == len(files)  # every PyPA record is a PyPI record
    assert status.source == REAL_ARCHIVE.name
    assert status.newest_modified is not None and status.newest_modified.startswith("20")
    assert status.withdrawn > 0
    print(f"real import: {real_snapshot().seconds:.2f} s for {status.records} records")


def test_real_snapshot_requests(real_store: AdvisoryStore) -> None:
    old = {r["id"]: r for r in real_store.query("requests", "2.19.0")}
    assert {"PYSEC-2018-28", "PYSEC-2023-74"} <= set(old)
    assert "CVE-2018-18074" in old["PYSEC-2018-28"]["aliases"]
    assert "CVE-2023-32681" in old["PYSEC-2023-74"]["aliases"]
    assert "PYSEC-2014-13" not in old  # fixed in 2.3.0
    assert real_store.query("requests", "2.32.3") == []  # nothing in this snapshot affects it
    assert [r["id"] for r in real_store.query("Requests", "2.20.0")] == ["PYSEC-2023-74"]


def test_real_snapshot_other_packages(real_store: AdvisoryStore) -> None:
    urllib3 = [r["id"] for r in real_store.query("urllib3", "1.23")]
    assert "PYSEC-2019-132" in urllib3 and "PYSEC-2018-32" not in urllib3  # fixed in 1.23
    assert [r["id"] for r in real_store.query("py", "1.11.0")] == [
        "PYSEC-2022-42969"
    ]  # last_affected
    assert real_store.query("redis", "4.5.5") == [] or all(
        "withdrawn" not in r for r in real_store.query("redis", "4.5.5")
    )
    started = time.perf_counter()
    for _ in range(20):
        real_store.query("django", "3.2.0")
    per_query = (time.perf_counter() - started) / 20
    print(f"django query: {per_query * 1000:.1f} ms")
    assert per_query < 1.0


# ---------------------------------------------------------------- the CLI


def test_cli_import_prints_count_source_and_newest() -> None:
    snapshot = real_snapshot()
    assert snapshot.exit_code == 0
    status = AdvisoryStore(snapshot.store).status()
    assert f"imported {status.records} advisories" in snapshot.output
    assert REAL_ARCHIVE.name in snapshot.output
    assert f"newest modified: {status.newest_modified}" in snapshot.output


def test_cli_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path))
    assert main(["advisories", "status"]) == 3
    out = capsys.readouterr().out
    assert "no advisories imported" in out and "acceptance advisories import ARCHIVE" in out

    snapshot = real_snapshot()
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(snapshot.data_dir))
    assert main(["advisories", "status"]) == 0
    out = capsys.readouterr().out
    status = AdvisoryStore(snapshot.store).status()
    assert f"{status.records} advisories" in out
    assert f"imported at: {status.imported_at}" in out and REAL_ARCHIVE.name in out


def test_cli_import_of_a_bad_archive_is_bad_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "x.tar.gz").write_bytes(b"nope")
    assert main(["advisories", "import", str(tmp_path / "x.tar.gz")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "data" / "advisories.sqlite").exists()
