"""The open-licence check: the repository's own licence (host, static) and its dependencies' (sandbox).

This module judges; :mod:`checks.licence_detection` reads the repository's licence
(:mod:`checks.licence_scancode`, :mod:`checks.licence_expressions`) and
:mod:`checks.dependency_licences` lists the dependencies' licences.

Part one reads the checkout on the host through :mod:`acceptance.safefs` only (never
following a link) and identifies its licence from the licence files at the root
(``LICENSE``, ``LICENCE``, ``COPYING``, ``UNLICENSE`` with any extension or suffix, and
REUSE's ``LICENSES/<id>.txt``) with ScanCode's licence detection, and from
``pyproject.toml`` metadata (PEP 639 ``project.license``, legacy ``{text}``/``{file}``,
Poetry's ``license`` and ``License ::`` classifiers). See docs/licence-detection.md for
why ScanCode and how it was measured.

Part two lists the licence of every distribution installed in the run's venv inside the
sandbox, offline, and judges each against the repository's licence with licensecheck's
own compatibility matrix. licensecheck's command line is not used: offline it drops PEP
639 ``License-Expression`` metadata and reaches for the package index (see
:data:`checks.dependency_licences.DEPENDENCY_SCRIPT` and the docs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from packaging.utils import canonicalize_name

from acceptance import safefs
from checks.dependency_licences import (
    MAX_DEPENDENCIES,
    MAX_DEPENDENCY_OUTPUT,
    dependency_licence_command,
    parse_dependency_licences,
)
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from checks.licence_detection import detect_repo_licence
from checks.licence_evidence import DependencyLicence, LicenceCandidate, printable

# Readers of the check take its evidence type from here too.
from checks.licence_evidence import LicenceEvidence as LicenceEvidence
from checks.licence_expressions import licence_allowed
from checks.options import LicenceSpec
from sandbox.interface import Sandbox, SandboxLimitError

CHECK_ID = "licence"
KIND = "licence"

MAX_LISTED = 200

LICENCE_MISSING = "LICENCE_MISSING"
LICENCE_UNRECOGNISED = "LICENCE_UNRECOGNISED"
LICENCE_CONTRADICTORY = "LICENCE_CONTRADICTORY"
LICENCE_NOT_ALLOWED = "LICENCE_NOT_ALLOWED"
LICENCE_EXTRA_TERMS = "LICENCE_EXTRA_TERMS"
DEPENDENCY_LICENCE_INCOMPATIBLE = "DEPENDENCY_LICENCE_INCOMPATIBLE"
DEPENDENCY_LICENCES_UNAVAILABLE = "DEPENDENCY_LICENCES_UNAVAILABLE"


# ---------------------------------------------------------------- judging


def judge_licence(
    evidence: LicenceEvidence,
    spec: LicenceSpec,
    dependencies: Sequence[DependencyLicence] | None,
) -> CheckResult:
    """The check's verdict from the evidence, the spec and the dependency licences."""
    if not spec.enabled:
        return CheckResult(
            CHECK_ID, KIND, CheckStatus.SKIPPED, "not checked: turned off in the spec"
        )
    own = [d for d in dependencies or () if not _is_project(d, evidence.project_name)]
    allowed = licence_allowed(evidence.spdx, spec.allowed) if evidence.spdx is not None else False
    details: dict[str, object] = {
        "licence": {
            "spdx": evidence.spdx,
            "source_file": evidence.source_file,
            "allowed": allowed,
            "score": evidence.score,
        },
        "evidence": [_candidate_report(c) for c in evidence.candidates],
        "dependencies": [asdict(d) for d in own[:MAX_DEPENDENCIES]],
    }
    if evidence.problems:
        details["problems"] = list(evidence.problems[:50])

    def fail(code: str, summary: str) -> CheckResult:
        return CheckResult(CHECK_ID, KIND, CheckStatus.FAILED, summary, code, details)

    if evidence.unsafe:
        return fail(safefs.UNSAFE_REPOSITORY, f"licence not read: {evidence.unsafe}")
    if evidence.spdx is None:
        with_terms = [c for c in evidence.candidates if c.extra_terms]
        if with_terms:
            first = with_terms[0]
            licence = f" to {first.spdx}" if first.spdx else ""
            return fail(
                LICENCE_EXTRA_TERMS,
                f"{first.source} adds its own terms{licence} on a copyright line "
                f'({first.extra_terms[0]}); only the holders, years and "All rights reserved" '
                "may stand beside a licence text",
            )
        if evidence.contradiction:
            return fail(
                LICENCE_CONTRADICTORY,
                f"contradictory licence information: {evidence.contradiction}",
            )
        unreadable = sorted(
            (c for c in evidence.candidates if c.problem),
            key=lambda c: c.kind not in ("file", "reuse-file"),
        )
        if unreadable:
            first = unreadable[0]
            score = f", score {first.score:.1f}" if first.score is not None else ""
            matched = f" (closest: {first.spdx}{score})" if first.spdx else ""
            return fail(
                LICENCE_UNRECOGNISED,
                f"the licence is not recognised: {first.source}: {first.problem}{matched}",
            )
        return fail(
            LICENCE_MISSING,
            "no licence found: add a LICENSE file with an open-source licence and declare it "
            "in pyproject.toml (project.license)",
        )
    found = f"{evidence.spdx} (from {_answer_sources(evidence)})"
    if not allowed:
        wanted = (
            "one of " + ", ".join(spec.allowed)
            if spec.allowed is not None
            else "an OSI-approved licence"
        )
        return fail(LICENCE_NOT_ALLOWED, f"the licence {found} is not {wanted}")
    if dependencies is not None and spec.dependencies == "compatible":
        bad = [d for d in own if d.compatible is not True]
        if bad:
            listed = ", ".join(
                f"{d.name} {d.version} ({d.licence or 'no licence'})" for d in bad[:10]
            )
            more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
            return fail(
                DEPENDENCY_LICENCE_INCOMPATIBLE,
                f"{len(bad)} installed dependencies have licences not compatible with "
                f"{found}: {listed}{more}",
            )
    deps = "" if dependencies is None else f"; {len(own)} dependency licences listed"
    return CheckResult(
        CHECK_ID,
        KIND,
        CheckStatus.PASSED,
        f"licensed {found}{deps}",
        None,
        details,
    )


