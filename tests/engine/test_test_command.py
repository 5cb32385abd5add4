"""`functional.command` and `functional.results` (issue 16): the spec's grammar, the results
judge (JUnit and TAP, with tap.py for plain TAP and the engine's reader for Node's nested
TAP) and the verdict, without Docker. The Docker runs are in test_test_command_docker.py,
the hostile ones in tests/hostile/test_test_command_hostile.py."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance.engine.spec import SpecError, parse_spec
from acceptance.engine.spec_schema import spec_schema
from acceptance.engine.test_command import results_path_problem
from checks import command_tests
from checks.command_tests import CommandRun, evaluate, parse_results
from checks.interface import CheckStatus
from checks.junit import InvalidArtifact
from checks.options import TestCommand
from checks.tap_results import parse_tap_results

HEAD = "version: 1\ntitle: Command\n"
JUNIT = (
    b'<?xml version="1.0"?><testsuites><testsuite name="s">'
    b'<testcase classname="t" name="a"/><testcase classname="t" name="b"/>'
    b"</testsuite></testsuites>"
)
BATS_TAP = b"1..3\nok 1 adds\nnot ok 2 subtracts\n# (in test file tests/x.bats, line 7)\n#   `false' failed\nok 3 later # skip not yet\n"


def _spec(functional: str, tmp_path: Path) -> TestCommand | None:
    text = HEAD + "functional:\n" + textwrap.indent(textwrap.dedent(functional), "  ")
    return parse_spec(text, tmp_path).functional.command


def _problems(functional: str, tmp_path: Path) -> tuple[str, ...]:
    with pytest.raises(SpecError) as info:
        _spec(functional, tmp_path)
    return info.value.problems


# ---------------------------------------------------------------- the spec


def test_a_command_line_runs_through_sh_and_keeps_what_the_owner_wrote(tmp_path: Path) -> None:
    command = _spec(
        "command: bats --tap tests > out/results.tap\n"
        "results: {format: TAP, path: out/results.tap}\n",
        tmp_path,
    )
    assert command == TestCommand(
        ("sh", "-c", "bats --tap tests > out/results.tap"),
        "bats --tap tests > out/results.tap",
        "tap",
        "out/results.tap",
    )


def test_a_list_of_arguments_runs_as_is(tmp_path: Path) -> None:
    command = _spec(
        "command: [python, -m, pytest, --junitxml=reports/junit.xml, 'tests/a b']\n"
        "results: {format: junit, path: reports/junit.xml}\n",
        tmp_path,
    )
    assert command is not None
    assert command.argv == ("python", "-m", "pytest", "--junitxml=reports/junit.xml", "tests/a b")
    assert command.written == "python -m pytest --junitxml=reports/junit.xml 'tests/a b'"


def test_without_a_command_the_default_runner_stays(tmp_path: Path) -> None:
    assert _spec("paths: [tests]\n", tmp_path) is None
    assert _spec("command: null\n", tmp_path) is None


@pytest.mark.parametrize(
    ("functional", "expected"),
    [
        ("command: make test\n", "functional.results: required with functional.command"),
        (
            "results: {format: tap, path: r.tap}\n",
            "functional.results: only read with functional.command",
        ),
        (
            "command: ''\nresults: {format: tap, path: r.tap}\n",
            "functional.command: must not be blank",
        ),
        (
            "command: []\nresults: {format: tap, path: r.tap}\n",
            "functional.command: must be a command line",
        ),
        ("command: 42\nresults: {format: tap, path: r.tap}\n", "got the number 42"),
        (
            "command: [make, 3]\nresults: {format: tap, path: r.tap}\n",
            "functional.command[1]: must be a string",
        ),
        (
            'command: "make\\ntest"\nresults: {format: tap, path: r.tap}\n',
            "must not contain control characters",
        ),
        (
            "command: make\nresults: r.tap\n",
            "functional.results: must be a mapping with format and path",
        ),
        (
            "command: make\nresults: {format: xunit, path: r.xml}\n",
            "functional.results.format: must be one of junit, tap",
        ),
        (
            "command: make\nresults: {path: r.xml}\n",
            "functional.results.format: must be one of junit, tap",
        ),
        (
            "command: make\nresults: {format: junit}\n",
            "functional.results.path: must be the relative path",
        ),
        (
            "command: make\nresults: {format: junit, path: r.xml, file: x}\n",
            "functional.results.file: unknown key",
        ),
        (
            "command: make\nresults: {format: junit, path: /tmp/r.xml}\n",
            "must be a relative POSIX path inside the checkout",
        ),
        ("command: make\nresults: {format: junit, path: ../r.xml}\n", "must not contain '..'"),
        ("command: make\nresults: {format: junit, path: a/../../r.xml}\n", "must not contain '..'"),
        ("command: make\nresults: {format: junit, path: ./r.xml}\n", "without '.' components"),
        ("command: make\nresults: {format: junit, path: 'a//r.xml'}\n", "without '.' components"),
        ("command: make\nresults: {format: junit, path: 'out/'}\n", "a trailing '/'"),
        ("command: make\nresults: {format: junit, path: '~/r.xml'}\n", "relative POSIX path"),
        (
            "command: make\nresults: {format: junit, path: 'C:/r.xml'}\n",
            "no leading '/', '~' or drive",
        ),
        ("command: make\nresults: {format: junit, path: 'a\\\\r.xml'}\n", "forward slashes"),
        ("command: make\nresults: {format: junit, path: -r.xml}\n", "must not start with '-'"),
        ("command: make\nresults: {format: junit, path: .git/r.xml}\n", "must not be inside .git/"),
        (
            "command: make\nresults: {format: junit, path: acceptance_hidden_tests/r.xml}\n",
            "must not be inside acceptance_hidden_tests/",
        ),
        ("command: make\nresults: {format: junit, path: node_modules/r.xml}\n", "node_modules/"),
        ("command: make\nresults: {format: junit, path: ''}\n", "must not be empty"),
        (
            "command: make\nresults: {format: junit, path: r.xml}\npaths: [tests]\n",
            "functional.paths: not used with functional.command",
        ),
        (
            "command: make\nresults: {format: junit, path: r.xml}\ntest_timeout: 5\n",
            "functional.test_timeout: not used with functional.command",
        ),
        (
            "command: make\nresults: {format: junit, path: r.xml}\nreruns: 2\n",
            "functional.reruns: failing tests are re-run by the engine's pytest runner only",
        ),
        ("command: make\nresult: {format: junit, path: r.xml}\n", "did you mean 'results'?"),
    ],
)
def test_each_bad_key_is_named_with_how_to_fix_it(
    tmp_path: Path, functional: str, expected: str
) -> None:
    problems = _problems(functional, tmp_path)
    assert any(expected in p for p in problems), problems


def test_reruns_zero_is_allowed_beside_a_command(tmp_path: Path) -> None:
    command = _spec("command: make\nresults: {format: junit, path: r.xml}\nreruns: 0\n", tmp_path)
    assert command is not None and command.results_path == "r.xml"


def test_the_schema_accepts_what_the_parser_accepts_and_names_the_keys(tmp_path: Path) -> None:
    import jsonschema
    import yaml

    text = (
        HEAD
        + "functional:\n  command: [bats, --tap, tests]\n  results: {format: Tap, path: r.tap}\n"
    )
    parse_spec(text, tmp_path)
    jsonschema.validate(yaml.safe_load(text), spec_schema())
    bad = yaml.safe_load(HEAD + "functional: {command: x, results: {format: tap, path: ../r}}\n")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, spec_schema())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_a_path_the_grammar_accepts_never_leaves_the_checkout(path: str) -> None:
    if results_path_problem(path) is None:
        parts = path.split("/")
        assert not path.startswith("/") and ".." not in parts and "" not in parts
        assert "." not in parts and "\\" not in path and parts[0] != ".git"


def test_a_bad_command_spec_exits_2_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from acceptance.cli import main

    spec = tmp_path / "acceptance.yaml"
    spec.write_text(HEAD + "functional: {command: make, results: {format: junit, path: ../x}}\n")
    code = main(["check", str(tmp_path), "--spec", str(spec), "--json"])
    assert code == 2
    assert "functional.results.path: must not contain '..'" in capsys.readouterr().err


# ---------------------------------------------------------------- TAP


def test_bats_tap_is_counted_with_names_and_failure_messages() -> None:
    result = parse_tap_results(BATS_TAP)
    assert (result.passed, result.failed, result.errors, result.skipped) == (1, 1, 0, 1)
    assert [c.id for c in result.cases] == ["adds", "subtracts", "later"]
    assert "line 7" in result.cases[1].message


def test_tap_13_with_yaml_blocks_and_dashes() -> None:
    data = (
        b"TAP version 13\n1..2\nok 1 - first\nnot ok 2 - second # TODO later\n"
        b"  ---\n  message: x\n  ...\n"
    )
    result = parse_tap_results(data)
    assert [(c.id, c.outcome.value) for c in result.cases] == [
        ("first", "passed"),
        ("second", "skipped"),
    ]


def test_nodes_nested_tap_goes_to_the_engines_node_reader() -> None:
    data = textwrap.dedent(
        """\
        TAP version 13
        # Subtest: suite
            # Subtest: inner
            ok 1 - inner
              ---
              duration_ms: 1
              ...
            1..1
        ok 1 - suite
        1..1
        # tests 1
        # pass 1
        # fail 0
        """
    ).encode()
    result = parse_tap_results(data)
    assert [(c.id, c.outcome.value) for c in result.cases] == [("suite > inner", "passed")]


def test_nodes_summary_that_disagrees_is_refused() -> None:
    data = b"TAP version 13\n# Subtest: a\nok 1 - a\n1..1\n# tests 3\n# pass 3\n# fail 0\n"
    with pytest.raises(InvalidArtifact, match="summary counts 3 passed"):
        parse_tap_results(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"ok 1 a\nok 2 b\n", "no plan"),
        (b"1..2\nok 1 a\nok 2 b\n1..2\n", "2 plans"),
        (b"1..5\nok 1 a\nok 2 b\n", "announces 5 test(s) but the results list 2"),
        (b"1..1\nok 1 a\nok 2 b\n", "announces 1"),
        (b"1..2\nok 1 a\nok 1 b\n", "test number 1 twice"),
        (b"TAP version 12\n1..1\nok 1 a\n", "cannot be read"),
        (b"1..1\nok " + b"9" * 5000 + b" a\n", "cannot be read"),
        (b"1..1\nok 1 " + b"a" * 70000 + b"\n", "longer than"),
        (b"1..1\n" + b"# x\n" * 500_001, "more than 500000 lines"),
    ],
)
def test_tap_that_is_not_a_complete_account_is_refused(data: bytes, expected: str) -> None:
    with pytest.raises(InvalidArtifact, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_tap_results(data)


def test_tap_over_the_size_cap_is_refused() -> None:
    with pytest.raises(InvalidArtifact, match="larger than"):
        parse_tap_results(b"1..1\nok 1 a\n" + b"#" * 100, max_bytes=50)


def test_bail_out_is_a_failed_run_whatever_passed_before() -> None:
    result = parse_tap_results(b"1..3\nok 1 a\nBail out! database gone\n")
    assert (result.passed, result.errors) == (1, 1)
    assert result.cases[-1].message == "database gone"


def test_an_empty_plan_lists_no_test() -> None:
    assert parse_tap_results(b"1..0 # SKIP nothing here\n").cases == ()


def test_names_are_cleaned_capped_and_kept_apart() -> None:
    data = b"1..3\nok 1 \x1b[31mred\x1b[0m\nok 2 same\nok 3 same\n"
    ids = [c.id for c in parse_tap_results(data).cases]
    assert ids[0].startswith("?[31mred") and "\x1b" not in ids[0]
    assert ids[1:] == ["same", "same (#3)"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_results_or_a_clear_refusal(data: bytes) -> None:
    try:
        parse_tap_results(data)
    except InvalidArtifact as exc:
        assert exc.reason == "INVALID_ARTIFACT"


# ---------------------------------------------------------------- the verdict


def _run(
    report: bytes | None, *, exit_code: int | None = 0, fmt: str = "junit", **kw: object
) -> CommandRun:
    values: dict[str, object] = {
        "command": "make test", "results_format": fmt, "results_path": "r.xml",
        "exit_code": exit_code, "timed_out": False, "timeout": 60, "output_limit_hit": False,
        "memory_limit_hit": False, "process_limit_hit": False, "report": report,
    }  # fmt: skip
    values.update(kw)
    return CommandRun(**values)  # type: ignore[arg-type]


def test_a_passing_run_records_the_command_and_its_file() -> None:
    result = evaluate(1, _run(JUNIT))
    assert result.status is CheckStatus.PASSED, result.summary
    assert result.details["tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 0}
    assert result.details["runner"] == "command"
    assert result.details["command"] == "make test"
    assert result.details["results_file"] == {"format": "junit", "path": "r.xml"}


def test_a_non_zero_exit_fails_even_with_all_tests_passing() -> None:
    result = evaluate(1, _run(JUNIT, exit_code=2))
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "TESTS_FAILED")
    assert "exited with 2 although its results list no failure" in result.summary


def test_failures_in_the_results_fail_even_with_exit_zero() -> None:
    result = evaluate(0, _run(BATS_TAP, fmt="tap"))
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "TESTS_FAILED")
    assert result.details["failing_tests"] == ["subtracts"]


@pytest.mark.parametrize(
    ("run", "code", "says"),
    [
        (_run(None), "INVALID_ARTIFACT", "wrote no results file at r.xml"),
        (_run(b"<testsuites/>"), "NO_TESTS", "lists no test"),
        (_run(b"<html/>"), "INVALID_ARTIFACT", "root element"),
        (_run(b'<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>'), "INVALID_ARTIFACT", "forbidden XML"),
        (_run(JUNIT, report_problem="a link"), "INVALID_ARTIFACT", "unusable: a link"),
        (_run(None, timed_out=True), "TIMEOUT", "did not finish within 60 s"),
        (_run(None, process_limit_hit=True, timed_out=True), "PROCESS_LIMIT", "processes"),
        (_run(JUNIT, output_limit_hit=True), "OUTPUT_LIMIT", "output limit"),
        (_run(JUNIT, memory_limit_hit=True), "MEMORY_LIMIT", "memory"),
        (_run(JUNIT, full_filesystems=("/tmp",)), "DISK_LIMIT", "/tmp"),
    ],
)
def test_what_is_never_a_pass(run: CommandRun, code: str, says: str) -> None:
    result = evaluate(0, run)
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, code)
    assert says in result.summary


def test_min_passed_counts_hidden_tests_and_they_allow_an_empty_own_suite() -> None:
    assert evaluate(3, _run(JUNIT)).reason_code == "TOO_FEW_PASSED"
    assert evaluate(3, _run(JUNIT), hidden_passed=1).status is CheckStatus.PASSED
    assert evaluate(1, _run(b"<testsuites/>"), hidden_passed=1).status is CheckStatus.PASSED


def test_parse_results_reads_both_formats() -> None:
    assert parse_results("junit", JUNIT).passed == 2
    assert parse_results("tap", BATS_TAP).failed == 1
    assert command_tests.ARTIFACT == {
        "junit": "test-command-results.xml",
        "tap": "test-command-results.tap",
    }
