"""A run's signed report, read back from the artifact store and shaped for the pages.

The page shows what the signed report says, not what the database summary
says, and tells whether the signature checks out against the service's keys.
Every field is read defensively: the report holds supplier-controlled text.
The supplier's page shapes only what acceptance/service/supplier_view.py lets through
(`report_from` on its `report` part), never the predicate itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from acceptance.engine.signing import SignatureError, verify_envelope
from acceptance.service.artifacts import ArtifactStore
from acceptance.service.models import Run
from checks.hidden_inventory import HIDDEN_DIR_NAME

REPORT_NAME = "report.dsse.json"
LOG_PREFIX = "logs/"


@dataclass(frozen=True)
class FailingTest:
    """A failing test and its failure message."""

    id: str
    message: str
    #: one of the owner's hidden tests: its message may quote their source
    hidden: bool


@dataclass(frozen=True)
class Finding:
    """A bandit finding as the report lists it."""

    test_id: str
    test_name: str
    severity: str
    confidence: str
    filename: str
    line: int | None
    text: str
    cwe: str | None
    blocking: bool
    suppressed: bool


@dataclass(frozen=True)
class LintFinding:
    """A linter finding (ruff) as the quality check lists it."""

    rule: str
    name: str
    level: str
    file: str
    line: int | None
    message: str
    url: str | None
    blocking: bool
    suppressed: bool
    suppression_reason: str | None


@dataclass(frozen=True)
class SuppressionNote:
    """A suppression comment in the delivered code: where, what it silences, and why."""

    file: str
    line: int | None
    end_line: int | None
    scope: str
    directive: str
    rules: list[str]
    reason: str | None
    justified: bool


@dataclass(frozen=True)
class Vulnerability:
    """A known vulnerability of an installed package."""

    package: str
    version: str
    id: str
    aliases: list[str]
    fix_versions: list[str]
    ignored: bool


@dataclass(frozen=True)
class DependencyLicence:
    """An installed package's licence and whether it fits the repository's."""

    name: str
    version: str
    licence: str
    compatible: bool | None


@dataclass(frozen=True)
class LicenceEvidence:
    """One place the licence check looked, and what it found there."""

    source: str
    kind: str
    matched: str | None
    score: float | None
    problem: str | None


@dataclass(frozen=True)
class AxeNode:
    """One element axe-core flagged: its CSS selector and HTML, shown as inert text."""

    target: str
    html: str


@dataclass(frozen=True)
class AxeViolation:
    """One axe-core rule a page breaks."""

    rule: str
    impact: str
    tags: list[str]
    help: str
    #: axe-core's own help page only (the engine and this view both check the address)
    help_url: str | None
    blocking: bool
    ignored: bool
    nodes: list[AxeNode]


@dataclass(frozen=True)
class AxePage:
    """One page the accessibility check opened, and what axe-core found on it."""

    page: str
    violations: list[AxeViolation]
    counts: dict[str, int]
    passes: int | None
    incomplete: int | None
    error: str | None
    screenshot: str | None


@dataclass(frozen=True)
class HiddenTests:
    """How the owner's hidden tests fared in their own run.

    The owner's report names the tests that did not run and the results of
    tests the owner did not write; the supplier's view carries counts, and the
    names the owner's `hidden_feedback` lets through (`feedback`, None on the
    owner's page).
    """

    tests: dict[str, int]
    expected: int | None
    missing: int
    unexpected: int
    partial: bool
    missing_ids: list[str] = field(default_factory=list)
    unexpected_ids: list[str] = field(default_factory=list)
    feedback: str | None = None


@dataclass(frozen=True)
class Check:
    """One check as the report states it, with its kind's evidence."""

    id: str
    kind: str
    status: str
    summary: str
    reason_code: str | None
    tests: dict[str, int] = field(default_factory=dict)
    failing: list[FailingTest] = field(default_factory=list)
    failing_total: int = 0
    #: tests that failed, then passed when run again
    flaky: int = 0
    hidden: HiddenTests | None = None
    findings: list[Finding] = field(default_factory=list)
    findings_truncated: bool = False
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    vulnerabilities_truncated: bool = False
    #: how many installed packages the dependency check audited; None when the report omits it
    audited: int | None = None
    advisory_data: dict[str, Any] = field(default_factory=dict)
    licence: dict[str, Any] = field(default_factory=dict)
    evidence: list[LicenceEvidence] = field(default_factory=list)
    dependencies: list[DependencyLicence] = field(default_factory=list)
    lint_findings: list[LintFinding] = field(default_factory=list)
    suppressions: list[SuppressionNote] = field(default_factory=list)
    suppressions_truncated: bool = False
    #: the quality check's rules, fail_on and suppression policy as the report states them
    quality_settings: dict[str, Any] = field(default_factory=dict)
    #: the linter's name and version
    tool: dict[str, Any] = field(default_factory=dict)
    #: the accessibility check's pages, and its settings as the report states them
    pages: list[AxePage] = field(default_factory=list)
    missing_pages: list[dict[str, str]] = field(default_factory=list)
    accessibility_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """A run stage, its outcome and how long it took."""

    name: str
    status: str
    seconds: float | None


