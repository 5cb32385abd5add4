"""Tests for the acceptance spec loader and validator."""

from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acceptance.engine.spec import (
    SUPPORTED_VERSIONS,
    DependencyAuditSpec,
    FunctionalSpec,
    InstallSpec,
    LicenceSpec,
    Limits,
    SastSpec,
    SecuritySpec,
    Severity,
    Spec,
    SpecError,
    canonical_json,
    hash_tree,
    hidden_tests_name_problem,
    load_spec,
    parse_size,
    parse_spec,
)
from acceptance.errors import UserInputError

FULL_EXAMPLE = textwrap.dedent(
    """\
    version: 1
    title: Contact form accessibility fixes
    functional:
      paths: [tests]          # what pytest runs inside the checkout
      hidden_tests: hidden    # optional folder beside the spec
      min_passed: 1
      timeout: 300
    install:
      requirements: ["-e .", "pytest-mock==3.14.0"]
    limits: {cpus: 1, memory: 1g, pids: 256, timeout: 900}
    """
)

MINIMAL = "version: 1\ntitle: Minimal\n"

SECURITY_EXAMPLE = textwrap.dedent(
    """\
    security:
      sast:
        fail_on: medium
        confidence: medium
        exclude: [tests, docs]
        allow_suppressions: false
      dependencies:
        fail_on_vulnerabilities: true
        ignore: [PYSEC-2023-74]
    licence:
      allowed: [MIT, Apache-2.0, BSD-3-Clause]
      dependencies: compatible
    """
)

#: sha256 of FULL_EXAMPLE and MINIMAL computed before the security and licence sections
#: existed: adding sections must not change the hash of documents that do not use them.
FULL_EXAMPLE_SHA256 = "7e46e1b3852fc0320748bf5aabe6d934def0adc322a04d0e3983431bed9c3a64"
MINIMAL_SHA256 = "9d8f693fce3e40e07311572f23cb9426245f11c1a99d34e19781e85bc1f9696a"


def _write_hidden(base: Path) -> Path:
    hidden = base / "hidden"
    (hidden / "sub").mkdir(parents=True)
    (hidden / "test_hidden.py").write_text("def test_hidden():\n    assert True\n")
    (hidden / "sub" / "test_more.py").write_text("def test_more():\n    assert True\n")
    return hidden


def _problems(text: str, base: Path) -> tuple[str, ...]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, base)
    return info.value.problems


def _one_problem_about(text: str, base: Path, field: str) -> str:
    problems = _problems(text, base)
    matching = [p for p in problems if p.startswith(f"{field}:")]
    assert matching, problems
    return matching[0]


# ---------------------------------------------------------------- valid specs


def test_full_example_parses(tmp_path: Path) -> None:
    hidden = _write_hidden(tmp_path)
    spec_file = tmp_path / "acceptance.yaml"
    spec_file.write_text(FULL_EXAMPLE, encoding="utf-8")

    spec = load_spec(spec_file)

    assert spec.version == 1
    assert spec.title == "Contact form accessibility fixes"
    assert spec.functional == FunctionalSpec(
        paths=("tests",), hidden_tests=hidden.resolve(), min_passed=1, timeout=300
    )
    assert spec.install == InstallSpec(requirements=("-e .", "pytest-mock==3.14.0"))
    assert spec.limits == Limits(cpus=1.0, memory=1024**3, pids=256, timeout=900)
    assert spec.path == spec_file
    assert spec.hidden_tests_sha256 == hash_tree(hidden.resolve())
    document = yaml.safe_load(FULL_EXAMPLE)
    assert spec.sha256 == hashlib.sha256(canonical_json(document)).hexdigest()
    assert isinstance(spec, Spec)


def test_defaults(tmp_path: Path) -> None:
    spec = parse_spec(MINIMAL, tmp_path)
    assert spec.functional == FunctionalSpec()
    assert spec.functional.paths == ()
    assert spec.functional.hidden_tests is None
    assert spec.functional.min_passed == 1
    assert spec.functional.timeout == 300
    assert spec.install == InstallSpec(requirements=None)
    assert spec.limits == Limits()
    assert spec.limits.memory == 1024**3
    assert spec.limits.disk == 1024**3
    assert spec.limits.output == 10 * 1024**2
    assert spec.hidden_tests_sha256 is None
    assert spec.path is None
    assert SUPPORTED_VERSIONS == frozenset({1})


def test_null_sections_mean_defaults(tmp_path: Path) -> None:
    spec = parse_spec(MINIMAL + "functional:\ninstall:\nlimits:\n", tmp_path)
    assert spec.functional == FunctionalSpec()
    assert spec.install == InstallSpec()
    assert spec.limits == Limits()


def test_empty_requirements_list_is_not_detection(tmp_path: Path) -> None:
    spec = parse_spec(MINIMAL + "install: {requirements: []}\n", tmp_path)
    assert spec.install.requirements == ()


def test_node_ids_allowed_in_paths(tmp_path: Path) -> None:
    text = MINIMAL + "functional: {paths: ['tests/test_a.py::test_x', 'tests/unit/']}\n"
    spec = parse_spec(text, tmp_path)
    assert spec.functional.paths == ("tests/test_a.py::test_x", "tests/unit/")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1024**3, 1024**3),
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("1G", 1024**3),
        ("1.5g", 3 * 1024**3 // 2),
        ("2048k", 2048 * 1024),
        ("1gb", 1024**3),
        ("1GiB", 1024**3),
        ("1t", 1024**4),
        (" 100000000 ", 100_000_000),
        ("100000000b", 100_000_000),
    ],
)
def test_size_syntax(given: object, expected: int) -> None:
    assert parse_size(given) == expected


