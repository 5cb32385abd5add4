"""The install plan: what a delivery needs installed for its tests, and its building blocks.

``InstallPlan`` is the result of reading a delivery's dependency declarations
(``acceptance.engine.dependencies``); ``PlanBuilder`` accumulates it while the
readers (requirements files, ``pyproject.toml``, Poetry tables, ``setup.cfg``)
add to it. The helpers here are the ones every reader shares: each requirement
is validated with ``packaging`` (no direct URL ever passes), TOML is read
through ``safefs`` (1 MiB cap, symbolic links refused), and text echoed into
evidence or errors is shortened with any URL userinfo masked.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from acceptance import safefs
from acceptance.errors import SubmissionError

DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
UNSUPPORTED_REQUIREMENT = "UNSUPPORTED_REQUIREMENT"
INVALID_ARTIFACT = "INVALID_ARTIFACT"

MAX_FILE_BYTES = 1024 * 1024
MAX_REQUIREMENTS = 2_000
MAX_REQUIREMENT_CHARS = 1_000

#: the extras and dependency groups (PEP 735, Poetry) that hold test dependencies
TEST_EXTRAS = ("test", "tests", "testing")
TEST_GROUPS = ("test", "tests", "dev")
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")

URL_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://|(?:git|hg|svn|bzr)\+|file:)")
_EXTRA_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
# PEP 508 project names; fullmatch semantics through \Z (`$` accepts a trailing newline)
NAME_RE = re.compile(r"^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]{0,198}[A-Za-z0-9])\Z")
OFFLINE_HINT = "Publish the package to the package index, or vendor its code into the repository."


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


def shorten(text: str, limit: int = 120) -> str:
    # Userinfo in URLs may hold access tokens: never echo it into reports.
    text = re.sub(r"(//)[^/@\s]*@", r"\1***@", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unsupported(message: str, hint: str | None = None) -> DependencyError:
    return DependencyError(UNSUPPORTED_REQUIREMENT, message, hint=hint)


def url_error(where: str, url: str) -> DependencyError:
    return unsupported(
        f"{where}: direct URL {shorten(url)!r} is not supported; "
        "publish the package to the index or vendor it",
        hint=OFFLINE_HINT,
    )


def check_requirement(text: str, where: str) -> str:
    """Return a validated PEP 508 requirement string (no URL) or raise DependencyError."""
    if len(text) > MAX_REQUIREMENT_CHARS:
        raise unsupported(f"{where}: requirement is longer than {MAX_REQUIREMENT_CHARS} characters")
    stripped = text.strip()
    if URL_RE.match(stripped):
        raise url_error(where, stripped)
    try:
        req = Requirement(stripped)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unparsable"
        raise unsupported(
            f"{where}: {shorten(stripped)!r} is not a valid requirement ({shorten(reason, 200)})"
        ) from None
    if req.url:
        raise url_error(where, req.url)
    return str(req)


def requirement_key(text: str) -> tuple[str, tuple[str, ...], str, str]:
    req = Requirement(text)
    extras = tuple(sorted(canonicalize_name(e) for e in req.extras))
    return (canonicalize_name(req.name), extras, str(req.specifier), str(req.marker or ""))


def dedupe(items: Sequence[str]) -> tuple[str, ...]:
    seen: set[tuple[str, tuple[str, ...], str, str]] = set()
    kept: list[str] = []
    for item in items:
        key = requirement_key(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return tuple(kept)


def join_path(project: str, name: str) -> str:
    return name if project == "." else f"{project}/{name}"


def str_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise unsupported(f"{where} must be a list of strings")
    return [item for item in value if isinstance(item, str)]


def toml_table(value: object, where: str) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise unsupported(f"{where} must be a table")
    return {str(key): item for key, item in value.items()}


def read_toml(checkout: Path, relpath: str) -> dict[str, object] | None:
    text = safefs.read_text(checkout, relpath, MAX_FILE_BYTES)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise unsupported(f"{relpath} is not valid TOML: {exc}") from None


def valid_extra(name: str, where: str) -> str:
    if not _EXTRA_RE.match(name):
        raise unsupported(f"{where}: {shorten(name)!r} is not a valid extra name")
    return name


def project_files(checkout: Path, path: str) -> dict[str, bool]:
    """Which of ``PROJECT_FILES`` the project at ``path`` has, as regular files."""
    return {name: safefs.is_regular_file(checkout, join_path(path, name)) for name in PROJECT_FILES}


# ----------------------------------------------------------------------------- builder


class PlanBuilder:
    """Mutable accumulator behind one ``detect_install_plan`` call."""

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
        self.requirements.extend(check_requirement(item, where) for item in items)
        if len(self.requirements) > MAX_REQUIREMENTS:
            raise unsupported(f"the submission declares more than {MAX_REQUIREMENTS} requirements")

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
        requirements = list(dedupe(self.requirements))
        if self.local_names:
            # A local project is installed from the checkout; fetching a same-named
            # package from the index instead would invite dependency confusion.
            dropped = [r for r in requirements if requirement_key(r)[0] in self.local_names]
            requirements = [r for r in requirements if r not in dropped]
            for item in dropped:
                self.evidence.append(f"{item!r} is provided by a local project; not downloaded")
        if not any(requirement_key(r)[0] == "pytest" for r in requirements):
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
            build_requirements=dedupe(self.build_requirements),
            local_projects=projects,
            needs_sandbox_metadata=self.needs_sandbox,
            evidence=tuple(self.evidence),
        )