@dataclass(frozen=True)
class Report:
    """What a page shows of a signed report."""

    verdict: str
    reasons: list[str]
    checks: list[Check]
    not_checked: list[tuple[str, str]]
    stages: list[Stage]
    environment: dict[str, Any]
    commit: str | None
    ref: str | None
    #: key id of the service key whose signature verified; None when none did
    verified_keyid: str | None
    problem: str | None = None


@dataclass(frozen=True)
class SignedPredicate:
    """A run's report predicate as stored, and whether its signature verified."""

    #: None when the report cannot be read at all
    predicate: dict[str, Any] | None
    #: key id of the service key whose signature verified; None when none did
    keyid: str | None
    problem: str | None


def load_predicate(
    store: ArtifactStore, run: Run, public_keys: list[dict[str, Any]]
) -> SignedPredicate | None:
    """The run's report predicate, verified against the service's keys; None when there is none."""
    if not run.report_sha256:
        return None
    data = store.get(run.report_sha256)
    if data is None:
        return SignedPredicate(None, None, "the signed report is missing from the artifact store")
    try:
        envelope = json.loads(data)
        payload = base64.b64decode(envelope["payload"], validate=True)
        statement = json.loads(payload)
        predicate = statement["predicate"]
        if not isinstance(predicate, dict):
            raise TypeError("predicate")
    except (ValueError, KeyError, TypeError, binascii.Error):
        return SignedPredicate(None, None, "the signed report cannot be read")
    keys = [_public_key(entry.get("pem")) for entry in public_keys]
    try:
        keyid: str | None = verify_envelope(envelope, [k for k in keys if k is not None]).keyid
        problem = None
    except SignatureError as exc:
        keyid, problem = None, exc.message
    return SignedPredicate(predicate, keyid, problem)


def load_report(store: ArtifactStore, run: Run, public_keys: list[dict[str, Any]]) -> Report | None:
    """The run's report, verified against the service's public keys; None when there is none."""
    signed = load_predicate(store, run, public_keys)
    if signed is None:
        return None
    return report_from(signed.predicate, signed.keyid, signed.problem)


def report_from(
    predicate: Mapping[str, Any] | None, keyid: str | None, problem: str | None
) -> Report:
    """A predicate (or the supplier's view of one) shaped for the pages."""
    if predicate is None:
        return _unreadable(problem or "the signed report cannot be read")
    return _report(predicate, keyid, problem)


def _public_key(pem: object) -> Ed25519PublicKey | None:
    if not isinstance(pem, str):
        return None
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except ValueError:
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def _unreadable(problem: str) -> Report:
    return Report("error", [], [], [], [], {}, None, None, None, problem)


def _report(predicate: Mapping[str, Any], keyid: str | None, problem: str | None) -> Report:
    source = _dict(predicate.get("source"))
    not_checked = [
        (_str(item.get("id")), _str(item.get("reason")))
        for item in map(_dict, _list(predicate.get("not_checked")))
    ]
    stages = [
        Stage(_str(s.get("name")), _str(s.get("status")), _float(s.get("seconds")))
        for s in map(_dict, _list(predicate.get("stages")))
    ]
    return Report(
        verdict=_str(predicate.get("verdict")),
        reasons=[_str(r) for r in _list(predicate.get("reasons"))],
        checks=[_check(c) for c in map(_dict, _list(predicate.get("checks")))],
        not_checked=not_checked,
        stages=stages,
        environment=_dict(predicate.get("environment")),
        commit=_str(source.get("commit")) or None,
        ref=_str(source.get("ref")) or None,
        verified_keyid=keyid,
        problem=problem,
    )