#: candidates that are licence texts (files), as opposed to declared metadata
_TEXT_KINDS = ("file", "reuse-file")


def _answer_sources(evidence: LicenceEvidence) -> str:
    """The files the licence answer came from, for the headline: ``LICENSE``,
    ``LICENSE, LICENSES/Apache-2.0.txt`` or ``pyproject.toml:project.license``."""
    texts = [c.source for c in evidence.candidates if c.recognised and c.kind in _TEXT_KINDS]
    if texts:
        shown = ", ".join(texts[:3])
        return shown + (f" and {len(texts) - 3} more" if len(texts) > 3 else "")
    # Declared only: the exact place in the metadata says more than the file name.
    declared = [
        c.source
        for c in evidence.candidates
        if c.recognised
        and c.spdx == evidence.spdx
        and c.source.startswith(f"{evidence.source_file}:")
    ]
    return declared[0] if declared else str(evidence.source_file)


def _is_project(dependency: DependencyLicence, project_name: str | None) -> bool:
    return project_name is not None and canonicalize_name(dependency.name) == canonicalize_name(
        project_name
    )


def _candidate_report(candidate: LicenceCandidate) -> dict[str, object]:
    entry: dict[str, object] = {
        "source": candidate.source,
        "kind": candidate.kind,
        "matched": candidate.spdx,
        "score": candidate.score,
    }
    if candidate.extra_words:
        entry["extra_words"] = candidate.extra_words
    if candidate.rules:
        entry["rules"] = list(candidate.rules)
    if candidate.problem:
        entry["problem"] = candidate.problem
    if candidate.extra_terms:
        entry["extra_terms"] = list(candidate.extra_terms)
    return entry


# ---------------------------------------------------------------- the whole check


def run_licence_check(
    sandbox: Sandbox, checkout: Path, spec: LicenceSpec, *, timeout: float
) -> CheckOutcome:
    """Detect the licence on the host, list dependency licences in the sandbox, judge."""
    if not spec.enabled:
        return CheckOutcome(judge_licence(LicenceEvidence(None, None, None), spec, None))
    return judge_with_dependencies(sandbox, detect_repo_licence(checkout), spec, timeout=timeout)


def judge_with_dependencies(
    sandbox: Sandbox, evidence: LicenceEvidence, spec: LicenceSpec, *, timeout: float
) -> CheckOutcome:
    """List the installed dependencies' licences in the sandbox and judge them with ``evidence``.

    Split from detection so the engine can read the repository's licence
    while the dependencies install.
    """
    if not spec.enabled:
        return CheckOutcome(judge_licence(evidence, spec, None))
    if spec.dependencies == "off" or evidence.spdx is None or evidence.unsafe:
        return CheckOutcome(judge_licence(evidence, spec, None))
    try:
        run = sandbox.run(
            dependency_licence_command(evidence.spdx),
            timeout=timeout,
            workdir="/tmp",
            max_output=MAX_DEPENDENCY_OUTPUT,
        )
    except SandboxLimitError as exc:
        return CheckOutcome(_unavailable(evidence, spec, exc.message))
    if run.timed_out:
        return CheckOutcome(_unavailable(evidence, spec, f"listing took longer than {timeout:g} s"))
    try:
        if run.exit_code != 0:
            raise ValueError(f"the listing exited with {run.exit_code}: {run.text[-300:]}")
        dependencies = parse_dependency_licences(run.output)
    except ValueError as exc:
        return CheckOutcome(_unavailable(evidence, spec, str(exc)))
    result = judge_licence(evidence, spec, dependencies)
    return CheckOutcome(result, {"dependency-licences.json": run.output})


def _unavailable(evidence: LicenceEvidence, spec: LicenceSpec, why: str) -> CheckResult:
    """The repository's verdict stands when it fails; else the dependencies could not be judged."""
    result = judge_licence(evidence, spec, None)
    if result.status is not CheckStatus.PASSED:
        return result
    return CheckResult(
        CHECK_ID,
        KIND,
        CheckStatus.ERROR,
        f"licensed {evidence.spdx} (from {_answer_sources(evidence)}), but the dependency "
        f"licences could not be listed: {printable(why, 400)}",
        DEPENDENCY_LICENCES_UNAVAILABLE,
        result.details,
    )
