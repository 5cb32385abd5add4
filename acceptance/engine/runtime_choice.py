"""Which runtime judges a delivery: the spec's `runtime`, or what the repository shows.

One owner for the rule (issue 16): the spec parser calls `parse_runtime`, the pipeline
calls `choose_runtime` on the checkout. Detection reads names only, never contents, and
never follows a link.
"""

from __future__ import annotations

import enum
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from acceptance.errors import SubmissionError, UserInputError


class RuntimeName(str, enum.Enum):
    """The runtimes a spec may name."""

    PYTHON = "python"
    NODE = "node"
    SHELL = "shell"


#: what the engine can judge today; a name added to RuntimeName before its runtime is built
#: stays out of this tuple, and is refused when named or detected (RUNTIME_UNSUPPORTED)
SUPPORTED_RUNTIMES: tuple[RuntimeName, ...] = (
    RuntimeName.PYTHON, RuntimeName.SHELL, RuntimeName.NODE,
)  # fmt: skip
#: `runtime_source` in the report
SOURCE_SPEC = "spec"
SOURCE_DETECTED = "detected"

NODE_MARKER = "package.json"
PYTHON_MARKERS: tuple[str, ...] = ("pyproject.toml", "setup.py", "setup.cfg", "requirements*.txt")
SHELL_GLOB = "*.bats"
#: before runtimes, every delivery was judged as Python: a tree with Python sources and no
#: marker still is, so no Python delivery changes verdict (docs/runtimes.md)
PYTHON_SOURCE_GLOB = "*.py"
#: what pytest collects without a configuration file (test_*.py, *_test.py), what
#: configures it (conftest.py anywhere; a root pytest.ini, .pytest.ini or tox.ini can
#: name any file a test): a tree with one of these carries Python tests
PYTHON_TEST_GLOBS: tuple[str, ...] = ("test_*.py", "*_test.py", "conftest.py")
PYTEST_CONFIGS: tuple[str, ...] = ("pytest.ini", ".pytest.ini", "tox.ini")
#: what Node's test runner discovers by name (any .js/.cjs/.mjs under a `test` folder too)
NODE_TEST_GLOBS: tuple[str, ...] = tuple(
    f"{stem}.{ext}"
    for stem in ("*.test", "*-test", "*_test", "test-*", "test")
    for ext in ("js", "cjs", "mjs")
)
NODE_SOURCE_GLOBS: tuple[str, ...] = ("*.js", "*.cjs", "*.mjs")
#: entries looked at while searching for *.bats / *.py files; the checkout's own file limit
#: is higher, but detection must stay cheap on a hostile tree
MAX_ENTRIES = 200_000

LOOKED_FOR = (
    f"a root {NODE_MARKER} (node), a root {', '.join(PYTHON_MARKERS)} (python), "
    f"{SHELL_GLOB} files (shell) or {PYTHON_SOURCE_GLOB} files (python)"
)


@dataclass(frozen=True)
class RuntimeChoice:
    """The runtime that judges a run, how it was chosen and what showed it."""

    name: RuntimeName
    source: str
    evidence: tuple[str, ...] = ()

    def to_report(self) -> dict[str, object]:
        return {"runtime": self.name.value, "runtime_source": self.source}


class RuntimeAmbiguous(SubmissionError):
    """The spec names no runtime and the delivery carries the tests of more than one."""

    def __init__(self, message: str) -> None:
        super().__init__(
            "RUNTIME_AMBIGUOUS",
            message,
            hint="the owner names the runtime in the spec (`runtime: python`, `runtime: node` "
            "or `runtime: shell`); the tests of the other runtime are then not run",
        )


