"""What the quality check says when a runtime's own linter cannot apply the spec's rules.

Python deliveries are linted by ruff, Node.js ones by ESLint and shell ones by ShellCheck;
ruff's rule selectors in `quality.rules` mean nothing to the other two.
"""

from __future__ import annotations

from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.options import QualitySpec
from checks.quality import CHECK_ID, KIND


def rules_unavailable(spec: QualitySpec, delivery: str, linter: str) -> CheckOutcome | None:
    """Skipped when off; `not_run` when the rules are ruff's selectors but `delivery` is
    linted by another tool (`linter`): never a pass. None when the check can run."""
    if not spec.enabled:
        return CheckOutcome(
            CheckResult(CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec")
        )
    if spec.default_rules:
        return None
    return CheckOutcome(CheckResult(
        CHECK_ID, KIND, CheckStatus.NOT_RUN,
        f"not run: quality.rules lists ruff's rules, which lint Python; {delivery} is "
        f"linted with {linter}: write `rules: default`",
        "RUNTIME_CHECK_UNAVAILABLE",
    ))  # fmt: skip
