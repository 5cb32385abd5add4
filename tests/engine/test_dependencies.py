"""Tests for static detection of what a submission needs installed."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acceptance.engine.dependencies import (
    detect_install_plan,
    own_project_names,
    requirements_from_metadata,
)
from acceptance.engine.install_plan import DependencyError, InstallPlan, LocalProject
from acceptance.engine.poetry_requirements import poetry_specifier
from acceptance.errors import SubmissionError
from acceptance.safefs import UnsafePathError


def write(root: Path, relpath: str, text: str) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def evidence(plan: InstallPlan) -> str:
    return "\n".join(plan.evidence)


# ----------------------------------------------------------------------------- pyproject


def test_pep621_with_test_extra_and_dependency_groups(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [build-system]
        requires = ["hatchling>=1.20"]
        build-backend = "hatchling.build"

        [project]
        name = "demo"
        version = "1.0"
        dependencies = ["requests>=2", "attrs"]

        [project.optional-dependencies]
        test = ["pytest>=8", "demo[cov]"]
        cov = ["coverage[toml]>=7"]
        docs = ["sphinx"]

        [dependency-groups]
        typing = ["mypy==1.10.0"]
        test = ["hypothesis", {include-group = "typing"}, {include-group = "dev"}]
        dev = ["ruff; python_version >= '3.8'", {include-group = "test"}]
        """,
    )
    plan = detect_install_plan(tmp_path)
    assert plan.local_projects == (LocalProject(".", extras=("test",), name="demo"),)
    assert plan.build_requirements == ("hatchling>=1.20",)
    assert plan.requirements == (
        "hypothesis",
        "mypy==1.10.0",
        'ruff; python_version >= "3.8"',
        "requests>=2",
        "attrs",
        "pytest>=8",
        "coverage[toml]>=7",
    )
    assert "sphinx" not in plan.requirements
    assert plan.needs_sandbox_metadata is False
    text = evidence(plan)
    assert "pyproject.toml [project.dependencies]: 2 requirements" in text
    assert "[dependency-groups].test: 3 requirements" in text
    assert "pytest added" not in text


def test_dynamic_dependencies_need_sandbox(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        version = "1.0"
        dynamic = ["dependencies", "optional-dependencies"]
        """,
    )
    write(tmp_path, "setup.py", "from setuptools import setup; setup()\n")
    plan = detect_install_plan(tmp_path)
    assert plan.needs_sandbox_metadata is True
    assert plan.build_requirements == ("setuptools>=40.8.0", "wheel")
    assert plan.requirements == ("pytest",)
    assert "pytest added" in evidence(plan)


def test_dynamic_optional_dependencies_for_wanted_extra(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        version = "1.0"
        dependencies = []
        dynamic = ["optional-dependencies"]
        """,
    )
    assert detect_install_plan(tmp_path).needs_sandbox_metadata is False
    write(tmp_path, "requirements-dev.txt", "-e .[test]\n")
    plan = detect_install_plan(tmp_path)
    assert plan.needs_sandbox_metadata is True
    assert plan.local_projects == (LocalProject(".", extras=("test",), editable=True, name="demo"),)


def test_symlinked_pyproject_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePathError) as info:
        detect_install_plan(tmp_path)
    assert info.value.reason == "UNSAFE_REPOSITORY"
    assert "pyproject.toml is a symbolic link" in info.value.message


