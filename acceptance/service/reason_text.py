"""A report's reasons in the reader's language: one sentence per reason code, and its parameters.

The signed report's `reasons` are English sentences from the engine (part of what is
signed, never rewritten); `reason_codes` lists their codes, each once, and each check
that did not pass states its own `reason_code`. This module says each reason again in
the reader's language from those fields: one message per code of acceptance/reasons.py
(tests/test_reason_text.py fails when a code has none), filled from what the report
states as fields (the runtime it chose). Supplier text (file names, test ids, messages)
is never put in these sentences: it stays in the engine's sentence, which readers get
after, marked as English. The dashboard and the emails both say reasons through here;
the catalogue is the dashboard's (web/dashboard/translations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from babel.support import Translations

from acceptance.reasons import REASONS
from acceptance.service.hidden_redaction import WITHHELD
from acceptance.service.report_values import as_dict, as_str


def _l(message: str) -> str:
    """Marks a message for the catalogue (pybabel's `-k _l`); translated when said."""
    return message


class Translator(Protocol):
    """What says a message in a language: babel's Translations, or flask_babel's."""

    def gettext(self, message: str) -> str: ...


#: each code's sentence, without a final full stop (a check's facts may follow in brackets)
REASON_SENTENCES: Mapping[str, str] = {
    "TESTS_FAILED": _l("Tests failed or ended in error"),
    "NO_TESTS": _l("No test was found, and the specification has no hidden tests"),
    "TOO_FEW_PASSED": _l("Fewer tests passed than the specification requires"),
    "HIDDEN_TESTS_NOT_RUN": _l("The owner's hidden tests did not all run and pass"),
    "RESERVED_PATH": _l("The repository uses a name kept for the owner's hidden tests"),
    "SUSPICIOUS_TEST_HOOKS": _l(
        "The delivered code touches the test machinery: a person must review it before it "
        "can be accepted"
    ),
    "INVALID_ARTIFACT": _l("A results file from the sandbox is not what the tool wrote"),
    "NOT_RUN": _l("The check did not run because an earlier stage failed"),
    "TEST_TIMEOUT": _l("A test ran longer than the specification allows and was stopped"),
    "TIMEOUT": _l("A stage, the tests or the whole run exceeded its time limit"),
    "MEMORY_LIMIT": _l("A stage ran out of the memory the specification allows"),
    "PROCESS_LIMIT": _l("A stage tried to start more processes than the specification allows"),
    "OUTPUT_LIMIT": _l("A stage printed more output than the specification allows"),
    "DISK_LIMIT": _l("The sandbox's scratch space filled up"),
    "SANDBOX_GONE": _l("The sandbox stopped during a stage"),
    "PREPARE_FAILED": _l("The checkout or the hidden tests could not be copied into the sandbox"),
    "INSTALL_FAILED": _l("Installing or building the project failed"),
    "DEPENDENCY_UNAVAILABLE": _l("A dependency cannot be installed from the engine's index"),
    "UNSUPPORTED_REQUIREMENT": _l(
        "A requirement takes a form the engine does not install (a URL, an editable project)"
    ),
    "UNSAFE_REPOSITORY": _l(
        "The repository is unsafe to judge (links out of it, dangerous submodules, a tree "
        "too deep or special files)"
    ),
    "REPO_TOO_LARGE": _l("The repository exceeds the size or file-count limits"),
    "FILE_TOO_LARGE": _l("A project file the engine reads is over its size limit"),
    "INVALID_FILE": _l("A project file the engine reads is not valid (encoding or syntax)"),
    "SAST_FINDINGS": _l("Findings at or above the specification's threshold"),
    "SAST_UNSCANNABLE": _l("The static security analysis could not read some of the code"),
    "QUALITY_FINDINGS": _l("Linter findings at or above the specification's threshold"),
    "UNJUSTIFIED_SUPPRESSION": _l("A comment silences the linter without giving a reason"),
    "FORBIDDEN_SUPPRESSION": _l("A comment silences the linter, which the specification forbids"),
    "QUALITY_UNJUDGEABLE": _l("A delivered file kept the linter from judging the code"),
    "QUALITY_TOOL_ERROR": _l("The linter could not judge, for a reason of the platform's"),
    "ACCESSIBILITY_VIOLATIONS": _l("Violations at or above the specification's threshold"),
    "ACCESSIBILITY_PAGE_MISSING": _l("A page the specification lists is not in the delivery"),
    "ACCESSIBILITY_PAGE_UNLOADABLE": _l(
        "The browser could not load a page the specification lists, or the page broke the "
        "accessibility check"
    ),
    "ACCESSIBILITY_SERVER_NOT_LISTENING": _l(
        "The delivered app did not listen in time, or stopped while its pages were checked"
    ),
    "ACCESSIBILITY_TOOL_ERROR": _l(
        "The browser check could not judge, for a reason of the platform's"
    ),
    "VULNERABLE_DEPENDENCIES": _l("An installed dependency has a known vulnerability"),
    "DEPENDENCY_AUDIT_ERROR": _l("The audit of the dependencies' vulnerabilities could not run"),
    "ADVISORIES_STALE": _l("The vulnerability data is older than the specification allows"),
    "LICENCE_MISSING": _l("The project has no licence file or declaration"),
    "LICENCE_UNRECOGNISED": _l("The project's licence text is not one the engine recognises"),
    "LICENCE_NOT_ALLOWED": _l("The project's licence is not one the specification allows"),
    "LICENCE_CONTRADICTORY": _l("The project's licence declarations disagree"),
    "LICENCE_EXTRA_TERMS": _l("The project's licence text carries terms beyond the licence"),
    "DEPENDENCY_LICENCE_INCOMPATIBLE": _l(
        "A dependency's licence is not compatible with the project's"
    ),
    "DEPENDENCY_LICENCES_UNAVAILABLE": _l("The dependencies' licences could not be read"),
    "CHECK_FAILED": _l("A check did not pass"),
    "SOURCE_UNUSABLE": _l("The repository or its ref could not be fetched, or is not allowed"),
    "RUNTIME_UNDETECTED": _l("The specification names no runtime and the repository shows none"),
    "RUNTIME_UNSUPPORTED": _l("The repository's runtime is not one the engine can judge yet"),
    "RUNTIME_MISMATCH": _l(
        "The repository is not a Python project, but the specification's hidden tests are "
        "Python tests: it is refused"
    ),
    "RUNTIME_AMBIGUOUS": _l(
        "The repository carries the tests of two runtimes and the specification names none: "
        "the owner must name the runtime"
    ),
    "RUNTIME_CHECK_UNAVAILABLE": _l(
        "The specification turns on a check the delivery's runtime has no tool for"
    ),
    "LOCKFILE_REQUIRED": _l(
        "The Node.js delivery has no lockfile (package-lock.json or npm-shrinkwrap.json, "
        "version 2 or later)"
    ),
    "NPM_SOURCE_REFUSED": _l(
        "The Node.js delivery names a package by its location instead of a registry version"
    ),
    "NPM_INSTALL_MISMATCH": _l("What npm installed differs from the lockfile"),
    "NODE_TEST_SCRIPT_UNSUPPORTED": _l(
        "The test script in package.json is not of the form node --test [paths]"
    ),
    "SPEC_UNUSABLE": _l(
        "The opportunity's specification version can no longer be used, so nothing was judged"
    ),
    "PLATFORM_ERROR": _l("The platform failed while judging; this is not the supplier's fault"),
    "SIGNER_UNAVAILABLE": _l("No signer answered in time"),
    "SIGNING_REFUSED": _l("The signer refused the report"),
}

#: sentences filled from the report's fields, used instead of the code's own when they are known
_RUNTIME_MISMATCH_NAMED = _l(
    "The repository is a %(runtime)s project, but the specification's hidden tests are Python "
    "tests: it is refused"
)
#: codes whose limit the report records (`limits`): said with it, the limit that was reached
_LIMIT_SENTENCES: Mapping[str, tuple[str, str]] = {
    "MEMORY_LIMIT": (
        "memory",
        _l("A stage ran out of the memory the specification allows (%(limit)s)"),
    ),
    "PROCESS_LIMIT": (
        "pids",
        _l("A stage tried to start more than the %(limit)s processes the specification allows"),
    ),
    "OUTPUT_LIMIT": (
        "output",
        _l("A stage printed more than the %(limit)s of output the specification allows"),
    ),
    "TEST_TIMEOUT": (
        "test_timeout",
        _l("A test ran longer than the %(limit)s the specification allows and was stopped"),
    ),
}
_MIB, _KIB = 1024 * 1024, 1024
#: a reason whose code the report does not tie to it (an older or unexpected report)
UNKNOWN_REASON = _l("The checks gave a reason")
#: a check's reason whose code the report does not record (the lists of older runs)
NOT_PASSED = _l("Did not pass")
#: a runtime's name as people write it; the report's value is the identifier
RUNTIME_NAMES = {"python": "Python", "node": "Node.js", "shell": "shell (bats)"}


@dataclass(frozen=True)
class ReasonLine:
    """One of the report's reasons: the engine's sentence, its code, and whose check it is."""

    #: the engine's sentence, as signed (English; may quote the supplier's text)
    sentence: str
    #: its code, when the report ties one to it
    code: str | None = None
    #: the id of the check whose reason it is; None for a reason of the whole run
    check: str | None = None


def reason_lines(
    reasons: Sequence[object], codes: Sequence[object], checks: Sequence[object]
) -> list[ReasonLine]:
    """Each reason with its code and check, read from fields the report already has.

    The engine lists the run's own reasons first, then one per check that failed or could
    not judge, in the checks' order, each as "<check id>: <summary>"
    (acceptance.engine.report.all_reasons); `reason_codes` lists the codes each once in
    that order, so the first reason's code is its first. A reason that does not fit this
    shape (an older report, a rewritten one) keeps no code rather than a wrong one.
    """
    sentences = [as_str(r) for r in reasons]
    known = [c for c in (as_str(c, 100) for c in codes) if c in REASONS]
    failed = [as_dict(c) for c in checks if as_dict(c).get("status") in ("failed", "error")]
    own = len(sentences) - len(failed)
    if own < 0:
        return [ReasonLine(s) for s in sentences]
    lines = [
        ReasonLine(s, known[0] if index == 0 and known else None)
        for index, s in enumerate(sentences[:own])
    ]
    for sentence, check in zip(sentences[own:], failed, strict=True):
        check_id = as_str(check.get("id"), 100)
        code = as_str(check.get("reason_code"), 100) or None
        if code is None and check.get("kind"):
            # A report's check (it has a kind) that states no code: the engine said CHECK_FAILED.
            # The lists' summaries keep no kind and no code: theirs stays unknown.
            code = "CHECK_FAILED"
        if not check_id or not (sentence.startswith(f"{check_id}: ") or sentence == WITHHELD):
            lines.append(ReasonLine(sentence))
            continue
        if code is None and not lines and known:
            code = known[0]  # the run's first reason: its code is the first listed
        lines.append(ReasonLine(sentence, code if code in REASONS else None, check_id))
    return lines


def reason_sentence(
    t: Translator, code: str | None, predicate: Mapping[str, Any], *, of_check: bool = False
) -> str:
    """`code`'s sentence in `t`'s language (no final full stop), filled from `predicate`'s fields.

    `of_check`: the reason is a check's, said after its name.
    """
    runtime = RUNTIME_NAMES.get(as_str(predicate.get("runtime"), 20))
    if code == "RUNTIME_MISMATCH" and runtime and predicate.get("runtime_source") == "detected":
        return t.gettext(_RUNTIME_MISMATCH_NAMED) % {"runtime": runtime}
    limit = _limit(t, code or "", as_dict(predicate.get("limits")))
    if limit is not None:
        return t.gettext(_LIMIT_SENTENCES[code or ""][1]) % {"limit": limit}
    message = REASON_SENTENCES.get(code or "")
    if message is None:
        message = NOT_PASSED if of_check else UNKNOWN_REASON
    return t.gettext(message)


def _limit(t: Translator, code: str, limits: Mapping[str, Any]) -> str | None:
    """The limit `code` reached, as the report's `limits` state it, with its unit; None if unknown."""
    if code not in _LIMIT_SENTENCES:
        return None
    key = _LIMIT_SENTENCES[code][0]
    value = limits.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    if key == "pids":
        return str(value)
    if key == "test_timeout":
        return t.gettext("%(count)s s") % {"count": value}
    if value % _MIB == 0:
        return t.gettext("%(count)s MiB") % {"count": value // _MIB}
    if value % _KIB == 0:
        return t.gettext("%(count)s KiB") % {"count": value // _KIB}
    return t.gettext("%(count)s bytes") % {"count": value}


def reasons_of(view: Mapping[str, Any]) -> tuple[list[ReasonLine], Mapping[str, Any]]:
    """The reasons of a run's view (its report's when it has one) and the fields they are said from."""
    told = as_dict(view.get("report")) or view
    lines = reason_lines(
        [r for r in told.get("reasons") or [] if r],
        list(told.get("reason_codes") or []),
        list(told.get("checks") or []),
    )
    return lines, told


def plain_reason(
    t: Translator, line: ReasonLine, fields: Mapping[str, Any], *, quote: bool = True
) -> str:
    """A reason as plain text (emails, forges): in `t`'s language, then the engine's sentence.

    English readers get the engine's sentence alone; `quote=False` leaves it out (a forge's
    one-line status, where only the reader's language fits).
    """
    if not isinstance(t, Translations):
        return line.sentence
    said = reason_sentence(t, line.code, fields, of_check=line.check is not None)
    if line.check is not None:
        said = t.gettext("%(check)s: %(reason)s.") % {
            "check": line.check,
            "reason": continued(said),
        }
    else:
        said += "."
    return f"{said} — {t.gettext('In the signed report:')} {line.sentence}" if quote else said


def continued(sentence: str) -> str:
    """`sentence` going on after a check's name: its first word no longer starts a sentence."""
    # "N’a pas réussi" → "n’a pas réussi"; a name in capitals ("NPM", "CI") stays as it is
    keep = not sentence[:1].isupper() or sentence[1:2].isupper()
    return sentence if keep else sentence[0].lower() + sentence[1:]


def runtime_facts(source: Mapping[str, Any]) -> tuple[str, str] | None:
    """The runtime and how it was chosen (`spec` or `detected`), when `source` states both."""
    runtime = as_str(source.get("runtime"), 20)
    chosen = as_str(source.get("runtime_source"), 20)
    if runtime in RUNTIME_NAMES and chosen in ("spec", "detected"):
        return runtime, chosen
    return None
