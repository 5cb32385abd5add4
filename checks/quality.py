"""The quality check: ruff inside the sandbox with the owner's rules, judged on the host.

ruff parses supplier files, so it only ever runs inside the sandbox, from the image's tools
venv (pinned in sandbox/image.py, never the supplier's), through a small driver
(``checks/quality_driver.py``):

* **No supplier configuration.** ``--isolated`` ignores every ``pyproject.toml``,
  ``ruff.toml`` and ``.ruff.toml`` of the delivery (``select``, ``ignore``,
  ``extend-exclude``, ``per-file-ignores``...); the rules are the owner's ``--select``.
  ``--no-respect-gitignore`` and an explicit ``--exclude`` (which replaces ruff's default
  list: ``build``, ``venv``, ``dist``...) keep a delivery from hiding files by name.
* **No supplier suppression either, unless the spec lets it stand.** ``--ignore-noqa``
  makes ruff list every finding; the driver collects the comments that look like
  suppressions with ``tokenize`` (comments only, never strings) and the host decides with
  checks/suppressions.py which ones count (``quality.suppressions``).
* **Two outputs, both untrusted.** ruff's JSON and the driver's own JSON (version, files,
  comments) are read through byte caps and parsed defensively; paths are made relative to
  the checkout and text is cleaned and capped. The SARIF artifact is written here, on the
  host, from the validated findings.

A check that cannot judge (ruff missing, crashed, its output unreadable) is an ``error``,
never a pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from checks.hidden_inventory import HIDDEN_DIR_NAME
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.options import QualityLevel, QualitySpec
from checks.quality_driver import DRIVER
from checks.quality_output import (
    MAX_DRIVER_BYTES,
    MAX_RUFF_BYTES,
    SYNTAX_ERROR,
    DriverStatus,
    Finding,
    InvalidOutput,
    TooManyFindings,
    parse_driver,
    parse_ruff,
    ruff_crashed,
)
from checks.report_text import MAX_PATH_CHARS, clean_text
from checks.suppressions import Suppression, covering, suppressions_in_file
from sandbox.interface import Sandbox, SandboxLimitError

CHECK_ID = "quality"
KIND = "quality"
TOOLS_RUFF = "/opt/acceptance/tools/bin/ruff"
TOOLS_PYTHON = "/opt/acceptance/tools/bin/python"
OUT_SUBDIR = "quality"
RUFF_REPORT = "ruff.json"
DRIVER_REPORT = "comments.json"
ARTIFACT_NAME = "quality.sarif"
MAX_LISTED_FINDINGS = 500
MAX_LISTED_SUPPRESSIONS = 500
MAX_SUMMARY_LOCATIONS = 5
#: finding rules the engine adds for suppressions the spec does not let stand
UNJUSTIFIED = "UNJUSTIFIED_SUPPRESSION"
FORBIDDEN = "FORBIDDEN_SUPPRESSION"
#: finding rules the engine adds for files ruff did not lint as Python reads them
SOURCE_ENCODING = "ENCODING"
UNLINTED_FILE = "UNLINTED"
#: the check's reason when a delivered file keeps ruff from judging (crash, flood of findings)
UNJUDGEABLE = "QUALITY_UNJUDGEABLE"


# ---------------------------------------------------------------- sandbox side


def excluded_paths(spec: QualitySpec, *, target: str) -> list[str]:
    """Absolute paths ruff skips: .git, the hidden tests' name, and the spec's."""
    root = target.rstrip("/")
    # The pipeline refuses a delivery with the hidden tests' name: excluded only for safety.
    paths = [f"{root}/.git", f"{root}/{HIDDEN_DIR_NAME}"]
    for rel in spec.exclude:
        clean = rel.strip().strip("/")
        while clean.startswith("./"):
            clean = clean[2:]
        if clean and clean != "." and ".." not in clean.split("/"):
            paths.append(f"{root}/{clean}")
    return list(dict.fromkeys(paths))


def quality_command(spec: QualitySpec, *, target: str, out_dir: str) -> list[str]:
    """The argv run inside the sandbox: the driver through the tools venv, isolated."""
    return [
        TOOLS_PYTHON,
        "-I",
        "-c",
        DRIVER,
        TOOLS_RUFF,
        target,
        f"{out_dir.rstrip('/')}/{OUT_SUBDIR}",
        ",".join(spec.rules),
        ",".join(excluded_paths(spec, target=target)),
    ]


def run_quality(
    sandbox: Sandbox,
    spec: QualitySpec,
    *,
    timeout: float,
    target: str = "/work/src",
    out_dir: str = "/work/out",
) -> CheckOutcome:
    """Lint the checkout at ``target`` inside ``sandbox`` and judge the output on the host."""
    if not spec.enabled:
        return _skipped()
    result = sandbox.run(
        quality_command(spec, target=target, out_dir=out_dir),
        timeout=timeout,
        workdir="/tmp",
        max_output=64 * 1024,
    )
    if result.timed_out:
        return _failed(
            spec, CheckStatus.FAILED, "TIMEOUT", f"ruff did not finish within {timeout:g} s"
        )
    if result.memory_limit_hit:
        return _failed(spec, CheckStatus.FAILED, "MEMORY_LIMIT", "ruff ran out of the memory limit")
    folder = f"{out_dir.rstrip('/')}/{OUT_SUBDIR}"
    lint_read, driver_read = sandbox.read_files(
        [
            (f"{folder}/{RUFF_REPORT}", MAX_RUFF_BYTES),
            (f"{folder}/{DRIVER_REPORT}", MAX_DRIVER_BYTES),
        ]
    )
    try:
        lint, driver = lint_read.value(), driver_read.value()
    except SandboxLimitError as exc:
        # Only the delivery's files make ruff's output (or the comments) outgrow the caps.
        return _unjudgeable(spec, f"ruff's output about the delivered files: {exc.message}")
    if driver is None:
        tail = clean_text(result.text[-300:]) if result.output else ""
        return _failed(
            spec,
            CheckStatus.ERROR,
            "QUALITY_TOOL_ERROR",
            f"the linter did not run (exit code {result.exit_code}) {tail}".strip(),
        )
    return evaluate_quality(lint, driver, spec, target=target)


# ---------------------------------------------------------------- host side


def evaluate_quality(
    lint_json: bytes | None, driver_json: bytes, spec: QualitySpec, *, target: str = "/work/src"
) -> CheckOutcome:
    """Judge ruff's JSON and the driver's comments against ``spec``; never raises for bad input."""
    if not spec.enabled:
        return _skipped()
    root = target.rstrip("/") + "/"
    try:
        status = parse_driver(driver_json, root)
        said = clean_text(status.stderr, 300) or "no message"
        if status.lint_exit != 0 and ruff_crashed(status.lint_exit, status.stderr):
            return _unjudgeable(
                spec, f"ruff crashed on the delivered files (exit code {status.lint_exit}): {said}"
            )
        if status.lint_exit != 0 or lint_json is None:
            raise InvalidOutput(f"ruff exited with code {status.lint_exit}: {said}")
        raw = parse_ruff(lint_json, root)
        if status.comments_truncated:
            raise TooManyFindings(
                "the delivered files hold more suppression-like comments than the engine reads "
                "(isort's action comments act even when unread)"
            )
    except TooManyFindings as exc:
        return _unjudgeable(spec, str(exc))
    except InvalidOutput as exc:
        return _failed(
            spec, CheckStatus.ERROR, "QUALITY_TOOL_ERROR", f"the linter could not judge: {exc}"
        )
    suppressions = [
        s
        for file, comments in sorted(status.comments.items())
        for s in suppressions_in_file(file, comments)
    ]
    return judge_lint(
        spec, raw, suppressions, _unlinted_findings(status), tool=LintTool("ruff", status.version),
        details={
            "files_checked": status.files,
            "unreadable_comments": status.comment_errors,
            "comments_truncated": status.comments_truncated,
        },
    )  # fmt: skip


@dataclass(frozen=True)
class LintTool:
    """The linter named in the report, its summary and its SARIF log."""

    name: str
    version: str
    url: str = "https://docs.astral.sh/ruff/"


def judge_lint(
    spec: QualitySpec,
    raw: Sequence[Finding],
    suppressions: Sequence[Suppression],
    unlinted: Sequence[Finding],
    *,
    tool: LintTool,
    details: dict[str, object],
    rules: Sequence[str] | None = None,
) -> CheckOutcome:
    """The verdict on a linter's validated findings and the delivery's suppressions.

    Shared by every runtime's linter (ruff here, ESLint in checks/quality_eslint.py):
    `unlinted` are files the linter did not judge, which always block; `details` adds
    the linter's own fields to the report entry; `rules`, the effective rule set when it
    is not the spec's ruff selectors.
    """
    findings = [_with_suppression(f, suppressions, spec.suppressions) for f in raw]
    # A file not linted as the runtime reads it always blocks, like a suppression that cannot stand.
    policy_findings = [*unlinted, *_suppression_findings(suppressions, spec.suppressions)]
    blocking = [
        f for f in findings if f.suppressed_by is None and f.level.rank >= spec.fail_on.rank
    ]
    blocking_policy = policy_findings  # a suppression the spec does not let stand always blocks
    ordered = sorted(
        [*policy_findings, *findings],
        key=lambda f: (f.suppressed_by is not None, -f.level.rank, f.file, f.line, f.rule),
    )
    blocking_ids = {id(f) for f in [*blocking, *blocking_policy]}
    entry: dict[str, object] = {
        "findings": [f.to_report(id(f) in blocking_ids) for f in ordered[:MAX_LISTED_FINDINGS]],
        "findings_truncated": len(ordered) > MAX_LISTED_FINDINGS,
        "counts": _counts(findings),
        "suppressions": [s.to_report() for s in suppressions[:MAX_LISTED_SUPPRESSIONS]],
        "suppressions_truncated": len(suppressions) > MAX_LISTED_SUPPRESSIONS,
        "suppression_counts": {
            "total": len(suppressions),
            "justified": sum(1 for s in suppressions if s.justified),
            "unjustified": sum(1 for s in suppressions if not s.justified),
            "silenced_findings": sum(1 for f in findings if f.suppressed_by is not None),
        },
        **details,
        "settings": _settings(spec, rules),
        "tool": {"name": tool.name, "version": tool.version},
    }
    artifacts = {ARTIFACT_NAME: sarif_document(ordered, tool.version, spec, tool, rules)}
    summary = _summary(spec, findings, blocking, policy_findings, suppressions, tool.name)
    # A suppression the spec does not let stand names the check's reason even beside
    # ordinary findings: it is what the supplier has to change first.
    if any(f.rule in (UNJUSTIFIED, FORBIDDEN) for f in policy_findings):
        code = UNJUSTIFIED if spec.suppressions == "justified" else FORBIDDEN
    elif policy_findings:
        code = "QUALITY_FINDINGS"
    elif blocking:
        code = "QUALITY_FINDINGS"
    else:
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.PASSED, summary, None, entry), artifacts
        )
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, summary, code, entry), artifacts
    )


def _with_suppression(
    finding: Finding, suppressions: Sequence[Suppression], policy: str
) -> Finding:
    """The finding with the suppression that silences it, if the spec lets that one stand."""
    if policy == "forbidden" or finding.rule == SYNTAX_ERROR:
        return finding
    standing = suppressions if policy == "allowed" else [s for s in suppressions if s.justified]
    found = covering(standing, finding.file, finding.line, finding.rule, finding.name)
    if found is None:
        return finding
    return Finding(**{**finding.__dict__, "suppressed_by": found})


def _suppression_findings(suppressions: Sequence[Suppression], policy: str) -> list[Finding]:
    """Each suppression the spec does not let stand, as a finding at its line."""
    if policy == "allowed":
        return []
    findings: list[Finding] = []
    for s in suppressions:
        if policy == "justified" and s.justified:
            continue
        what = f"{s.directive} ({', '.join(s.rules)})" if s.rules else f"blanket {s.directive}"
        if policy == "forbidden":
            rule, message = FORBIDDEN, f"{what}: the spec allows no suppression"
        elif s.blanket:
            rule = UNJUSTIFIED
            message = f"{what} silences every rule; name the rules and say why after ' -- '"
        else:
            rule = UNJUSTIFIED
            message = f"{what} gives no reason; add ' -- ' and at least 3 words saying why"
        findings.append(
            Finding(
                rule,
                rule.lower().replace("_", "-"),
                QualityLevel.ERROR,
                s.file,
                s.line,
                1,
                message,
                None,
            )
        )
    return findings


def _counts(findings: Sequence[Finding]) -> dict[str, int]:
    live = [f for f in findings if f.suppressed_by is None]
    return {
        level.value: sum(1 for f in live if f.level is level) for level in reversed(QualityLevel)
    }


def _unlinted_findings(status: DriverStatus) -> list[Finding]:
    """A blocking finding per Python file ruff did not read as Python does."""
    findings = [
        Finding(
            SOURCE_ENCODING,
            "source-encoding",
            QualityLevel.ERROR,
            file,
            1,
            1,
            f"the file is not plain UTF-8 ({problem}): Python would run other text than the "
            "linter read; save it as UTF-8 without a coding declaration",
            None,
        )
        for file, problem in status.encodings
    ]
    named_for_encoding = {file for file, _ in status.encodings}
    findings += [
        _unlinted(
            what.split(": ", 1)[0][:MAX_PATH_CHARS],
            f"ruff could not lint this file ({what}); make it readable UTF-8 Python",
        )
        for what in status.unlinted
        # a file already named for its encoding is the same problem said once
        if what.split(": ", 1)[0] not in named_for_encoding
    ]
    findings += [
        _unlinted(
            error["file"],
            f"its comments could not be read ({error['error']}), so its suppressions cannot be "
            "judged; make it valid Python",
        )
        for error in status.comment_errors
    ]
    findings += [
        _unlinted(
            file,
            "compiled code Python can import instead of the linted source; deliver the source "
            "only (remove bytecode, __pycache__ and extension modules from the repository)",
        )
        for file in status.compiled
    ]
    return findings


def _unlinted(file: str, why: str) -> Finding:
    """A blocking finding for a file the linter did not judge."""
    return Finding(
        UNLINTED_FILE, "unlinted-file", QualityLevel.ERROR, file, 1, 1, clean_text(why, 300), None
    )


def _unjudgeable(spec: QualitySpec, why: str) -> CheckOutcome:
    """Failed, the supplier's to fix: a delivered file kept the linter from judging."""
    return _failed(
        spec,
        CheckStatus.FAILED,
        UNJUDGEABLE,
        f"the linter could not judge the delivery: {why}; "
        "fix or remove the file that stops it (nothing was passed unlinted)",
    )


