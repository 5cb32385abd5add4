"""Decide, from static files only, what a submission needs installed for its tests.

Nothing the supplier wrote is executed or handed to pip here: ``pyproject.toml``,
``setup.cfg`` and requirements files are parsed by the engine, every
requirement is validated with ``packaging``, and anything that would redirect
downloads (index options, direct URLs, paths outside the checkout) is refused or
dropped with an evidence line. Files are read through ``safefs`` (1 MiB cap,
symbolic links refused).

This module is the entry point: the checkout root's test extras and dependency
groups, then the requirements files (``acceptance.engine.requirements_files``),
then each local project's metadata (``acceptance.engine.project_metadata``,
Poetry's tables through ``acceptance.engine.poetry_requirements``), collected
into an ``InstallPlan`` (``acceptance.engine.install_plan``). It also checks the
Requires-Dist lines of metadata built in the sandbox and names the supplier's
own projects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from acceptance.engine.install_plan import (
    INVALID_ARTIFACT,
    MAX_REQUIREMENT_CHARS,
    MAX_REQUIREMENTS,
    NAME_RE,
    TEST_EXTRAS,
    TEST_GROUPS,
    InstallPlan,
    LocalProject,
    PlanBuilder,
    check_requirement,
    dedupe,
    project_files,
    read_toml,
    shorten,
    toml_table,
    unsupported,
    url_error,
)
from acceptance.engine.poetry_requirements import is_poetry_package, poetry_groups
from acceptance.engine.project_metadata import analyse_local_project
from acceptance.engine.requirements_files import (
    RequirementsReader,
    logical_lines,
    requirements_files,
)
from acceptance.errors import SubmissionError

# ----------------------------------------------------------------------------- root detection


def _expand_group(
    groups: dict[str, object], name: str, seen: set[str], plan: PlanBuilder
) -> list[str]:
    by_name = {canonicalize_name(key): key for key in groups}
    wanted = canonicalize_name(name)
    if wanted in seen or wanted not in by_name:
        return []  # already expanded (diamond or cycle), or absent
    seen.add(wanted)
    key = by_name[wanted]
    where = f"pyproject.toml [dependency-groups].{key}"
    entries = groups[key]
    if not isinstance(entries, list):
        raise unsupported(f"{where} must be a list")
    found: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            found.append(check_requirement(entry, where))
        elif isinstance(entry, dict) and isinstance(entry.get("include-group"), str):
            found.extend(_expand_group(groups, str(entry["include-group"]), seen, plan))
        else:
            raise unsupported(
                f"{where}: entry {shorten(repr(entry))} is neither a requirement "
                "nor an include-group"
            )
    return found


def _detect_root(plan: PlanBuilder) -> None:
    files = project_files(plan.checkout, ".")
    pyproject = (
        read_toml(plan.checkout, "pyproject.toml") if files["pyproject.toml"] else None
    ) or {}
    extras: list[str] = []
    project = toml_table(pyproject.get("project"), "[project]")
    optional = toml_table(project.get("optional-dependencies"), "[project.optional-dependencies]")
    wanted = {canonicalize_name(e) for e in TEST_EXTRAS}
    extras = [key for key in optional if canonicalize_name(key) in wanted]
    poetry = toml_table(toml_table(pyproject.get("tool"), "[tool]").get("poetry"), "[tool.poetry]")
    poetry_extras = toml_table(poetry.get("extras"), "[tool.poetry.extras]")
    extras += [key for key in poetry_extras if canonicalize_name(key) in wanted]

    groups = toml_table(pyproject.get("dependency-groups"), "[dependency-groups]")
    seen: set[str] = set()
    for group in TEST_GROUPS:
        found = _expand_group(groups, group, seen, plan)
        if found:
            plan.add_requirements(found, f"pyproject.toml [dependency-groups].{group}")
            plan.evidence.append(
                f"pyproject.toml [dependency-groups].{group}: {len(found)} requirements"
            )
    if poetry:
        poetry_groups(poetry, plan)

    is_project = (
        "project" in pyproject
        or is_poetry_package(pyproject)
        or files["setup.py"]
        or files["setup.cfg"]
    )
    if is_project:
        plan.add_local(".", extras, editable=False)
        shown = f" with extras {', '.join(extras)}" if extras else ""
        plan.evidence.append(f"the checkout root is a project; installed from source{shown}")


# ----------------------------------------------------------------------------- public API


def detect_install_plan(checkout: Path, override: Sequence[str] | None = None) -> InstallPlan:
    """Decide what the submission needs installed for its tests, from static files only."""
    plan = PlanBuilder(checkout)
    reader = RequirementsReader(plan)
    if override is None:
        _detect_root(plan)
        files = requirements_files(checkout)
        if not files:
            plan.evidence.append("no requirements files found")
        for relpath in files:
            reader.read_file(relpath, relpath)
    else:
        plan.evidence.append(
            f"install.requirements given in the spec ({len(override)} items); no detection"
        )
        for index, item in enumerate(override, start=1):
            if not isinstance(item, str):
                raise unsupported(f"install.requirements item {index} is not a string")
            for _, line in logical_lines(item):
                reader.read_line(line, f"install.requirements item {index}", "")
    # Installing a local project installs its own dependencies too, so they must be known.
    for path, (extras, _) in list(plan.local.items()):
        analyse_local_project(path, extras, plan)
    return plan.build()


def requirements_from_metadata(
    requires_dist: Sequence[str],
    extras: Sequence[str],
    *,
    environment: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """Validate untrusted Requires-Dist lines and keep those needed for the wanted extras."""
    # Markers are evaluated here (for each wanted extra and for no extra) against
    # ``environment`` overlaid on the running interpreter's, because a returned
    # line must not carry an ``extra == ...`` marker: pip would skip it.
    if len(requires_dist) > MAX_REQUIREMENTS:
        raise SubmissionError(
            INVALID_ARTIFACT, f"built metadata lists more than {MAX_REQUIREMENTS} requirements"
        )
    contexts = [{**(environment or {}), "extra": ""}]
    contexts += [{**(environment or {}), "extra": canonicalize_name(e)} for e in extras]
    kept: list[str] = []
    for index, line in enumerate(requires_dist, start=1):
        where = f"built metadata Requires-Dist {index}"
        if (
            not isinstance(line, str)
            or len(line) > MAX_REQUIREMENT_CHARS
            or "\n" in line
            or "\x00" in line
        ):
            raise SubmissionError(
                INVALID_ARTIFACT,
                f"{where} is not a single line of at most {MAX_REQUIREMENT_CHARS} characters",
            )
        try:
            req = Requirement(line)
        except InvalidRequirement:
            raise SubmissionError(
                INVALID_ARTIFACT, f"{where}: {shorten(line)!r} is not a valid requirement"
            ) from None
        if req.url:
            raise url_error(where, req.url)
        if req.marker is not None:
            try:
                wanted = any(req.marker.evaluate(dict(context)) for context in contexts)
            except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
                raise SubmissionError(
                    INVALID_ARTIFACT, f"{where}: marker cannot be evaluated ({exc})"
                ) from None
            if not wanted:
                continue
            req.marker = None
        kept.append(str(req))
    return dedupe(kept)


def own_project_names(projects: Sequence[LocalProject], built: Mapping[str, str]) -> frozenset[str]:
    """Canonical names of the local projects the engine installs from the checkout.

    A project's static name when it has one, else the name the engine's own
    metadata build reported for its path (``built``: path -> name). One name per
    project at most: these are the only distributions that may be treated as the
    supplier's own code (left out of the vulnerability audit), whatever a
    ``direct_url.json`` in the environment claims.
    """
    names: set[str] = set()
    for project in projects:
        name = project.name or built.get(project.path)
        if name and NAME_RE.match(name):
            names.add(canonicalize_name(name))
    return frozenset(names)
