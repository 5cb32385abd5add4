"""What changed between two versions of an opportunity's spec."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from acceptance.service.models import SpecVersion


@dataclass(frozen=True)
class DiffLine:
    #: "added", "removed", "same" or "hunk" (a `@@ ... @@` position line)
    """One line of a unified diff of two spec texts."""

    kind: str
    text: str


@dataclass(frozen=True)
class SpecChange:
    """A version compared with the one before it."""

    previous: SpecVersion
    lines: list[DiffLine]
    added: int
    removed: int
    title_changed: bool
    hidden_tests_changed: bool

    @property
    def spec_changed(self) -> bool:
        """Whether the spec's text changed at all."""
        return bool(self.added or self.removed)


def compare(previous: SpecVersion, current: SpecVersion, context: int = 3) -> SpecChange:
    """How `current` differs from `previous`: the diff of their texts and what else changed."""
    diff = difflib.unified_diff(
        previous.spec_yaml.splitlines(), current.spec_yaml.splitlines(), lineterm="", n=context
    )
    lines: list[DiffLine] = []
    for line in diff:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            lines.append(DiffLine("added", line[1:]))
        elif line.startswith("-"):
            lines.append(DiffLine("removed", line[1:]))
        else:
            lines.append(DiffLine("same", line[1:]))
    return SpecChange(
        previous=previous,
        lines=lines,
        added=sum(1 for d in lines if d.kind == "added"),
        removed=sum(1 for d in lines if d.kind == "removed"),
        title_changed=previous.title != current.title,
        hidden_tests_changed=previous.hidden_tests_sha256 != current.hidden_tests_sha256,
    )


def changes(versions: list[SpecVersion]) -> dict[int, SpecChange]:
    """Each version's change from the one before it, by version number."""
    ordered = sorted(versions, key=lambda v: v.version)
    return {b.version: compare(a, b) for a, b in zip(ordered, ordered[1:], strict=False)}
