"""The acceptance spec's JSON Schema (draft 2020-12), built from the spec parser's own definitions.

Keys come from the parser's key lists, defaults from its dataclasses, closed sets from its
enums and tuples, bounds from its constants: a key added to the parser without a schema entry
fails here (``KeyError``) rather than drifting. The schema never refuses a spec the parser
accepts; it cannot see everything the parser checks (whether ``hidden_tests`` exists, the SPDX
list, ruff's rules, one timeout against another), so the parser stays the authority.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from acceptance.engine import spec as model
from acceptance.engine import (
    spec_accessibility,
    spec_functional,
    spec_licence,
    spec_limits,
    spec_quality,
    spec_security,
    test_command,
)
from acceptance.engine import spec_schema_parts as parts
from acceptance.engine.runtime_choice import SUPPORTED_RUNTIMES
from acceptance.engine.spec_schema_parts import Schema

SCHEMA_ID = "urn:acceptance-service:acceptance-spec:v1"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# The parser's key lists per section, by dotted path ("" is the top level).
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "": model.TOP_KEYS,
    "functional": spec_functional.FUNCTIONAL_KEYS,
    "functional.results": test_command.RESULTS_KEYS,
    "install": spec_limits.INSTALL_KEYS,
    "limits": spec_limits.LIMIT_KEYS,
    "security": spec_security.SECURITY_KEYS,
    "security.sast": spec_security.SAST_KEYS,
    "security.dependencies": spec_security.AUDIT_KEYS,
    "licence": spec_licence.LICENCE_KEYS,
    "quality": spec_quality.QUALITY_KEYS,
    "accessibility": spec_accessibility.ACCESSIBILITY_KEYS,
    "accessibility.serve": spec_accessibility.ACCESSIBILITY_SERVE_KEYS,
}


# What a section's keys default to: the dataclass the parser builds for it.
_SECTION_MODELS: dict[str, object] = {
    "functional": model.FunctionalSpec(),
    "install": model.InstallSpec(),
    "limits": model.Limits(),
    "security.sast": model.SastSpec(),
    "security.dependencies": model.DependencyAuditSpec(),
    "licence": model.LicenceSpec(),
    "quality": model.QualitySpec(),
    "accessibility": model.AccessibilitySpec(),
}


# Where the written default differs from the model's (the parser maps one to the other):
# a switchable section written as a mapping is on unless it says `enabled: false`, and
# quality's `rules: default` / `fail_on: any` are read as ruff's set and the lowest level.
_WRITTEN_DEFAULTS: dict[str, object] = {
    "security.sast.enabled": True,
    "security.dependencies.enabled": True,
    "licence.enabled": True,
    "quality.enabled": True,
    "quality.rules": "default",
    "quality.fail_on": model.QUALITY_ANY,
    "accessibility.enabled": True,
}


# Keys whose model default is no value a spec may write (absent means "no limit", "none").
_NO_WRITTEN_DEFAULT = frozenset({"security.dependencies.max_data_age", "accessibility.pages"})


def spec_schema() -> Schema:
    """The JSON Schema of an acceptance spec, version 1."""
    fields = _fields()
    top = _object("", fields, required=("version", "title"))
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "Acceptance spec",
        "description": "What a delivery must do to be accepted (YAML). The service checks more "
        "than this schema can (the hidden tests folder, SPDX ids, ruff rules, timeouts against "
        "each other); its messages name every field at fault.",
        **top,
        "$defs": parts.defs(),
    }


def _fields() -> dict[str, Schema]:
    """Every key of every section, by dotted path, without its default."""
    timeout = parts.integer(1, model.MAX_TIMEOUT, "seconds")
    choice = parts.choice
    fields: dict[str, Schema] = {
        "version": {
            "description": "the spec format's version",
            "type": "integer",
            "enum": sorted(model.SUPPORTED_VERSIONS),
        },
        "title": {
            "description": f"a short human-readable title, one line, at most "
            f"{model.MAX_TITLE_CHARS} characters (surrounding spaces do not count)",
            "type": "string",
            # Non-blank, no control character inside, at most MAX_TITLE_CHARS once stripped.
            "pattern": parts.title_pattern(model.MAX_TITLE_CHARS),
        },
        "functional": {
            **parts.section("the tests pytest runs and what counts as passing"),
            "allOf": test_command.schema_rules(),
        },
        "functional.paths": parts.nullable(
            parts.array(
                {"type": "string", "$ref": "#/$defs/test_path"},
                model.MAX_PATHS,
                "what pytest runs inside the checkout: relative paths or node ids; default: "
                "pytest's own discovery",
                unique=False,
            )
        ),
        "functional.hidden_tests": {
            "description": "a folder beside the spec holding the owner's own tests, always "
            "run in addition to `paths`",
            "type": ["string", "null"],
            "$ref": "#/$defs/folder",
        },
        "functional.min_passed": parts.integer(0, 10**9, "fewer passing tests fails the check"),
        "functional.timeout": {**timeout, "description": "seconds for the whole test step"},
        "functional.reruns": parts.integer(
            0, model.MAX_RERUNS, "fresh re-runs of the failing tests (0: none)"
        ),
        "functional.flaky": choice(
            model.FLAKY_POLICIES, "does a test that failed, then passed, count as passed"
        ),
        "functional.test_timeout": parts.nullable(
            {
                **timeout,
                "description": "seconds one test may run (TEST_TIMEOUT), at most "
                "`functional.timeout`; null: no limit but the step's",
            }
        ),
        "functional.hidden_feedback": choice(
            model.HIDDEN_FEEDBACK_LEVELS,
            "what the supplier sees of failing hidden tests besides their counts",
        ),
        **test_command.schema_fields(),
        "install": parts.section("what to install before testing"),
        "install.requirements": parts.nullable(
            parts.array(
                {
                    "type": "string",
                    "maxLength": model.MAX_REQUIREMENT_CHARS,
                    "allOf": [{"pattern": parts.NOT_BLANK}, {"pattern": r"^[^\x00\n\r]*$"}],
                },
                model.MAX_REQUIREMENTS,
                "pip requirement lines; replaces detection of what to install",
                unique=False,
            )
        ),
        "limits": parts.section("the sandbox's resource limits"),
        "limits.cpus": {
            "description": "CPUs",
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": model.MAX_CPUS,
        },
        "limits.memory": parts.size("memory"),
        "limits.pids": parts.integer(16, 65536, "processes and threads"),
        "limits.timeout": {**timeout, "description": "seconds for the whole run"},
        "limits.disk": parts.size("disk"),
        "limits.output": parts.size("output"),
        "security": {
            "description": "the security checks; true or false switches both",
            "type": ["object", "boolean", "null"],
        },
        "security.sast": parts.switchable("static analysis with bandit"),
        "security.sast.enabled": parts.boolean("run the check"),
        "security.sast.fail_on": choice(
            parts.values(model.Severity), "a finding at or above this severity fails"
        ),
        "security.sast.confidence": choice(
            parts.values(model.Severity), "findings below this confidence are ignored"
        ),
        "security.sast.exclude": parts.nullable(
            parts.array(
                {"type": "string", "$ref": "#/$defs/inside_path"},
                model.MAX_PATHS,
                "paths not scanned",
            )
        ),
        "security.sast.allow_suppressions": parts.boolean("honour `# nosec` in the delivery"),
        "security.dependencies": parts.switchable("known-vulnerability audit (pip-audit)"),
        "security.dependencies.enabled": parts.boolean("run the check"),
        "security.dependencies.fail_on_vulnerabilities": parts.boolean(
            "a known vulnerability fails"
        ),
        "security.dependencies.ignore": parts.nullable(
            parts.array(
                {"type": "string", "pattern": "^" + spec_security.ADVISORY_RE.pattern + "$"},
                model.MAX_ADVISORY_IGNORES,
                "advisory ids or aliases the owner accepts (PYSEC-, GHSA-, CVE-...)",
            )
        ),
        "security.dependencies.max_data_age": {
            "description": "older advisory data makes the check an error: '12h', '30d', '2w' "
            "or a number of days, from 1h to 3650d; default: any age",
            # minimum and maximum bind numbers only, pattern strings only
            "type": ["integer", "string"],
            "minimum": 1,
            "maximum": model.MAX_DATA_AGE // 86400,
            "pattern": parts.AGE_PATTERN,
        },
        "licence": parts.switchable("the open-licence check"),
        "licence.enabled": parts.boolean("run the check"),
        "licence.allowed": parts.nullable(
            {
                **parts.array(
                    {
                        "type": "string",
                        "maxLength": model.MAX_LICENCE_ID_CHARS,
                        "pattern": "^" + spec_licence.SPDX_ID_RE.pattern + "$",
                        "examples": ["MIT", "Apache-2.0", "BSD-3-Clause", "LicenseRef-Owner"],
                    },
                    model.MAX_LICENCES,
                    "SPDX licence ids; default (null): any OSI-approved licence",
                ),
                "minItems": 1,
            }
        ),
        "licence.dependencies": {
            **choice(
                model.LICENCE_DEPENDENCY_MODES,
                "judge the dependencies' licences (compatible), list them (report) or skip",
            ),
            # YAML reads an unquoted off/on as a boolean; the parser takes it as off/default.
            "type": ["string", "boolean"],
        },
        "quality": parts.switchable("the linter check (ruff); off unless turned on"),
        "quality.enabled": parts.boolean("run the check"),
        "quality.rules": {
            "description": "`default` (ruff's E4, E7, E9, F) or ruff rule codes or prefixes",
            # pattern binds the string, the rest the list
            "type": ["string", "array"],
            "pattern": parts.case_insensitive(("default",)),
            "minItems": 1,
            "maxItems": model.MAX_QUALITY_RULES,
            "uniqueItems": True,
            "items": {
                "type": "string",
                "pattern": r"^\s*[A-Za-z0-9]{1,12}\s*$",
                "examples": ["E", "F", "B", "S", "PLR0913"],
            },
        },
        "quality.fail_on": choice(
            (model.QUALITY_ANY, *parts.values(model.QualityLevel)), "the lowest level that fails"
        ),
        "quality.suppressions": choice(
            model.QUALITY_SUPPRESSIONS, "which in-source suppressions count"
        ),
        "quality.exclude": parts.nullable(
            parts.array(
                {"type": "string", "$ref": "#/$defs/inside_path", "pattern": r"^[^,*?\[\]{}]*$"},
                model.MAX_PATHS,
                "plain paths not linted (no glob characters or commas)",
            )
        ),
    }
    fields["runtime"] = {
        "description": "the runtime that judges the delivery (docs/runtimes.md); default: "
        "detected from the repository (pyproject.toml, setup.py, setup.cfg or "
        "requirements*.txt: python; otherwise a root package.json: node; otherwise *.bats "
        "files: shell)",
        "type": "string",
        "enum": [r.value for r in SUPPORTED_RUNTIMES],
    }
    return {**fields, **_accessibility_fields()}


def _accessibility_fields() -> dict[str, Schema]:
    """axe-core on the delivery's pages; off unless turned on, and then it needs pages or serve."""
    page = r"^[^*?\[\]{}#]*\.([Hh][Tt][Mm][Ll]?|[Xx][Hh][Tt][Mm][Ll])$"
    visible = r"^[^\x00-\x1f\x7f]*$"
    return {
        "accessibility": {
            "description": "axe-core in Chromium on the delivery's HTML pages or its served "
            "app; off unless turned on; a mapping with `pages` or `serve`, or false (off)",
            "type": ["object", "boolean", "null"],
            # `true` alone names no page; on, the check needs `pages` or `serve`, not both
            "not": {
                "anyOf": [
                    {"const": True},
                    {"required": ["pages", "serve"], "properties": {"pages": {"type": "array"}}},
                ]
            },
            "anyOf": [
                {"required": ["pages"], "properties": {"pages": {"minItems": 1}}},
                {"required": ["serve"]},
                {"required": ["enabled"], "properties": {"enabled": {"const": False}}},
            ],
        },
        "accessibility.enabled": parts.boolean("run the check"),
        "accessibility.pages": parts.array(
            {"type": "string", "$ref": "#/$defs/inside_path", "pattern": page},
            model.MAX_ACCESSIBILITY_PAGES,
            "HTML files (.html, .htm, .xhtml) inside the checkout, opened as file://",
        ),
        "accessibility.serve": {
            "description": "the delivered app, started from the checkout in the sandbox and "
            "visited on its loopback (instead of `pages`)",
            "type": "object",
            "required": list(spec_accessibility.ACCESSIBILITY_SERVE_REQUIRED),
        },
        "accessibility.serve.command": {
            "description": "a command line (run by sh -c) or a list of arguments; at most "
            f"{model.MAX_SERVE_COMMAND_CHARS} characters in all",
            # minLength, maxLength and pattern bind the string, the rest the list
            "type": ["string", "array"],
            "minLength": 1,
            "maxLength": model.MAX_SERVE_COMMAND_CHARS,
            "pattern": r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$",
            "minItems": 1,
            "maxItems": model.MAX_SERVE_ARGS,
            "prefixItems": [{"type": "string", "pattern": r"\S"}],
            "items": {
                "type": "string",
                "maxLength": model.MAX_SERVE_COMMAND_CHARS,
                "pattern": visible,
            },
            "examples": ["python3 -m http.server 8000", ["python3", "app.py"]],
        },
        "accessibility.serve.port": {
            "description": "the loopback port the app listens on",
            "type": "integer",
            "minimum": model.MIN_SERVE_PORT,
            "maximum": model.MAX_SERVE_PORT,
        },
        "accessibility.serve.paths": {
            **parts.array(
                {
                    "type": "string",
                    "maxLength": model.MAX_SERVE_PATH_CHARS,
                    "pattern": "^" + spec_accessibility.SERVE_PATH_RE.pattern + "$",
                    "examples": ["/", "/contact", "/search?q=parks"],
                },
                model.MAX_ACCESSIBILITY_PAGES,
                "URL paths visited at http://127.0.0.1:<port>",
            ),
            "minItems": 1,
        },
        "accessibility.serve.wait": {
            # no "default" keyword: serve's keys are probed only beside the three it needs
            "description": "seconds the app has to accept connections on its port "
            f"(default {model.DEFAULT_SERVE_WAIT})",
            "type": "integer",
            "minimum": model.MIN_SERVE_WAIT,
            "maximum": model.MAX_SERVE_WAIT,
        },
        "accessibility.standard": parts.choice(
            model.ACCESSIBILITY_STANDARDS,
            "the WCAG version and level axe-core checks against",
        ),
        "accessibility.fail_on": parts.choice(
            parts.values(model.AccessibilityImpact),
            "a violation at or above this impact fails",
        ),
        "accessibility.ignore": parts.array(
            {"type": "string", "pattern": "^" + spec_accessibility.AXE_RULE_RE.pattern + "$"},
            model.MAX_ACCESSIBILITY_IGNORES,
            "axe-core rule ids not judged",
        ),
    }


