"""Build hook: every build compiles the dashboard's translation catalogues (.po → .mo).

A plain `pip install` (or `pip wheel`, as deploy/build-images.sh does) then serves
French without a separate `pybabel compile`: the .mo files are build outputs, made
from the .po kept in git, so they can never be stale or missing in an install.
Everything else about the build is declared in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: the catalogues' directory, relative to the project root (and to a build's library root)
CATALOGUES = Path("web", "dashboard", "translations")


def catalogue_sources(root: Path = ROOT) -> list[Path]:
    """Every .po catalogue of the dashboard, relative to `root`."""
    return sorted(po.relative_to(root) for po in (root / CATALOGUES).glob("*/LC_MESSAGES/*.po"))


def compile_catalogues(source_root: Path, target_root: Path) -> list[Path]:
    """Compile each .po under `source_root` to its .mo under `target_root`, as `pybabel compile`.

    Fuzzy entries are left out, like pybabel's default: a guessed translation is not shown.
    """
    # Imported here: babel is a build requirement, not something reading this file needs.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for relative in catalogue_sources(source_root):
        locale = relative.parent.parent.name
        with (source_root / relative).open("rb") as source:
            catalog = read_po(source, locale=locale)
        mo = target_root / relative.with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as target:
            write_mo(target, catalog)
        written.append(mo)
    return written


class BuildPyWithCatalogues(build_py):
    """build_py that also writes the compiled catalogues beside the templates."""

    def run(self) -> None:
        super().run()
        # An editable install reads the source tree, so the catalogues are compiled in place.
        target = ROOT if self.editable_mode else Path(self.build_lib)
        compile_catalogues(ROOT, target)

    def _compiled(self) -> dict[str, str]:
        """Each .mo this command writes in a regular build, and the .po it comes from."""
        return {
            str(Path(self.build_lib) / po.with_suffix(".mo")): str(ROOT / po)
            for po in catalogue_sources()
        }

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [mo for mo in self._compiled() if mo not in outputs]

    def get_output_mapping(self) -> dict[str, str]:
        mapping: dict[str, str] = super().get_output_mapping()
        if not self.editable_mode:
            mapping.update(self._compiled())
        return mapping


# setuptools runs this file as __main__ (`pip install`, `pip wheel`, `python -m build`); the
# tests import it to check the hook without building the whole project.
if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithCatalogues})
