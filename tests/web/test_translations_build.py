"""A plain install serves French: every build compiles the catalogues (setup.py's build hook).

`pip install .`, `pip install -e .` and `pip wheel .` all run setuptools' build_py,
which setup.py extends; these tests run that hook on a copy of the catalogues
without any .mo and compare what it writes with the .po, message for message.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from setuptools import Distribution

from tests.conftest import ROOT

CATALOGUE = Path("web", "dashboard", "translations", "fr", "LC_MESSAGES", "messages")


def _setup_script() -> ModuleType:
    """setup.py as a module (its setup() call runs only as __main__, as setuptools runs it)."""
    spec = importlib.util.spec_from_file_location("project_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _messages(catalog: Catalog) -> dict[object, object]:
    """What a reader gets from a catalogue: each translated (context, id) and its translation."""

    def key(value: object) -> object:  # plural forms come as lists from a .mo, tuples from a .po
        return tuple(value) if isinstance(value, list | tuple) else value

    return {
        (m.context, key(m.id)): key(m.string) for m in catalog if m.id and not m.fuzzy and m.string
    }


def test_the_build_compiles_the_french_catalogue_from_the_po(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT / CATALOGUE.parents[2], source / CATALOGUE.parents[2],
                    ignore=shutil.ignore_patterns("*.mo"))  # fmt: skip
    written = _setup_script().compile_catalogues(source, tmp_path / "lib")
    mo = tmp_path / "lib" / CATALOGUE.with_suffix(".mo")
    assert written == [mo]
    with mo.open("rb") as handle:
        shipped = read_mo(handle)
    with (ROOT / CATALOGUE.with_suffix(".po")).open("rb") as handle:
        catalogue = read_po(handle, locale="fr")
    assert _messages(shipped) == _messages(catalogue)
    assert _messages(shipped)[None, "Sign in"] == "Se connecter"
    assert _messages(shipped)["stage", "Failed"] == "Échouée"


def test_the_build_command_is_the_one_that_compiles(tmp_path: Path) -> None:
    setup = _setup_script()
    command = setup.BuildPyWithCatalogues(Distribution({"name": "acceptance", "packages": []}))
    command.ensure_finalized()
    command.build_lib = str(tmp_path)
    mo = str(tmp_path / CATALOGUE.with_suffix(".mo"))
    assert command.get_output_mapping()[mo] == str(ROOT / CATALOGUE.with_suffix(".po"))
    assert issubclass(setup.BuildPyWithCatalogues, setup.build_py)


def test_the_package_data_ships_the_compiled_catalogue() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"dashboard/translations/*/LC_MESSAGES/*.mo"' in pyproject
    assert '"babel>=' in pyproject.split("[project]")[0], "babel must be a build requirement"