def _object(path: str, fields: dict[str, Schema], required: Iterable[str] = ()) -> Schema:
    """The mapping at ``path``: its keys in the parser's order, closed to any other key."""
    properties: Schema = {}
    for key in _SECTION_KEYS[path]:
        dotted = f"{path}.{key}" if path else key
        entry = dict(fields[dotted])
        if dotted in _SECTION_KEYS:
            entry = _with_mapping(entry, _object(dotted, fields))
        else:
            _set_default(entry, path, key, dotted)
        properties[key] = entry
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    required = list(required)
    if required:
        schema["required"] = required
    return schema


def _with_mapping(entry: Schema, mapping: Schema) -> Schema:
    """A section's own description and types (object, and true, false or null) plus its keys.

    One schema, no ``anyOf``: ``properties`` bind only a mapping, and an editor then names
    the key at fault instead of "not valid under any of the given schemas".
    """
    return {**mapping, **entry}


def _set_default(entry: Schema, path: str, key: str, dotted: str) -> None:
    """The key's default as a spec would write it, when its section has a model."""
    if dotted in _WRITTEN_DEFAULTS:
        entry["default"] = _WRITTEN_DEFAULTS[dotted]
        return
    section = _SECTION_MODELS.get(path)
    if section is None or dotted in _NO_WRITTEN_DEFAULT:
        return
    if not hasattr(section, key):
        return  # a key the parser refuses or reads into no field (accessibility.serve)
    value = getattr(section, key)
    if isinstance(value, enum.Enum):
        value = value.value
    elif isinstance(value, tuple):
        value = list(value)
    entry["default"] = value
