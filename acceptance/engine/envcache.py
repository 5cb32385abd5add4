"""Dependency caching: what a re-push that changes only code can skip.

Two caches, both under the engine's cache directory:

* **Resolutions** (``resolutions/<key>.json``): what ``pip download`` resolved a
  requirement list to (wheel file names and sizes), keyed by the requirement
  lines and the Python version. While it is younger than ``RESOLUTION_TTL`` and
  every wheel is still in the wheel cache, the run downloads nothing and does
  not ask the index again. The TTL bounds how stale an unpinned requirement may
  get (a release published meanwhile is picked up after it).
* **Prepared environments** (``environments/<repository>/<key>.tar``): the run
  venv with the third-party dependencies installed, and a build environment
  with the build requirements, exported from the sandbox right after pip
  installed them from wheels and before anything of the submission was built
  or run. The key hashes the image id, the Python version, the repository, the
  requirement lines and the wheel files they resolved to: a re-push whose
  resolved dependency set did not change restores the archive inside the
  sandbox and installs only the local project (``--no-deps``, built against the
  cached build environment).

Poisoning rules (see docs/performance.md):

* the host never opens an environment archive: it stores the bytes the sandbox
  wrote and mounts them read-only into later sandboxes, where ``tar`` unpacks
  them; nothing in it is ever executed or unpacked on the host;
* an archive is only ever mounted into sandboxes of the *same repository* (and
  the same service submission): the repository identity is part of the key and
  names the folder that is mounted, so one supplier's environment never reaches
  another supplier's run;
* only plans whose dependencies are known statically are cached: when the
  dependencies come from metadata built in the sandbox (``setup.py``), supplier
  code has run before the install and could have tampered with it;
* entries are capped in size, and each repository keeps its few most recently
  used environments.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from acceptance.safefs import write_atomic

#: bump when the meaning of an entry changes: old entries are then never matched
FORMAT = 1
#: a resolution is reused for this long; after it, the index is asked again
RESOLUTION_TTL = 6 * 3600.0
#: an environment archive larger than this is not kept (the sandbox's venv can be big)
MAX_ENVIRONMENT_BYTES = 256 * 1024**2
#: environments kept per repository (least recently used go first)
KEEP_PER_REPOSITORY = 3
#: all repositories' environments together; beyond it the least recently used go
#: (ACCEPTANCE_ENV_CACHE_SIZE)
MAX_TOTAL_BYTES = 8 * 1024**3
#: a repository's environments unused for this long are removed (swept at most hourly)
MAX_IDLE_SECONDS = 14 * 24 * 3600.0
_SWEEP_EVERY = 3600.0
#: where a repository's environment folder is mounted in the sandbox (read-only)
MOUNT = "/envcache"
WORK = "/work"
VENV = f"{WORK}/venv"
BUILD_ENV = f"{WORK}/buildenv"
#: a folder holding only a link to the image's pip, for PYTHONPATH
PIP_SHIM = f"{WORK}/.pip-shim"

_HEX = frozenset("0123456789abcdef")


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


# ---------------------------------------------------------------- resolutions


@dataclass(frozen=True)
class Resolution:
    """The wheels one requirement list resolved to: ``(file name, size)`` pairs, sorted."""

    wheels: tuple[tuple[str, int], ...]
    created: float

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.wheels)


def resolution_key(requirements: Sequence[str], python_version: str | None) -> str:
    """The key of a download request: its requirement lines, in order, and the Python version."""
    return _digest({"format": FORMAT, "python": python_version, "requirements": list(requirements)})


class ResolutionCache:
    """Resolved requirement lists, so an unchanged list is not resolved (downloaded) again."""

    def __init__(self, root: Path, wheels: Path, ttl: float = RESOLUTION_TTL) -> None:
        self.root = root
        self.wheels = wheels
        self.ttl = ttl

    def get(
        self, requirements: Sequence[str], python_version: str | None, *, now: float | None = None
    ) -> Resolution | None:
        """The cached resolution when it is fresh and every wheel is still cached."""
        data = _read_json(self.root / f"{resolution_key(requirements, python_version)}.json")
        if data is None:
            return None
        try:
            wheels = tuple((str(name), int(size)) for name, size in data["wheels"])
            created = float(data["created"])
        except (KeyError, TypeError, ValueError):
            return None
        age = (time.time() if now is None else now) - created
        if not 0 <= age < self.ttl or not wheels:
            return None
        for name, size in wheels:
            if "/" in name or name.startswith("."):
                return None
            try:
                found = (self.wheels / name).lstat()
            except OSError:
                return None
            if found.st_size != size or not (self.wheels / name).is_file():
                return None
        return Resolution(wheels, created)

    def put(
        self, requirements: Sequence[str], python_version: str | None, files: Iterable[Path]
    ) -> Resolution:
        """Remember what REQUIREMENTS resolved to (the files ``download_wheels`` returned)."""
        wheels = tuple(sorted((path.name, path.stat().st_size) for path in files))
        resolution = Resolution(wheels, time.time())
        record = {
            "format": FORMAT,
            "created": resolution.created,
            "python": python_version,
            "requirements": list(requirements),
            "wheels": [list(item) for item in wheels],
        }
        write_atomic(
            self.root / f"{resolution_key(requirements, python_version)}.json",
            json.dumps(record, indent=1).encode(),
        )
        return resolution


# ---------------------------------------------------------------- prepared environments


def repository_identity(source: str, context: Mapping[str, object] | None = None) -> str:
    """Who an environment belongs to: the normalised source and, in the service, the submission.

    Environments are only ever reused within one identity.
    """
    submission = (context or {}).get("submission")
    return _digest({"source": source, "submission": str(submission) if submission else None})[:32]


def not_cacheable(needs_sandbox_metadata: bool, requirements: Sequence[str]) -> str | None:
    """Why a plan's environment must not be cached, or None when it may be."""
    if needs_sandbox_metadata:
        return "the dependencies are computed by the submission's own code in the sandbox"
    if not requirements:
        return "there are no dependencies to prepare"
    return None


