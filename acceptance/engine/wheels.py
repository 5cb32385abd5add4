"""Download pre-built wheels for validated requirements into a shared cache.

Only wheels are ever fetched (``--only-binary=:all:``), so no build code of any
package runs on the host. pip is given a requirements file that this module
writes itself from validated lines, never a supplier's file, and it uses only
the host's own pip configuration for its package sources; ``--find-links`` on
the cache lets earlier downloads be reused.

When pip finds nothing to install for a requirement, the index is asked (again
through pip: ``pip index versions``, which only reads its pages) what it
publishes under that name, so the message says which it is: no such project, no
such version, or no wheel for this Python and platform.

The cache is content-addressed by wheel file name: a file already present is
never rewritten, and new files are linked in atomically, so concurrent
downloads into the same cache are safe.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from acceptance.engine.install_plan import (
    DEPENDENCY_UNAVAILABLE,
    UNSUPPORTED_REQUIREMENT,
    DependencyError,
)
from acceptance.errors import PlatformError

_NETWORK_PATTERNS = (
    "Network is unreachable",
    "Connection refused",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Connection timed out",
    "Read timed out",
    "NewConnectionError",
    "SSLError",
)
_UNAVAILABLE_RE = re.compile(
    r"(?:No matching distribution found for|"
    r"Could not find a version that satisfies the requirement)\s+(?P<req>\S+)"
)
_CONFLICT_MARKERS = ("ResolutionImpossible", "conflicting dependencies")
#: ``pip index versions``: what the index publishes under one name
_PUBLISHED_RE = re.compile(r"^Available versions: (?P<versions>.+)$", re.MULTILINE)
_NOT_PUBLISHED = "No matching distribution found for"
_PROBE_TIMEOUT = 60.0
#: versions quoted in a message, newest first
_SHOWN_VERSIONS = 8
_PYTHON_VERSION_RE = re.compile(r"^3(?:\.\d{1,2})?$")
_STDERR_TAIL = 1500


@dataclass(frozen=True)
class DownloadResult:
    """The cached wheels that satisfy one request, and how long fetching took."""

    files: tuple[Path, ...]
    seconds: float


def _validated_lines(requirements: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for item in requirements:
        # Defence in depth: only a bare PEP 508 line may reach pip, never an option.
        if (
            not isinstance(item, str)
            or "\n" in item
            or "\r" in item
            or item.lstrip().startswith("-")
        ):
            raise DependencyError(UNSUPPORTED_REQUIREMENT, f"{item!r} is not a requirement line")
        try:
            req = Requirement(item)
        except InvalidRequirement:
            raise DependencyError(
                UNSUPPORTED_REQUIREMENT, f"{item!r} is not a valid requirement"
            ) from None
        if req.url:
            raise DependencyError(UNSUPPORTED_REQUIREMENT, f"{item!r} is a direct URL reference")
        lines.append(str(req))
    return lines


def _tail(text: str) -> str:
    return text.strip()[-_STDERR_TAIL:]


#: asks the index what it publishes under a project name (see ``published_versions``)
Probe = Callable[[str], list[str] | None]


def published_versions(name: str, timeout: float = _PROBE_TIMEOUT) -> list[str] | None:
    """Every version the index publishes as NAME, any format or Python, newest first.

    ``[]`` when the index has no project of that name; None when that cannot be
    told (index unreachable, pip failing otherwise). Only reads the index's pages.
    """
    command = [
        sys.executable, "-m", "pip", "index", "versions", "--pre", "--ignore-requires-python",
        "--no-input", "--disable-pip-version-check", name,
    ]  # fmt: skip
    try:
        completed = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            errors="replace", timeout=timeout, check=False,
        )  # fmt: skip
    except (subprocess.TimeoutExpired, OSError):
        return None
    return _parse_published(completed.returncode, completed.stdout, completed.stderr)


def _parse_published(code: int, stdout: str, stderr: str) -> list[str] | None:
    if any(pattern in stdout + stderr for pattern in _NETWORK_PATTERNS):
        return None
    found = _PUBLISHED_RE.search(stdout)
    if code == 0 and found:
        return [v.strip() for v in found["versions"].split(",") if v.strip()]
    if code != 0 and _NOT_PUBLISHED in stderr:
        return []
    return None


def _unavailable(requirement: str, python_version: str | None, probe: Probe) -> DependencyError:
    """Why pip found nothing to install for REQUIREMENT, from what the index publishes."""
    python = f"Python {python_version}" if python_version else "this Python"
    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        req = None
    published = probe(req.name) if req is not None else None
    if req is None or published is None:
        return DependencyError(
            DEPENDENCY_UNAVAILABLE,
            f"no installable wheel found for {requirement}: the package index offers no wheel "
            f"of it for {python} (the project or version may not exist there, or be published "
            "only as source), and the acceptance service installs pre-built wheels only",
            hint=f"Check {requirement} on the package index, or vendor its code into the repository.",
        )
    if not published:
        return DependencyError(
            DEPENDENCY_UNAVAILABLE,
            f"the requirement {requirement} names a project that does not exist on the package "
            f"index: nothing is published there as {req.name!r}",
            hint=(
                f"Check the spelling of {req.name!r} where the project declares its requirements, "
                "or vendor the code into the repository if it was never published."
            ),
        )
    versions = _versions(published)
    matching = list(req.specifier.filter(versions))
    if not matching:
        shown = ", ".join(str(v) for v in versions[:_SHOWN_VERSIONS])
        more = ", ..." if len(versions) > _SHOWN_VERSIONS else ""
        return DependencyError(
            DEPENDENCY_UNAVAILABLE,
            f"no published version of {req.name} matches {req.specifier or 'the requirement'} "
            f"(the package index has {shown or 'none'}{more})",
            hint=f"Require a version of {req.name} that is published.",
        )
    shown = ", ".join(str(v) for v in matching[:_SHOWN_VERSIONS])
    more = ", ..." if len(matching) > _SHOWN_VERSIONS else ""
    return DependencyError(
        DEPENDENCY_UNAVAILABLE,
        f"{req.name} is published on the package index (matching: {shown}{more}), but not as "
        f"a wheel for {python} on this platform (only as source, or as wheels for other Pythons "
        "or platforms), and the acceptance service installs pre-built wheels only",
        hint=(
            f"Choose a version of {req.name} that ships wheels for {python}, "
            "or vendor its code into the repository."
        ),
    )


def _versions(published: Sequence[str]) -> list[Version]:
    """The published versions that parse (newest first, as pip lists them)."""
    parsed: list[Version] = []
    for text in published:
        try:
            parsed.append(Version(text))
        except InvalidVersion:
            continue
    return sorted(set(parsed), reverse=True)


def _classify_failure(
    stderr: str, python_version: str | None = None, probe: Probe = published_versions
) -> Exception:
    """Turn pip's failure output into a SubmissionError or PlatformError."""
    if any(pattern in stderr for pattern in _NETWORK_PATTERNS):
        # Checked first: an unreachable index also ends with "No matching distribution".
        return PlatformError(f"the package index could not be reached:\n{_tail(stderr)}")
    match = _UNAVAILABLE_RE.search(stderr)
    if match:
        return _unavailable(match["req"], python_version, probe)
    if any(marker in stderr for marker in _CONFLICT_MARKERS):
        return DependencyError(
            DEPENDENCY_UNAVAILABLE,
            f"the requirements conflict with each other:\n{_tail(stderr)}",
            hint="Relax the version pins so one set of versions satisfies them all.",
        )
    return PlatformError(f"pip download failed:\n{_tail(stderr)}")


