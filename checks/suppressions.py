"""Linter suppression comments in Python: what each one silences and whether it says why.

The quality check runs ruff with ``--ignore-noqa``, so ruff honours no suppression of the
supplier's; the engine reads them itself (the comments are collected with ``tokenize``
inside the sandbox, so strings that merely contain ``# noqa`` do not count) and decides
here, on the host, which ones the owner's spec lets stand.

The forms ruff knows, case-insensitive, anywhere in a comment:

* ``# noqa`` (blanket) and ``# noqa: E501, F401``: the line;
* ``# ruff: noqa`` / ``# flake8: noqa`` (blanket) and ``# ruff: noqa: F401``: the file;
* ``# ruff: ignore[F401]``: the line; ``# ruff: file-ignore[F401]``: the file;
* ``# ruff: disable[E501]`` ... ``# ruff: enable[E501]``: the lines between (or to the end);
* isort's action comments, which ruff honours whatever ``--ignore-noqa`` says, and so are
  suppressions of ``I001`` like any other: ``# isort: skip_file`` (the file), ``# isort: off``
  ... ``# isort: on`` (the lines between), ``# isort: skip`` and ``# isort: split`` (the
  line), also after ``ruff:``.

A suppression is *justified* when it names the rules it silences and gives a reason of
at least ``MIN_REASON_WORDS`` words after `` -- ``: ``# noqa: E501 -- the URL cannot be
split``. A blanket suppression is never justified: it silences rules nobody named.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MIN_REASON_WORDS = 3
MAX_REASON_CHARS = 300

_CODE = r"[A-Za-z]{1,6}[0-9]{1,5}"
_CODES = rf"{_CODE}(?:\s*,\s*{_CODE}|\s+{_CODE})*"
# noqa comments for a line, with or without codes, and the file-wide ruff/flake8 ones.
_NOQA_RE = re.compile(
    rf"#\s*(?:(?P<tool>ruff|flake8)\s*:\s*)?noqa(?P<colon>\s*:\s*(?P<codes>{_CODES})?)?",
    re.IGNORECASE,
)
# ruff's bracket forms (ignore, file-ignore, disable, enable) with codes or rule names.
_BRACKET_RE = re.compile(
    r"#\s*ruff\s*:\s*(?P<action>file-ignore|ignore|disable|enable)\s*\[(?P<names>[^\]\n]{0,500})\]",
    re.IGNORECASE,
)
# isort's action comments, which ruff honours even with --ignore-noqa (alone or after `ruff:`):
# they silence the import-sorting rule for the file, a block or one statement.
_ISORT_RE = re.compile(
    r"#\s*(?:ruff\s*:\s*)?isort\s*:\s*(?P<action>skip_file|skip-file|off|on|split|skip)\b",
    re.IGNORECASE,
)
#: what an isort action comment silences: ruff's unsorted-imports rule
ISORT_RULES = ("I001",)
_NAME_RE = re.compile(rf"{_CODE}|[a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z]+", re.IGNORECASE)
# The reason runs to the end of the comment or to the next directive (`# type: ignore`...).
_REASON_RE = re.compile(r"\s*--\s+(?P<reason>.*?)(?=\s#\s*(?:noqa\b|[A-Za-z0-9_-]+\s*:)|$)", re.I)
_WORD_RE = re.compile(r"\w*[^\W\d_]\w*")


class Scope(str, enum.Enum):
    """How far a suppression reaches."""

    LINE = "line"
    FILE = "file"
    RANGE = "range"


@dataclass(frozen=True)
class Suppression:
    """One suppression comment: where it is, what it silences and the reason it gives."""

    file: str
    line: int
    scope: Scope
    #: rule codes (upper case) or rule names (lower case); empty for a blanket suppression
    rules: tuple[str, ...]
    reason: str | None
    #: the directive as written, normalised: `noqa`, `ruff: noqa`, `ruff: ignore`...
    directive: str
    #: the last line a range covers (a `ruff: disable` without its `enable` runs to the end)
    end_line: int | None = None

    @property
    def blanket(self) -> bool:
        """Silences every rule."""
        return not self.rules

    @property
    def justified(self) -> bool:
        """Names its rules and says why in at least MIN_REASON_WORDS words."""
        return bool(self.rules) and self.reason is not None

    def covers(self, file: str, line: int, code: str, name: str) -> bool:
        """Whether this suppression would silence the finding ``code``/``name`` at ``line``."""
        if file != self.file:
            return False
        if self.rules and code.upper() not in self.rules and name.lower() not in self.rules:
            return False
        if self.scope is Scope.FILE:
            return True
        if self.scope is Scope.RANGE:
            return self.line <= line <= (self.end_line if self.end_line is not None else line)
        return line == self.line

    def to_report(self) -> dict[str, object]:
        """The suppression as listed in the check's details."""
        return {
            "file": self.file,
            "line": self.line,
            "scope": self.scope.value,
            "directive": self.directive,
            "rules": list(self.rules),
            "reason": self.reason,
            "justified": self.justified,
            **({"end_line": self.end_line} if self.scope is Scope.RANGE else {}),
        }


