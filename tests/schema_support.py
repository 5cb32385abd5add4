"""The published JSON Schemas as validators, and the rule every spec a test writes must keep."""

from __future__ import annotations

import functools
from pathlib import Path

import jsonschema
import yaml

from acceptance.engine.report_schema import predicate_schema
from acceptance.engine.spec import SpecError, load_spec
from acceptance.engine.spec_schema import spec_schema


@functools.cache
def spec_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(spec_schema())


@functools.cache
def predicate_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        predicate_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def schema_errors(document: object) -> list[str]:
    """What the spec's schema says about ``document``: "dotted.path: message" per error."""
    return [
        f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in spec_validator().iter_errors(document)
    ]


def assert_schema_accepts_if_parser_does(spec_file: Path) -> None:
    """A spec the parser accepts must pass the schema an owner's editor checks it with."""
    try:
        load_spec(spec_file)
    except SpecError:
        return  # a test of a refused spec: the schema may or may not see why
    document = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    errors = schema_errors(document)
    assert not errors, f"the schema refuses a spec the parser accepts ({spec_file}): {errors}"
