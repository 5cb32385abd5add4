"""Runtimes (issue 16): the spec's `runtime`, detection from the repository, and the shell
runtime's judging of bats and ShellCheck output, without Docker (hostile inputs included)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acceptance.engine.runtime_choice import (
    RuntimeAmbiguous,
    RuntimeName,
    RuntimeUnavailable,
    choose_runtime,
)
from acceptance.engine.spec import FunctionalSpec, SastSpec, Severity, SpecError, parse_spec
from checks import bats, shellcheck
from checks.interface import CheckStatus

# ---------------------------------------------------------------- the spec


def _spec(body: str, tmp_path: Path) -> object:
    return parse_spec("version: 1\ntitle: t\n" + body, tmp_path)


def test_the_spec_names_a_runtime_or_leaves_it_to_detection(tmp_path: Path) -> None:
    assert _spec("", tmp_path).runtime is None  # type: ignore[attr-defined]
    assert _spec("runtime: shell\n", tmp_path).runtime is RuntimeName.SHELL  # type: ignore[attr-defined]
    assert _spec("runtime: python\n", tmp_path).runtime is RuntimeName.PYTHON  # type: ignore[attr-defined]
    assert _spec("runtime: node\n", tmp_path).runtime is RuntimeName.NODE  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("ruby", "runtime: must be one of python, node, shell, got 'ruby'"),
        ("[shell]", "runtime: must be one of python, node, shell, got list"),
        ("Shell", "runtime: must be one of python, node, shell, got 'Shell'"),
    ],
)
def test_an_unknown_or_unsupported_runtime_is_refused_naming_the_field(
    tmp_path: Path, value: str, says: str
) -> None:
    with pytest.raises(SpecError) as caught:
        _spec(f"runtime: {value}\n", tmp_path)
    assert any(says in problem for problem in caught.value.problems), caught.value.problems


def test_hidden_tests_need_the_python_runtime(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_owner.py").write_text("def test_x():\n    pass\n")
    with pytest.raises(SpecError, match="hidden tests run with pytest"):
        _spec("runtime: shell\nfunctional: {hidden_tests: hidden}\n", tmp_path)


# ---------------------------------------------------------------- detection


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "runtime", "evidence"),
    [
        ({"pyproject.toml": ""}, RuntimeName.PYTHON, ("pyproject.toml",)),
        ({"setup.cfg": "", "setup.py": ""}, RuntimeName.PYTHON, ("setup.cfg", "setup.py")),
        ({"requirements-dev.txt": ""}, RuntimeName.PYTHON, ("requirements-dev.txt",)),
        ({"tests/a.bats": "", "tool.sh": ""}, RuntimeName.SHELL, ("tests/a.bats",)),
        # both: the *.bats files decide, as the issue orders it
        ({"tests/a.bats": "", "helper.py": ""}, RuntimeName.SHELL, ("tests/a.bats",)),
        # Python sources without a marker stay Python, as before runtimes existed
        ({"tests/test_a.py": ""}, RuntimeName.PYTHON, ("tests/test_a.py",)),
        # a package.json beside Python markers keeps the Python judgement it had before node
        ({"package.json": "{}", "pyproject.toml": ""}, RuntimeName.PYTHON, ("pyproject.toml",)),
        # a root package.json alone: node
        ({"package.json": "{}", "lib/a.js": ""}, RuntimeName.NODE, ("package.json",)),
        # a Python project with helper scripts and front-end tooling, no other tests: python
        (
            {
                "pyproject.toml": "",
                "package.json": "{}",
                "scripts/deploy.sh": "",
                "tests/test_app.py": "",
                "static/app.js": "",
                "conftest.py": "",
            },
            RuntimeName.PYTHON,
            ("pyproject.toml",),
        ),  # fmt: skip
        # a shell project with a Python helper that is not a test: shell
        ({"tests/a.bats": "", "bin/gen.py": ""}, RuntimeName.SHELL, ("tests/a.bats",)),
        # Node tests beside a package.json and no Python: node
        ({"package.json": "{}", "test/a.js": ""}, RuntimeName.NODE, ("package.json",)),
    ],
)
def test_the_runtime_is_detected_from_the_repository(
    tmp_path: Path, files: dict[str, str], runtime: RuntimeName, evidence: tuple[str, ...]
) -> None:
    choice = choose_runtime(_tree(tmp_path, files), None)
    assert (choice.name, choice.source, choice.evidence) == (runtime, "detected", evidence)
    assert choice.to_report() == {"runtime": runtime.value, "runtime_source": "detected"}


def test_the_spec_wins_over_detection(tmp_path: Path) -> None:
    choice = choose_runtime(_tree(tmp_path, {"pyproject.toml": ""}), RuntimeName.SHELL)
    assert choice.to_report() == {"runtime": "shell", "runtime_source": "spec"}


def test_an_undetectable_repository_names_the_files_looked_for(tmp_path: Path) -> None:
    with pytest.raises(RuntimeUnavailable) as caught:
        choose_runtime(_tree(tmp_path, {"README.md": "hi", "run.sh": "echo"}), None)
    assert caught.value.reason == "RUNTIME_UNDETECTED"
    for name in (
        "package.json",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "requirements*.txt",
        "*.bats",
    ):
        assert name in caught.value.message
    assert "runtime: shell" in (caught.value.hint or "")


def test_a_detected_runtime_that_is_not_built_is_refused_as_not_supported_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from acceptance.engine import runtime_choice

    monkeypatch.setattr(
        runtime_choice, "SUPPORTED_RUNTIMES", (RuntimeName.PYTHON, RuntimeName.SHELL)
    )
    with pytest.raises(RuntimeUnavailable) as caught:
        choose_runtime(_tree(tmp_path, {"package.json": "{}", "index.js": ""}), None)
    assert caught.value.reason == "RUNTIME_UNSUPPORTED"
    assert "package.json, so it is a node delivery" in caught.value.message
    assert "cannot be judged yet" in caught.value.message


@pytest.mark.parametrize(
    ("files", "says"),
    [
        # a bash delivery that adds an empty requirements.txt (red team, bash-as-python)
        ({"tests/t.bats": "", "requirements.txt": ""}, "shell tests (tests/t.bats)"),
        # a Python delivery without packaging that adds a passing .bats (python-as-shell)
        ({"app.py": "", "tests/test_app.py": "", "tests/ok.bats": ""}, "(tests/test_app.py)"),
        ({"pkg/x_test.py": "", "t/ok.bats": ""}, "(pkg/x_test.py)"),
        # a pytest configuration can make any file a test
        ({"pytest.ini": "", "tests/ok.bats": ""}, "(pytest.ini)"),
        ({"deep/conftest.py": "", "tests/ok.bats": ""}, "(deep/conftest.py)"),
        # bats beside a Node project
        ({"package.json": "{}", "test/a.bats": ""}, "node project or tests (package.json)"),
        # a Node project's tests beside Python's: node tests never run if judged as Python
        (
            {"package.json": "{}", "src/a.test.mjs": "", "requirements.txt": ""},
            "node tests (src/a.test.mjs)",
        ),
        ({"package.json": "{}", "test/unit/a.cjs": "", "x/test_a.py": ""}, "(test/unit/a.cjs)"),
    ],
)
def test_the_tests_of_two_runtimes_without_a_runtime_in_the_spec_are_refused(
    tmp_path: Path, files: dict[str, str], says: str
) -> None:
    with pytest.raises(RuntimeAmbiguous) as caught:
        choose_runtime(_tree(tmp_path, files), None)
    assert caught.value.reason == "RUNTIME_AMBIGUOUS"
    assert says in caught.value.message, caught.value.message
    assert "the engine does not choose" in caught.value.message
    assert "runtime: shell" in (caught.value.hint or "")
    # the owner naming the runtime settles it
    for name in RuntimeName:
        assert choose_runtime(tmp_path, name).name is name


def test_the_owners_hidden_tests_settle_an_ambiguous_tree_for_python(tmp_path: Path) -> None:
    # pytest tests of the owner's: a tree with Python in it is judged as Python, its
    # .bats files beside (the hidden tests decide, whatever the delivery carries)
    tree = _tree(tmp_path, {"app.py": "", "tests/test_app.py": "", "tests/ok.bats": ""})
    choice = choose_runtime(tree, None, hidden_tests=True)
    assert (choice.name, choice.source, choice.evidence) == (
        RuntimeName.PYTHON, "detected", ("app.py",)
    )  # fmt: skip
    marked = _tree(tmp_path / "m", {"requirements.txt": "", "tests/t.bats": ""})
    assert choose_runtime(marked, None, hidden_tests=True).evidence == ("requirements.txt",)
    # no Python at all: detection as before (the pipeline then says RUNTIME_MISMATCH)
    shell = _tree(tmp_path / "s", {"tool.sh": "", "tests/t.bats": ""})
    assert choose_runtime(shell, None, hidden_tests=True).name is RuntimeName.SHELL


def test_detection_follows_no_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _tree(outside, {"pyproject.toml": "", "deep/a.bats": ""})
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside / "pyproject.toml", repo / "pyproject.toml")
    os.symlink(outside / "deep", repo / "linked")
    with pytest.raises(RuntimeUnavailable):
        choose_runtime(repo, None)


# ---------------------------------------------------------------- bats results

PASSING = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites time="0.1"><testsuite name="a.bats" tests="2" failures="0" errors="0" skipped="0">
<testcase classname="a.bats" name="one" time="0.01" />
<testcase classname="a.bats" name="two" time="0.01" />
</testsuite></testsuites>"""
FAILING = PASSING.replace(
    b'name="two" time="0.01" />',
    b'name="two" time="0.01"><failure type="failure">boom</failure></testcase>',
)