def test_invalid_toml_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[project\nname=")
    with pytest.raises(DependencyError, match="not valid TOML"):
        detect_install_plan(tmp_path)


def test_url_in_project_dependencies(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        version = "1"
        dependencies = ["lib @ https://token:secret@example.invalid/lib.whl"]
        """,
    )
    with pytest.raises(DependencyError) as info:
        detect_install_plan(tmp_path)
    assert info.value.reason == "UNSUPPORTED_REQUIREMENT"
    assert "direct URL" in info.value.message
    assert "secret" not in info.value.message


def test_tool_config_only_pyproject_is_not_a_project(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.pytest.ini_options]\naddopts = '-q'\n")
    write(tmp_path, "requirements.txt", "numpy\n")
    plan = detect_install_plan(tmp_path)
    assert plan.local_projects == ()
    assert plan.build_requirements == ()
    assert plan.requirements == ("numpy", "pytest")


def test_empty_checkout(tmp_path: Path) -> None:
    plan = detect_install_plan(tmp_path)
    assert plan.requirements == ("pytest",)
    assert plan.local_projects == ()
    assert "no requirements files found" in evidence(plan)


# ----------------------------------------------------------------------------- poetry


POETRY = """
[build-system]
requires = ["poetry-core>=1.0.0"]
build-backend = "poetry.core.masonry.api"

[tool.poetry]
name = "poetic"
version = "0.1.0"

[tool.poetry.dependencies]
python = "^3.9"
requests = "^2.31"
tomli = { version = "~1.2", python = "<3.11" }
rich = { version = "*", extras = ["jupyter"], optional = true }
click = "8.1.7"
legacy = [
  { version = "<1", python = "<3.10" },
  { version = ">=1", python = ">=3.10" },
]

[tool.poetry.extras]
test = ["rich"]

[tool.poetry.group.test.dependencies]
pytest = "^8.0"
pytest-cov = ">=4,<6"

[tool.poetry.group.docs.dependencies]
sphinx = "*"

[tool.poetry.dev-dependencies]
black = "^0.0.3"
"""


def test_poetry_project(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", POETRY)
    plan = detect_install_plan(tmp_path)
    assert plan.build_requirements == ("poetry-core>=1.0.0",)
    assert plan.local_projects == (LocalProject(".", extras=("test",), name="poetic"),)
    assert plan.needs_sandbox_metadata is False
    assert plan.requirements == (
        "pytest<9.0,>=8.0",
        "pytest-cov<6,>=4",
        "black<0.0.4,>=0.0.3",
        "requests<3.0,>=2.31",
        'tomli<1.3,>=1.2; python_full_version < "3.11"',
        "rich[jupyter]",
        "click==8.1.7",
        'legacy<1; python_full_version < "3.10"',
        'legacy>=1; python_full_version >= "3.10"',
    )
    assert "sphinx" not in " ".join(plan.requirements)


def test_poetry_optional_without_extra_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", POETRY.replace('test = ["rich"]', 'docs = ["rich"]'))
    plan = detect_install_plan(tmp_path)
    assert not any(r.startswith("rich") for r in plan.requirements)


@pytest.mark.parametrize(
    ("kind", "entry"),
    [
        ("path", '{ path = "../lib" }'),
        ("git", '{ git = "https://example.invalid/x.git", branch = "main" }'),
        ("url", '{ url = "https://example.invalid/x.whl" }'),
        ("source", '{ version = "^1", source = "private" }'),
    ],
)
def test_poetry_unsupported_sources(tmp_path: Path, kind: str, entry: str) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        f"""
        [tool.poetry]
        name = "p"
        version = "1"
        [tool.poetry.dependencies]
        python = "^3.9"
        mylib = {entry}
        """,
    )
    with pytest.raises(DependencyError) as info:
        detect_install_plan(tmp_path)
    assert info.value.reason == "UNSUPPORTED_REQUIREMENT"
    assert "'mylib'" in info.value.message
    assert kind in info.value.message or "package source" in info.value.message


def test_poetry_non_package_mode(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [tool.poetry]
        package-mode = false
        [tool.poetry.group.dev.dependencies]
        pytest = "~8.2"
        """,
    )
    plan = detect_install_plan(tmp_path)
    assert plan.local_projects == ()
    assert plan.requirements == ("pytest<8.3,>=8.2",)


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^1.2.3", ">=1.2.3,<2.0.0"),
        ("^1.2", ">=1.2,<2.0"),
        ("^1", ">=1,<2"),
        ("^0.2.3", ">=0.2.3,<0.3.0"),
        ("^0.0.3", ">=0.0.3,<0.0.4"),
        ("^0.0", ">=0.0,<0.1"),
        ("^0", ">=0,<1"),
        ("~1.2.3", ">=1.2.3,<1.3.0"),
        ("~1.2", ">=1.2,<1.3"),
        ("~1", ">=1,<2"),
        ("~=1.2", "~=1.2"),
        ("*", ""),
        ("", ""),
        ("1.2.3", "==1.2.3"),
        ("1.2.*", "==1.2.*"),
        ("=1.2", "==1.2"),
        (">=1.2, <2.0", ">=1.2,<2.0"),
        (">= 1.2 < 2.0", ">=1.2,<2.0"),
        ("!=1.5", "!=1.5"),
        ("^1.2.3b1", ">=1.2.3b1,<2.0.0"),
    ],
)
def test_poetry_specifier(constraint: str, expected: str) -> None:
    assert poetry_specifier(constraint) == expected


@pytest.mark.parametrize("constraint", ["^1.0 || ^2.0", "^banana", ">=>1"])
def test_poetry_specifier_rejects(constraint: str) -> None:
    with pytest.raises(DependencyError):
        poetry_specifier(constraint)


