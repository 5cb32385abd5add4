"""Tests for checks.junit: parsing untrusted pytest JUnit XML."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance.errors import SubmissionError
from checks import junit
from checks.junit import (
    MAX_TEXT_CHARS,
    TRUNCATION_MARKER,
    InvalidArtifact,
    JUnitResult,
    Outcome,
    parse_junit,
)

FAMILIES = ["xunit1", "xunit2"]

CLEAN_SUITE = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture boom")

def test_pass():
    pass

def test_fail():
    assert 1 == 2, "\\x1b[31mred\\x1b[0m <b>bold</b> </failure>"

def test_setup_error(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed by accident")
def test_xpass():
    pass

class TestGroup:
    def test_member(self):
        pass

    @pytest.mark.parametrize("value", ["a::b", "c.d", "e[f]"])
    def test_param(self, value):
        pass
"""

TEARDOWN_SUITE = """
import pytest

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown boom")

def test_fail_then_teardown_error(bad_teardown):
    assert False

def test_pass_then_teardown_error(bad_teardown):
    pass

@pytest.mark.xfail(strict=True, reason="must fail")
def test_xpass_strict():
    pass
"""


def _run_pytest(tmp_path: Path, source: str, family: str) -> tuple[bytes, dict[str, int]]:
    """Run pytest on ``source``; return its JUnit XML and its own summary counts."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    tests = tmp_path / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "test_sample.py").write_text(textwrap.dedent(source))
    report = tmp_path / f"{family}.xml"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-o",
            f"junit_family={family}",
            f"--junitxml={report}",
            "tests",
        ],
        cwd=tmp_path,
        check=False,  # failing tests are the point; the summary is checked instead
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary_line = completed.stdout.strip().splitlines()[-1]
    counts = {
        kind.rstrip("s") if kind == "errors" else kind: int(number)
        for number, kind in re.findall(r"(\d+) (\w+)", summary_line)
    }
    return report.read_bytes(), counts


@pytest.fixture(scope="module", params=FAMILIES)
def clean_report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[bytes, dict[str, int]]:
    """CLEAN_SUITE's JUnit XML and pytest's summary, once per junit family."""
    family: str = request.param
    return _run_pytest(tmp_path_factory.mktemp(family), CLEAN_SUITE, family)


def test_counts_match_pytest_summary(clean_report: tuple[bytes, dict[str, int]]) -> None:
    data, summary = clean_report
    result = parse_junit(data)
    assert summary == {
        "passed": 5,
        "failed": 1,
        "error": 1,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 1,
    }
    # xfail counts as skipped and a non-strict xpass as passed.
    assert result.passed == summary["passed"] + summary["xpassed"]
    assert result.failed == summary["failed"]
    assert result.errors == summary["error"]
    assert result.skipped == summary["skipped"] + summary["xfailed"]
    assert len(result.cases) == sum(summary.values())


def test_ids_and_outcomes(clean_report: tuple[bytes, dict[str, int]]) -> None:
    data, _ = clean_report
    outcomes = {case.id: case.outcome for case in parse_junit(data).cases}
    module = "tests/test_sample.py"
    assert outcomes == {
        f"{module}::test_pass": Outcome.PASSED,
        f"{module}::test_fail": Outcome.FAILED,
        f"{module}::test_setup_error": Outcome.ERROR,
        f"{module}::test_skip": Outcome.SKIPPED,
        f"{module}::test_xfail": Outcome.SKIPPED,
        f"{module}::test_xpass": Outcome.PASSED,
        f"{module}::TestGroup::test_member": Outcome.PASSED,
        f"{module}::TestGroup::test_param[a::b]": Outcome.PASSED,
        f"{module}::TestGroup::test_param[c.d]": Outcome.PASSED,
        f"{module}::TestGroup::test_param[e[f]]": Outcome.PASSED,
    }


def test_messages_are_inert_text(clean_report: tuple[bytes, dict[str, int]]) -> None:
    data, _ = clean_report
    cases = {case.id.rsplit("::", 1)[-1]: case for case in parse_junit(data).cases}
    failure = cases["test_fail"].message
    assert failure.startswith("[failure] AssertionError:")
    assert "<b>bold</b> </failure>" in failure  # HTML/XML kept as literal text
    assert "\x1b" not in failure
    assert "fixture boom" in cases["test_setup_error"].message
    assert cases["test_skip"].message.startswith("[skipped] not today")
    assert cases["test_pass"].message == ""
    assert all(case.duration >= 0 for case in cases.values())


@pytest.mark.parametrize("family", FAMILIES)
def test_teardown_errors_and_strict_xpass(tmp_path: Path, family: str) -> None:
    data, summary = _run_pytest(tmp_path, TEARDOWN_SUITE, family)
    # pytest counts reports, not tests: a failing test whose teardown errors is
    # "1 failed" and "1 error"; a passing one is "1 passed" and "1 error".
    assert summary == {"failed": 2, "passed": 1, "error": 2}
    result = parse_junit(data)
    by_name = {case.id.rsplit("::", 1)[-1]: case for case in result.cases}
    assert len(result.cases) == 3  # one case per test, duplicates merged
    failed = by_name["test_fail_then_teardown_error"]
    assert failed.outcome is Outcome.FAILED
    assert "[failure]" in failed.message and "teardown boom" in failed.message
    assert by_name["test_pass_then_teardown_error"].outcome is Outcome.ERROR
    assert by_name["test_xpass_strict"].outcome is Outcome.FAILED
    assert (result.passed, result.failed, result.errors, result.skipped) == (0, 2, 1, 0)


def test_collection_error_is_an_error(tmp_path: Path) -> None:
    data, summary = _run_pytest(tmp_path, "import no_such_module_zz\n", "xunit2")
    assert summary == {"error": 1}
    result = parse_junit(data)
    assert [(c.id, c.outcome) for c in result.cases] == [("tests.test_sample", Outcome.ERROR)]
    assert "no_such_module_zz" in result.cases[0].message


# ------------------------------------------------------------ hand-written XML


def _suite(*cases: str, attrs: str = "") -> bytes:
    return f"<testsuite {attrs}>{''.join(cases)}</testsuite>".encode()


def test_suite_attributes_are_ignored() -> None:
    forged = _suite(
        '<testcase classname="tests.test_a" name="test_x"><failure message="no"/></testcase>',
        attrs='tests="1000" failures="0" errors="0" skipped="0"',
    )
    result = parse_junit(forged)
    assert (result.passed, result.failed) == (0, 1)


def test_multiple_and_nested_suites() -> None:
    data = (
        b"<testsuites>"
        b'<testsuite><testcase classname="tests.test_a" name="t1"/></testsuite>'
        b'<testsuite><testcase classname="tests.test_b" name="t2"><skipped/></testcase>'
        b'<testsuite><testcase classname="tests.test_c" name="t3"><error/></testcase>'
        b"</testsuite></testsuite>"
        b'<other><testcase classname="tests.test_d" name="ignored"/></other>'
        b"</testsuites>"
    )
    result = parse_junit(data)
    assert [c.id for c in result.cases] == [
        "tests/test_a.py::t1",
        "tests/test_b.py::t2",
        "tests/test_c.py::t3",
    ]
    assert (result.passed, result.skipped, result.errors) == (1, 1, 1)


def test_failure_and_error_in_one_element_counts_once_as_failed() -> None:
    result = parse_junit(
        _suite(
            '<testcase classname="tests.test_a" name="t">'
            '<failure message="boom"/><error message="teardown"/></testcase>'
        )
    )
    assert len(result.cases) == 1
    assert result.cases[0].outcome is Outcome.FAILED
    assert result.cases[0].message == "[failure] boom\n[error] teardown"


@pytest.mark.parametrize(
    ("classname", "file", "expected"),
    [
        ("tests.test_a.TestB", "tests/test_a.py", "tests/test_a.py::TestB::t"),
        ("my-dir.test_a", "my-dir/test_a.py", "my-dir/test_a.py::t"),
        ("tests.test_a.TestB", None, "tests/test_a.py::TestB::t"),
        ("test_a", None, "test_a.py::t"),
        ("pkg.checks_test.TestX", None, "pkg/checks_test.py::TestX::t"),
        ("tests.test_a.test_b", None, "tests/test_a/test_b.py::t"),
        ("tests.test_a.Testing_test", None, "tests.test_a.Testing_test::t"),  # ambiguous
        ("tests.helpers", None, "tests.helpers::t"),  # no test module
        ("tests.test_a.TestB", "other/test_z.py", "tests.test_a.TestB::t"),  # mismatch
        ("tests..test_a", None, "tests..test_a::t"),
    ],
)
def test_node_id_reconstruction(classname: str, file: str | None, expected: str) -> None:
    file_attr = f' file="{file}"' if file else ""
    data = _suite(f'<testcase classname="{classname}" name="t"{file_attr}/>')
    assert parse_junit(data).cases[0].id == expected


def test_result_counts_come_from_cases() -> None:
    result = JUnitResult(
        cases=tuple(
            junit.TestCase(id=str(i), outcome=outcome, duration=0.0, message="")
            for i, outcome in enumerate(Outcome)
        )
    )
    assert (result.passed, result.failed, result.errors, result.skipped) == (1, 1, 1, 1)


# ----------------------------------------------------------------- hostile XML

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite><testcase classname="a" name="b"><failure message="&lol9;"/></testcase></testsuite>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite><testcase classname="a" name="b"><failure message="&xxe;"/></testcase></testsuite>
"""