@pytest.mark.parametrize(
    "bad", ["-1g", "0", 0, -5, "nan", "1x", "g", "", "1.5.5g", 1.5, True, None]
)
def test_bad_sizes(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        parse_size(bad)


def test_limits_sizes_and_cpus(tmp_path: Path) -> None:
    text = MINIMAL + "limits: {cpus: 0.5, memory: 512m, disk: 100M, output: 64k, pids: 16}\n"
    limits = parse_spec(text, tmp_path).limits
    assert limits == Limits(
        cpus=0.5, memory=512 * 1024**2, pids=16, disk=100 * 1024**2, output=64 * 1024
    )


# ---------------------------------------------------------------- bad input


def test_error_is_user_input_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("title: x\n", tmp_path, origin="contract.yaml")
    error = info.value
    assert isinstance(error, UserInputError)
    assert error.code == "spec:invalid"
    assert error.message.startswith("invalid acceptance spec contract.yaml:\n  - ")
    assert error.hint
    assert "How to fix" in error.diagnostics()


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    problem = _one_problem_about(
        MINIMAL + "functional: {timout: 30}\n", tmp_path, "functional.timout"
    )
    assert "unknown key" in problem
    assert "did you mean 'timeout'?" in problem
    assert "paths, hidden_tests, min_passed, timeout" in problem


def test_unknown_top_level_key(tmp_path: Path) -> None:
    problem = _one_problem_about(MINIMAL + "limit: {}\n", tmp_path, "limit")
    assert "did you mean 'limits'?" in problem


def test_wrong_type(tmp_path: Path) -> None:
    problem = _one_problem_about(
        MINIMAL + "functional: {min_passed: 'three'}\n", tmp_path, "functional.min_passed"
    )
    assert "integer" in problem
    assert "string 'three'" in problem


def test_wrong_section_type(tmp_path: Path) -> None:
    problem = _one_problem_about(MINIMAL + "limits: [1, 2]\n", tmp_path, "limits")
    assert "mapping" in problem


def test_bool_is_not_int(tmp_path: Path) -> None:
    problems = _problems(MINIMAL + "functional: {timeout: true}\nlimits: {pids: yes}\n", tmp_path)
    assert any(p.startswith("functional.timeout:") and "boolean true" in p for p in problems)
    assert any(p.startswith("limits.pids:") and "boolean true" in p for p in problems)


def test_negative_timeout(tmp_path: Path) -> None:
    problem = _one_problem_about(MINIMAL + "limits: {timeout: -5}\n", tmp_path, "limits.timeout")
    assert problem == "limits.timeout: must be a positive integer number of seconds, got -5"


def test_functional_timeout_exceeds_limits(tmp_path: Path) -> None:
    text = MINIMAL + "functional: {timeout: 1000}\nlimits: {timeout: 900}\n"
    problem = _one_problem_about(text, tmp_path, "functional.timeout")
    assert "limits.timeout" in problem


def test_unsupported_version(tmp_path: Path) -> None:
    problems = _problems("version: 2\ntitle: x\nnew_section: {}\n", tmp_path)
    assert problems == ("version: unsupported version 2; this service reads versions: 1",)


def test_version_wrong_type(tmp_path: Path) -> None:
    problem = _one_problem_about("version: '1'\ntitle: x\n", tmp_path, "version")
    assert "integer" in problem


def test_missing_version(tmp_path: Path) -> None:
    problem = _one_problem_about("title: x\n", tmp_path, "version")
    assert "required" in problem


@pytest.mark.parametrize(
    "title", ["", "title: ''", "title: '   '", "title: 5", "title: " + "x" * 201]
)
def test_missing_or_bad_title(tmp_path: Path, title: str) -> None:
    _one_problem_about(f"version: 1\n{title}\n", tmp_path, "title")


@pytest.mark.parametrize("cpus", ["0", "-1", "65", ".inf", ".nan", "0x" + "f" * 400, "'2'"])
def test_bad_cpus(tmp_path: Path, cpus: str) -> None:
    _one_problem_about(MINIMAL + f"limits: {{cpus: {cpus}}}\n", tmp_path, "limits.cpus")


def test_huge_integers_reported(tmp_path: Path) -> None:
    huge = "0x" + "f" * 400
    text = (
        MINIMAL
        + f"functional: {{timeout: {huge}, min_passed: {huge}}}\nlimits: {{memory: {huge}}}\n"
    )
    problems = _problems(text, tmp_path)
    assert any(p.startswith("functional.timeout:") for p in problems)
    assert any(p.startswith("functional.min_passed:") for p in problems)
    assert any(p.startswith("limits.memory:") for p in problems)


def test_all_problems_collected(tmp_path: Path) -> None:
    text = "title: x\nfunctional: {timeout: 0}\nlimits: {memory: 1k, cpus: 65, bogus: 1}\n"
    problems = _problems(text, tmp_path)
    fields = {p.split(":", 1)[0] for p in problems}
    assert {"version", "functional.timeout", "limits.memory", "limits.cpus", "limits.bogus"} <= (
        fields
    )


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "relative"),
        ("../outside", ".."),
        ("tests/../../x", ".."),
        ("-p no:cacheprovider", "'-'"),
        ("tests/\x00x", "NUL"),
        ("", "empty"),
    ],
)
def test_bad_functional_paths(tmp_path: Path, path: str, reason: str) -> None:
    text = MINIMAL + "functional:\n  paths: [" + yaml.safe_dump(path).split("\n")[0] + "]\n"
    if "\x00" in path:
        text = MINIMAL + 'functional:\n  paths: ["tests/\\0x"]\n'
    problem = _one_problem_about(text, tmp_path, "functional.paths[0]")
    assert reason in problem


def test_paths_must_be_a_list(tmp_path: Path) -> None:
    problem = _one_problem_about(
        MINIMAL + "functional: {paths: tests}\n", tmp_path, "functional.paths"
    )
    assert "list" in problem


def test_requirements_items(tmp_path: Path) -> None:
    text = MINIMAL + 'install: {requirements: ["ok", "", 3, "a\\nb"]}\n'
    problems = _problems(text, tmp_path)
    assert any(p.startswith("install.requirements[1]:") for p in problems)
    assert any(p.startswith("install.requirements[2]:") for p in problems)
    assert any(p.startswith("install.requirements[3]:") for p in problems)


def test_hidden_tests_escape_via_dotdot(tmp_path: Path) -> None:
    base = tmp_path / "spec"
    base.mkdir()
    _write_hidden(tmp_path)
    problem = _one_problem_about(
        MINIMAL + "functional: {hidden_tests: ../hidden}\n", base, "functional.hidden_tests"
    )
    assert ".." in problem


def test_hidden_tests_absolute(tmp_path: Path) -> None:
    hidden = _write_hidden(tmp_path)
    text = MINIMAL + f"functional: {{hidden_tests: '{hidden}'}}\n"
    problem = _one_problem_about(text, tmp_path, "functional.hidden_tests")
    assert "relative" in problem


def test_hidden_tests_escape_via_symlink(tmp_path: Path) -> None:
    base = tmp_path / "spec"
    base.mkdir()
    outside = _write_hidden(tmp_path)
    (base / "hidden").symlink_to(outside, target_is_directory=True)
    problem = _one_problem_about(
        MINIMAL + "functional: {hidden_tests: hidden}\n", base, "functional.hidden_tests"
    )
    assert "outside" in problem


