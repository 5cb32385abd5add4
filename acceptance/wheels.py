"""Download pre-built wheels for validated requirements into a shared cache.

Only wheels are ever fetched (``--only-binary=:all:``), so no build code of any
package runs on the host. pip is given a requirements file that this module
writes itself from validated lines, never a supplier's file, and it uses only
the host's own pip configuration for its package sources; ``--find-links`` on
the cache lets earlier downloads be reused.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from acceptance.dependencies import DEPENDENCY_UNAVAILABLE, UNSUPPORTED_REQUIREMENT, DependencyError
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


def _classify_failure(stderr: str) -> Exception:
    """Turn pip's failure output into a SubmissionError or PlatformError."""
    if any(pattern in stderr for pattern in _NETWORK_PATTERNS):
        # Checked first: an unreachable index also ends with "No matching distribution".
        return PlatformError(f"the package index could not be reached:\n{_tail(stderr)}")
    match = _UNAVAILABLE_RE.search(stderr)
    if match:
        requirement = match["req"]
        return DependencyError(
            DEPENDENCY_UNAVAILABLE,
            f"no installable wheel found for {requirement}: the acceptance service installs "
            "pre-built wheels only, so a package (or version) published only as source "
            "cannot be installed",
            hint=(
                f"Choose a version of {requirement} that ships wheels for this Python, "
                "or vendor its code into the repository."
            ),
        )
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
            raise _classify_failure(completed.stderr + "\n" + completed.stdout)
        files = [_publish(path, cache_dir) for path in sorted(dest.iterdir()) if _is_wheel(path)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return DownloadResult(files=tuple(files), seconds=time.monotonic() - started)