@dataclass(frozen=True)
class _Directive:
    line: int
    scope: Scope | None  # None: `ruff: enable`
    rules: tuple[str, ...]
    reason: str | None
    directive: str


def parse_comment(text: str, line: int) -> list[_Directive]:
    """Every suppression directive in one comment token (``# ...``), in order."""
    found: list[tuple[int, _Directive]] = []
    for match in _NOQA_RE.finditer(text):
        tool = (match["tool"] or "").lower()
        codes = tuple(c.upper() for c in re.findall(_CODE, match["codes"] or ""))
        directive = f"{tool}: noqa" if tool else "noqa"
        scope: Scope | None = Scope.FILE if tool else Scope.LINE
        reason = _reason(text[match.end() :]) if codes else None
        found.append((match.start(), _Directive(line, scope, codes, reason, directive)))
    for match in _BRACKET_RE.finditer(text):
        action = match["action"].lower()
        names = tuple(_rule_name(n) for n in _NAME_RE.findall(match["names"]))
        scope = {
            "ignore": Scope.LINE,
            "file-ignore": Scope.FILE,
            "disable": Scope.RANGE,
            "enable": None,
        }[action]
        reason = _reason(text[match.end() :]) if names else None
        found.append((match.start(), _Directive(line, scope, names, reason, f"ruff: {action}")))
    for match in _ISORT_RE.finditer(text):
        action = match["action"].lower().replace("-", "_")
        scope = {
            "skip": Scope.LINE,
            # cuts the import block in two: imports out of order across it raise nothing
            "split": Scope.LINE,
            "skip_file": Scope.FILE,
            "off": Scope.RANGE,
            "on": None,
        }[action]
        reason = _reason(text[match.end() :])
        found.append(
            (match.start(), _Directive(line, scope, ISORT_RULES, reason, f"isort: {action}"))
        )
    return [directive for _, directive in sorted(found, key=lambda item: item[0])]


def suppressions_in_file(file: str, comments: Iterable[tuple[int, str]]) -> list[Suppression]:
    """The suppressions of one file from its comments ``(line, text)``, ranges closed."""
    directives = [d for line, text in sorted(comments) for d in parse_comment(text, line)]
    result: list[Suppression] = []
    for index, item in enumerate(directives):
        if item.scope is None:
            continue
        end: int | None = None
        if item.scope is Scope.RANGE:
            closing = next(
                (
                    later.line
                    for later in directives[index + 1 :]
                    if later.scope is None and set(later.rules) == set(item.rules)
                ),
                None,
            )
            end = closing if closing is not None else 10**9
        result.append(
            Suppression(
                file=file,
                line=item.line,
                scope=item.scope,
                rules=item.rules,
                reason=item.reason,
                directive=item.directive,
                end_line=end,
            )
        )
    return result


def covering(
    suppressions: Sequence[Suppression], file: str, line: int, code: str, name: str
) -> Suppression | None:
    """The first suppression that silences this finding, or ``None``."""
    return next((s for s in suppressions if s.covers(file, line, code, name)), None)


def _rule_name(item: str) -> str:
    """Codes upper case (ruff's spelling), rule names lower case."""
    return item.upper() if re.fullmatch(_CODE, item) else item.lower()


def _reason(rest: str) -> str | None:
    """The reason after `` -- `` if it has enough words, else ``None``."""
    match = _REASON_RE.match(rest)
    if match is None:
        return None
    # The reason goes into the signed report and the dashboard: no surrogates (a
    # raw-unicode-escape file makes them), controls or invisible format characters.
    reason = " ".join(_printable(match["reason"]).split())
    if len(_WORD_RE.findall(reason)) < MIN_REASON_WORDS:
        return None
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def _printable(text: str) -> str:
    """``text`` without surrogate, control and format characters (each becomes a space)."""
    return "".join(" " if unicodedata.category(c) in ("Cs", "Cc", "Cf") else c for c in text)
