"""Sizes as people write them ("512m", "1.5GiB", bytes): one reader for specs and settings."""

from __future__ import annotations

import math
import re
from fractions import Fraction

from acceptance.quoting import describe

_SIZE_RE = re.compile(
    r"(?P<number>\d{1,15}(?:\.\d{1,9})?)\s*(?:(?P<unit>[kmgt])(?:i?b)?|b)?", re.IGNORECASE
)
_UNIT_POWER = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(value: object) -> int:
    """Convert bytes (int) or a size string like ``"512m"``/``"1.5GiB"`` to bytes (powers of 1024).

    Raises ``TypeError`` or ``ValueError`` with a person-readable reason for anything else.
    """
    expected = "a size in bytes or a string like '512m', '1g' or '1.5GiB'"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"must be {expected}, got {describe(value)}")
    if isinstance(value, int):
        size = value
    else:
        text = value.strip()
        match = _SIZE_RE.fullmatch(text)
        if text.startswith("-"):
            raise ValueError(f"must be positive, got {describe(value)}")
        if match is None:
            raise ValueError(f"must be {expected} (units k, m, g, t), got {describe(value)}")
        unit = (match.group("unit") or "").lower()
        exact = Fraction(match.group("number")) * 1024 ** _UNIT_POWER.get(unit, 0)
        size = math.floor(exact)
    if size <= 0:
        raise ValueError(f"must be positive, got {describe(value)}")
    return size
