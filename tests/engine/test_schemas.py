"""The published JSON Schemas (issue 15): generated from the engine, committed, served, honest.

The spec's schema must never refuse a spec the parser accepts (an owner's editor would
flag a valid spec), and refuses what the parser refuses wherever a schema can say so;
where it cannot (the SPDX list, ruff's rules, one timeout against another), the
difference is listed here. The report's schema holds real predicates.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acceptance.engine import schemas, spec_schema
from acceptance.engine.report import Reason, ReportInput, build_statement
from acceptance.engine.spec import MAX_TIMEOUT, Spec, SpecError, load_spec, parse_spec
from tests.conftest import ROOT
from tests.schema_support import predicate_validator, schema_errors

DOCS = ROOT / "docs" / "schemas"


# ---------------------------------------------------------------- generated and committed


def test_the_committed_schemas_are_what_the_engine_generates() -> None:
    assert schemas.stale(DOCS) == [], "run `python -m acceptance.engine.schemas`"
    for name, build in schemas.SCHEMAS.items():
        assert json.loads((DOCS / schemas.file_name(name)).read_text("utf-8")) == build()


def test_the_command_writes_the_schemas_and_checks_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert schemas.main(["--check", "--folder", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert schemas.main(["--folder", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "acceptance-spec.schema.json", "report-predicate.schema.json",
    ]  # fmt: skip
    assert schemas.main(["--check", "--folder", str(tmp_path)]) == 0
    (tmp_path / "report-predicate.schema.json").write_text("{}\n", encoding="utf-8")
    assert schemas.main(["--check", "--folder", str(tmp_path)]) == 1


@pytest.mark.parametrize("name", list(schemas.SCHEMAS))
def test_each_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = schemas.SCHEMAS[name]()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# ---------------------------------------------------------------- the spec: valid specs pass


def _example_specs() -> list[Path]:
    found = sorted((ROOT / "examples").rglob("acceptance*.yaml"))
    assert found, "the examples hold at least one spec"
    return found


@pytest.mark.parametrize("path", _example_specs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_spec_passes_the_parser_and_the_schema(path: Path) -> None:
    load_spec(path)
    assert schema_errors(yaml.safe_load(path.read_text("utf-8"))) == []


def test_the_readme_spec_passes_the_schema() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    block = text.split("## The acceptance spec", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    document = yaml.safe_load(block)
    assert document["title"] and schema_errors(document) == []


def test_the_specs_the_tests_upload_pass_the_schema() -> None:
    from tests import dashboard_support
    from tests.web.test_api import SPEC

    uploaded = [SPEC, dashboard_support.SPEC_V1, dashboard_support.OTHER_SPEC]
    for text in uploaded:
        assert schema_errors(yaml.safe_load(text)) == [], text


def test_write_spec_holds_every_spec_a_test_writes_to_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import conftest

    # A valid spec passes; were the schema to refuse it, write_spec would fail the test.
    conftest.write_spec(tmp_path / "ok", "functional: {paths: [tests], reruns: 0}\n")
    refusing = jsonschema.Draft202012Validator({"not": {}})
    monkeypatch.setattr("tests.schema_support.spec_validator", lambda: refusing)
    with pytest.raises(AssertionError, match="the schema refuses a spec the parser accepts"):
        conftest.write_spec(tmp_path / "again", "functional: {paths: [tests]}\n")
    # A spec the parser refuses is a test of that refusal: no schema verdict is asked for.
    conftest.write_spec(tmp_path / "bad", "surprise: 1\n")


# ---------------------------------------------------------------- the spec: bad specs fail both

BAD_SPECS = {
    # unknown keys, at every level
    "surprise: 1": "surprise",
    "functional: {path: [tests]}": "functional.path",
    "limits: {memroy: 1g}": "limits.memroy",
    "security: {sats: false}": "security.sats",
    "security: {sast: {fail-on: high}}": "security.sast.fail-on",
    "security: {dependencies: {ignores: [X-1]}}": "security.dependencies.ignores",
    "licence: {allow: [MIT]}": "licence.allow",
    "quality: {rule: [E]}": "quality.rule",
    "install: {packages: [flask]}": "install.packages",
    # wrong types
    "functional: [tests]": "functional",
    "functional: {paths: tests}": "functional.paths",
    "functional: {paths: [1]}": "functional.paths.0",
    "functional: {timeout: '60'}": "functional.timeout",
    "functional: {min_passed: true}": "functional.min_passed",
    "functional: {reruns: 9}": "functional.reruns",
    "functional: {flaky: maybe}": "functional.flaky",
    "functional: {flaky: no}": "functional.flaky",
    "functional: {hidden_feedback: all}": "functional.hidden_feedback",
    "functional: {hidden_tests: ../elsewhere}": "functional.hidden_tests",
    "functional: {paths: [/etc/passwd]}": "functional.paths.0",
    "functional: {paths: ['-p', 'tests']}": "functional.paths.0",
    "install: {requirements: flask}": "install.requirements",
    "install: {requirements: ['']}": "install.requirements.0",
    "limits: {cpus: many}": "limits.cpus",
    "limits: {cpus: 0}": "limits.cpus",
    "limits: {memory: lots}": "limits.memory",
    "limits: {memory: 1024}": "limits.memory",
    "limits: {pids: 8}": "limits.pids",
    "limits: {timeout: -5}": "limits.timeout",
    "security: yes please": "security",
    "security: {sast: {fail_on: critical}}": "security.sast.fail_on",
    "security: {sast: {fail_on: false}}": "security.sast.fail_on",
    "security: {sast: {allow_suppressions: 'yes'}}": "security.sast.allow_suppressions",
    "security: {sast: {exclude: [.]}}": "security.sast.exclude.0",
    "security: {dependencies: {ignore: [a]}}": "security.dependencies.ignore.0",
    "security: {dependencies: {max_data_age: 1 month}}": "security.dependencies.max_data_age",
    "security: {dependencies: {max_data_age: 9999}}": "security.dependencies.max_data_age",
    "security: {dependencies: {enabled: 1}}": "security.dependencies.enabled",
    "licence: {allowed: MIT}": "licence.allowed",
    "licence: {allowed: []}": "licence.allowed",
    "licence: {allowed: [MIT OR Apache-2.0]}": "licence.allowed.0",
    "licence: {dependencies: strict}": "licence.dependencies",
    "quality: {rules: all of them}": "quality.rules",
    "quality: {rules: []}": "quality.rules",
    "quality: {rules: [E501, E501]}": "quality.rules",
    "quality: {fail_on: loud}": "quality.fail_on",
    "quality: {suppressions: sometimes}": "quality.suppressions",
    "quality: {exclude: ['src/*.py']}": "quality.exclude.0",
    "quality: 3": "quality",
    "accessibility: {serve: {command: x, port: 80, paths: [/]}}": "accessibility.serve.port",
    "accessibility: {serve: {command: x, port: 8000, paths: [//evil.example]}}": (
        "accessibility.serve.paths.0"
    ),
    "accessibility: {serve: {command: [], port: 8000, paths: [/]}}": "accessibility.serve.command",
    "accessibility: {serve: {command: x, port: 8000, paths: [/], host: h}}": (
        "accessibility.serve.host"
    ),
}


@pytest.mark.parametrize("body", list(BAD_SPECS))
def test_the_schema_and_the_parser_both_refuse_a_bad_spec(body: str, tmp_path: Path) -> None:
    field = BAD_SPECS[body]
    text = f"version: 1\ntitle: Demo\n{body}\n"
    with pytest.raises(SpecError) as refused:
        parse_spec(text, tmp_path)
    parser_fields = [problem.partition(":")[0] for problem in refused.value.problems]
    errors = schema_errors(yaml.safe_load(text))
    assert errors, f"the schema accepts what the parser refuses: {refused.value.problems}"
    # Both name the same field: the parser by its dotted path, the schema by the value's
    # path, or for an unknown key by its mapping and the key itself.
    parent, _, key = field.rpartition(".")
    named = any(e.startswith(f"{field}:") or (e.startswith(f"{parent}:") and repr(key) in e)
                for e in errors)  # fmt: skip
    assert named, errors
    dotted = field.removesuffix(".0").replace(".0", "[0]")
    assert any(f == dotted or f.startswith(dotted + "[") for f in parser_fields), parser_fields


def test_the_schema_and_the_parser_both_require_version_and_title(tmp_path: Path) -> None:
    for text in ("title: Demo\n", "version: 1\n", "version: 2\ntitle: Demo\n", "- a list\n"):
        with pytest.raises(SpecError):
            parse_spec(text, tmp_path)
        assert schema_errors(yaml.safe_load(text)), text


# ---------------------------------------------------------------- the spec: agreement, field by field

PROBES: list[Any] = [None, True, False, 0, 1, -1, 2.5, "", " ", "x", "PASS", "medium", "1g",
                     "30d", [], ["x"], ["tests"], {}, {"x": 1}]  # fmt: skip

# Where the schema accepts what the parser refuses: what no JSON Schema can know.
WEAKER = {
    ("limits.timeout", 1),  # below functional.timeout's default (300): one field against another
    ("licence.allowed", ("x",)),  # not on the SPDX list
    ("quality.rules", ("x",)),  # not one of ruff's stable rules
    ("quality.rules", ("tests",)),
    ("licence.allowed", ("tests",)),
    # no such folder beside the spec (`x` and `tests` are)
    *(("functional.hidden_tests", name) for name in ("PASS", "medium", "1g", "30d")),
}


def _leaves(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for key, entry in schema.get("properties", {}).items():
        dotted = f"{path}.{key}" if path else key
        if "properties" in entry:
            yield from _leaves(entry, dotted)
        else:
            yield dotted, entry


def _document(dotted: str, value: object) -> dict[str, Any]:
    document: dict[str, Any] = {"version": 1, "title": "Demo"}
    target = document
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = copy.deepcopy(value)
    return document


def _parses(document: object, base: Path) -> Spec | None:
    try:
        return parse_spec(yaml.safe_dump(document), base)
    except SpecError:
        return None


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@pytest.fixture
def spec_folder(tmp_path: Path) -> Path:
    """A spec's folder where `x` and `tests` are folders of hidden tests."""
    for name in ("x", "tests"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "test_it.py").write_text("def test_it():\n    pass\n", "utf-8")
    return tmp_path


