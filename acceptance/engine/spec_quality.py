"""The spec's `quality` section: the linter rules, the failing level and suppressions."""

from __future__ import annotations

from pathlib import PurePosixPath

from acceptance.engine.spec_fields import (
    MAX_PATHS,
    choice_field,
    path_problem,
    read_switchable,
    string_list,
)
from acceptance.quoting import describe
from checks import ruff_rules
from checks.options import QUALITY_DEFAULT_RULES, QualityLevel, QualitySpec

QUALITY_KEYS = ("enabled", "rules", "fail_on", "suppressions", "exclude")
#: ``quality.rules`` entries at most; ``default`` selects ruff's own default rule set
MAX_QUALITY_RULES = 200
#: values of ``quality.suppressions``: which in-source suppressions count
QUALITY_SUPPRESSIONS: tuple[str, ...] = ("justified", "allowed", "forbidden")
#: values of ``quality.fail_on`` besides the levels: ``any`` reads as the lowest level
QUALITY_ANY = "any"


def read_quality(value: object, problems: list[str]) -> QualitySpec:
    """Validate ``quality``: off when absent, null or false; ``true`` means the defaults."""
    where = "quality"
    default = QualitySpec()
    if value is None or value is False:
        return default
    enabled, section = read_switchable(value, where, QUALITY_KEYS, problems)
    if section is None:
        return QualitySpec(enabled=enabled)
    rules, default_rules = _quality_rules(section, problems)
    exclude = string_list(
        section,
        "exclude",
        where,
        problems,
        expected="a list of relative paths inside the checkout",
        example="[migrations, docs/conf.py]",
        max_items=MAX_PATHS,
        item_problem=_quality_exclude_problem,
        identity=lambda item: str(PurePosixPath(item)),
    )
    return QualitySpec(
        enabled=enabled,
        rules=rules,
        default_rules=default_rules,
        fail_on=_quality_level(section, problems),
        suppressions=choice_field(
            section, "suppressions", where, default.suppressions, QUALITY_SUPPRESSIONS, problems
        ),
        exclude=default.exclude if exclude is None else exclude,
    )


def _quality_rules(section: dict[str, object], problems: list[str]) -> tuple[tuple[str, ...], bool]:
    """``quality.rules``: ``default`` (ruff's default set) or a list of ruff selectors."""
    value = section.get("rules", "default")
    if isinstance(value, str) and value.strip().lower() == "default":
        return QUALITY_DEFAULT_RULES, True
    if value == []:
        problems.append(
            "quality.rules: an empty list would check nothing; write `default` or list ruff "
            "rule codes or prefixes such as [E, F, B]; to turn the check off write `quality: false`"
        )
        return QUALITY_DEFAULT_RULES, True
    rules = string_list(
        section,
        "rules",
        "quality",
        problems,
        expected="`default` or a list of ruff rule codes or prefixes",
        example="[E, F, B, S]",
        max_items=MAX_QUALITY_RULES,
        item_problem=quality_selector_problem,
        identity=lambda item: item.strip().upper(),
    )
    if not rules:
        if rules is None:
            problems.append(
                "quality.rules: must be `default` or a list of ruff rule codes or prefixes"
            )
        return QUALITY_DEFAULT_RULES, True
    return tuple(rule.strip().upper() for rule in rules), False


def quality_selector_problem(item: str) -> str | None:
    """Why ``item`` is not a selector of the pinned ruff's stable rules, or ``None``."""
    selector = item.strip().upper()
    if selector == "ALL":
        return None
    if not selector.isascii() or not selector.isalnum() or len(selector) > 12:
        return "must be a ruff rule code or prefix such as E501, F or PLR09"
    if selector in ruff_rules.PREVIEW_RULES:
        return (
            f"is a preview rule of ruff {ruff_rules.RUFF_VERSION}; the engine runs stable "
            "rules only"
        )
    # ruff still reads the legacy selectors C (C4 and C90) and T (T10 and T20).
    if selector in ruff_rules.LINTER_PREFIXES or selector in ("C", "T"):
        return None
    for code, prefix in ruff_rules.CODE_PREFIX.items():
        if code.startswith(selector) and len(selector) >= max(1, len(prefix)):
            return None
    return (
        f"is not a code or prefix of a stable rule of ruff {ruff_rules.RUFF_VERSION}; "
        "see https://docs.astral.sh/ruff/rules/"
    )


def _quality_level(section: dict[str, object], problems: list[str]) -> QualityLevel:
    """``quality.fail_on``: ``any`` or a level (style, warning, error), case-insensitive."""
    value = section.get("fail_on", QUALITY_ANY)
    if isinstance(value, str):
        word = value.strip().lower()
        if word == QUALITY_ANY:
            return QualityLevel.STYLE
        try:
            return QualityLevel(word)
        except ValueError:
            pass
    levels = ", ".join(level.value for level in QualityLevel)
    problems.append(
        f"quality.fail_on: must be {QUALITY_ANY} or one of {levels}, got {describe(value)}"
    )
    return QualityLevel.STYLE


def _quality_exclude_problem(item: str) -> str | None:
    """Why ``item`` cannot be a ``quality.exclude`` path, or ``None``."""
    reason = path_problem(item, item)
    if reason is None and not PurePosixPath(item).parts:
        return (
            "must name a path inside the checkout, not the checkout itself; "
            "to turn the check off write `quality: false`"
        )
    if reason is None and any(ch in item for ch in ",*?[]{}"):
        return "must be a plain path (no glob characters or commas)"
    return reason
