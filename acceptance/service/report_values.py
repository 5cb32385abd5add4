"""Values read out of an untrusted report: typed, capped, never raising.

A report's JSON is built partly from what the supplier's code printed, so
every reader of it for the supplier's view takes only the type it expects,
and cuts strings to a cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_ID = 500
MAX_MESSAGE = 4000


def pick(item: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Only `keys`, each a JSON scalar or a list of strings (anything else becomes None)."""
    return {key: scalar(item.get(key)) for key in keys}


def scalar(value: object) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        return [as_str(v, MAX_ID) for v in value[:50]]
    return as_str(value, MAX_MESSAGE)


def text_id(value: object) -> str:
    return as_str(value, MAX_ID)


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object, limit: int | None = None) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value)
    return text[:limit] if limit is not None else text


def as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
