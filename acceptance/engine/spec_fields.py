"""The spec's error and the field readers every section shares (keys, booleans, lists, sizes)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from acceptance.errors import UserInputError
from acceptance.quoting import (
    CONTROL_RE,
    describe,
    describe_int,
    encodable,
    field_path,
    format_size,
    printable_text,
    shorten,
)
from acceptance.sizes import parse_size

MAX_PATHS = 1_000
MAX_PATH_CHARS = 4_096
#: one file or folder name, as Linux file systems allow
MAX_NAME_BYTES = 255
MAX_SIZE = 1024**4
_HINT = (
    "fix each listed field in the acceptance spec (YAML); the README's 'Acceptance spec' "
    "section documents every field, its type and its default"
)


class SpecError(UserInputError):
    """The acceptance spec is unreadable or invalid; ``problems`` lists every fault."""

    code = "spec:invalid"

    def __init__(
        self, problems: Iterable[str], *, origin: str = "<string>", hint: str | None = None
    ) -> None:
        # Messages quote user text; make sure they can always be printed and logged.
        clean = (printable_text(problem) for problem in problems)
        unique = tuple(dict.fromkeys(clean)) or ("spec: invalid",)
        self.problems: tuple[str, ...] = unique
        self.origin = printable_text(origin)
        listing = "\n".join(f"  - {problem}" for problem in unique)
        super().__init__(f"invalid acceptance spec {self.origin}:\n{listing}", hint=hint or _HINT)


def read_section(
    document: dict[object, object], key: str, allowed: tuple[str, ...], problems: list[str]
) -> dict[str, object]:
    """Return the mapping under ``key`` (empty when absent or null) after checking its keys."""
    value = document.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{key}: must be a mapping of keys, got {describe(value)}")
        return {}
    check_keys(value, key, allowed, problems)
    return {k: v for k, v in value.items() if isinstance(k, str)}


def check_keys(
    mapping: dict[object, object], path: str, allowed: tuple[str, ...], problems: list[str]
) -> None:
    """Report every key of ``mapping`` not in ``allowed``, with a close match when there is one."""
    for key in mapping:
        if key in allowed:
            continue
        suggestion = ""
        if isinstance(key, str):
            close = difflib.get_close_matches(key, allowed, n=1)
            if close:
                suggestion = f"did you mean {close[0]!r}? "
        problems.append(
            f"{field_path(path, key)}: unknown key; {suggestion}allowed keys: {', '.join(allowed)}"
        )


def choice_field(
    section: dict[str, object],
    key: str,
    parent: str,
    default: str,
    choices: tuple[str, ...],
    problems: list[str],
) -> str:
    """Validate a field that must be one of ``choices`` (case-insensitive, stripped)."""
    if key not in section:
        return default
    value = section[key]
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    hint = ""
    if isinstance(value, bool) or value is None:
        # YAML reads unquoted yes/no/on/off/true/false as booleans and an empty value as null.
        hint = f"; write one of the words, e.g. `{key}: {default}`"
    problems.append(
        f"{parent}.{key}: must be one of {', '.join(choices)}, got {describe(value)}{hint}"
    )
    return default


def path_problem(file_part: str, whole: str) -> str | None:
    """Explain why a path is not a safe relative POSIX path, or return ``None``."""
    if not whole.strip():
        return "must not be empty"
    if len(whole) > MAX_PATH_CHARS:
        return f"must be at most {MAX_PATH_CHARS} characters"
    if "\x00" in whole:
        return "must not contain NUL characters"
    if CONTROL_RE.search(whole):
        return "must not contain control characters"
    if not encodable(whole):
        return "must be valid UTF-8"
    if whole.startswith("-"):
        return "must not start with '-' (it would be read as a command-line option)"
    if file_part.startswith(("/", "~")) or "\\" in file_part or re.match(r"[A-Za-z]:", file_part):
        return "must be a relative POSIX path (forward slashes, no leading '/', '~' or drive)"
    if ".." in PurePosixPath(file_part).parts:
        return "must not contain '..' components; it has to stay inside its folder"
    return None


def read_switchable(
    value: object, where: str, allowed: tuple[str, ...], problems: list[str]
) -> tuple[bool, dict[str, object] | None]:
    """Read a check written as a mapping, ``true``/``false`` or null (on with defaults).

    Returns ``(enabled, mapping)``; the mapping is ``None`` when there are no fields to read.
    """
    if value is None or value is True:
        return True, None
    if value is False:
        return False, None
    if not isinstance(value, dict):
        problems.append(
            f"{where}: must be a mapping of keys, true (on with defaults) or false (off), "
            f"got {describe(value)}"
        )
        return True, None
    check_keys(value, where, allowed, problems)
    section = {k: v for k, v in value.items() if isinstance(k, str)}
    return bool_field(section, "enabled", where, True, problems), section


def bool_field(
    section: dict[str, object], key: str, parent: str, default: bool, problems: list[str]
) -> bool:
    """Validate a field that must be exactly ``true`` or ``false``."""
    if key not in section:
        return default
    value = section[key]
    if not isinstance(value, bool):
        problems.append(f"{parent}.{key}: must be true or false, got {describe(value)}")
        return default
    return value


def string_list(
    section: dict[str, object],
    key: str,
    parent: str,
    problems: list[str],
    *,
    expected: str,
    example: str,
    max_items: int,
    item_problem: Callable[[str], str | None],
    identity: Callable[[str], str],
) -> tuple[str, ...] | None:
    """Validate a list of strings: ``None`` when absent or null, valid items otherwise.

    ``item_problem`` explains why one item is invalid; items with the same ``identity``
    are reported as duplicates.
    """
    value = section.get(key)
    where = f"{parent}.{key}"
    if value is None:
        return None
    if not isinstance(value, list):
        brackets = f"; write it in brackets, e.g. {example}" if isinstance(value, str) else ""
        problems.append(f"{where}: must be {expected}, got {describe(value)}{brackets}")
        return ()
    if len(value) > max_items:
        problems.append(f"{where}: at most {max_items} entries, got {len(value)}")
        return ()
    items: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(f"{where}[{index}]: must be a string, got {describe(item)}")
            continue
        reason = item_problem(item)
        if reason is not None:
            problems.append(f"{where}[{index}]: {reason}, got {shorten(item)}")
            continue
        same = seen.setdefault(identity(item), index)
        if same != index:
            problems.append(
                f"{where}[{index}]: {shorten(item)} duplicates {where}[{same}]; list it once"
            )
            continue
        items.append(item)
    return tuple(items)


def int_field(
    section: dict[str, object],
    key: str,
    parent: str,
    default: int,
    problems: list[str],
    *,
    minimum: int,
    maximum: int,
    expected: str,
) -> int:
    """Validate an integer field (bool is rejected) within ``[minimum, maximum]``."""
    if key not in section:
        return default
    value = section[key]
    where = f"{parent}.{key}"
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{where}: must be {expected}, got {describe(value)}")
        return default
    if value < minimum:
        problems.append(f"{where}: must be {expected}, got {describe_int(value)}")
        return default
    if value > maximum:
        problems.append(f"{where}: must be at most {maximum}, got {describe_int(value)}")
        return default
    return value


def size_field(
    section: dict[str, object], key: str, default: int, minimum: int, problems: list[str]
) -> int:
    """Validate a ``limits`` size field given as bytes or a size string."""
    if key not in section:
        return default
    where = f"limits.{key}"
    value = section[key]
    try:
        size = parse_size(value)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
        return default
    if size < minimum:
        problems.append(f"{where}: must be at least {format_size(minimum)}, got {describe(value)}")
        return default
    if size > MAX_SIZE:
        problems.append(f"{where}: must be at most {format_size(MAX_SIZE)}, got {describe(value)}")
        return default
    return size
