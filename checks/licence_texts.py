"""Verbatim copies of well-known licence texts, recognised without ScanCode's index.

ScanCode needs ~5 s of CPU and ~1.4 GB to load its index, paid for every licence
text it has not seen before. Most repositories carry an unmodified copy of one of a
few common licences; when a file's words are exactly those of one of them (copyright
lines, decoration and a title aside), the answer is ScanCode's own whole-text match,
known without the index. Anything else (an added sentence, one changed word, two
licences in one file, a copyright line that adds terms, a licence tag) returns None and
goes to ScanCode as before.

The texts are ScanCode's own licence texts (its `.LICENSE` files), so a match here
is the match ScanCode's exact-text rule would report: same SPDX id, score 100, no
extra words, rule `<key>.LICENSE` (tests/test_licence_texts.py checks the two agree
on a corpus of real licence files).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from checks import notices

#: ScanCode licence keys tried here: the licences most repositories copy verbatim
KNOWN_KEYS = (
    "mit",
    "apache-2.0",
    "bsd-new",
    "bsd-simplified",
    "isc",
    "mpl-2.0",
    "gpl-2.0",
    "gpl-3.0",
    "lgpl-2.1",
    "lgpl-3.0",
    "agpl-3.0",
    "eupl-1.2",
    "unlicense",
    "zlib",
)
#: a placeholder in a template that real files fill with a name (BSD's clause 3)
_HOLDER_PLACEHOLDERS = {"bsd-new": "neither the name of the organization nor"}
_HOLDER_FILLED = r"neither the name of (?P<holder>(?:\S+ ){1,12}?)nor"
#: where a template's optional ending starts (many copies of Apache-2.0 leave out the appendix)
_OPTIONAL_TAILS = {"apache-2.0": "end of terms and conditions"}
#: words a title line above the licence text may use besides the licence's own name
_TITLE_WORDS = frozenset({"the", "license", "licence", "version", "text", "full"})
_MAX_TITLE_WORDS = 10

_WORD = re.compile(r"[a-z0-9]+")
# A list marker opening a line ("1.", "(b)", "iii)"): some copies number clauses, some do not.
_LIST_MARKER = re.compile(r"^\s*\(?(\d{1,2}|[a-h]|[ivx]{1,4})[.)]\s+", re.IGNORECASE)


@dataclass(frozen=True)
class KnownText:
    """One licence text ready to compare: its words as a pattern, and what it is."""

    key: str
    spdx: str
    pattern: re.Pattern[str]
    title_words: frozenset[str]

    @property
    def rule(self) -> str:
        return f"{self.key}.LICENSE"


@dataclass(frozen=True)
class VerbatimMatch:
    """A file that is exactly one known licence text."""

    spdx: str
    rule: str


def words(text: str) -> list[str]:
    """The text's words, lower case, without copyright notices (they vary by project).

    Only a plain notice is left out: a notice line that adds terms keeps all its words,
    so the text is no longer a verbatim copy (see :mod:`checks.notices`).
    """
    found: list[str] = []
    for line in text.splitlines():
        if notices.is_notice_line(line) and not notices.terms_beyond_notice(line):
            continue
        found.extend(_WORD.findall(_LIST_MARKER.sub("", line).lower()))
    return found


def match_verbatim(text: str) -> VerbatimMatch | None:
    """The licence `text` is a verbatim copy of, or None when it is not exactly one."""
    found = words(text)
    if not found:
        return None
    joined = " ".join(found)
    for known in known_texts():
        matched = known.pattern.fullmatch(joined)
        if matched is None:
            continue
        title = matched.group("title").split()
        holder = (matched.groupdict().get("holder") or "").split()
        if all(word in known.title_words for word in title) and notices.holder_is_plain(holder):
            return VerbatimMatch(known.spdx, known.rule)
    return None


@cache
def known_texts() -> tuple[KnownText, ...]:
    """ScanCode's texts for KNOWN_KEYS, read once per process (no index is loaded)."""
    folder = _licence_data_folder()
    if folder is None:
        return ()
    loaded: list[KnownText] = []
    for key in KNOWN_KEYS:
        path = folder / f"{key}.LICENSE"
        if not path.is_file():
            continue
        metadata, body = _split_front_matter(path.read_text(encoding="utf-8"))
        spdx = metadata.get("spdx_license_key")
        if not spdx or not body.strip():
            continue
        template = _template(key, " ".join(words(body)))
        pattern = re.compile(rf"(?P<title>(?:\S+ ){{0,{_MAX_TITLE_WORDS}}}?){template}")
        name_words = words(" ".join(metadata.get(k, "") for k in ("name", "short_name", "key")))
        loaded.append(KnownText(key, spdx, pattern, _TITLE_WORDS | frozenset(name_words)))
    return tuple(loaded)