def _command(
    requirements_file: Path, dest: Path, cache_dir: Path, python_version: str | None
) -> list[str]:
    command = [
        sys.executable, "-m", "pip", "download",
        "--only-binary=:all:",
        "--dest", str(dest),
        "--progress-bar", "off",
        "--no-input",
        "--disable-pip-version-check",
        "--find-links", str(cache_dir),
    ]  # fmt: skip
    if python_version is not None:
        # pip derives the matching CPython ABI tags from the version; the platform
        # is the host's, which the sandbox image shares.
        command += ["--python-version", python_version, "--implementation", "cp"]
    return command + ["-r", str(requirements_file)]


def _is_wheel(path: Path) -> bool:
    if path.is_symlink() or not path.is_file() or not path.name.endswith(".whl"):
        return False
    try:
        parse_wheel_filename(path.name)
    except InvalidWheelFilename:
        return False
    return True


def _publish(source: Path, cache_dir: Path) -> Path:
    """Move a downloaded wheel into the cache without ever replacing an existing file."""
    target = cache_dir / source.name
    try:
        # link() fails if the name exists: atomic "create if absent", no clobbering.
        os.link(source, target)
    except FileExistsError:
        pass
    except OSError:
        # Filesystems without hard links: a rename is still atomic, only not no-clobber.
        if not target.exists():
            os.replace(source, target)
    return target


def download_wheels(
    requirements: Sequence[str],
    cache_dir: Path,
    *,
    python_version: str | None = None,
    timeout: float = 600,
) -> DownloadResult:
    """Fetch wheels for the requirements (and their dependencies) into ``cache_dir``."""
    lines = _validated_lines(requirements)
    if not lines:
        return DownloadResult(files=(), seconds=0.0)
    if python_version is not None and not _PYTHON_VERSION_RE.match(python_version):
        raise PlatformError(f"python_version {python_version!r} must look like '3.11'")
    cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # Inside the cache so the final link is on the same filesystem.
    work = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
    try:
        dest = work / "dest"
        dest.mkdir()
        requirements_file = work / "requirements.txt"
        requirements_file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        try:
            completed = subprocess.run(
                _command(requirements_file, dest, cache_dir, python_version),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                cwd=work,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PlatformError(
                f"downloading wheels did not finish within {timeout:g} seconds"
            ) from None
        except OSError as exc:
            raise PlatformError(f"pip could not be started: {exc}") from None
        if completed.returncode != 0:
            raise _classify_failure(completed.stderr + "\n" + completed.stdout, python_version)
        files = [_publish(path, cache_dir) for path in sorted(dest.iterdir()) if _is_wheel(path)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return DownloadResult(files=tuple(files), seconds=time.monotonic() - started)
