"""Supplier-controlled text made inert for a page: no terminal escapes, controls or bidi tricks.

HTML is escaped by Jinja's autoescaping; this removes what escaping does not:
ANSI escape sequences (colour codes in logs and test output), control
characters, and the bidirectional overrides that can make a test name or log
line read differently from what it is ("Trojan Source").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte escapes, then C0/C1 controls
# except tab and newline; the 8-bit CSI (\x9b) is covered by the C1 range.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
)
# Directional embeddings, overrides and isolates: shown as a visible replacement mark.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_LINE_ENDINGS = re.compile(r"\r\n?")


def inert(value: object, limit: int | None = None) -> str:
    """`value` as plain text safe to show: escapes stripped, bidi controls made visible."""
    if value is None:
        return ""
    text = _LINE_ENDINGS.sub("\n", str(value))
    text = _BIDI.sub("\ufffd", _ESCAPES.sub("", text))
    if limit is not None and len(text) > limit:
        return text[:limit] + "…"
    return text


@dataclass(frozen=True)
class Excerpt:
    """The end of a long text, for showing on a page; the whole text is downloadable."""

    text: str
    shown_lines: int
    total_lines: int

    @property
    def truncated(self) -> bool:
        """Whether lines were left out."""
        return self.shown_lines < self.total_lines


def tail(value: str, max_lines: int = 200, max_chars: int = 20_000) -> Excerpt:
    """The last `max_lines` lines (at most `max_chars` characters) of a log, made inert."""
    lines = inert(value).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    kept = lines[-max_lines:]
    while len(kept) > 1 and sum(len(line) + 1 for line in kept) > max_chars:
        kept = kept[1:]
    if kept and len(kept[0]) > max_chars:
        kept[0] = "…" + kept[0][-max_chars:]
    return Excerpt("\n".join(kept), len(kept), len(lines))
