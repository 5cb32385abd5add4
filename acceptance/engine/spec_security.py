"""The spec's `security` section: the SAST and dependency-audit options."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from acceptance.engine.spec_fields import (
    MAX_PATHS,
    bool_field,
    check_keys,
    path_problem,
    read_switchable,
    string_list,
)
from acceptance.quoting import describe
from checks.options import DependencyAuditSpec, SastSpec, Severity

MAX_ADVISORY_IGNORES = 1_000
#: ``security.dependencies.max_data_age``: from one hour to ten years, in seconds
MIN_DATA_AGE = 3600
MAX_DATA_AGE = 3650 * 86400
SECURITY_KEYS = ("sast", "dependencies")
SAST_KEYS = ("enabled", "fail_on", "confidence", "exclude", "allow_suppressions")
AUDIT_KEYS = ("enabled", "fail_on_vulnerabilities", "ignore", "max_data_age")
# fullmatch only: `$` would also accept a trailing newline.
ADVISORY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{1,99}")
_AGE_RE = re.compile(r" *(?P<number>\d{1,7}) *(?P<unit>[hdw]?) *", re.IGNORECASE)
#: seconds per unit of an age; no unit counts days
_AGE_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}


@dataclass(frozen=True)
class SecuritySpec:
    """The security checks; both on by default."""

    sast: SastSpec = field(default_factory=SastSpec)
    dependencies: DependencyAuditSpec = field(default_factory=DependencyAuditSpec)


def read_security(value: object, problems: list[str]) -> SecuritySpec:
    """Validate the ``security`` section; ``true``/``false`` switch both checks on or off."""
    if value is None or value is True:
        return SecuritySpec()
    if value is False:
        return SecuritySpec(
            sast=SastSpec(enabled=False), dependencies=DependencyAuditSpec(enabled=False)
        )
    if not isinstance(value, dict):
        problems.append(
            f"security: must be a mapping of keys, true or false, got {describe(value)}"
        )
        return SecuritySpec()
    check_keys(value, "security", SECURITY_KEYS, problems)
    return SecuritySpec(
        sast=_sast(value.get("sast"), problems),
        dependencies=_dependency_audit(value.get("dependencies"), problems),
    )


def _sast(value: object, problems: list[str]) -> SastSpec:
    """Validate ``security.sast``."""
    where = "security.sast"
    default = SastSpec()
    enabled, section = read_switchable(value, where, SAST_KEYS, problems)
    if section is None:
        return SastSpec(enabled=enabled)
    exclude = string_list(
        section,
        "exclude",
        where,
        problems,
        expected="a list of relative paths inside the checkout",
        example="[tests, docs]",
        max_items=MAX_PATHS,
        item_problem=_exclude_problem,
        identity=lambda item: str(PurePosixPath(item)),
    )
    return SastSpec(
        enabled=enabled,
        fail_on=_severity_field(section, "fail_on", where, default.fail_on, problems),
        confidence=_severity_field(section, "confidence", where, default.confidence, problems),
        exclude=default.exclude if exclude is None else exclude,
        allow_suppressions=bool_field(
            section, "allow_suppressions", where, default.allow_suppressions, problems
        ),
    )


def _dependency_audit(value: object, problems: list[str]) -> DependencyAuditSpec:
    """Validate ``security.dependencies``."""
    where = "security.dependencies"
    default = DependencyAuditSpec()
    enabled, section = read_switchable(value, where, AUDIT_KEYS, problems)
    if section is None:
        return DependencyAuditSpec(enabled=enabled)
    ignore = string_list(
        section,
        "ignore",
        where,
        problems,
        expected="a list of advisory ids or aliases",
        example="[PYSEC-2023-74]",
        max_items=MAX_ADVISORY_IGNORES,
        item_problem=_advisory_problem,
        identity=str.casefold,
    )
    return DependencyAuditSpec(
        enabled=enabled,
        fail_on_vulnerabilities=bool_field(
            section, "fail_on_vulnerabilities", where, default.fail_on_vulnerabilities, problems
        ),
        ignore=default.ignore if ignore is None else ignore,
        max_data_age=_age_field(section, "max_data_age", where, problems),
    )


def _age_field(
    section: dict[str, object], key: str, parent: str, problems: list[str]
) -> int | None:
    """Validate an age field (see ``parse_age``); absent means no limit."""
    if key not in section:
        return None
    try:
        return parse_age(section[key])
    except (TypeError, ValueError) as exc:
        problems.append(f"{parent}.{key}: {exc}")
        return None


def parse_age(value: object) -> int:
    """Seconds in an age: ``"12h"`` (hours), ``"30d"`` (days), ``"2w"`` (weeks), or whole days.

    A bare integer (``30`` or ``"30"``) counts days. From one hour to ten years.
    Raises ``TypeError`` or ``ValueError`` with a person-readable reason otherwise.
    """
    expected = "an age like '30d', '12h' or '2w' (a bare number counts days)"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"must be {expected}, got {describe(value)}")
    match = _AGE_RE.fullmatch(value) if isinstance(value, str) else None
    if isinstance(value, int):
        seconds = value * 86400
    elif match is None:
        raise ValueError(f"must be {expected}, got {describe(value)}")
    else:
        seconds = int(match["number"]) * _AGE_UNITS[match["unit"].lower()]
    if seconds < MIN_DATA_AGE:
        raise ValueError(f"must be at least 1 hour ('1h'), got {describe(value)}")
    if seconds > MAX_DATA_AGE:
        raise ValueError(f"must be at most 10 years ('3650d'), got {describe(value)}")
    return seconds


def _severity_field(
    section: dict[str, object], key: str, parent: str, default: Severity, problems: list[str]
) -> Severity:
    """Validate a bandit severity or confidence level, case-insensitively."""
    if key not in section:
        return default
    value = section[key]
    if isinstance(value, str):
        try:
            return Severity(value.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(level.value for level in Severity)
    hint = ""
    if isinstance(value, bool):
        # YAML reads unquoted no/off/false as a boolean.
        hint = f"; to turn the check off write `{parent.rpartition('.')[2]}: false`"
    problems.append(f"{parent}.{key}: must be one of {allowed}, got {describe(value)}{hint}")
    return default


def _exclude_problem(item: str) -> str | None:
    """Explain why ``item`` cannot be a ``security.sast.exclude`` path, or return ``None``."""
    reason = path_problem(item, item)
    if reason is None and not PurePosixPath(item).parts:
        return (
            "must name a path inside the checkout, not the checkout itself; "
            "to turn the check off write `sast: false`"
        )
    return reason


def _advisory_problem(item: str) -> str | None:
    """Explain why ``item`` is not an advisory id or alias, or return ``None``."""
    if ADVISORY_RE.fullmatch(item):
        return None
    return (
        "must be an advisory id or alias such as PYSEC-2023-74, GHSA-xxxx-xxxx-xxxx or "
        "CVE-2023-32681 (2 to 100 letters, digits, '.', '_', ':' or '-', starting with a "
        "letter or digit)"
    )