def _summary(
    spec: QualitySpec,
    findings: Sequence[Finding],
    blocking: Sequence[Finding],
    policy: Sequence[Finding],
    suppressions: Sequence[Suppression],
    linter: str = "ruff",
) -> str:
    level = "any level" if spec.fail_on is QualityLevel.STYLE else f"{spec.fail_on.value} or above"
    parts: list[str] = []
    # a policy finding is a suppression the spec does not let stand, or a file not linted
    refused = [f for f in policy if f.rule in (UNJUSTIFIED, FORBIDDEN)]
    unread = [f for f in policy if f.rule not in (UNJUSTIFIED, FORBIDDEN)]
    if refused:
        word = "unjustified" if spec.suppressions == "justified" else "forbidden"
        places = ", ".join(f"{f.file}:{f.line}" for f in refused[:MAX_SUMMARY_LOCATIONS])
        more = ", ..." if len(refused) > MAX_SUMMARY_LOCATIONS else ""
        parts.append(f"{len(refused)} {word} suppression(s) ({places}{more})")
    if unread:
        places = ", ".join(f.file for f in unread[:MAX_SUMMARY_LOCATIONS])
        more = ", ..." if len(unread) > MAX_SUMMARY_LOCATIONS else ""
        parts.append(f"{len(unread)} file(s) not linted as the runtime reads them ({places}{more})")
    if blocking:
        places = ", ".join(f"{f.file}:{f.line} {f.rule}" for f in blocking[:MAX_SUMMARY_LOCATIONS])
        more = ", ..." if len(blocking) > MAX_SUMMARY_LOCATIONS else ""
        parts.append(f"{len(blocking)} {linter} finding(s) at {level} ({places}{more})")
    else:
        live = sum(1 for f in findings if f.suppressed_by is None)
        parts.append(f"no {linter} finding at {level}" + (f" ({live} below it)" if live else ""))
    justified = sum(1 for s in suppressions if s.justified)
    if justified and spec.suppressions != "forbidden":
        parts.append(f"{justified} justified suppression(s) listed with their reasons")
    return "; ".join(parts)