def _run(
    junit: bytes | None, *, exit_code: int = 0, expected: int | None = 2, **extra: object
) -> bats.BatsRun:
    fields: dict[str, object] = {
        "exit_code": exit_code, "timed_out": False, "timeout": 60, "output_limit_hit": False,
        "memory_limit_hit": False, "process_limit_hit": False, "junit": junit, "expected": expected,
    }  # fmt: skip
    fields.update(extra)
    return bats.BatsRun(**fields)  # type: ignore[arg-type]


def test_bats_results_are_counted_exactly() -> None:
    result = bats.evaluate_bats(FunctionalSpec(), _run(PASSING))
    assert result.status is CheckStatus.PASSED
    assert result.details["tests"] == {"passed": 2, "failed": 0, "errors": 0, "skipped": 0}
    assert [r["id"] for r in result.details["results"]] == ["a.bats::one", "a.bats::two"]  # type: ignore[attr-defined, index]
    failed = bats.evaluate_bats(FunctionalSpec(), _run(FAILING, exit_code=1))
    assert (failed.status, failed.reason_code) == (CheckStatus.FAILED, "TESTS_FAILED")
    assert failed.details["failing_tests"] == ["a.bats::two"]


@pytest.mark.parametrize(
    ("run", "code", "says"),
    [
        # more or fewer tests than bats counted before they ran: not bats's account
        (_run(PASSING, expected=1), "INVALID_ARTIFACT", "bats counted 1"),
        (_run(PASSING, expected=3), "INVALID_ARTIFACT", "bats counted 3"),
        (_run(FAILING, exit_code=1, expected=1), "INVALID_ARTIFACT", "bats counted 1"),
        # fewer results from a failing run: a file that does not parse stops the rest
        (_run(FAILING, exit_code=1, expected=4), "TESTS_FAILED", "bats ran 2 of the 4 tests"),
        # a passing report from a run bats says failed
        (_run(PASSING, exit_code=1), "INVALID_ARTIFACT", "exited with 1"),
        (_run(FAILING, exit_code=0), "INVALID_ARTIFACT", "reported success"),
        (_run(None, exit_code=1), "INVALID_ARTIFACT", "wrote no test results"),
        (_run(b"<testsuites><testsuite>", exit_code=0), "INVALID_ARTIFACT", "not well-formed"),
        (
            _run(PASSING, junit_problem="the JUnit results file is unusable: a link"),
            "INVALID_ARTIFACT",
            "a link",
        ),
        (_run(PASSING, expected=None), "TESTS_FAILED", "could not count"),
        (_run(None, expected=0, exit_code=1), "NO_TESTS", "no tests were found"),
        (_run(PASSING, process_limit_hit=True, timed_out=True), "PROCESS_LIMIT", "more processes"),
        (_run(None, output_limit_hit=True), "OUTPUT_LIMIT", "output limit"),
        (_run(None, timed_out=True), "TIMEOUT", "did not finish"),
        (_run(None, full_filesystems=("/tmp",)), "DISK_LIMIT", "scratch space"),
    ],
)
def test_a_bats_run_that_cannot_be_believed_fails(run: bats.BatsRun, code: str, says: str) -> None:
    result = bats.evaluate_bats(FunctionalSpec(), run)
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == code, result.summary
    assert says in result.summary


