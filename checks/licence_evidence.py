"""What licence detection found: each source looked at, the conclusion, the dependencies' licences."""

from __future__ import annotations

from dataclasses import dataclass


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


def printable(text: str, limit: int) -> str:
    """Printable, one-line, capped supplier text (how every quoted licence line is shown)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]
