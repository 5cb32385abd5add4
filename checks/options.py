"""The options each check reads from its section of the acceptance spec.

They live with the checks (the spec's modules, acceptance/engine/spec_*.py, read and
validate the YAML into them), so a check never imports the engine that parses specs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------- functional


@dataclass(frozen=True)
class TestCommand:
    """The owner's test command and the results file it writes (relative to the checkout)."""

    __test__ = False  # not a pytest test class, despite the name

    #: what runs: ``("sh", "-c", line)`` for a command line, else the arguments as written
    argv: tuple[str, ...]
    #: the command as the owner wrote it, for the report
    written: str
    results_format: str
    #: canonical relative POSIX path inside the checkout
    results_path: str


@dataclass(frozen=True)
class FunctionalSpec:
    """What pytest runs inside the checkout and what counts as passing."""

    paths: tuple[str, ...] = ()
    hidden_tests: Path | None = None
    min_passed: int = 1
    timeout: int = 300
    #: failing tests are re-run (by node id, in a fresh process) up to this many times; 0: never
    reruns: int = 2
    #: "fail" or "pass" (FLAKY_POLICIES): whether a test that failed, then passed, counts as passed
    flaky: str = "fail"
    #: seconds one test may run before it is stopped and failed (TEST_TIMEOUT); None: no limit
    #: but ``timeout``; never more than ``timeout``
    test_timeout: int | None = None
    #: "none", "names" or "messages" (HIDDEN_FEEDBACK_LEVELS): what the supplier sees of
    #: failing hidden tests besides their counts (acceptance/service/supplier_view.py)
    hidden_feedback: str = "names"
    #: the owner's test command and its results file, run instead of the runtime's default
    #: runner (acceptance/engine/test_command.py); None: the default runner
    command: TestCommand | None = None


# ---------------------------------------------------------------- security: sast, dependencies


class Severity(str, enum.Enum):
    """Bandit's severity and confidence levels, ordered low to high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """0 for low, 1 for medium, 2 for high: for comparisons."""
        return ("low", "medium", "high").index(self.value)


@dataclass(frozen=True)
class SastSpec:
    """Static analysis with bandit: what fails the check and what is scanned.

    The defaults are what a spec with only ``version`` and ``title`` gets, so they must
    reject the classic holes: ``eval(input())`` (B307) is medium severity, high
    confidence. Confidence ``medium`` keeps bandit's low-confidence guesses (e.g. B608
    on any string that starts with ``SELECT``) from failing a delivery unasked.
    """

    enabled: bool = True
    fail_on: Severity = Severity.MEDIUM
    confidence: Severity = Severity.MEDIUM
    exclude: tuple[str, ...] = ()
    allow_suppressions: bool = False


@dataclass(frozen=True)
class DependencyAuditSpec:
    """Known-vulnerability audit of the installed distributions (pip-audit)."""

    enabled: bool = True
    fail_on_vulnerabilities: bool = True
    ignore: tuple[str, ...] = ()
    #: seconds; older advisory data makes the check an error (ADVISORIES_STALE); None: any age
    max_data_age: int | None = None


# ---------------------------------------------------------------- licence


@dataclass(frozen=True)
class LicenceSpec:
    """The open-licence check. ``allowed=None`` means any OSI-approved licence."""

    enabled: bool = True
    allowed: tuple[str, ...] | None = None
    # "compatible": every installed dependency's licence must be compatible with
    # the repository's; "report": list them without judging; "off": skip.
    dependencies: str = "compatible"


# ---------------------------------------------------------------- quality

#: ruff's own default rule set, what ``quality.rules: default`` (or nothing) selects
QUALITY_DEFAULT_RULES: tuple[str, ...] = ("E4", "E7", "E9", "F")


class QualityLevel(str, enum.Enum):
    """How much a linter finding weighs, low to high (docs/checks.md maps ruff's categories)."""

    STYLE = "style"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for style, 1 for warning, 2 for error: for comparisons."""
        return ("style", "warning", "error").index(self.value)


@dataclass(frozen=True)
class QualitySpec:
    """The linter check (ruff for Python); off unless the spec turns it on.

    ``rules`` are ruff selectors (codes or prefixes); ``fail_on`` is the lowest level that
    fails the check (``any`` reads as ``style``); ``suppressions`` says which in-source
    suppressions count: ``justified`` (those with a written reason), ``allowed`` (all) or
    ``forbidden`` (none: each one is a finding).
    """

    enabled: bool = False
    rules: tuple[str, ...] = QUALITY_DEFAULT_RULES
    #: True when ``rules`` is ruff's default set (the spec said ``default`` or nothing)
    default_rules: bool = True
    fail_on: QualityLevel = QualityLevel.STYLE
    suppressions: str = "justified"
    exclude: tuple[str, ...] = ()