BAD_INPUTS: dict[str, tuple[bytes, str]] = {
    "billion laughs": (BILLION_LAUGHS, "forbidden XML feature"),
    "external entity": (EXTERNAL_ENTITY, "forbidden XML feature"),
    "doctype only": (b"<!DOCTYPE testsuite><testsuite/>", "forbidden XML feature"),
    "undefined entity": (b"<testsuite>&xxe;</testsuite>", "not well-formed"),
    "not xml": (b"PASSED 10 tests", "not well-formed"),
    "truncated": (b"<testsuite><testcase name='a'>", "not well-formed"),
    "raw escape char": (b"<testsuite>\x1b[31m</testsuite>", "not well-formed"),
    "escape char reference": (b"<testsuite>&#27;</testsuite>", "not well-formed"),
    "unknown encoding": (b'<?xml version="1.0" encoding="t"?><testsuite/>', "could not be"),
    "empty": (b"", "empty"),
    "blank": (b"  \n", "empty"),
    "wrong root": (b"<html><testsuite/></html>", "root element is <html>"),
    "negative time": (b'<testsuite><testcase name="a" time="-1"/></testsuite>', "non-negative"),
    "nan time": (b'<testsuite><testcase name="a" time="nan"/></testsuite>', "finite"),
    "inf time": (b'<testsuite><testcase name="a" time="inf"/></testsuite>', "finite"),
    "text time": (b'<testsuite><testcase name="a" time="soon"/></testsuite>', "not a number"),
    "no name": (b'<testsuite><testcase classname="a"/></testsuite>', "without a name"),
    "too deep": (b"<testsuite>" + b"<a>" * 40 + b"</a>" * 40 + b"</testsuite>", "deeper"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_inputs_are_invalid_artifacts(name: str) -> None:
    data, message = BAD_INPUTS[name]
    with pytest.raises(InvalidArtifact, match=re.escape(message)) as info:
        parse_junit(data)
    assert info.value.reason == "INVALID_ARTIFACT"
    assert isinstance(info.value, SubmissionError)
    assert info.value.hint


def test_oversized_input() -> None:
    data = _suite('<testcase classname="a" name="b"/>')
    with pytest.raises(InvalidArtifact, match="larger than the 10-byte limit"):
        parse_junit(data, max_bytes=10)
    assert len(parse_junit(data, max_bytes=len(data)).cases) == 1


def test_default_size_cap_is_20_mib() -> None:
    data = b"<testsuite>" + b" " * (20 * 1024**2) + b"</testsuite>"
    with pytest.raises(InvalidArtifact, match="larger than"):
        parse_junit(data)


def test_testcase_cap() -> None:
    def report(count: int) -> bytes:
        return _suite(*(f'<testcase classname="a" name="t{i}"/>' for i in range(count)))

    assert len(parse_junit(report(100_000)).cases) == 100_000
    with pytest.raises(InvalidArtifact, match="more than 100000 testcases"):
        parse_junit(report(100_001))


def test_element_cap_stops_element_floods() -> None:
    with pytest.raises(InvalidArtifact, match="XML elements"):
        parse_junit(b"<testsuite>" + b"<a/>" * (junit.MAX_ELEMENTS + 1) + b"</testsuite>")


def test_long_text_is_truncated() -> None:
    long = "x" * 100_000
    data = _suite(
        f'<testcase classname="a" name="{"n" * 10_000}"><failure>{long}</failure></testcase>'
    )
    case = parse_junit(data).cases[0]
    assert len(case.message) == MAX_TEXT_CHARS
    assert case.message.endswith(TRUNCATION_MARKER)
    assert len(case.id) == MAX_TEXT_CHARS
    assert case.id.endswith(TRUNCATION_MARKER)


def test_control_characters_and_escape_sequences_are_removed() -> None:
    # XML 1.0 cannot carry ESC, but it can carry C1 controls such as the
    # 8-bit CSI (U+009B) and OSC (U+009D), and bidi overrides.
    message = "\u009b31mred\u009b0m \u009d8;;http://evil\u009chidden tab\there\r\nnext \u202eevil"
    data = _suite(
        f'<testcase classname="a" name="t"><failure message="x">{message}</failure></testcase>'
    ).replace(b"\r\n", b"&#13;\n")
    text = parse_junit(data).cases[0].message
    assert text == "[failure] x\nred hidden tab\there\nnext evil"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[1;38;5;196mbold\x1b[K", "bold"),
        ("\x1b]0;title\x07text", "text"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("a\x1bcb", "ab"),
        ("bell\x07 back\x08 nul\x00 del\x7f", "bell back nul del"),
        ("keep\ttabs\nand lines", "keep\ttabs\nand lines"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ],
)
def test_clean(raw: str, clean: str) -> None:
    assert junit._clean(raw, MAX_TEXT_CHARS) == clean


_VALID = (
    b'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2">'
    b'<testcase classname="tests.test_a" name="test_ok" time="0.01"/>'
    b'<testcase classname="tests.test_a.TestB" name="test_bad" time="1.5">'
    b'<failure message="boom &amp; bust">trace</failure></testcase>'
    b"</testsuite></testsuites>"
)


@st.composite
def _mutated_reports(draw: st.DrawFn) -> bytes:
    data = bytearray(_VALID)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        insert = draw(
            st.sampled_from([b"<", b">", b"&", b'"', b"<!DOCTYPE x>", b"&#0;", b"\xff", b"/"])
            | st.binary(max_size=5)
        )
        cut = draw(st.integers(0, 3))
        data[position : position + cut] = insert
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400) | _mutated_reports())
def test_fuzz_raises_only_invalid_artifact(data: bytes) -> None:
    try:
        result = parse_junit(data)
    except InvalidArtifact:
        return
    assert all(isinstance(case.outcome, Outcome) for case in result.cases)
    assert all("\x1b" not in case.message for case in result.cases)
