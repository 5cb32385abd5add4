"""A local project's dependencies, read from its static metadata.

A project the delivery installs from its own directory brings its build
requirements (``[build-system].requires``, or PEP 517's setuptools fallback)
and its dependencies: ``[project]`` (PEP 621) first, even beside a setup.py,
then a Poetry package, then setup.cfg. When code computes them (a setup.py,
dynamic fields, ``attr:``/``file:`` values) the plan says so, and they are read
later from metadata built in the sandbox. Nothing here executes the project.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping, Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from acceptance import safefs
from acceptance.engine.install_plan import (
    MAX_FILE_BYTES,
    NAME_RE,
    PlanBuilder,
    check_requirement,
    join_path,
    project_files,
    read_toml,
    shorten,
    str_list,
    toml_table,
    unsupported,
)
from acceptance.engine.poetry_requirements import is_poetry_package, poetry_dependencies

#: PEP 517's fallback for projects that declare no build system
DEFAULT_BUILD_REQUIREMENTS = ("setuptools>=40.8.0", "wheel")


def _expand_extras(
    optional: dict[str, object], own_name: str, wanted: Sequence[str], where: str
) -> tuple[list[str], list[str]]:
    """Return (requirements, missing extras), expanding self-references like ``pkg[lint]``."""
    by_name = {canonicalize_name(key): key for key in optional}
    found: list[str] = []
    missing: list[str] = []
    seen: set[str] = set()
    queue = list(wanted)
    while queue:
        extra = canonicalize_name(queue.pop(0))
        if extra in seen:
            continue  # cycle-safe: extras may refer to each other through the project
        seen.add(extra)
        if extra not in by_name:
            missing.append(extra)
            continue
        key = by_name[extra]
        for item in str_list(optional[key], f"{where}.{key}"):
            text = check_requirement(item, f"{where}.{key}")
            req = Requirement(text)
            if own_name and canonicalize_name(req.name) == own_name:
                queue.extend(req.extras)
            else:
                found.append(text)
    return found, missing


def _pep621_dependencies(
    project: dict[str, object],
    pyproject: Mapping[str, object],
    path: str,
    extras: Sequence[str],
    plan: PlanBuilder,
) -> None:
    where = join_path(path, "pyproject.toml")
    dynamic = str_list(project.get("dynamic", []), f"{where} [project.dynamic]")
    own_name = canonicalize_name(str(project.get("name", "")))
    if own_name:
        plan.local_names.add(own_name)
    if "dependencies" in dynamic:
        if is_poetry_package(pyproject):
            poetry_dependencies(pyproject, path, extras, plan)
            return
        plan.needs_sandbox = True
        plan.evidence.append(
            f"{where}: dependencies are dynamic; "
            "they will be read from metadata built in the sandbox"
        )
    else:
        deps = str_list(project.get("dependencies", []), f"{where} [project.dependencies]")
        plan.add_requirements(deps, f"{where} [project.dependencies]")
        plan.evidence.append(f"{where} [project.dependencies]: {len(deps)} requirements")
    if not extras:
        return
    optional = toml_table(
        project.get("optional-dependencies"), f"{where} [project.optional-dependencies]"
    )
    found, missing = _expand_extras(
        optional, own_name, extras, f"{where} [project.optional-dependencies]"
    )
    plan.add_requirements(found, f"{where} [project.optional-dependencies]")
    plan.evidence.append(
        f"{where} [project.optional-dependencies] {', '.join(extras)}: {len(found)} requirements"
    )
    if missing and "optional-dependencies" in dynamic:
        plan.needs_sandbox = True
        plan.evidence.append(
            f"{where}: optional dependencies are dynamic; they will be read in the sandbox"
        )
    elif missing:
        plan.evidence.append(f"{where}: extras not declared, ignored: {', '.join(missing)}")


def _setup_cfg_dependencies(path: str, extras: Sequence[str], plan: PlanBuilder) -> None:
    where = join_path(path, "setup.cfg")
    text = safefs.read_text(plan.checkout, where, MAX_FILE_BYTES) or ""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=where)
    except configparser.Error as exc:
        raise unsupported(f"{where} cannot be parsed: {shorten(str(exc), 200)}") from None
    sections: list[tuple[str, str]] = [("options", "install_requires")]
    extras_section = "options.extras_require"
    if parser.has_section(extras_section):
        by_name = {canonicalize_name(k): k for k in parser.options(extras_section)}
        sections += [
            (extras_section, by_name[canonicalize_name(e)])
            for e in extras
            if canonicalize_name(e) in by_name
        ]
    for section, option in sections:
        raw = parser.get(section, option, fallback="").strip()
        if raw.startswith(("attr:", "file:")):
            plan.needs_sandbox = True
            plan.evidence.append(
                f"{where} [{section}] {option} is computed ({raw.split(':')[0]}:); "
                "it will be read from metadata built in the sandbox"
            )
            continue
        items = [line.strip() for line in raw.splitlines()]
        items = [item for item in items if item and not item.startswith("#")]
        plan.add_requirements(items, f"{where} [{section}] {option}")
        plan.evidence.append(f"{where} [{section}] {option}: {len(items)} requirements")


def _static_name(
    pyproject: Mapping[str, object], files: Mapping[str, bool], path: str, plan: PlanBuilder
) -> str | None:
    """The project's canonical name when static metadata fixes it, else None.

    Same precedence as the build: ``[project]`` (a PEP 621 name is never dynamic),
    then a Poetry package, then setup.cfg's ``[metadata] name`` only without a
    setup.py (which could pass another name to ``setup()``).
    """
    project = pyproject.get("project")
    if project is not None:
        raw = project.get("name") if isinstance(project, dict) else None
    elif is_poetry_package(pyproject):
        raw = toml_table(
            toml_table(pyproject.get("tool"), "[tool]").get("poetry"), "[tool.poetry]"
        ).get("name")
    elif files["setup.cfg"] and not files["setup.py"]:
        raw = _setup_cfg_name(join_path(path, "setup.cfg"), plan)
    else:
        raw = None
    if not isinstance(raw, str) or not NAME_RE.match(raw):
        return None
    return canonicalize_name(raw)


def _setup_cfg_name(where: str, plan: PlanBuilder) -> str | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(
            safefs.read_text(plan.checkout, where, MAX_FILE_BYTES) or "", source=where
        )
    except configparser.Error:
        return None  # reported when its dependencies are read
    return parser.get("metadata", "name", fallback=None)


def analyse_local_project(path: str, extras: Sequence[str], plan: PlanBuilder) -> None:
    """Add a local project's build requirements and dependencies (or defer them to the sandbox)."""
    files = project_files(plan.checkout, path)
    pyproject_path = join_path(path, "pyproject.toml")
    pyproject = read_toml(plan.checkout, pyproject_path) if files["pyproject.toml"] else None
    pyproject = pyproject or {}
    build_system = toml_table(pyproject.get("build-system"), f"{pyproject_path} [build-system]")
    if build_system:
        if "requires" not in build_system:
            raise unsupported(
                f"{pyproject_path} [build-system] has no 'requires' key "
                "(PEP 518 makes it mandatory)"
            )
        requires = str_list(build_system["requires"], f"{pyproject_path} [build-system].requires")
        plan.build_requirements.extend(
            check_requirement(r, f"{pyproject_path} [build-system].requires") for r in requires
        )
        plan.evidence.append(
            f"{pyproject_path} [build-system].requires: {len(requires)} requirements"
        )
    else:
        plan.build_requirements.extend(DEFAULT_BUILD_REQUIREMENTS)
        plan.evidence.append(
            f"{join_path(path, '.')}: no [build-system]; setuptools defaults assumed"
        )

    project = pyproject.get("project")
    name = _static_name(pyproject, files, path, plan)
    if name:
        plan.static_names[path] = name
    if project is not None:
        # [project] is authoritative even when a setup.py exists next to it.
        _pep621_dependencies(toml_table(project, "[project]"), pyproject, path, extras, plan)
    elif is_poetry_package(pyproject):
        poetry_dependencies(pyproject, path, extras, plan)
    elif files["setup.py"]:
        plan.needs_sandbox = True
        plan.evidence.append(
            f"{join_path(path, 'setup.py')}: dependencies are computed by code; "
            "they will be read from metadata built in the sandbox"
        )
    elif files["setup.cfg"]:
        _setup_cfg_dependencies(path, extras, plan)
    else:
        plan.needs_sandbox = True
        plan.evidence.append(
            f"{pyproject_path}: no static metadata; dependencies will be read in the sandbox"
        )
