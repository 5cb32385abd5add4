"""The spec's `accessibility` section: the pages, the app that serves them and axe-core's rules."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from acceptance.engine.spec_fields import (
    check_keys,
    choice_field,
    int_field,
    path_problem,
    read_switchable,
    string_list,
)
from acceptance.quoting import describe

ACCESSIBILITY_KEYS = ("enabled", "pages", "serve", "standard", "fail_on", "ignore")
#: ``accessibility.standard``: the WCAG version and level axe-core checks against
ACCESSIBILITY_STANDARDS: tuple[str, ...] = ("wcag2a", "wcag2aa", "wcag21aa", "wcag22aa")
#: pages one run opens at most: each one is a browser load and a screenshot
MAX_ACCESSIBILITY_PAGES = 50
#: ``accessibility.ignore`` entries at most (axe-core has about a hundred rules)
MAX_ACCESSIBILITY_IGNORES = 200
_ACCESSIBILITY_PAGE_SUFFIXES = (".html", ".htm", ".xhtml")
ACCESSIBILITY_SERVE_KEYS = ("command", "port", "paths", "wait")
#: the keys ``accessibility.serve`` cannot do without
ACCESSIBILITY_SERVE_REQUIRED = ("command", "port", "paths")
#: ``accessibility.serve.wait``: seconds the app has to listen on its port (default 30)
DEFAULT_SERVE_WAIT, MIN_SERVE_WAIT, MAX_SERVE_WAIT = 30, 1, 300
#: ``accessibility.serve.port``: an unprivileged port (the app runs as the sandbox's user)
MIN_SERVE_PORT, MAX_SERVE_PORT = 1024, 65535
#: ``accessibility.serve.command`` as a list: arguments at most, characters each and in all
MAX_SERVE_ARGS = 50
MAX_SERVE_COMMAND_CHARS = 2000
#: ``accessibility.serve.paths``: characters of one URL path (query included)
MAX_SERVE_PATH_CHARS = 300
# A URL path (and query) as the browser is given it: visible ASCII, no fragment, no
# backslash (Chromium reads it as '/'), not '//' (a scheme-relative URL names a host).
SERVE_PATH_RE = re.compile(r"/(?!/)[!$%&'()*+,\-./0-9:;=?@A-Z_a-z~]*")
# axe-core's rule ids: lower-case words joined by hyphens ("image-alt", "color-contrast").
AXE_RULE_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+){0,15}")


class AccessibilityImpact(str, enum.Enum):
    """axe-core's impact of a violation, low to high."""

    MINOR = "minor"
    MODERATE = "moderate"
    SERIOUS = "serious"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for minor up to 3 for critical: for comparisons."""
        return ("minor", "moderate", "serious", "critical").index(self.value)


@dataclass(frozen=True)
class AccessibilityServe:
    """``accessibility.serve``: the delivered app, started in the sandbox and visited on its loopback.

    ``command`` is the argv run from the checkout (a string is given to ``sh -c``), ``port``
    the loopback port it listens on, ``paths`` the URL paths visited there.
    """

    command: tuple[str, ...]
    port: int
    paths: tuple[str, ...]
    #: True when the spec wrote the command as one string (run by ``sh -c``)
    shell: bool = False
    #: seconds the app has to listen on its port; None: not written (DEFAULT_SERVE_WAIT)
    wait: int | None = None

    @property
    def written(self) -> str | list[str]:
        """The command as the spec wrote it, for the report."""
        return self.command[-1] if self.shell else list(self.command)


@dataclass(frozen=True)
class AccessibilitySpec:
    """axe-core in Chromium on the delivery's pages; off unless the spec turns it on.

    ``pages`` are HTML files of the checkout, opened as ``file://``; or ``serve`` starts
    the delivered app and visits its URL paths; ``standard`` picks the WCAG rules axe
    runs; a violation at or above ``fail_on`` fails the check unless its rule is in
    ``ignore``.
    """

    enabled: bool = False
    pages: tuple[str, ...] = ()
    serve: AccessibilityServe | None = None
    standard: str = "wcag21aa"
    fail_on: AccessibilityImpact = AccessibilityImpact.SERIOUS
    ignore: tuple[str, ...] = ()


def read_accessibility(value: object, problems: list[str]) -> AccessibilitySpec:
    """Validate ``accessibility``: off when absent, null or false; on, ``pages`` or ``serve``."""
    where = "accessibility"
    default = AccessibilitySpec()
    if value is None or value is False:
        return default
    if value is True:
        problems.append(
            "accessibility: list the HTML files to check, e.g. "
            "`accessibility: {pages: [index.html]}`, or the app to start, e.g. "
            "`accessibility: {serve: {command: python3 -m http.server 8000, port: 8000, "
            "paths: [/]}}`; to turn the check off write `accessibility: false`"
        )
        return default
    enabled, section = read_switchable(value, where, ACCESSIBILITY_KEYS, problems)
    if section is None:
        return default
    serve = _accessibility_serve(section.get("serve"), problems) if "serve" in section else None
    if "serve" in section and section.get("pages") is not None:
        problems.append(
            "accessibility: give either pages (static HTML files opened as file://) or serve "
            "(the delivered app started and visited), not both"
        )
    pages = string_list(
        section,
        "pages",
        where,
        problems,
        expected="a list of HTML files inside the checkout",
        example="[index.html, docs/contact.html]",
        max_items=MAX_ACCESSIBILITY_PAGES,
        item_problem=_accessibility_page_problem,
        identity=lambda item: str(PurePosixPath(item)),
    )
    if enabled and "serve" not in section and pages is None:
        problems.append(
            "accessibility.pages: missing; list the HTML files to check, e.g. [index.html], "
            "or give accessibility.serve to start the app; to turn the check off write "
            "`accessibility: false`"
        )
    elif enabled and section.get("pages") == []:
        problems.append(
            "accessibility.pages: an empty list would check nothing; list at least one HTML "
            "file; to turn the check off write `accessibility: false`"
        )
    ignore = string_list(
        section,
        "ignore",
        where,
        problems,
        expected="a list of axe-core rule ids",
        example="[color-contrast, region]",
        max_items=MAX_ACCESSIBILITY_IGNORES,
        item_problem=_axe_rule_problem,
        identity=lambda item: item,
    )
    return AccessibilitySpec(
        enabled=enabled,
        pages=pages or (),
        serve=serve,
        standard=choice_field(
            section, "standard", where, default.standard, ACCESSIBILITY_STANDARDS, problems
        ),
        fail_on=_accessibility_impact(section, default.fail_on, problems),
        ignore=ignore or (),
    )


def _accessibility_serve(value: object, problems: list[str]) -> AccessibilityServe | None:
    """``accessibility.serve``: the command, its loopback port and the URL paths to visit."""
    where = "accessibility.serve"
    if not isinstance(value, dict):
        problems.append(
            f"{where}: must be a mapping with command, port and paths, e.g. "
            "{command: python3 -m http.server 8000, port: 8000, paths: [/]}, "
            f"got {describe(value)}"
        )
        return None
    check_keys(value, where, ACCESSIBILITY_SERVE_KEYS, problems)
    section = {k: v for k, v in value.items() if isinstance(k, str)}
    before = len(problems)
    for key in ACCESSIBILITY_SERVE_REQUIRED:
        if key not in section:
            problems.append(f"{where}.{key}: missing; serve needs command, port and paths")
    command, shell = (
        _serve_command(section["command"], problems) if "command" in section else ((), False)
    )
    port = int_field(
        section, "port", where, MIN_SERVE_PORT, problems, minimum=MIN_SERVE_PORT,
        maximum=MAX_SERVE_PORT,
        expected=f"the port the app listens on, from {MIN_SERVE_PORT} to {MAX_SERVE_PORT}",
    )  # fmt: skip
    paths = string_list(
        section,
        "paths",
        where,
        problems,
        expected="a list of URL paths starting with /",
        example="[/, /contact]",
        max_items=MAX_ACCESSIBILITY_PAGES,
        item_problem=_serve_path_problem,
        identity=lambda item: item,
    )
    if section.get("paths") == []:
        problems.append(f"{where}.paths: an empty list would check nothing; list at least /")
    wait = int_field(
        section, "wait", where, DEFAULT_SERVE_WAIT, problems, minimum=MIN_SERVE_WAIT,
        maximum=MAX_SERVE_WAIT,
        expected=f"the seconds the app has to listen on its port, from {MIN_SERVE_WAIT} to "
        f"{MAX_SERVE_WAIT} (default {DEFAULT_SERVE_WAIT})",
    )  # fmt: skip
    if len(problems) > before or not paths:
        return None
    return AccessibilityServe(
        command=command, port=port, paths=paths, shell=shell,
        wait=wait if "wait" in section else None,
    )  # fmt: skip


def _serve_command(value: object, problems: list[str]) -> tuple[tuple[str, ...], bool]:
    """``serve.command``: one string for ``sh -c``, or a non-empty list of arguments."""
    where = "accessibility.serve.command"
    expected = (
        "a command line (run by sh -c) or a list of arguments, e.g. "
        "python3 -m http.server 8000 or [python3, -m, http.server, '8000']"
    )
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > MAX_SERVE_ARGS:
        problems.append(
            f"{where}: must be {expected}, at most {MAX_SERVE_ARGS} arguments, "
            f"got {describe(value)}"
        )
        return (), False
    for index, item in enumerate(items):
        if not isinstance(item, str):
            problems.append(f"{where}[{index}]: must be a string, got {describe(item)}")
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in item):
            problems.append(f"{where}: must not contain control characters or line breaks")
    strings = [item for item in items if isinstance(item, str)]
    if len(strings) == len(items) and not strings[0].strip():
        problems.append(f"{where}: must not be blank; write {expected}")
    if sum(len(item) for item in strings) > MAX_SERVE_COMMAND_CHARS:
        problems.append(f"{where}: at most {MAX_SERVE_COMMAND_CHARS} characters in all")
    if isinstance(value, str):
        return ("sh", "-c", value), True
    return tuple(strings), False


def _serve_path_problem(item: str) -> str | None:
    """Why ``item`` cannot be an ``accessibility.serve.paths`` entry, or ``None``."""
    if len(item) > MAX_SERVE_PATH_CHARS:
        return f"must be at most {MAX_SERVE_PATH_CHARS} characters"
    if SERVE_PATH_RE.fullmatch(item) is None:
        return (
            "must be a URL path starting with a single / (e.g. / or /contact?lang=fr), in "
            "visible ASCII (percent-encode the rest), without '#' or backslashes"
        )
    return None


def _accessibility_page_problem(item: str) -> str | None:
    """Why ``item`` cannot be an ``accessibility.pages`` entry, or ``None``."""
    reason = path_problem(item, item)
    if reason is not None:
        return reason
    if any(ch in item for ch in "*?[]{}#"):
        return "must be a plain path to one file (no glob characters, no '#' fragment)"
    parts = PurePosixPath(item).parts
    if not parts or not parts[-1].lower().endswith(_ACCESSIBILITY_PAGE_SUFFIXES):
        return "must name an HTML file (.html, .htm or .xhtml) inside the checkout"
    return None


def _axe_rule_problem(item: str) -> str | None:
    """Why ``item`` is not written like an axe-core rule id, or ``None``."""
    if AXE_RULE_RE.fullmatch(item) is None:
        return "must be an axe-core rule id such as image-alt or color-contrast"
    return None


def _accessibility_impact(
    section: dict[str, object], default: AccessibilityImpact, problems: list[str]
) -> AccessibilityImpact:
    """``accessibility.fail_on``: an axe-core impact, case-insensitive."""
    if "fail_on" not in section:
        return default
    value = section["fail_on"]
    if isinstance(value, str):
        try:
            return AccessibilityImpact(value.strip().lower())
        except ValueError:
            pass
    impacts = ", ".join(impact.value for impact in AccessibilityImpact)
    problems.append(f"accessibility.fail_on: must be one of {impacts}, got {describe(value)}")
    return default
