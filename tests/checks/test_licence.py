"""The licence check: host detection on real licence texts, judging, and dependency licences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from acceptance.engine.spec import LicenceSpec
from acceptance.errors import PlatformError
from checks.dependency_licences import dependency_licence_command, parse_dependency_licences
from checks.interface import CheckStatus
from checks.licence import judge_licence, judge_with_dependencies
from checks.licence_detection import detect_repo_licence, detect_repo_licence_isolated
from checks.licence_evidence import DependencyLicence, LicenceEvidence
from checks.licence_expressions import licence_allowed
from sandbox.interface import CommandResult, Sandbox
from tests.conftest import unavailable

CORPUS = Path(__file__).parents[1] / "fixtures" / "licences"
MIT = (CORPUS / "MIT.six.txt").read_text(encoding="utf-8")
APACHE = (CORPUS / "Apache-2.0.requests.txt").read_text(encoding="utf-8")
GPL3 = (CORPUS / "GPL-3.0.debian.txt").read_text(encoding="utf-8")
MPL_AFTER_PREAMBLE = (CORPUS / "MPL-2.0.certifi.txt").read_text(encoding="utf-8")

PERMISSIVE_DEPS = [
    DependencyLicence("six", "1.17.0", "MIT", True),
    DependencyLicence("iniconfig", "2.3.1", "MIT", True),
]


def repo(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "checkout"
    root.mkdir(parents=True)
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def pyproject(licence: str) -> str:
    return f'[project]\nname = "delivery"\nversion = "1.0"\nlicense = {licence}\n'


# ---------------------------------------------------------------- the corpus


def _corpus() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.name != "ATTRIBUTION.md")


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_corpus_licence_texts_are_identified(path: Path, tmp_path: Path) -> None:
    expected = path.name.rsplit(".", 2)[0]
    evidence = detect_repo_licence(repo(tmp_path, {"LICENSE": path.read_text(encoding="utf-8")}))
    if expected in ("NOASSERTION", "NONE") or path.name == "MPL-2.0.certifi.txt":
        # a modified licence, a README, and MPL-2.0 after a preamble are not plain licence texts
        assert evidence.spdx is None, evidence
    else:
        assert evidence.spdx is not None
        # the text alone does not say "only" or "or later": GPL-3.0 matches GPL-3.0-only
        assert evidence.spdx.removesuffix("-only") == expected
        assert evidence.score == 100.0
        assert evidence.source_file == "LICENSE"


# ---------------------------------------------------------------- detection


def test_mit_file(tmp_path: Path) -> None:
    evidence = detect_repo_licence(repo(tmp_path, {"LICENSE": MIT}))
    assert (evidence.spdx, evidence.source_file, evidence.score) == ("MIT", "LICENSE", 100.0)
    assert [c.source for c in evidence.candidates] == ["LICENSE"]
    assert evidence.candidates[0].rules == ("mit.LICENSE",)


def test_apache_file_with_another_name(tmp_path: Path) -> None:
    evidence = detect_repo_licence(repo(tmp_path, {"LICENCE.txt": APACHE}))
    assert (evidence.spdx, evidence.source_file) == ("Apache-2.0", "LICENCE.txt")


def test_gpl3_file_agrees_with_or_later_metadata(tmp_path: Path) -> None:
    root = repo(tmp_path, {"COPYING": GPL3, "pyproject.toml": pyproject('"GPL-3.0-or-later"')})
    evidence = detect_repo_licence(root)
    # the declaration is more precise than the text, and they are one licence family
    assert (evidence.spdx, evidence.source_file) == ("GPL-3.0-or-later", "COPYING")
    assert evidence.contradiction is None


def test_no_licence(tmp_path: Path) -> None:
    evidence = detect_repo_licence(repo(tmp_path, {"README.md": "# hello\n"}))
    assert evidence.spdx is None
    assert evidence.candidates == ()
    result = judge_licence(evidence, LicenceSpec(), None)
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "LICENCE_MISSING")


def test_pyproject_only_spdx_expression(tmp_path: Path) -> None:
    root = repo(tmp_path, {"pyproject.toml": pyproject('"mit OR apache-2.0"')})
    evidence = detect_repo_licence(root)
    assert (evidence.spdx, evidence.source_file) == ("MIT OR Apache-2.0", "pyproject.toml")
    assert any("only declared" in p for p in evidence.problems)
    assert judge_licence(evidence, LicenceSpec(), None).status is CheckStatus.PASSED


def test_pyproject_legacy_text_and_classifier(tmp_path: Path) -> None:
    text = (
        '[project]\nname = "d"\nlicense = {text = "MIT"}\n'
        'classifiers = ["License :: OSI Approved :: MIT License"]\n'
    )
    evidence = detect_repo_licence(repo(tmp_path, {"LICENSE": MIT, "pyproject.toml": text}))
    assert evidence.spdx == "MIT"
    kinds = sorted(c.kind for c in evidence.candidates)
    assert kinds == ["classifier", "file", "spdx-metadata"]


def test_contradictory_file_and_metadata(tmp_path: Path) -> None:
    root = repo(tmp_path, {"LICENSE": GPL3, "pyproject.toml": pyproject('"MIT"')})
    evidence = detect_repo_licence(root)
    assert evidence.spdx is None
    assert evidence.contradiction is not None
    result = judge_licence(evidence, LicenceSpec(), None)
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "LICENCE_CONTRADICTORY")
    assert "GPL-3.0" in result.summary and "MIT" in result.summary
    sources = {entry["source"]: entry["matched"] for entry in result.details["evidence"]}  # type: ignore[attr-defined]
    assert sources == {"LICENSE": "GPL-3.0-only", "pyproject.toml:project.license": "MIT"}


def test_contradictory_classifier(tmp_path: Path) -> None:
    text = '[project]\nname = "d"\nclassifiers = ["License :: OSI Approved :: MIT License"]\n'
    evidence = detect_repo_licence(repo(tmp_path, {"LICENSE": GPL3, "pyproject.toml": text}))
    assert evidence.contradiction is not None


def test_symlinked_licence_is_never_followed(tmp_path: Path) -> None:
    root = repo(tmp_path, {"README.md": "hi\n"})
    os.symlink("/etc/passwd", root / "LICENSE")
    evidence = detect_repo_licence(root)
    assert evidence.unsafe is not None and "symbolic link" in evidence.unsafe
    assert evidence.candidates == ()
    result = judge_licence(evidence, LicenceSpec(), None)
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "UNSAFE_REPOSITORY")
    assert "root:" not in json.dumps(result.to_report())


def test_symlink_inside_the_checkout_is_refused_too(tmp_path: Path) -> None:
    root = repo(tmp_path, {"docs/MIT.txt": MIT})
    os.symlink("docs/MIT.txt", root / "LICENSE")
    result = judge_licence(detect_repo_licence(root), LicenceSpec(), None)
    assert result.reason_code == "UNSAFE_REPOSITORY"


def test_unrecognised_text(tmp_path: Path) -> None:
    text = "You may look at this code. You may not copy it, run it or show it to anybody.\n"
    evidence = detect_repo_licence(repo(tmp_path, {"LICENSE": text}))
    result = judge_licence(evidence, LicenceSpec(), None)
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "LICENCE_UNRECOGNISED")
    assert "LICENSE" in result.summary


def test_modified_mit_is_not_mit_even_if_declared(tmp_path: Path) -> None:
    text = MIT.replace(
        "The above copyright notice",
        "The Software may not be used by any government agency.\n\nThe above copyright notice",
    )
    root = repo(tmp_path, {"LICENSE": text, "pyproject.toml": pyproject('"MIT"')})
    result = judge_licence(detect_repo_licence(root), LicenceSpec(), None)
    assert result.reason_code == "LICENCE_UNRECOGNISED"
    assert "MIT" in result.summary


def test_reuse_licenses_folder(tmp_path: Path) -> None:
    root = repo(tmp_path, {"LICENSES/MIT.txt": MIT, "LICENSES/Apache-2.0.txt": MIT})
    evidence = detect_repo_licence(root)
    wrong = [c for c in evidence.candidates if c.source == "LICENSES/Apache-2.0.txt"][0]
    assert wrong.problem is not None and "named Apache-2.0" in wrong.problem


# ---------------------------------------------------------------- judging


def _evidence(spdx: str | None) -> LicenceEvidence:
    return LicenceEvidence(spdx=spdx, source_file="LICENSE", score=100.0)


def test_gpl_not_in_allowed_list(tmp_path: Path) -> None:
    evidence = detect_repo_licence(repo(tmp_path, {"LICENSE": GPL3}))
    spec = LicenceSpec(allowed=("MIT", "Apache-2.0"))
    result = judge_licence(evidence, spec, None)
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "LICENCE_NOT_ALLOWED")
    assert result.details["licence"] == {
        "spdx": "GPL-3.0-only",
        "source_file": "LICENSE",
        "allowed": False,
        "score": 100.0,
    }


def test_non_osi_licence_fails_by_default() -> None:
    result = judge_licence(_evidence("CC-BY-NC-4.0"), LicenceSpec(), None)
    assert result.reason_code == "LICENCE_NOT_ALLOWED"
    assert "OSI" in result.summary


def test_osi_list_comes_from_spdx_data() -> None:
    assert licence_allowed("MIT", None)
    assert licence_allowed("GPL-2.0-or-later WITH Classpath-exception-2.0", None)
    assert licence_allowed("MIT OR LicenseRef-Proprietary", None)
    assert not licence_allowed("MIT AND LicenseRef-Proprietary", None)
    assert not licence_allowed("WTFPL", None)
    assert licence_allowed("GPL-3.0-only", ["GPL-3.0-or-later"])


def test_mit_repo_with_permissive_dependencies_passes(tmp_path: Path) -> None:
    evidence = detect_repo_licence(repo(tmp_path, {"LICENSE": MIT}))
    result = judge_licence(evidence, LicenceSpec(), PERMISSIVE_DEPS)
    assert result.status is CheckStatus.PASSED, result.summary
    assert result.details["licence"]["allowed"] is True  # type: ignore[index]
    assert [d["name"] for d in result.details["dependencies"]] == ["six", "iniconfig"]  # type: ignore[attr-defined]


def test_incompatible_dependency_fails() -> None:
    deps = [*PERMISSIVE_DEPS, DependencyLicence("gplthing", "1.0", "GPL-3.0-only", False)]
    result = judge_licence(_evidence("MIT"), LicenceSpec(), deps)
    assert result.reason_code == "DEPENDENCY_LICENCE_INCOMPATIBLE"
    assert "gplthing 1.0 (GPL-3.0-only)" in result.summary
    report = judge_licence(_evidence("MIT"), LicenceSpec(dependencies="report"), deps)
    assert report.status is CheckStatus.PASSED


# ---------------------------------------------------------------- the headline names its source


def test_the_headline_names_the_licence_file(tmp_path: Path) -> None:
    evidence = detect_repo_licence(
        repo(tmp_path, {"LICENSE": MIT, "pyproject.toml": pyproject('"MIT"')})
    )
    result = judge_licence(evidence, LicenceSpec(), PERMISSIVE_DEPS)
    assert result.summary == "licensed MIT (from LICENSE); 2 dependency licences listed"


def test_the_headline_names_the_metadata_field_when_only_declared(tmp_path: Path) -> None:
    evidence = detect_repo_licence(repo(tmp_path, {"pyproject.toml": pyproject('"Apache-2.0"')}))
    result = judge_licence(evidence, LicenceSpec(), None)
    assert result.status is CheckStatus.PASSED
    assert result.summary == "licensed Apache-2.0 (from pyproject.toml:project.license)"


def test_the_headline_names_every_licence_file_of_a_reuse_layout(tmp_path: Path) -> None:
    evidence = detect_repo_licence(
        repo(tmp_path, {"LICENSES/MIT.txt": MIT, "LICENSES/Apache-2.0.txt": APACHE})
    )
    result = judge_licence(evidence, LicenceSpec(), None)
    assert result.status is CheckStatus.PASSED, result.summary
    assert "(from LICENSES/Apache-2.0.txt, LICENSES/MIT.txt)" in result.summary


def test_failing_headlines_name_the_file_too(tmp_path: Path) -> None:
    evidence = detect_repo_licence(repo(tmp_path, {"COPYING": GPL3}))
    not_allowed = judge_licence(evidence, LicenceSpec(allowed=("MIT",)), None)
    assert not_allowed.summary == "the licence GPL-3.0-only (from COPYING) is not one of MIT"
    deps = [DependencyLicence("proprietary", "1.0", "LicenseRef-Proprietary", False)]
    mit = detect_repo_licence(repo(tmp_path / "mit", {"LICENSE": MIT}))
    incompatible = judge_licence(mit, LicenceSpec(), deps).summary
    assert incompatible.startswith(
        "1 installed dependencies have licences not compatible with MIT (from LICENSE): "
    )


class _ListingFails:
    """A sandbox whose dependency listing exits 1: the licence is known, the dependencies not."""

    def run(self, argv: object, **kwargs: object) -> CommandResult:
        return CommandResult(exit_code=1, output=b"boom", output_truncated=False, seconds=0.1)


def test_the_headline_keeps_the_answer_when_dependencies_cannot_be_listed(tmp_path: Path) -> None:
    evidence = detect_repo_licence(repo(tmp_path, {"LICENSE": MIT}))
    sandbox = cast(Sandbox, _ListingFails())
    result = judge_with_dependencies(sandbox, evidence, LicenceSpec(), timeout=5).result
    assert result.status is CheckStatus.ERROR
    assert result.summary.startswith(
        "licensed MIT (from LICENSE), but the dependency licences could not be listed: "
    )


def test_project_itself_is_not_its_own_dependency() -> None:
    evidence = LicenceEvidence("MIT", "LICENSE", 100.0, project_name="My_Delivery")
    deps = [DependencyLicence("my-delivery", "1.0", "", None)]
    assert judge_licence(evidence, LicenceSpec(), deps).status is CheckStatus.PASSED


def test_turned_off() -> None:
    result = judge_licence(_evidence(None), LicenceSpec(enabled=False), None)
    assert (result.status, result.summary) == (
        CheckStatus.SKIPPED,
        "not checked: turned off in the spec",
    )


# ---------------------------------------------------------------- dependency listing


def test_parse_is_defensive() -> None:
    good = {
        "format": 1,
        "packages": [
            {"name": "six", "version": "1.17.0", "licence": "MIT", "compatible": True},
            {"name": "evil\x1b[31m", "version": 3, "licence": ["x"], "compatible": "yes"},
            "junk",
            {"version": "1"},
        ],
    }
    output = b"some warning on stderr\n" + json.dumps(good).encode()
    deps = parse_dependency_licences(output)
    assert deps == [
        DependencyLicence("evil?[31m", "", "", None),
        DependencyLicence("six", "1.17.0", "MIT", True),
    ]
    for bad in (b"", b"not json", b'{"format": 2}', b'{"format": 1, "packages": {}}'):
        with pytest.raises(ValueError):
            parse_dependency_licences(bad)


def test_dependency_script_runs_offline_with_licensecheck(tmp_path: Path) -> None:
    """The in-sandbox script, run here against a venv made of this interpreter's packages."""
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    fake = tmp_path / "venv" / "lib" / "python3.11"
    fake.mkdir(parents=True)
    (fake / "site-packages").symlink_to(site)
    argv = dependency_licence_command("MIT")
    argv[0] = sys.executable
    argv[argv.index("/work/venv")] = str(tmp_path / "venv")
    run = subprocess.run(argv, capture_output=True, timeout=120, check=True)
    deps = {d.name.lower(): d for d in parse_dependency_licences(run.stdout)}
    # iniconfig declares only License-Expression (PEP 639): licensecheck's CLI misses it
    assert deps["iniconfig"].licence == "MIT" and deps["iniconfig"].compatible is True
    assert deps["six"].compatible is True
    # licensecheck prefers classifiers to the free-text License field
    assert deps["requests"].licence == "Apache Software License"
    assert deps["requests"].compatible is True


