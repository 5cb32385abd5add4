"""A run's dependency install through the caches of :mod:`acceptance.engine.envcache`.

The engine asks this module three things:

* before downloading: is the requirement list's resolution cached (then nothing is
  downloaded)? after downloading: remember it;
* to install: restore the repository's prepared environment when its key matches
  and install only the local projects, or install the dependencies, export the
  environment for the next push, then install the local projects;
* to list dependency licences: reuse the listing made for the same environment
  and project licence when the installed set is exactly the one it covered.

Every sandbox command goes through callables the engine passes in, so limits
are judged exactly as for its own stages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from acceptance.engine import envcache
from acceptance.engine.install_plan import InstallPlan, LocalProject
from checks import dependency_licences, licence
from checks.interface import CheckOutcome, CheckStatus
from checks.licence_evidence import LicenceEvidence
from checks.options import LicenceSpec
from sandbox.interface import CommandResult, Sandbox

log = logging.getLogger(__name__)

#: runs one command as a named stage of the engine: (argv, name, extra environment)
RunStep = Callable[[list[str], str, dict[str, str] | None], CommandResult]
#: the engine's stage timer
StageTimer = Callable[[str], AbstractContextManager[None]]
#: the engine's own, isolated install of a plan (its errors are the authoritative ones)
Install = Callable[[InstallPlan], None]

LICENCE_ARTIFACT = "dependency-licences.json"


@dataclass
class PreparedEnvironments:
    """The dependency caches as one run uses them."""

    cache_dir: Path
    wheels: Path
    source: str
    context: Mapping[str, object] | None
    tools_python: str
    wheels_mount: str
    src_mount: str
    #: what happened, for the report's environment section
    notes: dict[str, object] = field(default_factory=dict)
    environment: envcache.Environment | None = None
    #: all repositories' environments together
    max_total_bytes: int = envcache.MAX_TOTAL_BYTES
    #: the local projects ``install`` installed from the checkout (the supplier's own code)
    projects: tuple[LocalProject, ...] = ()

    def __post_init__(self) -> None:
        self.resolutions = envcache.ResolutionCache(self.cache_dir / "resolutions", self.wheels)
        self.environments = envcache.EnvironmentCache(
            self.cache_dir / "environments", max_total_bytes=self.max_total_bytes
        )
        self.repository = envcache.repository_identity(self.source, self.context)

    def mounts(self) -> dict[Path, str]:
        """The repository's environment folder, read-only in the sandbox."""
        return {self.environments.folder(self.repository): envcache.MOUNT}

    # -- downloads -------------------------------------------------------------

    def cached_resolution(
        self, requirements: Sequence[str], python_version: str | None
    ) -> envcache.Resolution | None:
        return self.resolutions.get(requirements, python_version)

    def remember(
        self, requirements: Sequence[str], python_version: str | None, files: Sequence[Path]
    ) -> None:
        try:
            self.resolutions.put(requirements, python_version, files)
        except OSError:
            log.warning("resolution_cache_write_failed", exc_info=True)

    # -- install ---------------------------------------------------------------

    def install(
        self,
        plan: InstallPlan,
        *,
        sandbox: Sandbox,
        image_id: str,
        python_version: str | None,
        run: RunStep,
        stage: StageTimer,
        install: Install,
        remaining: Callable[[], float],
    ) -> None:
        """Install PLAN into the sandbox's /work/venv, reusing a prepared environment if any."""
        # Whichever path below installs them, these and only these come from the checkout:
        # a restored environment holds dependencies only, the projects go in every run.
        self.projects = plan.local_projects
        why = envcache.not_cacheable(plan.needs_sandbox_metadata, plan.requirements)
        resolution = None
        if why is None:
            resolution = self.cached_resolution(download_list(plan), python_version)
            if resolution is None:
                why = "the dependencies' resolution is not cached"
        if why is not None or resolution is None:
            self.notes = {"environment": "not cached", "why": why}
            with stage("install"):
                install(plan)
            return
        key = envcache.environment_key(
            image_id=image_id,
            python_version=python_version,
            repository=self.repository,
            requirements=plan.requirements,
            build_requirements=plan.build_requirements,
            resolution=resolution,
        )
        found = self.environments.get(self.repository, key)
        if found is not None and self._restore(found, run, stage):
            self.environment = found
            self.notes = {"environment": "reused", "key": key[:16], "bytes": found.size}
            self._install_projects(plan, python_version, found.has_build_env, run, stage, install)
            return
        with stage("install"):
            install(replace(plan, local_projects=(), build_requirements=()))
        has_build_env = False
        if plan.local_projects and plan.build_requirements:
            with stage("build-env"):
                has_build_env = self._build_env(plan, run, python_version)
        with stage("export"):
            stored = self._export(sandbox, key, has_build_env, remaining, plan)
        self.environment = stored
        self.notes = {
            "environment": "prepared" if stored is not None else "not cached",
            "key": key[:16],
            **(
                {"bytes": stored.size}
                if stored is not None
                else {"why": "export failed or too large"}
            ),
        }
        self._install_projects(plan, python_version, has_build_env, run, stage, install)

    def _restore(self, found: envcache.Environment, run: RunStep, stage: StageTimer) -> bool:
        with stage("restore"):
            result = run(envcache.restore_command(found), "restore", None)
        if result.exit_code == 0:
            return True
        log.warning("environment_restore_failed", extra={"key": found.key[:16]})
        reset = f"rm -rf {envcache.VENV} {envcache.BUILD_ENV}; python3 -m venv --without-pip {envcache.VENV}"
        run(["sh", "-c", reset], "restore-reset", None)
        return False

    def _build_env(self, plan: InstallPlan, run: RunStep, python_version: str | None) -> bool:
        argv = envcache.build_env_command(
            self._tools_pip(python_version), self.wheels_mount, plan.build_requirements
        )
        return run(argv, "build-env", None).exit_code == 0

    def _tools_pip(self, python_version: str | None) -> str:
        """The image's pip package folder (pip of the tools' venv)."""
        tools = Path(self.tools_python).parent.parent
        return f"{tools}/lib/python{python_version or '3'}/site-packages/pip"

    def _export(
        self,
        sandbox: Sandbox,
        key: str,
        has_build_env: bool,
        remaining: Callable[[], float],
        plan: InstallPlan,
    ) -> envcache.Environment | None:
        # Straight from the sandbox, not judged: a venv too big to keep is no fault of anyone's.
        result = sandbox.run(
            envcache.export_command(has_build_env),
            timeout=max(1.0, min(300.0, remaining())),
            max_output=self.environments.max_bytes + 1,
        )
        if result.exit_code != 0 or result.timed_out or result.output_limit_hit:
            log.info("environment_not_exported", extra={"key": key[:16], "exit": result.exit_code})
            return None
        try:
            return self.environments.put(
                self.repository, key, result.output, has_build_env=has_build_env,
                details={"requirements": list(plan.requirements),
                         "build_requirements": list(plan.build_requirements)},
            )  # fmt: skip
        except OSError:
            log.warning("environment_store_failed", exc_info=True)
            return None

    def _install_projects(
        self,
        plan: InstallPlan,
        python_version: str | None,
        has_build_env: bool,
        run: RunStep,
        stage: StageTimer,
        install: Install,
    ) -> None:
        """The local projects, built against the cached build environment; else as before."""
        if not plan.local_projects:
            return
        with stage("install-project"):
            if has_build_env:
                argv = self.project_command(plan.local_projects, python_version)
                env = {
                    "PYTHONPATH": f"{envcache.PIP_SHIM}:{envcache.build_env_path(python_version)}"
                }
                if run(argv, "install-project", env).exit_code == 0:
                    return
                log.info("fast_project_install_failed_falling_back")
            # The engine's isolated install: the dependencies are there, only the projects build.
            install(plan)

    def project_command(
        self, projects: Sequence[LocalProject], python_version: str | None
    ) -> list[str]:
        """The image's pip code, run by the venv's Python: one interpreter start.

        The build sees the build environment on PYTHONPATH instead of an isolated
        environment pip would install each time. One project is built and
        installed by :data:`BUILD_AND_INSTALL` (its build backend, then pip's own
        wheel installer) in a single process; several go through pip's command.
        """
        tools_pip = self._tools_pip(python_version)
        shim = f'mkdir -p {envcache.PIP_SHIM} && ln -sfn {tools_pip} {envcache.PIP_SHIM}/pip && exec "$@"'
        python = f"{envcache.VENV}/bin/python"
        if len(projects) == 1:
            wanted = [{"path": project_path(projects[0], self.src_mount, extras=False),
                       "editable": projects[0].editable}]  # fmt: skip
            return ["sh", "-c", shim, "sh", python, "-c", BUILD_AND_INSTALL, json.dumps(wanted)]
        argv = [
            "sh", "-c", shim, "sh", python, "-m", "pip",
            "install", "--no-index", "--find-links", self.wheels_mount, "--progress-bar", "off",
            "--no-cache-dir", "--use-pep517", "--no-deps", "--no-build-isolation",
        ]  # fmt: skip
        for project in projects:
            path = project_path(project, self.src_mount)
            argv.extend(["-e", path] if project.editable else [path])
        return argv

    # -- dependency licences ---------------------------------------------------------

    def judge_licence(
        self,
        sandbox: Sandbox,
        evidence: LicenceEvidence,
        spec: LicenceSpec,
        *,
        timeout: float,
        installed_listing: bytes | None,
    ) -> CheckOutcome:
        """The licence check, reusing this environment's dependency-licence listing if exact."""
        found = self.environment
        usable = (
            found is not None
            and spec.enabled
            and spec.dependencies != "off"
            and evidence.spdx is not None
            and not evidence.unsafe
            and installed_listing is not None
        )
        if not usable or found is None or evidence.spdx is None or installed_listing is None:
            return licence.judge_with_dependencies(sandbox, evidence, spec, timeout=timeout)
        current, local = _installed_sets(installed_listing)
        project = canonicalize_name(evidence.project_name) if evidence.project_name else None
        # A local project other than the repository itself is judged like a dependency:
        # its (new) metadata must be read, so nothing is reused.
        if current is None or (local and local != {project}):
            return licence.judge_with_dependencies(sandbox, evidence, spec, timeout=timeout)
        cached = self.environments.licences(self.repository, found.key, evidence.spdx)
        if cached is not None:
            try:
                listed = dependency_licences.parse_dependency_licences(cached)
            except ValueError:
                listed = None
            found_set = (
                {(str(canonicalize_name(d.name)), _version(d.version)) for d in listed}
                if listed is not None
                else None
            )
            if listed is not None and found_set == current:
                self.notes["dependency_licences"] = "reused"
                result = licence.judge_licence(evidence, spec, listed)
                return CheckOutcome(result, {LICENCE_ARTIFACT: cached})
        outcome = licence.judge_with_dependencies(sandbox, evidence, spec, timeout=timeout)
        listing = outcome.artifacts.get(LICENCE_ARTIFACT)
        if listing is not None and outcome.result.status is not CheckStatus.ERROR:
            kept = _without(listing, local)
            if kept is not None:
                try:
                    self.environments.put_licences(self.repository, found.key, evidence.spdx, kept)
                except OSError:
                    log.warning("licence_listing_store_failed", exc_info=True)
        return outcome