class RuntimeUnavailable(UserInputError):
    """No runtime can judge this delivery; carries a stable reason code for the service."""

    code = "input:runtime"

    def __init__(self, reason: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


def parse_runtime(document: dict[object, object], problems: list[str]) -> RuntimeName | None:
    """The spec's `runtime` (None: detect from the repository), problems appended."""
    if "runtime" not in document:
        return None
    value = document["runtime"]
    names = [r.value for r in RuntimeName]
    if not isinstance(value, str) or value not in names:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        problems.append(f"runtime: must be one of {', '.join(names)}, got {shown[:60]}")
        return None
    name = RuntimeName(value)
    if name not in SUPPORTED_RUNTIMES:
        problems.append(
            f"runtime: {value} is not supported yet; the engine judges "
            f"{' and '.join(r.value for r in SUPPORTED_RUNTIMES)} deliveries"
        )
        return None
    return name


def choose_runtime(
    tree: Path, declared: RuntimeName | None, *, hidden_tests: bool = False
) -> RuntimeChoice:
    """The spec's runtime, or the one the checkout at `tree` shows.

    RuntimeUnavailable when none shows; RuntimeAmbiguous when the delivery carries the
    tests of two runtimes: whichever was chosen, the other's tests and scanner would
    never run, so the delivery would pick which of its checks are run (docs/runtimes.md).
    With `hidden_tests` (the owner's pytest tests) a Python side settles it: the owner's
    own tests say the delivery is Python, and they run whatever the delivery carries.
    """
    if declared is not None:
        return RuntimeChoice(declared, SOURCE_SPEC)
    python = _python_markers(tree)
    node = _root_file(tree, NODE_MARKER)
    found = _sources(tree)
    if hidden_tests and (python or found.py):
        return _supported(RuntimeChoice(
            RuntimeName.PYTHON, SOURCE_DETECTED, tuple(python) or (str(found.py),)
        ))  # fmt: skip
    _refuse_ambiguous(python, node, found)
    if python:
        # A package.json beside Python markers (front-end tooling) keeps the Python
        # judgement it had before the node runtime existed; `runtime: node` says otherwise.
        return _supported(RuntimeChoice(RuntimeName.PYTHON, SOURCE_DETECTED, tuple(python)))
    if node:
        return _supported(RuntimeChoice(RuntimeName.NODE, SOURCE_DETECTED, (NODE_MARKER,)))
    if found.bats:
        return _supported(RuntimeChoice(RuntimeName.SHELL, SOURCE_DETECTED, (found.bats,)))
    if found.py:
        return _supported(RuntimeChoice(RuntimeName.PYTHON, SOURCE_DETECTED, (found.py,)))
    raise RuntimeUnavailable(
        "RUNTIME_UNDETECTED",
        f"the runtime of the repository could not be detected: the engine looked for {LOOKED_FOR} "
        "and found none",
        hint="set `runtime: python`, `runtime: node` or `runtime: shell` in the acceptance "
        "spec, or add the project's files",
    )


def _refuse_ambiguous(python: list[str], node: bool, found: _Found) -> None:
    """RuntimeAmbiguous when two runtimes' tests (or a project and another's tests) meet.

    Shell: any *.bats file beside a Python marker or test, or a root package.json. Node
    against Python: only when Node test files are present, so a Python project carrying
    front-end tooling (a package.json without tests) stays Python, as it always was.
    """
    python_side = [*python, *([found.py_test] if found.py_test else [])]
    pairs: list[tuple[str, str, str, str]] = []
    if found.bats and python_side:
        pairs.append(("shell", found.bats, "python", python_side[0]))
    if found.bats and node:
        pairs.append(("shell", found.bats, "node", NODE_MARKER))
    if node and found.node_test and python_side:
        pairs.append(("node", found.node_test, "python", python_side[0]))
    if not pairs:
        return
    first, first_file, second, second_file = pairs[0]
    raise RuntimeAmbiguous(
        f"the spec names no runtime and the repository carries both {first} tests "
        f"({first_file}) and a {second} project or tests ({second_file}): judged as either, "
        "the other's tests and scanner would not run, so the engine does not choose"
    )


def _root_file(tree: Path, name: str) -> bool:
    path = tree / name
    return path.is_file() and not path.is_symlink()


def _supported(choice: RuntimeChoice) -> RuntimeChoice:
    """The detected choice, or RUNTIME_UNSUPPORTED for a runtime that is named but not built."""
    if choice.name in SUPPORTED_RUNTIMES:
        return choice
    raise RuntimeUnavailable(
        "RUNTIME_UNSUPPORTED",
        f"the repository has {', '.join(choice.evidence)}, so it is a {choice.name.value} "
        "delivery, and those cannot be judged yet",
        hint="set `runtime:` in the acceptance spec if the repository is another kind of project",
    )


def _python_markers(tree: Path) -> list[str]:
    try:
        names = sorted(
            entry.name for entry in os.scandir(tree) if entry.is_file(follow_symlinks=False)
        )
    except OSError:
        return []
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in PYTHON_MARKERS)]


@dataclass
class _Found:
    """The first file of each kind met breadth first (relative paths; None: none met)."""

    bats: str | None = None
    py: str | None = None
    py_test: str | None = None
    node_test: str | None = None

    def complete(self) -> bool:
        return None not in (self.bats, self.py, self.py_test, self.node_test)


def _sources(tree: Path) -> _Found:
    """*.bats, *.py, Python test and Node test files, breadth first, links not followed."""
    found = _Found(py_test=next((n for n in PYTEST_CONFIGS if _root_file(tree, n)), None))
    seen = 0
    queue: list[tuple[Path, bool]] = [(tree, False)]
    while queue and seen < MAX_ENTRIES and not found.complete():
        folder, in_test = queue.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in (".git", "node_modules"):
                    queue.append((Path(entry.path), in_test or entry.name == "test"))
            elif entry.is_file(follow_symlinks=False):
                _classify(found, entry.name, os.path.relpath(entry.path, tree), in_test)
    return found


def _classify(found: _Found, name: str, rel: str, in_test: bool) -> None:
    def matches(patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

    if found.bats is None and fnmatch.fnmatchcase(name, SHELL_GLOB):
        found.bats = rel
    elif fnmatch.fnmatchcase(name, PYTHON_SOURCE_GLOB):
        found.py = found.py or rel
        if found.py_test is None and matches(PYTHON_TEST_GLOBS):
            found.py_test = rel
    elif found.node_test is None and (
        matches(NODE_TEST_GLOBS) or (in_test and matches(NODE_SOURCE_GLOBS))
    ):
        found.node_test = rel
