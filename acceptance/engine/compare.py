"""What changed from one run's report to another's: verdict, tests, findings, vulnerabilities, licences.

Pure: it reads two report predicates (`predicate` of the signed statements, as
acceptance.engine.report builds them) and never the database. Readers see it through
`Comparison.to_json` (the API) or its fields (the dashboard).

Keys, so that moving code does not look like a change:

- tests: the test id (pytest node id) of the functional check's `results`; the
  owner's hidden tests (`results` under `hidden`) apart;
- SAST findings: rule, file and a fingerprint that ignores the line number
  (sha256 of rule, file and the finding's whitespace-normalised message; the
  report keeps no code snippet). Equal keys are counted, so a second identical
  finding in a file is new;
- quality (linter) findings: the same, from the quality check's rule, file and message
  (a suppression the spec does not let stand is a finding too);
- vulnerabilities: package (normalised name), version and advisory id;
- licences: the project's SPDX expression; each dependency's licence by normalised name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

FAILING = frozenset({"failed", "error"})
_NAME_SEPARATORS = re.compile(r"[-_.]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class TestChange:
    """A test whose outcome differs; None where the run does not have it."""

    id: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class TestDiff:
    newly_failing: list[TestChange] = field(default_factory=list)
    newly_passing: list[TestChange] = field(default_factory=list)
    added: list[TestChange] = field(default_factory=list)
    removed: list[TestChange] = field(default_factory=list)
    #: a run listed only part of its tests (the report keeps at most so many): the diff is partial
    truncated: bool = False
    #: a run has no test results at all (the check did not run or was turned off)
    unavailable: bool = False

    def changed(self) -> bool:
        return bool(self.newly_failing or self.newly_passing or self.added or self.removed)


@dataclass(frozen=True)
class FindingChange:
    """A SAST finding that appeared (or disappeared) `count` times in a file."""

    rule: str
    file: str
    fingerprint: str
    count: int
    lines: list[int]
    severity: str
    message: str
    blocking: bool


@dataclass(frozen=True)
class FindingDiff:
    new: list[FindingChange] = field(default_factory=list)
    fixed: list[FindingChange] = field(default_factory=list)
    truncated: bool = False
    unavailable: bool = False


@dataclass(frozen=True)
class VulnerabilityChange:
    package: str
    version: str
    id: str
    aliases: list[str]
    fix_versions: list[str]
    ignored: bool


@dataclass(frozen=True)
class VulnerabilityDiff:
    new: list[VulnerabilityChange] = field(default_factory=list)
    fixed: list[VulnerabilityChange] = field(default_factory=list)
    truncated: bool = False
    unavailable: bool = False


@dataclass(frozen=True)
class LicenceChange:
    """A dependency whose licence changed, or that came (before None) or went (after None)."""

    name: str
    before: str | None
    after: str | None
    version_before: str | None
    version_after: str | None


@dataclass(frozen=True)
class LicenceDiff:
    project_before: str | None
    project_after: str | None
    dependencies: list[LicenceChange] = field(default_factory=list)
    unavailable: bool = False

    def project_changed(self) -> bool:
        return self.project_before != self.project_after


@dataclass(frozen=True)
class CheckChange:
    id: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Comparison:
    """From the base run's report to the head run's."""

    verdict_before: str | None
    verdict_after: str | None
    checks: list[CheckChange]
    tests: TestDiff
    hidden_tests: TestDiff
    sast: FindingDiff
    vulnerabilities: VulnerabilityDiff
    licences: LicenceDiff
    #: the quality check's findings; `unavailable` when a run did not lint
    quality: FindingDiff = field(default_factory=FindingDiff)

    def verdict_changed(self) -> bool:
        return self.verdict_before != self.verdict_after

    def to_json(self, *, hidden_ids: bool) -> dict[str, Any]:
        """The API's shape; without `hidden_ids`, the hidden tests only as counts."""
        hidden: dict[str, Any] = asdict(self.hidden_tests)
        if not hidden_ids:
            hidden = {
                key: len(value) if isinstance(value, list) else value
                for key, value in hidden.items()
            }
        return {
            "verdict": {
                "before": self.verdict_before,
                "after": self.verdict_after,
                "changed": self.verdict_changed(),
            },
            "checks": [asdict(c) for c in self.checks],
            "tests": asdict(self.tests),
            "hidden_tests": hidden,
            "sast": asdict(self.sast),
            "quality": asdict(self.quality),
            "vulnerabilities": asdict(self.vulnerabilities),
            "licences": {
                "project": {
                    "before": self.licences.project_before,
                    "after": self.licences.project_after,
                    "changed": self.licences.project_changed(),
                },
                "dependencies": [asdict(d) for d in self.licences.dependencies],
                "unavailable": self.licences.unavailable,
            },
        }


