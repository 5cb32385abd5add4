"""ScanCode's reading of a licence text, and what copyright lines add to a notice."""

from __future__ import annotations

import importlib
import re
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

from checks import licence_texts, notices
from checks.licence_evidence import printable
from checks.licence_expressions import canonical_expression

#: ScanCode's own time budget per text, seconds
DETECTION_SECONDS = 60.0

# A line that states who holds the copyright (it varies by project, so it is not licence
# text), or one that only starts like it: checks.notices tells the notice from added terms.
_COPYRIGHT_LINE = re.compile(
    r"(?i)^[\s#*/>|-]*(copyright\b|\(c\)|©|all rights reserved|portions copyright"
    r"|spdx-filecopyrighttext|(authors?|contributors?)\s*:)"
)
_WORD = re.compile(r"[A-Za-z0-9]+")
_DECORATION = re.compile(r"^[\s=\-_*#~`+.]*$")


@dataclass(frozen=True)
class TextMatch:
    """ScanCode's reading of one text."""

    spdx: str | None
    score: float | None
    extra_words: int
    rules: tuple[str, ...]
    #: what copyright lines say beyond a notice, 'line N: "words"' (see checks.notices)
    notice_terms: tuple[str, ...] = ()


_index_lock = threading.Lock()
_scancode: tuple[Any, Any] | None = None


def _scancode_api() -> tuple[Any, Any]:
    """(detect_licenses, build_spdx_license_expression); the index loads once per process."""
    global _scancode
    with _index_lock:
        if _scancode is None:
            with warnings.catch_warnings():
                # typecode prefers its own libmagic plugin; the system one is fine for text
                warnings.filterwarnings("ignore", message=".*libmagic.*", category=UserWarning)
                detection = importlib.import_module("licensedcode.detection")
                cache = importlib.import_module("licensedcode.cache")
            cache.get_index()  # ~5-10 s and ~1.4 GB the first time in a process
            _scancode = (detection.detect_licenses, cache.build_spdx_license_expression)
        return _scancode


def detect_text(text: str) -> TextMatch:
    """Identify the licence(s) in ``text`` with ScanCode; ``spdx`` None when nothing matched."""
    detect_licenses, to_spdx = _scancode_api()
    detections = list(detect_licenses(query_string=text, deadline=time.time() + DETECTION_SECONDS))
    expressions: list[str] = []
    scores: list[float] = []
    rules: list[str] = []
    covered: set[int] = set()
    inner_extra = 0
    for detection in detections:
        if not detection.license_expression:
            continue  # a clue (a bare word such as "GPL"), not a licence
        spdx = str(to_spdx(detection.license_expression))
        if spdx not in expressions:
            expressions.append(spdx)
        for match in detection.matches:
            scores.append(float(match.score()))
            rules.append(str(match.rule.identifier))
            start, end = match.lines()
            covered.update(range(int(start), int(end) + 1))
            # tokens inside the matched region that are not part of the licence text
            inner_extra += max(0, int(match.qmagnitude()) - int(match.len()))
    terms = _notice_terms(text, covered)
    if not expressions:
        return TextMatch(None, None, _extra_words(text, covered), (), terms)
    spdx = expressions[0] if len(expressions) == 1 else " AND ".join(f"({e})" for e in expressions)
    return TextMatch(
        spdx=canonical_expression(spdx) or spdx,
        score=min(scores) if scores else None,
        extra_words=inner_extra + _extra_words(text, covered),
        rules=tuple(rules[:10]),
        notice_terms=terms,
    )


def verbatim(text: str) -> TextMatch | None:
    """ScanCode's answer for an unmodified well-known licence text, without its index."""
    found = licence_texts.match_verbatim(text)
    if found is None:
        return None
    return TextMatch(canonical_expression(found.spdx) or found.spdx, 100.0, 0, (found.rule,))


def _notice_terms(text: str, covered: set[int]) -> tuple[str, ...]:
    """What copyright lines add to their notice, as 'line N: "words"'.

    ScanCode matches licence text and leaves copyright lines out of its score, and
    :func:`_extra_words` sets them aside too; so every line laid out as a notice, and
    every uncovered line that starts like one ("Copyright holders may revoke..."), must
    be a notice and nothing more.
    """
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        starts_like_one = number not in covered and _COPYRIGHT_LINE.search(line)
        if notices.is_notice_line(line) or starts_like_one:
            beyond = notices.terms_beyond_notice(line)
            if beyond:
                found.append(f'line {number}: "{printable(beyond, notices.MAX_QUOTED)}"')
    return tuple(found[:10])


def _extra_words(text: str, covered: set[int]) -> int:
    """Words on lines no licence match covers, copyright and decoration lines aside."""
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if number in covered or _DECORATION.match(line) or _COPYRIGHT_LINE.search(line):
            continue
        count += len(_WORD.findall(line))
    return count
