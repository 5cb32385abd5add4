"""ESLint's inline comments that silence rules: what each one covers and whether it says why.

The runner lints with inline comments off and hands back, per file, every comment that
mentions "eslint" as ESLint's own parser read it (so a string is never a directive); the
engine reads the directives here, as ESLint does (the directive word at the start of the
comment, rules separated by commas, the justification after a `--` surrounded by spaces):

* `// eslint-disable-line [rules]`: the comment's line;
* `// eslint-disable-next-line [rules]`: the line after the comment;
* `/* eslint-disable [rules] */` ... `/* eslint-enable [rules] */`: the lines between, to
  the end of the file without the enable (an enable naming rules closes the disables of
  those rules; a blanket disable stays open: laxer only where suppressions are `allowed`);
* `/* eslint rule: off */` (inline configuration, any value): the rules it names, in the
  whole file, since ESLint applies it to the whole file.

A suppression is justified when it names its rules and its justification has at least
checks.suppressions.MIN_REASON_WORDS words: `// eslint-disable-next-line no-console -- the CLI prints its
result`. `/* eslint-disable */` with no rule is blanket, never justified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from checks.suppressions import Scope, Suppression, _reason

# ESLint's own directive grammar (linter/source-code: the first word of the comment)
_DIRECTIVE_RE = re.compile(
    r"^\s*(eslint-disable-next-line|eslint-disable-line|eslint-disable|eslint-enable|eslint)(?:\s|$)"
)
_JUSTIFICATION_RE = re.compile(r"\s-{2,}\s")
_RULE_RE = re.compile(r"^[@A-Za-z0-9_/.-]{1,200}$")
#: an inline configuration's rule names: `name: value` pairs, the value maybe an array
_CONFIG_RULE_RE = re.compile(r"""(?:^|,)\s*["']?([@A-Za-z0-9_/.-]{1,200})["']?\s*:""")
_LINE_DIRECTIVES = ("eslint-disable-line", "eslint-disable-next-line")


def suppressions_in_file(
    file: str, comments: Iterable[tuple[int, int, str, str]]
) -> list[Suppression]:
    """The file's suppressions, in order, from its (line, end line, kind, text) comments."""
    found: list[Suppression] = []
    open_ranges: list[int] = []  # indexes into `found` of disables not closed yet
    for line, end_line, kind, text in comments:
        match = _DIRECTIVE_RE.match(text)
        if match is None:
            continue
        directive = match.group(1)
        body, _, justification = _split_justification(text[match.end() :])
        # ESLint ignores a -line directive that spans lines, and inline config in // comments
        if directive in _LINE_DIRECTIVES and line != end_line:
            continue
        if directive == "eslint" and kind != "Block":
            continue
        reason = _reason(f"-- {justification}") if justification else None
        if directive == "eslint":
            rules = _config_rules(body)
            if rules:
                found.append(
                    Suppression(file, line, Scope.FILE, rules, reason, "eslint (inline config)")
                )
            continue
        rules = _rules(body)
        if directive == "eslint-enable":
            for index in list(open_ranges):
                opened = found[index]
                if not rules or (opened.rules and set(opened.rules) <= set(rules)):
                    found[index] = Suppression(
                        opened.file, opened.line, Scope.RANGE, opened.rules, opened.reason,
                        opened.directive, end_line=line,
                    )  # fmt: skip
                    open_ranges.remove(index)
            continue
        if directive == "eslint-disable":
            open_ranges.append(len(found))
            found.append(Suppression(file, line, Scope.RANGE, rules, reason, directive))
        elif directive == "eslint-disable-line":
            found.append(Suppression(file, line, Scope.LINE, rules, reason, directive))
        else:
            found.append(Suppression(file, end_line + 1, Scope.LINE, rules, reason, directive))
    return found


def _split_justification(rest: str) -> tuple[str, str, str]:
    parts = _JUSTIFICATION_RE.split(rest, maxsplit=1)
    return (parts[0], "--", parts[1]) if len(parts) == 2 else (parts[0], "", "")


def _rules(body: str) -> tuple[str, ...]:
    """The rule ids a directive names (lower-case ids, as ESLint spells them)."""
    names = [n.strip() for n in body.split(",")]
    return tuple(dict.fromkeys(n.lower() for n in names if n and _RULE_RE.match(n)))


def _config_rules(body: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(1).lower() for m in _CONFIG_RULE_RE.finditer(body)))
