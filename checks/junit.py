"""A hardened parser for pytest JUnit XML written by untrusted code in the sandbox.

The report is attacker-controlled: DTDs and entities are refused, the input
size, testcase count and every stored string are capped, and control
characters (ANSI escapes included) are stripped from stored text. Counts come
only from the testcase elements; suite summary attributes are ignored because
the submission could forge them.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from acceptance.errors import SubmissionError

MAX_BYTES = 20 * 1024**2
MAX_TESTCASES = 100_000
MAX_TEXT_CHARS = 4096
# pytest writes a handful of elements per testcase (result, system-out/err,
# properties); these bound the work a hostile document can cause.
MAX_ELEMENTS = 10 * MAX_TESTCASES
MAX_DEPTH = 32
TRUNCATION_MARKER = "…[truncated]"

# CSI (ESC [ or 8-bit 0x9B), OSC (ESC ] or 0x9D, up to BEL/ST), then any
# other two-character escape; what is left of control characters goes after.
_ANSI_RE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
# C0/C1 controls except \t and \n, plus bidi overrides that can make a
# message display differently from what it says ("Trojan Source").
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MODULE_RE = re.compile(r"(?:test_\w*|\w+_test)")
_IDENTIFIER_RE = re.compile(r"[A-Za-z_]\w*")
_SEVERITY = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}
_PRECUT_CHARS = 4 * MAX_TEXT_CHARS


class InvalidArtifact(SubmissionError):
    """The submission's JUnit XML report is malformed, unsafe, or too large."""

    def __init__(self, message: str) -> None:
        super().__init__(
            "INVALID_ARTIFACT",
            message,
            hint="let pytest write the report with --junitxml and do not alter it",
        )


