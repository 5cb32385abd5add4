"""Reading and judging axe-core's results: untrusted JSON in, a verdict with evidence out.

A page's own scripts run beside axe-core (and, with ``serve``, the delivered app wrote
the page), so every field is read with byte caps, checked for type and cleaned; a page
whose results are not axe-core's fails the check. checks/accessibility.py runs the
browser and hands the raw output here.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from checks.interface import CheckResult, CheckStatus

CHECK_ID = "accessibility"
KIND = "accessibility"
IMPACTS: tuple[str, ...] = ("minor", "moderate", "serious", "critical")
#: the axe-core tags each ``accessibility.standard`` runs (WCAG levels are cumulative)
STANDARD_TAGS: Mapping[str, tuple[str, ...]] = {
    "wcag2a": ("wcag2a",),
    "wcag2aa": ("wcag2a", "wcag2aa"),
    "wcag21aa": ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa"),
    "wcag22aa": ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"),
}
MAX_PAGE_JSON_BYTES = 4 * 1024**2
MAX_SCREENSHOT_BYTES = 2 * 1024**2
MAX_RULES_PER_PAGE = 200
MAX_NODES_PER_RULE = 50
MAX_TAGS = 40
MAX_SNIPPET_CHARS = 300
MAX_SELECTOR_CHARS = 300
MAX_HELP_CHARS = 300
MAX_ERROR_CHARS = 500
HELP_URL_PREFIX = "https://dequeuniversity.com/rules/axe/"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# C0/C1 controls, DEL, lone surrogates, private use and format characters (bidi overrides,
# zero-width joiners) make text display differently from what it is (as checks/sast.py).
_STRIP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_RULE_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+){0,15}")
_TAG_RE = re.compile(r"[A-Za-z0-9._-]{1,40}")
_HELP_URL_RE = re.compile(
    r"https://dequeuniversity\.com/rules/axe/[0-9.]{1,12}/[a-z0-9-]{1,80}(\?[A-Za-z0-9=&._-]{0,80})?"
)


class JudgedOptions(Protocol):
    """The spec fields the verdict reads (spec_accessibility.AccessibilitySpec)."""

    @property
    def standard(self) -> str: ...

    @property
    def fail_on(self) -> object: ...

    @property
    def ignore(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Node:
    """One failing element: axe's CSS selector and its HTML, both plain capped text."""

    target: str
    html: str


@dataclass(frozen=True)
class Violation:
    """One axe rule a page breaks."""

    rule: str
    impact: str
    tags: tuple[str, ...]
    help: str
    help_url: str | None
    nodes: tuple[Node, ...]
    blocking: bool = False
    ignored: bool = False

    def to_report(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "impact": self.impact,
            "tags": list(self.tags),
            "help": self.help,
            "help_url": self.help_url,
            "blocking": self.blocking,
            "ignored": self.ignored,
            "nodes": [{"target": n.target, "html": n.html} for n in self.nodes],
        }


@dataclass(frozen=True)
class PageResult:
    """What one page came to: axe's findings, or why it has none."""

    page: str
    violations: tuple[Violation, ...] = ()
    passes: int = 0
    incomplete: int = 0
    #: the supplier's page could not be judged (failed to load, results not axe's)
    error: str | None = None
    screenshot: str | None = None
    axe_version: str | None = None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(IMPACTS, 0)
        for violation in self.violations:
            counts[violation.impact] += 1
        return counts

    def to_report(self) -> dict[str, object]:
        return {
            "page": self.page,
            "violations": [v.to_report() for v in self.violations],
            "counts": self.counts(),
            "passes": self.passes,
            "incomplete": self.incomplete,
            "error": self.error,
            "screenshot": self.screenshot,
        }


class UntrustedResults(ValueError):
    """A page's results are not axe-core's: its scripts broke or rewrote them."""


def clean(text: str, limit: int) -> str:
    """Printable single-line text, capped at ``limit`` characters."""
    text = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in text[: limit * 4]
        if ch in "\t\n\r" or unicodedata.category(ch) not in _STRIP_CATEGORIES
    )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- judging output


