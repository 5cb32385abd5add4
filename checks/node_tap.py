"""Node's TAP test report (`node --test --test-reporter=tap`), parsed as untrusted input.

The report is nested TAP 13: a subtest's test points are indented four spaces per level
and come before their parent's. The tests counted are the leaves (a `describe` suite or
a test file that only holds other tests is not itself counted), each named by its
ancestors' names; a test point whose directive is `# SKIP` or `# TODO` is skipped. The
summary comments Node writes at the end (`# tests`, `# pass`, `# fail`...) are read too,
and must agree with the test points: a report that does not is not Node's account.
Caps on bytes, lines and depth keep a hostile report cheap; text is printable and capped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from checks.junit import InvalidArtifact, JUnitResult, Outcome, TestCase

MAX_BYTES = 20 * 1024**2
MAX_LINES = 500_000
MAX_DEPTH = 64
MAX_NAME = 300
MAX_MESSAGE = 2000
_POINT = re.compile(
    r"^(?P<indent>(?:    )*)(?P<ok>ok|not ok) (?P<num>\d{1,9})(?: - (?P<desc>.*))?$"
)
_SUMMARY = re.compile(r"^# (?P<key>tests|pass|fail|cancelled|skipped|todo) (?P<n>\d{1,9})$")
_DIRECTIVE = re.compile(r"\s#\s*(?P<kind>SKIP|TODO)\b.*$", re.IGNORECASE)
_ERROR = re.compile(r"^\s+error: ?(?P<text>.*)$")


@dataclass
class _Point:
    depth: int
    name: str
    passed: bool
    directive: str | None
    children: list[_Point] = field(default_factory=list)
    message: str = ""


@dataclass(frozen=True)
class TapReport:
    """The leaves as test cases, and Node's own summary counts (key -> count)."""

    result: JUnitResult
    summary: dict[str, int]


def parse_tap(data: bytes, *, max_bytes: int = MAX_BYTES) -> TapReport:
    """The tests of a Node TAP report; InvalidArtifact when it is not one."""
    if len(data) > max_bytes:
        raise InvalidArtifact(f"the TAP report is larger than {max_bytes // 1024**2} MiB")
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        raise InvalidArtifact(f"the TAP report has more than {MAX_LINES} lines")
    if not lines or lines[0].strip() != "TAP version 13":
        raise InvalidArtifact("the TAP report does not start with 'TAP version 13'")
    # pending[d]: finished test points at depth d still waiting for their parent (depth d-1)
    pending: dict[int, list[_Point]] = {}
    roots: list[_Point] = []
    summary: dict[str, int] = {}
    last: _Point | None = None
    for line in lines[1:]:
        line = line.rstrip("\r")
        point = _POINT.match(line)
        if point:
            depth = len(point["indent"]) // 4
            if depth > MAX_DEPTH:
                raise InvalidArtifact(f"the TAP report nests tests deeper than {MAX_DEPTH}")
            desc = point["desc"] or ""
            directive = _DIRECTIVE.search(desc)
            name = _unescape(desc[: directive.start()] if directive else desc)
            node = _Point(depth, _clean(name, MAX_NAME), point["ok"] == "ok",
                          directive["kind"].upper() if directive else None)  # fmt: skip
            node.children = pending.pop(depth + 1, [])
            for deeper in [d for d in pending if d > depth + 1]:
                # points left deeper than a child: a malformed report
                raise InvalidArtifact(
                    f"the TAP report has test points at depth {deeper} with no parent"
                )
            if depth == 0:
                roots.append(node)
            else:
                pending.setdefault(depth, []).append(node)
            last = node
            continue
        found = _SUMMARY.match(line)
        if found:
            # Last one wins: Node writes its summary after every test ended; a test's own
            # output reaches the report as comments too, but only before that.
            summary[found["key"]] = int(found["n"])
            continue
        error = _ERROR.match(line)
        if error and last is not None and not last.passed and not last.message:
            last.message = _clean(error["text"].strip("'\""), MAX_MESSAGE)
    if any(pending.values()):
        raise InvalidArtifact("the TAP report ends with test points that have no parent")
    cases: list[TestCase] = []
    for root in roots:
        _leaves(root, (), cases)
    return TapReport(JUnitResult(tuple(cases)), summary)


def _leaves(point: _Point, path: tuple[str, ...], out: list[TestCase]) -> None:
    names = (*path, point.name)
    if point.children:
        before = len(out)
        for child in point.children:
            _leaves(child, names, out)
        if not point.passed and all(c.outcome is not Outcome.FAILED for c in out[before:]):
            # A suite or file failing outside its tests (a hook, a load error) is an error.
            out.append(TestCase(" > ".join(names), Outcome.ERROR, 0.0, point.message))
        return
    if point.directive is not None:
        outcome = Outcome.SKIPPED
    else:
        outcome = Outcome.PASSED if point.passed else Outcome.FAILED
    out.append(TestCase(" > ".join(names), outcome, 0.0, point.message if not point.passed else ""))


def _unescape(text: str) -> str:
    return text.replace("\\#", "#").replace("\\\\", "\\")


def _clean(text: str, limit: int) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]
