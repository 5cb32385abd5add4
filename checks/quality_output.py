"""The quality check's two outputs, read on the host: ruff's JSON and the driver's JSON.

Both come out of the sandbox, so both are hostile: they are read through byte caps and
validated item by item, paths are made relative to the checkout (invisible characters
spelled as escapes, so two files never look alike), text is cleaned and capped. Output
that is not what ruff or the driver writes raises ``InvalidOutput``; more findings than
the engine reads raises ``TooManyFindings`` (the delivery's doing, not the platform's).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from checks import ruff_rules
from checks.options import QualityLevel
from checks.report_text import MAX_PATH_CHARS, clean_text
from checks.suppressions import Suppression

#: characters a displayed path spells as an escape, so that two different files never look alike
_PATH_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

#: ruff's rule categories, ranked: what is wrong outright, what is likely wrong, what is taste
LEVEL_OF_CATEGORY: Mapping[str, QualityLevel] = {
    "correctness": QualityLevel.ERROR,
    "security": QualityLevel.ERROR,
    "suspicious": QualityLevel.WARNING,
    "performance": QualityLevel.WARNING,
    "complexity": QualityLevel.WARNING,
    "style": QualityLevel.STYLE,
    "formatting": QualityLevel.STYLE,
    "pedantic": QualityLevel.STYLE,
    "restriction": QualityLevel.STYLE,
}
_RUFF_CODE_RE = re.compile(r"[A-Z]{1,6}[0-9]{1,5}")
_RUFF_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_VERSION_RE = re.compile(r"ruff (\d+\.\d+\.\d+)")


MAX_RUFF_BYTES = 20 * 1024**2


MAX_DRIVER_BYTES = 20 * 1024**2


MAX_RESULTS = 100_000


MAX_COMMENTS = 50_000


MAX_COMMENT_CHARS = 2_000


MAX_FILES = 200_000


MAX_MESSAGE_CHARS = 300


RULE_URL_PREFIX = "https://docs.astral.sh/ruff/rules/"


#: ruff's code for a file it cannot parse
SYNTAX_ERROR = "invalid-syntax"


#: Rust's exit code for a panic; a negative code is a signal (a stack overflow aborts)
RUST_PANIC_EXIT = 101


_CRASH_WORDS = ("panicked", "overflowed its stack", "stack overflow", "fatal runtime error")


class InvalidOutput(Exception):
    """The output is not what ruff or the driver writes."""


class TooManyFindings(Exception):
    """ruff found more than the engine reads: the delivery, not the platform, is the cause."""


@dataclass(frozen=True)
class Finding:
    """One ruff finding (or a suppression the spec does not let stand), sanitised."""

    rule: str
    name: str
    level: QualityLevel
    file: str
    line: int
    column: int
    message: str
    url: str | None
    #: the suppression that silences it, when the spec lets that suppression stand
    suppressed_by: Suppression | None = None

    def to_report(self, blocking: bool) -> dict[str, object]:
        """The finding as listed in the check's details."""
        entry: dict[str, object] = {
            "rule": self.rule,
            "name": self.name,
            "level": self.level.value,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "url": self.url,
            "suppressed": self.suppressed_by is not None,
            "blocking": blocking,
        }
        if self.suppressed_by is not None:
            entry["suppression_reason"] = self.suppressed_by.reason
        return entry


@dataclass(frozen=True)
class DriverStatus:
    version: str
    lint_exit: int
    stderr: str
    files: int
    comments: dict[str, list[tuple[int, str]]]
    comment_errors: list[dict[str, str]]
    comments_truncated: bool
    #: (file, what is wrong) for each Python file not in UTF-8 or declaring another encoding
    encodings: list[tuple[str, str]]
    #: files ruff skipped with a "Failed to lint" warning (as ruff named them)
    unlinted: list[str]
    #: bytecode and extension modules (and anything in __pycache__): importable, never linted
    compiled: list[str]


def _load(data: bytes, limit: int, what: str) -> object:
    if not isinstance(data, bytes | bytearray):
        raise InvalidOutput(f"{what} is not bytes")
    if len(data) > limit:
        raise InvalidOutput(f"{what} is larger than {limit} bytes")
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidOutput(f"{what} is not valid JSON ({type(exc).__name__})") from None