def parse_results(page: str, raw: bytes) -> PageResult:
    """Read one page's runner JSON; raises UntrustedResults for anything not axe-shaped."""
    if len(raw) > MAX_PAGE_JSON_BYTES:
        raise UntrustedResults(f"results larger than {MAX_PAGE_JSON_BYTES} bytes")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UntrustedResults("results are not JSON") from exc
    if not isinstance(document, dict):
        raise UntrustedResults("results are not a JSON object")
    if "error" in document:
        said = document["error"]
        text = clean(said, MAX_ERROR_CHARS) if isinstance(said, str) else "no message"
        return PageResult(page, error=f"the browser could not check the page: {text}")
    violations = document.get("violations")
    if not isinstance(violations, list) or len(violations) > MAX_RULES_PER_PAGE:
        raise UntrustedResults(f"violations is not a list of at most {MAX_RULES_PER_PAGE} rules")
    version = document.get("axe_version")
    return PageResult(
        page,
        violations=tuple(_violation(item) for item in violations),
        passes=_count(document.get("passes"), "passes"),
        incomplete=_count(document.get("incomplete"), "incomplete"),
        axe_version=clean(version, 40) if isinstance(version, str) else None,
    )


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise UntrustedResults(f"{what} is not a count")
    return value


def _violation(item: object) -> Violation:
    if not isinstance(item, dict):
        raise UntrustedResults("a violation is not an object")
    rule, impact, tags, nodes = (item.get(k) for k in ("id", "impact", "tags", "nodes"))
    if not isinstance(rule, str) or _RULE_RE.fullmatch(rule) is None:
        raise UntrustedResults("a violation's rule id is not axe-core's")
    if impact not in IMPACTS:
        raise UntrustedResults(f"rule {rule}: impact is not one of axe-core's")
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise UntrustedResults(f"rule {rule}: tags are not a list")
    if not all(isinstance(tag, str) and _TAG_RE.fullmatch(tag) for tag in tags):
        raise UntrustedResults(f"rule {rule}: a tag is not axe-core's")
    if not isinstance(nodes, list) or len(nodes) > MAX_NODES_PER_RULE:
        raise UntrustedResults(f"rule {rule}: nodes are not a list")
    help_text, url = item.get("help"), item.get("helpUrl")
    return Violation(
        rule=rule,
        impact=str(impact),
        tags=tuple(str(tag) for tag in tags),
        help=clean(help_text, MAX_HELP_CHARS) if isinstance(help_text, str) else "",
        help_url=_help_url(url),
        nodes=tuple(_node(rule, node) for node in nodes),
    )


def _help_url(url: object) -> str | None:
    """axe's own help page only: a rewritten result must not put a link of the page's choosing
    on the dashboard."""
    if not isinstance(url, str) or not url.startswith(HELP_URL_PREFIX) or len(url) > 200:
        return None
    return url if _HELP_URL_RE.fullmatch(url) else None


def _node(rule: str, node: object) -> Node:
    if not isinstance(node, dict):
        raise UntrustedResults(f"rule {rule}: a node is not an object")
    target, html = node.get("target"), node.get("html")
    if not isinstance(html, str):
        raise UntrustedResults(f"rule {rule}: a node's html is not text")
    # axe gives a list of selectors (one per frame or shadow root); shown joined.
    if isinstance(target, list) and all(isinstance(part, str) for part in target):
        selector = " >>> ".join(str(part) for part in target[:10])
    else:
        raise UntrustedResults(f"rule {rule}: a node's target is not a list of selectors")
    return Node(target=clean(selector, MAX_SELECTOR_CHARS), html=clean(html, MAX_SNIPPET_CHARS))


