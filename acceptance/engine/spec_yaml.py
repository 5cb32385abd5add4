"""Read the spec's YAML safely (size, alias and depth limits) and serialise it canonically."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import yaml

from acceptance.engine.spec_fields import SpecError
from acceptance.quoting import describe, encodable, field_path, one_line

MAX_SPEC_BYTES = 1024**2
MAX_ALIASES = 100
#: values (scalars and collections) once aliases are followed; real specs have a few dozen
MAX_EXPANDED_NODES = 10_000
MAX_DEPTH = 50
# libyaml only tokenises here (no objects are built), so a 1 MiB bomb is rejected quickly.
_EVENT_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def canonical_json(document: object) -> bytes:
    """Serialise ``document`` as sorted-key, compact, UTF-8 JSON; the input to ``Spec.sha256``."""
    problems: list[str] = []
    json_problems(document, "", problems)
    if problems:
        raise SpecError(problems)
    return dump_canonical(document)


def load_document(text: str, origin: str) -> object:
    """Safely load ``text`` as YAML after checking it cannot blow up in size."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([f"document: larger than the {MAX_SPEC_BYTES} byte limit"], origin=origin)
    try:
        problem = _shape_problem(yaml.parse(text, Loader=_EVENT_LOADER))
        if problem is not None:
            raise SpecError([problem], origin=origin)
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_yaml_problem(exc)], origin=origin) from None
    except yaml.YAMLError as exc:
        raise SpecError([f"yaml: {one_line(str(exc))}"], origin=origin) from None
    except UnicodeError:
        problem = "yaml: the text contains characters that are not valid in UTF-8"
        raise SpecError([problem], origin=origin) from None
    except Exception as exc:  # noqa: BLE001
        # PyYAML's safe constructors raise plain ValueError, AttributeError, ... on malformed
        # tagged scalars such as `2001-02-30` or a bare `!!timestamp`; all mean bad input.
        reason = one_line(str(exc)) or type(exc).__name__
        raise SpecError([f"yaml: invalid value: {reason}"], origin=origin) from None


def _shape_problem(events: Iterator[yaml.Event]) -> str | None:
    """Stream the parse events and stop at the first alias bomb or over-deep nesting."""
    aliases = 0
    open_sizes: list[list[int]] = []
    open_anchors: list[str | None] = []
    closed: dict[str, int] = {}
    for event in events:
        size = 0
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                return f"yaml: more than {MAX_ALIASES} aliases (*name); write the values out"
            if event.anchor in open_anchors:
                return f"yaml: alias *{event.anchor} refers to a value that contains it"
            size = closed.get(str(event.anchor), 1)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            open_sizes.append([1])
            open_anchors.append(event.anchor)
            if len(open_sizes) > MAX_DEPTH:
                return f"yaml: nested more than {MAX_DEPTH} levels deep"
            continue
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                closed[event.anchor] = 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            size = open_sizes.pop()[0]
            anchor = open_anchors.pop()
            if anchor is not None:
                closed[anchor] = size
        else:
            continue
        if open_sizes:
            open_sizes[-1][0] += size
            size = open_sizes[-1][0]
        if size > MAX_EXPANDED_NODES:
            return (
                f"yaml: the document holds more than {MAX_EXPANDED_NODES} values once aliases "
                "are expanded; a spec needs far fewer"
            )
    return None


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """Describe a YAML syntax error with its 1-based line and column."""
    mark = exc.problem_mark or exc.context_mark
    what = one_line(exc.problem or exc.context or "invalid YAML")
    if mark is None:
        return f"yaml: invalid YAML: {what}"
    return f"yaml: invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {what}"


def dump_canonical(document: object) -> bytes:
    """JSON-encode an already checked document in the canonical form."""
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def json_problems(value: object, path: str, problems: list[str]) -> None:
    """Report every value under ``path`` that the canonical JSON form cannot represent."""
    where = path or "document"
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if not encodable(value):
            problems.append(f"{where}: contains characters that are not valid in UTF-8")
    elif isinstance(value, int):
        # str() of a huge int is slow and capped by Python; no spec value needs one.
        if value.bit_length() > 256:
            problems.append(f"{where}: integer too large")
    elif isinstance(value, float):
        if not math.isfinite(value):
            problems.append(f"{where}: {value!r} cannot be represented; use a finite number")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            json_problems(item, f"{where}[{index}]", problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = field_path(path, key)
            if not isinstance(key, str):
                problems.append(f"{child}: keys must be strings, got {describe(key)}")
            elif not encodable(key):
                problems.append(f"{child}: key contains characters that are not valid in UTF-8")
            json_problems(item, child, problems)
    else:
        problems.append(
            f"{where}: {describe(value)} cannot be represented in the canonical JSON form; "
            "quote it to make it a string"
        )
