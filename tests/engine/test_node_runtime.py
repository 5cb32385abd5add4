"""The Node.js runtime's host-side parts (issue 16): the lockfile's rules, the host fetch
with scripts off and the delivery's .npmrc ignored, node_modules checked against the
lockfile, Node's TAP report parsed and cross-checked, the npm audit (lodash 4.17.4 with its
NSWG ids, fetched from the real registry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance.engine.npm_fetch import check_installed, fetch_node_modules
from acceptance.engine.npm_lockfile import LockedPackage, read_project
from acceptance.errors import SubmissionError
from checks import node_tests
from checks.advisories import import_archive
from checks.interface import CheckStatus
from checks.junit import InvalidArtifact
from checks.node_tap import parse_tap
from checks.npm_audit import audit_npm
from checks.npm_licences import declared_licence, judge_npm_licences
from tests.conftest import PYPA_ARCHIVE, unavailable

NSWG_ARCHIVE = PYPA_ARCHIVE.parent / "nodejs-security-wg-npm.tar.gz"
LODASH_4_17_4 = {
    "version": "4.17.4",
    "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.4.tgz",
    "integrity": "sha512-6X37Sq9KCpLSXEh8uM12AKYlviHPNNk4RxiGBn4cmKGJinbXBneWIV7iE/nXkM928O7ytHcHb6+X6Svl0f4hXg==",
}


def project(
    tmp_path: Path, deps: dict[str, str], packages: dict[str, object], **manifest: object
) -> Path:
    root = tmp_path / "delivery"
    root.mkdir(exist_ok=True)
    (root / "package.json").write_text(
        json.dumps({"name": "demo", "version": "1.0.0", "dependencies": deps, **manifest})
    )
    lock = {"name": "demo", "lockfileVersion": 3, "packages": {"": {"name": "demo"}, **packages}}
    (root / "package-lock.json").write_text(json.dumps(lock))
    return root


# ---------------------------------------------------------------- the lockfile


def test_a_delivery_without_a_lockfile_is_refused_saying_how_to_make_one(tmp_path: Path) -> None:
    root = project(tmp_path, {}, {})
    (root / "package-lock.json").unlink()
    with pytest.raises(SubmissionError) as caught:
        read_project(root)
    assert caught.value.reason == "LOCKFILE_REQUIRED"
    assert "npm install --package-lock-only" in (caught.value.hint or "")


def test_a_lockfile_that_is_a_link_counts_as_absent(tmp_path: Path) -> None:
    root = project(tmp_path, {}, {})
    (root / "package-lock.json").unlink()
    (root / "package-lock.json").symlink_to("/etc/hostname")
    with pytest.raises(SubmissionError, match="must include its lockfile"):
        read_project(root)


@pytest.mark.parametrize(
    ("deps", "entry", "says"),
    [
        ({"x": "file:../x"}, {}, "file:"),
        ({"x": "git+https://example.invalid/x.git"}, {}, "git"),
        ({"x": "owner/repo"}, {}, "owner/repo"),
        (
            {},
            {
                "node_modules/x": {
                    "version": "1.0.0",
                    "resolved": "https://evil.example.invalid/x.tgz",
                }
            },
            "evil",
        ),
        ({}, {"node_modules/x": {"version": "1.0.0", "link": True, "resolved": "../x"}}, "link"),
        ({}, {"../outside": {"version": "1.0.0"}}, "not installed under node_modules"),
        ({}, {"node_modules/x": {"version": "file:../x"}}, "file:"),
    ],
)
def test_packages_named_by_place_are_refused(
    tmp_path: Path, deps: dict[str, str], entry: dict[str, object], says: str
) -> None:
    with pytest.raises(SubmissionError) as caught:
        read_project(project(tmp_path, deps, entry))
    assert caught.value.reason == "NPM_SOURCE_REFUSED"
    assert says in caught.value.message


def test_registry_packages_are_read_with_their_versions(tmp_path: Path) -> None:
    read = read_project(
        project(tmp_path, {"lodash": "4.17.4"}, {"node_modules/lodash": LODASH_4_17_4})
    )
    assert read.packages == (LockedPackage("node_modules/lodash", "lodash", "4.17.4"),)
    assert read.test_script is None


# ---------------------------------------------------------------- node_modules vs the lockfile


def _installed(root: Path, path: str, name: str, version: str) -> None:
    folder = root / path
    folder.mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"name": name, "version": version}))


def test_a_folder_holding_another_version_than_the_lockfile_is_a_mismatch(tmp_path: Path) -> None:
    _installed(tmp_path, "node_modules/lodash", "lodash", "4.17.21")
    with pytest.raises(SubmissionError) as caught:
        check_installed(tmp_path, (LockedPackage("node_modules/lodash", "lodash", "4.17.4"),))
    assert caught.value.reason == "NPM_INSTALL_MISMATCH"
    assert "lodash@4.17.21" in caught.value.message


def test_a_package_folder_the_lockfile_does_not_list_is_a_mismatch(tmp_path: Path) -> None:
    _installed(tmp_path, "node_modules/lodash", "lodash", "4.17.4")
    _installed(tmp_path, "node_modules/@evil/extra", "@evil/extra", "1.0.0")
    with pytest.raises(SubmissionError, match="@evil/extra was installed"):
        check_installed(tmp_path, (LockedPackage("node_modules/lodash", "lodash", "4.17.4"),))


def test_a_missing_optional_package_is_skipped_and_a_missing_required_one_refused(
    tmp_path: Path,
) -> None:
    optional = LockedPackage("node_modules/fsevents", "fsevents", "2.3.3", optional=True)
    assert check_installed(tmp_path, (optional,)) == ()
    with pytest.raises(SubmissionError, match="was not installed"):
        check_installed(tmp_path, (LockedPackage("node_modules/a", "a", "1.0.0"),))


# ---------------------------------------------------------------- the real registry, the audit


@pytest.fixture(scope="module")
def nswg_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not NSWG_ARCHIVE.is_file():
        unavailable(f"the Node.js Security WG archive is not at {NSWG_ARCHIVE}")
    store = tmp_path_factory.mktemp("npm-advisories") / "advisories.sqlite"
    import_archive(NSWG_ARCHIVE, store)
    return store


def test_lodash_4_17_4_is_fetched_with_scripts_off_and_reported_with_its_advisories(
    tmp_path: Path, nswg_store: Path
) -> None:
    from acceptance.engine.spec import DependencyAuditSpec

    root = project(tmp_path, {"lodash": "4.17.4"}, {"node_modules/lodash": LODASH_4_17_4})
    # The delivery's .npmrc would send npm to a dead registry: it is never read.
    (root / ".npmrc").write_text("registry=http://127.0.0.1:9/\n")
    fetched = fetch_node_modules(
        read_project(root), tmp_path / "work", tmp_path / "cache", timeout=120, max_bytes=1024**3
    )
    assert [(p.name, p.version, p.licence) for p in fetched.installed] == [
        ("lodash", "4.17.4", "MIT")
    ]
    outcome = audit_npm([("lodash", "4.17.4")], DependencyAuditSpec(), nswg_store)
    result = outcome.result
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "VULNERABLE_DEPENDENCIES")
    ids = {v["id"] for v in result.details["vulnerabilities"]}  # type: ignore[union-attr]
    assert ids == {"NSWG-ECO-368", "NSWG-ECO-493"}  # <4.17.5 and <4.17.11
    first = result.details["vulnerabilities"][0]  # type: ignore[index]
    assert set(first) == {"package", "version", "id", "aliases", "fix_versions", "ignored"}
    assert "pkg:npm/lodash@4.17.4" in outcome.artifacts["sbom.cdx.json"].decode()


def test_an_ignored_advisory_is_listed_as_ignored(nswg_store: Path) -> None:
    from acceptance.engine.spec import DependencyAuditSpec

    spec = DependencyAuditSpec(ignore=("NSWG-ECO-368",))
    vulns = audit_npm([("lodash", "4.17.4")], spec, nswg_store).result.details["vulnerabilities"]
    assert any(v["id"] == "NSWG-ECO-368" and v["ignored"] for v in vulns)  # type: ignore[union-attr]


def test_no_installed_package_passes_without_a_store() -> None:
    from acceptance.engine.spec import DependencyAuditSpec

    assert audit_npm([], DependencyAuditSpec(), None).result.status is CheckStatus.PASSED


# ---------------------------------------------------------------- Node's TAP report

NODE_18_TAP = b"""TAP version 13
# Subtest: adds
ok 1 - adds
  ---
  duration_ms: 1.2
  ...