def mark(result: PageResult, fail_on: str, ignore: Sequence[str]) -> PageResult:
    """The page's violations with which ones block (at or above ``fail_on``, not ignored)."""
    floor = IMPACTS.index(fail_on)
    marked = tuple(
        Violation(
            v.rule, v.impact, v.tags, v.help, v.help_url, v.nodes,
            blocking=v.rule not in ignore and IMPACTS.index(v.impact) >= floor,
            ignored=v.rule in ignore,
        )
        for v in result.violations
    )  # fmt: skip
    return PageResult(
        result.page, marked, result.passes, result.incomplete, result.error,
        result.screenshot, result.axe_version,
    )  # fmt: skip


def judge(
    options: JudgedOptions,
    pages: Sequence[PageResult],
    missing: Sequence[tuple[str, str]] = (),
    *,
    server_problem: str | None = None,
) -> CheckResult:
    """The verdict: an app that did not listen, missing pages, then unloadable pages, then
    blocking violations fail it."""
    fail_on = impact_word(options.fail_on)
    details: dict[str, object] = {
        "standard": options.standard,
        "tags": list(STANDARD_TAGS[options.standard]),
        "fail_on": fail_on,
        "ignore": list(options.ignore),
        "pages": [p.to_report() for p in pages],
        "missing_pages": [{"page": page, "reason": why} for page, why in missing],
    }
    totals = dict.fromkeys(IMPACTS, 0)
    for page in pages:
        for impact, count in page.counts().items():
            totals[impact] += count
    details["counts"] = totals
    details["passes"] = sum(p.passes for p in pages)
    details["incomplete"] = sum(p.incomplete for p in pages)
    versions = {p.axe_version for p in pages if p.axe_version}
    if versions:
        details["axe_version"] = sorted(versions)[0]
    if server_problem is not None:
        return check_result(
            CheckStatus.FAILED, server_problem, "ACCESSIBILITY_SERVER_NOT_LISTENING", details
        )
    if missing:
        listed = ", ".join(f"{page} ({why})" for page, why in missing[:5])
        return check_result(
            CheckStatus.FAILED,
            f"{len(missing)} listed page(s) cannot be opened: {listed}",
            "ACCESSIBILITY_PAGE_MISSING",
            details,
        )
    broken = [p for p in pages if p.error]
    if broken:
        first = broken[0]
        return check_result(
            CheckStatus.FAILED,
            f"{len(broken)} page(s) could not be judged; {first.page}: {first.error}",
            "ACCESSIBILITY_PAGE_UNLOADABLE",
            details,
        )
    blocking = [(p.page, v) for p in pages for v in p.violations if v.blocking]
    if blocking:
        rules = sorted({v.rule for _, v in blocking})
        details["blocking_rules"] = rules
        return check_result(
            CheckStatus.FAILED,
            f"{len(blocking)} violation(s) at or above {fail_on} ({options.standard}) on "
            f"{len({page for page, _ in blocking})} page(s): {', '.join(rules[:10])}",
            "ACCESSIBILITY_VIOLATIONS",
            details,
        )
    others = sum(totals.values())
    below = f"; {others} below {fail_on} or ignored" if others else ""
    return check_result(
        CheckStatus.PASSED,
        f"no violation at or above {fail_on} ({options.standard}) on {len(pages)} page(s){below}",
        None,
        details,
    )


def impact_word(value: object) -> str:
    word = str(getattr(value, "value", value))
    if word not in IMPACTS:
        raise ValueError(f"accessibility.fail_on {word!r} is not an axe-core impact")
    return word


def check_result(
    status: CheckStatus, message: str, code: str | None, details: dict[str, object]
) -> CheckResult:
    return CheckResult(CHECK_ID, KIND, status, clean(message, 1000), code, details)


def screenshot_artifact(number: int, data: bytes | None) -> tuple[str, bytes] | None:
    """A page's screenshot as a run artifact, only when it is a PNG within the cap."""
    if data is None or len(data) > MAX_SCREENSHOT_BYTES or not data.startswith(PNG_MAGIC):
        return None
    return f"accessibility-page-{number}.png", data