# ----------------------------------------------------------------------------- requirements files


def test_requirements_dir_with_include_and_hostile_options(tmp_path: Path) -> None:
    write(tmp_path, "requirements/base.txt", "Django>=4.2  # web\nrequests\\\n  >=2.0\n")
    write(
        tmp_path,
        "requirements/tests.txt",
        """
        # test dependencies
        -r base.txt
        --requirement=base.txt
        -c constraints.txt
        --index-url https://user:token@evil.invalid/simple
        --extra-index-url=https://evil.invalid/simple
        -i https://evil.invalid/simple
        --find-links /tmp/evil
        --trusted-host evil.invalid
        --pre
        --no-binary :all:
        pytest==8.2.0 --hash=sha256:aaaa --hash sha256:bbbb
        pytest-mock ; python_version >= "3.8"
        """,
    )
    write(tmp_path, "requirements/docs.txt", "sphinx\n")
    plan = detect_install_plan(tmp_path)
    assert plan.requirements == (
        "Django>=4.2",
        "requests>=2.0",
        "pytest==8.2.0",
        'pytest-mock; python_version >= "3.8"',
    )
    text = evidence(plan)
    assert "requirements/tests.txt line 4: constraints file" in text
    assert "'--index-url' ignored for safety" in text
    assert "'--extra-index-url' ignored for safety" in text
    assert "'-i' ignored for safety" in text
    assert "'--find-links' ignored for safety" in text
    assert "'--trusted-host' ignored for safety" in text
    assert "'--pre' ignored" in text
    assert "'--no-binary' ignored" in text
    assert "2 --hash pin(s) stripped" in text
    assert "already read" in text
    assert "token" not in text
    assert "evil" not in text
    assert "sphinx" not in plan.requirements


def test_include_cycle_is_safe(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "-r requirements-dev.txt\nsix\n")
    write(tmp_path, "requirements-dev.txt", "-r requirements.txt\niniconfig\n")
    plan = detect_install_plan(tmp_path)
    assert plan.requirements == ("iniconfig", "six", "pytest")


@pytest.mark.parametrize(
    "name",
    [
        "requirements-dev.txt",
        "requirements_test.txt",
        "test-requirements.txt",
        "dev-requirements.txt",
        "requirements.tests.txt",
        "requirements-ci.txt",
    ],
)
def test_root_requirements_file_naming_rule(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "six\n")
    write(tmp_path, "requirements-docs.txt", "sphinx\n")
    write(tmp_path, "notes.txt", "not requirements\n")
    plan = detect_install_plan(tmp_path)
    assert plan.requirements == ("six", "pytest")


