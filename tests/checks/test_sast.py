"""The SAST check: bandit in the sandbox, judged on the host."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from acceptance.engine.spec import SastSpec, Severity, parse_spec
from checks.interface import CheckOutcome, CheckStatus
from checks.report_text import MAX_LISTED_FINDINGS
from checks.sast import (
    MAX_REPORT_BYTES,
    evaluate_sast,
    excluded_paths,
    run_sast,
    sast_command,
)
from sandbox.interface import CommandResult, Sandbox, SandboxLimitError
from tests.fakes import FakeSandbox, FileContent

HOST_BANDIT = str(Path(sys.executable).with_name("bandit"))

# ---------------------------------------------------------------- crafted reports


def _item(**over: object) -> dict[str, object]:
    item: dict[str, object] = {
        "filename": "/work/src/app/run.py",
        "test_name": "subprocess_popen_with_shell_equals_true",
        "test_id": "B602",
        "issue_severity": "HIGH",
        "issue_confidence": "HIGH",
        "issue_cwe": {"id": 78, "link": "https://cwe.mitre.org/data/definitions/78.html"},
        "issue_text": "subprocess call with shell=True identified, security issue.",
        "line_number": 3,
        "line_range": [3],
        "col_offset": 4,
        "end_col_offset": 40,
        "code": "3     subprocess.call(cmd, shell=True)\n",
        "more_info": "https://bandit.readthedocs.io/en/1.9.4/plugins/b602.html",
    }
    item.update(over)
    return item


def _report(results: Sequence[object] = (), errors: Sequence[object] = ()) -> bytes:
    return json.dumps({"results": list(results), "errors": list(errors), "metrics": {}}).encode()


LOW_ITEM = _item(
    test_id="B101",
    test_name="assert_used",
    issue_severity="LOW",
    issue_confidence="HIGH",
    issue_cwe={"id": 703},
    filename="/work/src/tests/test_x.py",
    line_number=7,
)
SQL_ITEM = _item(
    test_id="B608",
    test_name="hardcoded_sql_expressions",
    issue_severity="MEDIUM",
    issue_confidence="LOW",
    issue_cwe={"id": 89},
    filename="/work/src/app/db.py",
    line_number=9,
)


def test_a_high_finding_fails_and_is_described() -> None:
    spec = SastSpec(fail_on=Severity.MEDIUM, confidence=Severity.LOW)
    outcome = evaluate_sast(_report([_item(), LOW_ITEM]), spec)
    result = outcome.result
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "SAST_FINDINGS"
    assert result.summary.startswith("1 finding at or above medium (1 high) in app/run.py:3")
    findings = result.details["findings"]
    assert isinstance(findings, list)
    assert findings[0] == {
        "test_id": "B602",
        "test_name": "subprocess_popen_with_shell_equals_true",
        "severity": "high",
        "confidence": "high",
        "filename": "app/run.py",
        "line": 3,
        "text": "subprocess call with shell=True identified, security issue.",
        "cwe": "CWE-78",
        "suppressed": False,
        "more_info": "https://bandit.readthedocs.io/en/1.9.4/plugins/b602.html",
        "blocking": True,
    }
    assert findings[1]["severity"] == "low" and findings[1]["blocking"] is False
    assert result.details["counts"] == {"high": 1, "medium": 0, "low": 1}
    assert result.details["settings"] == {
        "fail_on": "medium",
        "confidence": "low",
        "exclude": [],
        "allow_suppressions": False,
    }
    assert result.to_report()["id"] == "sast"


def test_findings_below_fail_on_pass() -> None:
    spec = SastSpec(fail_on=Severity.HIGH, confidence=Severity.LOW)
    result = evaluate_sast(_report([LOW_ITEM, SQL_ITEM]), spec).result
    assert result.status is CheckStatus.PASSED
    assert result.reason_code is None
    assert result.summary == "no findings at or above high (1 medium, 1 low in all)"


def test_confidence_filter_drops_findings() -> None:
    spec = SastSpec(fail_on=Severity.MEDIUM, confidence=Severity.MEDIUM)
    result = evaluate_sast(_report([SQL_ITEM]), spec).result
    assert result.status is CheckStatus.PASSED
    assert result.details["findings"] == []
    low = evaluate_sast(
        _report([SQL_ITEM]), SastSpec(fail_on=Severity.MEDIUM, confidence=Severity.LOW)
    ).result
    assert low.status is CheckStatus.FAILED


@pytest.mark.parametrize(
    ("allow", "status"), [(False, CheckStatus.FAILED), (True, CheckStatus.PASSED)]
)
def test_suppressed_findings_count_unless_allowed(allow: bool, status: CheckStatus) -> None:
    report = _report([_item(suppressed_by_nosec=True)])
    result = evaluate_sast(report, SastSpec(allow_suppressions=allow)).result
    assert result.status is status
    findings = result.details["findings"]
    assert isinstance(findings, list) and findings[0]["suppressed"] is True
    assert result.details["suppressed"] == 1
    assert "marked # nosec" in result.summary


def test_errors_are_evidence_not_failures() -> None:
    errors = [
        {"filename": "/work/src/app/bad.py", "reason": "syntax error while parsing AST from file"}
    ]
    result = evaluate_sast(_report([], errors), SastSpec()).result
    assert result.status is CheckStatus.PASSED
    assert result.details["errors"] == [
        {
            "filename": "app/bad.py",
            "reason": "syntax error while parsing AST from file",
            "valid_python": False,
        }
    ]
    assert "1 file(s) could not be scanned" in result.summary


def test_valid_python_the_scanner_could_not_read_fails_closed() -> None:
    errors = [
        {
            "filename": "/work/src/app/deep.py",
            "reason": "exception while scanning file",
            "valid_python": True,
        }
    ]
    result = evaluate_sast(_report([], errors), SastSpec()).result
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "SAST_UNSCANNABLE"
    assert "app/deep.py" in result.summary


def test_listing_is_capped() -> None:
    items = [_item(line_number=n) for n in range(1, MAX_LISTED_FINDINGS + 20)]
    result = evaluate_sast(_report(items), SastSpec()).result
    findings = result.details["findings"]
    assert isinstance(findings, list) and len(findings) == MAX_LISTED_FINDINGS
    assert result.details["findings_truncated"] is True
    assert result.details["counts"] == {"high": MAX_LISTED_FINDINGS + 19, "medium": 0, "low": 0}
    assert result.summary.endswith(", ...")


def test_supplier_text_is_made_printable() -> None:
    evil = _item(
        issue_text="\x1b[31mred\x1b[0m <script>alert(1)</script>\u202eevil\x00\udcff" + "x" * 5000,
        filename="/work/src/app/\x1b]0;title\x07r\u200bun\n.py",
        more_info="javascript:alert(1)",
        test_name="<b>bold</b>",
    )
    result = evaluate_sast(_report([evil]), SastSpec()).result
    findings = result.details["findings"]
    assert isinstance(findings, list)
    finding = findings[0]
    assert finding["text"].startswith("red <script>alert(1)</script>evil")
    assert len(finding["text"]) <= 500
    assert finding["filename"] == "app/run .py"
    assert finding["more_info"] is None
    assert finding["test_name"] == ""
    for text in (finding["text"], finding["filename"], result.summary):
        assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text)
        text.encode("utf-8")


def test_sarif_becomes_the_artifact() -> None:
    outcome = evaluate_sast(_report(), SastSpec(), sarif=b'{"version": "2.1.0"}')
    assert outcome.artifacts == {"bandit.sarif": b'{"version": "2.1.0"}'}
    assert evaluate_sast(_report(), SastSpec()).artifacts == {}


BAD_REPORTS: dict[str, bytes] = {
    "empty": b"",
    "not json": b"<html>oops</html>",
    "not utf-8": b'{"results": [], "errors": [], "x": "\xff"}',
    "a list": b"[]",
    "results not a list": b'{"results": 5, "errors": []}',
    "no results": b'{"errors": []}',
    "nesting bomb": b'{"results": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "huge number": b'{"results": [' + b"9" * 10_000 + b'], "errors": []}',
    "result not an object": _report(["B602"]),
    "unknown severity": _report([_item(issue_severity="CRITICAL")]),
    "undefined confidence": _report([_item(issue_confidence="UNDEFINED")]),
    "line as text": _report([_item(line_number="3")]),
    "line as bool": _report([_item(line_number=True)]),
    "negative line": _report([_item(line_number=-1)]),
    "bad test id": _report([_item(test_id="B602; rm -rf /")]),
    "filename not text": _report([_item(filename=["a"])]),
    "suppressed not a bool": _report([_item(suppressed_by_nosec="yes")]),
    "error without reason": _report([], [{"filename": "a.py"}]),
    "error not an object": _report([], ["a.py"]),
}


@pytest.mark.parametrize("name", sorted(BAD_REPORTS))
def test_unusable_reports_fail_as_invalid_artifact(name: str) -> None:
    result = evaluate_sast(BAD_REPORTS[name], SastSpec()).result
    assert result.status is CheckStatus.FAILED
    assert result.reason_code == "INVALID_ARTIFACT"
    assert result.details["findings"] == []


def test_oversized_report_is_refused() -> None:
    data = _report([_item(issue_text="x" * 1000)] * (MAX_REPORT_BYTES // 1000 + 10))
    assert len(data) > MAX_REPORT_BYTES
    assert evaluate_sast(data, SastSpec()).result.reason_code == "INVALID_ARTIFACT"


def test_odd_but_harmless_fields_are_tolerated() -> None:
    item = _item(issue_cwe="78", more_info=None, test_name=None)
    del item["code"]
    result = evaluate_sast(_report([item]), SastSpec()).result
    findings = result.details["findings"]
    assert isinstance(findings, list)
    assert findings[0]["cwe"] is None and findings[0]["more_info"] is None


def test_disabled_spec_is_skipped() -> None:
    result = evaluate_sast(b"garbage", SastSpec(enabled=False)).result
    assert result.status is CheckStatus.SKIPPED
    assert result.summary == "not checked: turned off in the spec"


# ---------------------------------------------------------------- a spec's defaults

EVAL_INPUT = "def calculate():\n    return eval(input())\n"


def _driver_on_host(folder: Path, spec: SastSpec, out: Path) -> bytes:
    """The sandbox's bandit driver, argv and all, run by the host's Python on ``folder``."""
    argv = sast_command(spec, target=str(folder), out_dir=str(out))
    subprocess.run([sys.executable, *argv[1:]], check=True, capture_output=True, timeout=120)
    return (out / "bandit.json").read_bytes()


def test_a_spec_of_only_version_and_title_rejects_eval_of_input(tmp_path: Path) -> None:
    folder = tmp_path / "delivery"
    (folder / "calc").mkdir(parents=True)
    (folder / "calc" / "__init__.py").write_text(EVAL_INPUT, encoding="utf-8")
    spec = parse_spec("version: 1\ntitle: Calculator\n", tmp_path).security.sast

    report = _driver_on_host(folder, spec, tmp_path / "out")
    result = evaluate_sast(report, spec, target=str(folder)).result

    assert result.status is CheckStatus.FAILED and result.reason_code == "SAST_FINDINGS"
    [finding] = [f for f in _findings(result.details) if f["blocking"]]
    # bandit rates B307 (eval) medium severity, high confidence: the default must catch it
    assert (finding["test_id"], finding["severity"], finding["confidence"]) == (
        "B307",
        "medium",
        "high",
    )
    assert (finding["filename"], finding["line"]) == ("calc/__init__.py", 2)
    assert result.summary.startswith(
        "1 finding at or above medium (1 medium) in calc/__init__.py:2"
    )
    assert result.details["settings"] == {
        "fail_on": "medium", "confidence": "medium", "exclude": [], "allow_suppressions": False,
    }  # fmt: skip


def test_the_old_defaults_would_have_accepted_eval_of_input(tmp_path: Path) -> None:
    """Why the defaults changed: high-only let B307 through."""
    folder = tmp_path / "delivery"
    folder.mkdir()
    (folder / "calc.py").write_text(EVAL_INPUT, encoding="utf-8")
    old = SastSpec(fail_on=Severity.HIGH, confidence=Severity.LOW)
    report = _driver_on_host(folder, old, tmp_path / "out")
    assert evaluate_sast(report, old, target=str(folder)).result.status is CheckStatus.PASSED
    assert evaluate_sast(report, SastSpec(), target=str(folder)).result.status is CheckStatus.FAILED


def test_low_confidence_guesses_do_not_fail_a_default_spec() -> None:
    """B608 on any string starting with SELECT is a low-confidence guess: listed only if asked."""
    result = evaluate_sast(_report([SQL_ITEM, LOW_ITEM]), SastSpec()).result
    assert result.status is CheckStatus.PASSED
    assert [f["test_id"] for f in _findings(result.details)] == ["B101"]


# ---------------------------------------------------------------- the command


def test_command_uses_the_tools_venv_isolated_and_no_supplier_config() -> None:
    spec = SastSpec(exclude=("tests", "./docs/", "../etc", "/", "a,b"), confidence=Severity.MEDIUM)
    argv = sast_command(spec)
    assert argv[:3] == ["/opt/acceptance/tools/bin/python", "-I", "-c"]
    assert argv[4:6] == ["/work/src", "/work/out"]
    assert argv[6].split(",") == [
        "/work/src/.git",
        "/work/src/acceptance_hidden_tests",
        "/work/venv",
        "/work/src/tests",
        "/work/src/docs",
        "/work/src/a?b",
    ]
    assert argv[7] == "MEDIUM"
    assert "--ini" not in argv[3] and "configfile" not in argv[3]


def test_excluded_paths_follow_the_target() -> None:
    assert excluded_paths(SastSpec(exclude=("x",)), target="/work/t/") == [
        "/work/t/.git",
        "/work/t/acceptance_hidden_tests",
        "/work/venv",
        "/work/t/x",
    ]


def started(result: CommandResult, files: Mapping[str, FileContent] | None = None) -> FakeSandbox:
    """The shared FakeSandbox (tests/fakes.py), running, answering every command with RESULT."""
    sandbox = FakeSandbox(result, files)
    sandbox.start()
    return sandbox


def _ran(**over: object) -> CommandResult:
    fields: dict[str, object] = {
        "exit_code": 0,
        "output": b"",
        "output_truncated": False,
        "seconds": 1.0,
    }
    fields.update(over)
    return CommandResult(**fields)  # type: ignore[arg-type]


def test_run_sast_reads_the_report_files() -> None:
    sandbox = started(
        _ran(output=b'{"results": []}'),  # stdout is never trusted
        {"/work/out/bandit.json": _report([_item()]), "/work/out/bandit.sarif": b"{}"},
    )
    outcome = run_sast(sandbox, SastSpec(), timeout=60)
    assert outcome.result.status is CheckStatus.FAILED
    assert outcome.artifacts == {"bandit.sarif": b"{}"}


@pytest.mark.parametrize(
    ("result", "files", "code"),
    [
        (_ran(exit_code=None, timed_out=True), {}, "TIMEOUT"),
        (_ran(exit_code=137, memory_limit_hit=True), {}, "MEMORY_LIMIT"),
        (_ran(exit_code=1), {}, "INVALID_ARTIFACT"),
        (
            _ran(),
            {"/work/out/bandit.json": SandboxLimitError("INVALID_ARTIFACT", "too big")},
            "INVALID_ARTIFACT",
        ),
        (_ran(), {"/work/out/bandit.json": b"{"}, "INVALID_ARTIFACT"),
    ],
)
def test_run_sast_failures(result: CommandResult, files: dict[str, FileContent], code: str) -> None:
    outcome = run_sast(started(result, files), SastSpec(), timeout=5)
    assert outcome.result.status is CheckStatus.FAILED
    assert outcome.result.reason_code == code


def test_run_sast_disabled_runs_nothing() -> None:
    sandbox = started(_ran())
    assert (
        run_sast(sandbox, SastSpec(enabled=False), timeout=5).result.status is CheckStatus.SKIPPED
    )
    assert sandbox.calls == []


# ---------------------------------------------------------------- real bandit, real sandbox

RUN_PY = """import subprocess


