"""The repository's own licence, read on the host from its licence files and pyproject.toml.

Only through :mod:`acceptance.safefs` (never following a link); licence texts are read with
ScanCode (in a child process, see :func:`detect_repo_licence_isolated`) unless they are
verbatim copies of well-known ones.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from acceptance import safefs
from acceptance.errors import PlatformError, SubmissionError
from checks import licence_texts
from checks.licence_evidence import LicenceCandidate, LicenceEvidence
from checks.licence_expressions import (
    canonical_expression,
    licence_family,
    licence_ids,
    licence_kind,
)
from checks.licence_scancode import TextMatch, detect_text, verbatim

#: a licence text longer than this is not a licence file (the AGPL is about 34 KiB)
MAX_LICENCE_BYTES = 512 * 1024
MAX_PYPROJECT_BYTES = 1024 * 1024
#: at most this many licence files are read from the root and LICENSES/
MAX_LICENCE_FILES = 20
#: a file whose best match scores below this (0-100) is not recognised
MIN_SCORE = 90.0
#: words in a licence file that belong to no licence match and no copyright line
MAX_EXTRA_WORDS = 5

LICENCE_FILE_NAME = re.compile(
    r"(?i)^(licen[cs]e|copying|unlicen[cs]e)([-._][a-z0-9][a-z0-9._+-]*)?$"
)
REUSE_FILE_NAME = re.compile(r"^(?P<id>[A-Za-z0-9][A-Za-z0-9.+-]*)\.txt$")


def detect_repo_licence(
    checkout: Path, *, detect: Callable[[str], TextMatch] = detect_text
) -> LicenceEvidence:
    """Identify the repository's licence from its licence files and pyproject.toml.

    Never follows a link: a symlinked licence file sets ``unsafe`` and nothing else is
    concluded. Never raises for what the submission contains. ``detect`` reads a
    licence text that is not a verbatim copy of a well-known one (ScanCode by default).
    """
    candidates: list[LicenceCandidate] = []
    problems: list[str] = []
    try:
        files = _licence_files(checkout, problems)
        for relpath, kind in files:
            candidates.append(_read_licence_file(checkout, relpath, kind, detect))
        project_name, metadata = _pyproject_candidates(checkout, problems, detect)
        for candidate in metadata:
            if candidate.kind == "file-reference" and candidate.spdx is None:
                # {file = "..."} names a file we have not read yet
                target = candidate.source.split("->", 1)[-1].strip()
                if target not in {c.source for c in candidates}:
                    candidates.append(_read_licence_file(checkout, target, "file", detect))
                continue
            candidates.append(candidate)
    except safefs.UnsafePathError as exc:
        return LicenceEvidence(
            spdx=None,
            source_file=None,
            score=None,
            candidates=tuple(candidates),
            problems=(*problems, exc.message),
            unsafe=exc.message,
        )
    return _conclude(candidates, problems, project_name)


def detect_repo_licence_isolated(checkout: Path, *, timeout: float = 120.0) -> LicenceEvidence:
    """``detect_repo_licence`` in a child process with a hard timeout.

    ScanCode's index costs about 1 GB of memory and 5 s to load; in a child it
    is freed when the run is done instead of living on in every worker, and a
    licence file that makes the matcher hang is killed with the child.
    Raises PlatformError when the child fails: that is ours, not the supplier's.
    When every licence text is a verbatim copy of a well-known one (the usual case),
    no index is needed and no child is started.
    """
    try:
        return detect_repo_licence(checkout, detect=_scancode_needed)
    except _ScanCodeNeeded:
        pass
    argv = [sys.executable, "-c", "from checks.licence_detection import _child_main; _child_main()"]
    try:
        # ScanCode leaves a scratch folder per process; this one goes with the call.
        with tempfile.TemporaryDirectory(prefix="licence-") as scratch:
            done = subprocess.run(
                [*argv, str(checkout)], capture_output=True, timeout=timeout, check=False,
                env={**os.environ, "SCANCODE_TEMP": scratch},
            )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"licence detection did not finish within {timeout:g} s") from exc
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-600:]
        raise PlatformError(f"licence detection failed (exit {done.returncode}): {tail}")
    try:
        return evidence_from_json(json.loads(done.stdout))
    except (ValueError, KeyError, TypeError) as exc:
        raise PlatformError(f"licence detection wrote unreadable output: {exc}") from exc


class _ScanCodeNeeded(Exception):
    """A licence text that only ScanCode's index can read."""