def environment_key(
    *,
    image_id: str,
    python_version: str | None,
    repository: str,
    requirements: Sequence[str],
    build_requirements: Sequence[str],
    resolution: Resolution,
) -> str:
    """The key of a prepared environment: everything that decides what pip put into it."""
    return _digest(
        {
            "format": FORMAT,
            "image": image_id,
            "python": python_version,
            "repository": repository,
            "requirements": list(requirements),
            "build_requirements": list(build_requirements),
            "wheels": [list(item) for item in resolution.wheels],
        }
    )


@dataclass(frozen=True)
class Environment:
    """A stored environment: its archive (mounted into the sandbox) and what it holds."""

    key: str
    archive: Path
    #: the validated ``(name, version)`` pairs of the run venv's distributions
    installed: tuple[tuple[str, str], ...]
    has_build_env: bool
    size: int

    @property
    def mounted_archive(self) -> str:
        """The archive's path inside the sandbox."""
        return f"{MOUNT}/{self.archive.name}"


class EnvironmentCache:
    """Prepared environments by repository; the host only stores and mounts their archives."""

    def __init__(
        self,
        root: Path,
        max_bytes: int = MAX_ENVIRONMENT_BYTES,
        keep: int = KEEP_PER_REPOSITORY,
        max_total_bytes: int = MAX_TOTAL_BYTES,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.keep = keep
        self.max_total_bytes = max_total_bytes

    def folder(self, repository: str) -> Path:
        """The repository's folder, created readable by the sandbox user (mounted read-only)."""
        if not repository or not set(repository) <= _HEX:
            raise ValueError("a repository identity is a hex digest")
        folder = self.root / repository
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
        return folder

    def get(self, repository: str, key: str) -> Environment | None:
        """The environment stored under KEY for REPOSITORY, if complete; marks it used."""
        folder = self.root / repository
        meta = _read_json(folder / f"{key}.json")
        archive = folder / f"{key}.tar"
        if meta is None or meta.get("key") != key:
            return None
        try:
            size = archive.lstat().st_size
            installed = tuple((str(n), str(v)) for n, v in meta["installed"])
            has_build_env = bool(meta["has_build_env"])
        except (OSError, KeyError, TypeError, ValueError):
            return None
        if size != meta.get("size") or not archive.is_file():
            return None
        now = time.time()
        os.utime(folder / f"{key}.json", (now, now))
        return Environment(key, archive, installed, has_build_env, size)

    def put(
        self,
        repository: str,
        key: str,
        archive: bytes,
        *,
        has_build_env: bool,
        installed: Sequence[tuple[str, str]] = (),
        details: Mapping[str, object] | None = None,
    ) -> Environment | None:
        """Store an exported environment; None when it is larger than allowed."""
        if len(archive) > min(self.max_bytes, self.max_total_bytes) or not archive:
            return None
        folder = self.folder(repository)
        path = folder / f"{key}.tar"
        write_atomic(path, archive)
        meta = {
            "format": FORMAT,
            "key": key,
            "created": time.time(),
            "size": len(archive),
            "sha256": hashlib.sha256(archive).hexdigest(),
            "installed": [list(item) for item in installed],
            "has_build_env": has_build_env,
            **(details or {}),
        }
        # The metadata last: an entry without it is never used.
        write_atomic(folder / f"{key}.json", json.dumps(meta, indent=1).encode())
        self._prune(folder)
        self._cap_total(keep=folder / f"{key}.json")
        self.sweep()
        return Environment(key, path, tuple(installed), has_build_env, len(archive))

    def sweep(self, *, now: float | None = None, force: bool = False) -> int:
        """Remove environments no run used for MAX_IDLE_SECONDS; returns how many went.

        Runs at most once an hour (a marker file's age says when it last ran).
        """
        now = time.time() if now is None else now
        marker = self.root / ".swept"
        if not force and now - _mtime(marker) < _SWEEP_EVERY:
            return 0
        self.root.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.utime(marker, (now, now))
        removed = 0
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.is_symlink():
                continue
            for meta in folder.glob("*.json"):
                if ".licences-" in meta.name or now - _mtime(meta) < MAX_IDLE_SECONDS:
                    continue
                key = meta.name.removesuffix(".json")
                for path in folder.glob(f"{key}*"):
                    path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _cap_total(self, keep: Path) -> int:
        """Remove the least recently used environments of any repository until all of
        them fit in max_total_bytes (never `keep`, the one just stored); how many went."""
        entries: list[tuple[float, Path, int]] = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.is_symlink():
                continue
            for meta in folder.glob("*.json"):
                if ".licences-" in meta.name:
                    continue
                archive = meta.with_suffix(".tar")
                try:
                    size = archive.lstat().st_size
                except OSError:
                    size = 0
                entries.append((_mtime(meta), meta, size))
        total = sum(size for _, _, size in entries)
        removed = 0
        for _, meta, size in sorted(entries, key=lambda entry: entry[0]):
            if total <= self.max_total_bytes:
                break
            if meta == keep:
                continue
            _remove_entry(meta)
            total -= size
            removed += 1
        return removed

    def _prune(self, folder: Path) -> None:
        entries = sorted(folder.glob("*.json"), key=_mtime, reverse=True)
        for stale in entries[self.keep :]:
            key = stale.name.removesuffix(".json")
            for path in folder.glob(f"{key}*"):
                path.unlink(missing_ok=True)

    # -- dependency licences listed in an environment ----------------------------

    def licences(self, repository: str, key: str, project_licence: str) -> bytes | None:
        """The dependency-licence listing stored for this environment and project licence."""
        path = self.root / repository / f"{key}.licences-{_digest(project_licence)[:16]}.json"
        try:
            return path.read_bytes()
        except OSError:
            return None

    def put_licences(self, repository: str, key: str, project_licence: str, listing: bytes) -> None:
        if (self.root / repository / f"{key}.json").exists():
            write_atomic(
                self.root / repository / f"{key}.licences-{_digest(project_licence)[:16]}.json",
                listing,
            )


def _remove_entry(meta: Path) -> None:
    """An environment's metadata first (so it is never half-used), then its files."""
    key = meta.name.removesuffix(".json")
    meta.unlink(missing_ok=True)
    for path in meta.parent.glob(f"{key}*"):
        path.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# ---------------------------------------------------------------- sandbox commands


def export_command(with_build_env: bool) -> list[str]:
    """argv that writes the prepared environment to stdout as an uncompressed tar."""
    dirs = "venv buildenv" if with_build_env else "venv"
    # stderr would be mixed into the stream: it goes nowhere, the exit code tells.
    return ["sh", "-c", f"cd {WORK} && exec tar -cf - {dirs} 2>/dev/null"]


def restore_command(environment: Environment) -> list[str]:
    """argv that unpacks a stored environment into /work (inside the sandbox only)."""
    return [
        "sh", "-c",
        f"set -e; rm -rf {VENV} {BUILD_ENV}; tar -xf {environment.mounted_archive} -C {WORK}",
    ]  # fmt: skip


def build_env_command(tools_pip: str, wheels: str, build_requirements: Sequence[str]) -> list[str]:
    """argv that creates the build environment from wheels (no build, nothing of the submission).

    TOOLS_PIP is the image's pip package folder: linked into PIP_SHIM and put on
    PYTHONPATH, it runs in the new environment's own interpreter (what
    ``pip --python`` does, without starting a second interpreter first).
    """
    return [
        "sh", "-c",
        f"set -e; python3 -m venv --without-pip {BUILD_ENV}; mkdir -p {PIP_SHIM}; "
        f'ln -sfn {tools_pip} {PIP_SHIM}/pip; PYTHONPATH={PIP_SHIM} exec "$@"', "sh",
        f"{BUILD_ENV}/bin/python", "-m", "pip", "install",
        "--no-index", "--find-links", wheels, "--progress-bar", "off", "--no-cache-dir",
        "--only-binary", ":all:", "--", *build_requirements,
    ]  # fmt: skip


def build_env_path(python_version: str | None) -> str:
    """The build environment's site-packages, put on PYTHONPATH for builds without isolation."""
    version = python_version if python_version else "3"
    return f"{BUILD_ENV}/lib/python{version}/site-packages"


def local_names(installed: Iterable[Mapping[str, object]]) -> frozenset[str]:
    """Canonical names of the distributions installed from the checkout (``local`` entries)."""
    return frozenset(
        canonicalize_name(str(item["name"]))
        for item in installed
        if item.get("local") is True and isinstance(item.get("name"), str)
    )
