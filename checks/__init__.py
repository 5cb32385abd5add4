"""The acceptance checks: each turns sandbox output into a verdict with evidence.

This module is the registry the pipeline reads: which checks a report lists, in which
order, and whether the spec turned each one off. The five built-in checks are driven by
the pipeline's stages (they share one sandbox, threads and limits); a check registered
with `register` runs through its `run(context)` at its stage (beside the sandbox only, so
far) and needs no change to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.interface import Check, CheckContext, CheckId, CheckOutcome, Stage


@dataclass(frozen=True)
class BuiltinCheck:
    """A built-in check: its id, stage and spec section; the pipeline's stages run it."""

    id: str
    stage: Stage
    spec_section: str
    listed_when_off: bool = True

    def enabled(self, spec: object) -> bool:
        section = spec
        for part in self.spec_section.split("."):
            section = getattr(section, part)
        return bool(getattr(section, "enabled", True))

    def run(self, context: CheckContext) -> CheckOutcome:
        raise NotImplementedError(f"the pipeline's stages run the built-in check {self.id}")


BUILTIN_CHECKS: tuple[BuiltinCheck, ...] = (
    BuiltinCheck(CheckId.FUNCTIONAL.value, Stage.AFTER_INSTALL, "functional"),
    BuiltinCheck(CheckId.SAST.value, Stage.BEFORE_INSTALL, "security.sast"),
    BuiltinCheck(CheckId.DEPENDENCIES.value, Stage.AFTER_INSTALL, "security.dependencies"),
    BuiltinCheck(CheckId.LICENCE.value, Stage.AFTER_INSTALL, "licence"),
    BuiltinCheck(CheckId.QUALITY.value, Stage.BEFORE_INSTALL, "quality", listed_when_off=False),
)

_registry: dict[str, Check] = {check.id: check for check in BUILTIN_CHECKS}


def register(check: Check) -> Check:
    """Add a check after those already registered; its id must be new."""
    if check.id in _registry:
        raise ValueError(f"a check with the id {check.id!r} is already registered")
    if check.stage is not Stage.BESIDE_SANDBOX:
        raise ValueError(
            f"check {check.id!r}: only checks beside the sandbox can be registered yet"
        )
    _registry[check.id] = check
    return check


def unregister(check_id: str) -> None:
    """Remove a registered check (built-in ones stay)."""
    if any(check.id == check_id for check in BUILTIN_CHECKS):
        raise ValueError(f"{check_id!r} is a built-in check")
    _registry.pop(check_id, None)


def registered() -> tuple[Check, ...]:
    """Every check, in report order."""
    return tuple(_registry.values())


def is_builtin(check: Check) -> bool:
    return isinstance(check, BuiltinCheck)


# Imported here, not at the top: the accessibility module reads this module's interface.
from checks.accessibility import AccessibilityCheck  # noqa: E402 -- after register exists

register(AccessibilityCheck())