def _scancode_needed(text: str) -> TextMatch:
    raise _ScanCodeNeeded


def _child_main() -> None:
    evidence = detect_repo_licence(Path(sys.argv[1]))
    json.dump(asdict(evidence), sys.stdout)


def evidence_from_json(data: dict[str, Any]) -> LicenceEvidence:
    """The inverse of ``asdict(evidence)`` after a JSON round trip."""
    candidates = tuple(
        LicenceCandidate(
            **{
                **item,
                "rules": tuple(item.get("rules") or ()),
                "extra_terms": tuple(item.get("extra_terms") or ()),
            }
        )
        for item in data["candidates"]
    )
    return LicenceEvidence(
        **{**data, "candidates": candidates, "problems": tuple(data.get("problems") or ())}
    )


def _licence_files(checkout: Path, problems: list[str]) -> list[tuple[str, str]]:
    """Licence files at the root and in REUSE's LICENSES/, in a stable order."""
    found: list[tuple[str, str]] = []
    for name in safefs.list_dir(checkout, "."):
        if LICENCE_FILE_NAME.match(name):
            if safefs.is_directory(checkout, name):
                problems.append(f"{name} is a folder, not a licence file; it was not read")
                continue
            found.append((name, "file"))
    if safefs.is_directory(checkout, "LICENSES"):
        for name in safefs.list_dir(checkout, "LICENSES"):
            if REUSE_FILE_NAME.match(name):
                found.append((f"LICENSES/{name}", "reuse-file"))
    if len(found) > MAX_LICENCE_FILES:
        problems.append(
            f"{len(found)} licence files found; only the first {MAX_LICENCE_FILES} were read"
        )
        found = found[:MAX_LICENCE_FILES]
    return found


def _read_licence_file(
    checkout: Path, relpath: str, kind: str, detect: Callable[[str], TextMatch]
) -> LicenceCandidate:
    """Read and identify one licence file; safefs.UnsafePathError propagates."""
    try:
        text = safefs.read_text(checkout, relpath, MAX_LICENCE_BYTES)
    except safefs.UnsafePathError:
        raise
    except SubmissionError as exc:  # too large, not UTF-8
        return LicenceCandidate(relpath, kind, None, None, problem=exc.message)
    if text is None:
        return LicenceCandidate(relpath, kind, None, None, problem="the file does not exist")
    if not text.strip():
        return LicenceCandidate(relpath, kind, None, None, problem="the file is empty")
    try:
        match = verbatim(text) or detect(text)
    except _ScanCodeNeeded:
        raise
    except Exception as exc:  # noqa: BLE001 - a detector crash must not crash the check
        return LicenceCandidate(
            relpath, kind, None, None, problem=f"licence detection failed: {type(exc).__name__}"
        )
    problem: str | None = None
    if match.notice_terms:
        problem = _terms_problem(match.notice_terms)
    elif match.spdx is None:
        problem = "no known licence text found in the file"
    elif match.score is not None and match.score < MIN_SCORE:
        problem = f"only a partial match to {match.spdx} (score {match.score:.1f} < {MIN_SCORE:g})"
    elif match.extra_words > MAX_EXTRA_WORDS:
        problem = (
            f"the file has {match.extra_words} words beyond the {match.spdx} licence text "
            "(a modified or additional licence term?)"
        )
    elif kind == "reuse-file":
        named = relpath.rsplit("/", 1)[-1].removesuffix(".txt")
        if {licence_family(i) for i in licence_ids(match.spdx)} != {licence_family(named)}:
            problem = f"the file is named {named} but its text is {match.spdx}"
    return LicenceCandidate(
        relpath,
        kind,
        match.spdx,
        match.score,
        extra_words=match.extra_words,
        rules=match.rules,
        problem=problem,
        extra_terms=match.notice_terms,
    )


