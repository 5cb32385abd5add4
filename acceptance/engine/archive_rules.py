"""What an archive member may be called, and the caps an archive must fit under.

Every refusal is an ArchiveError naming the offending member and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from acceptance.errors import UserInputError

MAX_FILES: Final = 2000
MAX_TOTAL_BYTES: Final = 50 * 1024 * 1024
MAX_FILE_BYTES: Final = 10 * 1024 * 1024
MAX_DEPTH: Final = 32
#: the archive itself, before decompression
MAX_ARCHIVE_BYTES: Final = 64 * 1024 * 1024
#: a member's whole name and each of its path components, in UTF-8 bytes
MAX_NAME_BYTES: Final = 1024
MAX_COMPONENT_BYTES: Final = 255

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"[A-Za-z]:")

REMAKE_HINT = (
    "re-create the archive from a plain folder of test files (tar -czf hidden.tar.gz -C DIR .)"
)


class ArchiveError(UserInputError):
    """The uploaded archive is refused; ``member`` names the offending entry, if any."""

    code = "input:invalid-archive"

    def __init__(self, message: str, *, member: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.member = member


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """The caps one extraction enforces."""

    max_files: int
    max_total_bytes: int
    max_file_bytes: int
    max_depth: int

    @property
    def max_entries(self) -> int:
        """Files plus explicit folder entries; folders are cheap but not free."""
        return 2 * self.max_files


def shown_name(name: str) -> str:
    """A member name fit for a message: escaped, and short."""
    return repr(name if len(name) <= 120 else name[:120] + "...")


def member_parts(name: str, limits: ArchiveLimits) -> tuple[str, ...]:
    """The path components of a member name, or ArchiveError saying what is wrong with it."""
    shown = shown_name(name)

    def refuse(why: str, hint: str = REMAKE_HINT) -> ArchiveError:
        return ArchiveError(f"member {shown}: {why}", member=name, hint=hint)

    if not name:
        raise refuse("the name is empty")
    if _CONTROL.search(name):
        raise refuse("the name contains a NUL or control character")
    if "\\" in name:
        raise refuse("the name contains a backslash", "create the archive with a tool that uses /")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse("the name is not valid UTF-8") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise refuse(f"the name is longer than {MAX_NAME_BYTES} bytes")
    if name.startswith("/") or _DRIVE.match(name):
        raise refuse("the path is absolute", "archive paths relative to the folder of tests")
    # "./" and empty components are what `tar -C DIR .` writes; they change nothing.
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise refuse("the path contains '..'", "archive paths relative to the folder of tests")
    if len(parts) > limits.max_depth:
        raise refuse(f"the path is nested deeper than {limits.max_depth} folders")
    if any(len(part.encode("utf-8")) > MAX_COMPONENT_BYTES for part in parts):
        raise refuse(f"a path component is longer than {MAX_COMPONENT_BYTES} bytes")
    return parts
