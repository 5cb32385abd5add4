"""Each check's evidence, read from an untrusted report entry into the pages' shapes.

Every field is read defensively: the report holds supplier-controlled text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from acceptance.service.report_values import as_dict, as_list, as_number, as_str
from checks.hidden_inventory import HIDDEN_DIR_NAME
from web.dashboard.report_model import (
    AxeNode,
    AxePage,
    AxeViolation,
    Check,
    DependencyLicence,
    FailingTest,
    Finding,
    HiddenTests,
    LicenceEvidence,
    LintFinding,
    SuppressionNote,
    Vulnerability,
)


def check_from(entry: Mapping[str, Any]) -> Check:
    kind = as_str(entry.get("kind"))
    common: dict[str, Any] = {
        "id": as_str(entry.get("id")),
        "kind": kind,
        "status": as_str(entry.get("status")),
        "summary": as_str(entry.get("summary")),
        "reason_code": as_str(entry.get("reason_code")) or None,
    }
    if kind == "functional":
        messages = {
            as_str(f.get("id")): as_str(f.get("message"))
            for f in map(as_dict, as_list(entry.get("failures")))
        }
        names = [as_str(n) for n in as_list(entry.get("failing_tests"))]
        failing = [FailingTest(n, messages.get(n, ""), _is_hidden(n)) for n in names]
        hidden = as_dict(entry.get("hidden"))
        hidden_failing = _hidden_failing(hidden)
        return Check(
            **common,
            # The report's `tests` counts the hidden tests too; `own_tests` is the repository's
            # share (the supplier's view already holds only that share in `tests`).
            tests=_counts(entry.get("own_tests", entry.get("tests"))),
            failing=failing + hidden_failing,
            failing_total=len(names) + len(hidden_failing),
            flaky=len(as_list(entry.get("flaky"))),
            hidden=_hidden_tests(hidden) if hidden else None,
            test_command=_test_command(entry),
        )
    if kind == "sast":
        findings = [_finding(f) for f in map(as_dict, as_list(entry.get("findings")))]
        return Check(
            **common, findings=findings, findings_truncated=bool(entry.get("findings_truncated"))
        )
    if kind == "dependencies":
        vulnerabilities = [
            Vulnerability(
                package=as_str(v.get("package")),
                version=as_str(v.get("version")),
                id=as_str(v.get("id")),
                aliases=[as_str(a) for a in as_list(v.get("aliases"))],
                fix_versions=[as_str(x) for x in as_list(v.get("fix_versions"))],
                ignored=bool(v.get("ignored")),
            )
            for v in map(as_dict, as_list(entry.get("vulnerabilities")))
        ]
        return Check(
            **common,
            vulnerabilities=vulnerabilities,
            vulnerabilities_truncated=entry.get("vulnerabilities_truncated") is True,
            audited=audited if _is_count(audited := entry.get("audited")) else None,
            advisory_data=as_dict(entry.get("advisory_data")),
        )
    if kind == "licence":
        evidence = [
            LicenceEvidence(
                source=as_str(e.get("source")),
                kind=as_str(e.get("kind")),
                matched=as_str(e.get("matched")) or None,
                score=as_number(e.get("score")),
                problem=as_str(e.get("problem")) or None,
            )
            for e in map(as_dict, as_list(entry.get("evidence")))
        ]
        dependencies = [
            DependencyLicence(
                name=as_str(d.get("name")),
                version=as_str(d.get("version")),
                licence=as_str(d.get("licence")),
                compatible=d.get("compatible") if isinstance(d.get("compatible"), bool) else None,
            )
            for d in map(as_dict, as_list(entry.get("dependencies")))
        ]
        return Check(
            **common,
            licence=as_dict(entry.get("licence")),
            evidence=evidence,
            dependencies=dependencies,
        )
    if kind == "quality":
        return Check(
            **common,
            lint_findings=[_lint_finding(f) for f in map(as_dict, as_list(entry.get("findings")))],
            findings_truncated=entry.get("findings_truncated") is True,
            suppressions=[
                _suppression(s) for s in map(as_dict, as_list(entry.get("suppressions")))
            ],
            suppressions_truncated=entry.get("suppressions_truncated") is True,
            quality_settings=as_dict(entry.get("settings")),
            tool=as_dict(entry.get("tool")),
        )
    if kind == "accessibility":
        ignore = [as_str(rule) for rule in as_list(entry.get("ignore"))]
        return Check(
            **common,
            pages=[_axe_page(p) for p in map(as_dict, as_list(entry.get("pages")))],
            missing_pages=[
                {"page": as_str(m.get("page")), "reason": as_str(m.get("reason"))}
                for m in map(as_dict, as_list(entry.get("missing_pages")))
            ],
            accessibility_settings={
                "standard": as_str(entry.get("standard")),
                "fail_on": as_str(entry.get("fail_on")),
                "ignore": ignore,
                "axe_version": as_str(entry.get("axe_version")),
                "serve": _served(entry.get("serve")),
            },
        )
    return Check(**common)


def _served(value: object) -> dict[str, Any] | None:
    """The app ``accessibility.serve`` started: its command as one line, port, URL paths,
    the seconds it had to listen (``wait``, when the spec set it) and the engine's sentence
    on what it ran with (``environment``)."""
    if not isinstance(value, Mapping):
        return None
    command = value.get("command")
    if isinstance(command, list):
        command = " ".join(as_str(part) for part in command)
    port, wait = value.get("port"), value.get("wait")
    return {
        "command": as_str(command),
        "port": port if isinstance(port, int) and not isinstance(port, bool) else None,
        "paths": [as_str(path) for path in as_list(value.get("paths"))],
        "wait": wait if _is_count(wait) and wait > 0 else None,
        "environment": as_str(value.get("environment")) or None,
    }


def _test_command(entry: Mapping[str, Any]) -> dict[str, str] | None:
    """The owner's command and the file its results were read from, when it ran the tests."""
    if entry.get("runner") != "command":
        return None
    results = as_dict(entry.get("results_file"))
    return {
        "command": as_str(entry.get("command")),
        "format": as_str(results.get("format")),
        "path": as_str(results.get("path")),
    }


