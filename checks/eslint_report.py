"""The report the engine's ESLint runner writes in the sandbox, read back on the host.

The runner (sandbox/image/acceptance_eslint_runner.mjs) writes one JSON document; it is
read through a byte cap (the caller's), every field type-checked, paths and messages
cleaned of control characters and capped, and anything else is `InvalidReport`: never a
pass. The SAST check (checks/eslint.py) and the quality check (checks/quality_eslint.py)
both read it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from checks.eslint_rules import NodeSources, rule_level, rule_url
from checks.report_text import clean_text

#: where the node image keeps the engine's ESLint (sandbox/node_tools.py)
ESLINT_DIR = "/opt/acceptance/eslint"
RUNNER = f"{ESLINT_DIR}/acceptance_eslint_runner.mjs"
REPORT_NAME = "eslint.json"
MAX_REPORT_BYTES = 20 * 1024**2
#: findings the runner writes at most; past it a check cannot judge what it did not read
MAX_MESSAGES = 50_000
#: directive-like comments the runner writes at most (quality)
MAX_COMMENTS = 50_000
_RULE_TYPES = ("problem", "suggestion", "layout")


class InvalidReport(ValueError):
    """Not what the runner writes."""


@dataclass(frozen=True)
class EslintFinding:
    """One ESLint message, validated, with the spec's levels."""

    rule: str
    filename: str
    line: int
    column: int
    message: str
    severity: str
    confidence: str
    cwe: str | None
    suppressed: bool = False
    justification: str = ""

    def key(self) -> tuple[int, int, str]:
        return (self.line, self.column, self.rule)

    def to_report(self, blocking: bool) -> dict[str, object]:
        # The same fields as bandit's findings, so the report's readers need no new case.
        return {
            "test_id": self.rule,
            "test_name": self.rule.removeprefix("security/"),
            "severity": self.severity,
            "confidence": self.confidence,
            "filename": self.filename,
            "line": self.line,
            "column": self.column,
            "text": self.message,
            "cwe": self.cwe,
            "suppressed": self.suppressed,
            "suppression_reason": self.justification or None,
            "more_info": rule_url(self.rule),
            "blocking": blocking,
        }


@dataclass(frozen=True)
class EslintReport:
    """The runner's report, validated."""

    findings: list[EslintFinding]
    #: files ESLint could not parse: {"filename", "reason"}
    unparsed: list[dict[str, str]]
    truncated: bool
    tool: dict[str, str]
    files_checked: int
    #: per file, the comments that mention eslint: (line, end line, Line|Block, text)
    comments: dict[str, list[tuple[int, int, str, str]]] = field(default_factory=dict)
    comments_truncated: bool = False
    #: ESLint's kind of each core rule turned on (problem, suggestion, layout)
    rule_types: dict[str, str] = field(default_factory=dict)


def eslint_command(
    root: str, report: str, sources: NodeSources, exclude: Sequence[str], *, mode: str = "sast"
) -> list[str]:
    """Run in the sandbox: the engine's runner on `root`, its JSON into `report`."""
    ignores = [p for e in exclude if (s := e.strip().strip("/")) for p in (s, f"{s}/**")]
    options = {
        "mode": mode, "root": root, "out": report, "ignores": ignores,
        "extra_files": list(sources.extra), "max_messages": MAX_MESSAGES,
    }  # fmt: skip
    return ["node", RUNNER, json.dumps(options)]