def test_too_few_passing_bats_tests_fail() -> None:
    result = bats.evaluate_bats(FunctionalSpec(min_passed=3), _run(PASSING))
    assert result.reason_code == "TOO_FEW_PASSED"


def test_bats_gets_its_paths_as_arguments_never_options() -> None:
    assert bats.test_paths(FunctionalSpec()) == ["./tests"]
    assert bats.test_paths(FunctionalSpec(paths=("-r", "./t"))) == ["./-r", "./t"]
    assert bats.count_command(FunctionalSpec()) == ["bats", "--count", "--recursive", "./tests"]
    assert bats.parse_count(b"12\n") == 12
    assert bats.parse_count(b"12\nwarning") is None
    assert bats.parse_count(b"") is None


@given(st.binary(max_size=2000))
def test_hostile_bytes_as_a_bats_report_never_pass(data: bytes) -> None:
    result = bats.evaluate_bats(FunctionalSpec(), _run(data, exit_code=1))
    assert result.status is CheckStatus.FAILED


# ---------------------------------------------------------------- ShellCheck


def _comment(code: int, level: str, line: int = 3, file: str = "./tool.sh") -> dict[str, object]:
    return {"file": file, "line": line, "endLine": line, "column": 6, "endColumn": 8,
            "level": level, "code": code, "message": "Double quote to prevent globbing", "fix": None}  # fmt: skip


