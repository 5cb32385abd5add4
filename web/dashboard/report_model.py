"""What the dashboard's pages show of a signed report: typed, frozen shapes.

web/dashboard/reportview.py reads a report into them, web/dashboard/report_checks.py
each check's evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    #: the owner's test command and its results file (command, format, path), when it ran the tests
    test_command: dict[str, str] | None = None
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
    #: the codes of `reasons`, each once (acceptance/service/reason_text.py ties them together)
    reason_codes: list[str] = field(default_factory=list)
    #: the runtime that judged the delivery and how it was chosen (`spec` or `detected`)
    runtime: str | None = None
    runtime_source: str | None = None
    #: the limits the run was held to (`limits`; the supplier's view has none)
    limits: dict[str, Any] = field(default_factory=dict)
