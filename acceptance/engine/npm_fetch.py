"""Fetching a Node.js delivery's packages on the host, with no supplier code run (issue 16).

A folder prepared for an earlier run from the same lockfile is reused (prepared_key) and
checked again, so a re-push that changes only code fetches nothing; the prepared folders
are capped and evicted like the Python environments (acceptance/engine/npm_prepared.py).

Only the delivery's package.json and lockfile are copied into a clean folder; npm runs
there with lifecycle scripts off, an engine-written empty config (the delivery's .npmrc
is never read), the engine's registry, and its cache under the engine's cache folder
(npm's cache is content-addressed: a tarball is verified against the lockfile's
integrity hash). The node_modules it writes is then checked against the lockfile,
folder by folder, before it is copied into the sandbox, where `npm rebuild` runs the
install scripts offline as the sandbox user.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

from acceptance.engine import envcache, npm_prepared
from acceptance.engine.npm_lockfile import NPM_REGISTRY, LockedPackage, NpmProject
from acceptance.errors import PlatformError, SubmissionError
from checks.npm_licences import declared_licence

MAX_PACKAGE_JSON_BYTES = 1024**2
MAX_ENTRIES = 400_000
INSTALL_MISMATCH = "NPM_INSTALL_MISMATCH"
#: prepared node_modules, one folder per prepared_key, under the engine's cache folder
PREPARED_DIR = "node-modules"
#: the package.json fields `npm ci` reads besides the lockfile
_KEY_FIELDS = (
    "dependencies", "devDependencies", "optionalDependencies", "peerDependencies",
    "peerDependenciesMeta", "bundleDependencies", "bundledDependencies", "overrides",
)  # fmt: skip
#: npm's error codes for a registry it cannot reach: the platform's fault, not the supplier's
_NETWORK_ERRORS = ("ENOTFOUND", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN", "ECONNRESET", "E5")
#: the host's npm with a fixed PATH, HOME in the work folder, and no npm_config_* variables
_PATH = "/usr/local/bin:/usr/bin:/bin"
#: the host's trust store (Debian's ca-certificates, with any CA the machine's operator
#: added): npm otherwise trusts only the CAs built into Node
SYSTEM_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class FetchedModules:
    """The checked node_modules folder and what it holds."""

    project_dir: Path
    installed: tuple[LockedPackage, ...]
    npm_version: str
    seconds: float
    size: int
    #: prepared for an earlier run from the same lockfile, and checked again now
    reused: bool = False
    #: the registry the packages come from (the engine's)
    registry: str = NPM_REGISTRY


def npm_ci_command(
    project_dir: Path,
    empty_configs: tuple[Path, Path],
    cache: Path,
    registry: str = NPM_REGISTRY,
) -> list[str]:
    """`npm ci` with nothing of the delivery's but its package.json and lockfile.

    `--replace-registry-host=npmjs` (npm's default, said aloud): lockfile URLs under
    NPM_REGISTRY are fetched from `registry` instead, so a mirror gets every request.
    """
    return [
        "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier",
        "--no-bin-links", "--include=dev", "--include=optional", "--loglevel=error",
        f"--userconfig={empty_configs[0]}", f"--globalconfig={empty_configs[1]}",
        f"--registry={registry}", "--replace-registry-host=npmjs",
        f"--cache={cache}", "--prefer-offline",
        f"--prefix={project_dir}",
        *([f"--cafile={SYSTEM_CA}"] if SYSTEM_CA.is_file() else []),
    ]  # fmt: skip


def fetch_node_modules(
    project: NpmProject,
    work: Path,
    cache_dir: Path,
    *,
    timeout: float,
    max_bytes: int,
    registry: str = NPM_REGISTRY,
    max_total_bytes: int = envcache.MAX_TOTAL_BYTES,
) -> FetchedModules:
    """The checked node_modules for the project's lockfile: prepared before, or fetched now.

    `npm ci` runs on the host in `work`; what it wrote is checked against the lockfile and
    kept under `cache_dir`, keyed by what it was made from (prepared_key), so a re-push
    that changes only code reuses it: linked into `work` and checked again as a fresh one
    is. The kept folders together stay under `max_total_bytes` (npm_prepared).
    """
    project_dir = work / "project"
    home = work / "home"
    project_dir.mkdir(parents=True)
    home.mkdir()
    env = {"PATH": _PATH, "HOME": str(home), "LANG": "C.UTF-8", "NO_COLOR": "1"}
    if shutil.which("npm", path=_PATH) is None:
        raise PlatformError("npm is not installed on the host", hint="apt-get install -y npm")
    version = (
        subprocess.run(
            ["npm", "--version"],
            capture_output=True,
            env=env,
            cwd=project_dir,
            timeout=60,
            check=False,
        )
        .stdout.decode(errors="replace")
        .strip()[:40]
    )
    prepared = cache_dir / PREPARED_DIR / prepared_key(project, version, registry)
    started = time.monotonic()
    reused = work / "prepared"
    if npm_prepared.reuse(prepared, reused):
        size = _check_tree(reused / "node_modules", max_bytes)
        installed = check_installed(reused, project.packages)
        seconds = time.monotonic() - started
        return FetchedModules(reused, installed, version, seconds, size, True, registry)
    (project_dir / "package.json").write_bytes(project.manifest)
    (project_dir / project.lockfile_name).write_bytes(project.lockfile)
    # npm refuses one file as both: two empty files, written by the engine
    empty = (work / "npmrc-user", work / "npmrc-global")
    for path in empty:
        path.write_bytes(b"")
    cache = cache_dir / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            npm_ci_command(project_dir, empty, cache, registry), cwd=project_dir, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise SubmissionError(
            "TIMEOUT", f"fetching the npm packages took longer than {timeout:.0f} s"
        ) from exc
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = _clean((done.stderr or done.stdout)[-1500:])
        if any(code in tail for code in _NETWORK_ERRORS):
            raise PlatformError(f"the npm registry could not be reached: {tail}")
        raise SubmissionError("INSTALL_FAILED", f"npm ci failed on the locked packages: {tail}")
    size = _check_tree(project_dir / "node_modules", max_bytes)
    installed = check_installed(project_dir, project.packages)
    npm_prepared.publish(project_dir, prepared, size, max_total_bytes)
    return FetchedModules(project_dir, installed, version, seconds, size, registry=registry)


def prepared_key(project: NpmProject, npm_version: str, registry: str = NPM_REGISTRY) -> str:
    """What a prepared node_modules depends on: the lockfile, package.json's dependency
    fields (not its scripts or version), the registry and the host's npm."""
    manifest = json.loads(project.manifest)
    fields = {k: manifest.get(k) for k in _KEY_FIELDS if k in manifest}
    inputs = {
        "format": 1,
        "lockfile": [project.lockfile_name, hashlib.sha256(project.lockfile).hexdigest()],
        "manifest": fields,
        "registry": registry,
        "npm": npm_version,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]


def check_installed(
    project_dir: Path, packages: tuple[LockedPackage, ...]
) -> tuple[LockedPackage, ...]:
    """The locked packages found installed, each folder's package.json agreeing with the lock.

    A folder whose name or version differs from the lockfile's, a required package
    missing, or a package folder the lockfile does not list refuses the install
    (`NPM_INSTALL_MISMATCH`): what is audited must be what runs.
    """
    wanted = {p.path: p for p in packages}
    installed: list[LockedPackage] = []
    for package in packages:
        folder = project_dir / package.path
        manifest = _read_manifest(folder / "package.json")
        if manifest is None:
            if package.optional:  # an optional package for another platform is skipped
                continue
            raise SubmissionError(
                INSTALL_MISMATCH, f"the lockfile's {package.path} was not installed by npm ci"
            )
        name, version = manifest.get("name"), manifest.get("version")
        if name != package.name or version != package.version:
            raise SubmissionError(
                INSTALL_MISMATCH,
                f"{package.path} holds {_show(name)}@{_show(version)} but the lockfile says "
                f"{package.name}@{package.version}",
            )
        installed.append(replace(package, licence=declared_licence(manifest)))
    for found in _package_folders(project_dir / "node_modules", project_dir):
        if found not in wanted:
            raise SubmissionError(
                INSTALL_MISMATCH, f"{found} was installed but the lockfile does not list it"
            )
    return tuple(installed)


def _package_folders(node_modules: Path, root: Path) -> list[str]:
    """Every package folder under `node_modules` (nested ones too), relative to `root`."""
    found: list[str] = []
    queue = [node_modules]
    while queue:
        folder = queue.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith("@"):
                scoped = sorted(os.scandir(entry.path), key=lambda e: e.name)
                dirs = [e for e in scoped if e.is_dir(follow_symlinks=False)]
            else:
                dirs = [entry]
            for pkg in dirs:
                found.append(os.path.relpath(pkg.path, root))
                nested = Path(pkg.path) / "node_modules"
                if nested.is_dir() and not nested.is_symlink():
                    queue.append(nested)
    return found


def _check_tree(node_modules: Path, max_bytes: int) -> int:
    """The folder's size in bytes; no link anywhere (npm ran with --no-bin-links), capped."""
    total = 0
    entries = 0
    for folder, dirs, files in os.walk(node_modules):
        for name in dirs + files:
            entries += 1
            info = os.lstat(os.path.join(folder, name))
            if stat.S_ISLNK(info.st_mode):
                raise SubmissionError(
                    INSTALL_MISMATCH,
                    f"npm ci wrote a link at {os.path.relpath(os.path.join(folder, name), node_modules)}",
                )
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
        if total > max_bytes or entries > MAX_ENTRIES:
            raise SubmissionError(
                "DISK_LIMIT",
                f"the locked npm packages take more than the spec's disk limit "
                f"({max_bytes // 1024**2} MiB) or more than {MAX_ENTRIES} files",
            )
    return total


def _read_manifest(path: Path) -> dict[str, object] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        data = handle.read(MAX_PACKAGE_JSON_BYTES + 1)
    try:
        document = json.loads(data) if len(data) <= MAX_PACKAGE_JSON_BYTES else None
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _clean(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text).strip()


def _show(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:80]