def test_local_projects_from_requirements(tmp_path: Path) -> None:
    write(tmp_path, "setup.py", "from setuptools import setup; setup()\n")
    write(
        tmp_path,
        "libs/core/pyproject.toml",
        """
        [build-system]
        requires = ["flit_core>=3.4"]
        build-backend = "flit_core.buildapi"
        [project]
        name = "core-lib"
        version = "1"
        dependencies = ["numpy>=1.26"]
        [project.optional-dependencies]
        fast = ["numba"]
        """,
    )
    write(
        tmp_path,
        "requirements-test.txt",
        "-e .\n./libs/core[fast]\n--editable ./libs/core/\ncore_lib>=1\npytest\n",
    )
    plan = detect_install_plan(tmp_path)
    assert plan.local_projects == (
        LocalProject(".", extras=(), editable=True),  # setup.py: named by code, not statically
        LocalProject("libs/core", extras=("fast",), editable=True, name="core-lib"),
    )
    assert plan.needs_sandbox_metadata is True
    assert plan.build_requirements == ("setuptools>=40.8.0", "wheel", "flit_core>=3.4")
    # core_lib is the local project itself: never fetched from the index
    assert plan.requirements == ("pytest", "numpy>=1.26", "numba")
    assert "provided by a local project" in evidence(plan)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("git+https://example.invalid/x.git#egg=x", "direct URL 'git+https://example.invalid"),
        ("pkg @ https://example.invalid/pkg.tar.gz", "direct URL"),
        ("https://example.invalid/pkg-1.0-py3-none-any.whl", "direct URL"),
        ("-e git+https://example.invalid/x.git#egg=x", "direct URL"),
        ("-r https://example.invalid/reqs.txt", "direct URL"),
        ("/opt/project", "absolute path"),
        ("~/project", "absolute path"),
        ("../sibling", "outside the submission"),
        ("-r ../../etc/passwd", "outside the submission"),
        ("./missing", "does not exist"),
        ("./dist/pkg-1.0-py3-none-any.whl", "local archive"),
        ("pkg-1.0.tar.gz", "local archive"),
        ("-e requests", "must be a local path"),
        ("-r nothere.txt", "does not exist"),
        ("${TOKEN}pkg", "environment variable"),
        ("not a requirement !!", "not a valid requirement"),
        ("./sub ; python_version > '3'", "markers on local paths"),
    ],
)
def test_unsupported_requirement_lines(tmp_path: Path, line: str, fragment: str) -> None:
    write(tmp_path, "requirements/tests.txt", f"pytest\n\n# c\n{line}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "setup.py").write_text("")
    with pytest.raises(DependencyError) as info:
        detect_install_plan(tmp_path)
    assert info.value.reason == "UNSUPPORTED_REQUIREMENT"
    assert info.value.message.startswith("requirements/tests.txt line 4: ")
    assert fragment in info.value.message


def test_local_path_without_project(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    write(tmp_path, "requirements.txt", "./data\n")
    with pytest.raises(DependencyError, match="has no pyproject.toml"):
        detect_install_plan(tmp_path)


def test_symlinked_requirements_dir_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, "tests.txt", "six\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "requirements").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="requirements is a symbolic link"):
        detect_install_plan(root)


def test_symlinked_include_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "-r extra.txt\n")
    (tmp_path / "extra.txt").symlink_to("/etc/passwd")
    with pytest.raises(UnsafePathError, match="extra.txt is a symbolic link"):
        detect_install_plan(tmp_path)


def test_oversize_requirements_file(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n" * 300_000)
    with pytest.raises(SubmissionError) as info:
        detect_install_plan(tmp_path)
    assert info.value.reason == "FILE_TOO_LARGE"


def test_too_many_requirements(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("".join(f"pkg{i}\n" for i in range(2_001)))
    with pytest.raises(DependencyError, match="more than 2000"):
        detect_install_plan(tmp_path)


# ----------------------------------------------------------------------------- setup.py / setup.cfg


def test_setup_py_only(tmp_path: Path) -> None:
    write(tmp_path, "setup.py", "import os; os.system('rm -rf /')\n")
    plan = detect_install_plan(tmp_path)
    assert plan.local_projects == (LocalProject("."),)
    assert plan.needs_sandbox_metadata is True
    assert plan.build_requirements == ("setuptools>=40.8.0", "wheel")
    assert plan.requirements == ("pytest",)
    assert "setup.py: dependencies are computed by code" in evidence(plan)


def test_setup_cfg_static(tmp_path: Path) -> None:
    write(
        tmp_path,
        "setup.cfg",
        """
        [metadata]
        name = cfgproj
        [options]
        install_requires =
            attrs>=23
            # a comment
            packaging
        [options.extras_require]
        testing =
            pytest-xdist
        docs = sphinx
        """,
    )
    write(tmp_path, "requirements-dev.txt", "-e .[testing]\n")
    plan = detect_install_plan(tmp_path)
    assert plan.needs_sandbox_metadata is False
    assert plan.requirements == ("attrs>=23", "packaging", "pytest-xdist", "pytest")


def test_setup_cfg_name_is_static_only_without_a_setup_py(tmp_path: Path) -> None:
    write(tmp_path, "setup.cfg", "[metadata]\nname = Cfg_Proj\n[options]\ninstall_requires =\n")
    assert detect_install_plan(tmp_path).local_projects == (LocalProject(".", name="cfg-proj"),)
    # setup.py may pass another name to setup(): only the build can tell
    write(tmp_path, "setup.py", "from setuptools import setup\nsetup(name='other')\n")
    assert detect_install_plan(tmp_path).local_projects == (LocalProject(".", name=None),)


@pytest.mark.parametrize(
    "pyproject",
    [
        '[project]\nversion = "1"\n',  # no name: not a valid project, nothing claimed
        '[project]\nname = "bad name!"\nversion = "1"\n',
        '[project]\nname = ["py"]\nversion = "1"\n',
    ],
)
def test_no_static_name_when_the_name_is_missing_or_invalid(tmp_path: Path, pyproject: str) -> None:
    write(tmp_path, "pyproject.toml", pyproject)
    assert [p.name for p in detect_install_plan(tmp_path).local_projects] == [None]


def test_own_project_names_one_per_project_static_first() -> None:
    projects = (
        LocalProject(".", name="runner"),
        LocalProject("libs/setup-py"),  # named by its metadata build
        LocalProject("libs/unbuilt"),  # no static name, no build: claims nothing
    )
    built = {"libs/setup-py": "Helper_Lib", ".": "py", "elsewhere": "urllib3"}
    assert own_project_names(projects, built) == {"runner", "helper-lib"}
    assert own_project_names((), built) == frozenset()
    # a built name that is not a project name is no name at all
    assert own_project_names((LocalProject("x"),), {"x": "py\n"}) == frozenset()


def test_setup_cfg_file_directive_needs_sandbox(tmp_path: Path) -> None:
    write(tmp_path, "setup.cfg", "[options]\ninstall_requires = file: requirements.in\n")
    assert detect_install_plan(tmp_path).needs_sandbox_metadata is True


# ----------------------------------------------------------------------------- override


def test_override_skips_detection(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [build-system]
        requires = ["setuptools>=68"]
        [project]
        name = "demo"
        version = "1"
        dependencies = ["attrs"]
        [project.optional-dependencies]
        test = ["hypothesis"]
        [dependency-groups]
        dev = ["ruff"]
        """,
    )
    write(tmp_path, "requirements/tests.txt", "-r base.txt\nfreezegun\n")
    write(tmp_path, "requirements/base.txt", "six\n")
    write(tmp_path, "requirements-dev.txt", "black\n")
    plan = detect_install_plan(
        tmp_path, ["-e .", "-r requirements/tests.txt", "pytest-mock==3.14.0", "--index-url x"]
    )
    assert plan.local_projects == (LocalProject(".", editable=True, name="demo"),)
    assert plan.build_requirements == ("setuptools>=68",)
    # the local project's own dependencies come along; its test extra/groups do not
    assert plan.requirements == ("six", "freezegun", "pytest-mock==3.14.0", "attrs", "pytest")
    assert "ignored for safety" in evidence(plan)


def test_override_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="install.requirements item 2: direct URL"):
        detect_install_plan(tmp_path, ["pytest", "git+https://example.invalid/x.git"])


def test_override_empty_still_adds_pytest(tmp_path: Path) -> None:
    assert detect_install_plan(tmp_path, []).requirements == ("pytest",)


# ----------------------------------------------------------------------------- metadata


def test_requirements_from_metadata_extras() -> None:
    lines = [
        "requests>=2",
        'pytest>=8; extra == "test"',
        'sphinx; extra == "docs"',
        'tomli; python_version < "3.0"',
        'coverage[toml]; extra == "Test" and python_version >= "3.8"',
        "requests>=2",
    ]
    assert requirements_from_metadata(lines, ["test"]) == (
        "requests>=2",
        "pytest>=8",
        "coverage[toml]",
    )
    assert requirements_from_metadata(lines, []) == ("requests>=2",)


def test_requirements_from_metadata_environment() -> None:
    lines = ['tomli; python_version < "3.11"']
    assert requirements_from_metadata(lines, [], environment={"python_version": "3.10"}) == (
        "tomli",
    )
    assert requirements_from_metadata(lines, [], environment={"python_version": "3.12"}) == ()


@pytest.mark.parametrize(
    "line", ["!!garbage", "x" * 1001, "a\nb", "pkg; extra ==", 'pkg; bogus_marker == "1"']
)
def test_requirements_from_metadata_rejects_garbage(line: str) -> None:
    with pytest.raises(SubmissionError) as info:
        requirements_from_metadata([line], [])
    assert info.value.reason == "INVALID_ARTIFACT"


def test_requirements_from_metadata_rejects_urls() -> None:
    with pytest.raises(DependencyError, match="direct URL"):
        requirements_from_metadata(["x @ https://example.invalid/x.whl"], [])


def test_requirements_from_metadata_caps_count() -> None:
    with pytest.raises(SubmissionError, match="more than 2000"):
        requirements_from_metadata(["six"] * 2001, [])


@given(st.lists(st.text(max_size=60), max_size=5), st.lists(st.text(max_size=10), max_size=2))
def test_requirements_from_metadata_never_crashes(lines: list[str], extras: list[str]) -> None:
    try:
        result = requirements_from_metadata(lines, extras)
    except SubmissionError:
        return
    assert all(isinstance(item, str) for item in result)


@given(st.text(max_size=200))
def test_requirements_line_parser_never_crashes(line: str) -> None:
    with tempfile.TemporaryDirectory() as checkout:
        (Path(checkout) / "sub").mkdir()
        (Path(checkout) / "sub" / "setup.py").write_text("")
        try:
            detect_install_plan(Path(checkout), [line, "-e ./sub[x]"])
        except SubmissionError:
            pass