def run(cmd):
    return subprocess.call(cmd, shell=True){nosec}
"""

# The supplier's own bandit settings, in every place bandit (or a user) might look.
SKIP_ALL = "B101,B102,B103,B104,B105,B106,B107,B108,B110,B112,B311,B324,B404,B602,B603,B608"
SUPPLIER_CONFIG = {
    ".bandit": f"[bandit]\nskips = {SKIP_ALL}\nexclude = app,tests\ntargets = nothing\n",
    "sub/.bandit": "[bandit]\nskips = B602\n",  # two .bandit files make the bandit CLI exit 2
    "pyproject.toml": "[tool.bandit]\nskips = [{}]\nexclude_dirs = ['app', 'tests']\n".format(
        ", ".join(f'"{t}"' for t in SKIP_ALL.split(","))
    ),
    "setup.cfg": f"[bandit]\nskips = {SKIP_ALL}\n",
    "tox.ini": f"[bandit]\nskips = {SKIP_ALL}\n",
    "bandit.yaml": f"skips: [{SKIP_ALL}]\n",
}

REPOS: dict[str, dict[str, str]] = {
    "plain": {
        "app/run.py": RUN_PY.format(nosec=""),
        "app/db.py": "def q(name):\n    return \"SELECT * FROM t WHERE n = '%s'\" % name\n",
        "app/bad.py": "def broken(:\n    pass\n",
        "tests/test_run.py": "def test_run():\n    assert True\n",
        "tests/helper.py": "import subprocess\nsubprocess.Popen('ls', shell=True)\n",
        ".git/hooks/post.py": "import os\nos.system(input())\n",
        "acceptance_hidden_tests/test_h.py": "import os\nos.system(input())\n",
        "sub/__init__.py": "",
        **SUPPLIER_CONFIG,
    },
    "nosec": {
        "app/run.py": RUN_PY.format(nosec="  # nosec"),
        "app/ids.py": (
            "import subprocess\n"
            "subprocess.call(input(), shell=True)  # nosec B602\n"
            "subprocess.call(input(), shell=True)  # nosec B101\n"
            's = "# nosec"; subprocess.call(input(), shell=True)\n'
        ),
        **SUPPLIER_CONFIG,
    },
    "eval": {
        "calc/__init__.py": EVAL_INPUT,
        "tests/test_calc.py": "def test_calc():\n    assert True\n",
    },
}


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sast-repos")
    for name, files in REPOS.items():
        for relpath, text in files.items():
            path = root / name / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    # readable by the sandbox user (uid 10001), as a checkout is
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture(scope="module")
def sast_sandbox(sandbox_image: str, repos: Path) -> Iterator[Sandbox]:
    from sandbox.docker import DockerSandbox
    from sandbox.interface import SandboxConfig

    sandbox = DockerSandbox(SandboxConfig(image=sandbox_image, readonly_mounts={repos: "/src"}))
    try:
        sandbox.start()
        done = sandbox.run(
            ["sh", "-c", "mkdir -p /work/out /work/repos && cp -a /src/. /work/repos/"], timeout=60
        )
        assert done.exit_code == 0, done.text
        yield sandbox
    finally:
        sandbox.close()


def _scan(
    sandbox: Sandbox, repo: str, spec: SastSpec
) -> tuple[CheckStatus, dict[str, object], CheckOutcome]:
    outcome = run_sast(
        sandbox, spec, timeout=120, target=f"/work/repos/{repo}", out_dir=f"/work/out/{repo}"
    )
    return outcome.result.status, dict(outcome.result.details), outcome


def _findings(details: Mapping[str, object]) -> list[dict[str, object]]:
    value = details["findings"]
    assert isinstance(value, list)
    return value


@pytest.mark.docker
def test_shell_true_fails_despite_supplier_config(sast_sandbox: Sandbox) -> None:
    status, details, outcome = _scan(
        sast_sandbox, "plain", SastSpec(fail_on=Severity.MEDIUM, confidence=Severity.LOW)
    )
    assert status is CheckStatus.FAILED
    result = outcome.result
    assert result.reason_code == "SAST_FINDINGS"
    assert "app/run.py:5" in result.summary
    found = {(f["test_id"], f["filename"], f["line"]) for f in _findings(details)}
    # every one of these is in the supplier's skips / excluded dirs
    assert {
        ("B602", "app/run.py", 5),
        ("B404", "app/run.py", 1),
        ("B608", "app/db.py", 2),
        ("B101", "tests/test_run.py", 2),
        ("B602", "tests/helper.py", 2),
    } <= found
    run = next(f for f in _findings(details) if f["filename"] == "app/run.py" and f["line"] == 5)
    assert run["cwe"] == "CWE-78" and run["severity"] == "high" and run["suppressed"] is False
    # .git and the owner's hidden tests are never scanned
    assert not any(
        str(f["filename"]).startswith((".git/", "acceptance_hidden")) for f in _findings(details)
    )
    # the syntax error is evidence, not a crash
    assert details["errors"] == [
        {
            "filename": "app/bad.py",
            "reason": "syntax error while parsing AST from file",
            "valid_python": False,
        }
    ]
    sarif = json.loads(outcome.artifacts["bandit.sarif"])
    assert sarif["version"] == "2.1.0"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"B602", "B608"}
    assert details["tool"] == {"name": "bandit", "version": "1.9.4"}


@pytest.mark.docker
def test_exclude_and_confidence(sast_sandbox: Sandbox) -> None:
    spec = SastSpec(fail_on=Severity.LOW, exclude=("tests",), confidence=Severity.MEDIUM)
    _, details, _ = _scan(sast_sandbox, "plain", spec)
    names = {(f["test_id"], f["filename"]) for f in _findings(details)}
    assert not any(str(name).startswith("tests/") for _, name in names)
    assert ("B608", "app/db.py") not in names  # low confidence
    assert ("B602", "app/run.py") in names


@pytest.mark.docker
def test_nosec_is_listed_and_counts_unless_allowed(sast_sandbox: Sandbox) -> None:
    spec = SastSpec(fail_on=Severity.MEDIUM)
    status, details, _ = _scan(sast_sandbox, "nosec", spec)
    assert status is CheckStatus.FAILED
    marks = {(f["filename"], f["line"], f["test_id"]): f["suppressed"] for f in _findings(details)}
    assert marks[("app/run.py", 5, "B602")] is True
    assert marks[("app/ids.py", 2, "B602")] is True  # nosec naming the test
    assert marks[("app/ids.py", 3, "B602")] is False  # nosec naming another test
    assert marks[("app/ids.py", 4, "B602")] is False  # "# nosec" inside a string

    allowed = SastSpec(fail_on=Severity.MEDIUM, allow_suppressions=True)
    status, details, outcome = _scan(sast_sandbox, "nosec", allowed)
    assert status is CheckStatus.FAILED  # lines 3 and 4 are not really suppressed
    assert "app/ids.py:3" in outcome.result.summary
    assert "app/run.py:5" not in outcome.result.summary
    only_run = SastSpec(fail_on=Severity.MEDIUM, allow_suppressions=True, exclude=("app/ids.py",))
    status, details, _ = _scan(sast_sandbox, "nosec", only_run)
    assert status is CheckStatus.PASSED
    assert any(f["suppressed"] and f["line"] == 5 for f in _findings(details))


@pytest.mark.docker
def test_eval_of_input_fails_a_spec_of_only_version_and_title_in_the_sandbox(
    sast_sandbox: Sandbox, tmp_path: Path
) -> None:
    spec = parse_spec("version: 1\ntitle: Calculator\n", tmp_path).security.sast
    status, details, outcome = _scan(sast_sandbox, "eval", spec)
    assert status is CheckStatus.FAILED and outcome.result.reason_code == "SAST_FINDINGS"
    blocking = [
        (f["test_id"], f["filename"], f["line"]) for f in _findings(details) if f["blocking"]
    ]
    assert blocking == [("B307", "calc/__init__.py", 2)]
    assert "calc/__init__.py:2" in outcome.result.summary


def _host_bandit(directory: Path, *extra: str) -> set[tuple[str, str, int]]:
    """bandit run by hand on the host, supplier config neutralised by an empty --ini."""
    ini = directory.parent / "empty.ini"
    ini.write_text("[bandit]\n", encoding="utf-8")
    excluded = ",".join(str(directory / p) for p in (".git", "acceptance_hidden_tests"))
    proc = subprocess.run(
        [
            HOST_BANDIT,
            "-q",
            "-r",
            str(directory),
            "-f",
            "json",
            "--ini",
            str(ini),
            "-x",
            excluded,
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    prefix = f"{directory}/"
    return {
        (r["test_id"], r["filename"].removeprefix(prefix), r["line_number"])
        for r in json.loads(proc.stdout)["results"]
    }


@pytest.mark.docker
@pytest.mark.parametrize("repo", sorted(REPOS))
def test_findings_match_bandit_by_hand(sast_sandbox: Sandbox, repos: Path, repo: str) -> None:
    _, details, _ = _scan(
        sast_sandbox, repo, SastSpec(fail_on=Severity.LOW, confidence=Severity.LOW)
    )
    ours = {(f["test_id"], f["filename"], f["line"]) for f in _findings(details)}
    everything = _host_bandit(repos / repo, "--ignore-nosec")
    assert ours == everything
    honoured = _host_bandit(repos / repo)
    suppressed = {
        (f["test_id"], f["filename"], f["line"]) for f in _findings(details) if f["suppressed"]
    }
    assert suppressed == everything - honoured
