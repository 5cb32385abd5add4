"""TAP results written by an owner's test command (`functional.results.format: tap`), untrusted.

Plain TAP (12, 13 or 14: `bats --tap`, `prove`, tape...) is read line by line with tap.py's
parser (the `tap.py` package), with the engine's caps around it. Node's nested TAP
(`node --test --test-reporter=tap`: subtests indented, `# Subtest:` headers) goes to the
engine's own reader of it (checks/node_tap.py), so both formats end as the same
`JUnitResult` the JUnit parser gives and one judge reads every runner's results.

What makes a plain report believable: one plan (`1..N`) equal to the number of test
points, test numbers that do not repeat, and no line past the caps. `Bail out!` is a
failed run. SKIP and TODO points count as skipped. Text is printable and capped.
"""

from __future__ import annotations

import io
import re

from tap.line import Bail, Diagnostic, Plan, Result
from tap.parser import Parser

from checks import node_tap
from checks.junit import InvalidArtifact, JUnitResult, Outcome, TestCase

MAX_BYTES = 20 * 1024**2
MAX_LINES = 500_000
MAX_LINE_CHARS = 64 * 1024
MAX_NAME = 300
MAX_MESSAGE = 2000
MAX_TESTS = 100_000
_SUBTEST = re.compile(r"^\s*# Subtest: ")
_NESTED_POINT = re.compile(r"^(?:    )+(?:not )?ok \d")


def parse_tap_results(data: bytes, *, max_bytes: int = MAX_BYTES) -> JUnitResult:
    """The tests of a TAP report; InvalidArtifact when it is not a believable one."""
    if len(data) > max_bytes:
        raise InvalidArtifact(
            f"the TAP results are {len(data)} bytes, larger than the {max_bytes}-byte limit"
        )
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if not text.strip():
        raise InvalidArtifact("the TAP results file is empty")
    if len(lines) > MAX_LINES:
        raise InvalidArtifact(f"the TAP results have more than {MAX_LINES} lines")
    if any(len(line) > MAX_LINE_CHARS for line in lines):
        raise InvalidArtifact(
            f"the TAP results have a line longer than {MAX_LINE_CHARS} characters"
        )
    if lines[0].strip() == "TAP version 13" and any(
        _SUBTEST.match(line) or _NESTED_POINT.match(line) for line in lines
    ):
        return _node(data, max_bytes)
    return _plain(text)


def _node(data: bytes, max_bytes: int) -> JUnitResult:
    """Node's nested TAP; its closing summary must agree with its test points."""
    report = node_tap.parse_tap(data, max_bytes=max_bytes)
    passed = report.summary.get("pass")
    if passed is not None and passed != report.result.passed:
        raise InvalidArtifact(
            f"the TAP summary counts {passed} passed test(s) but the results list "
            f"{report.result.passed}"
        )
    return report.result


def _plain(text: str) -> JUnitResult:
    cases: list[TestCase] = []
    names: set[str] = set()
    numbers: set[int] = set()
    plans: list[int] = []
    bailed: str | None = None
    failing: TestCase | None = None
    notes: list[str] = []
    try:
        lines = list(Parser().parse(io.StringIO(text)))
    except ValueError as exc:  # a version below 13 declared, a number too long
        raise InvalidArtifact(f"the TAP results cannot be read: {_clean(str(exc), 200)}") from exc
    for line in lines:
        if isinstance(line, Result):
            if failing is not None:
                cases[-1] = _with_message(failing, notes)
            failing, notes = None, []
            case = _case(line, len(cases) + 1, numbers, names)
            cases.append(case)
            if len(cases) > MAX_TESTS:
                raise InvalidArtifact(f"the TAP results list more than {MAX_TESTS} tests")
            if case.outcome is Outcome.FAILED:
                failing = case
        elif isinstance(line, Diagnostic) and failing is not None:
            notes.append(line.text.lstrip("#").strip())
        elif isinstance(line, Plan):
            plans.append(int(line.expected_tests))
        elif isinstance(line, Bail):
            bailed = _clean(str(line.reason or ""), MAX_MESSAGE)
            break
    if failing is not None:
        cases[-1] = _with_message(failing, notes)
    if bailed is not None:
        # The run stopped itself: whatever it listed, it is a failure.
        cases.append(TestCase("Bail out!", Outcome.ERROR, 0.0, bailed or "the test run bailed out"))
        return JUnitResult(tuple(cases))
    if len(plans) != 1:
        raise InvalidArtifact(
            "the TAP results have no plan (a `1..N` line)"
            if not plans
            else f"the TAP results have {len(plans)} plans; TAP allows one"
        )
    if plans[0] != len(cases):
        raise InvalidArtifact(
            f"the TAP plan announces {plans[0]} test(s) but the results list {len(cases)}: "
            "the run stopped early or the file is not its complete account"
        )
    return JUnitResult(tuple(cases))


def _case(line: Result, position: int, numbers: set[int], names: set[str]) -> TestCase:
    number = line.number if line.number is not None else position
    if number in numbers:
        raise InvalidArtifact(f"the TAP results list test number {number} twice")
    numbers.add(number)
    name = _clean(str(line.description or "").removeprefix("- ").strip(), MAX_NAME)
    name = name or f"test {number}"
    if name in names:
        name = f"{name} (#{number})"
    names.add(name)
    if line.skip or line.todo:
        outcome = Outcome.SKIPPED
    else:
        outcome = Outcome.PASSED if line.ok else Outcome.FAILED
    return TestCase(name, outcome, 0.0, "")


def _with_message(case: TestCase, notes: list[str]) -> TestCase:
    message = _clean("\n".join(n for n in notes if n)[: MAX_MESSAGE * 2], MAX_MESSAGE)
    return TestCase(case.id, case.outcome, case.duration, message)


def _clean(text: str, limit: int) -> str:
    return "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text)[:limit]
