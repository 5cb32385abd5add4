"""What the node SAST check scans, and how ESLint's security rules map to the spec's levels.

ESLint has no severity of its own beyond "warn"/"error" (a setting, not a judgement), so
each rule the engine turns on carries a severity and a confidence chosen here, modelled
on bandit's for the same weakness (docs/checks.md lists them): running code from a
string is medium severity, high confidence, as bandit's B307 (eval) and B102 (exec); a
shell command built from a variable is high/high, as B602; importing child_process is
low/high, as B404 (import subprocess); the heuristics that fire on most JavaScript
(`obj[key]`, a non-literal file name or require) have low confidence, so the spec's
default `confidence: medium` lists nothing for them unless the owner asks for `low`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from checks.shebang import file_runs

#: the extensions ESLint reads with the engine's configuration (acceptance_eslint_runner.mjs);
#: TypeScript through typescript-eslint's parser
JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts")
#: the programs a shebang may name for a file with no JavaScript extension to be linted
_NODES = frozenset({b"node", b"nodejs"})
#: characters ESLint's `files` patterns give a meaning to: such a name is not passed
_PATTERN_CHARS = frozenset("*?[]{}()!+@\\,")
MAX_EXTRA_FILES = 1_000
#: the reason a compiled addon (`*.node`) is listed unscanned (the runner says the same)
ADDON = "a compiled Node addon, which no scanner reads"
MAX_UNSCANNED = 5_000
WIKI = "https://github.com/eslint-community/eslint-plugin-security/blob/main/docs/rules/"
CORE_DOCS = "https://eslint.org/docs/latest/rules/"
TYPESCRIPT_DOCS = "https://typescript-eslint.io/rules/"


@dataclass(frozen=True)
class RuleLevel:
    """A rule's severity and confidence, in the spec's terms (low, medium, high)."""

    severity: str
    confidence: str
    cwe: str | None = None


#: ESLint's rule id -> the spec's levels; a rule the table does not know is medium/medium
RULE_LEVELS: dict[str, RuleLevel] = {
    "security/detect-bidi-characters": RuleLevel("high", "high", "CWE-451"),
    "security/detect-invisible-characters": RuleLevel("high", "high", "CWE-451"),
    "security/detect-buffer-noassert": RuleLevel("medium", "high", "CWE-119"),
    # the import alone: see CHILD_PROCESS_EXEC for the call with a non-literal command
    "security/detect-child-process": RuleLevel("low", "high", "CWE-78"),
    "security/detect-disable-mustache-escape": RuleLevel("medium", "high", "CWE-79"),
    "security/detect-eval-with-expression": RuleLevel("medium", "high", "CWE-95"),
    "security/detect-new-buffer": RuleLevel("medium", "medium", "CWE-908"),
    "security/detect-no-csrf-before-method-override": RuleLevel("medium", "medium", "CWE-352"),
    "security/detect-non-literal-fs-filename": RuleLevel("medium", "low", "CWE-22"),
    "security/detect-non-literal-regexp": RuleLevel("medium", "low", "CWE-1333"),
    "security/detect-non-literal-require": RuleLevel("medium", "low", "CWE-829"),
    "security/detect-object-injection": RuleLevel("low", "low", "CWE-915"),
    "security/detect-possible-timing-attacks": RuleLevel("low", "medium", "CWE-208"),
    "security/detect-pseudoRandomBytes": RuleLevel("low", "high", "CWE-338"),
    "security/detect-unsafe-regex": RuleLevel("medium", "medium", "CWE-1333"),
    "no-new-func": RuleLevel("medium", "high", "CWE-95"),
    "no-implied-eval": RuleLevel("medium", "high", "CWE-95"),
}
#: detect-child-process reports both the import and `exec(<not a literal>)`; the second,
#: a shell command built at run time, is bandit's B602 (shell=True), high/high
CHILD_PROCESS_EXEC = RuleLevel("high", "high", "CWE-78")
_UNKNOWN = RuleLevel("medium", "medium")


def rule_level(rule: str, message: str) -> RuleLevel:
    """The spec's levels for one ESLint finding."""
    if rule == "security/detect-child-process" and message.startswith("Found child_process.exec"):
        return CHILD_PROCESS_EXEC
    return RULE_LEVELS.get(rule, _UNKNOWN)


def rule_url(rule: str) -> str | None:
    """Where a person reads what the rule looks for."""
    if rule.startswith("security/"):
        return f"{WIKI}{rule.removeprefix('security/')}.md"
    if rule in RULE_LEVELS:
        return f"{CORE_DOCS}{rule}"
    return None


@dataclass(frozen=True)
class NodeSources:
    """What the host saw in the checkout before ESLint ran."""

    #: files without a JavaScript extension whose shebang runs node: linted too
    extra: tuple[str, ...]
    #: files the check cannot pass to ESLint (a pattern-like name, too many): never clean
    unscanned: tuple[tuple[str, str], ...]


def node_sources(tree: Path, exclude: Sequence[str] = ()) -> NodeSources:
    """Walk the checkout (not the root node_modules, which the engine replaces, `.git` or the
    spec's exclusions; no link followed). A nested node_modules is the supplier's code."""
    skipped = {e.strip().strip("/") for e in exclude if e.strip().strip("/") not in ("", ".")}
    extra: list[str] = []
    unscanned: list[tuple[str, str]] = []
    for root, dirs, files in os.walk(tree):
        rel_root = os.path.relpath(root, tree)
        dirs[:] = sorted(
            d for d in dirs
            if d != ".git" and _join(rel_root, d) not in skipped | {"node_modules"}
            and not os.path.islink(os.path.join(root, d))
        )  # fmt: skip
        for name in sorted(files):
            rel = _join(rel_root, name)
            path = os.path.join(root, name)
            if rel in skipped or os.path.islink(path) or not os.path.isfile(path):
                continue
            if name.endswith(".node"):
                # a compiled addon: `require` runs it, no scanner reads it
                if len(unscanned) < MAX_UNSCANNED:
                    unscanned.append((rel, ADDON))
            elif not name.endswith(JS_SUFFIXES) and file_runs(path, _NODES):
                if _PATTERN_CHARS.intersection(rel):
                    if len(unscanned) < MAX_UNSCANNED:
                        unscanned.append(
                            (rel, "a node script whose name ESLint reads as a pattern")
                        )
                elif len(extra) < MAX_EXTRA_FILES:
                    extra.append(rel)
                elif len(unscanned) < MAX_UNSCANNED:
                    unscanned.append((rel, f"more than {MAX_EXTRA_FILES} node scripts"))
    return NodeSources(tuple(extra), tuple(unscanned))


def _join(root: str, name: str) -> str:
    return name if root in ("", ".") else f"{root}/{name}"
