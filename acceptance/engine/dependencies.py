"""Decide, from static files only, what a submission needs installed for its tests.

Nothing the supplier wrote is executed or handed to pip here: ``pyproject.toml``,
``setup.cfg`` and requirements files are parsed by this module, every
requirement is validated with ``packaging``, and anything that would redirect
downloads (index options, direct URLs, paths outside the checkout) is refused or
dropped with an evidence line. Files are read through ``safefs`` (1 MiB cap,
symbolic links refused).

Which requirements files are read (when no override is given):

* ``requirements.txt`` at the root (the runtime dependencies);
* other root ``*.txt`` files whose name contains ``requirements`` and whose
  name words (split on ``-``, ``_``, ``.``) include one of ``TEST_WORDS``
  (``requirements-dev.txt``, ``test-requirements.txt``, ``requirements_test.txt``);
* ``requirements/*.txt`` whose name words include one of ``TEST_WORDS`` or whose
  stem is one of ``BASE_NAMES`` (``base.txt``, ``common.txt``...);
* whatever those include with ``-r``. Docs/lint files are not read.

Requirements-file option policy: ``-r`` is followed inside the checkout,
``-c`` constraints are ignored (versions are not pinned by them here), ``-e``
and bare paths name local projects, ``--hash`` is stripped, and every other
option (index, find-links, trusted-host, ``--pre``, ``--no-binary``...) is
ignored with an evidence line: the host's downloads use only its own pip
configuration. Option values are never echoed, since they may carry tokens.
"""

from __future__ import annotations

import configparser
import posixpath
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from acceptance import safefs
from acceptance.errors import SubmissionError

DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
UNSUPPORTED_REQUIREMENT = "UNSUPPORTED_REQUIREMENT"
INVALID_ARTIFACT = "INVALID_ARTIFACT"

MAX_FILE_BYTES = 1024 * 1024
MAX_REQUIREMENTS = 2_000
MAX_REQUIREMENT_CHARS = 1_000
MAX_REQUIREMENT_FILES = 100

TEST_EXTRAS = ("test", "tests", "testing")
TEST_GROUPS = ("test", "tests", "dev")
TEST_WORDS = frozenset({"test", "tests", "testing", "dev", "develop", "development", "ci"})
BASE_NAMES = frozenset({"base", "common", "main", "requirements", "runtime", "install"})
REQUIREMENTS_DIR = "requirements"
#: PEP 517's fallback for projects that declare no build system
DEFAULT_BUILD_REQUIREMENTS = ("setuptools>=40.8.0", "wheel")
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")

_URL_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://|(?:git|hg|svn|bzr)\+|file:)")
_EXTRA_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
# PEP 508 project names; fullmatch semantics through \Z (`$` accepts a trailing newline)
_NAME_RE = re.compile(r"^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]{0,198}[A-Za-z0-9])\Z")
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_SOURCE_OPTIONS = frozenset(
    {"-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links", "--trusted-host"}
)
_OFFLINE_HINT = "Publish the package to the package index, or vendor its code into the repository."


class DependencyError(SubmissionError):
    """Dependencies cannot be installed (DEPENDENCY_UNAVAILABLE, UNSUPPORTED_REQUIREMENT)."""


@dataclass(frozen=True)
class LocalProject:
    """A project inside the checkout that is installed from its directory."""

    path: str  # POSIX path relative to the checkout root, "." for the root; never escapes
    extras: tuple[str, ...] = ()
    editable: bool = False
    #: canonical name from static metadata read here ([project], [tool.poetry], or
    #: setup.cfg without a setup.py); None when code computes it (setup.py)
    name: str | None = None


@dataclass(frozen=True)
class InstallPlan:
    """Everything the sandbox must install before running the tests, and why."""

    requirements: tuple[str, ...]
    build_requirements: tuple[str, ...]
    local_projects: tuple[LocalProject, ...]
    needs_sandbox_metadata: bool
    evidence: tuple[str, ...]


# ----------------------------------------------------------------------------- helpers