def _terms_problem(terms: Sequence[str]) -> str:
    """The candidate's problem when copyright lines add terms: the first, quoted."""
    more = f" (and {len(terms) - 1} more such lines)" if len(terms) > 1 else ""
    return f"a copyright line adds terms to the licence: {terms[0]}{more}"


def _pyproject_candidates(
    checkout: Path, problems: list[str], detect: Callable[[str], TextMatch]
) -> tuple[str | None, list[LicenceCandidate]]:
    """What pyproject.toml declares; unsafe paths propagate."""
    try:
        text = safefs.read_text(checkout, "pyproject.toml", MAX_PYPROJECT_BYTES)
    except safefs.UnsafePathError:
        raise
    except SubmissionError as exc:
        problems.append(f"pyproject.toml: {exc.message}")
        return None, []
    if text is None:
        return None, []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"pyproject.toml is not valid TOML: {exc}")
        return None, []
    project = data.get("project")
    project = project if isinstance(project, dict) else {}
    name = project.get("name")
    candidates: list[LicenceCandidate] = []
    where = "pyproject.toml:project.license"
    value = project.get("license")
    if isinstance(value, str):
        candidates.append(_declared(where, value, detect))
    elif isinstance(value, dict):
        if isinstance(value.get("text"), str):
            candidates.append(_legacy_text(f"{where}.text", value["text"], detect))
        elif isinstance(value.get("file"), str):
            target = value["file"]
            # read as a licence file below; safefs refuses absolute paths and '..'
            safefs.split_relpath(target)
            candidates.append(
                LicenceCandidate(f"{where}.file -> {target}", "file-reference", None, None)
            )
    elif value is not None:
        problems.append(f"{where} must be a string or a table, got {type(value).__name__}")
    poetry = data.get("tool", {}).get("poetry") if isinstance(data.get("tool"), dict) else None
    if isinstance(poetry, dict) and isinstance(poetry.get("license"), str):
        candidates.append(
            _declared("pyproject.toml:tool.poetry.license", poetry["license"], detect)
        )
        name = name or poetry.get("name")
    classifiers = project.get("classifiers")
    if isinstance(classifiers, list):
        for item in classifiers[:200]:
            if isinstance(item, str) and item.startswith("License ::"):
                candidates.append(_classifier(item, detect))
    return (name if isinstance(name, str) else None), candidates


def _declared(source: str, value: str, detect: Callable[[str], TextMatch]) -> LicenceCandidate:
    canonical = canonical_expression(value)
    if canonical is None:
        return _legacy_text(source, value, detect)
    return LicenceCandidate(source, "spdx-metadata", canonical, None)


def _legacy_text(source: str, value: str, detect: Callable[[str], TextMatch]) -> LicenceCandidate:
    """A free-text licence field: an SPDX expression, or a licence name or text to identify."""
    value = value[:MAX_LICENCE_BYTES]
    canonical = canonical_expression(value.strip())
    if canonical is not None:
        return LicenceCandidate(source, "spdx-metadata", canonical, None)
    if not value.strip():
        return LicenceCandidate(source, "text-metadata", None, None, problem="empty")
    match = verbatim(value) or detect(value)
    if match.notice_terms:
        return LicenceCandidate(
            source,
            "text-metadata",
            match.spdx,
            match.score,
            rules=match.rules,
            problem=_terms_problem(match.notice_terms),
            extra_terms=match.notice_terms,
        )
    if match.spdx is None or (match.score is not None and match.score < MIN_SCORE):
        return LicenceCandidate(
            source,
            "text-metadata",
            None,
            match.score,
            problem=f"{value[:80]!r} is neither an SPDX expression nor a known licence name",
        )
    return LicenceCandidate(source, "text-metadata", match.spdx, match.score, rules=match.rules)


