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

from acceptance.errors import UserInputError


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


def choose_runtime(tree: Path, declared: RuntimeName | None) -> RuntimeChoice:
    """The spec's runtime, or the one the checkout at `tree` shows; RuntimeUnavailable otherwise."""
    if declared is not None:
        return RuntimeChoice(declared, SOURCE_SPEC)
    python = _python_markers(tree)
    node = (tree / NODE_MARKER).is_file() and not (tree / NODE_MARKER).is_symlink()
    if python:
        # A package.json beside Python markers (front-end tooling) keeps the Python
        # judgement it had before the node runtime existed; `runtime: node` says otherwise.
        return _supported(RuntimeChoice(RuntimeName.PYTHON, SOURCE_DETECTED, tuple(python)))
    if node:
        return _supported(RuntimeChoice(RuntimeName.NODE, SOURCE_DETECTED, (NODE_MARKER,)))
    bats, py = _sources(tree)
    if bats:
        return _supported(RuntimeChoice(RuntimeName.SHELL, SOURCE_DETECTED, (bats,)))
    if py:
        return _supported(RuntimeChoice(RuntimeName.PYTHON, SOURCE_DETECTED, (py,)))
    raise RuntimeUnavailable(
        "RUNTIME_UNDETECTED",
        f"the runtime of the repository could not be detected: the engine looked for {LOOKED_FOR} "
        "and found none",
        hint="set `runtime: python`, `runtime: node` or `runtime: shell` in the acceptance "
        "spec, or add the project's files",
    )


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


def _sources(tree: Path) -> tuple[str | None, str | None]:
    """The first *.bats and the first *.py file (relative paths), breadth first, links not followed."""
    bats: str | None = None
    py: str | None = None
    seen = 0
    queue = [tree]
    while queue and seen < MAX_ENTRIES:
        folder = queue.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    queue.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                rel = os.path.relpath(entry.path, tree)
                if bats is None and fnmatch.fnmatchcase(entry.name, SHELL_GLOB):
                    bats = rel
                elif py is None and fnmatch.fnmatchcase(entry.name, PYTHON_SOURCE_GLOB):
                    py = rel
        if bats is not None:
            break
    return bats, py