# Subtest: breaks
not ok 2 - breaks
  ---
  error: 'expected 3'
  ...
# Subtest: later
ok 3 - later # SKIP not today
# Subtest: suite
    # Subtest: inner
    ok 1 - inner
    1..1
ok 4 - suite
  ---
  type: 'suite'
  ...
# ok 9 - printed by a test
# pass 99
1..4
# tests 4
# suites 1
# pass 2
# fail 1
# cancelled 0
# skipped 1
# todo 0
"""


def test_node_tap_counts_leaves_and_reads_the_last_summary() -> None:
    report = parse_tap(NODE_18_TAP)
    cases = {c.id: c.outcome.value for c in report.result.cases}
    assert cases == {
        "adds": "passed",
        "breaks": "failed",
        "later": "skipped",
        "suite > inner": "passed",
    }
    assert report.summary["pass"] == 2
    assert report.result.cases[1].message == "expected 3"


def _run(report: bytes | None, exit_code: int = 1) -> node_tests.NodeTestRun:
    return node_tests.NodeTestRun("node --test", exit_code, False, 60, False, False, False, report)


def test_a_report_that_agrees_with_node_and_the_exit_status_is_counted() -> None:
    result = node_tests.evaluate(1, _run(NODE_18_TAP))
    assert result.status is CheckStatus.FAILED and result.reason_code == "TESTS_FAILED"
    assert result.details["tests"] == {"passed": 2, "failed": 1, "errors": 0, "skipped": 1}


def test_a_forged_all_passing_report_is_not_believed_against_the_exit_status() -> None:
    forged = b"TAP version 13\nok 1 - a\nok 2 - b\n1..2\n# tests 2\n# pass 2\n# fail 0\n"
    result = node_tests.evaluate(1, _run(forged, exit_code=1))
    assert result.reason_code == "INVALID_ARTIFACT"
    padded = forged.replace(b"# pass 2", b"# pass 1")
    assert node_tests.evaluate(1, _run(padded, exit_code=0)).reason_code == "INVALID_ARTIFACT"


def test_no_report_is_no_tests_saying_why() -> None:
    result = node_tests.evaluate(1, _run(None))
    assert result.reason_code == "NO_TESTS" and "node:test" in result.summary


def test_the_engine_runs_node_test_itself_never_the_script() -> None:
    runner, argv = node_tests.test_command("node --test test/ --test-reporter=spec", (), "/o/r.tap")
    assert argv == ["node", "--test", "--test-reporter=tap", "--test-reporter-destination=/o/r.tap",
                    "--", "./test/"]  # fmt: skip
    assert runner == "node --test (package.json's test script)"
    # the spec's paths win over the script; npm's placeholder is no script
    assert node_tests.test_command("mocha", ("spec",), "/o/r.tap")[1][-1] == "./spec"
    assert node_tests.test_command(node_tests.NPM_PLACEHOLDER, (), "/o/r.tap")[1][-1] == "--"


@pytest.mark.parametrize(
    "script",
    ["mocha", "jest --ci", "node --test && node forge.js", "node --test; echo", "npm run build",
     "node --require ./forge.js --test", "node --test $(ls)", "node --test 'unclosed"],
)  # fmt: skip
def test_any_other_test_script_fails_saying_why(script: str) -> None:
    with pytest.raises(node_tests.UnsupportedScript) as caught:
        node_tests.test_command(script, (), "/o/r.tap")
    result = node_tests.unsupported_script(str(caught.value))
    assert (result.status, result.reason_code) == (
        CheckStatus.FAILED,
        "NODE_TEST_SCRIPT_UNSUPPORTED",
    )
    assert "node --test [paths]" in result.summary


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_tap_parser_never_raises_anything_but_invalid_artifact(data: bytes) -> None:
    try:
        parse_tap(b"TAP version 13\n" + data)
    except InvalidArtifact:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "ok 1 - a",
                "not ok 2 - b",
                "    ok 1 - c",
                "        not ok 1 - d",
                "# pass 3",
                "# fail 1",
                "1..2",
                "  error: 'x'",
                "ok 3 - e # TODO",
            ]
        ),
        max_size=40,
    )
)
def test_tap_parser_on_shuffled_node_lines(lines: list[str]) -> None:
    try:
        report = parse_tap(("TAP version 13\n" + "\n".join(lines)).encode())
    except InvalidArtifact:
        return
    assert all(c.id for c in report.result.cases)


# ---------------------------------------------------------------- npm licences


@pytest.mark.parametrize(
    ("manifest", "declared"),
    [
        ({"license": "MIT"}, "MIT"),
        ({"license": {"type": "ISC", "url": "x"}}, "ISC"),
        ({"licenses": [{"type": "MIT"}, {"type": "Apache-2.0"}]}, "(MIT) OR (Apache-2.0)"),
        ({"licenses": ["BSD-3-Clause"]}, "BSD-3-Clause"),
        ({"license": ["MIT"]}, ""),
        ({}, ""),
        ({"license": "MIT\u0000\nGPL"}, "MIT??GPL"),
    ],
)
def test_every_form_of_the_npm_license_field_is_read(
    manifest: dict[str, object], declared: str
) -> None:
    assert declared_licence(manifest) == declared


def test_npm_licences_are_normalised_and_judged_like_python_ones() -> None:
    judged = {
        d.name: (d.licence, d.compatible)
        for d in judge_npm_licences(
            [
                ("a", "1", "MIT"),
                ("b", "1", "UNLICENSED"),
                ("c", "1", "SEE LICENSE IN LICENSE.md"),
                ("d", "1", "GPL-3.0-only"),
                ("e", "1", ""),
                ("f", "1", "(mit OR Apache-2.0)"),
            ],
            "MIT",
        )  # fmt: skip
    }
    assert judged["a"] == ("MIT", True)
    # npm's UNLICENSED is "all rights reserved", not the Unlicense: never compatible
    assert judged["b"] == ("UNLICENSED", None)
    assert judged["c"][1] is None and judged["e"][1] is None
    assert judged["d"] == ("GPL-3.0-only", False)
    assert judged["f"] == ("(MIT OR Apache-2.0)", True)  # canonical case, PEP 639 rules


def test_the_checked_install_records_each_package_licence(tmp_path: Path) -> None:
    _installed(tmp_path, "node_modules/left-pad", "left-pad", "1.3.0")
    manifest = tmp_path / "node_modules/left-pad/package.json"
    manifest.write_text(json.dumps({"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}))
    (found,) = check_installed(
        tmp_path, (LockedPackage("node_modules/left-pad", "left-pad", "1.3.0"),)
    )
    assert found.licence == "WTFPL"


def test_a_second_fetch_of_the_same_lockfile_reuses_the_prepared_folder(tmp_path: Path) -> None:
    root = project(tmp_path, {"lodash": "4.17.4"}, {"node_modules/lodash": LODASH_4_17_4})
    cache = tmp_path / "cache"
    first = fetch_node_modules(
        read_project(root), tmp_path / "w1", cache, timeout=120, max_bytes=1024**3
    )
    assert not first.reused
    # A re-push that changes only code and scripts: same lockfile, same dependencies.
    manifest = json.loads((root / "package.json").read_text())
    (root / "package.json").write_text(json.dumps({**manifest, "scripts": {"test": "node --test"}}))
    second = fetch_node_modules(
        read_project(root), tmp_path / "w2", cache, timeout=120, max_bytes=1024**3
    )
    assert second.reused and second.installed == first.installed
    assert (second.project_dir / "node_modules" / "lodash" / "package.json").is_file()
    # A prepared folder tampered with since is checked again, not trusted.
    (second.project_dir / "node_modules" / "lodash" / "package.json").write_text(
        json.dumps({"name": "lodash", "version": "4.17.21"})
    )
    with pytest.raises(SubmissionError) as caught:
        fetch_node_modules(
            read_project(root), tmp_path / "w3", cache, timeout=120, max_bytes=1024**3
        )
    assert caught.value.reason == "NPM_INSTALL_MISMATCH"