def test_hidden_tests_symlink_inside_folder_is_followed(tmp_path: Path) -> None:
    real = _write_hidden(tmp_path)
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    spec = parse_spec(MINIMAL + "functional: {hidden_tests: alias}\n", tmp_path)
    assert spec.functional.hidden_tests == real.resolve()


def test_hidden_tests_missing(tmp_path: Path) -> None:
    problem = _one_problem_about(
        MINIMAL + "functional: {hidden_tests: nowhere}\n", tmp_path, "functional.hidden_tests"
    )
    assert "does not exist" in problem


def test_hidden_tests_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file.py").write_text("x = 1\n")
    problem = _one_problem_about(
        MINIMAL + "functional: {hidden_tests: file.py}\n", tmp_path, "functional.hidden_tests"
    )
    assert "folder" in problem


def test_hidden_tests_naming_the_spec_file_itself_is_a_spec_error(tmp_path: Path) -> None:
    spec = tmp_path / "acceptance.yaml"
    spec.write_text(MINIMAL + "functional: {hidden_tests: acceptance.yaml}\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    [problem] = info.value.problems
    assert problem.startswith("functional.hidden_tests: 'acceptance.yaml' is a file, not a folder")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"hid\\0den"', "NUL"),
        ("h" * 5000, "at most 4096 characters"),
        ("h" * 300, "does not exist"),  # one name longer than the file system allows
    ],
)
def test_hidden_tests_with_nul_or_oversized_names_are_spec_errors(
    tmp_path: Path, value: str, reason: str
) -> None:
    spec = tmp_path / "acceptance.yaml"
    spec.write_text(MINIMAL + f"functional: {{hidden_tests: {value}}}\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    [problem] = info.value.problems
    assert problem.startswith("functional.hidden_tests:") and reason in problem
    assert len(problem) < 400  # the value is quoted shortened, not in full


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ('title: "a\\0b"\n', "title", "control characters"),
        ("title: " + "t" * 300 + "\n", "title", "at most 200"),
        ('functional: {paths: ["a\\0b"]}\n', "functional.paths[0]", "NUL"),
        ('install: {requirements: ["a\\0b"]}\n', "install.requirements[0]", "NUL"),
        (
            "install: {requirements: [" + "a" * 5000 + "]}\n",
            "install.requirements[0]",
            "at most 4096",
        ),
        ('security: {sast: {exclude: ["a\\0b"]}}\n', "security.sast.exclude[0]", "NUL"),
        (
            'security: {dependencies: {ignore: ["CVE\\0"]}}\n',
            "security.dependencies.ignore[0]",
            "advisory",
        ),
        ('licence: {allowed: ["MI\\0T"]}\n', "licence.allowed[0]", "SPDX"),
        ("licence: {allowed: [" + "M" * 5000 + "]}\n", "licence.allowed[0]", "at most 100"),
    ],
)
def test_nul_bytes_and_oversized_values_in_fields_are_spec_errors(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    body = MINIMAL.replace("title: Minimal\n", "") if text.startswith("title") else MINIMAL
    problem = _one_problem_about(body + text, tmp_path, field)
    assert reason in problem
    assert len(problem) < 600


def test_hidden_tests_name_problem_for_an_upload() -> None:
    assert hidden_tests_name_problem("hidden") is None
    assert hidden_tests_name_problem("owner/hidden") is None
    for bad, reason in [
        ("acceptance.yaml", "the spec file itself"),
        ("acceptance.yaml/x", "the spec file itself"),
        ("hid\x00den", "NUL"),
        ("h" * 300, "at most 255 bytes"),
        ("h" * 5000, "at most 4096 characters"),
        ("../x", ".."),
        ("/abs", "relative"),
        (".", "not the spec's folder"),
    ]:
        problem = hidden_tests_name_problem(bad)
        assert problem is not None and reason in problem, (bad, problem)


def test_hidden_tests_with_symlink_inside(tmp_path: Path) -> None:
    hidden = _write_hidden(tmp_path)
    (hidden / "link.py").symlink_to(hidden / "test_hidden.py")
    problem = _one_problem_about(
        MINIMAL + "functional: {hidden_tests: hidden}\n", tmp_path, "functional.hidden_tests"
    )
    assert "'link.py' is a symlink" in problem


def test_hidden_tests_with_special_file(tmp_path: Path) -> None:
    hidden = _write_hidden(tmp_path)
    os.mkfifo(hidden / "pipe")
    problem = _one_problem_about(
        MINIMAL + "functional: {hidden_tests: hidden}\n", tmp_path, "functional.hidden_tests"
    )
    assert "special file" in problem


def test_hidden_tests_too_many_files(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for index in range(2001):
        (hidden / f"f{index}.txt").touch()
    problem = _one_problem_about(
        MINIMAL + "functional: {hidden_tests: hidden}\n", tmp_path, "functional.hidden_tests"
    )
    assert "2000 files" in problem


def test_hidden_tests_too_large(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    with open(hidden / "big.bin", "wb") as handle:
        handle.truncate(50 * 1024**2 + 1)  # sparse: no real disk use
    problem = _one_problem_about(
        MINIMAL + "functional: {hidden_tests: hidden}\n", tmp_path, "functional.hidden_tests"
    )
    assert "50 MiB" in problem


def test_non_mapping_top_level(tmp_path: Path) -> None:
    for text in ["- a\n- b\n", "just a string\n", "", "42\n"]:
        problem = _one_problem_about(text, tmp_path, "document")
        assert "mapping" in problem


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    problem = _one_problem_about("version: 1\ntitle: [a, b\nx: 1\n", tmp_path, "yaml")
    assert "line 3, column 2" in problem


def test_tabs_yaml_error(tmp_path: Path) -> None:
    problem = _one_problem_about("version: 1\n\ttitle: x\n", tmp_path, "yaml")
    assert "line 2" in problem


def test_billion_laughs_fails_fast(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    problem = _one_problem_about("\n".join(lines) + "\n", tmp_path, "yaml")
    assert "alias" in problem


def test_many_aliases_rejected(tmp_path: Path) -> None:
    text = "x: &x 1\nys: [" + ", ".join(["*x"] * 101) + "]\n"
    problem = _one_problem_about(text, tmp_path, "yaml")
    assert "100 aliases" in problem


def test_recursive_alias(tmp_path: Path) -> None:
    _one_problem_about("a: &a [1, *a]\n", tmp_path, "yaml")


def test_deep_nesting(tmp_path: Path) -> None:
    _one_problem_about("a: " + "[" * 5000 + "]" * 5000 + "\n", tmp_path, "yaml")


def test_spec_too_large(tmp_path: Path) -> None:
    spec_file = tmp_path / "big.yaml"
    spec_file.write_text(MINIMAL + "#" * (1024**2) + "\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    assert "limit" in info.value.problems[0]


def test_non_representable_values(tmp_path: Path) -> None:
    text = MINIMAL + "limits: {cpus: .nan}\nwhen: 2024-01-01\n"
    problems = _problems(text, tmp_path)
    assert any(p.startswith("when:") and "canonical JSON" in p for p in problems)
    assert any(p.startswith("limits.cpus:") for p in problems)


def test_invalid_date_value(tmp_path: Path) -> None:
    _one_problem_about(MINIMAL + "when: 2001-02-30\n", tmp_path, "yaml")


def test_python_tags_rejected(tmp_path: Path) -> None:
    _one_problem_about(MINIMAL + "x: !!python/object/apply:os.system ['true']\n", tmp_path, "yaml")


def test_non_utf8_file(tmp_path: Path) -> None:
    spec_file = tmp_path / "latin1.yaml"
    spec_file.write_bytes("version: 1\ntitle: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    assert str(spec_file) in info.value.message
    assert "UTF-8" in info.value.problems[0]


def test_missing_file(tmp_path: Path) -> None:
    spec_file = tmp_path / "absent.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    assert str(spec_file) in info.value.message
    assert info.value.problems[0].startswith("file:")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        load_spec(tmp_path)


def test_lone_surrogate_is_reported_printably(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(MINIMAL + '"\\ud800": 1\n', tmp_path)
    info.value.message.encode("utf-8")


# ---------------------------------------------------------------- hashes


def test_sha256_stable_across_order_and_formatting(tmp_path: Path) -> None:
    first = parse_spec(MINIMAL + "limits: {cpus: 2, pids: 64}\n", tmp_path)
    second = parse_spec(
        "# comment\nlimits:\n  pids: 64\n  cpus: 2\ntitle: 'Minimal'\nversion: 1\n", tmp_path
    )
    assert first.sha256 == second.sha256


def test_sha256_changes_with_values(tmp_path: Path) -> None:
    first = parse_spec(MINIMAL + "limits: {cpus: 2}\n", tmp_path)
    second = parse_spec(MINIMAL + "limits: {cpus: 3}\n", tmp_path)
    assert first.sha256 != second.sha256


def test_sha256_is_of_document_as_given(tmp_path: Path) -> None:
    # Spelling out a default is a different document, hence a different hash.
    first = parse_spec(MINIMAL, tmp_path)
    second = parse_spec(MINIMAL + "limits: {timeout: 900}\n", tmp_path)
    assert first.sha256 != second.sha256


def test_canonical_json_format() -> None:
    assert canonical_json({"b": [1, "é"], "a": None}) == '{"a":null,"b":[1,"é"]}'.encode()
    with pytest.raises(SpecError):
        canonical_json({"a": float("nan")})
    with pytest.raises(SpecError):
        canonical_json({1: "a"})


def test_hash_tree_format(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.py").write_bytes(b"xx")
    (tmp_path / "a.py").write_bytes(b"a")
    (tmp_path / "empty").mkdir()
    expected = hashlib.sha256(b"a.py\x001\x00a" + b"b/x.py\x002\x00xx").hexdigest()
    assert hash_tree(tmp_path) == expected


def test_hash_tree_changes_with_content_and_name(tmp_path: Path) -> None:
    hidden = _write_hidden(tmp_path)
    original = hash_tree(hidden)
    assert hash_tree(hidden) == original
    target = hidden / "test_hidden.py"
    target.write_text("def test_hidden():\n    assert False\n")
    changed_content = hash_tree(hidden)
    assert changed_content != original
    target.rename(hidden / "test_renamed.py")
    assert hash_tree(hidden) not in {original, changed_content}


def test_hash_tree_rejects_symlinks(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(SpecError):
        hash_tree(tmp_path)


def test_hash_tree_missing_root(tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        hash_tree(tmp_path / "absent")


# ---------------------------------------------------------------- security and licence


def test_security_and_licence_example_parses(tmp_path: Path) -> None:
    _write_hidden(tmp_path)
    spec = parse_spec(FULL_EXAMPLE + SECURITY_EXAMPLE, tmp_path)
    assert spec.security == SecuritySpec(
        sast=SastSpec(
            enabled=True,
            fail_on=Severity.MEDIUM,
            confidence=Severity.MEDIUM,
            exclude=("tests", "docs"),
            allow_suppressions=False,
        ),
        dependencies=DependencyAuditSpec(
            enabled=True, fail_on_vulnerabilities=True, ignore=("PYSEC-2023-74",)
        ),
    )
    assert spec.licence == LicenceSpec(
        enabled=True, allowed=("MIT", "Apache-2.0", "BSD-3-Clause"), dependencies="compatible"
    )
    assert spec.functional.paths == ("tests",)
    document = yaml.safe_load(FULL_EXAMPLE + SECURITY_EXAMPLE)
    assert spec.sha256 == hashlib.sha256(canonical_json(document)).hexdigest()
    assert spec.sha256 != FULL_EXAMPLE_SHA256


def test_readme_example_parses(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The acceptance spec", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "hidden").mkdir()
    spec = parse_spec(block, tmp_path)
    assert spec.security.sast.fail_on is Severity.MEDIUM
    assert spec.licence.allowed == ("MIT", "Apache-2.0", "BSD-3-Clause")
    assert (spec.functional.reruns, spec.functional.flaky) == (2, "fail")
    assert (spec.functional.test_timeout, spec.functional.hidden_feedback) == (60, "names")


def test_security_and_licence_defaults(tmp_path: Path) -> None:
    spec = parse_spec(MINIMAL, tmp_path)
    assert spec.security == SecuritySpec()
    assert spec.security.sast == SastSpec(
        enabled=True,
        fail_on=Severity.MEDIUM,
        confidence=Severity.MEDIUM,
        exclude=(),
        allow_suppressions=False,
    )
    assert spec.security.dependencies == DependencyAuditSpec(
        enabled=True, fail_on_vulnerabilities=True, ignore=()
    )
    assert spec.licence == LicenceSpec(enabled=True, allowed=None, dependencies="compatible")


def test_old_documents_keep_their_sha256(tmp_path: Path) -> None:
    _write_hidden(tmp_path)
    assert parse_spec(MINIMAL, tmp_path).sha256 == MINIMAL_SHA256
    assert parse_spec(FULL_EXAMPLE, tmp_path).sha256 == FULL_EXAMPLE_SHA256


@pytest.mark.parametrize(
    "text",
    [
        "security:\nlicence:\n",
        "security: {}\nlicence: {}\n",
        "security: true\nlicence: true\n",
        "security: {sast: true, dependencies: true}\n",
        "security: {sast: {}, dependencies: {}}\n",
        "security: {sast: null, dependencies: null}\n",
        "security: {sast: {enabled: true}, dependencies: {enabled: true}}\nlicence: {enabled: true}\n",
    ],
)
def test_sections_on_with_defaults(tmp_path: Path, text: str) -> None:
    spec = parse_spec(MINIMAL + text, tmp_path)
    assert spec.security == SecuritySpec()
    assert spec.licence == LicenceSpec()


@pytest.mark.parametrize(
    ("text", "sast_on", "audit_on"),
    [
        ("security: {sast: false}\n", False, True),
        ("security: {sast: off}\n", False, True),
        ("security: {sast: {enabled: false}}\n", False, True),
        ("security: {dependencies: false}\n", True, False),
        ("security: {dependencies: {enabled: false}}\n", True, False),
        ("security: {sast: false, dependencies: {enabled: false}}\n", False, False),
        ("security: false\n", False, False),
    ],
)
def test_turning_security_checks_off(
    tmp_path: Path, text: str, sast_on: bool, audit_on: bool
) -> None:
    spec = parse_spec(MINIMAL + text, tmp_path)
    assert spec.security.sast.enabled is sast_on
    assert spec.security.dependencies.enabled is audit_on
    assert spec.licence == LicenceSpec()


@pytest.mark.parametrize(
    "text", ["licence: false\n", "licence: off\n", "licence: {enabled: false}\n"]
)
def test_turning_licence_off(tmp_path: Path, text: str) -> None:
    spec = parse_spec(MINIMAL + text, tmp_path)
    assert spec.licence == LicenceSpec(enabled=False)
    assert spec.security == SecuritySpec()


def test_disabled_section_keeps_its_other_fields(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "security: {sast: {enabled: false, fail_on: low}}\n"
        + "licence: {enabled: false, allowed: [MIT]}\n"
    )
    spec = parse_spec(text, tmp_path)
    assert spec.security.sast == SastSpec(enabled=False, fail_on=Severity.LOW)
    assert spec.licence == LicenceSpec(enabled=False, allowed=("MIT",))


def test_disabled_section_still_validated(tmp_path: Path) -> None:
    text = MINIMAL + "security: {sast: {enabled: false, fail_on: severe}}\n"
    _one_problem_about(text, tmp_path, "security.sast.fail_on")


@pytest.mark.parametrize("given", ["low", "LOW", "Medium", "HIGH", "hIgH", "' high '"])
def test_severity_case_insensitive(tmp_path: Path, given: str) -> None:
    text = MINIMAL + f"security: {{sast: {{fail_on: {given}, confidence: {given}}}}}\n"
    sast = parse_spec(text, tmp_path).security.sast
    expected = Severity(given.strip("' ").lower())
    assert sast.fail_on is expected
    assert sast.confidence is expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("compatible", "compatible"),
        ("report", "report"),
        ("REPORT", "report"),
        ("'off'", "off"),
        ("off", "off"),  # YAML 1.1 reads an unquoted off as false
        ("false", "off"),
        ("true", "compatible"),
    ],
)
def test_licence_dependency_modes(tmp_path: Path, given: str, expected: str) -> None:
    spec = parse_spec(MINIMAL + f"licence: {{dependencies: {given}}}\n", tmp_path)
    assert spec.licence.dependencies == expected
    assert spec.licence.enabled is True


def test_valid_advisory_ids_and_licence_ids(tmp_path: Path) -> None:
    text = MINIMAL + textwrap.dedent(
        """\
        security:
          dependencies:
            ignore: [PYSEC-2023-74, GHSA-j8r2-6x86-q33q, CVE-2023-32681, "OSV:2024_1.a"]
        licence:
          allowed: [GPL-3.0-or-later, GPL-2.0+, LicenseRef-custom.1, 0BSD]
        """
    )
    spec = parse_spec(text, tmp_path)
    assert spec.security.dependencies.ignore == (
        "PYSEC-2023-74",
        "GHSA-j8r2-6x86-q33q",
        "CVE-2023-32681",
        "OSV:2024_1.a",
    )
    assert spec.licence.allowed == ("GPL-3.0-or-later", "GPL-2.0+", "LicenseRef-custom.1", "0BSD")


def test_licence_allowed_at_most_100(tmp_path: Path) -> None:
    ids = ", ".join(f"LicenseRef-L{index}" for index in range(100))
    spec = parse_spec(MINIMAL + f"licence: {{allowed: [{ids}]}}\n", tmp_path)
    assert spec.licence.allowed is not None
    assert len(spec.licence.allowed) == 100
    ids += ", LicenseRef-L100"
    problem = _one_problem_about(
        MINIMAL + f"licence: {{allowed: [{ids}]}}\n", tmp_path, "licence.allowed"
    )
    assert "at most 100" in problem


def test_null_lists_mean_defaults(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "security: {sast: {exclude: null}, dependencies: {ignore: null}}\n"
        + "licence: {allowed: null}\n"
    )
    spec = parse_spec(text, tmp_path)
    assert spec.security == SecuritySpec()
    assert spec.licence == LicenceSpec()


def test_empty_allowed_list(tmp_path: Path) -> None:
    problem = _one_problem_about(MINIMAL + "licence: {allowed: []}\n", tmp_path, "licence.allowed")
    assert "would reject every licence" in problem
    assert "omit the key to allow any OSI-approved licence" in problem


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        ("Apache2", "did you mean Apache-2.0?"),
        ("'Apache 2.0'", "did you mean Apache-2.0?"),
        ("'Apache License 2.0'", "did you mean Apache-2.0?"),
        ("Apache-2", "did you mean Apache-2.0?"),
        ("GPLv3", "did you mean GPL-3.0-only or GPL-3.0-or-later?"),
        ("GPLv3+", "did you mean GPL-3.0-or-later?"),
        ("gpl2", "did you mean GPL-2.0-only or GPL-2.0-or-later?"),
        ("BSD", "did you mean BSD-3-Clause or BSD-2-Clause?"),
        ("BSD-3", "did you mean BSD-3-Clause?"),
        ("'MIT License'", "did you mean MIT?"),
        ("Expat", "did you mean MIT?"),
        ("GPL3.0", "did you mean GPL-3.0-only?"),  # not the deprecated GPL-3.0
        ("GPL-3.0-or-later+", "did you mean GPL-3.0-or-later?"),
    ],
)
def test_licence_ids_must_be_on_the_spdx_list(tmp_path: Path, given: str, suggested: str) -> None:
    problem = _one_problem_about(
        MINIMAL + f"licence: {{allowed: [MIT, {given}]}}\n", tmp_path, "licence.allowed[1]"
    )
    assert suggested in problem
    assert "SPDX licence" in problem


def test_an_unknown_licence_id_without_a_near_one_says_how_to_name_a_custom_one(
    tmp_path: Path,
) -> None:
    problem = _one_problem_about(
        MINIMAL + "licence: {allowed: [NotALicence]}\n", tmp_path, "licence.allowed[0]"
    )
    assert "did you mean" not in problem
    assert "LicenseRef-<name>" in problem and "'NotALicence'" in problem


def test_a_licence_expression_is_one_entry_per_licence(tmp_path: Path) -> None:
    problem = _one_problem_about(
        MINIMAL + "licence: {allowed: ['MIT OR Apache-2.0']}\n", tmp_path, "licence.allowed[0]"
    )
    assert "not an expression" in problem and "[MIT, Apache-2.0]" in problem


@pytest.mark.parametrize(
    "given",
    ["mit", "APACHE-2.0", "GPL-3.0", "GPL-2.0+", "MIT+", "LicenseRef-in-house.2", "licenseref-x"],
)
def test_licence_ids_match_the_list_case_insensitively(tmp_path: Path, given: str) -> None:
    spec = parse_spec(MINIMAL + f"licence: {{allowed: [{given}]}}\n", tmp_path)
    assert spec.licence.allowed == (given,)


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        # unknown keys, with suggestions
        ("license: {}\n", "license", "did you mean 'licence'?"),
        ("security: {sats: {}}\n", "security.sats", "did you mean 'sast'?"),
        ("security: {sast: {fail_at: high}}\n", "security.sast.fail_at", "did you mean 'fail_on'?"),
        ("security: {sast: {enable: false}}\n", "security.sast.enable", "did you mean 'enabled'?"),
        (
            "security: {dependencies: {ignored: []}}\n",
            "security.dependencies.ignored",
            "unknown key",
        ),
        ("security: {enabled: false}\n", "security.enabled", "allowed keys: sast, dependencies"),
        ("licence: {allow: [MIT]}\n", "licence.allow", "did you mean 'allowed'?"),
        # sections of the wrong type
        ("security: [sast]\n", "security", "mapping"),
        ("security: 'off'\n", "security", "string 'off'"),
        ("security: {sast: 1}\n", "security.sast", "true (on with defaults) or false (off)"),
        ("security: {dependencies: [a]}\n", "security.dependencies", "got a list"),
        ("licence: MIT\n", "licence", "string 'MIT'"),
        # booleans
        ("security: {sast: {enabled: 'no'}}\n", "security.sast.enabled", "true or false"),
        ("security: {dependencies: {enabled: 0}}\n", "security.dependencies.enabled", "integer 0"),
        ("licence: {enabled: 'false'}\n", "licence.enabled", "string 'false'"),
        (
            "security: {sast: {allow_suppressions: 'true'}}\n",
            "security.sast.allow_suppressions",
            "must be true or false, got string 'true'",
        ),
        (
            "security: {dependencies: {fail_on_vulnerabilities: 1}}\n",
            "security.dependencies.fail_on_vulnerabilities",
            "got integer 1",
        ),
        # severities
        (
            "security: {sast: {fail_on: critical}}\n",
            "security.sast.fail_on",
            "must be one of low, medium, high, got string 'critical'",
        ),
        ("security: {sast: {confidence: 2}}\n", "security.sast.confidence", "low, medium, high"),
        ("security: {sast: {fail_on: null}}\n", "security.sast.fail_on", "got null"),
        ("security: {sast: {fail_on: [high]}}\n", "security.sast.fail_on", "got a list"),
        ("security: {sast: {fail_on: off}}\n", "security.sast.fail_on", "write `sast: false`"),
        # licence.dependencies
        (
            "licence: {dependencies: strict}\n",
            "licence.dependencies",
            "must be one of compatible, report, off, got string 'strict'",
        ),
        ("licence: {dependencies: 1}\n", "licence.dependencies", "compatible, report, off"),
        # lists of the wrong type
        ("security: {sast: {exclude: tests}}\n", "security.sast.exclude", "e.g. [tests, docs]"),
        ("security: {sast: {exclude: true}}\n", "security.sast.exclude", "got boolean true"),
        ("security: {sast: {exclude: {a: 1}}}\n", "security.sast.exclude", "got a mapping"),
        (
            "security: {dependencies: {ignore: PYSEC-2023-74}}\n",
            "security.dependencies.ignore",
            "in brackets",
        ),
        ("security: {dependencies: {ignore: false}}\n", "security.dependencies.ignore", "list"),
        ("licence: {allowed: MIT}\n", "licence.allowed", "e.g. [MIT, Apache-2.0]"),
        ("licence: {allowed: true}\n", "licence.allowed", "got boolean true"),
        # items
        ("security: {sast: {exclude: [1]}}\n", "security.sast.exclude[0]", "integer 1"),
        ("security: {sast: {exclude: ['/etc']}}\n", "security.sast.exclude[0]", "relative"),
        ("security: {sast: {exclude: [a, ../x]}}\n", "security.sast.exclude[1]", "'..'"),
        ("security: {sast: {exclude: ['-rf']}}\n", "security.sast.exclude[0]", "'-'"),
        ('security: {sast: {exclude: ["a\\0b"]}}\n', "security.sast.exclude[0]", "NUL"),
        ("security: {sast: {exclude: ['']}}\n", "security.sast.exclude[0]", "empty"),
        ("security: {sast: {exclude: [.]}}\n", "security.sast.exclude[0]", "checkout itself"),
        (
            "security: {sast: {exclude: [tests, tests/]}}\n",
            "security.sast.exclude[1]",
            "duplicates",
        ),
        (
            "security: {dependencies: {ignore: [X]}}\n",
            "security.dependencies.ignore[0]",
            "advisory id",
        ),
        (
            "security: {dependencies: {ignore: ['-PYSEC-1']}}\n",
            "security.dependencies.ignore[0]",
            "advisory id",
        ),
        (
            "security: {dependencies: {ignore: ['CVE 2023']}}\n",
            "security.dependencies.ignore[0]",
            "advisory id",
        ),
        (
            'security: {dependencies: {ignore: ["CVE-2023-1\\n"]}}\n',
            "security.dependencies.ignore[0]",
            "advisory id",
        ),
        (
            "security: {dependencies: {ignore: [A" + "1" * 100 + "]}}\n",
            "security.dependencies.ignore[0]",
            "2 to 100",
        ),
        (
            "security: {dependencies: {ignore: [12345]}}\n",
            "security.dependencies.ignore[0]",
            "must be a string, got integer 12345",
        ),
        (
            "security: {dependencies: {ignore: [CVE-2023-1, cve-2023-1]}}\n",
            "security.dependencies.ignore[1]",
            "duplicates security.dependencies.ignore[0]",
        ),
        ("licence: {allowed: ['MIT OR Apache-2.0']}\n", "licence.allowed[0]", "SPDX"),
        ("licence: {allowed: [MIT, '']}\n", "licence.allowed[1]", "SPDX"),
        ("licence: {allowed: ['(MIT)']}\n", "licence.allowed[0]", "SPDX"),
        ("licence: {allowed: ['-MIT']}\n", "licence.allowed[0]", "SPDX"),
        ('licence: {allowed: ["MIT\\n"]}\n', "licence.allowed[0]", "SPDX"),
        ("licence: {allowed: [MIT, mit]}\n", "licence.allowed[1]", "duplicates"),
        ("licence: {allowed: [true]}\n", "licence.allowed[0]", "boolean true"),
        ("licence: {allowed: [A" + "b" * 100 + "]}\n", "licence.allowed[0]", "100 characters"),
    ],
)
def test_bad_security_and_licence_input(
    tmp_path: Path, text: str, field: str, expected: str
) -> None:
    problem = _one_problem_about(MINIMAL + text, tmp_path, field)
    assert expected in problem


def test_security_and_licence_problems_all_collected(tmp_path: Path) -> None:
    text = MINIMAL + textwrap.dedent(
        """\
        security:
          sast: {fail_on: severe, confidence: 3, exclude: [../x], allow_suppressions: 'yes', x: 1}
          dependencies: {enabled: 'no', ignore: [a]}
        licence: {allowed: [], dependencies: strict}
        """
    )
    fields = {p.split(":", 1)[0] for p in _problems(text, tmp_path)}
    assert fields == {
        "security.sast.fail_on",
        "security.sast.confidence",
        "security.sast.exclude[0]",
        "security.sast.allow_suppressions",
        "security.sast.x",
        "security.dependencies.enabled",
        "security.dependencies.ignore[0]",
        "licence.allowed",
        "licence.dependencies",
    }


# ---------------------------------------------------------------- properties

_FIELD_NAMES = st.sampled_from(
    [
        "version",
        "title",
        "functional",
        "install",
        "limits",
        "paths",
        "hidden_tests",
        "min_passed",
        "timeout",
        "requirements",
        "cpus",
        "memory",
        "pids",
        "disk",
        "output",
        "security",
        "licence",
        "sast",
        "dependencies",
        "enabled",
        "fail_on",
        "confidence",
        "exclude",
        "allow_suppressions",
        "fail_on_vulnerabilities",
        "ignore",
        "allowed",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["1g", "512m", "-1", "..", "/etc", "hidden", "tests", "1.5GiB"])
    | st.sampled_from(["low", "MEDIUM", "high", "compatible", "report", "off", "."])
    | st.sampled_from(["PYSEC-2023-74", "CVE-2023-32681", "MIT", "Apache-2.0", "MIT OR X"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_FIELD_NAMES | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def property_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("property")
    _write_hidden(base)
    return base


_YAMLISH_TEXT = st.lists(
    st.sampled_from(
        [
            "version: 1\n",
            "title: x\n",
            "functional:\n",
            "limits:\n",
            "  ",
            "\n",
            "\t",
            "a",
            "1",
            "-1",
            ".nan",
            "1g",
            ": ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "&a ",
            "*a",
            "!!binary ",
            "!!set ",
            "!!python/name:os.system",
            "!!timestamp ",
            "2001-02-30",
            "'",
            '"',
            "\\ud800",
            "#",
            "?",
            "|",
            ">",
            "%YAML 1.1\n",
            "---\n",
            "...\n",
            "<<: ",
            "~",
            "\x00",
            "\ufeff",
            "hidden_tests: hidden",
            "paths: [..]",
            "security:\n",
            "licence:\n",
            "  sast: ",
            "  dependencies: ",
            "fail_on: ",
            "exclude: [",
            "ignore: [",
            "allowed: [",
            "enabled: ",
            "false",
            "off",
            "MEDIUM",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=300) | _YAMLISH_TEXT)
def test_arbitrary_text_only_raises_spec_error(property_base: Path, text: str) -> None:
    try:
        parse_spec(text, property_base)
    except SpecError as error:
        assert error.problems
        error.message.encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    document=st.fixed_dictionaries(
        {},
        optional={
            "version": st.just(1) | _VALUES,
            "title": st.just("A title") | _VALUES,
            "functional": st.dictionaries(_FIELD_NAMES, _VALUES, max_size=4) | _VALUES,
            "install": st.dictionaries(_FIELD_NAMES, _VALUES, max_size=2) | _VALUES,
            "limits": st.dictionaries(_FIELD_NAMES, _VALUES, max_size=6) | _VALUES,
            "security": st.fixed_dictionaries(
                {},
                optional={
                    "sast": st.dictionaries(_FIELD_NAMES, _VALUES, max_size=5) | _VALUES,
                    "dependencies": st.dictionaries(_FIELD_NAMES, _VALUES, max_size=3) | _VALUES,
                },
            )
            | _VALUES,
            "licence": st.dictionaries(_FIELD_NAMES, _VALUES, max_size=3) | _VALUES,
        },
    )
    | st.dictionaries(_FIELD_NAMES | st.text(max_size=8), _VALUES, max_size=6)
)
def test_arbitrary_mappings_only_raise_spec_error(property_base: Path, document: object) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    try:
        spec = parse_spec(text, property_base)
    except SpecError as error:
        assert error.problems
        error.message.encode("utf-8")
    else:
        assert spec.sha256 == hashlib.sha256(canonical_json(yaml.safe_load(text))).hexdigest()


# ---------------------------------------------------------------- fair verdicts (issue 18)


def test_fair_verdict_keys_default(tmp_path: Path) -> None:
    functional = parse_spec(MINIMAL, tmp_path).functional
    assert functional.reruns == 2
    assert functional.flaky == "fail"
    assert functional.test_timeout is None
    assert functional.hidden_feedback == "names"


def test_fair_verdict_keys_parse(tmp_path: Path) -> None:
    text = MINIMAL + textwrap.dedent(
        """\
        functional:
          timeout: 120
          reruns: 0
          flaky: Pass
          test_timeout: 120
          hidden_feedback: " messages "
        """
    )
    functional = parse_spec(text, tmp_path).functional
    assert (functional.reruns, functional.flaky) == (0, "pass")
    assert (functional.test_timeout, functional.hidden_feedback) == (120, "messages")


@pytest.mark.parametrize("level", ["none", "names", "messages"])
def test_every_hidden_feedback_level(tmp_path: Path, level: str) -> None:
    text = MINIMAL + f"functional: {{hidden_feedback: {level}}}\n"
    assert parse_spec(text, tmp_path).functional.hidden_feedback == level


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6", "functional.reruns: must be at most 5, got 6"),
        ("-1", "functional.reruns: must be an integer from 0 (no re-runs) to 5, got -1"),
        (
            "true",
            "functional.reruns: must be an integer from 0 (no re-runs) to 5, got boolean true",
        ),
        ("'2'", "functional.reruns: must be an integer from 0 (no re-runs) to 5, got string '2'"),
        ("1.5", "functional.reruns: must be an integer from 0 (no re-runs) to 5, got number 1.5"),
    ],
)
def test_bad_reruns(tmp_path: Path, value: str, expected: str) -> None:
    text = MINIMAL + f"functional: {{reruns: {value}}}\n"
    assert _one_problem_about(text, tmp_path, "functional.reruns") == expected


@pytest.mark.parametrize(
    ("key", "value", "described"),
    [
        ("flaky", "maybe", "string 'maybe'"),
        ("flaky", "0", "integer 0"),
        ("flaky", "[pass]", "a list"),
        ("hidden_feedback", "all", "string 'all'"),
        ("hidden_feedback", "name", "string 'name'"),
        ("hidden_feedback", "{names: true}", "a mapping"),
    ],
)
def test_unknown_choice_values(tmp_path: Path, key: str, value: str, described: str) -> None:
    problem = _one_problem_about(
        MINIMAL + f"functional: {{{key}: {value}}}\n", tmp_path, f"functional.{key}"
    )
    allowed = "fail, pass" if key == "flaky" else "none, names, messages"
    assert problem == f"functional.{key}: must be one of {allowed}, got {described}"


@pytest.mark.parametrize(("key", "value"), [("flaky", "no"), ("hidden_feedback", "")])
def test_yaml_booleans_and_nulls_get_a_hint(tmp_path: Path, key: str, value: str) -> None:
    problem = _one_problem_about(
        MINIMAL + f"functional:\n  {key}: {value}\n", tmp_path, f"functional.{key}"
    )
    assert "must be one of" in problem
    assert "write one of the words" in problem


@pytest.mark.parametrize(
    ("value", "described"),
    [
        ("0", "0"),
        ("-3", "-3"),
        ("true", "boolean true"),
        ("'30'", "string '30'"),
        ("2.5", "number 2.5"),
    ],
)
def test_bad_test_timeout(tmp_path: Path, value: str, described: str) -> None:
    text = MINIMAL + f"functional: {{test_timeout: {value}}}\n"
    problem = _one_problem_about(text, tmp_path, "functional.test_timeout")
    assert problem == (
        f"functional.test_timeout: must be a positive integer number of seconds, got {described}"
    )


def test_null_test_timeout_means_none(tmp_path: Path) -> None:
    spec = parse_spec(MINIMAL + "functional: {test_timeout: null}\n", tmp_path)
    assert spec.functional.test_timeout is None


def test_test_timeout_up_to_the_functional_timeout(tmp_path: Path) -> None:
    at_default = parse_spec(MINIMAL + "functional: {test_timeout: 300}\n", tmp_path)
    assert at_default.functional.test_timeout == 300
    raised = MINIMAL + "functional: {timeout: 600, test_timeout: 450}\n"
    assert parse_spec(raised, tmp_path).functional.test_timeout == 450


@pytest.mark.parametrize(
    ("functional", "step"),
    [("{test_timeout: 301}", 300), ("{timeout: 60, test_timeout: 61}", 60)],
)
def test_test_timeout_longer_than_the_functional_timeout(
    tmp_path: Path, functional: str, step: int
) -> None:
    problem = _one_problem_about(
        MINIMAL + f"functional: {functional}\n", tmp_path, "functional.test_timeout"
    )
    assert f"exceeds functional.timeout ({step})" in problem
    assert "lower test_timeout or raise functional.timeout" in problem


def test_invalid_timeout_is_not_blamed_on_test_timeout(tmp_path: Path) -> None:
    problems = _problems(MINIMAL + "functional: {timeout: soon, test_timeout: 500}\n", tmp_path)
    assert [p.split(":")[0] for p in problems] == ["functional.timeout"]


def test_fair_verdict_keys_are_known_keys(tmp_path: Path) -> None:
    problem = _one_problem_about(MINIMAL + "functional: {rerun: 1}\n", tmp_path, "functional.rerun")
    assert "did you mean 'reruns'?" in problem
    assert "reruns, flaky, test_timeout, hidden_feedback" in problem


def test_fair_verdict_keys_leave_older_documents_alone(tmp_path: Path) -> None:
    _write_hidden(tmp_path)
    spec = parse_spec(FULL_EXAMPLE, tmp_path)
    assert spec.sha256 == FULL_EXAMPLE_SHA256
    assert spec.functional == FunctionalSpec(
        paths=("tests",), hidden_tests=(tmp_path / "hidden").resolve(), min_passed=1, timeout=300
    )