def _report(*comments: dict[str, object]) -> bytes:
    return json.dumps({"comments": list(comments)}).encode()


def test_shellcheck_levels_map_to_the_spec_severities() -> None:
    report = _report(
        _comment(1000, "error"),
        _comment(2086, "warning"),
        _comment(2034, "info"),
        _comment(2001, "style"),
    )
    outcome = shellcheck.evaluate_shellcheck(report, SastSpec(), None, version="0.9.0")
    result = outcome.result
    assert result.details["counts"] == {"high": 1, "medium": 1, "low": 2}
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "SAST_FINDINGS")
    findings = result.details["findings"]
    assert [(f["test_id"], f["severity"], f["blocking"]) for f in findings] == [  # type: ignore[attr-defined, index]
        ("SC1000", "high", True), ("SC2086", "medium", True), ("SC2001", "low", False), ("SC2034", "low", False),
    ]  # fmt: skip
    assert findings[0]["filename"] == "tool.sh"  # type: ignore[index]
    sarif = json.loads(outcome.artifacts["shellcheck.sarif"])
    assert sarif["version"] == "2.1.0"
    assert [r["level"] for r in sarif["runs"][0]["results"]] == ["error", "warning", "note", "note"]
    high_only = shellcheck.evaluate_shellcheck(report, SastSpec(fail_on=Severity.HIGH), None).result
    assert "1 finding(s) at or above high" in high_only.summary


def test_a_clean_scan_passes() -> None:
    outcome = shellcheck.evaluate_shellcheck(_report(_comment(2034, "info")), SastSpec(), None)
    assert outcome.result.status is CheckStatus.PASSED
    assert outcome.result.summary == "no findings at or above medium (1 low in all)"


