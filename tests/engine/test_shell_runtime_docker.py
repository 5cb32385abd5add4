"""The shell runtime end to end (issue 16): `acceptance check` on examples/shell-tool in the
real shell image, bats and ShellCheck in the no-network sandbox, counts equal to a by-hand
bats run; `acceptance image build --runtime shell` and `acceptance doctor`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, check, example_delivery, git

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("cli_env", "shell_image")]

EXAMPLE = ROOT / "examples" / "shell-tool"
SPEC = ROOT / "examples" / "specs" / "shell-tool" / "acceptance.yaml"


def _delivery(tmp_path: Path, changes: dict[str, str] | None = None) -> Path:
    return example_delivery(EXAMPLE, tmp_path, changes)


def by_hand(repo: Path, image: str) -> dict[str, int]:
    """What bats itself says, run by hand in the same image: passed, failed and skipped."""
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{repo}:/src:ro", "-w", "/src",
         image, "bats", "--formatter", "tap", "--recursive", "tests"],
        capture_output=True, text=True, check=False, timeout=120,
    ).stdout  # fmt: skip
    lines = [line for line in out.splitlines() if line.startswith(("ok ", "not ok "))]
    skipped = sum(1 for line in lines if line.startswith("ok ") and "# skip" in line)
    return {
        "passed": sum(1 for line in lines if line.startswith("ok ")) - skipped,
        "failed": sum(1 for line in lines if line.startswith("not ok ")),
        "errors": 0,
        "skipped": skipped,
    }


def test_the_shell_example_is_accepted_with_the_counts_bats_gives_by_hand(
    tmp_path: Path, shell_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _delivery(tmp_path)
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (0, "accepted"), predicate["reasons"]
    assert (predicate["runtime"], predicate["runtime_source"]) == ("shell", "spec")
    checks = {c["id"]: c for c in predicate["checks"]}
    assert checks["functional"]["tests"] == {"passed": 5, "failed": 0, "errors": 0, "skipped": 0}
    assert checks["functional"]["tests"] == by_hand(repo, shell_image)
    assert checks["functional"]["expected_tests"] == 5
    assert checks["sast"]["status"] == "passed"
    assert checks["sast"]["tool"] == {"name": "shellcheck", "version": "0.9.0"}
    # bin/slugify sources lib/slug.bash, which the engine scans too: ShellCheck's
    # "Not following" note (SC1091) about it is no finding (checks/shellcheck_scan.py)
    assert checks["sast"]["findings"] == []
    # the spec's quality: ShellCheck's default checks, no finding, no suppression
    assert (checks["quality"]["status"], checks["quality"]["tool"]["name"]) == (
        "passed", "shellcheck"
    )  # fmt: skip
    assert checks["quality"]["suppressions"] == []
    assert checks["dependencies"]["status"] == "skipped"
    assert "declares no packages" in checks["dependencies"]["summary"]
    assert (checks["licence"]["status"], checks["licence"]["licence"]["spdx"]) == ("passed", "MIT")
    assert predicate["environment"]["tools"]["bats"] == "1.8.2"
    assert predicate["environment"]["image"]["tag"] == shell_image
    assert predicate["install"]["requirements"] == []
    assert {"junit.xml", "shellcheck.sarif"} <= set(predicate["artifacts"])


BROKEN_LIB = (
    (EXAMPLE / "lib" / "slug.bash")
    .read_text(encoding="utf-8")
    .replace('slug="${slug:0:max}"', 'slug="${slug:0:max+1}"')
)


def test_a_broken_variant_is_rejected_with_exact_counts(
    tmp_path: Path, shell_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _delivery(tmp_path, {"lib/slug.bash": BROKEN_LIB})
    code, statement = check(str(repo), SPEC, capsys=capsys)
    predicate = statement["predicate"]
    assert (code, predicate["verdict"]) == (1, "rejected")
    functional = next(c for c in predicate["checks"] if c["id"] == "functional")
    assert functional["reason_code"] == "TESTS_FAILED"
    assert functional["tests"] == {"passed": 4, "failed": 1, "errors": 0, "skipped": 0}
    assert functional["tests"] == by_hand(repo, shell_image)
    assert functional["failing_tests"] == [
        "slugify.bats::--max cuts the slug without a trailing dash"
    ]


def test_an_unquoted_variable_fails_sast_even_under_a_disable_directive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hidden = "#!/usr/bin/env bash\n# shellcheck disable=SC2086,SC2115\nrm -rf $HOME/$1\n"
    repo = _delivery(tmp_path, {"bin/cleanup": hidden})
    code, statement = check(str(repo), SPEC, capsys=capsys)
    sast = next(c for c in statement["predicate"]["checks"] if c["id"] == "sast")
    assert (code, sast["status"], sast["reason_code"]) == (1, "failed", "SAST_FINDINGS")
    blocking = {
        (f["test_id"], f["filename"], f["suppressed"]) for f in sast["findings"] if f["blocking"]
    }
    assert ("SC2115", "bin/cleanup", True) in blocking
    assert sast["suppressed"] >= 1
    # the spec's quality: the directive gives no reason, so it is a finding and silences nothing
    quality = next(c for c in statement["predicate"]["checks"] if c["id"] == "quality")
    assert quality["reason_code"] == "UNJUSTIFIED_SUPPRESSION"
    lines = {(f["rule"], f["file"], f["line"]) for f in quality["findings"] if f["blocking"]}
    assert {("UNJUSTIFIED_SUPPRESSION", "bin/cleanup", 2), ("SC2115", "bin/cleanup", 3)} <= lines


@pytest.fixture
def no_runtime_spec(tmp_path: Path) -> Iterator[Path]:
    spec = tmp_path / "spec" / "acceptance.yaml"
    spec.parent.mkdir()
    spec.write_text("version: 1\ntitle: No runtime named\n", encoding="utf-8")
    yield spec


def test_the_runtime_is_detected_and_an_undetectable_repository_is_exit_2(
    tmp_path: Path, no_runtime_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, statement = check(str(_delivery(tmp_path)), no_runtime_spec, capsys=capsys)
    assert code == 0
    assert (statement["predicate"]["runtime"], statement["predicate"]["runtime_source"]) == (
        "shell",
        "detected",
    )
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "README.md").write_text("nothing to judge\n")
    git("init", "-q", "-b", "main", cwd=bare)
    git("add", "-A", cwd=bare)
    git("commit", "-q", "-m", "deliver", cwd=bare)
    from acceptance.cli import main

    assert main(["check", str(bare), "--spec", str(no_runtime_spec), "--json"]) == 2
    err = capsys.readouterr().err
    assert "could not be detected" in err and "*.bats" in err and "pyproject.toml" in err


def test_image_build_for_the_shell_runtime_is_idempotent_and_doctor_reports_it(
    shell_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from acceptance.cli import main

    assert main(["image", "build", "--runtime", "shell"]) == 0
    out = capsys.readouterr()
    assert shell_image in out.out
    assert "bats 1.8.2" in out.out and "shellcheck 0.9.0" in out.out
    assert "up to date" in out.err
    main(["doctor"])
    assert f"[ok  ] shell runtime image {shell_image}" in capsys.readouterr().out


def test_a_test_file_that_does_not_parse_fails_the_tests_not_the_evidence(
    tmp_path: Path, shell_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = '@test "half" {\n  if true; }\n'
    repo = _delivery(tmp_path, {"tests/broken.bats": broken})
    code, statement = check(str(repo), SPEC, capsys=capsys)
    functional = next(c for c in statement["predicate"]["checks"] if c["id"] == "functional")
    assert (code, functional["reason_code"]) == (1, "TESTS_FAILED")
    assert functional["failing_tests"] == ["broken.bats::(the whole file)"]
    assert functional["tests"] == {"passed": 5, "failed": 1, "errors": 0, "skipped": 0}
    assert functional["tests"] == by_hand(repo, shell_image)
