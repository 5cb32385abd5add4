"""The hidden tests' inventory: what pytest would collect, read from the owner's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.engine.spec import SpecError
from checks.hidden_inventory import base_id, hidden_test_inventory
from tests.conftest import write_spec


def write(root: Path, files: dict[str, str]) -> Path:
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_inventory_follows_pytests_default_collection_rules(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "test_a.py": (
            "import pytest\n"
            "def test_plain(): pass\n"
            "async def test_async(): pass\n"
            "@pytest.mark.parametrize('x', [1, 2])\n"
            "def test_param(x): pass\n"
            "def helper(): pass\n"
            "class TestGroup:\n"
            "    def test_method(self): pass\n"
            "    def helper(self): pass\n"
            "class TestWithInit:\n"
            "    def __init__(self): pass\n"
            "    def test_never(self): pass\n"
            "class Other:\n"
            "    def test_not_a_test_class(self): pass\n"
        ),
        "sub/b_test.py": "def test_b(): pass\n",
        "conftest.py": "def test_in_conftest_is_not_collected(): pass\n",
        "check_c.py": "def test_other_name(): pass\n",
    })  # fmt: skip
    assert hidden_test_inventory(root) == (
        "acceptance_hidden_tests/sub/b_test.py::test_b",
        "acceptance_hidden_tests/test_a.py::TestGroup::test_method",
        "acceptance_hidden_tests/test_a.py::test_async",
        "acceptance_hidden_tests/test_a.py::test_param",
        "acceptance_hidden_tests/test_a.py::test_plain",
    )


def test_parametrized_results_map_to_their_function() -> None:
    assert (
        base_id("acceptance_hidden_tests/t.py::test_x[a-[b]]")
        == "acceptance_hidden_tests/t.py::test_x"
    )
    assert (
        base_id("acceptance_hidden_tests/t.py::T::test_y")
        == "acceptance_hidden_tests/t.py::T::test_y"
    )


def test_the_spec_carries_the_inventory_and_refuses_hidden_files_that_are_not_python(
    tmp_path: Path,
) -> None:
    from acceptance.engine.spec import load_spec

    spec = load_spec(write_spec(tmp_path / "ok", "functional: {hidden_tests: hidden}\n",
                                hidden={"test_owner.py": "def test_owner(): pass\n"}))  # fmt: skip
    assert spec.hidden_test_ids == ("acceptance_hidden_tests/test_owner.py::test_owner",)
    with pytest.raises(SpecError, match="not valid Python"):
        load_spec(write_spec(tmp_path / "bad", "functional: {hidden_tests: hidden}\n",
                             hidden={"test_owner.py": "def test_owner(:\n"}))  # fmt: skip