def test_a_finding_silenced_by_a_directive_still_blocks_unless_the_spec_allows_it() -> None:
    plain = _report(_comment(2086, "warning"))
    as_delivered = _report()  # the directive hid it
    strict = shellcheck.evaluate_shellcheck(
        plain, SastSpec(), as_delivered, directive_files=["tool.sh"]
    )
    assert strict.result.status is CheckStatus.FAILED
    assert strict.result.details["findings"][0]["suppressed"] is True  # type: ignore[index]
    assert "1 under # shellcheck disable (not allowed by the spec)" in strict.result.summary
    lenient = shellcheck.evaluate_shellcheck(
        plain, SastSpec(allow_suppressions=True), as_delivered, directive_files=["tool.sh"]
    )
    assert lenient.result.status is CheckStatus.PASSED


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (b"# shellcheck disable=SC2086\necho $1\n", b"                           \necho $1\n"),
        (b"#shellcheck disable=all\n", b"                       \n"),
        (
            b"# shellcheck shell=bash disable=SC2034,SC2086\n",
            b"# shellcheck shell=bash                      \n",
        ),
        (b"echo hi  # shellcheck disable=SC2086\n", b"echo hi                             \n"),
        # the directive's own comment (its reason) goes with it: ShellCheck would read an
        # empty directive before it as a parse error
        (b"# shellcheck disable=SC2086 # split here\n", b" " * 40 + b"\n"),
        (
            b"# shellcheck shell=bash disable=SC2086 # split\n",
            b"# shellcheck shell=bash                # split\n",
        ),
        # `shell=` stays: it says how to read the file, not what to ignore
        (b"# shellcheck shell=bash source-path=SCRIPTDIR\n",) * 2,
        # `source=` goes: source=/dev/null hides a library (checks/shell_sources.py
        # follows the file a directive names instead)
        (
            b"# shellcheck shell=bash\n# shellcheck source=/dev/null\n",
            b"# shellcheck shell=bash\n" + b" " * 29 + b"\n",
        ),
        (
            b"# shellcheck source=lib.sh disable=SC1091\n",
            b" " * 41 + b"\n",
        ),
    ],
)
def test_disable_directives_are_blanked_keeping_every_position(
    source: bytes, expected: bytes
) -> None:
    blanked, changed = shellcheck.neutralise(source)
    assert blanked == expected
    assert len(blanked) == len(source)
    assert changed is (source != expected)


@pytest.mark.parametrize(
    "report",
    [b"", b"not json", b"[]", b'{"comments": {}}', b'{"comments": [1]}',
     b'{"comments": [{"file": "a", "line": 1, "column": 1, "level": "fatal", "code": 1, "message": "x"}]}',
     b'{"comments": [{"file": "a", "line": -1, "column": 1, "level": "error", "code": 1, "message": "x"}]}',
     b'{"comments": [{"file": "a", "line": 1, "column": 1, "level": "error", "code": true, "message": "x"}]}',
     b"[" * 100_000],
)  # fmt: skip
def test_a_report_shellcheck_never_writes_fails_the_check(report: bytes) -> None:
    result = shellcheck.evaluate_shellcheck(report, SastSpec(), None).result
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "INVALID_ARTIFACT")


def test_control_characters_in_findings_are_removed() -> None:
    comment = _comment(2086, "warning", file="./a\x1b[31mred\u202e.sh")
    comment["message"] = "quote\x00 this\x1b]8;;http://x\x07"
    details = shellcheck.evaluate_shellcheck(_report(comment), SastSpec(), None).result.details
    finding = details["findings"][0]  # type: ignore[index]
    assert finding["filename"] == "ared.sh"
    assert "\x00" not in finding["text"] and "\x1b" not in finding["text"]


def test_shell_files_are_found_by_suffix_and_shebang_without_links(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "bin/tool": "#!/usr/bin/env bash\necho\n", "bin/py": "#!/usr/bin/env python3\n",
        "lib/a.sh": "", "lib/b.bash": "", "tests/t.bats": "", "docs/x.md": "",
        "old/c.sh": "", ".git/hooks/pre-commit.sh": "", "sbin/run": "#! /bin/sh -e\n",
    })  # fmt: skip
    os.symlink("/etc/passwd", tmp_path / "lib" / "passwd.sh")
    assert shellcheck.shell_files(tmp_path, exclude=("old",)) == [
        "bin/tool", "lib/a.sh", "lib/b.bash", "sbin/run", "tests/t.bats",
    ]  # fmt: skip