_AXE_HELP_PREFIX = "https://dequeuniversity.com/rules/axe/"
_AXE_IMPACTS = ("critical", "serious", "moderate", "minor")


def _axe_page(item: Mapping[str, Any]) -> AxePage:
    counts = as_dict(item.get("counts"))
    passes, incomplete = item.get("passes"), item.get("incomplete")
    violations = [_axe_violation(v) for v in map(as_dict, as_list(item.get("violations")))]
    # Blocking first, then by impact, as the owner reads them.
    violations.sort(key=lambda v: (not v.blocking, _impact_rank(v.impact)))
    return AxePage(
        page=as_str(item.get("page")),
        violations=violations,
        counts={k: counts[k] for k in _AXE_IMPACTS if _is_count(counts.get(k))},
        passes=passes if _is_count(passes) else None,
        incomplete=incomplete if _is_count(incomplete) else None,
        error=as_str(item.get("error")) or None,
        screenshot=as_str(item.get("screenshot")) or None,
    )


def _impact_rank(impact: str) -> int:
    return _AXE_IMPACTS.index(impact) if impact in _AXE_IMPACTS else len(_AXE_IMPACTS)


def _axe_violation(item: Mapping[str, Any]) -> AxeViolation:
    url = as_str(item.get("help_url"))
    return AxeViolation(
        rule=as_str(item.get("rule")),
        impact=as_str(item.get("impact")),
        tags=[as_str(t) for t in as_list(item.get("tags"))],
        help=as_str(item.get("help")),
        help_url=url if url.startswith(_AXE_HELP_PREFIX) else None,
        blocking=item.get("blocking") is True,
        ignored=item.get("ignored") is True,
        nodes=[
            AxeNode(target=as_str(n.get("target")), html=as_str(n.get("html")))
            for n in map(as_dict, as_list(item.get("nodes")))
        ],
    )


