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
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys

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


def _plain_pth_paths(site_dir: str) -> list[str]:
    """Folders named by the venv's .pth files; their `import` lines are never run."""
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
            path = os.path.join(site_dir, line)
            if os.path.isdir(path):
                found.append(os.path.abspath(path))
    return found


def _hidden_path(venv: str, src: str) -> None:
    sys.dont_write_bytecode = True
    sys.path.insert(0, HIDDEN_PYTEST_DIR)
    for site_dir in sorted(glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))):
        sys.path.append(site_dir)
        sys.path.extend(_plain_pth_paths(site_dir))
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
        venv, src, rest = rest[0], rest[1], rest[2:]
        _hidden_path(venv, src)
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
