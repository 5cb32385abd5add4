"""The node SAST check (issue 16): ESLint's report read back and judged on the host, the
rule levels, the files the host finds for it, and the image's pinned ESLint."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance.engine.spec import SastSpec, Severity
from checks.eslint import evaluate_eslint, run_eslint
from checks.eslint_report import MAX_MESSAGES, eslint_command
from checks.eslint_rules import ADDON, RULE_LEVELS, NodeSources, node_sources, rule_level
from checks.interface import CheckOutcome, CheckStatus
from tests.fakes import FakeSandbox, ran

EVAL = "security/detect-eval-with-expression"
TOOL = {"eslint": "9.39.5", "eslint-plugin-security": "4.1.0", "typescript-eslint": "8.74.0"}


def _msg(
    rule: str | None = EVAL, line: int = 3, column: int = 25, **over: object
) -> dict[str, object]:
    message = {"rule": rule, "fatal": False, "severity": 2, "line": line, "column": column,
               "message": "eval with argument of type Identifier"}  # fmt: skip
    return {**message, **over}


def _report(*files: dict[str, object], truncated: bool = False, checked: int = 3) -> bytes:
    return json.dumps({"format": 1, "mode": "sast", "tool": TOOL, "files_checked": checked,
                       "truncated": truncated, "files": list(files)}).encode()  # fmt: skip


def _file(
    path: str, *messages: dict[str, object], as_delivered: object = None
) -> dict[str, object]:
    return {"path": path, "messages": list(messages), "as_delivered": as_delivered}


def _judge(report: bytes, spec: SastSpec | None = None, **kw: Any) -> CheckOutcome:
    return evaluate_eslint(report, spec or SastSpec(), **kw)


# ---------------------------------------------------------------- levels


def test_every_plugin_rule_and_the_string_eval_core_rules_have_levels() -> None:
    plugin_rules = {
        "detect-bidi-characters", "detect-buffer-noassert", "detect-child-process",
        "detect-disable-mustache-escape", "detect-eval-with-expression", "detect-invisible-characters",
        "detect-new-buffer", "detect-no-csrf-before-method-override", "detect-non-literal-fs-filename",
        "detect-non-literal-regexp", "detect-non-literal-require", "detect-object-injection",
        "detect-possible-timing-attacks", "detect-pseudoRandomBytes", "detect-unsafe-regex",
    }  # fmt: skip
    assert {f"security/{r}" for r in plugin_rules} | {"no-new-func", "no-implied-eval"} == set(
        RULE_LEVELS
    )


def test_child_process_exec_of_a_variable_is_high_and_the_import_alone_low() -> None:
    rule = "security/detect-child-process"
    exec_ = rule_level(rule, "Found child_process.exec() with non Literal first argument")
    imported = rule_level(rule, 'Found require("child_process")')
    assert (exec_.severity, exec_.confidence) == ("high", "high")
    assert (imported.severity, imported.confidence) == ("low", "high")
    assert rule_level("some-unknown/rule", "x").severity == "medium"


# ---------------------------------------------------------------- judging


def test_a_clean_report_passes_and_writes_sarif() -> None:
    outcome = _judge(_report(), version=TOOL)
    assert outcome.result.status is CheckStatus.PASSED, outcome.result.summary
    assert outcome.result.details["tool"] == {
        "name": "eslint", "version": "9.39.5",
        "plugins": {"eslint-plugin-security": "4.1.0", "typescript-eslint": "8.74.0"},
    }  # fmt: skip
    sarif = json.loads(outcome.artifacts["eslint.sarif"])
    assert sarif["runs"][0]["tool"]["driver"]["name"] == "ESLint"


def test_eval_of_a_variable_fails_at_the_default_levels() -> None:
    outcome = _judge(_report(_file("lib/a.js", _msg())))
    result = outcome.result
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "SAST_FINDINGS")
    assert "lib/a.js:3 security/detect-eval-with-expression" in result.summary
    finding = result.details["findings"][0]  # type: ignore[index]
    assert finding["severity"] == "medium" and finding["confidence"] == "high"
    assert finding["blocking"] is True and finding["cwe"] == "CWE-95"
    sarif = json.loads(outcome.artifacts["eslint.sarif"])
    assert sarif["runs"][0]["results"][0]["ruleId"] == EVAL


def test_low_confidence_heuristics_are_left_out_unless_the_owner_asks() -> None:
    noisy = _msg("security/detect-object-injection", message="Generic Object Injection Sink")
    report = _report(_file("lib/a.js", noisy))
    default = _judge(report)
    assert default.result.status is CheckStatus.PASSED
    assert default.result.details["findings"] == []
    asked = _judge(report, SastSpec(confidence=Severity.LOW, fail_on=Severity.LOW))
    assert (asked.result.status, asked.result.reason_code) == (CheckStatus.FAILED, "SAST_FINDINGS")


def test_fail_on_high_lets_a_medium_finding_pass_but_lists_it() -> None:
    outcome = _judge(_report(_file("lib/a.js", _msg())), SastSpec(fail_on=Severity.HIGH))
    assert outcome.result.status is CheckStatus.PASSED
    assert outcome.result.details["counts"] == {"high": 0, "medium": 1, "low": 0}
    assert "1 medium in all" in outcome.result.summary


def _suppressed(reason: str) -> dict[str, object]:
    return {"active": [], "suppressed": [[3, 25, EVAL, reason]]}


def test_an_eslint_disable_comment_does_not_silence_a_finding_by_default() -> None:
    report = _report(_file("lib/a.js", _msg(), as_delivered=_suppressed("the loader needs it")))
    outcome = _judge(report)
    assert outcome.result.reason_code == "SAST_FINDINGS"
    finding = outcome.result.details["findings"][0]  # type: ignore[index]
    assert finding["suppressed"] is True and finding["blocking"] is True
    assert finding["suppression_reason"] == "the loader needs it"
    assert "under an eslint-disable comment (not allowed by the spec)" in outcome.result.summary
    sarif = json.loads(outcome.artifacts["eslint.sarif"])
    assert sarif["runs"][0]["results"][0]["suppressions"] == [
        {"kind": "inSource", "justification": "the loader needs it"}
    ]


def test_with_allow_suppressions_a_suppressed_finding_passes() -> None:
    report = _report(_file("lib/a.js", _msg(), as_delivered=_suppressed("")))
    outcome = _judge(report, SastSpec(allow_suppressions=True))
    assert outcome.result.status is CheckStatus.PASSED, outcome.result.summary
    assert outcome.result.details["suppressed"] == 1


def test_a_rule_turned_off_by_an_inline_config_comment_counts_as_suppressed() -> None:
    # `/* eslint security/detect-eval-with-expression: off */`: gone from both lists
    report = _report(_file("m.mjs", _msg(), as_delivered={"active": [], "suppressed": []}))
    outcome = _judge(report)
    finding = outcome.result.details["findings"][0]  # type: ignore[index]
    assert finding["suppressed"] is True and finding["blocking"] is True
    assert outcome.result.reason_code == "SAST_FINDINGS"


def test_a_finding_the_as_delivered_pass_still_reports_is_not_suppressed() -> None:
    delivered = {"active": [[3, 25, EVAL]], "suppressed": []}
    outcome = _judge(_report(_file("a.js", _msg(), as_delivered=delivered)))
    assert outcome.result.details["findings"][0]["suppressed"] is False  # type: ignore[index]


def test_a_file_eslint_cannot_parse_fails_unscannable() -> None:
    fatal = _msg(None, line=1, column=1, fatal=True, message="Parsing error: Unexpected token")
    outcome = _judge(_report(_file("broken.js", fatal)))
    assert (outcome.result.status, outcome.result.reason_code) == (
        CheckStatus.FAILED, "SAST_UNSCANNABLE",
    )  # fmt: skip
    assert "broken.js (Parsing error: Unexpected token)" in outcome.result.summary


def test_a_file_the_host_could_not_pass_to_eslint_fails_unscannable() -> None:
    why = "a node script whose name ESLint reads as a pattern"
    outcome = _judge(_report(), unscanned=[("bin/[x]", why)])
    assert outcome.result.reason_code == "SAST_UNSCANNABLE"
    assert f"bin/[x] ({why})" in outcome.result.summary


def test_a_file_named_by_the_host_and_the_runner_is_listed_once() -> None:
    addon = _msg(None, line=1, column=1, fatal=True, message=ADDON)
    outcome = _judge(_report(_file("lib/a.node", addon)), unscanned=[("lib/a.node", ADDON)])
    assert outcome.result.reason_code == "SAST_UNSCANNABLE"
    assert outcome.result.details["errors"] == [{"filename": "lib/a.node", "reason": ADDON}]


def test_a_flood_the_runner_cut_short_is_never_a_pass() -> None:
    noisy = _msg("security/detect-object-injection", message="Generic Object Injection Sink")
    outcome = _judge(_report(_file("a.js", noisy), truncated=True))
    assert outcome.result.reason_code == "SAST_UNSCANNABLE"
    assert outcome.result.details["findings_truncated"] is True


def test_more_messages_than_the_runner_writes_is_an_unusable_report() -> None:
    many = [_msg(line=i + 1) for i in range(MAX_MESSAGES + 1)]
    outcome = _judge(_report(_file("a.js", *many)))
    assert (outcome.result.status, outcome.result.reason_code) == (
        CheckStatus.FAILED, "INVALID_ARTIFACT",
    )  # fmt: skip


def test_control_characters_and_escapes_in_messages_are_cleaned() -> None:
    nasty = _msg(message="eval \x1b[31mred\x1b[0m\u202e of\ninput" + "x" * 5000)
    outcome = _judge(_report(_file("a\u202e.js", nasty)))
    finding = outcome.result.details["findings"][0]  # type: ignore[index]
    assert "\x1b" not in finding["text"] and "\u202e" not in finding["text"]
    assert len(finding["text"]) <= 500 and "\u202e" not in finding["filename"]


@pytest.mark.parametrize(
    "report",
    [
        b"",
        b"[]",
        b'{"format": 2, "files": [], "truncated": false, "files_checked": 0}',
        _report(_file("a.js", _msg(line=-1))),
        _report(_file("a.js", _msg(line=True))),
        _report(_file("a.js", _msg(rule=7))),
        _report(_file("a.js", _msg(), as_delivered={"active": [[1]], "suppressed": []})),
        _report(_file("a.js", _msg(), as_delivered={"active": [], "suppressed": [[3, 25, EVAL]]})),
        _report({"messages": []}),
        b"[" * 100_000,
    ],
)
def test_a_report_that_is_not_the_runners_is_never_a_pass(report: bytes) -> None:
    result = _judge(report).result
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, "INVALID_ARTIFACT")


@settings(max_examples=150, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
))  # fmt: skip
def test_arbitrary_json_never_raises_and_never_passes_with_a_finding(document: object) -> None:
    outcome = _judge(json.dumps(document).encode())
    assert outcome.result.status is CheckStatus.FAILED


# ---------------------------------------------------------------- the run in the sandbox


def test_the_command_runs_the_images_runner_with_the_engines_options() -> None:
    argv = eslint_command(
        "/src", "/work/out/e/eslint.json", NodeSources(("bin/cli",), ()), ["vendor/"]
    )
    assert argv[:2] == ["node", "/opt/acceptance/eslint/acceptance_eslint_runner.mjs"]
    options = json.loads(argv[2])
    assert options == {
        "mode": "sast", "root": "/src", "out": "/work/out/e/eslint.json",
        "ignores": ["vendor", "vendor/**"], "extra_files": ["bin/cli"], "max_messages": MAX_MESSAGES,
    }  # fmt: skip


def test_a_runner_that_exits_non_zero_is_never_a_pass(fake_sandbox: FakeSandbox) -> None:
    sandbox = fake_sandbox.on("acceptance_eslint_runner", result=ran(1, b"TypeError: boom"))
    sandbox.start()
    outcome = run_eslint(
        sandbox, SastSpec(), NodeSources((), ()), root="/src", out_dir="/work/out/e", timeout=60
    )
    assert (outcome.result.status, outcome.result.reason_code) == (
        CheckStatus.FAILED, "INVALID_ARTIFACT",
    )  # fmt: skip
    assert "boom" in outcome.result.summary


def test_a_timeout_fails_with_timeout(fake_sandbox: FakeSandbox) -> None:
    sandbox = fake_sandbox.on("acceptance_eslint_runner", result=ran(None, timed_out=True))
    sandbox.start()
    outcome = run_eslint(
        sandbox, SastSpec(), NodeSources((), ()), root="/src", out_dir="/work/out/e", timeout=5
    )
    assert outcome.result.reason_code == "TIMEOUT"


def test_the_report_is_read_from_the_folder_the_engine_named(fake_sandbox: FakeSandbox) -> None:
    sandbox = fake_sandbox.on(
        "acceptance_eslint_runner",
        files={"/work/out/e/eslint.json": _report(_file("a.js", _msg()))},
    )
    sandbox.start()
    outcome = run_eslint(
        sandbox, SastSpec(), NodeSources((), ()), root="/src", out_dir="/work/out/e", timeout=60
    )
    assert outcome.result.reason_code == "SAST_FINDINGS"


# ---------------------------------------------------------------- what the host finds


def test_node_sources_finds_node_scripts_and_skips_node_modules_and_links(
    tmp_path: Path,
) -> None:
    files = {
        "bin/cli": "#!/usr/bin/env node\neval(process.argv[2])\n",
        "bin/other": "#!/usr/bin/env -S node --no-warnings\n",
        "bin/sh": "#!/bin/sh\n",
        "src/a.ts": "export const x = 1;\n",
        "node_modules/x/y.ts": "",
        "node_modules/.bin/z": "#!/usr/bin/env node\n",
        # a nested node_modules is the supplier's (only the root one is replaced)
        "lib/node_modules/.bin/run": "#!/usr/bin/env node\n",
        "build/Release/addon.node": "\x7fELF",
        "node_modules/dep/addon.node": "\x7fELF",
        "vendor/v.ts": "",
        "bin/[x]": "#!/usr/bin/node\n",
        "lib/a.js": "#!/usr/bin/env node\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    os.symlink("/etc/passwd", tmp_path / "bin" / "link")
    found = node_sources(tmp_path, ["vendor"])
    # TypeScript is linted by its extension (typescript-eslint's parser), not listed here
    assert found.extra == ("bin/cli", "bin/other", "lib/node_modules/.bin/run")
    assert found.unscanned == (
        ("bin/[x]", "a node script whose name ESLint reads as a pattern"),
        ("build/Release/addon.node", ADDON),
    )


# ---------------------------------------------------------------- the image's ESLint


def test_the_eslint_tools_are_pinned_exactly_and_their_digest_names_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sandbox import node_image, node_tools

    pins = node_tools.pinned_versions()
    assert pins["eslint"] == "9.39.5" and pins["eslint-plugin-security"] == "4.1.0"
    assert pins["@typescript-eslint/parser"] == "8.74.0" and pins["typescript"] == "5.9.3"
    lock = json.loads(node_tools.image_file(node_tools.LOCKFILE))
    assert lock["packages"]["node_modules/eslint"]["version"] == pins["eslint"]
    assert all("integrity" in p for k, p in lock["packages"].items() if k)
    before = (node_tools.tools_digest(), node_image.node_image_tag())
    real = node_tools.image_file

    def changed(name: str) -> bytes:
        data = real(name)
        return data.replace(b'"4.1.0"', b'"4.0.0"') if name == node_tools.LOCKFILE else data

    monkeypatch.setattr(node_tools, "image_file", changed)
    assert node_tools.tools_digest() != before[0]
    assert node_image.node_image_tag() != before[1]


def test_a_range_in_the_engines_manifest_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from acceptance.errors import PlatformError
    from sandbox import node_tools

    manifest = json.dumps({"dependencies": {"eslint": "^9.39.5"}}).encode()
    monkeypatch.setattr(node_tools, "image_file", lambda name: manifest)
    with pytest.raises(PlatformError, match="pinned exactly"):
        node_tools.pinned_versions()


def test_the_image_archive_holds_root_owned_files_and_refuses_links(tmp_path: Path) -> None:
    from acceptance.errors import PlatformError
    from sandbox.node_tools import eslint_tar

    package = tmp_path / "node_modules" / "eslint"
    package.mkdir(parents=True)
    (package / "package.json").write_text("{}")
    with tarfile.open(fileobj=io.BytesIO(eslint_tar(tmp_path))) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert "opt/acceptance/eslint/acceptance_eslint_runner.mjs" in names
    member = names["opt/acceptance/eslint/node_modules/eslint/package.json"]
    assert (member.uid, member.mode) == (0, 0o644)
    os.symlink("/etc/passwd", package / "evil")
    with pytest.raises(PlatformError, match="a link"):
        eslint_tar(tmp_path)