def download_list(plan: InstallPlan) -> list[str]:
    """What the engine downloads for a plan, in its order (build requirements first)."""
    return list(dict.fromkeys([*plan.build_requirements, *plan.requirements]))


def project_path(project: LocalProject, src: str, *, extras: bool = True) -> str:
    path = src if project.path in (".", "") else f"{src}/{project.path}"
    return f"{path}[{','.join(project.extras)}]" if project.extras and extras else path


#: Run by the venv's Python inside the sandbox, with the image's pip and the build
#: environment on PYTHONPATH: what ``pip install --no-deps --no-build-isolation DIR``
#: does for one local project (PEP 517 build_wheel or build_editable, Requires-Python
#: checked, pip's wheel installer with direct_url.json and REQUESTED), in one process
#: instead of pip's three. Any failure exits non-zero and the engine falls back to
#: pip itself, whose error is the one reported.
BUILD_AND_INSTALL = r"""
import email.parser, importlib, json, os, pathlib, platform, sys, tempfile, tomllib, zipfile
from pip._internal.locations import get_scheme
from pip._internal.models.direct_url import DirectUrl, DirInfo
from pip._internal.operations.install.wheel import install_wheel
from pip._vendor.packaging.specifiers import SpecifierSet
from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename
for project in json.loads(sys.argv[1]):
    src = project["path"]
    try:
        data = tomllib.loads(pathlib.Path(src, "pyproject.toml").read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    system = data.get("build-system") or {}
    spec = system.get("build-backend") or "setuptools.build_meta:__legacy__"
    for extra in system.get("backend-path") or []:
        sys.path.insert(0, os.path.join(src, extra))
    module, _, attr = spec.partition(":")
    os.chdir(src)
    backend = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        backend = getattr(backend, part)
    out = tempfile.mkdtemp(prefix="wheel-")
    hook = backend.build_editable if project["editable"] else backend.build_wheel
    wheel = os.path.join(out, hook(out))
    name = canonicalize_name(parse_wheel_filename(os.path.basename(wheel))[0])
    with zipfile.ZipFile(wheel) as archive:
        # the wheel's own metadata, not a dist-info folder among its data files
        meta = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        requires = email.parser.BytesParser().parsebytes(archive.read(meta)).get("Requires-Python")
    if requires and platform.python_version() not in SpecifierSet(requires):
        sys.exit(f"{name} requires Python {requires}")
    install_wheel(
        name, wheel, scheme=get_scheme(name), req_description=src, pycompile=True,
        warn_script_location=False, requested=True,
        direct_url=DirectUrl(url=pathlib.Path(src).as_uri(), info=DirInfo(editable=project["editable"])),
    )
    print(f"built and installed {os.path.basename(wheel)}")
"""