def test_staged_copies_hold_the_blanked_files_and_leave_out_oversized_ones(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path / "repo", {"a.sh": "# shellcheck disable=SC2086\necho $1\n", "b.sh": "echo\n"}
    )
    (tree / "big.sh").write_bytes(b"#" * (shellcheck.MAX_FILE_BYTES + 1))
    staged, directives = shellcheck.stage_copies(
        tree, ["a.sh", "b.sh", "big.sh"], tmp_path / "scan"
    )
    assert (staged, directives) == (["a.sh", "b.sh"], ["a.sh"])
    assert b"disable" not in (tmp_path / "scan" / "a.sh").read_bytes()
    unscanned = shellcheck.evaluate_shellcheck(
        _report(), SastSpec(), None, unscanned=["big.sh"]
    ).result
    assert (unscanned.status, unscanned.reason_code) == (CheckStatus.FAILED, "SAST_UNSCANNABLE")


# ---------------------------------------------------------------- bats's machinery


def test_shell_code_that_reaches_into_bats_is_flagged(tmp_path: Path) -> None:
    from checks.bats_hooks import find_bats_hooks

    tree = _tree(tmp_path, {
        "tests/a.bats": '@test "x" {\n  run true\n  echo "# note" >&3\n}\n',
        "tests/helper.bash": "bats_test_function() {\n  :\n}\nfunction run {\n  :\n}\n",
        "tests/pad.bats": '@test "y" {\n  printf "ok 9 forged\\n" >&3\n}\n',
        "bin/tool": "#!/bin/bash\ncat /proc/1/fd/1\nls /work/out\n",
        "docs/notes.md": "bats_x() { :; }\n",
    })  # fmt: skip
    found = [(f.path, f.line) for f in find_bats_hooks(tree)]
    assert found == [
        ("bin/tool", 2), ("bin/tool", 3),
        ("tests/helper.bash", 1), ("tests/helper.bash", 4),
        ("tests/pad.bats", 2),
    ]  # fmt: skip
    # Using bats (run, load, printing a note to fd 3) is not reaching into it.
    clean = _tree(
        tmp_path / "clean", {"tests/a.bats": '@test "x" {\n  run true\n  load helper\n}\n'}
    )
    assert find_bats_hooks(clean) == []


def test_a_test_bats_stopped_at_the_per_test_limit_is_named() -> None:
    junit = FAILING.replace(b"boom", b"`@test` failed due to timeout\nTerminated")
    result = bats.evaluate_bats(FunctionalSpec(test_timeout=5), _run(junit, exit_code=1))
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "TEST_TIMEOUT")
    assert result.details["timed_out_tests"] == ["a.bats::two"]
    assert "first a.bats::two" in result.summary
    # Without a per-test limit the same words are only a failure message.
    plain = bats.evaluate_bats(FunctionalSpec(), _run(junit, exit_code=1))
    assert (plain.reason_code, plain.details["timed_out_tests"]) == ("TESTS_FAILED", [])


def test_files_past_the_cap_are_not_scanned_never_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shellcheck, "MAX_FILES", 2)
    tree = _tree(tmp_path / "repo", {"a.sh": "echo\n", "b.sh": "echo\n", "c.sh": "echo\n"})
    staged, _ = shellcheck.stage_copies(tree, ["a.sh", "b.sh", "c.sh"], tmp_path / "scan")
    assert staged == ["a.sh", "b.sh"]


def test_a_file_bats_could_not_run_is_one_named_failure() -> None:
    # What bats 1.8 writes for a .bats file with a syntax error, or a failing setup_file.
    junit = PASSING.replace(
        b'name="two" time="0.01" />', b'name="" time="0"><failure>syntax error</failure></testcase>'
    )
    result = bats.evaluate_bats(FunctionalSpec(), _run(junit, exit_code=1, expected=3))
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "TESTS_FAILED")
    assert result.details["failing_tests"] == ["a.bats::(the whole file)"]
    assert "bats ran 2 of the 3 tests it counted" in result.summary
