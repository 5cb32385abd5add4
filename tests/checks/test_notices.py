"""Copyright notices: a notice is set aside, anything else on its line is a term."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.notices import MAX_QUOTED, holder_is_plain, is_notice_line, terms_beyond_notice

#: capitalised words that are not words of terms nor titles ("Dr." ends no sentence)
_TITLES = {"Dr", "Mr", "Mrs", "Ms", "Prof", "St", "Jr", "Sr", "Co", "Mt", "Hon"}
_NAME = st.from_regex(r"[A-Z][a-z]{1,9}", fullmatch=True).filter(
    lambda w: holder_is_plain([w]) and w not in _TITLES
)
_NAMES = st.lists(_NAME, min_size=1, max_size=6).map(" ".join)

PLAIN_NOTICES = [
    "Copyright (c) 2010-2020 Benjamin Peterson",
    "Copyright (c) 2001, 2002, 2003 Python Software Foundation, Zope Corporation and contributors.",
    "Copyright (c) 2019-present Jane Doe <jane@example.org> and contributors",
    "Copyright (c) 2026 Ministère de l'Exemple. All rights reserved.",
    "Copyright (c) 2019 Foo Inc. <https://foo.example>",
    "Copyright (c) 1999, 2010, Oracle and/or its affiliates. All rights reserved.",
    "Copyright (c) 2015 Crown Copyright (Government Digital Service)",
    "Copyright 2010 Jason Price",  # a surname that is also a word of terms
    "Copyright (c) Isaac Z. Schlueter, Kat Marchán, npm, Inc., and Contributors",
    "Copyright (c) 2019-2021 Huawei Technologies Co. Ltd.",
    "Copyright (c) 2010 by Armin Ronacher and contributors.  See AUTHORS for more details.",
    "Copyright (c) 2004-2016  Yusuke Shinyama <yusuke at shinyama dot jp>",
    "Copyright © 2009,2010 Alex Fernández; 2021 Günter Milde",
    "Copyright (c) Pydantic Services Inc. 2025 to present",
    "Copyright (c) 2007, Eclipse Foundation, Inc. and its licensors.",
    "SPDX-FileCopyrightText: 2024 Jane Doe <jane@example.org>",
    " * (c) 2011-2014 Mike Kazantsev */",
    "All rights reserved.",
    "Copyright (c) 2000-2013 The University of California Berkeley. All",  # wrapped
]


@pytest.mark.parametrize("line", PLAIN_NOTICES)
def test_a_plain_notice_adds_nothing(line: str) -> None:
    assert is_notice_line(line)
    assert terms_beyond_notice(line) == ""


@pytest.mark.parametrize(
    ("line", "terms"),
    [
        (
            "Copyright (c) 2025 Supplier Ltd. Any government use requires a separate paid licence.",
            "Any government use requires a separate paid licence.",
        ),
        (
            "Copyright (c) 2025 Supplier Ltd. All rights reserved; this licence may be revoked "
            "at any time.",
            "this licence may be revoked at any time.",
        ),
        (
            "All rights reserved; this licence may be revoked at any time.",
            "this licence may be revoked at any time.",
        ),
        ("© 2025 Supplier Ltd. Resale prohibited.", "Resale prohibited."),
        (
            "Copyright (c) 2025 Supplier Ltd. All rights reserved. Not for production.",
            "Not for production.",
        ),
        # no sentence of its own, but words of terms inside the holder
        (
            "Copyright (c) 2025 Supplier Ltd, government customers owe 10% yearly",
            "Copyright (c) 2025 Supplier Ltd, government customers owe 10% yearly",
        ),
        (
            "© 2025 Supplier Ltd — free for non-commercial use only",
            "© 2025 Supplier Ltd — free for non-commercial use only",
        ),
        (
            "Copyright (c) 2025 Supplier Ltd. Government Customers Owe Us A Yearly Fee",
            "Government Customers Owe Us A Yearly Fee",
        ),
        ("Copyright (c) 2025 Supplier Ltd. It is released under GPL.", "It is released under GPL."),
        (  # title case inside the holder
            "Copyright 2025 Supplier Ltd, Not For Production",
            "Copyright 2025 Supplier Ltd, Not For Production",
        ),
        # a line that only starts like a notice
        (
            "Copyright holders may revoke this licence at any time.",
            "Copyright holders may revoke this licence at any time.",
        ),
    ],
)
def test_anything_else_on_a_notice_line_is_a_term(line: str, terms: str) -> None:
    assert terms_beyond_notice(line) == terms


def test_prose_is_not_a_holder_however_harmless_its_words() -> None:
    long_holder = "Copyright 2025 " + " ".join(["Jo"] * 25)
    assert terms_beyond_notice(long_holder) == long_holder


def test_a_quoted_term_is_capped() -> None:
    line = "Copyright 2025 Supplier Ltd. " + "Any use requires a fee. " * 40
    assert len(terms_beyond_notice(line)) == MAX_QUOTED


def test_lines_that_wrap_licence_text_are_not_notice_lines() -> None:
    assert not is_notice_line("copyright notice and this permission notice shall be included")
    assert not is_notice_line("SPDX-License-Identifier: MIT")  # a licence tag, not a notice


def test_a_template_holder_is_judged_by_its_words() -> None:
    assert holder_is_plain("the copyright holder".split())
    assert not holder_is_plain("supplier ltd paid government use only".split())


@given(st.text(max_size=400))
def test_any_line_is_read_without_error_and_quoted_within_bounds(line: str) -> None:
    assert len(terms_beyond_notice(line)) <= MAX_QUOTED


@given(_NAMES, st.integers(1900, 2099), st.booleans())
def test_names_and_years_are_a_plain_notice(names: str, year: int, reserved: bool) -> None:
    rights = " All rights reserved." if reserved else ""
    assert terms_beyond_notice(f"Copyright (c) {year} {names}.{rights}") == ""


@given(_NAMES, _NAMES.filter(lambda s: not s.startswith(("All", "See"))))
def test_any_sentence_after_the_holder_is_a_term(names: str, sentence: str) -> None:
    assert terms_beyond_notice(f"Copyright (c) 2025 {names}. {sentence}.") == f"{sentence}."
