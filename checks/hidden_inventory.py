"""Which hidden tests exist, known before any run, from the owner's files alone.

The engine must not learn the list of the owner's tests from the run it is
judging: the supplier's code shares that process and could leave tests out or
invent some. The files are read, never imported (importing them would need the
supplier's package), and pytest's default collection rules are applied to
their syntax tree: `test_*.py` and `*_test.py` modules, `test*` functions at
module level, `test*` methods of `Test*` classes that have no `__init__`.

An inventory entry is a node id without its parametrization (`[...]`): every
entry must have at least one result in the run, and every result must belong
to an entry (see checks/functional.py).
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path

#: the folder name the hidden tests have in node ids and in the sandbox
HIDDEN_DIR_NAME = "acceptance_hidden_tests"
_MODULE_PATTERNS = ("test_*.py", "*_test.py")
#: a hidden-test folder larger than this is not read for the inventory
MAX_FILES = 5000


class InventoryError(ValueError):
    """The hidden tests cannot be listed (a file that is not valid Python)."""


def hidden_test_inventory(root: Path) -> tuple[str, ...]:
    """The sorted node ids (without parameters) of the tests pytest would collect under root."""
    ids: list[str] = []
    files = sorted(p for p in root.rglob("*.py") if p.is_file() and not p.is_symlink())
    for path in files[:MAX_FILES]:
        if not any(fnmatch.fnmatch(path.name, pattern) for pattern in _MODULE_PATTERNS):
            continue
        relative = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_bytes(), filename=relative)
        except (SyntaxError, ValueError) as exc:
            raise InventoryError(f"hidden test file {relative} is not valid Python: {exc}") from exc
        prefix = f"{HIDDEN_DIR_NAME}/{relative}"
        ids.extend(f"{prefix}::{name}" for name in _tests_in(tree.body))
    return tuple(sorted(set(ids)))


def _tests_in(body: Sequence[ast.stmt]) -> Iterable[str]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            yield node.name
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            if any(
                isinstance(item, ast.FunctionDef) and item.name == "__init__" for item in node.body
            ):
                continue  # pytest does not collect classes with a constructor
            for name in _tests_in([n for n in node.body if not isinstance(n, ast.ClassDef)]):
                yield f"{node.name}::{name}"


def base_id(node_id: str) -> str:
    """A result's node id without its parametrization: `a.py::test_x[1-2]` -> `a.py::test_x`."""
    bracket = node_id.find("[")
    return node_id[:bracket] if bracket > 0 else node_id


def is_hidden_id(node_id: str) -> bool:
    """Whether a node id names one of the hidden tests."""
    return node_id.startswith((f"{HIDDEN_DIR_NAME}/", f"{HIDDEN_DIR_NAME}."))
