"""Check summaries in the reader's language, made from the report's structured fields.

The signed report's `summary` is an English sentence from the engine; the page
shows it too, marked lang="en", but leads with the same facts said in the
reader's language. Only facts the report states as fields are said here; where
the fields do not carry the whole story (a truncated list, a field an older
report lacks) there is no summary and the engine's sentence stands alone.
"""

from __future__ import annotations

from flask_babel import gettext, ngettext

from web.dashboard.i18n import number
from web.dashboard.report_model import Check

#: the functional check's counts, in the order the engine states them
TEST_COUNTS = ("passed", "failed", "errors", "skipped")


def check_summary(check: Check) -> str | None:
    """The check's counts as a sentence in the reader's language, or None."""
    if check.kind == "functional":
        return functional_summary(check)
    if check.kind == "dependencies":
        return dependencies_summary(check)
    if check.kind == "quality":
        return quality_summary(check)
    if check.kind == "sast":
        return sast_summary(check)
    if check.kind == "licence":
        return licence_summary(check)
    if check.kind == "accessibility":
        return accessibility_summary(check)
    return None


def accessibility_summary(check: Check) -> str | None:
    """An app that did not listen, missing pages, or how many violations block acceptance."""
    if check.reason_code == "ACCESSIBILITY_SERVER_NOT_LISTENING":
        served = check.accessibility_settings.get("serve") or {}
        port = served.get("port")
        if port:
            # A port is a name, not a quantity: never grouped like 8 000.
            return str(
                gettext("The delivered app did not listen on port %(port)s in time.", port=port)
            )
        return str(gettext("The delivered app did not listen on its port in time."))
    if check.missing_pages:
        missing = len(check.missing_pages)
        return str(
            ngettext(
                "%(count)s listed page cannot be opened.",
                "%(count)s listed pages cannot be opened.",
                missing,
                count=number(missing),
            )
        )
    if not check.pages or any(page.error for page in check.pages):
        return None
    blocking = sum(1 for page in check.pages for v in page.violations if v.blocking)
    if blocking:
        return str(
            ngettext(
                "%(count)s accessibility violation blocks acceptance.",
                "%(count)s accessibility violations block acceptance.",
                blocking,
                count=number(blocking),
            )
        )
    pages = len(check.pages)
    return str(
        ngettext(
            "No accessibility violation blocks acceptance on the %(count)s page checked.",
            "No accessibility violation blocks acceptance on the %(count)s pages checked.",
            pages,
            count=number(pages),
        )
    )


def functional_summary(check: Check) -> str | None:
    """The tests' counts as the engine states them: "5 passed, 0 failed, 0 errors, 1 skipped"."""
    if not check.tests:
        return None
    counts = {key: check.tests.get(key, 0) for key in TEST_COUNTS}
    parts: list[str] = [
        ngettext(
            "%(count)s passed", "%(count)s passed", counts["passed"], count=number(counts["passed"])
        ),
        ngettext(
            "%(count)s failed", "%(count)s failed", counts["failed"], count=number(counts["failed"])
        ),
        ngettext(
            "%(count)s error", "%(count)s errors", counts["errors"], count=number(counts["errors"])
        ),
        ngettext(
            "%(count)s skipped",
            "%(count)s skipped",
            counts["skipped"],
            count=number(counts["skipped"]),
        ),
    ]
    if check.flaky:
        parts.append(
            ngettext("%(count)s flaky", "%(count)s flaky", check.flaky, count=number(check.flaky))
        )
    return ", ".join(parts)


def dependencies_summary(check: Check) -> str | None:
    """How many known vulnerabilities in how many of the installed packages, and how many ignored."""
    if check.audited is None or check.vulnerabilities_truncated:
        return None
    active = [v for v in check.vulnerabilities if not v.ignored]
    ignored = len(check.vulnerabilities) - len(active)
    audited = number(check.audited)
    if active:
        packages = len({v.package for v in active})
        said: str = ngettext(
            "%(count)s known vulnerability in %(packages)s of %(audited)s installed packages",
            "%(count)s known vulnerabilities in %(packages)s of %(audited)s installed packages",
            len(active), count=number(len(active)), packages=number(packages), audited=audited,
        )  # fmt: skip
    else:
        said = ngettext(
            "No known vulnerability in the %(audited)s installed package",
            "No known vulnerability in the %(audited)s installed packages",
            check.audited, audited=audited,
        )  # fmt: skip
    if ignored:
        said += ngettext(
            "; %(count)s ignored by the specification",
            "; %(count)s ignored by the specification",
            ignored, count=number(ignored),
        )  # fmt: skip
    return said + "."


def quality_summary(check: Check) -> str | None:
    """How many linter findings block acceptance, and how many suppressions give a reason."""
    if check.findings_truncated or check.suppressions_truncated or not check.quality_settings:
        return None
    blocking = sum(1 for f in check.lint_findings if f.blocking)
    if blocking:
        said: str = ngettext(
            "%(count)s linter finding blocks acceptance",
            "%(count)s linter findings block acceptance",
            blocking, count=number(blocking),
        )  # fmt: skip
    else:
        said = gettext("No linter finding blocks acceptance")
    if check.suppressions:
        justified = sum(1 for s in check.suppressions if s.justified)
        said += ngettext(
            "; %(count)s suppression comment, %(justified)s with a reason",
            "; %(count)s suppression comments, %(justified)s with a reason",
            len(check.suppressions), count=number(len(check.suppressions)),
            justified=number(justified),
        )  # fmt: skip
    return said + "."


def sast_summary(check: Check) -> str | None:
    """How many of bandit's findings block acceptance, and how many the spec lets stand."""
    if check.findings_truncated or check.status not in ("passed", "failed"):
        return None
    blocking = sum(1 for f in check.findings if f.blocking)
    if blocking:
        said: str = ngettext(
            "%(count)s security finding blocks acceptance",
            "%(count)s security findings block acceptance",
            blocking, count=number(blocking),
        )  # fmt: skip
    else:
        said = gettext("No security finding blocks acceptance")
    others = len(check.findings) - blocking
    if others:
        said += ngettext(
            "; %(count)s below the specification's threshold or suppressed",
            "; %(count)s below the specification's threshold or suppressed",
            others, count=number(others),
        )  # fmt: skip
    return said + "."


def licence_summary(check: Check) -> str | None:
    """The licence found, the file it came from, whether the spec allows it, and the dependencies'."""
    spdx = check.licence.get("spdx")
    allowed = check.licence.get("allowed")
    if not isinstance(spdx, str) or not spdx or not isinstance(allowed, bool):
        return None
    source = check.licence.get("source_file")
    if isinstance(source, str) and source:
        if allowed:
            said: str = gettext(
                "Licence %(licence)s, found in %(file)s: allowed by the specification",
                licence=spdx, file=source,
            )  # fmt: skip
        else:
            said = gettext(
                "Licence %(licence)s, found in %(file)s: not allowed by the specification",
                licence=spdx, file=source,
            )  # fmt: skip
    elif allowed:
        said = gettext("Licence %(licence)s: allowed by the specification", licence=spdx)
    else:
        said = gettext("Licence %(licence)s: not allowed by the specification", licence=spdx)
    incompatible = sum(1 for d in check.dependencies if d.compatible is False)
    if incompatible:
        said += ngettext(
            "; %(count)s dependency under an incompatible licence",
            "; %(count)s dependencies under an incompatible licence",
            incompatible, count=number(incompatible),
        )  # fmt: skip
    return said + "."
