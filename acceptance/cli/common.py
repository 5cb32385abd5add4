"""What every `acceptance` command shares: its exit codes and terminal-safe text."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

EXIT_ACCEPTED = 0

EXIT_REJECTED = 1

EXIT_BAD_INPUT = 2

EXIT_PLATFORM = 3

EXIT_CODES_HELP = """exit codes:
  check:  0 accepted, 1 rejected, 2 bad input (spec, arguments, unreachable or
          invalid source), 3 could not judge (Docker down, image missing)
  verify: 0 intact signature by the given key (and, with --artifacts, every
          file matches the report; with --with-report, the decision rests on
          that report), 1 verification failed, a file is missing, changed or
          extra, or the report is not the one the decision names,
          2 unreadable report, key or folder
  doctor: 0 ready, 3 something is missing (each line says how to fix it)
"""

_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def clean(text: object) -> str:
    """Supplier-controlled text made safe for a terminal (no escape sequences)."""
    return _CONTROL.sub("", str(text))