def parse_driver(data: bytes, root: str) -> DriverStatus:
    doc = _load(data, MAX_DRIVER_BYTES, "the driver's report")
    if not isinstance(doc, dict):
        raise InvalidOutput("the driver's report is not an object")
    version_text = doc.get("version")
    match = _VERSION_RE.search(version_text) if isinstance(version_text, str) else None
    if match is None:
        raise InvalidOutput("ruff did not report its version (is it installed in the image?)")
    lint_exit, files, stderr = doc.get("lint_exit"), doc.get("files"), doc.get("lint_stderr", "")
    if not isinstance(lint_exit, int) or isinstance(lint_exit, bool):
        raise InvalidOutput("the driver's report has no ruff exit code")
    if not isinstance(files, int) or isinstance(files, bool) or not 0 <= files <= MAX_FILES:
        raise InvalidOutput("the driver's report has no file count")
    raw_comments, raw_errors = doc.get("comments"), doc.get("comment_errors", [])
    if not isinstance(raw_comments, list) or len(raw_comments) > MAX_COMMENTS:
        raise InvalidOutput("the driver's comments are not a list (or too many)")
    if not isinstance(raw_errors, list):
        raise InvalidOutput("the driver's comment errors are not a list")
    comments: dict[str, list[tuple[int, str]]] = {}
    for index, item in enumerate(raw_comments):
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], int)
            and not isinstance(item[1], bool)
            and 0 < item[1] < 10**9
            and isinstance(item[2], str)
        ):
            raise InvalidOutput(f"comments[{index}] is not [file, line, text]")
        # The comment's own text is parsed, not shown: only cap it; reasons are cleaned later.
        comments.setdefault(relpath(item[0], root), []).append(
            (item[1], item[2][:MAX_COMMENT_CHARS])
        )
    errors = [
        {"file": relpath(str(item[0]), root), "error": clean_text(str(item[1]), 100)}
        for item in raw_errors[:100]
        if isinstance(item, list) and len(item) == 2
    ]
    raw_encodings, raw_unlinted = doc.get("encodings"), doc.get("unlinted")
    if not isinstance(raw_encodings, list) or not isinstance(raw_unlinted, list):
        raise InvalidOutput("the driver's report has no encoding or skipped-file list")
    encodings = [
        (relpath(item[0], root), clean_text(item[1], 100))
        for item in raw_encodings[:1000]
        if isinstance(item, list) and len(item) == 2 and all(isinstance(i, str) for i in item)
    ]
    if len(encodings) != min(len(raw_encodings), 1000):
        raise InvalidOutput("the driver's encodings are not [file, problem] pairs")
    unlinted = [
        clean_text(item, MAX_PATH_CHARS).removeprefix(root)
        for item in raw_unlinted[:1000]
        if isinstance(item, str)
    ]
    raw_compiled = doc.get("compiled")
    if not isinstance(raw_compiled, list) or not all(isinstance(i, str) for i in raw_compiled):
        raise InvalidOutput("the driver's report has no list of compiled files")
    compiled = [relpath(item, root) for item in raw_compiled[:1000]]
    return DriverStatus(
        match.group(1),
        lint_exit,
        stderr if isinstance(stderr, str) else "",
        files,
        comments,
        errors,
        doc.get("comments_truncated") is True,
        encodings,
        unlinted,
        compiled,
    )


def parse_ruff(data: bytes, root: str) -> list[Finding]:
    doc = _load(data, MAX_RUFF_BYTES, "ruff's report")
    if not isinstance(doc, list):
        raise InvalidOutput("ruff's report is not a list")
    if len(doc) > MAX_RESULTS:
        raise TooManyFindings(
            f"ruff found more than {MAX_RESULTS} problems in the delivered files, more than "
            "the engine reads"
        )
    return [_finding(item, index, root) for index, item in enumerate(doc)]


def _finding(item: object, index: int, root: str) -> Finding:
    where = f"ruff's report[{index}]"
    if not isinstance(item, dict):
        raise InvalidOutput(f"{where} is not an object")
    code, filename, message = item.get("code"), item.get("filename"), item.get("message")
    if code is None:
        code = SYNTAX_ERROR
    if not isinstance(code, str) or not (code == SYNTAX_ERROR or _RUFF_CODE_RE.fullmatch(code)):
        raise InvalidOutput(f"{where}.code is not a ruff rule code")
    if not isinstance(filename, str) or not isinstance(message, str):
        raise InvalidOutput(f"{where} lacks a filename or message")
    location = item.get("location")
    row = location.get("row") if isinstance(location, dict) else None
    column = location.get("column") if isinstance(location, dict) else None
    if not _line_number(row) or not _line_number(column):
        raise InvalidOutput(f"{where}.location is not a row and column")
    noqa_row = item.get("noqa_row")
    line = noqa_row if _line_number(noqa_row) else row
    name = item.get("name")
    known = ruff_rules.RULES.get(code)
    if code == SYNTAX_ERROR:
        level, rule_name = QualityLevel.ERROR, SYNTAX_ERROR
    elif known is not None:
        level, rule_name = LEVEL_OF_CATEGORY.get(known[1], QualityLevel.WARNING), known[0]
    else:
        # A rule this engine's table does not know: ranked in the middle, never dropped.
        level = QualityLevel.WARNING
        rule_name = name if isinstance(name, str) and _RUFF_NAME_RE.fullmatch(name) else ""
    url = item.get("url")
    return Finding(
        rule=code,
        name=rule_name[:100],
        level=level,
        file=relpath(filename, root),
        line=int(line),  # type: ignore[arg-type]
        column=int(column),  # type: ignore[arg-type]
        message=clean_text(message, MAX_MESSAGE_CHARS),
        url=clean_text(url, 200)
        if isinstance(url, str) and url.startswith(RULE_URL_PREFIX)
        else None,
    )


def _line_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10**9


def relpath(path: str, root: str) -> str:
    """The path under the checkout, spelled so that two different files never read the same.

    Suppressions are matched to findings by this string: dropping a zero-width character
    (as text cleaning does) would let a justified ``noqa`` in ``core\u200b.py`` silence
    ``core.py``. Invisible characters and backslashes are escaped instead, and a path too
    long to show keeps a digest of the whole.
    """
    rel = path[len(root) :] if path.startswith(root) else path
    shown = "".join(
        "\\\\" if ch == "\\"
        else f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _PATH_ESCAPED_CATEGORIES
        else ch
        for ch in rel[: MAX_PATH_CHARS * 8]
    )  # fmt: skip
    if len(shown) <= MAX_PATH_CHARS and len(rel) <= MAX_PATH_CHARS * 8:
        return shown
    digest = hashlib.sha256(rel.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{shown[: MAX_PATH_CHARS - 20]}…{digest}"


def ruff_crashed(exit_code: int, stderr: str) -> bool:
    """ruff died on what it read (a panic, a signal such as a stack overflow's abort)."""
    lowered = stderr.lower()
    return exit_code < 0 or exit_code == RUST_PANIC_EXIT or any(w in lowered for w in _CRASH_WORDS)