def _shorten(text: str, limit: int = 120) -> str:
    # Userinfo in URLs may hold access tokens: never echo it into reports.
    text = re.sub(r"(//)[^/@\s]*@", r"\1***@", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unsupported(message: str, hint: str | None = None) -> DependencyError:
    return DependencyError(UNSUPPORTED_REQUIREMENT, message, hint=hint)


def _url_error(where: str, url: str) -> DependencyError:
    return _unsupported(
        f"{where}: direct URL {_shorten(url)!r} is not supported; "
        "publish the package to the index or vendor it",
        hint=_OFFLINE_HINT,
    )


def _check_requirement(text: str, where: str) -> str:
    """Return a validated PEP 508 requirement string (no URL) or raise DependencyError."""
    if len(text) > MAX_REQUIREMENT_CHARS:
        raise _unsupported(
            f"{where}: requirement is longer than {MAX_REQUIREMENT_CHARS} characters"
        )
    stripped = text.strip()
    if _URL_RE.match(stripped):
        raise _url_error(where, stripped)
    try:
        req = Requirement(stripped)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unparsable"
        raise _unsupported(
            f"{where}: {_shorten(stripped)!r} is not a valid requirement ({_shorten(reason, 200)})"
        ) from None
    if req.url:
        raise _url_error(where, req.url)
    return str(req)


def _requirement_key(text: str) -> tuple[str, tuple[str, ...], str, str]:
    req = Requirement(text)
    extras = tuple(sorted(canonicalize_name(e) for e in req.extras))
    return (canonicalize_name(req.name), extras, str(req.specifier), str(req.marker or ""))


def _dedupe(items: Sequence[str]) -> tuple[str, ...]:
    seen: set[tuple[str, tuple[str, ...], str, str]] = set()
    kept: list[str] = []
    for item in items:
        key = _requirement_key(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return tuple(kept)


def _join(project: str, name: str) -> str:
    return name if project == "." else f"{project}/{name}"


def _str_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _unsupported(f"{where} must be a list of strings")
    return [item for item in value if isinstance(item, str)]


def _table(value: object, where: str) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _unsupported(f"{where} must be a table")
    return {str(key): item for key, item in value.items()}


def _read_toml(checkout: Path, relpath: str) -> dict[str, object] | None:
    text = safefs.read_text(checkout, relpath, MAX_FILE_BYTES)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _unsupported(f"{relpath} is not valid TOML: {exc}") from None


def _valid_extra(name: str, where: str) -> str:
    if not _EXTRA_RE.match(name):
        raise _unsupported(f"{where}: {_shorten(name)!r} is not a valid extra name")
    return name


# ----------------------------------------------------------------------------- collector


class _Plan:
    """Mutable accumulator behind one detect_install_plan call."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.requirements: list[str] = []
        self.build_requirements: list[str] = []
        self.local: dict[str, tuple[list[str], bool]] = {}
        self.local_names: set[str] = set()
        #: the static name of each local project, by path (see LocalProject.name)
        self.static_names: dict[str, str] = {}
        self.needs_sandbox = False
        self.evidence: list[str] = []

    def add_requirements(self, items: Sequence[str], where: str) -> None:
        self.requirements.extend(_check_requirement(item, where) for item in items)
        if len(self.requirements) > MAX_REQUIREMENTS:
            raise _unsupported(f"the submission declares more than {MAX_REQUIREMENTS} requirements")

    def add_local(self, path: str, extras: Sequence[str], editable: bool) -> None:
        old_extras, old_editable = self.local.get(path, ([], False))
        merged = list(old_extras)
        known = {canonicalize_name(e) for e in merged}
        for extra in extras:
            if canonicalize_name(extra) not in known:
                known.add(canonicalize_name(extra))
                merged.append(extra)
        self.local[path] = (merged, old_editable or editable)

    def build(self) -> InstallPlan:
        requirements = list(_dedupe(self.requirements))
        if self.local_names:
            # A local project is installed from the checkout; fetching a same-named
            # package from the index instead would invite dependency confusion.
            dropped = [r for r in requirements if _requirement_key(r)[0] in self.local_names]
            requirements = [r for r in requirements if r not in dropped]
            for item in dropped:
                self.evidence.append(f"{item!r} is provided by a local project; not downloaded")
        if not any(_requirement_key(r)[0] == "pytest" for r in requirements):
            requirements.append("pytest")
            self.evidence.append(
                "pytest added: no requirement names it and the tests need a runner"
            )
        projects = tuple(
            LocalProject(
                path=path, extras=tuple(extras), editable=editable, name=self.static_names.get(path)
            )
            for path, (extras, editable) in self.local.items()
        )
        return InstallPlan(
            requirements=tuple(requirements),
            build_requirements=_dedupe(self.build_requirements),
            local_projects=projects,
            needs_sandbox_metadata=self.needs_sandbox,
            evidence=tuple(self.evidence),
        )


# ----------------------------------------------------------------------------- poetry


def _version(text: str, where: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise _unsupported(f"{where}: {_shorten(text)!r} is not a valid version") from None


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
        raise _unsupported(
            f"{where}: version constraint {_shorten(text)!r} is an either-or ('||'), "
            "which has no standard equivalent; use a single range"
        )
    parts = [p for p in re.split(r",|\s+(?=[<>=!~^])", text) if p.strip()]
    spec = ",".join(filter(None, (_poetry_single(p.strip(), where) for p in parts)))
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        raise _unsupported(
            f"{where}: {_shorten(text)!r} is not a valid version constraint"
        ) from None
    return spec


def _python_marker(constraint: str, where: str) -> str:
    spec = poetry_specifier(constraint, where)
    return " and ".join(
        f'python_full_version {s.operator} "{s.version}"' for s in SpecifierSet(spec)
    )


def _poetry_entry(name: str, value: object, where: str) -> list[tuple[str, bool]]:
    """Translate one Poetry dependency entry into (requirement, optional) pairs."""
    if isinstance(value, str):
        return [(_check_requirement(name + poetry_specifier(value, where), where), False)]
    if isinstance(value, list):
        return [pair for item in value for pair in _poetry_entry(name, item, where)]
    if not isinstance(value, dict):
        raise _unsupported(f"{where}: dependency {name!r} has an unrecognised form")
    for kind in ("path", "git", "url", "file"):
        if kind in value:
            raise _unsupported(
                f"{where}: {name!r} is a {kind} dependency ({_shorten(str(value[kind]))}); "
                "only packages from the package index can be installed",
                hint=_OFFLINE_HINT,
            )
    if "source" in value:
        raise _unsupported(
            f"{where}: {name!r} comes from the custom package source "
            f"{_shorten(str(value['source']))!r}; "
            "only the acceptance service's own package index is used",
            hint=_OFFLINE_HINT,
        )
    version = value.get("version", "*")
    if not isinstance(version, str):
        raise _unsupported(f"{where}: {name!r} version must be a string")
    extras = _str_list(value.get("extras", []), f"{where} {name}.extras")
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
        text += "[" + ",".join(_valid_extra(e, where) for e in extras) + "]"
    text += poetry_specifier(version, where)
    if markers:
        text += "; " + " and ".join(f"({m})" for m in markers)
    return [(_check_requirement(text, where), value.get("optional") is True)]


def _poetry_table(table: dict[str, object], where: str) -> list[tuple[str, bool]]:
    pairs: list[tuple[str, bool]] = []
    for name, value in table.items():
        if canonicalize_name(name) == "python":
            continue  # the interpreter constraint, not a package
        pairs.extend(_poetry_entry(name, value, f"{where} {name}"))
    return pairs


def _poetry_groups(poetry: dict[str, object], plan: _Plan) -> None:
    groups = _table(poetry.get("group"), "[tool.poetry.group]")
    wanted = {canonicalize_name(g) for g in TEST_GROUPS}
    for name, group in groups.items():
        if canonicalize_name(name) not in wanted:
            continue
        deps = _table(_table(group, f"[tool.poetry.group.{name}]").get("dependencies"), name)
        where = f"pyproject.toml [tool.poetry.group.{name}.dependencies]"
        reqs = [req for req, _ in _poetry_table(deps, where)]
        plan.add_requirements(reqs, where)
        plan.evidence.append(f"{where}: {len(reqs)} requirements")
    if "dev-dependencies" in poetry:
        where = "pyproject.toml [tool.poetry.dev-dependencies]"
        reqs = [req for req, _ in _poetry_table(_table(poetry["dev-dependencies"], where), where)]
        plan.add_requirements(reqs, where)
        plan.evidence.append(f"{where}: {len(reqs)} requirements")


# ----------------------------------------------------------------------------- project metadata


def _is_poetry_package(pyproject: Mapping[str, object]) -> bool:
    poetry = _table(_table(pyproject.get("tool"), "[tool]").get("poetry"), "[tool.poetry]")
    return bool(poetry) and poetry.get("package-mode", True) is not False and "name" in poetry


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
        for item in _str_list(optional[key], f"{where}.{key}"):
            text = _check_requirement(item, f"{where}.{key}")
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
    plan: _Plan,
) -> None:
    where = _join(path, "pyproject.toml")
    dynamic = _str_list(project.get("dynamic", []), f"{where} [project.dynamic]")
    own_name = canonicalize_name(str(project.get("name", "")))
    if own_name:
        plan.local_names.add(own_name)
    if "dependencies" in dynamic:
        if _is_poetry_package(pyproject):
            _poetry_dependencies(pyproject, path, extras, plan)
            return
        plan.needs_sandbox = True
        plan.evidence.append(
            f"{where}: dependencies are dynamic; "
            "they will be read from metadata built in the sandbox"
        )
    else:
        deps = _str_list(project.get("dependencies", []), f"{where} [project.dependencies]")
        plan.add_requirements(deps, f"{where} [project.dependencies]")
        plan.evidence.append(f"{where} [project.dependencies]: {len(deps)} requirements")
    if not extras:
        return
    optional = _table(
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


def _poetry_dependencies(
    pyproject: Mapping[str, object], path: str, extras: Sequence[str], plan: _Plan
) -> None:
    where = f"{_join(path, 'pyproject.toml')} [tool.poetry.dependencies]"
    poetry = _table(_table(pyproject.get("tool"), "[tool]").get("poetry"), "[tool.poetry]")
    plan.local_names.add(canonicalize_name(str(poetry.get("name", ""))))
    pairs = _poetry_table(_table(poetry.get("dependencies"), where), where)
    poetry_extras = _table(poetry.get("extras"), "[tool.poetry.extras]")
    by_extra = {canonicalize_name(k): v for k, v in poetry_extras.items()}
    chosen: set[str] = set()
    for extra in extras:
        names = _str_list(
            by_extra.get(canonicalize_name(extra), []), f"[tool.poetry.extras] {extra}"
        )
        chosen.update(canonicalize_name(n) for n in names)
    reqs = [req for req, optional in pairs if not optional or _requirement_key(req)[0] in chosen]
    plan.add_requirements(reqs, where)
    plan.evidence.append(f"{where}: {len(reqs)} requirements")


def _setup_cfg_dependencies(path: str, extras: Sequence[str], plan: _Plan) -> None:
    where = _join(path, "setup.cfg")
    text = safefs.read_text(plan.checkout, where, MAX_FILE_BYTES) or ""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=where)
    except configparser.Error as exc:
        raise _unsupported(f"{where} cannot be parsed: {_shorten(str(exc), 200)}") from None
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
    pyproject: Mapping[str, object], files: Mapping[str, bool], path: str, plan: _Plan
) -> str | None:
    """The project's canonical name when static metadata fixes it, else None.

    Same precedence as the build: ``[project]`` (a PEP 621 name is never dynamic),
    then a Poetry package, then setup.cfg's ``[metadata] name`` only without a
    setup.py (which could pass another name to ``setup()``).
    """
    project = pyproject.get("project")
    if project is not None:
        raw = project.get("name") if isinstance(project, dict) else None
    elif _is_poetry_package(pyproject):
        raw = _table(_table(pyproject.get("tool"), "[tool]").get("poetry"), "[tool.poetry]").get(
            "name"
        )
    elif files["setup.cfg"] and not files["setup.py"]:
        raw = _setup_cfg_name(_join(path, "setup.cfg"), plan)
    else:
        raw = None
    if not isinstance(raw, str) or not _NAME_RE.match(raw):
        return None
    return canonicalize_name(raw)


def _setup_cfg_name(where: str, plan: _Plan) -> str | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(
            safefs.read_text(plan.checkout, where, MAX_FILE_BYTES) or "", source=where
        )
    except configparser.Error:
        return None  # reported when its dependencies are read
    return parser.get("metadata", "name", fallback=None)


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
        if name and _NAME_RE.match(name):
            names.add(canonicalize_name(name))
    return frozenset(names)


def _project_files(checkout: Path, path: str) -> dict[str, bool]:
    return {name: safefs.is_regular_file(checkout, _join(path, name)) for name in PROJECT_FILES}


def _analyse_local_project(path: str, extras: Sequence[str], plan: _Plan) -> None:
    """Add a local project's build requirements and dependencies (or defer them to the sandbox)."""
    files = _project_files(plan.checkout, path)
    pyproject_path = _join(path, "pyproject.toml")
    pyproject = _read_toml(plan.checkout, pyproject_path) if files["pyproject.toml"] else None
    pyproject = pyproject or {}
    build_system = _table(pyproject.get("build-system"), f"{pyproject_path} [build-system]")
    if build_system:
        if "requires" not in build_system:
            raise _unsupported(
                f"{pyproject_path} [build-system] has no 'requires' key "
                "(PEP 518 makes it mandatory)"
            )
        requires = _str_list(build_system["requires"], f"{pyproject_path} [build-system].requires")
        plan.build_requirements.extend(
            _check_requirement(r, f"{pyproject_path} [build-system].requires") for r in requires
        )
        plan.evidence.append(
            f"{pyproject_path} [build-system].requires: {len(requires)} requirements"
        )
    else:
        plan.build_requirements.extend(DEFAULT_BUILD_REQUIREMENTS)
        plan.evidence.append(f"{_join(path, '.')}: no [build-system]; setuptools defaults assumed")

    project = pyproject.get("project")
    name = _static_name(pyproject, files, path, plan)
    if name:
        plan.static_names[path] = name
    if project is not None:
        # [project] is authoritative even when a setup.py exists next to it.
        _pep621_dependencies(_table(project, "[project]"), pyproject, path, extras, plan)
    elif _is_poetry_package(pyproject):
        _poetry_dependencies(pyproject, path, extras, plan)
    elif files["setup.py"]:
        plan.needs_sandbox = True
        plan.evidence.append(
            f"{_join(path, 'setup.py')}: dependencies are computed by code; "
            "they will be read from metadata built in the sandbox"
        )
    elif files["setup.cfg"]:
        _setup_cfg_dependencies(path, extras, plan)
    else:
        plan.needs_sandbox = True
        plan.evidence.append(
            f"{pyproject_path}: no static metadata; dependencies will be read in the sandbox"
        )


# ----------------------------------------------------------------------------- root detection


def _expand_group(groups: dict[str, object], name: str, seen: set[str], plan: _Plan) -> list[str]:
    by_name = {canonicalize_name(key): key for key in groups}
    wanted = canonicalize_name(name)
    if wanted in seen or wanted not in by_name:
        return []  # already expanded (diamond or cycle), or absent
    seen.add(wanted)
    key = by_name[wanted]
    where = f"pyproject.toml [dependency-groups].{key}"
    entries = groups[key]
    if not isinstance(entries, list):
        raise _unsupported(f"{where} must be a list")
    found: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            found.append(_check_requirement(entry, where))
        elif isinstance(entry, dict) and isinstance(entry.get("include-group"), str):
            found.extend(_expand_group(groups, str(entry["include-group"]), seen, plan))
        else:
            raise _unsupported(
                f"{where}: entry {_shorten(repr(entry))} is neither a requirement "
                "nor an include-group"
            )
    return found


def _detect_root(plan: _Plan) -> None:
    files = _project_files(plan.checkout, ".")
    pyproject = (
        _read_toml(plan.checkout, "pyproject.toml") if files["pyproject.toml"] else None
    ) or {}
    extras: list[str] = []
    project = _table(pyproject.get("project"), "[project]")
    optional = _table(project.get("optional-dependencies"), "[project.optional-dependencies]")
    wanted = {canonicalize_name(e) for e in TEST_EXTRAS}
    extras = [key for key in optional if canonicalize_name(key) in wanted]
    poetry = _table(_table(pyproject.get("tool"), "[tool]").get("poetry"), "[tool.poetry]")
    poetry_extras = _table(poetry.get("extras"), "[tool.poetry.extras]")
    extras += [key for key in poetry_extras if canonicalize_name(key) in wanted]

    groups = _table(pyproject.get("dependency-groups"), "[dependency-groups]")
    seen: set[str] = set()
    for group in TEST_GROUPS:
        found = _expand_group(groups, group, seen, plan)
        if found:
            plan.add_requirements(found, f"pyproject.toml [dependency-groups].{group}")
            plan.evidence.append(
                f"pyproject.toml [dependency-groups].{group}: {len(found)} requirements"
            )
    if poetry:
        _poetry_groups(poetry, plan)

    is_project = (
        "project" in pyproject
        or _is_poetry_package(pyproject)
        or files["setup.py"]
        or files["setup.cfg"]
    )
    if is_project:
        plan.add_local(".", extras, editable=False)
        shown = f" with extras {', '.join(extras)}" if extras else ""
        plan.evidence.append(f"the checkout root is a project; installed from source{shown}")


def _words(stem: str) -> set[str]:
    return set(re.split(r"[-_.]+", stem.lower()))


def _requirements_files(checkout: Path) -> list[str]:
    """The requirements files a project's CI would install, by the rule in the module doc."""
    chosen: list[str] = []
    root_names = [n for n in safefs.list_dir(checkout, ".") if n.lower().endswith(".txt")]
    if "requirements.txt" in root_names and safefs.is_regular_file(checkout, "requirements.txt"):
        chosen.append("requirements.txt")
    for name in root_names:
        stem = name[:-4]
        if name == "requirements.txt" or "requirements" not in stem.lower():
            continue
        if _words(stem) & TEST_WORDS and safefs.is_regular_file(checkout, name):
            chosen.append(name)
    if safefs.is_directory(checkout, REQUIREMENTS_DIR):
        for name in safefs.list_dir(checkout, REQUIREMENTS_DIR):
            stem = name[:-4]
            if not name.lower().endswith(".txt"):
                continue
            if not (_words(stem) & TEST_WORDS or stem.lower() in BASE_NAMES):
                continue
            relpath = f"{REQUIREMENTS_DIR}/{name}"
            if safefs.is_regular_file(checkout, relpath):
                chosen.append(relpath)
    return chosen


# ----------------------------------------------------------------------------- requirements files


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations and strip comments, keeping the first line's number."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        line = _COMMENT_RE.sub("", " ".join(pending)).strip()
        pending = []
        if line:
            lines.append((start, line))
    if pending:
        line = _COMMENT_RE.sub("", " ".join(pending)).strip()
        if line:
            lines.append((start, line))
    return lines


def _split_options(line: str) -> tuple[str, list[str]]:
    """Split ``req --hash=... --opt`` into the requirement and its trailing option tokens."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char.isspace() and re.match(r"\s+-", line[index:]):
            return line[:index].strip(), line[index:].split()
    return line.strip(), []


def _option_and_value(line: str) -> tuple[str, str]:
    if line.startswith("--"):
        name, sep, value = line.partition("=")
        if not sep:
            name, _, value = line.partition(" ")
        return name.strip(), value.strip()
    # short options may be glued to their value: -rfile.txt
    return line[:2], line[2:].strip()


class _RequirementsReader:
    """Parses requirements lines itself; nothing is ever handed to pip."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.visited: set[str] = set()

    def read_file(self, relpath: str, where: str) -> None:
        if relpath in self.visited:
            self.plan.evidence.append(f"{relpath}: already read, not read again ({where})")
            return
        if len(self.visited) >= MAX_REQUIREMENT_FILES:
            raise _unsupported(f"{where}: more than {MAX_REQUIREMENT_FILES} requirements files")
        self.visited.add(relpath)
        text = safefs.read_text(self.plan.checkout, relpath, MAX_FILE_BYTES)
        if text is None:
            raise _unsupported(
                f"{where}: includes {relpath!r}, which does not exist in the submission"
            )
        if "${" in text:
            self.plan.evidence.append(
                f"{relpath}: environment variable references are not expanded"
            )
        before = len(self.plan.requirements)
        for number, line in _logical_lines(text):
            self.read_line(line, f"{relpath} line {number}", posixpath.dirname(relpath))
        added = len(self.plan.requirements) - before
        self.plan.evidence.append(f"{relpath}: {added} requirements")

    def _include_path(self, value: str, base_dir: str, where: str) -> str:
        if _URL_RE.match(value):
            raise _url_error(where, value)
        if value.startswith(("/", "~")):
            raise _unsupported(
                f"{where}: {_shorten(value)!r} is an absolute path; "
                "only files in the submission can be used"
            )
        joined = posixpath.normpath(posixpath.join(base_dir, value))
        if joined == ".." or joined.startswith("../"):
            raise _unsupported(f"{where}: {_shorten(value)!r} points outside the submission")
        return "/".join(safefs.split_relpath(joined))

    def read_line(self, line: str, where: str, base_dir: str) -> None:
        if line.startswith("-"):
            self._read_option(line, where, base_dir)
            return
        requirement, options = _split_options(line)
        hashes = 0
        skip_next = False
        for token in options:
            if skip_next:
                skip_next = False
                continue
            if token.startswith("--hash"):
                hashes += 1
                skip_next = "=" not in token
            elif token.startswith("-"):
                self.plan.evidence.append(
                    f"{where}: option {_shorten(token.split('=')[0], 40)!r} ignored "
                    "(only pre-built wheels are installed)"
                )
        if hashes:
            self.plan.evidence.append(f"{where}: {hashes} --hash pin(s) stripped")
        self._read_requirement(requirement, where, editable=False)

    def _read_option(self, line: str, where: str, base_dir: str) -> None:
        name, value = _option_and_value(line)
        if name in ("-r", "--requirement", "-c", "--constraint") and not value:
            raise _unsupported(f"{where}: option {name!r} needs a file name")
        if name in ("-r", "--requirement"):
            self.read_file(self._include_path(value, base_dir, where), where)
        elif name in ("-c", "--constraint"):
            self.plan.evidence.append(
                f"{where}: constraints file {_shorten(value)!r} ignored "
                "(constraints are not applied)"
            )
        elif name in ("-e", "--editable"):
            self._read_requirement(value, where, editable=True)
        elif name in _SOURCE_OPTIONS:
            self.plan.evidence.append(
                f"{where}: option {name!r} ignored for safety: packages come only from "
                "the acceptance service's own package index"
            )
        else:
            self.plan.evidence.append(
                f"{where}: option {_shorten(name, 40)!r} ignored (the acceptance service uses "
                "fixed pip options and installs pre-built wheels only)"
            )

    def _read_requirement(self, text: str, where: str, *, editable: bool) -> None:
        if not text:
            raise _unsupported(f"{where}: option without a value")
        if "${" in text:
            raise _unsupported(
                f"{where}: environment variable references like '${{...}}' are not expanded"
            )
        if _URL_RE.match(text):
            raise _url_error(where, text)
        head = re.split(r"[\[;@\s]", text, maxsplit=1)[0]
        looks_like_path = text.startswith((".", "/", "~")) or "/" in head or "\\" in head
        if looks_like_path or head.lower().endswith(_ARCHIVE_SUFFIXES):
            self._read_local(text, where, editable)
            return
        if editable:
            raise _unsupported(
                f"{where}: editable requirement {_shorten(text)!r} must be a local path"
            )
        self.plan.add_requirements([text], where)

    def _read_local(self, text: str, where: str, editable: bool) -> None:
        match = re.fullmatch(
            r"(?P<path>[^\[;]+?)\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<marker>;.*)?", text
        )
        if match is None:
            raise _unsupported(f"{where}: {_shorten(text)!r} is not a valid local path")
        if match["marker"]:
            raise _unsupported(f"{where}: environment markers on local paths are not supported")
        path = match["path"].strip()
        if path.lower().endswith(_ARCHIVE_SUFFIXES):
            raise _unsupported(
                f"{where}: local archive {_shorten(path)!r} is not supported; "
                "list the package by name",
                hint=_OFFLINE_HINT,
            )
        # pip resolves local paths against the working directory, i.e. the checkout root.
        relpath = self._include_path(path, "", where) or "."
        extras = [
            _valid_extra(e.strip(), where) for e in (match["extras"] or "").split(",") if e.strip()
        ]
        if not safefs.is_directory(self.plan.checkout, relpath):
            raise _unsupported(
                f"{where}: local project {_shorten(path)!r} does not exist in the submission"
            )
        if not any(_project_files(self.plan.checkout, relpath).values()):
            raise _unsupported(
                f"{where}: {_shorten(path)!r} has no pyproject.toml, setup.py or setup.cfg"
            )
        self.plan.add_local(relpath, extras, editable)
        self.plan.evidence.append(
            f"{where}: local project {relpath!r} ({'editable' if editable else 'from source'})"
        )


# ----------------------------------------------------------------------------- public API


def detect_install_plan(checkout: Path, override: Sequence[str] | None = None) -> InstallPlan:
    """Decide what the submission needs installed for its tests, from static files only."""
    plan = _Plan(checkout)
    reader = _RequirementsReader(plan)
    if override is None:
        _detect_root(plan)
        files = _requirements_files(checkout)
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
                raise _unsupported(f"install.requirements item {index} is not a string")
            for _, line in _logical_lines(item):
                reader.read_line(line, f"install.requirements item {index}", "")
    # Installing a local project installs its own dependencies too, so they must be known.
    for path, (extras, _) in list(plan.local.items()):
        _analyse_local_project(path, extras, plan)
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
                INVALID_ARTIFACT, f"{where}: {_shorten(line)!r} is not a valid requirement"
            ) from None
        if req.url:
            raise _url_error(where, req.url)
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
    return _dedupe(kept)
