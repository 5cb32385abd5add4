"""Security and licence checks through `acceptance check`: real bandit, pip-audit,
ScanCode and licensecheck, in the real sandbox, against the real advisory snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MIT_LICENSE, ROOT, RepoFactory, check, write_spec

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env")]

GPL3 = (ROOT / "tests" / "fixtures" / "licences" / "GPL-3.0.debian.txt").read_text(encoding="utf-8")

PYPROJECT = (
    '[project]\nname = "runner"\nversion = "1.0"\nlicense = "{licence}"\n'
    "dependencies = [{deps}]\n"
    '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
)
RUNNER = (
    "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True){marker}\n"
)
TESTS = {
    "tests/test_runner.py": "from runner import run\n\ndef test_true():\n    assert run('true') == 0\n"
}


def project(*, licence: str | None = "MIT", deps: str = "", marker: str = "") -> dict[str, str]:
    files = {
        "pyproject.toml": PYPROJECT.format(licence=licence or "", deps=deps),
        "runner/__init__.py": RUNNER.format(marker=marker),
        **TESTS,
    }
    if licence is None:
        files["pyproject.toml"] = files["pyproject.toml"].replace('license = ""\n', "")
    elif licence == "MIT":
        files["LICENSE"] = MIT_LICENSE
    elif licence == "GPL-3.0-only":
        files["COPYING"] = GPL3
    return files


def check_of(statement: dict[str, Any], kind: str) -> dict[str, Any]:
    return dict(next(c for c in statement["predicate"]["checks"] if c["kind"] == kind))


def statuses(statement: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in statement["predicate"]["checks"]}


MEDIUM = "security: {sast: {fail_on: medium}}\n"


def test_shell_true_is_rejected_naming_file_and_line(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, statement = check(
        str(make_repo(project())), write_spec(tmp_path / "s", MEDIUM), capsys=capsys
    )

    assert code == 1
    assert statuses(statement) == {
        "functional": "passed", "sast": "failed", "dependencies": "passed", "licence": "passed",
    }  # fmt: skip
    sast = check_of(statement, "sast")
    assert sast["reason_code"] == "SAST_FINDINGS"
    blocking = [f for f in sast["findings"] if f["blocking"]]
    assert [(f["test_id"], f["filename"], f["line"]) for f in blocking] == [
        ("B602", "runner/__init__.py", 5)
    ]
    assert blocking[0]["severity"] == "high" and blocking[0]["cwe"] == "CWE-78"
    assert "runner/__init__.py:5" in sast["summary"]
    assert statement["predicate"]["reason_codes"] == ["SAST_FINDINGS"]
    assert "bandit.sarif" in statement["predicate"]["artifacts"]


def test_a_spec_of_only_version_and_title_rejects_eval_of_input(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = project()
    files["runner/__init__.py"] = "def run(cmd):\n    return eval(input())\n"
    files["tests/test_runner.py"] = "import runner\n\ndef test_import():\n    assert runner.run\n"
    code, statement = check(str(make_repo(files)), write_spec(tmp_path / "s"), capsys=capsys)

    assert code == 1
    assert statement["predicate"]["verdict"] == "rejected"
    assert statement["predicate"]["reason_codes"] == ["SAST_FINDINGS"]
    sast = check_of(statement, "sast")
    blocking = [
        (f["test_id"], f["severity"], f["filename"], f["line"])
        for f in sast["findings"]
        if f["blocking"]
    ]
    assert blocking == [("B307", "medium", "runner/__init__.py", 2)]
    assert sast["settings"]["fail_on"] == "medium" and sast["settings"]["confidence"] == "medium"


def test_nosec_does_not_hide_the_finding_unless_the_owner_allows_it(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = project(marker="  # nosec")
    # The supplier's own bandit configuration tries to switch the test off as well.
    files[".bandit"] = "[bandit]\nskips = B602,B404\n"
    files["pyproject.toml"] += '[tool.bandit]\nskips = ["B602", "B404"]\n'
    repo = str(make_repo(files))

    code, statement = check(repo, write_spec(tmp_path / "strict", MEDIUM), capsys=capsys)
    assert code == 1
    finding = next(f for f in check_of(statement, "sast")["findings"] if f["test_id"] == "B602")
    assert finding["suppressed"] is True and finding["blocking"] is True

    allowing = "security: {sast: {fail_on: medium, allow_suppressions: true}}\n"
    code, statement = check(repo, write_spec(tmp_path / "lenient", allowing), capsys=capsys)
    assert code == 0, statement["predicate"]["reasons"]
    sast = check_of(statement, "sast")
    assert sast["status"] == "passed" and sast["suppressed"] >= 1
    assert any(f["test_id"] == "B602" and not f["blocking"] for f in sast["findings"])


def test_old_requests_is_rejected_offline_and_ignoring_every_id_turns_it_green(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = project(deps='"requests==2.19.0"')
    files["runner/__init__.py"] = "import requests\n\nSESSION = requests.Session\n"
    files["tests/test_runner.py"] = (
        "from runner import SESSION\n\ndef test_session():\n    assert SESSION\n"
    )
    repo = str(make_repo(files))
    # LGPL chardet comes with requests 2.19; the licence check is not what this is about.
    body = "licence: {dependencies: report}\n"

    code, statement = check(repo, write_spec(tmp_path / "s", body), capsys=capsys)
    assert code == 1
    audit = check_of(statement, "dependencies")
    assert audit["status"] == "failed" and audit["reason_code"] == "VULNERABLE_DEPENDENCIES"
    by_package: dict[str, set[str]] = {}
    for vuln in audit["vulnerabilities"]:
        assert not vuln["ignored"]
        by_package.setdefault(vuln["package"], set()).add(vuln["id"])
    assert "PYSEC-2018-28" in by_package["requests"]  # CVE-2018-18074
    assert by_package.get("urllib3"), "urllib3 1.23, pulled in by requests 2.19.0, is vulnerable"
    assert all(v["version"] for v in audit["vulnerabilities"])
    assert audit["advisory_data"]["source"] == "pypa-advisory-database.tar.gz"
    assert {"sbom.cdx.json", "pip-audit.json"} <= set(statement["predicate"]["artifacts"])

    ids = sorted({v["id"] for v in audit["vulnerabilities"]})
    ignoring = body + f"security: {{dependencies: {{ignore: [{', '.join(ids)}]}}}}\n"
    code, statement = check(repo, write_spec(tmp_path / "ignoring", ignoring), capsys=capsys)
    assert code == 0, statement["predicate"]["reasons"]
    audit = check_of(statement, "dependencies")
    assert audit["status"] == "passed"
    assert audit["vulnerabilities"] and all(v["ignored"] for v in audit["vulnerabilities"])
    assert audit["unused_ignores"] == []


def test_gpl_repo_is_rejected_when_only_permissive_licences_are_allowed(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = project(licence="GPL-3.0-only")
    files["runner/__init__.py"] = "def run(cmd):\n    return 0\n"
    spec = write_spec(tmp_path / "s", "licence: {allowed: [MIT, Apache-2.0]}\n")
    code, statement = check(str(make_repo(files)), spec, capsys=capsys)

    assert code == 1
    assert statement["predicate"]["reason_codes"] == ["LICENCE_NOT_ALLOWED"]
    licence = check_of(statement, "licence")
    assert licence["licence"]["spdx"] == "GPL-3.0-only"
    assert licence["licence"]["source_file"] == "COPYING"
    assert licence["licence"]["allowed"] is False
    assert "one of MIT, Apache-2.0" in licence["summary"]


def test_repo_without_a_licence_is_rejected(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = project(licence=None)
    files["runner/__init__.py"] = "def run(cmd):\n    return 0\n"
    code, statement = check(str(make_repo(files)), write_spec(tmp_path / "s"), capsys=capsys)

    assert code == 1
    assert statement["predicate"]["reason_codes"] == ["LICENCE_MISSING"]
    assert "add a LICENSE file" in check_of(statement, "licence")["summary"]


def test_mit_repo_with_permissive_dependencies_passes_every_check(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = project(deps='"iniconfig==2.1.0", "packaging==24.2"')
    files["runner/__init__.py"] = (
        "import iniconfig\nimport packaging\n\ndef run(cmd):\n    return 0\n"
    )
    spec = write_spec(
        tmp_path / "s", MEDIUM + "licence: {allowed: [MIT, Apache-2.0, BSD-3-Clause]}\n"
    )
    report = tmp_path / "report.dsse.json"
    code, statement = check(
        str(make_repo(files)), spec, "--artifacts", str(tmp_path / "art"), "--out", str(report),
        capsys=capsys,
    )  # fmt: skip

    assert code == 0, statement["predicate"]["reasons"]
    assert set(statuses(statement).values()) == {"passed"}
    licence = check_of(statement, "licence")
    deps = {d["name"].lower(): d for d in licence["dependencies"]}
    assert deps["iniconfig"]["version"] == "2.1.0" and deps["iniconfig"]["compatible"] is True
    assert deps["packaging"]["compatible"] is True
    assert "runner" not in deps  # the project is not its own dependency
    audit = check_of(statement, "dependencies")
    assert audit["excluded"] == ["runner"] and audit["vulnerabilities"] == []
    written = {p.name for p in (tmp_path / "art").iterdir()}
    assert written == set(statement["predicate"]["artifacts"])
    assert {
        "junit.xml",
        "bandit.sarif",
        "sbom.cdx.json",
        "pip-audit.json",
        "dependency-licences.json",
    } <= written
    # What a verifier does with the files it downloaded: each matches the signed report.
    from acceptance.cli import main

    assert main(["verify", str(report), "--artifacts", str(tmp_path / "art")]) == 0
    assert (
        f"Artifacts: all {len(written)} files in {tmp_path / 'art'} match"
        in capsys.readouterr().out
    )
    (tmp_path / "art" / "junit.xml").write_text("<testsuites/>", encoding="utf-8")
    assert main(["verify", str(report), "--artifacts", str(tmp_path / "art")]) == 1
    assert "changed: junit.xml" in capsys.readouterr().err


def test_checks_turned_off_are_listed_as_not_checked(
    make_repo: RepoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(
        tmp_path / "s", "security: {sast: false, dependencies: false}\nlicence: false\n"
    )
    code, statement = check(str(make_repo(project(licence=None))), spec, capsys=capsys)

    assert code == 0, statement["predicate"]["reasons"]
    assert statuses(statement) == {
        "functional": "passed", "sast": "skipped", "dependencies": "skipped", "licence": "skipped",
    }  # fmt: skip
    assert [n["id"] for n in statement["predicate"]["not_checked"]] == [
        "sast",
        "dependencies",
        "licence",
    ]


def test_no_advisory_data_means_could_not_judge(
    make_repo: RepoFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ACCEPTANCE_ADVISORIES_DB", str(tmp_path / "empty.sqlite"))
    files = project()
    files["runner/__init__.py"] = "def run(cmd):\n    return 0\n"
    code, statement = check(str(make_repo(files)), write_spec(tmp_path / "s"), capsys=capsys)

    assert code == 3
    assert statement["predicate"]["verdict"] == "error"
    audit = check_of(statement, "dependencies")
    assert audit["status"] == "error" and audit["reason_code"] == "DEPENDENCY_AUDIT_ERROR"
    assert "acceptance advisories import" in audit["summary"]