def _classifier(value: str, detect: Callable[[str], TextMatch]) -> LicenceCandidate:
    source = f"pyproject.toml:classifiers[{value[:120]}]"
    known = licence_texts.CLASSIFIERS.get(value)
    match = TextMatch(known[0], known[1], 0, (known[2],)) if known else detect(value)
    if match.spdx is None:
        return LicenceCandidate(source, "classifier", None, None, problem="unknown classifier")
    return LicenceCandidate(source, "classifier", match.spdx, match.score, rules=match.rules)


def _conclude(
    candidates: list[LicenceCandidate], problems: list[str], project_name: str | None
) -> LicenceEvidence:
    """Decide the repository's licence from what each source said."""
    files = [c for c in candidates if c.kind in ("file", "reuse-file")]
    declared = [c for c in candidates if c.kind in ("spdx-metadata", "text-metadata")]
    classifiers = [c for c in candidates if c.kind == "classifier" and c.recognised]
    good_files = [c for c in files if c.recognised]
    good_declared = [c for c in declared if c.recognised]
    problems = list(problems)
    for candidate in candidates:
        if candidate.problem:
            problems.append(f"{candidate.source}: {candidate.problem}")

    def families(items: Iterable[LicenceCandidate]) -> set[str]:
        return {licence_family(i) for c in items for i in licence_ids(c.spdx or "")}

    def evidence(
        spdx: str | None,
        source: str | None,
        score: float | None,
        contradiction: str | None = None,
    ) -> LicenceEvidence:
        if contradiction:
            problems.append(contradiction)
        return LicenceEvidence(
            spdx,
            source,
            score,
            tuple(candidates),
            tuple(problems),
            None,
            project_name,
            contradiction,
        )

    # Terms added on a copyright line bind whatever the other sources say: no other
    # licence file or declaration may paper over them.
    with_terms = [c for c in candidates if c.extra_terms]
    if with_terms:
        return evidence(None, with_terms[0].source, with_terms[0].score)

    # Contradictions: licence texts against declared SPDX metadata, declarations
    # against each other, and classifiers (coarse: "BSD License" names no variant).
    declared_sets = [families([c]) for c in good_declared]
    if any(s != declared_sets[0] for s in declared_sets):
        return evidence(
            None, None, None, "the metadata declares different licences: " + _listing(good_declared)
        )
    if good_files and good_declared and families(good_files) != declared_sets[0]:
        return evidence(
            None,
            None,
            None,
            "the licence files and the metadata disagree: " + _listing(good_files + good_declared),
        )
    strong = good_files + good_declared
    if classifiers and strong:
        coarse = {licence_kind(f) for f in families(strong)}
        odd = [c for c in classifiers if not {licence_kind(f) for f in families([c])} & coarse]
        if odd:
            return evidence(
                None,
                None,
                None,
                "the classifiers disagree with the licence: " + _listing(odd + strong),
            )

    if files and not good_files:
        # Licence text that no known licence matches: do not paper over it with metadata.
        return evidence(None, files[0].source, files[0].score)
    if good_declared:
        spdx = good_declared[0].spdx
        source = good_files[0].source if good_files else None
        if not good_files:
            problems.append("no licence text file at the root; the licence is only declared")
        score = min((c.score for c in good_files if c.score is not None), default=None)
        return evidence(spdx, source or good_declared[0].source.split(":", 1)[0], score)
    if good_files:
        expressions: list[str] = []
        for candidate in good_files:
            if candidate.spdx and candidate.spdx not in expressions:
                expressions.append(candidate.spdx)
        spdx = (
            expressions[0]
            if len(expressions) == 1
            else " AND ".join(f"({e})" if " " in e else e for e in expressions)
        )
        score = min((c.score for c in good_files if c.score is not None), default=None)
        return evidence(canonical_expression(spdx) or spdx, good_files[0].source, score)
    if classifiers:
        spdx = classifiers[0].spdx
        problems.append("the licence is only known from a trove classifier")
        return evidence(spdx, "pyproject.toml", classifiers[0].score)
    return evidence(None, None, None)


def _listing(candidates: Iterable[LicenceCandidate]) -> str:
    return "; ".join(f"{c.source} says {c.spdx}" for c in candidates)
