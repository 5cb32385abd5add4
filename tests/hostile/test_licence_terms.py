"""Licence terms smuggled onto a copyright line: a verbatim licence text, plus a sentence.

Copyright lines are set aside when a licence text is compared (by the verbatim
matcher, and by ScanCode's extra-word count), so a supplier could write their own
terms there and still be reported as plain MIT, score 100. Only a notice may be set
aside; anything more fails the licence check with `LICENCE_EXTRA_TERMS`, quoting it.

One case runs the whole pipeline in the sandbox; the variants go through the licence
check's own functions on a checkout folder, with the real ScanCode.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.engine.spec import LicenceSpec
from checks import licence_texts
from checks.interface import CheckStatus
from checks.licence import LICENCE_EXTRA_TERMS, judge_licence
from checks.licence_detection import detect_repo_licence, detect_repo_licence_isolated
from checks.licence_evidence import LicenceEvidence
from tests.conftest import MIT_LICENSE, ROOT, RepoFactory
from tests.hostile.conftest import Hostile, judged

pytestmark = [pytest.mark.hostile]

CORPUS = ROOT / "tests" / "fixtures" / "licences"
NOTICE = "Copyright (c) 2026 Example Supplier Ltd."
GOVERNMENT = "Any government use requires a separate paid licence."
TERMED_MIT = MIT_LICENSE.replace(NOTICE, f"Copyright (c) 2025 Supplier Ltd. {GOVERNMENT}")
PYPROJECT = (
    '[project]\nname = "contact"\nversion = "1.0"\nlicense = "MIT"\n'
    '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
)


def _with_notice(text: str, old: str, new: str) -> str:
    assert old in text, "the fixture changed: the case would test nothing"
    return text.replace(old, new, 1)


def _checkout(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "checkout"
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _judged(evidence: LicenceEvidence, terms: str) -> None:
    """The licence check fails with LICENCE_EXTRA_TERMS and quotes the added words."""
    result = judge_licence(evidence, LicenceSpec(), None)
    assert (result.status, result.reason_code) == (CheckStatus.FAILED, LICENCE_EXTRA_TERMS), result
    assert terms in result.summary, result.summary
    assert evidence.spdx is None
    listed = [term for c in evidence.candidates for term in c.extra_terms]
    assert any(terms in term for term in listed), listed


@pytest.mark.docker
def test_terms_on_the_copyright_line_of_a_verbatim_mit_fail_the_run(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    files = {
        "LICENSE": TERMED_MIT,
        "pyproject.toml": PYPROJECT,
        "contact/__init__.py": "def greet(name):\n    return f'Hello {name}'\n",
        "tests/test_contact.py": "from contact import greet\n\n\ndef test_greet():\n"
        "    assert greet('Ada') == 'Hello Ada'\n",
    }
    outcome = hostile.run(make_repo(files), hostile.spec())

    judged(outcome, LICENCE_EXTRA_TERMS, says=GOVERNMENT)
    entry = outcome.check("licence")
    assert entry["status"] == "failed"
    assert entry["licence"]["spdx"] is None  # not "MIT, score 100"
    licence_file = next(e for e in entry["evidence"] if e["source"] == "LICENSE")
    assert licence_file["extra_terms"] == [f'line 3: "{GOVERNMENT}"']
    assert outcome.check("functional")["status"] == "passed"


MIT_SIX = (CORPUS / "MIT.six.txt").read_text(encoding="utf-8")
SIX_NOTICE = MIT_SIX.split("\n", 1)[0]
APACHE = (CORPUS / "Apache-2.0.requests.txt").read_text(encoding="utf-8")
BSD = (CORPUS / "BSD-3-Clause.click.txt").read_text(encoding="utf-8")

VARIANTS = {
    "government-sentence": (
        _with_notice(MIT_SIX, SIX_NOTICE, f"Copyright (c) 2025 Supplier Ltd. {GOVERNMENT}"),
        GOVERNMENT,
    ),
    "revocation-after-all-rights-reserved": (
        _with_notice(
            MIT_SIX,
            SIX_NOTICE,
            "Copyright (c) 2025 Supplier Ltd. All rights reserved; this licence may be revoked "
            "at any time.",
        ),
        "this licence may be revoked at any time.",
    ),
    "sentence-after-all-rights-reserved": (
        _with_notice(
            MIT_SIX,
            SIX_NOTICE,
            "Copyright (c) 2025 Supplier Ltd. All rights reserved. Resale prohibited.",
        ),
        "Resale prohibited.",
    ),
    "copyright-sign": (
        _with_notice(MIT_SIX, SIX_NOTICE, "© 2025 Supplier Ltd, public sector use subject to fees"),
        "public sector use subject to fees",
    ),
    "second-copyright-line": (
        _with_notice(
            MIT_SIX,
            SIX_NOTICE,
            "Copyright (c) 2025 Supplier Ltd.\nCopyright holders may revoke this licence at any time.",
        ),
        "Copyright holders may revoke this licence at any time.",
    ),
    "apache": (
        "Copyright 2025 Supplier Ltd. Public sector use only with a paid subscription.\n\n"
        + APACHE,
        "Public sector use only with a paid subscription.",
    ),
    "bsd": (
        _with_notice(
            BSD,
            "Copyright 2014 Pallets",
            "Copyright 2014 Pallets. All rights reserved. Not for production.",
        ),
        "Not for production.",
    ),
}


@pytest.mark.parametrize(("text", "terms"), VARIANTS.values(), ids=VARIANTS.keys())
def test_terms_on_a_copyright_line_fail_the_licence_check(
    text: str, terms: str, tmp_path: Path
) -> None:
    assert licence_texts.match_verbatim(text) is None  # ScanCode decides, and the post-check
    _judged(detect_repo_licence(_checkout(tmp_path, {"LICENSE": text})), terms)


def test_the_answer_from_the_child_process_keeps_the_terms(tmp_path: Path) -> None:
    evidence = detect_repo_licence_isolated(_checkout(tmp_path, {"LICENSE": TERMED_MIT}))
    _judged(evidence, GOVERNMENT)


def test_a_clean_licence_file_beside_does_not_paper_over_the_terms(tmp_path: Path) -> None:
    files = {"LICENSE": TERMED_MIT, "LICENSES/MIT.txt": MIT_LICENSE, "pyproject.toml": PYPROJECT}
    _judged(detect_repo_licence(_checkout(tmp_path, files)), GOVERNMENT)


def test_terms_in_a_licence_text_in_the_metadata_fail_too(tmp_path: Path) -> None:
    text = TERMED_MIT.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    files = {
        "LICENSE": MIT_LICENSE,
        "pyproject.toml": f'[project]\nname = "x"\nlicense = {{text = "{text}"}}\n',
    }
    _judged(detect_repo_licence(_checkout(tmp_path, files)), GOVERNMENT)


def test_a_plain_notice_still_passes_as_mit(tmp_path: Path) -> None:
    plain = _with_notice(
        MIT_LICENSE,
        NOTICE,
        "Copyright (c) 2019-2025 Supplier Ltd <legal@supplier.example> and contributors.\n"
        "All rights reserved.",
    )
    evidence = detect_repo_licence(_checkout(tmp_path, {"LICENSE": plain}))
    result = judge_licence(evidence, LicenceSpec(), None)
    assert (result.status, evidence.spdx, evidence.score) == (CheckStatus.PASSED, "MIT", 100.0)
