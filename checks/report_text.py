"""Text a tool read from the delivery puts in a report: printable, one line, capped.

Every scanner's findings quote the supplier's code, paths and messages; the
dashboard, emails and forges show them, so each is cleaned the same way.
"""

from __future__ import annotations

import re
import unicodedata

#: findings listed one by one in a check's details (the counts cover all)
MAX_LISTED_FINDINGS = 500
#: characters of a message or snippet kept
MAX_TEXT_CHARS = 500
#: characters of a path kept
MAX_PATH_CHARS = 1_000

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# C0/C1 controls, DEL, lone surrogates, and the format characters (bidi overrides,
# zero-width joiners...) that make text display differently from what it is.
_STRIP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def clean_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Printable text: ANSI sequences, control and format characters removed, capped."""
    text = _ANSI_RE.sub("", text[: limit * 4])
    text = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in text
        if ch in "\t\n\r" or unicodedata.category(ch) not in _STRIP_CATEGORIES
    )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
