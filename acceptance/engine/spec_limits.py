"""The spec's `install` and `limits` sections: what is installed and the sandbox's limits."""

from __future__ import annotations

import math
from dataclasses import dataclass

from acceptance.engine.spec_fields import int_field, size_field
from acceptance.quoting import describe

MAX_REQUIREMENT_CHARS = 4_096
MAX_REQUIREMENTS = 1_000
MAX_TIMEOUT = 7 * 24 * 3600
MAX_CPUS = 64.0
INSTALL_KEYS = ("requirements",)
LIMIT_KEYS = ("cpus", "memory", "pids", "timeout", "disk", "output")


@dataclass(frozen=True)
class InstallSpec:
    """What to install before testing; ``None`` requirements means detect from the project."""

    requirements: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Limits:
    """Sandbox resource limits for one run (sizes in bytes, times in seconds)."""

    cpus: float = 1.0
    memory: int = 1024**3
    pids: int = 256
    timeout: int = 900
    disk: int = 1024**3
    output: int = 10 * 1024**2


def read_install(section: dict[str, object], problems: list[str]) -> InstallSpec:
    """Validate the ``install`` section."""
    where = "install.requirements"
    value = section.get("requirements")
    if value is None:
        return InstallSpec()
    if not isinstance(value, list):
        problems.append(f"{where}: must be a list of requirement strings, got {describe(value)}")
        return InstallSpec()
    if len(value) > MAX_REQUIREMENTS:
        problems.append(f"{where}: at most {MAX_REQUIREMENTS} entries, got {len(value)}")
        return InstallSpec()
    requirements: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(f"{where}[{index}]: must be a string, got {describe(item)}")
        elif not item.strip():
            problems.append(f"{where}[{index}]: must not be empty")
        elif any(c in item for c in "\x00\n\r"):
            problems.append(f"{where}[{index}]: must be one line without NUL characters")
        elif len(item) > MAX_REQUIREMENT_CHARS:
            problems.append(
                f"{where}[{index}]: must be at most {MAX_REQUIREMENT_CHARS} characters, "
                f"got {len(item)}"
            )
        else:
            requirements.append(item.strip())
    return InstallSpec(requirements=tuple(requirements))


def read_limits(section: dict[str, object], problems: list[str]) -> Limits:
    """Validate the ``limits`` section."""
    default = Limits()
    return Limits(
        cpus=_cpus(section, default.cpus, problems),
        memory=size_field(section, "memory", default.memory, 64 * 1024**2, problems),
        pids=int_field(
            section,
            "pids",
            "limits",
            default.pids,
            problems,
            minimum=16,
            maximum=65536,
            expected="an integer between 16 and 65536",
        ),
        timeout=int_field(
            section,
            "timeout",
            "limits",
            default.timeout,
            problems,
            minimum=1,
            maximum=MAX_TIMEOUT,
            expected="a positive integer number of seconds",
        ),
        disk=size_field(section, "disk", default.disk, 16 * 1024**2, problems),
        output=size_field(section, "output", default.output, 64 * 1024, problems),
    )


def _cpus(section: dict[str, object], default: float, problems: list[str]) -> float:
    """Validate ``limits.cpus``: a number of CPUs in (0, 64]."""
    if "cpus" not in section:
        return default
    value = section["cpus"]
    expected = f"a number of CPUs greater than 0 and at most {MAX_CPUS:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"limits.cpus: must be {expected}, got {describe(value)}")
        return default
    # isfinite() only for floats: converting a huge int to float would overflow.
    if isinstance(value, float) and not math.isfinite(value) or not 0 < value <= MAX_CPUS:
        problems.append(f"limits.cpus: must be {expected}, got {describe(value)}")
        return default
    return float(value)