def parse_report(report: bytes) -> EslintReport:
    """The runner's JSON, every field type-checked; InvalidReport when it is not that."""
    try:
        document = json.loads(report)
    except (ValueError, RecursionError) as exc:
        raise InvalidReport(f"not JSON ({str(exc)[:100]})") from None
    if not isinstance(document, dict) or document.get("format") != 1:
        raise InvalidReport("not the engine's ESLint report")
    files, truncated = document.get("files"), document.get("truncated")
    checked, tool = document.get("files_checked"), document.get("tool")
    if not isinstance(files, list) or not isinstance(truncated, bool) or not _count(checked):
        raise InvalidReport("no list of files, truncation flag or count")
    versions = (
        {str(k): clean_text(str(v), 40) for k, v in tool.items() if isinstance(v, str)}
        if isinstance(tool, dict) else {}
    )  # fmt: skip
    findings: list[EslintFinding] = []
    unparsed: list[dict[str, str]] = []
    comments: dict[str, list[tuple[int, int, str, str]]] = {}
    total = total_comments = 0
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise InvalidReport("a file entry without a path")
        name = clean_text(str(entry["path"]), 1000)
        messages = entry.get("messages")
        if not isinstance(messages, list):
            raise InvalidReport(f"{name}: no list of messages")
        total += len(messages)
        if total > MAX_MESSAGES:
            raise InvalidReport(f"more than {MAX_MESSAGES} messages")
        found: list[EslintFinding] = []
        for item in messages:
            rule, fatal, line, column, text = _message(item, name)
            if fatal or rule is None:
                unparsed.append({"filename": name, "reason": clean_text(text, 300)})
                continue
            level = rule_level(rule, text)
            found.append(EslintFinding(
                rule, name, line, column, text, level.severity, level.confidence, level.cwe
            ))  # fmt: skip
        findings.extend(_mark_suppressed(found, entry.get("as_delivered"), name))
        listed = _comments(entry.get("comments", []), name)
        if listed:
            comments[name] = listed
        total_comments += len(listed)
        if total_comments > MAX_COMMENTS:
            raise InvalidReport(f"more than {MAX_COMMENTS} comments")
    cut = document.get("comments_truncated", False)
    if not isinstance(cut, bool):
        raise InvalidReport("the comments' truncation flag is not a boolean")
    assert isinstance(checked, int)  # checked by _count
    return EslintReport(
        findings, unparsed, truncated, versions, checked, comments, cut,
        _rule_types(document.get("rule_types", {})),
    )  # fmt: skip


def _comments(value: object, name: str) -> list[tuple[int, int, str, str]]:
    if not isinstance(value, list):
        raise InvalidReport(f"{name}: the comments are not a list")
    found: list[tuple[int, int, str, str]] = []
    for item in value:
        if not (
            isinstance(item, list) and len(item) == 4 and _count(item[0]) and _count(item[1])
            and item[2] in ("Line", "Block") and isinstance(item[3], str) and item[0] <= item[1]
        ):  # fmt: skip
            raise InvalidReport(f"{name}: a comment is not [line, end line, kind, text]")
        # the text stays raw (capped): the directive grammar reads it, then cleans the reason
        found.append((int(item[0]), int(item[1]), str(item[2]), str(item[3])[:1000]))
    return found


def _rule_types(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 1000:
        raise InvalidReport("the rule kinds are not an object")
    return {clean_text(str(k), 200): str(v) for k, v in value.items() if v in _RULE_TYPES}


def _message(item: object, name: str) -> tuple[str | None, bool, int, int, str]:
    if not isinstance(item, dict):
        raise InvalidReport(f"{name}: a message is not an object")
    rule, fatal, text = item.get("rule"), item.get("fatal"), item.get("message")
    line, column = item.get("line"), item.get("column")
    if not (
        (rule is None or (isinstance(rule, str) and 0 < len(rule) <= 200))
        and isinstance(fatal, bool) and isinstance(text, str) and _count(line) and _count(column)
    ):  # fmt: skip
        raise InvalidReport(f"{name}: a message lacks a valid rule, line, column or text")
    assert isinstance(line, int) and isinstance(column, int)  # checked by _count
    return (clean_text(rule, 200) if rule else None, fatal, line, column, clean_text(text))


def _mark_suppressed(
    found: list[EslintFinding], as_delivered: object, name: str
) -> list[EslintFinding]:
    """A finding the as-delivered pass did not report is one the supplier's comments silence."""
    if as_delivered is None:
        return found
    if not isinstance(as_delivered, dict):
        raise InvalidReport(f"{name}: the as-delivered pass is not an object")
    active, silenced = as_delivered.get("active"), as_delivered.get("suppressed")
    if not isinstance(active, list) or not isinstance(silenced, list):
        raise InvalidReport(f"{name}: the as-delivered pass lacks its lists")
    kept = {_key(k, name) for k in active}
    reasons: dict[tuple[int, int, str], str] = {}
    for item in silenced:
        if not isinstance(item, list) or len(item) != 4 or not isinstance(item[3], str):
            raise InvalidReport(f"{name}: a suppressed message is not [line, column, rule, reason]")
        reasons[_key(item[:3], name)] = clean_text(item[3], 300)
    return [
        f
        if f.key() in kept
        else replace(f, suppressed=True, justification=reasons.get(f.key(), ""))
        for f in found
    ]


def _key(item: object, name: str) -> tuple[int, int, str]:
    if not (isinstance(item, list) and len(item) == 3 and _count(item[0]) and _count(item[1])):
        raise InvalidReport(f"{name}: a message key is not [line, column, rule]")
    return (int(item[0]), int(item[1]), clean_text(str(item[2]), 200) if item[2] else "")


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