def compare_reports(before: Mapping[str, Any], after: Mapping[str, Any]) -> Comparison:
    """What changed from the `before` predicate to the `after` one."""
    functional_before, functional_after = _check(before, "functional"), _check(after, "functional")
    return Comparison(
        verdict_before=_text(before.get("verdict")),
        verdict_after=_text(after.get("verdict")),
        checks=_check_changes(before, after),
        tests=diff_tests(functional_before, functional_after),
        hidden_tests=diff_tests(
            _dict(functional_before.get("hidden")), _dict(functional_after.get("hidden"))
        ),
        sast=diff_findings(_check(before, "sast"), _check(after, "sast")),
        vulnerabilities=diff_vulnerabilities(
            _check(before, "dependencies"), _check(after, "dependencies")
        ),
        licences=diff_licences(_check(before, "licence"), _check(after, "licence")),
        quality=diff_findings(_check(before, "quality"), _check(after, "quality"), QUALITY_FIELDS),
    )


# ---------------------------------------------------------------- tests


def diff_tests(before: Mapping[str, Any], after: Mapping[str, Any]) -> TestDiff:
    """Tests by id, from two `results` lists ({id, outcome})."""
    old, new = _outcomes(before), _outcomes(after)
    if old is None or new is None:
        return TestDiff(unavailable=True)
    failing: list[TestChange] = []
    passing: list[TestChange] = []
    for test_id in sorted(old.keys() & new.keys()):
        was, now = old[test_id], new[test_id]
        if now in FAILING and was not in FAILING:
            failing.append(TestChange(test_id, was, now))
        elif now == "passed" and was in FAILING:
            passing.append(TestChange(test_id, was, now))
    return TestDiff(
        newly_failing=failing,
        newly_passing=passing,
        added=[TestChange(t, None, new[t]) for t in sorted(new.keys() - old.keys())],
        removed=[TestChange(t, old[t], None) for t in sorted(old.keys() - new.keys())],
        truncated=before.get("results_truncated") is True or after.get("results_truncated") is True,
    )


def _outcomes(details: Mapping[str, Any]) -> dict[str, str] | None:
    results = details.get("results")
    if not isinstance(results, list):
        return None
    found: dict[str, str] = {}
    for item in results:
        if (
            isinstance(item, Mapping)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("outcome"), str)
        ):
            found[item["id"]] = item["outcome"]
    return found


# ---------------------------------------------------------------- SAST


def fingerprint(rule: str, file: str, message: str) -> str:
    """A finding's identity without its line: sha256 of rule, file and normalised message."""
    normalised = _SPACES.sub(" ", message).strip()
    return hashlib.sha256(f"{rule}\0{file}\0{normalised}".encode()).hexdigest()


@dataclass(frozen=True)
class FindingFields:
    """Where a check's findings keep their rule, file, message and severity."""

    rule: str
    file: str
    message: str
    severity: str


SAST_FIELDS = FindingFields("test_id", "filename", "text", "severity")
QUALITY_FIELDS = FindingFields("rule", "file", "message", "level")


def diff_findings(
    before: Mapping[str, Any], after: Mapping[str, Any], fields: FindingFields = SAST_FIELDS
) -> FindingDiff:
    """Findings that appeared and that went, counted per (rule, file, fingerprint)."""
    old, new = _findings(before, fields), _findings(after, fields)
    if old is None or new is None:
        return FindingDiff(unavailable=True)
    return FindingDiff(
        new=_surplus(new, old, fields),
        fixed=_surplus(old, new, fields),
        truncated=before.get("findings_truncated") is True
        or after.get("findings_truncated") is True,
    )


_Key = tuple[str, str, str]


def _findings(
    details: Mapping[str, Any], fields: FindingFields
) -> dict[_Key, list[Mapping[str, Any]]] | None:
    items = details.get("findings")
    if not isinstance(items, list):
        return None
    grouped: dict[_Key, list[Mapping[str, Any]]] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        rule, file, message = (
            _text(item.get(fields.rule)),
            _text(item.get(fields.file)),
            _text(item.get(fields.message)),
        )
        if rule is None or file is None:
            continue
        key = (rule, file, fingerprint(rule, file, message or ""))
        grouped.setdefault(key, []).append(item)
    return grouped