def _check(entry: Mapping[str, Any]) -> Check:
    kind = _str(entry.get("kind"))
    common: dict[str, Any] = {
        "id": _str(entry.get("id")),
        "kind": kind,
        "status": _str(entry.get("status")),
        "summary": _str(entry.get("summary")),
        "reason_code": _str(entry.get("reason_code")) or None,
    }
    if kind == "functional":
        messages = {
            _str(f.get("id")): _str(f.get("message"))
            for f in map(_dict, _list(entry.get("failures")))
        }
        names = [_str(n) for n in _list(entry.get("failing_tests"))]
        failing = [FailingTest(n, messages.get(n, ""), _is_hidden(n)) for n in names]
        hidden = _dict(entry.get("hidden"))
        hidden_failing = _hidden_failing(hidden)
        return Check(
            **common,
            # The report's `tests` counts the hidden tests too; `own_tests` is the repository's
            # share (the supplier's view already holds only that share in `tests`).
            tests=_counts(entry.get("own_tests", entry.get("tests"))),
            failing=failing + hidden_failing,
            failing_total=len(names) + len(hidden_failing),
            flaky=len(_list(entry.get("flaky"))),
            hidden=_hidden_tests(hidden) if hidden else None,
        )
    if kind == "sast":
        findings = [_finding(f) for f in map(_dict, _list(entry.get("findings")))]
        return Check(
            **common, findings=findings, findings_truncated=bool(entry.get("findings_truncated"))
        )
    if kind == "dependencies":
        vulnerabilities = [
            Vulnerability(
                package=_str(v.get("package")),
                version=_str(v.get("version")),
                id=_str(v.get("id")),
                aliases=[_str(a) for a in _list(v.get("aliases"))],
                fix_versions=[_str(x) for x in _list(v.get("fix_versions"))],
                ignored=bool(v.get("ignored")),
            )
            for v in map(_dict, _list(entry.get("vulnerabilities")))
        ]
        return Check(
            **common,
            vulnerabilities=vulnerabilities,
            vulnerabilities_truncated=entry.get("vulnerabilities_truncated") is True,
            audited=audited if _is_count(audited := entry.get("audited")) else None,
            advisory_data=_dict(entry.get("advisory_data")),
        )
    if kind == "licence":
        evidence = [
            LicenceEvidence(
                source=_str(e.get("source")),
                kind=_str(e.get("kind")),
                matched=_str(e.get("matched")) or None,
                score=_float(e.get("score")),
                problem=_str(e.get("problem")) or None,
            )
            for e in map(_dict, _list(entry.get("evidence")))
        ]
        dependencies = [
            DependencyLicence(
                name=_str(d.get("name")),
                version=_str(d.get("version")),
                licence=_str(d.get("licence")),
                compatible=d.get("compatible") if isinstance(d.get("compatible"), bool) else None,
            )
            for d in map(_dict, _list(entry.get("dependencies")))
        ]
        return Check(
            **common,
            licence=_dict(entry.get("licence")),
            evidence=evidence,
            dependencies=dependencies,
        )
    if kind == "quality":
        return Check(
            **common,
            lint_findings=[_lint_finding(f) for f in map(_dict, _list(entry.get("findings")))],
            findings_truncated=entry.get("findings_truncated") is True,
            suppressions=[_suppression(s) for s in map(_dict, _list(entry.get("suppressions")))],
            suppressions_truncated=entry.get("suppressions_truncated") is True,
            quality_settings=_dict(entry.get("settings")),
            tool=_dict(entry.get("tool")),
        )
    if kind == "accessibility":
        ignore = [_str(rule) for rule in _list(entry.get("ignore"))]
        return Check(
            **common,
            pages=[_axe_page(p) for p in map(_dict, _list(entry.get("pages")))],
            missing_pages=[
                {"page": _str(m.get("page")), "reason": _str(m.get("reason"))}
                for m in map(_dict, _list(entry.get("missing_pages")))
            ],
            accessibility_settings={
                "standard": _str(entry.get("standard")),
                "fail_on": _str(entry.get("fail_on")),
                "ignore": ignore,
                "axe_version": _str(entry.get("axe_version")),
            },
        )
    return Check(**common)


_AXE_HELP_PREFIX = "https://dequeuniversity.com/rules/axe/"
_AXE_IMPACTS = ("critical", "serious", "moderate", "minor")


def _axe_page(item: Mapping[str, Any]) -> AxePage:
    counts = _dict(item.get("counts"))
    passes, incomplete = item.get("passes"), item.get("incomplete")
    violations = [_axe_violation(v) for v in map(_dict, _list(item.get("violations")))]
    # Blocking first, then by impact, as the owner reads them.
    violations.sort(key=lambda v: (not v.blocking, _impact_rank(v.impact)))
    return AxePage(
        page=_str(item.get("page")),
        violations=violations,
        counts={k: counts[k] for k in _AXE_IMPACTS if _is_count(counts.get(k))},
        passes=passes if _is_count(passes) else None,
        incomplete=incomplete if _is_count(incomplete) else None,
        error=_str(item.get("error")) or None,
        screenshot=_str(item.get("screenshot")) or None,
    )


