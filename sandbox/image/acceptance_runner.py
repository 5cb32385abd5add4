"""Starts pytest inside the sandbox with the engine's plugin loaded by its path.

Run as a script by absolute path, never found by module name, so nothing in
the delivered repository can stand in for it or for the plugin
(`python -m pytest -p name` would import a checkout-root file of that name).

Two modes:

``supplier``
    The supplier's own tests, as ``python -m pytest`` would run them by hand
    with the run venv's interpreter: the working directory first on
    ``sys.path``, the venv's site and plugins, the project's configuration.
``hidden``
    The owner's hidden tests, run as ``python3 -I -S`` with the image's
    interpreter: nothing from the environment, no ``site`` processing (so no
    ``.pth`` code of the venv runs before pytest), pytest from the read-only
    image, the venv's packages and the checkout appended after it, plugin
    autoloading off. The engine passes its own ini file (``-c``), rootdir and
    confcutdir, so no file of the supplier's can change what is collected.
    Only code the hidden tests import comes from the supplier's folders: no
    module named like one of Python's own (``nt``, ``msvcrt``, ``_winapi``,
    which the standard library tries on any platform) or of the image's pytest,
    and no bytecode that is not checked against its source.
"""

from __future__ import annotations

import _imp
import glob
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
PLUGIN_NAME = "acceptance_sandbox_plugin"
HIDDEN_PYTEST_DIR = "/opt/acceptance/pytest"


def _load_plugin() -> object:
    spec = importlib.util.spec_from_file_location(
        PLUGIN_NAME, os.path.join(PLUGIN_DIR, f"{PLUGIN_NAME}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PLUGIN_NAME] = module
    spec.loader.exec_module(module)
    return module


def _plain_pth_paths(site_dir: str, moved: tuple[str, str] | None = None) -> list[str]:
    """Folders named by the venv's .pth files; their `import` lines are never run.

    ``moved`` is (old, new): the checkout was copied from `old` to `new`, so an
    editable install's path into `old` is read in `new`.
    """
    found: list[str] = []
    for pth in sorted(glob.glob(os.path.join(site_dir, "*.pth"))):
        try:
            with open(pth, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            if moved and (line == moved[0] or line.startswith(moved[0] + "/")):
                line = moved[1] + line[len(moved[0]) :]
            path = os.path.join(site_dir, line)
            if os.path.isdir(path):
                found.append(os.path.abspath(path))
    return found


class _TrustedNames:
    """Modules named like Python's own or the image pytest's come from the trusted folders only.

    The supplier's folders are appended after the standard library, so they
    cannot shadow a module that exists there; but Python tries modules that
    do not exist on Linux (`nt`, `msvcrt`, `_winapi` in `ntpath`, `subprocess`,
    `shutil`...), and a file of that name in the checkout or the venv would be
    imported, and run, inside the hidden tests' process before any test.
    """

    def __init__(self, trusted: Sequence[str], names: frozenset[str]) -> None:
        self.trusted = list(trusted)
        self.names = names

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if path is not None or name not in self.names:
            return None  # a submodule is found through its package; other names as usual
        spec = importlib.machinery.PathFinder.find_spec(name, self.trusted)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return spec


def _trusted_imports_only(trusted: Sequence[str]) -> None:
    # Bytecode is used only when it matches its source (an "unchecked hash" .pyc
    # is Python's way of running code that differs from the delivered .py), and
    # never without a source: the code that runs is the code that was read.
    _imp.check_hash_based_pycs = "always"
    source_only = importlib.machinery.FileFinder.path_hook(
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES),
    )
    sys.path_hooks[:] = [
        h for h in sys.path_hooks if "FileFinder" not in getattr(h, "__qualname__", "")
    ]
    sys.path_hooks.append(source_only)
    sys.path_importer_cache.clear()
    image = {name.partition(".")[0] for name in os.listdir(HIDDEN_PYTEST_DIR)}
    names = frozenset(sys.stdlib_module_names | image | {PLUGIN_NAME})
    # `copy` and `pickle` try Jython's `org.python.core` when first imported: do it now.
    import copy  # noqa: F401
    import pickle  # noqa: F401

    finder = _TrustedNames(trusted, names)
    at = next(
        (i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder),
        len(sys.meta_path),
    )
    sys.meta_path.insert(at, finder)


def _hidden_path(venv: str, src: str, original_src: str) -> None:
    sys.dont_write_bytecode = True
    sys.path.insert(0, HIDDEN_PYTEST_DIR)
    _trusted_imports_only(list(sys.path))
    for site_dir in sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))):
        sys.path.append(site_dir)
        sys.path.extend(_plain_pth_paths(site_dir, (original_src, src)))
    sys.path.append(src)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        os.environ.pop(name, None)


def main(argv: list[str]) -> int:
    mode, rest = argv[0], argv[1:]
    if mode == "supplier":
        # As `python -m pytest`: the working directory first, not this folder.
        if sys.path and os.path.abspath(sys.path[0] or ".") == PLUGIN_DIR:
            sys.path.pop(0)
        sys.path.insert(0, os.getcwd())
    elif mode == "hidden":
        venv, src, original_src, rest = rest[0], rest[1], rest[2], rest[3:]
        _hidden_path(venv, src, original_src)
    else:
        print(f"acceptance_runner: unknown mode {mode!r}", file=sys.stderr)
        return 4
    if rest[:1] == ["--"]:
        rest = rest[1:]
    plugin = _load_plugin()
    import pytest

    return int(pytest.main(rest, plugins=[plugin]))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