# ---------------------------------------------------------------- in the real sandbox


@pytest.fixture(scope="module")
def offline_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
         "-d", str(wheels), "six==1.17.0", "iniconfig==2.3.1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        unavailable(f"cannot download the test wheels: {done.stderr[-500:]}")
    # the sandbox user (uid 10001) reads the mount
    wheels.chmod(0o755)
    for wheel in wheels.iterdir():
        wheel.chmod(0o644)
    return wheels


@pytest.mark.docker
def test_dependency_licences_in_the_sandbox_without_network(
    sandbox_image: str, offline_wheels: Path, tmp_path: Path
) -> None:
    from checks.licence import run_licence_check
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig

    checkout = repo(tmp_path, {"LICENSE": MIT, "pyproject.toml": pyproject('"MIT"')})
    config = SandboxConfig(image=sandbox_image, readonly_mounts={offline_wheels: "/wheels"})
    with DockerSandbox(config) as sandbox:
        setup = sandbox.run(
            ["sh", "-c",
             "python3 -m venv --without-pip /work/venv && "
             "/opt/acceptance/tools/bin/python -m pip --python /work/venv/bin/python install "
             "--no-index --find-links /wheels six iniconfig"],
            timeout=120,
        )  # fmt: skip
        assert setup.exit_code == 0, setup.text
        outcome = run_licence_check(sandbox, checkout, LicenceSpec(), timeout=120)
        gpl = run_licence_check(
            sandbox,
            repo(tmp_path / "gpl", {"LICENSE": GPL3}),
            LicenceSpec(),
            timeout=120,
        )
    result = outcome.result
    assert result.status is CheckStatus.PASSED, result.summary
    assert result.details["dependencies"] == [
        {"name": "iniconfig", "version": "2.3.1", "licence": "MIT", "compatible": True},
        # six's classifier ("MIT License") wins over its License field, as in licensecheck
        {"name": "six", "version": "1.17.0", "licence": "MIT License", "compatible": True},
    ]
    assert "dependency-licences.json" in outcome.artifacts
    # MIT dependencies fit a GPL project too
    assert gpl.result.status is CheckStatus.PASSED, gpl.result.summary


def test_isolated_detection_gives_the_same_evidence(tmp_path: Path) -> None:
    # MPL-2.0 after a preamble is no verbatim copy: only ScanCode, in the child, reads it
    (tmp_path / "LICENSE").write_text(MPL_AFTER_PREAMBLE, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nlicense = "MPL-2.0"\n', encoding="utf-8"
    )
    isolated = detect_repo_licence_isolated(tmp_path, timeout=120)
    assert isolated == detect_repo_licence(tmp_path)
    # read, and refused for its extra words: not the verdict a verbatim copy gets
    assert isolated.spdx is None and isolated.project_name == "x"
    assert isolated.candidates[0].spdx == "MPL-2.0" and isolated.candidates[0].problem
    assert isolated.candidates and all(isinstance(c.rules, tuple) for c in isolated.candidates)


def test_isolated_detection_times_out_as_a_platform_error(tmp_path: Path) -> None:
    (tmp_path / "LICENSE").write_text(MPL_AFTER_PREAMBLE, encoding="utf-8")
    with pytest.raises(PlatformError, match="did not finish within 0.01 s"):
        detect_repo_licence_isolated(tmp_path, timeout=0.01)