def test_the_schema_and_the_parser_agree_on_every_field_probed(spec_folder: Path) -> None:
    validator = jsonschema.Draft202012Validator(spec_schema.spec_schema())
    disagreements = set()
    leaves = [(dotted, entry) for dotted, entry in _leaves(spec_schema.spec_schema())]
    assert len(leaves) > 30
    for dotted, _ in leaves:
        for value in PROBES:
            document = _document(dotted, value)
            by_parser = _parses(document, spec_folder) is not None
            by_schema = validator.is_valid(document)
            assert by_schema or not by_parser, f"the schema refuses a valid {dotted}: {value!r}"
            if by_schema != by_parser:
                disagreements.add((dotted, _hashable(value)))
    assert disagreements == WEAKER


def test_every_default_the_schema_states_is_what_the_parser_assumes(spec_folder: Path) -> None:
    def without_hashes(parsed: Spec | None) -> dict[str, Any]:
        assert parsed is not None
        return {**dataclasses.asdict(parsed), "sha256": None}

    stated = [(d, e["default"]) for d, e in _leaves(spec_schema.spec_schema()) if "default" in e]
    assert len(stated) > 25
    for dotted, default in stated:
        written = _parses(_document(dotted, default), spec_folder)
        section = dotted.rpartition(".")[0]
        # the same section, present but without the key (a switchable check is then on)
        omitted = _parses(_document(section, {}) if section else _document("title", "Demo"),
                          spec_folder)  # fmt: skip
        if section == "accessibility":  # on, the check needs a page: the same one in both
            written = _parses(_with_page(_document(dotted, default)), spec_folder)
            omitted = _parses(_with_page(_document(section, {})), spec_folder)
        assert without_hashes(written) == without_hashes(omitted), dotted