def _surplus(
    mine: dict[_Key, list[Mapping[str, Any]]],
    theirs: dict[_Key, list[Mapping[str, Any]]],
    fields: FindingFields,
) -> list[FindingChange]:
    """Findings `mine` has more of than `theirs`, with where they are in `mine`."""
    changes = []
    for key in sorted(mine):
        count = len(mine[key]) - len(theirs.get(key, []))
        if count <= 0:
            continue
        items = mine[key]
        first = items[0]
        changes.append(FindingChange(
            rule=key[0], file=key[1], fingerprint=key[2], count=count,
            lines=sorted(i["line"] for i in items if type(i.get("line")) is int),
            severity=_text(first.get(fields.severity)) or "",
            message=_text(first.get(fields.message)) or "",
            blocking=any(i.get("blocking") is True for i in items),
        ))  # fmt: skip
    return changes


# ---------------------------------------------------------------- vulnerabilities


def diff_vulnerabilities(before: Mapping[str, Any], after: Mapping[str, Any]) -> VulnerabilityDiff:
    """Advisories by (package, version, id) that appeared and that went."""
    old, new = _vulnerabilities(before), _vulnerabilities(after)
    if old is None or new is None:
        return VulnerabilityDiff(unavailable=True)
    return VulnerabilityDiff(
        new=[new[k] for k in sorted(new.keys() - old.keys())],
        fixed=[old[k] for k in sorted(old.keys() - new.keys())],
        truncated=before.get("vulnerabilities_truncated") is True
        or after.get("vulnerabilities_truncated") is True,
    )


def _vulnerabilities(
    details: Mapping[str, Any],
) -> dict[tuple[str, str, str], VulnerabilityChange] | None:
    items = details.get("vulnerabilities")
    if not isinstance(items, list):
        return None
    found: dict[tuple[str, str, str], VulnerabilityChange] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        package, version, advisory = (
            _text(item.get("package")),
            _text(item.get("version")),
            _text(item.get("id")),
        )
        if package is None or advisory is None:
            continue
        found[(normalise_name(package), version or "", advisory)] = VulnerabilityChange(
            package=package, version=version or "", id=advisory,
            aliases=_texts(item.get("aliases")), fix_versions=_texts(item.get("fix_versions")),
            ignored=item.get("ignored") is True,
        )  # fmt: skip
    return found


# ---------------------------------------------------------------- licences


def diff_licences(before: Mapping[str, Any], after: Mapping[str, Any]) -> LicenceDiff:
    """The project's licence before and after; dependencies whose licence changed, came or went."""
    if not before.get("licence") and not after.get("licence"):
        return LicenceDiff(None, None, unavailable=True)
    old, new = _dependency_licences(before), _dependency_licences(after)
    changes: list[LicenceChange] = []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        if was is not None and now is not None and was[1] == now[1]:
            continue  # a new version under the same licence is no licence change
        shown = now or was
        assert shown is not None
        changes.append(LicenceChange(
            name=shown[0], before=was[1] if was else None, after=now[1] if now else None,
            version_before=was[2] if was else None, version_after=now[2] if now else None,
        ))  # fmt: skip
    return LicenceDiff(_project_licence(before), _project_licence(after), changes)


def _project_licence(details: Mapping[str, Any]) -> str | None:
    return _text(_dict(details.get("licence")).get("spdx"))


def _dependency_licences(details: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    """(name as written, licence, version) by normalised name."""
    found: dict[str, tuple[str, str, str]] = {}
    for item in _list(details.get("dependencies")):
        if not isinstance(item, Mapping) or _text(item.get("name")) is None:
            continue
        name = str(item["name"])
        found[normalise_name(name)] = (
            name,
            _text(item.get("licence")) or "",
            _text(item.get("version")) or "",
        )
    return found


# ---------------------------------------------------------------- shared


def normalise_name(name: str) -> str:
    """A Python package name as PEP 503 compares them."""
    return _NAME_SEPARATORS.sub("-", name).lower()


def _check_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[CheckChange]:
    old, new = _statuses(before), _statuses(after)
    return [
        CheckChange(check, old.get(check), new.get(check))
        for check in sorted(old.keys() | new.keys())
        if old.get(check) != new.get(check)
    ]


def _statuses(predicate: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(c["id"]): str(c.get("status"))
        for c in _list(predicate.get("checks"))
        if isinstance(c, Mapping) and isinstance(c.get("id"), str)
    }


def _check(predicate: Mapping[str, Any], check_id: str) -> Mapping[str, Any]:
    """The check's entry in `predicate.checks` (its details inline), or {}."""
    for check in _list(predicate.get("checks")):
        if isinstance(check, Mapping) and check.get("id") == check_id:
            return check
    return {}


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: object) -> list[str]:
    return [v for v in _list(value) if isinstance(v, str)]
