"""Verbatim licence texts recognised without ScanCode's index, and always as ScanCode reads them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks import licence_scancode, licence_texts
from checks.licence_detection import detect_repo_licence_isolated
from checks.licence_scancode import TextMatch, detect_text

CORPUS = Path(__file__).parents[1] / "fixtures" / "licences"
MIT = (CORPUS / "MIT.six.txt").read_text(encoding="utf-8")
#: corpus files that are unmodified copies of a well-known text (title and copyright aside)
VERBATIM = {
    "AGPL-3.0.scancode.txt",
    "Apache-2.0.debian.txt",
    "Apache-2.0.requests.txt",
    "BSD-2-Clause.packaging.txt",
    "BSD-3-Clause.click.txt",
    "GPL-2.0.debian.txt",
    "GPL-3.0.debian.txt",
    "ISC.curl-copyright.txt",
    "LGPL-2.1.debian.txt",
    "LGPL-3.0.debian.txt",
    "MIT.fhconfparser.md",
    "MIT.six.txt",
    "MPL-2.0.debian.txt",
    "Unlicense.scancode.txt",
}


def _corpus() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.name != "ATTRIBUTION.md")


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_a_verbatim_match_is_what_scancode_reads(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fast = licence_scancode.verbatim(text)
    assert (fast is not None) == (path.name in VERBATIM)
    if fast is not None:
        scancode = detect_text(text)
        assert (fast.spdx, fast.score, fast.extra_words) == (
            scancode.spdx,
            scancode.score,
            scancode.extra_words,
        )
        assert (
            fast.spdx is not None and fast.spdx.removesuffix("-only") == path.name.rsplit(".", 2)[0]
        )


@pytest.mark.parametrize(
    "changed",
    [
        MIT.replace("free of charge", "for a fee"),  # one changed term
        MIT + "\nThe Software shall not be used for commercial purposes.\n",  # an added term
        MIT.replace(
            "Permission is hereby", "Apache License\n\nPermission is hereby"
        ),  # a wrong title
        MIT
        + "\n"
        + (CORPUS / "ISC.curl-copyright.txt").read_text(encoding="utf-8"),  # two licences
        MIT[: len(MIT) // 2],  # cut short
        "MIT License\n",  # a name is not a licence text
        "",
    ],
    ids=[
        "changed-word",
        "added-term",
        "other-title",
        "two-licences",
        "truncated",
        "name-only",
        "empty",
    ],
)
def test_anything_but_a_verbatim_copy_goes_to_scancode(changed: str) -> None:
    assert licence_texts.match_verbatim(changed) is None


def test_title_numbering_and_copyright_lines_do_not_matter() -> None:
    body = MIT.split("\n", 2)[2]  # six's text without its copyright line
    variant = (
        "The MIT License (MIT)\n\nCopyright (c) 2026 Ministère de l'Exemple\nAll rights reserved.\n\n"
        + body
    )
    assert licence_texts.match_verbatim(variant) == licence_texts.VerbatimMatch(
        "MIT", "mit.LICENSE"
    )


@pytest.mark.parametrize("classifier", sorted(licence_texts.CLASSIFIERS))
def test_the_classifier_table_is_what_scancode_reads(classifier: str) -> None:
    spdx, score, rule = licence_texts.CLASSIFIERS[classifier]
    assert detect_text(classifier) == TextMatch(spdx, score, 0, (rule,))


def test_a_verbatim_repository_starts_no_child_and_loads_no_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "LICENSE").write_text(MIT, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nlicense = {text = "MIT"}\n'
        'classifiers = ["License :: OSI Approved :: MIT License"]\n',
        encoding="utf-8",
    )

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("ScanCode or its child process was used")

    monkeypatch.setattr(licence_scancode, "_scancode_api", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    evidence = detect_repo_licence_isolated(tmp_path)
    assert (evidence.spdx, evidence.source_file, evidence.score) == ("MIT", "LICENSE", 100.0)
    assert [c.spdx for c in evidence.candidates] == ["MIT", "MIT", "MIT"]


def test_a_text_only_scancode_reads_is_read_in_the_child_not_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modified = (CORPUS / "NOASSERTION.mit-modified.txt").read_text(encoding="utf-8")
    (tmp_path / "LICENSE").write_text(modified, encoding="utf-8")

    def refuse() -> None:
        raise AssertionError("ScanCode's index was loaded in the worker's own process")

    monkeypatch.setattr(licence_scancode, "_scancode_api", refuse)
    evidence = detect_repo_licence_isolated(tmp_path, timeout=120)
    candidate = evidence.candidates[0]
    assert candidate.spdx == "MIT" and candidate.extra_words > 5 and candidate.problem
    assert evidence.spdx is None  # a changed licence is not accepted as MIT


SIX_HEAD = MIT.split("\n", 1)[0]  # six's own copyright line


@pytest.mark.parametrize(
    "notice",
    [
        "Copyright (c) 2010-2024 Jane Doe, John Smith and Example Ltd.",  # several holders
        "Copyright (c) 2019, 2021-2023, 2025 The Example Project",  # years and ranges
        "Copyright (c) 2019-present Jane Doe and contributors",
        "Copyright (c) 2024 Jane Doe <jane@example.org>\nCopyright (c) 2025 Example Ltd.",
        "Copyright (c) 2024 Example Ltd. All rights reserved.",
        "© 2024 Example SAS\nAll rights reserved.",
        "SPDX-FileCopyrightText: 2024 Jane Doe <jane@example.org>",
    ],
    ids=["holders", "years", "and-contributors", "emails-two-lines", "rights", "sign", "reuse"],
)
def test_legitimate_notices_stay_verbatim(notice: str) -> None:
    assert SIX_HEAD.startswith("Copyright (c)")
    assert licence_texts.match_verbatim(MIT.replace(SIX_HEAD, notice)) == (
        licence_texts.VerbatimMatch("MIT", "mit.LICENSE")
    )


@pytest.mark.parametrize(
    "notice",
    [
        "Copyright (c) 2025 Supplier Ltd. Any government use requires a separate paid licence.",
        "Copyright (c) 2025 Supplier Ltd. All rights reserved; this licence may be revoked "
        "at any time.",
        "© 2025 Supplier Ltd. Resale prohibited.",
        "Copyright (c) 2025 Supplier Ltd.\nCopyright (c) 2025 Supplier Ltd, paid use only.",
        "SPDX-License-Identifier: Apache-2.0",  # a licence tag is licence text, not a notice
    ],
    ids=["government", "revocation", "sign", "second-line", "licence-tag"],
)
def test_a_notice_line_that_adds_terms_is_not_verbatim(notice: str) -> None:
    assert licence_texts.match_verbatim(MIT.replace(SIX_HEAD, notice)) is None


def test_terms_in_the_bsd_organisation_name_are_not_verbatim() -> None:
    bsd = (CORPUS / "BSD-3-Clause.click.txt").read_text(encoding="utf-8")
    assert licence_texts.match_verbatim(bsd) is not None
    changed = bsd.replace("the copyright holder", "Supplier Ltd (paid government use only)")
    assert changed != bsd
    assert licence_texts.match_verbatim(changed) is None