def _impact_rank(impact: str) -> int:
    return _AXE_IMPACTS.index(impact) if impact in _AXE_IMPACTS else len(_AXE_IMPACTS)


def _axe_violation(item: Mapping[str, Any]) -> AxeViolation:
    url = _str(item.get("help_url"))
    return AxeViolation(
        rule=_str(item.get("rule")),
        impact=_str(item.get("impact")),
        tags=[_str(t) for t in _list(item.get("tags"))],
        help=_str(item.get("help")),
        help_url=url if url.startswith(_AXE_HELP_PREFIX) else None,
        blocking=item.get("blocking") is True,
        ignored=item.get("ignored") is True,
        nodes=[
            AxeNode(target=_str(n.get("target")), html=_str(n.get("html")))
            for n in map(_dict, _list(item.get("nodes")))
        ],
    )


def _lint_finding(item: Mapping[str, Any]) -> LintFinding:
    line, url = item.get("line"), _str(item.get("url"))
    return LintFinding(
        rule=_str(item.get("rule")),
        name=_str(item.get("name")),
        level=_str(item.get("level")),
        file=_str(item.get("file")),
        line=line if _is_count(line) else None,
        message=_str(item.get("message")),
        # Only ruff's own rule pages become links.
        url=url if url.startswith("https://docs.astral.sh/ruff/rules/") else None,
        blocking=item.get("blocking") is True,
        suppressed=item.get("suppressed") is True,
        suppression_reason=_str(item.get("suppression_reason")) or None,
    )


def _suppression(item: Mapping[str, Any]) -> SuppressionNote:
    line, end = item.get("line"), item.get("end_line")
    return SuppressionNote(
        file=_str(item.get("file")),
        line=line if _is_count(line) else None,
        end_line=end if _is_count(end) else None,
        scope=_str(item.get("scope")),
        directive=_str(item.get("directive")),
        rules=[_str(r) for r in _list(item.get("rules"))],
        reason=_str(item.get("reason")) or None,
        justified=item.get("justified") is True,
    )


def _finding(item: Mapping[str, Any]) -> Finding:
    line = item.get("line")
    cwe = item.get("cwe")
    return Finding(
        test_id=_str(item.get("test_id")),
        test_name=_str(item.get("test_name")),
        severity=_str(item.get("severity")),
        confidence=_str(item.get("confidence")),
        filename=_str(item.get("filename")),
        line=line if isinstance(line, int) and not isinstance(line, bool) else None,
        text=_str(item.get("text")),
        cwe=_str(cwe) if cwe else None,
        blocking=bool(item.get("blocking")),
        suppressed=bool(item.get("suppressed")),
    )


def _is_hidden(test_id: str) -> bool:
    return test_id.startswith((f"{HIDDEN_DIR_NAME}/", f"{HIDDEN_DIR_NAME}."))


def _hidden_failing(hidden: Mapping[str, Any]) -> list[FailingTest]:
    """The hidden tests that failed, with their messages (the owner's report only has them)."""
    messages = {
        _str(f.get("id")): _str(f.get("message")) for f in map(_dict, _list(hidden.get("failures")))
    }
    return [FailingTest(n, messages.get(n, ""), True) for n in map(_str, _list(hidden.get("failing_tests")))]


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
            _str(i) for i in _list(hidden.get("missing")) or _list(hidden.get("missing_tests"))
        ],
        unexpected_ids=[_str(i) for i in _list(hidden.get("unexpected"))],
        feedback=_str(hidden.get("feedback")) or None,
    )


def _counts(value: object) -> dict[str, int]:
    return {k: v for k, v in _dict(value).items() if _is_count(v)}


def _count_of(value: object) -> int:
    """A number as is, or the length of a list of ids."""
    return value if _is_count(value) else len(_list(value))


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def log_names(run: Run) -> list[str]:
    """The stages whose logs the run kept, in the order the run stored them."""
    return [name[len(LOG_PREFIX):-len(".log")] for name in run.artifacts
            if name.startswith(LOG_PREFIX) and name.endswith(".log")]  # fmt: skip


def other_artifacts(run: Run) -> list[str]:
    """The checks' files (JUnit XML, SARIF, SBOM...), without the report and the logs."""
    return sorted(n for n in run.artifacts if n != REPORT_NAME and not n.startswith(LOG_PREFIX))


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