class Outcome(str, Enum):
    """The outcome of one test, as the acceptance engine counts it."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


_RESULT_TAGS = {"failure": Outcome.FAILED, "error": Outcome.ERROR, "skipped": Outcome.SKIPPED}


@dataclass(frozen=True)
class TestCase:
    """One test from the report, with sanitized, size-capped text."""

    # Not a pytest test class, despite the name.
    __test__: ClassVar[bool] = False

    id: str
    outcome: Outcome
    duration: float
    message: str


@dataclass(frozen=True)
class JUnitResult:
    """All tests in a report; the counts derive from the cases alone."""

    cases: tuple[TestCase, ...]

    @property
    def passed(self) -> int:
        """Number of passed tests."""
        return self._count(Outcome.PASSED)

    @property
    def failed(self) -> int:
        """Number of failed tests."""
        return self._count(Outcome.FAILED)

    @property
    def errors(self) -> int:
        """Number of tests that errored (e.g. in fixture setup or teardown)."""
        return self._count(Outcome.ERROR)

    @property
    def skipped(self) -> int:
        """Number of skipped tests (xfail included)."""
        return self._count(Outcome.SKIPPED)

    def _count(self, outcome: Outcome) -> int:
        return sum(1 for case in self.cases if case.outcome is outcome)


def parse_junit(data: bytes, *, max_bytes: int = MAX_BYTES) -> JUnitResult:
    """Parse pytest JUnit XML (xunit1 or xunit2) into sanitized test cases."""
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidArtifact(f"JUnit report must be bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise InvalidArtifact(
            f"JUnit report is {len(data)} bytes, larger than the {max_bytes}-byte limit"
        )
    if not data.strip():
        raise InvalidArtifact("JUnit report is empty")
    collector = _Collector()
    # A streaming target instead of a tree keeps memory bounded and lets the
    # caps stop a hostile document early.
    parser = DefusedXMLParser(
        target=collector, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(bytes(data))
        parser.close()
    except DefusedXmlException as exc:
        raise InvalidArtifact(
            f"JUnit report uses a forbidden XML feature ({type(exc).__name__}); "
            "DTDs, entity declarations and external references are not allowed"
        ) from exc
    except ET.ParseError as exc:
        raise InvalidArtifact(f"JUnit report is not well-formed XML: {exc}") from exc
    except (ValueError, LookupError, RecursionError, MemoryError) as exc:
        # LookupError: the XML declaration names an encoding Python lacks.
        raise InvalidArtifact(f"JUnit report could not be parsed as XML: {exc}") from exc
    return JUnitResult(cases=tuple(collector.cases.values()))


class _Pending:
    """A <testcase> being read: its attributes and result elements so far."""

    __slots__ = ("attrib", "depth", "notes", "outcome", "result", "text", "text_len")

    def __init__(self, attrib: dict[str, str], depth: int) -> None:
        self.attrib = attrib
        self.depth = depth
        self.outcome = Outcome.PASSED
        self.notes: list[str] = []
        self.result: tuple[str, str] | None = None  # open (tag, message) element
        self.text: list[str] = []
        self.text_len = 0


class _Collector:
    """Streaming parser target that turns <testcase> elements into TestCases."""

    def __init__(self) -> None:
        self.cases: dict[str, TestCase] = {}
        self._stack: list[str] = []
        # _suite_path[i]: every element from the root down to depth i is a suite
        self._suite_path: list[bool] = []
        self._elements = 0
        self._testcases = 0
        self._pending: _Pending | None = None

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        """Handle an opening tag."""
        self._check_limits(tag)
        depth = len(self._stack)
        pending = self._pending
        if tag == "testcase" and self._in_suite():
            self._count_testcase()
            self._pending = _Pending(dict(attrib), depth)
        elif pending is not None and depth == pending.depth + 1 and tag in _RESULT_TAGS:
            pending.result = (tag, attrib.get("message", ""))
            pending.text, pending.text_len = [], 0
        self._suite_path.append(
            (depth == 0 or self._suite_path[-1])
            and (tag == "testsuite" or (depth == 0 and tag == "testsuites"))
        )
        self._stack.append(tag)

    def data(self, text: str) -> None:
        """Keep text that is directly inside an open failure/error/skipped element."""
        pending = self._pending
        if pending is None or pending.result is None:
            return
        if len(self._stack) != pending.depth + 2 or pending.text_len > _PRECUT_CHARS:
            return
        pending.text.append(text)
        pending.text_len += len(text)

    def end(self, tag: str) -> None:
        """Handle a closing tag."""
        self._stack.pop()
        self._suite_path.pop()
        pending = self._pending
        if pending is None:
            return
        depth = len(self._stack)
        if depth == pending.depth + 1 and pending.result is not None:
            self._close_result(pending, *pending.result)
        elif depth == pending.depth:
            self._pending = None
            case = _testcase(pending)
            previous = self.cases.get(case.id)
            self.cases[case.id] = case if previous is None else _merge(previous, case)

    def close(self) -> None:
        """Called by the parser at the end of the document."""

    def _close_result(self, pending: _Pending, tag: str, message: str) -> None:
        kind = _RESULT_TAGS[tag]
        if _SEVERITY[kind.value] > _SEVERITY[pending.outcome.value]:
            pending.outcome = kind
        pending.notes.append(_note(tag, message, "".join(pending.text)))
        pending.result = None

    def _in_suite(self) -> bool:
        return bool(self._stack) and self._stack[-1] == "testsuite" and self._suite_path[-1]

    def _check_limits(self, tag: str) -> None:
        if not self._stack and tag not in ("testsuites", "testsuite"):
            raise InvalidArtifact(
                f"JUnit report root element is <{_clean(tag, 100)}>, "
                "expected <testsuites> or <testsuite>"
            )
        self._elements += 1
        if self._elements > MAX_ELEMENTS:
            raise InvalidArtifact(f"JUnit report has more than {MAX_ELEMENTS} XML elements")
        if len(self._stack) >= MAX_DEPTH:
            raise InvalidArtifact(f"JUnit report nests elements deeper than {MAX_DEPTH} levels")

    def _count_testcase(self) -> None:
        self._testcases += 1
        if self._testcases > MAX_TESTCASES:
            raise InvalidArtifact(f"JUnit report has more than {MAX_TESTCASES} testcases")


def _testcase(pending: _Pending) -> TestCase:
    """Build a TestCase from a fully read <testcase> element."""
    name = pending.attrib.get("name", "")
    if not name:
        raise InvalidArtifact("JUnit report has a <testcase> without a name")
    node_id = _node_id(pending.attrib.get("classname", ""), name, pending.attrib.get("file"))
    return TestCase(
        id=_clean(node_id, MAX_TEXT_CHARS),
        outcome=pending.outcome,
        duration=_duration(pending.attrib.get("time")),
        message=_clean("\n".join(pending.notes), MAX_TEXT_CHARS),
    )


def _note(tag: str, message: str, text: str) -> str:
    """Describe a failure/error/skipped element as '[tag] message' plus its text."""
    parts = [f"[{tag}] {_precut(message)}".rstrip()]
    text = _precut(text)
    if text.strip():
        parts.append(text.strip("\n"))
    return "\n".join(parts)


def _precut(raw: str) -> str:
    """Cut raw text to a few times the stored limit so sanitizing stays cheap."""
    return raw if len(raw) <= _PRECUT_CHARS else raw[:_PRECUT_CHARS] + TRUNCATION_MARKER


def _duration(raw: str | None) -> float:
    """Parse a testcase time attribute: a finite, non-negative number of seconds."""
    if raw is None or not raw.strip():
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise InvalidArtifact(f"JUnit testcase time {_clean(raw, 40)!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidArtifact(
            f"JUnit testcase time {_clean(raw, 40)!r} must be a finite, non-negative number"
        )
    return value


def _node_id(classname: str, name: str, file: str | None) -> str:
    """Rebuild pytest's node id ("tests/test_x.py::TestA::test_b") when unambiguous."""
    if not classname:
        return name  # pytest's collection errors carry the module in ``name``
    parts = classname.split(".")
    module_end = _module_end(parts, file)
    if (
        module_end is None
        or not all(parts[:module_end])
        or not all(_IDENTIFIER_RE.fullmatch(p) for p in parts[module_end:])
    ):
        return f"{classname}::{name}"
    path = "/".join(parts[:module_end]) + ".py"
    return "::".join([path, *parts[module_end:], name])


def _module_end(parts: list[str], file: str | None) -> int | None:
    """Index just past the module in a dotted classname, or None if ambiguous."""
    if file and file.endswith(".py"):
        module = file[: -len(".py")].replace("\\", "/").split("/")
        if parts[: len(module)] == module:
            return len(module)
        return None
    # xunit2 has no file attribute: the module is the one component named like
    # a test module, and everything after it must look like test classes.
    candidates = [
        index + 1
        for index, part in enumerate(parts)
        if _MODULE_RE.fullmatch(part) and all(p.startswith("Test") for p in parts[index + 1 :])
    ]
    return candidates[0] if len(candidates) == 1 else None


def _merge(first: TestCase, second: TestCase) -> TestCase:
    """Combine two reports of one test (pytest writes teardown errors separately)."""
    outcome = max(first.outcome, second.outcome, key=lambda o: _SEVERITY[o.value])
    message = "\n".join(m for m in (first.message, second.message) if m)
    return TestCase(
        id=first.id,
        outcome=outcome,
        duration=first.duration + second.duration,
        message=_clean(message, MAX_TEXT_CHARS),
    )


def _clean(text: str, limit: int) -> str:
    """Strip escape sequences and control characters, then cap the length."""
    cleaned = _CONTROL_RE.sub("", _ANSI_RE.sub("", text))
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
