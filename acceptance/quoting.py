"""How a spec problem quotes user text: short, printable, single-line descriptions."""

from __future__ import annotations

import datetime
import re

CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def field_path(path: str, key: object) -> str:
    """Dotted field path of ``key`` under ``path``."""
    if isinstance(key, str):
        plain = key and not CONTROL_RE.search(key) and len(key) <= 60 and encodable(key)
        name = key if plain else shorten(key)
    elif key is None or isinstance(key, bool):
        name = describe(key).removeprefix("boolean ")
    elif isinstance(key, int):
        name = describe_int(key)
    elif isinstance(key, float):
        name = repr(key)
    else:
        name = f"<{describe(key)}>"
    return f"{path}.{name}" if path else name


def describe(value: object) -> str:
    """Short, single-line description of a YAML value for problem messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {describe_int(value)}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {shorten(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"date {value.isoformat()}"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    if isinstance(value, (set, frozenset)):
        return "a set (!!set)"
    if isinstance(value, tuple):
        return "ordered pairs (!!omap or !!pairs)"
    return f"a value of type {type(value).__name__}"


def describe_int(value: int) -> str:
    """Digits of ``value``, or a placeholder when it is too large to print usefully."""
    return str(value) if value.bit_length() <= 128 else "(a very large integer)"


def shorten(text: str) -> str:
    """Quoted, escaped and truncated form of user text for messages."""
    if len(text) > 60:
        return repr(text[:60]) + "..."
    return repr(text)


def one_line(text: str) -> str:
    """Collapse whitespace so a message stays on one line."""
    return " ".join(text.split())


def encodable(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_text(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def os_reason(exc: BaseException) -> str:
    """Human reason from an OS-level error without a traceback."""
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return one_line(str(exc)) or type(exc).__name__


def format_size(size: int) -> str:
    """Render a byte count with the largest exact binary unit."""
    for unit, power in (("t", 4), ("g", 3), ("m", 2), ("k", 1)):
        if size % 1024**power == 0:
            return f"{size // 1024**power}{unit}"
    return f"{size} bytes"
