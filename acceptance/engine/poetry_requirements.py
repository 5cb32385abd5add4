"""Poetry's ``[tool.poetry]`` tables read as standard requirements.

Poetry writes version constraints in its own syntax (``^1.2``, ``~1.2``, bare
versions); each is translated into the equivalent PEP 440 specifier, and every
dependency entry into a PEP 508 requirement. Entries that would download from
anywhere but the service's own package index (path, git, url, file, a custom
``source``) are refused, and an either-or constraint (``||``) has no standard
equivalent, so it is refused too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from acceptance.engine.install_plan import (
    OFFLINE_HINT,
    TEST_GROUPS,
    PlanBuilder,
    check_requirement,
    join_path,
    requirement_key,
    shorten,
    str_list,
    toml_table,
    unsupported,
    valid_extra,
)


def _version(text: str, where: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise unsupported(f"{where}: {shorten(text)!r} is not a valid version") from None


def _bump(release: tuple[int, ...], index: int) -> str:
    upper = list(release[:index]) + [release[index] + 1]
    upper += [0] * (len(release) - len(upper))
    return ".".join(str(part) for part in upper)


def _poetry_single(part: str, where: str) -> str:
    part = part.replace(" ", "")
    if part in ("", "*"):
        return ""
    if part.startswith("^"):
        version = _version(part[1:], where)
        release = version.release
        nonzero = [i for i, number in enumerate(release) if number != 0]
        # ^ bumps the leftmost non-zero component (^0.2.3 -> <0.3.0, ^0.0 -> <0.1).
        index = nonzero[0] if nonzero else len(release) - 1
        return f">={version},<{_bump(release, index)}"
    if part.startswith("~") and not part.startswith("~="):
        version = _version(part[1:], where)
        release = version.release
        # ~ allows patch-level changes when a minor is given, minor-level otherwise.
        index = 1 if len(release) >= 2 else 0
        return f">={version},<{_bump(release, index)}"
    if part.startswith(("==", "!=", ">=", "<=", "~=", ">", "<")):
        return part
    if part.startswith("="):
        return "=" + part
    return "==" + part


def poetry_specifier(constraint: str, where: str = "constraint") -> str:
    """Translate a Poetry version constraint into an equivalent PEP 440 specifier."""
    text = constraint.strip()
    if "|" in text:
        raise unsupported(
            f"{where}: version constraint {shorten(text)!r} is an either-or ('||'), "
            "which has no standard equivalent; use a single range"
        )
    parts = [p for p in re.split(r",|\s+(?=[<>=!~^])", text) if p.strip()]
    spec = ",".join(filter(None, (_poetry_single(p.strip(), where) for p in parts)))
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        raise unsupported(f"{where}: {shorten(text)!r} is not a valid version constraint") from None
    return spec


def _python_marker(constraint: str, where: str) -> str:
    spec = poetry_specifier(constraint, where)
    return " and ".join(
        f'python_full_version {s.operator} "{s.version}"' for s in SpecifierSet(spec)
    )


def _poetry_entry(name: str, value: object, where: str) -> list[tuple[str, bool]]:
    """Translate one Poetry dependency entry into (requirement, optional) pairs."""
    if isinstance(value, str):
        return [(check_requirement(name + poetry_specifier(value, where), where), False)]
    if isinstance(value, list):
        return [pair for item in value for pair in _poetry_entry(name, item, where)]
    if not isinstance(value, dict):
        raise unsupported(f"{where}: dependency {name!r} has an unrecognised form")
    for kind in ("path", "git", "url", "file"):
        if kind in value:
            raise unsupported(
                f"{where}: {name!r} is a {kind} dependency ({shorten(str(value[kind]))}); "
                "only packages from the package index can be installed",
                hint=OFFLINE_HINT,
            )
    if "source" in value:
        raise unsupported(
            f"{where}: {name!r} comes from the custom package source "
            f"{shorten(str(value['source']))!r}; "
            "only the acceptance service's own package index is used",
            hint=OFFLINE_HINT,
        )
    version = value.get("version", "*")
    if not isinstance(version, str):
        raise unsupported(f"{where}: {name!r} version must be a string")
    extras = str_list(value.get("extras", []), f"{where} {name}.extras")
    markers: list[str] = []
    if isinstance(value.get("markers"), str):
        markers.append(str(value["markers"]))
    if isinstance(value.get("python"), str):
        python_marker = _python_marker(str(value["python"]), where)
        if python_marker:
            markers.append(python_marker)
    if isinstance(value.get("platform"), str):
        markers.append(f'sys_platform == "{value["platform"]}"')
    text = name
    if extras:
        text += "[" + ",".join(valid_extra(e, where) for e in extras) + "]"
    text += poetry_specifier(version, where)
    if markers:
        text += "; " + " and ".join(f"({m})" for m in markers)
    return [(check_requirement(text, where), value.get("optional") is True)]


def _poetry_table(table: dict[str, object], where: str) -> list[tuple[str, bool]]:
    pairs: list[tuple[str, bool]] = []
    for name, value in table.items():
        if canonicalize_name(name) == "python":
            continue  # the interpreter constraint, not a package
        pairs.extend(_poetry_entry(name, value, f"{where} {name}"))
    return pairs


def poetry_groups(poetry: dict[str, object], plan: PlanBuilder) -> None:
    """Add the root's Poetry test groups (``TEST_GROUPS``) and legacy dev-dependencies."""
    groups = toml_table(poetry.get("group"), "[tool.poetry.group]")
    wanted = {canonicalize_name(g) for g in TEST_GROUPS}
    for name, group in groups.items():
        if canonicalize_name(name) not in wanted:
            continue
        deps = toml_table(
            toml_table(group, f"[tool.poetry.group.{name}]").get("dependencies"), name
        )
        where = f"pyproject.toml [tool.poetry.group.{name}.dependencies]"
        reqs = [req for req, _ in _poetry_table(deps, where)]
        plan.add_requirements(reqs, where)
        plan.evidence.append(f"{where}: {len(reqs)} requirements")
    if "dev-dependencies" in poetry:
        where = "pyproject.toml [tool.poetry.dev-dependencies]"
        reqs = [
            req for req, _ in _poetry_table(toml_table(poetry["dev-dependencies"], where), where)
        ]
        plan.add_requirements(reqs, where)
        plan.evidence.append(f"{where}: {len(reqs)} requirements")


