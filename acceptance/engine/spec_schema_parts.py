"""The JSON Schema building blocks the acceptance spec's schema is made of (spec_schema.py).

Each mirrors what the spec parser accepts for one kind of field: sizes, paths, choices
read case-insensitively, lists, switchable sections.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from acceptance import quoting
from acceptance.engine import spec as model

Schema = dict[str, Any]

# A size in bytes as ``parse_size`` reads it (powers of 1024; ``_SIZE_RE``, stripped).
SIZE_PATTERN = r"^\s*\d{1,15}(\.\d{1,9})?\s*([KkMmGgTt]([Ii]?[Bb])?|[Bb])?\s*$"
# An age as ``parse_age`` reads it (``_AGE_RE``: spaces only, a bare number counts days).
AGE_PATTERN = r"^ *\d{1,7} *[HhDdWw]? *$"
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
NOT_BLANK = r"\S"
# The folder itself: ".", "./", "./." (no parts once PurePosixPath reads it)
HERE = r"^(\./*)+$"

# Minimum sizes of the limits, as ``read_limits`` passes them to ``size_field``.
MIN_SIZES = {"memory": 64 * 1024**2, "disk": 16 * 1024**2, "output": 64 * 1024}


def title_pattern(max_chars: int) -> str:
    """Non-blank, one line, at most ``max_chars`` once surrounding spaces are stripped."""
    edge = r"[^\s\x00-\x1f\x7f]"
    inner = r"[^\x00-\x1f\x7f]"
    return rf"^\s*{edge}({inner}{{0,{max_chars - 2}}}{edge})?\s*$"


def defs() -> Schema:
    """Paths: relative, POSIX, inside their folder (the parser's ``path_problem``)."""
    return {
        "test_path": {
            "description": "a relative POSIX path or pytest node id (path::name)",
            "allOf": path_rules(node_id=True),
        },
        "folder": {
            "description": "a relative POSIX path to a folder",
            "allOf": [*path_rules(node_id=False), {"not": {"type": "string", "pattern": HERE}}],
        },
        "inside_path": {
            "description": "a relative POSIX path inside the checkout, not the checkout itself",
            "allOf": [*path_rules(node_id=False), {"not": {"type": "string", "pattern": HERE}}],
        },
    }


def path_rules(*, node_id: bool) -> list[Schema]:
    """A path that cannot leave its folder; for a node id only the part before ``::`` counts.

    No ``type``: where a path may also be null, the field says so.
    """
    # The file part: everything, or up to the first `::` of a node id.
    part = r"((?!::)[^\\])*" if node_id else r"[^\\]*"
    end = r"(::|$)" if node_id else "$"
    dots = r"^((?!::).)*(^|/)\.\.(/|::|$)" if node_id else r"(^|/)\.\.(/|$)"
    drive = r"^[A-Za-z]:(?!:)" if node_id else r"^[A-Za-z]:"
    return [
        {"maxLength": model.MAX_PATH_CHARS, "pattern": NOT_BLANK},
        {"pattern": NO_CONTROL},
        # not an option, not absolute, not from home, no drive, no backslash, no `..`
        {"pattern": r"^[^-/~]"},
        {"not": {"type": "string", "pattern": drive}},
        {"pattern": "^" + part + end},
        {"not": {"type": "string", "pattern": dots}},
    ]


def section(description: str) -> Schema:
    return {"description": description, "type": ["object", "null"]}


def switchable(description: str) -> Schema:
    return {
        "description": f"{description}; true (on with defaults), false (off) or a mapping",
        "type": ["object", "boolean", "null"],
    }


def nullable(schema: Schema) -> Schema:
    """``schema`` or null (the parser reads null as the default)."""
    kinds = schema["type"]
    return {**schema, "type": [*([kinds] if isinstance(kinds, str) else kinds), "null"]}


def array(items: Schema, max_items: int, description: str, *, unique: bool = True) -> Schema:
    """A list; ``unique`` where the parser refuses duplicates (it also compares case-insensitively
    or after stripping, so ``uniqueItems`` is the weaker rule)."""
    schema: Schema = {"description": description, "type": "array", "maxItems": max_items}
    if unique:
        schema["uniqueItems"] = True
    return {**schema, "items": items}


def integer(minimum: int, maximum: int, description: str) -> Schema:
    return {"description": description, "type": "integer", "minimum": minimum, "maximum": maximum}


def boolean(description: str) -> Schema:
    return {"description": description, "type": "boolean"}


def size(key: str) -> Schema:
    minimum = MIN_SIZES[key]
    return {
        "description": f"bytes, or a size such as '512m', '1g', '1.5GiB' (powers of 1024); "
        f"from {quoting.format_size(minimum)} to {quoting.format_size(model.MAX_SIZE)}",
        # minimum and maximum bind numbers only, pattern strings only
        "type": ["integer", "string"],
        "minimum": minimum,
        "maximum": model.MAX_SIZE,
        "pattern": SIZE_PATTERN,
    }


def choice(choices: Iterable[str], description: str) -> Schema:
    """One of ``choices``; the parser ignores case and surrounding spaces."""
    words = tuple(choices)
    return {
        "description": f"{description}: {', '.join(words)}",
        "type": "string",
        # `enum` is for editors' completion; the pattern is what the parser accepts.
        "anyOf": [{"enum": list(words)}, {"pattern": case_insensitive(words)}],
    }


def case_insensitive(words: Iterable[str]) -> str:
    """A pattern matching any of ``words`` in any case, with spaces around (no inline flags)."""

    def letters(word: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)

    return r"^\s*(" + "|".join(letters(word) for word in words) + r")\s*$"


def values(closed: type[enum.Enum]) -> tuple[str, ...]:
    return tuple(str(member.value) for member in closed)