def _settings(spec: QualitySpec, rules: Sequence[str] | None = None) -> dict[str, object]:
    return {
        "rules": list(spec.rules if rules is None else rules),
        "default_rules": spec.default_rules,
        "fail_on": spec.fail_on.value,
        "suppressions": spec.suppressions,
        "exclude": list(spec.exclude),
    }


def sarif_document(
    findings: Sequence[Finding],
    version: str,
    spec: QualitySpec,
    tool: LintTool | None = None,
    rule_set: Sequence[str] | None = None,
) -> bytes:
    """SARIF 2.1.0 of the findings; a silenced one carries its suppression and reason."""
    tool = tool or LintTool("ruff", version)
    rules: dict[str, dict[str, object]] = {}
    results: list[dict[str, object]] = []
    for f in findings:
        rule: dict[str, object] = {"id": f.rule, "name": f.name}
        if f.url:
            rule["helpUri"] = f.url
        rules.setdefault(f.rule, rule)
        result: dict[str, object] = {
            "ruleId": f.rule,
            "level": {"error": "error", "warning": "warning"}.get(f.level.value, "note"),
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }
            ],
        }
        if f.suppressed_by is not None:
            result["suppressions"] = [
                {"kind": "inSource", "justification": f.suppressed_by.reason or ""}
            ]
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool.name,
                        "version": version,
                        "informationUri": tool.url,
                        "rules": list(rules.values()),
                    }
                },
                "properties": {"acceptance": _settings(spec, rule_set)},
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=1, sort_keys=True).encode()


def _skipped() -> CheckOutcome:
    return CheckOutcome(
        CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
    )


def _failed(spec: QualitySpec, status: CheckStatus, code: str, message: str) -> CheckOutcome:
    details: dict[str, object] = {
        "findings": [],
        "suppressions": [],
        "counts": {level.value: 0 for level in reversed(QualityLevel)},
        "settings": _settings(spec),
    }
    return CheckOutcome(CheckResult(CHECK_ID, KIND, status, clean_text(message), code, details))
