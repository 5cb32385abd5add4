"""The Node.js runtime end to end (issue 16): `acceptance check` on examples/node-tool in the
real node image, node:test in the no-network sandbox, counts equal to a by-hand run;
a broken variant rejected; `acceptance image build --runtime node` and `acceptance doctor`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, check, example_delivery, git, unavailable

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env", "node_image")]

EXAMPLE = ROOT / "examples" / "node-tool"
SPEC = ROOT / "examples" / "specs" / "node-tool" / "acceptance.yaml"


def _delivery(tmp_path: Path, changes: dict[str, str] | None = None) -> Path:
    return example_delivery(EXAMPLE, tmp_path, changes)


def by_hand(repo: Path, image: str) -> dict[str, int]:
    """What Node's test runner itself says, run by hand in the same image (its summary)."""
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{repo}:/src:ro", image,
         "sh", "-c", "cp -a /src /work/s && cd /work/s && node --test"],
        capture_output=True, text=True, check=False, timeout=120,
    ).stdout  # fmt: skip
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo) (\d+)$", out, flags=re.M))
    return {
        "passed": int(counts["pass"]),
        "failed": int(counts["fail"]),
        "errors": 0,
        "skipped": int(counts["skipped"]) + int(counts["todo"]),
    }


def test_the_node_example_is_accepted_with_the_counts_node_gives_by_hand(
    tmp_path: Path, node_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _delivery(tmp_path)
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (0, "accepted"), predicate["reasons"]
    assert (predicate["runtime"], predicate["runtime_source"]) == ("node", "spec")
    checks = {c["id"]: c for c in predicate["checks"]}
    assert checks["functional"]["tests"] == {"passed": 6, "failed": 0, "errors": 0, "skipped": 0}
    assert checks["functional"]["tests"] == by_hand(repo, node_image)
    assert checks["functional"]["runner"] == "node --test (package.json's test script)"
    assert "input checks > refuses what is not a string" in [
        r["id"] for r in checks["functional"]["results"]
    ]
    assert checks["dependencies"]["status"] == "passed"
    assert (checks["licence"]["status"], checks["licence"]["licence"]["spdx"]) == ("passed", "MIT")
    sast = checks["sast"]
    assert (sast["status"], sast["tool"]["version"]) == ("passed", "9.39.5"), sast["summary"]
    assert sast["tool"]["plugins"] == {
        "eslint-plugin-security": "4.1.0",
        "typescript-eslint": "8.74.0",
    }
    assert sast["files_checked"] == 3 and "eslint.sarif" in predicate["artifacts"]
    assert predicate["environment"]["tools"]["eslint"] == "9.39.5"
    assert predicate["environment"]["tools"]["node"] == "18.20.4"
    assert predicate["environment"]["image"]["tag"] == node_image
    assert "results.tap" in predicate["artifacts"]


BROKEN_LIB = (
    (EXAMPLE / "lib" / "wordcount.js")
    .read_text(encoding="utf-8")
    .replace("[...text].length", "text.length")
)


def test_a_broken_variant_is_rejected_with_exact_counts(
    tmp_path: Path, node_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _delivery(tmp_path, {"lib/wordcount.js": BROKEN_LIB})
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (1, "rejected")
    functional = next(c for c in predicate["checks"] if c["id"] == "functional")
    assert functional["reason_code"] == "TESTS_FAILED"
    assert functional["tests"] == {"passed": 5, "failed": 1, "errors": 0, "skipped": 0}
    assert functional["tests"] == by_hand(repo, node_image)
    assert functional["failing_tests"] == ["counts characters as code points"]


RUNS_INPUT = """'use strict';
const { exec } = require('node:child_process');
const cp = require('child_process');

function count(text) {
  return eval(text);
}

function run(command) {
  return cp.exec(command);
}

module.exports = { count, run, exec };
"""


def test_eval_of_input_and_a_shell_command_from_a_variable_are_rejected_by_eslint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _delivery(tmp_path, {"lib/danger.js": RUNS_INPUT})
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (1, "rejected")
    sast = next(c for c in predicate["checks"] if c["id"] == "sast")
    assert (sast["status"], sast["reason_code"]) == ("failed", "SAST_FINDINGS")
    found = {(f["filename"], f["line"], f["test_id"], f["severity"], f["blocking"])
             for f in sast["findings"]}  # fmt: skip
    assert found == {
        ("lib/danger.js", 6, "security/detect-eval-with-expression", "medium", True),
        ("lib/danger.js", 10, "security/detect-child-process", "high", True),
    }
    assert "lib/danger.js:10 security/detect-child-process" in sast["summary"]
    # the rest of the delivery is still judged: its tests pass
    functional = next(c for c in predicate["checks"] if c["id"] == "functional")
    assert functional["status"] == "passed"


SUPPRESSED = """'use strict';

// eslint-disable-next-line no-unused-vars -- kept for the plugin API of version 1
function legacy(options) {}

function later(options) {} // eslint-disable-line

module.exports = {};
"""


TYPESCRIPT = """export enum Shape { Square, Circle }
export function area(size: number): number;
export function area(size: string): number;
export function area(size: number | string): number { return Number(size) ** 2; }
declare global { interface Window { shapes: Shape[] } }
"""


def test_quality_lints_with_eslint_and_judges_its_suppressions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec" / "acceptance.yaml"
    spec.parent.mkdir()
    spec.write_text(SPEC.read_text() + "quality: true\n")
    # the example as delivered, with TypeScript that the core rules would misread (an enum,
    # overloads, a global declaration): no finding of ESLint's recommended rules
    clean = _delivery(tmp_path / "clean", {"lib/shapes.ts": TYPESCRIPT})
    code, statement = check(str(clean), spec, capsys=capsys)
    quality = next(c for c in statement["predicate"]["checks"] if c["id"] == "quality")
    assert (code, quality["status"]) == (0, "passed"), quality["summary"]
    assert quality["tool"] == {"name": "eslint", "version": "9.39.5"}
    assert quality["settings"]["rules"] == ["eslint:recommended"]
    # a justified suppression stands; a blanket one is itself a finding, and silences nothing
    repo = _delivery(tmp_path / "suppressed", {"lib/legacy.js": SUPPRESSED})
    code, statement = check(str(repo), spec, capsys=capsys)
    quality = next(c for c in statement["predicate"]["checks"] if c["id"] == "quality")
    assert (code, quality["reason_code"]) == (1, "UNJUSTIFIED_SUPPRESSION"), quality["summary"]
    found = sorted(
        (f["rule"], f["line"], f["suppressed"], f["blocking"]) for f in quality["findings"]
    )
    # each line has two unused names: the function and its parameter
    assert found == [
        ("UNJUSTIFIED_SUPPRESSION", 6, False, True),
        *[("no-unused-vars", 4, True, False)] * 2,
        *[("no-unused-vars", 6, False, True)] * 2,
    ]
    assert [(s["line"], s["justified"], s["reason"]) for s in quality["suppressions"]] == [
        (4, True, "kept for the plugin API of version 1"),
        (6, False, None),
    ]
    assert "quality.sarif" in statement["predicate"]["artifacts"]


def test_a_delivery_without_a_lockfile_is_rejected_saying_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "nolock"
    shutil.copytree(EXAMPLE, repo)
    (repo / "package-lock.json").unlink()
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (1, "rejected")
    assert predicate["reason_codes"] == ["LOCKFILE_REQUIRED"], predicate["reasons"]
    assert "npm install --package-lock-only" in predicate["reasons"][0]


def test_image_build_for_the_node_runtime_is_idempotent_and_doctor_reports_it(
    node_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from acceptance.cli import main

    assert main(["image", "build", "--runtime", "node"]) == 0
    out = capsys.readouterr()
    assert node_image in out.out
    assert "node 18.20.4" in out.out and "npm 9.2.0" in out.out
    assert "up to date" in out.err
    main(["doctor"])
    assert f"[ok  ] node runtime image {node_image}" in capsys.readouterr().out


LODASH_4_17_4 = {
    "version": "4.17.4",
    "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.4.tgz",
    "integrity": "sha512-6X37Sq9KCpLSXEh8uM12AKYlviHPNNk4RxiGBn4cmKGJinbXBneWIV7iE/nXkM928O7ytHcHb6+X6Svl0f4hXg==",
    "license": "MIT",
}


@pytest.fixture(scope="module")
def npm_and_pypi_store(advisories_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's PyPI store with the Node.js Security WG data imported beside it."""
    from checks.advisories import import_archive
    from tests.engine.test_node_runtime import NSWG_ARCHIVE

    if not NSWG_ARCHIVE.is_file():
        unavailable(f"the Node.js Security WG archive is not at {NSWG_ARCHIVE}")
    store = tmp_path_factory.mktemp("both") / "advisories.sqlite"
    shutil.copyfile(advisories_db, store)
    import_archive(NSWG_ARCHIVE, store)
    return store


def test_lodash_4_17_4_in_the_lockfile_is_reported_with_its_advisories_and_its_licence(
    tmp_path: Path,
    npm_and_pypi_store: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    monkeypatch.setenv("ACCEPTANCE_ADVISORIES_DB", str(npm_and_pypi_store))
    repo = tmp_path / "uses-lodash"
    shutil.copytree(EXAMPLE, repo)
    manifest = json.loads((repo / "package.json").read_text())
    lock = json.loads((repo / "package-lock.json").read_text())
    manifest["dependencies"] = lock["packages"][""]["dependencies"] = {"lodash": "4.17.4"}
    lock["packages"]["node_modules/lodash"] = LODASH_4_17_4
    (repo / "package.json").write_text(json.dumps(manifest))
    (repo / "package-lock.json").write_text(json.dumps(lock))
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "deliver", cwd=repo)
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (1, "rejected")
    checks = {c["id"]: c for c in predicate["checks"]}
    deps = checks["dependencies"]
    assert (deps["status"], deps["reason_code"]) == ("failed", "VULNERABLE_DEPENDENCIES")
    assert {(v["package"], v["version"], v["id"]) for v in deps["vulnerabilities"]} == {
        ("lodash", "4.17.4", "NSWG-ECO-368"), ("lodash", "4.17.4", "NSWG-ECO-493"),
    }  # fmt: skip
    assert checks["licence"]["status"] == "passed", checks["licence"]
    assert checks["licence"]["dependencies"] == [
        {"name": "lodash", "version": "4.17.4", "licence": "MIT", "compatible": True}
    ]
    assert checks["functional"]["tests"]["passed"] == 6
    assert predicate["install"]["requirements"] == ["lodash@4.17.4"]


def test_a_root_package_json_is_detected_as_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec" / "acceptance.yaml"
    spec.parent.mkdir()
    spec.write_text(SPEC.read_text().replace("runtime: node", "# runtime detected"))
    code, statement = check(str(_delivery(tmp_path)), spec, capsys=capsys)
    assert code == 0, statement["predicate"]["reasons"]
    predicate = statement["predicate"]
    assert (predicate["runtime"], predicate["runtime_source"]) == ("node", "detected")