def _version(text: str) -> str:
    try:
        return str(Version(text))
    except InvalidVersion:
        return text


def _installed_sets(listing: bytes) -> tuple[set[tuple[str, str]] | None, set[str]]:
    """(non-local (name, version) pairs, local names) of INSTALLED_COMMAND's validated output."""
    try:
        items = json.loads(listing)
    except ValueError:
        return None, set()
    if not isinstance(items, list):
        return None, set()
    entries = [item for item in items if isinstance(item, dict)]
    local = set(envcache.local_names(entries))
    current = {
        (str(canonicalize_name(str(item.get("name")))), _version(str(item.get("version"))))
        for item in entries
        if canonicalize_name(str(item.get("name"))) not in local
    }
    return current, local


def _without(listing: bytes, names: set[str]) -> bytes | None:
    """The listing's JSON document without the packages named NAMES (the local projects)."""
    for line in reversed(listing.decode("utf-8", errors="replace").strip().splitlines()):
        if line.startswith("{"):
            try:
                document: Any = json.loads(line)
            except ValueError:
                return None
            if not isinstance(document, dict) or not isinstance(document.get("packages"), list):
                return None
            document["packages"] = [
                item
                for item in document["packages"]
                if not (
                    isinstance(item, dict) and canonicalize_name(str(item.get("name"))) in names
                )
            ]
            return (json.dumps(document) + "\n").encode()
    return None