def _template(key: str, text: str) -> str:
    """A regular expression for `text`'s words, with the key's placeholder and optional ending."""
    tail = _OPTIONAL_TAILS.get(key)
    head, found, rest = text.partition(f" {tail} ") if tail else (text, "", "")
    template = re.escape(head)
    if found:
        # the ending's first words alone, the whole ending, or nothing
        template += f"(?: {re.escape(tail or '')}(?: {re.escape(rest)})?)?"
    placeholder = _HOLDER_PLACEHOLDERS.get(key)
    if placeholder is not None:
        template = template.replace(re.escape(placeholder), _HOLDER_FILLED)
    return template


def _licence_data_folder() -> Path | None:
    """ScanCode's licence texts, found without importing licensedcode (its import is slow)."""
    spec = importlib.util.find_spec("licensedcode")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "licenses"
    return folder if folder.is_dir() else None


def _split_front_matter(document: str) -> tuple[dict[str, str], str]:
    """(the top-level `key: value` lines of the YAML front matter, the licence text)."""
    if not document.startswith("---"):
        return {}, document
    _, front, body = document.split("---", 2) if document.count("---") >= 2 else ("", "", document)
    metadata: dict[str, str] = {}
    for line in front.splitlines():
        if line and not line[0].isspace() and ":" in line:
            name, _, value = line.partition(":")
            metadata[name.strip()] = value.strip().strip("'\"")
    return metadata, body


#: ScanCode's reading of the commonest licence classifiers: (SPDX, score, rule).
#: tests/test_licence_texts.py checks every entry against ScanCode itself.
CLASSIFIERS: dict[str, tuple[str, float, str]] = {
    "License :: OSI Approved :: MIT License": ("MIT", 100.0, "pypi_mit_license.RULE"),
    "License :: OSI Approved :: Apache Software License": (
        "Apache-2.0",
        95.0,
        "pypi_apache_no-version.RULE",
    ),
    "License :: OSI Approved :: BSD License": ("BSD-3-Clause", 99.0, "pypi_bsd_license.RULE"),
    "License :: OSI Approved :: ISC License (ISCL)": ("ISC", 100.0, "pypi_isc_license.RULE"),
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": (
        "MPL-2.0",
        100.0,
        "pypi_mozilla_public_license_2_0.RULE",
    ),
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": (
        "GPL-2.0-only",
        100.0,
        "pypi_gnu_general_public_license_v2.RULE",
    ),
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": (
        "GPL-3.0-only",
        100.0,
        "pypi_gnu_general_public_license_v3.RULE",
    ),
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)": (
        "GPL-3.0-or-later",
        100.0,
        "pypi_gnu_general_public_license_v3_or_later.RULE",
    ),
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": (
        "LGPL-3.0-only",
        100.0,
        "pypi_gnu_lesser_general_public_license_v3.RULE",
    ),
    "License :: OSI Approved :: GNU Affero General Public License v3": (
        "AGPL-3.0-only",
        100.0,
        "pypi_gnu_affero_general_public_license_v3.RULE",
    ),
    "License :: OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": (
        "EUPL-1.2",
        100.0,
        "pypi_european_union_public_licence_1_2.RULE",
    ),
}
