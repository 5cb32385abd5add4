"""The spec's `functional.command` and `functional.results`: the owner's own test command.

`command` replaces the runtime's default runner (pytest, bats, node:test); `results` says
which file it writes and in which format (`junit` or `tap`). The engine reads that file
back as untrusted evidence (checks/command_tests.py), so the path is held to the
strictest form here: relative to the checkout, POSIX, canonical (no `.`, `..`, `//`,
trailing `/`), without control characters or a leading `-`, and not inside `.git`,
`node_modules` or the hidden tests' folder.
Kept out of spec.py (already long); spec.py calls `parse_test_command`.
"""

from __future__ import annotations

import shlex
from typing import Any

from checks.hidden_inventory import HIDDEN_DIR_NAME
from checks.options import TestCommand

#: the formats `functional.results.format` names, in the order messages list them
RESULTS_FORMATS: tuple[str, ...] = ("junit", "tap")
RESULTS_KEYS: tuple[str, ...] = ("format", "path")
#: ``functional.command`` as a list: arguments at most; characters in all
MAX_COMMAND_ARGS = 100
MAX_COMMAND_CHARS = 4000
MAX_RESULTS_PATH_CHARS = 1024
#: functional keys that mean nothing with a command of the owner's: refused beside it
CONFLICTING_KEYS: tuple[tuple[str, str], ...] = (
    ("paths", "the command names its own tests; put them in the command"),
    ("test_timeout", "the per-test limit is applied by the engine's own runners only"),
)
_EXAMPLE = (
    "e.g. functional: {command: 'bats --tap tests > results.tap', "
    "results: {format: tap, path: results.tap}}"
)


def parse_test_command(section: dict[str, object], problems: list[str]) -> TestCommand | None:
    """Validate ``functional.command`` and ``functional.results``; None when neither is set.

    Every fault is appended to ``problems`` as ``functional.<key>: <why>; <how to fix>``.
    """
    has_command = section.get("command") is not None
    has_results = section.get("results") is not None
    if not has_command and not has_results:
        return None
    if not has_command:
        problems.append(
            "functional.results: only read with functional.command (the default runners write "
            f"their own results); add the command that writes it, {_EXAMPLE}"
        )
        return None
    before = len(problems)
    argv, written = _command(section["command"], problems)
    results = _results(section.get("results"), problems)
    for key, why in CONFLICTING_KEYS:
        if section.get(key) is not None:
            problems.append(
                f"functional.{key}: not used with functional.command ({why}); remove one of them"
            )
    reruns = section.get("reruns")
    if isinstance(reruns, int) and not isinstance(reruns, bool) and reruns > 0:
        problems.append(
            "functional.reruns: failing tests are re-run by the engine's pytest runner only, not "
            "with functional.command; remove reruns or set it to 0"
        )
    if len(problems) > before or results is None:
        return None
    return TestCommand(argv, written, results[0], results[1])


def _command(value: object, problems: list[str]) -> tuple[tuple[str, ...], str]:
    """One string (run by ``sh -c``) or a non-empty list of arguments."""
    where = "functional.command"
    expected = (
        "a command line (run by sh -c in the checkout) or a list of arguments, e.g. "
        "'python -m pytest --junitxml=results.xml' or [bats, --tap, tests]"
    )
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > MAX_COMMAND_ARGS:
        problems.append(
            f"{where}: must be {expected}, at most {MAX_COMMAND_ARGS} arguments, got {_show(value)}"
        )
        return (), ""
    strings: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            problems.append(f"{where}[{index}]: must be a string, got {_show(item)}")
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in item):
            problems.append(
                f"{where}: must not contain control characters or line breaks; join the steps "
                "with && on one line"
            )
        else:
            strings.append(item)
    if len(strings) != len(items):
        return (), ""
    if not strings[0].strip():
        problems.append(f"{where}: must not be blank; write {expected}")
    if sum(len(item) for item in strings) > MAX_COMMAND_CHARS:
        problems.append(f"{where}: at most {MAX_COMMAND_CHARS} characters in all")
    if isinstance(value, str):
        return ("sh", "-c", value), value
    return tuple(strings), shlex.join(strings)