def _with_page(document: dict[str, Any]) -> dict[str, Any]:
    document["accessibility"].setdefault("pages", ["index.html"])
    return document


_COMPANIONS = {
    "limits.timeout": {"functional": {"timeout": 1}},
    "functional.timeout": {"limits": {"timeout": MAX_TIMEOUT}},
    "functional.test_timeout": {
        "functional": {"timeout": MAX_TIMEOUT}, "limits": {"timeout": MAX_TIMEOUT},
    },
    # serve needs all three keys: the port's bounds are probed beside a command and a path
    "accessibility.serve.port": {"accessibility": {"serve": {"command": "x", "paths": ["/"]}}},
    "accessibility.serve.wait": {
        "accessibility": {"serve": {"command": "x", "port": 8000, "paths": ["/"]}}
    },
}  # fmt: skip


def test_every_bound_the_schema_states_is_the_parsers(spec_folder: Path) -> None:
    bounded = 0
    for dotted, entry in _leaves(spec_schema.spec_schema()):
        for keyword, inside, outside in (("minimum", 0, -1), ("maximum", 0, 1),
                                         ("exclusiveMinimum", 0.001, 0)):  # fmt: skip
            if keyword not in entry:
                continue
            bounded += 1
            for offset, accepted in ((inside, True), (outside, False)):
                value = entry[keyword] + offset
                document = _document(dotted, value)
                for section, keys in _COMPANIONS.get(dotted, {}).items():
                    for key, value_there in keys.items():
                        if isinstance(value_there, dict):  # a nested section: merged
                            document.setdefault(section, {}).setdefault(key, {}).update(value_there)
                        elif f"{section}.{key}" != dotted:
                            document.setdefault(section, {})[key] = value_there
                parsed = _parses(document, spec_folder) is not None
                assert parsed is accepted, f"{dotted} = {value}: parser says {parsed}"
    assert bounded >= 20