def is_poetry_package(pyproject: Mapping[str, object]) -> bool:
    """Whether ``[tool.poetry]`` describes an installable package (not package-mode = false)."""
    poetry = toml_table(toml_table(pyproject.get("tool"), "[tool]").get("poetry"), "[tool.poetry]")
    return bool(poetry) and poetry.get("package-mode", True) is not False and "name" in poetry


def poetry_dependencies(
    pyproject: Mapping[str, object], path: str, extras: Sequence[str], plan: PlanBuilder
) -> None:
    """Add a Poetry package's dependencies, its optional ones only for the wanted extras."""
    where = f"{join_path(path, 'pyproject.toml')} [tool.poetry.dependencies]"
    poetry = toml_table(toml_table(pyproject.get("tool"), "[tool]").get("poetry"), "[tool.poetry]")
    plan.local_names.add(canonicalize_name(str(poetry.get("name", ""))))
    pairs = _poetry_table(toml_table(poetry.get("dependencies"), where), where)
    poetry_extras = toml_table(poetry.get("extras"), "[tool.poetry.extras]")
    by_extra = {canonicalize_name(k): v for k, v in poetry_extras.items()}
    chosen: set[str] = set()
    for extra in extras:
        names = str_list(
            by_extra.get(canonicalize_name(extra), []), f"[tool.poetry.extras] {extra}"
        )
        chosen.update(canonicalize_name(n) for n in names)
    reqs = [req for req, optional in pairs if not optional or requirement_key(req)[0] in chosen]
    plan.add_requirements(reqs, where)
    plan.evidence.append(f"{where}: {len(reqs)} requirements")