_LINT_RULE_PAGES = (
    "https://docs.astral.sh/ruff/rules/",
    "https://eslint.org/docs/latest/rules/",
    "https://typescript-eslint.io/rules/",
)


def _lint_finding(item: Mapping[str, Any]) -> LintFinding:
    line, url = item.get("line"), as_str(item.get("url"))
    return LintFinding(
        rule=as_str(item.get("rule")),
        name=as_str(item.get("name")),
        level=as_str(item.get("level")),
        file=as_str(item.get("file")),
        line=line if _is_count(line) else None,
        message=as_str(item.get("message")),
        # Only the linters' own rule pages become links (ruff; ESLint and typescript-eslint).
        url=url if url.startswith(_LINT_RULE_PAGES) else None,
        blocking=item.get("blocking") is True,
        suppressed=item.get("suppressed") is True,
        suppression_reason=as_str(item.get("suppression_reason")) or None,
    )


def _suppression(item: Mapping[str, Any]) -> SuppressionNote:
    line, end = item.get("line"), item.get("end_line")
    return SuppressionNote(
        file=as_str(item.get("file")),
        line=line if _is_count(line) else None,
        end_line=end if _is_count(end) else None,
        scope=as_str(item.get("scope")),
        directive=as_str(item.get("directive")),
        rules=[as_str(r) for r in as_list(item.get("rules"))],
        reason=as_str(item.get("reason")) or None,
        justified=item.get("justified") is True,
    )


def _finding(item: Mapping[str, Any]) -> Finding:
    line = item.get("line")
    cwe = item.get("cwe")
    return Finding(
        test_id=as_str(item.get("test_id")),
        test_name=as_str(item.get("test_name")),
        severity=as_str(item.get("severity")),
        confidence=as_str(item.get("confidence")),
        filename=as_str(item.get("filename")),
        line=line if isinstance(line, int) and not isinstance(line, bool) else None,
        text=as_str(item.get("text")),
        cwe=as_str(cwe) if cwe else None,
        blocking=bool(item.get("blocking")),
        suppressed=bool(item.get("suppressed")),
    )


def _is_hidden(test_id: str) -> bool:
    return test_id.startswith((f"{HIDDEN_DIR_NAME}/", f"{HIDDEN_DIR_NAME}."))


def _hidden_failing(hidden: Mapping[str, Any]) -> list[FailingTest]:
    """The hidden tests that failed, with their messages (the owner's report only has them)."""
    messages = {
        as_str(f.get("id")): as_str(f.get("message"))
        for f in map(as_dict, as_list(hidden.get("failures")))
    }
    return [
        FailingTest(n, messages.get(n, ""), True)
        for n in map(as_str, as_list(hidden.get("failing_tests")))
    ]


def _hidden_tests(hidden: Mapping[str, Any]) -> HiddenTests:
    """Counts from either shape: the report lists missing and unexpected ids, the supplier's view counts them."""
    expected = hidden.get("expected")
    return HiddenTests(
        tests=_counts(hidden.get("tests")),
        expected=expected if _is_count(expected) else None,
        missing=_count_of(hidden.get("missing")),
        unexpected=_count_of(hidden.get("unexpected")),
        partial=hidden.get("partial") is True,
        # The report lists the ids under `missing`; the supplier's view counts them there.
        missing_ids=[
            as_str(i)
            for i in as_list(hidden.get("missing")) or as_list(hidden.get("missing_tests"))
        ],
        unexpected_ids=[as_str(i) for i in as_list(hidden.get("unexpected"))],
        feedback=as_str(hidden.get("feedback")) or None,
    )


def _counts(value: object) -> dict[str, int]:
    return {k: v for k, v in as_dict(value).items() if _is_count(v)}


def _count_of(value: object) -> int:
    """A number as is, or the length of a list of ids."""
    return value if _is_count(value) else len(as_list(value))


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