def _results(value: object, problems: list[str]) -> tuple[str, str] | None:
    """``{format: junit|tap, path: <relative file>}``, both required."""
    where = "functional.results"
    if value is None:
        problems.append(
            f"{where}: required with functional.command: say which file the command writes and "
            f"its format, {_EXAMPLE}"
        )
        return None
    if not isinstance(value, dict):
        problems.append(
            f"{where}: must be a mapping with format and path, got {_show(value)}; {_EXAMPLE}"
        )
        return None
    for key in value:
        if key not in RESULTS_KEYS:
            problems.append(
                f"{where}.{_show_key(key)}: unknown key; allowed keys: {', '.join(RESULTS_KEYS)}"
            )
    fmt = value.get("format")
    chosen: str | None = None
    if isinstance(fmt, str) and fmt.strip().lower() in RESULTS_FORMATS:
        chosen = fmt.strip().lower()
    else:
        problems.append(
            f"{where}.format: must be one of {', '.join(RESULTS_FORMATS)} (JUnit XML or TAP), "
            f"got {_show(fmt)}"
        )
    path = value.get("path")
    canonical: str | None = None
    if not isinstance(path, str):
        problems.append(
            f"{where}.path: must be the relative path of the file the command writes, e.g. "
            f"reports/junit.xml, got {_show(path)}"
        )
    else:
        reason = results_path_problem(path)
        if reason is not None:
            problems.append(f"{where}.path: {reason}, got {_show(path)}")
        else:
            canonical = path
    if chosen is None or canonical is None:
        return None
    return chosen, canonical


def results_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name the results file inside the checkout, or None."""
    if not path.strip():
        return "must not be empty; name the file the command writes, e.g. reports/junit.xml"
    if len(path) > MAX_RESULTS_PATH_CHARS:
        return f"must be at most {MAX_RESULTS_PATH_CHARS} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return "must not contain control characters"
    if "\\" in path or path.startswith(("/", "~")) or (len(path) > 1 and path[1] == ":"):
        return (
            "must be a relative POSIX path inside the checkout (forward slashes, no leading "
            "'/', '~' or drive), e.g. reports/junit.xml"
        )
    if path.startswith("-"):
        return "must not start with '-' (it would be read as a command-line option)"
    parts = path.split("/")
    if ".." in parts:
        return "must not contain '..': the results file stays inside the checkout"
    if any(part in ("", ".") for part in parts):
        return (
            "must be written plainly, without '.' components, '//' or a trailing '/' (e.g. "
            "reports/junit.xml, not ./reports//junit.xml)"
        )
    if parts[0] in (".git", "node_modules", HIDDEN_DIR_NAME):
        return f"must not be inside {parts[0]}/, which the engine manages"
    if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in parts):
        return "has a name longer than 255 bytes"
    return None


def _show(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = "".join(ch if ch.isprintable() else "?" for ch in value[:80])
        return repr(shown) + ("…" if len(value) > 80 else "")
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"a {type(value).__name__}"


def _show_key(key: object) -> str:
    return key if isinstance(key, str) and key.isprintable() else _show(key)


def schema_rules() -> list[dict[str, Any]]:
    """The ``functional`` section's rules: `command` and `results` go together (null is absent)."""
    present = {"command": {"type": ["string", "array"]}, "results": {"type": "object"}}
    return [
        {
            "if": {"required": [key], "properties": {key: present[key]}},
            "then": {"required": [other], "properties": {other: present[other]}},
        }
        for key, other in (("command", "results"), ("results", "command"))
    ]


def schema_fields() -> dict[str, dict[str, Any]]:
    """The JSON Schema of `functional.command` and `functional.results` (for spec_schema.py)."""
    visible = r"^[^\x00-\x1f\x7f]*$"
    return {
        "functional.command": {
            "description": "the owner's test command, run in the checkout instead of the "
            "runtime's default runner (pytest, bats, node:test): a command line (run by sh -c) "
            "or a list of arguments; needs `results`; not with `paths` or `test_timeout`",
            "type": ["string", "array", "null"],
            "minLength": 1,
            "maxLength": MAX_COMMAND_CHARS,
            "pattern": r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$",
            "minItems": 1,
            "maxItems": MAX_COMMAND_ARGS,
            "prefixItems": [{"type": "string", "pattern": r"\S"}],
            "items": {
                "type": "string",
                "maxLength": MAX_COMMAND_CHARS,
                "pattern": visible,
            },
            "examples": ["bats --tap tests > results.tap", ["python", "-m", "pytest"]],
        },
        "functional.results": {
            "description": "the results file `command` writes (required with it)",
            "type": ["object", "null"],
            "required": list(RESULTS_KEYS),
        },
        "functional.results.format": {
            "description": f"JUnit XML or TAP (Test Anything Protocol): {', '.join(RESULTS_FORMATS)}",
            "type": "string",
            # the parser ignores case and surrounding spaces
            "anyOf": [
                {"enum": list(RESULTS_FORMATS)},
                {"pattern": r"^\s*([Jj][Uu][Nn][Ii][Tt]|[Tt][Aa][Pp])\s*$"},
            ],
        },
        "functional.results.path": {
            "description": "the file's path relative to the checkout, written plainly "
            "(reports/junit.xml), never outside it",
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_RESULTS_PATH_CHARS,
            "allOf": [
                {"pattern": visible},
                {"pattern": r"^[^-/~\\]"},
                {"not": {"pattern": r"(^|/)\.\.?(/|$)"}},
                {"not": {"pattern": r"\\"}},
            ],
            "examples": ["reports/junit.xml", "results.tap"],
        },
    }