# A valid spec's field values, and values of every wrong kind.
_VALUES = st.sampled_from(PROBES + ["fail", "Names", " messages ", "high", "LOW", "512m",
                                    "1.5GiB", 64, 600, 1024**3, "2w", "12h", ["MIT"], ["E", "F"],
                                    ["tests/test_a.py::test_b"], "default", "any", "off"])  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_schema_never_refuses_a_spec_the_parser_accepts(spec_folder: Path, data: Any) -> None:
    leaves = [dotted for dotted, _ in _leaves(spec_schema.spec_schema())]
    chosen = data.draw(st.lists(st.sampled_from(leaves), max_size=6, unique=True))
    document: dict[str, Any] = {"version": 1, "title": "Demo"}
    for dotted in chosen:
        target = document
        *parents, last = dotted.split(".")
        for part in parents:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[last] = data.draw(_VALUES)
    if _parses(document, spec_folder) is not None:
        assert schema_errors(document) == [], document


# ---------------------------------------------------------------- the report predicate


def _report(**extra: Any) -> ReportInput:
    import datetime as dt

    started = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
    return ReportInput(
        source_url="https://example.org/supplier/project",
        ref="main",
        spec={},
        started=started,
        finished=started + dt.timedelta(seconds=3),
        **extra,
    )


def test_the_report_schema_holds_the_reports_made_when_nothing_could_be_judged() -> None:
    spec_unusable = build_statement(_report(
        reasons=[Reason("SPEC_UNUSABLE", "the spec cannot be used")], platform_failed=True,
        run={"id": "r1", "opportunity": "o1", "submission": "s1", "supplier": "Supplier Ltd",
             "spec_version": 1, "trigger": "webhook", "delivery_id": None, "supersedes": None,
             "attempt": 1},
    ))  # fmt: skip
    assert list(predicate_validator().iter_errors(spec_unusable["predicate"])) == []


def test_the_report_schema_refuses_what_a_report_never_holds() -> None:
    predicate = build_statement(_report(reasons=[Reason("SOURCE_UNUSABLE", "no such repo")]))[
        "predicate"
    ]
    assert predicate_validator().is_valid(predicate)
    for change in (
        {"verdict": "maybe"},
        {"reason_codes": ["NOT_A_REGISTERED_CODE"]},
        {"surprise": 1},
        {"started": "yesterday"},
        {"checks": [{"id": "x", "kind": "x", "status": "great", "summary": ""}]},
        {"artifacts": {"a.txt": {"sha256": "abc", "size": 1}}},
    ):
        assert not predicate_validator().is_valid({**predicate, **change}), change
    missing = dict(predicate)
    del missing["verdict"]
    assert not predicate_validator().is_valid(missing)


# ---------------------------------------------------------------- served at /api/v1/schemas/


@pytest.fixture
def client(tmp_path: Path) -> Any:
    from tests.web.test_api import Env

    return Env(tmp_path).client


@pytest.mark.parametrize("name", list(schemas.SCHEMAS))
def test_each_schema_is_served_publicly_with_an_etag(client: Any, name: str) -> None:
    reply = client.get(f"/api/v1/schemas/{name}.json")  # no token
    assert reply.status_code == 200
    assert reply.mimetype == "application/schema+json"
    assert reply.data == (DOCS / schemas.file_name(name)).read_bytes()
    assert "public" in reply.headers["Cache-Control"] and reply.headers["ETag"]
    again = client.get(
        f"/api/v1/schemas/{name}.json", headers={"If-None-Match": reply.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""


def test_an_unknown_schema_is_a_json_404(client: Any) -> None:
    reply = client.get("/api/v1/schemas/nothing.json")
    assert reply.status_code == 404
    assert reply.get_json()["error"] == "not_found"
    assert "acceptance-spec" in reply.get_json()["detail"]


def test_the_openapi_document_describes_the_schemas_route(client: Any) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    route = document["paths"]["/api/v1/schemas/{name}.json"]["get"]
    assert route["security"] == []
    assert route["parameters"][0]["schema"]["enum"] == list(schemas.SCHEMAS)


@pytest.mark.docker
@pytest.mark.usefixtures("cli_env")
def test_a_real_report_on_the_example_project_holds_to_the_report_schema(
    make_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import check

    project = ROOT / "examples" / "contact-form"
    files = {
        str(path.relative_to(project)): path.read_text("utf-8")
        for path in sorted(project.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    spec = ROOT / "examples" / "specs" / "contact-form" / "acceptance.yaml"
    _, statement = check(str(make_repo(files)), spec, capsys=capsys)
    predicate = statement["predicate"]
    assert [c["id"] for c in predicate["checks"]][:4] == [
        "functional", "sast", "dependencies", "licence",
    ]  # fmt: skip
    assert list(predicate_validator().iter_errors(predicate)) == []
    # What the service adds to a reused verdict holds too.
    reused = {**predicate, "reused_from": {"run_id": "r1", "commit": "a" * 40,
                                           "report_sha256": "b" * 64}}  # fmt: skip
    assert list(predicate_validator().iter_errors(reused)) == []
