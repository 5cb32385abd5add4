"""Run-to-run comparison: the pure diff of two report predicates (hand-made, in the shape the
checks write), and `GET /api/v1/runs/<id>/compare/<other>` on a real PostgreSQL database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance.engine.compare import compare_reports, fingerprint
from acceptance.engine.report import PREDICATE_TYPE, STATEMENT_TYPE, serialize
from acceptance.engine.signing import sign_envelope
from acceptance.service.models import Submission
from acceptance.service.runs import create_run
from tests.service.test_decisions import REPO, Env


def functional(
    results: dict[str, str], hidden: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    check: dict[str, Any] = {
        "id": "functional", "kind": "functional", "status": "passed", "summary": "",
        "results": [{"id": k, "outcome": v, "duration": 0.1} for k, v in results.items()],
        "results_truncated": False, **extra,
    }  # fmt: skip
    if hidden is not None:
        check["hidden"] = {"results": [{"id": k, "outcome": v} for k, v in hidden.items()]}
    return check


def finding(rule: str, file: str, line: int, text: str, severity: str = "MEDIUM") -> dict[str, Any]:
    return {
        "test_id": rule, "test_name": "x", "severity": severity, "confidence": "HIGH",
        "filename": file, "line": line, "text": text, "cwe": None, "suppressed": False,
        "more_info": None, "blocking": severity == "HIGH",
    }  # fmt: skip


def sast(*findings: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "sast",
        "kind": "sast",
        "status": "passed",
        "summary": "",
        "findings": list(findings),
    }


def vuln(package: str, version: str, advisory: str) -> dict[str, Any]:
    return {"package": package, "version": version, "id": advisory, "aliases": [f"CVE-{advisory}"],
            "fix_versions": ["9.9"], "ignored": False}  # fmt: skip


def dependencies(*vulns: dict[str, Any]) -> dict[str, Any]:
    return {"id": "dependencies", "kind": "dependencies", "status": "passed", "summary": "",
            "vulnerabilities": list(vulns)}  # fmt: skip


def licence(project: str | None, deps: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": "licence", "kind": "licence", "status": "passed", "summary": "",
        "licence": {"spdx": project, "source_file": "LICENSE", "allowed": True, "score": 99.0},
        "dependencies": [{"name": n, "version": v, "licence": lic, "compatible": True} for n, (v, lic) in deps.items()],
    }  # fmt: skip


def predicate(verdict: str, *checks: dict[str, Any]) -> dict[str, Any]:
    return {"verdict": verdict, "checks": list(checks)}


# ---------------------------------------------------------------- the pure diff


def test_tests_newly_failing_newly_passing_added_and_removed_by_id() -> None:
    before = predicate(
        "accepted",
        functional({"t::a": "passed", "t::b": "failed", "t::c": "passed", "t::gone": "passed"}),
    )
    after = predicate(
        "rejected",
        functional({"t::a": "error", "t::b": "passed", "t::c": "passed", "t::new": "failed"}),
    )
    diff = compare_reports(before, after)
    assert (diff.verdict_before, diff.verdict_after, diff.verdict_changed()) == (
        "accepted",
        "rejected",
        True,
    )
    assert [(c.id, c.before, c.after) for c in diff.tests.newly_failing] == [
        ("t::a", "passed", "error")
    ]
    assert [(c.id, c.before, c.after) for c in diff.tests.newly_passing] == [
        ("t::b", "failed", "passed")
    ]
    assert [(c.id, c.after) for c in diff.tests.added] == [("t::new", "failed")]
    assert [(c.id, c.before) for c in diff.tests.removed] == [("t::gone", "passed")]
    assert not diff.tests.truncated and not diff.tests.unavailable


def test_no_change_is_an_empty_diff() -> None:
    same = predicate(
        "accepted", functional({"t::a": "passed"}), sast(finding("B101", "app.py", 3, "Use of assert")),
        dependencies(vuln("jinja2", "2.0", "PYSEC-1")), licence("MIT", {"click": ("8.0", "BSD-3-Clause")}),
    )  # fmt: skip
    diff = compare_reports(same, json.loads(json.dumps(same)))
    assert not diff.verdict_changed() and not diff.tests.changed() and diff.checks == []
    assert diff.sast.new == diff.sast.fixed == []
    assert diff.vulnerabilities.new == diff.vulnerabilities.fixed == []
    assert not diff.licences.project_changed() and diff.licences.dependencies == []


def test_hidden_tests_are_compared_apart_and_only_counted_for_reviewers() -> None:
    before = predicate(
        "accepted",
        functional({"t::a": "passed"}, hidden={"hidden/test_x.py::test_owner": "passed"}),
    )
    after = predicate(
        "rejected",
        functional({"t::a": "passed"}, hidden={"hidden/test_x.py::test_owner": "failed"}),
    )
    diff = compare_reports(before, after)
    assert not diff.tests.changed()
    assert [c.id for c in diff.hidden_tests.newly_failing] == ["hidden/test_x.py::test_owner"]
    owner = diff.to_json(hidden_ids=True)
    assert owner["hidden_tests"]["newly_failing"][0]["id"] == "hidden/test_x.py::test_owner"
    reviewer = diff.to_json(hidden_ids=False)
    assert reviewer["hidden_tests"]["newly_failing"] == 1 and "test_owner" not in json.dumps(
        reviewer
    )


def test_a_finding_that_moved_lines_is_neither_new_nor_fixed() -> None:
    before = predicate("accepted", sast(
        finding("B101", "app.py", 10, "Use of assert detected."),
        finding("B602", "run.py", 4, "subprocess call with shell=True", "HIGH"),
    ))  # fmt: skip
    after = predicate("rejected", sast(
        finding("B101", "app.py", 42, "Use of  assert\ndetected."),  # moved, reflowed
        finding("B101", "app.py", 50, "Use of assert detected."),  # a second one: new
        finding("B303", "app.py", 7, "Use of insecure MD5 hash function.", "HIGH"),
    ))  # fmt: skip
    diff = compare_reports(before, after)
    assert [(f.rule, f.file, f.count, f.lines) for f in diff.sast.new] == [
        ("B101", "app.py", 1, [42, 50]),
        ("B303", "app.py", 1, [7]),
    ]
    assert diff.sast.new[1].blocking and diff.sast.new[1].severity == "HIGH"
    assert diff.sast.new[1].fingerprint == fingerprint(
        "B303", "app.py", "Use of insecure MD5 hash function."
    )
    assert [(f.rule, f.file, f.lines) for f in diff.sast.fixed] == [("B602", "run.py", [4])]
    # The same message in another file is another finding.
    assert fingerprint("B101", "app.py", "Use of assert") != fingerprint(
        "B101", "lib.py", "Use of assert"
    )


def test_vulnerabilities_new_and_fixed_by_package_version_and_advisory() -> None:
    before = predicate(
        "rejected",
        dependencies(vuln("Jinja2", "2.0", "PYSEC-1"), vuln("requests", "2.0", "GHSA-x")),
    )
    after = predicate("rejected", dependencies(vuln("jinja2", "2.0", "PYSEC-1"), vuln("requests", "2.1", "GHSA-x"),
                                              vuln("urllib3", "1.0", "PYSEC-2")))  # fmt: skip
    diff = compare_reports(before, after)
    assert [(v.package, v.version, v.id) for v in diff.vulnerabilities.new] == [
        ("requests", "2.1", "GHSA-x"),
        ("urllib3", "1.0", "PYSEC-2"),
    ]
    assert [(v.package, v.version, v.id) for v in diff.vulnerabilities.fixed] == [
        ("requests", "2.0", "GHSA-x")
    ]
    assert diff.vulnerabilities.new[1].aliases == ["CVE-PYSEC-2"]


def test_licence_changes_of_the_project_and_its_dependencies() -> None:
    before = predicate("accepted", licence("MIT", {"click": ("8.0", "BSD-3-Clause"), "old_lib": ("1.0", "MIT"),
                                                   "six": ("1.0", "MIT")}))  # fmt: skip
    after = predicate("rejected", licence("GPL-3.0-only", {"Click": ("8.1", "BSD-3-Clause"), "six": ("1.1", "GPL-2.0"),
                                                          "new-lib": ("2.0", "Apache-2.0")}))  # fmt: skip
    diff = compare_reports(before, after)
    assert (diff.licences.project_before, diff.licences.project_after) == ("MIT", "GPL-3.0-only")
    assert [(d.name, d.before, d.after) for d in diff.licences.dependencies] == [
        ("new-lib", None, "Apache-2.0"),
        ("old_lib", "MIT", None),
        ("six", "MIT", "GPL-2.0"),
    ]  # click: a new version under the same licence is no change
    assert (
        diff.licences.dependencies[2].version_before == "1.0"
        and diff.licences.dependencies[2].version_after == "1.1"
    )


def test_a_check_that_did_not_run_is_unavailable_not_empty() -> None:
    before = predicate("error", {"id": "functional", "status": "error", "summary": "no results"})
    after = predicate(
        "accepted", functional({"t::a": "passed"}), sast(), dependencies(), licence("MIT", {})
    )
    diff = compare_reports(before, after)
    assert diff.tests.unavailable and diff.sast.unavailable and diff.vulnerabilities.unavailable
    assert not diff.licences.unavailable and diff.licences.project_before is None
    assert [(c.id, c.before, c.after) for c in diff.checks] == [
        ("dependencies", None, "passed"), ("functional", "error", "passed"),
        ("licence", None, "passed"), ("sast", None, "passed"),
    ]  # fmt: skip


def test_a_truncated_list_is_said() -> None:
    before = predicate("accepted", functional({"t::a": "passed"}, results_truncated=True))
    assert compare_reports(before, predicate("accepted", functional({}))).tests.truncated


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["id", "checks", "results", "outcome", "findings", "test_id", "filename", "text", "line",
         "vulnerabilities", "package", "version", "licence", "dependencies", "name", "spdx", "hidden",
         "verdict", "status"]), inner, max_size=6),
    max_leaves=30,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["verdict", "checks"]), _json),
    st.dictionaries(st.sampled_from(["verdict", "checks"]), _json),
)
def test_any_predicates_compare_without_raising(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    json.dumps(compare_reports(before, after).to_json(hidden_ids=False))


# ---------------------------------------------------------------- the API


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    yield Env(tmp_path, database_url)


def signed_run(
    env: Env, submission_id: str, commit: str, body: dict[str, Any] | None, status: str = "finished"
) -> str:
    """A run ended with a signed report whose predicate is `body` (None: no report yet)."""
    with env.db.session() as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        run, _ = create_run(session, submission, trigger="webhook", ref="main", commit=commit)
        run.status = status
        if body is not None:
            run.verdict = body["verdict"]
            statement = {"_type": STATEMENT_TYPE, "subject": [{"name": REPO, "digest": {"gitCommit": commit}}],
                         "predicateType": PREDICATE_TYPE, "predicate": body}  # fmt: skip
            envelope = json.dumps(sign_envelope(serialize(statement), env.key)).encode()
            run.report_sha256 = env.app.extensions["acceptance"].store.put(envelope)
        session.flush()
        return run.id


BEFORE = predicate(
    "accepted",
    functional({"t::a": "passed", "t::b": "passed"}, hidden={"hidden/test_h.py::test_h": "passed"}),
    sast(), dependencies(), licence("MIT", {}),
)  # fmt: skip
AFTER = predicate(
    "rejected",
    functional({"t::a": "failed", "t::c": "passed"}, hidden={"hidden/test_h.py::test_h": "failed"}),
    sast(finding("B602", "run.py", 4, "subprocess call with shell=True", "HIGH")),
    dependencies(vuln("urllib3", "1.0", "PYSEC-2")), licence("MIT", {"six": ("1.0", "GPL-2.0")}),
)  # fmt: skip


def test_the_api_says_what_changed_since_the_earlier_run(env: Env) -> None:
    submission = env.submission()
    first = signed_run(env, submission, "1" * 40, BEFORE)
    second = signed_run(env, submission, "2" * 40, AFTER)
    reply = env.client.get(f"/api/v1/runs/{second}/compare/{first}", headers=env.auth())
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert (
        body["head"]["run_id"] == second
        and body["base"]["run_id"] == first
        and body["same_submission"] is True
    )
    assert body["head"]["signature_verified"] is True and body["head"]["commit"] == "2" * 40
    assert body["verdict"] == {"before": "accepted", "after": "rejected", "changed": True}
    assert [t["id"] for t in body["tests"]["newly_failing"]] == ["t::a"]
    assert [t["id"] for t in body["tests"]["added"]] == ["t::c"] and [
        t["id"] for t in body["tests"]["removed"]
    ] == ["t::b"]
    assert [t["id"] for t in body["hidden_tests"]["newly_failing"]] == ["hidden/test_h.py::test_h"]
    assert [(f["rule"], f["file"]) for f in body["sast"]["new"]] == [("B602", "run.py")]
    assert [(v["package"], v["version"], v["id"]) for v in body["vulnerabilities"]["new"]] == [
        ("urllib3", "1.0", "PYSEC-2")
    ]
    assert body["licences"]["dependencies"] == [
        {
            "name": "six",
            "before": None,
            "after": "GPL-2.0",
            "version_before": None,
            "version_after": "1.0",
        }
    ]
    # The other way round: fixed instead of new.
    back = env.client.get(f"/api/v1/runs/{first}/compare/{second}", headers=env.auth()).get_json()
    assert [f["rule"] for f in back["sast"]["fixed"]] == ["B602"] and back["sast"]["new"] == []
    assert [t["id"] for t in back["tests"]["newly_passing"]] == ["t::a"]


def test_reviewers_read_it_with_hidden_tests_counted_and_others_not_at_all(env: Env) -> None:
    submission = env.submission()
    first = signed_run(env, submission, "1" * 40, BEFORE)
    second = signed_run(env, submission, "2" * 40, AFTER)
    url = f"/api/v1/runs/{second}/compare/{first}"
    reviewer = env.client.get(url, headers=env.auth("reviewer"))
    assert reviewer.status_code == 200
    assert (
        reviewer.get_json()["hidden_tests"]["newly_failing"] == 1 and b"test_h" not in reviewer.data
    )
    assert env.client.get(url, headers=env.auth("admin")).get_json()["hidden_tests"][
        "newly_failing"
    ][0]["id"]
    assert env.client.get(url, headers=env.auth("other")).status_code == 404  # another owner's runs
    assert env.client.get(url).status_code == 401


def test_runs_of_another_opportunity_a_run_itself_or_without_report_are_refused(env: Env) -> None:
    submission = env.submission()
    first = signed_run(env, submission, "1" * 40, BEFORE)
    elsewhere = signed_run(
        env, env.submission(), "3" * 40, AFTER
    )  # env.submission() makes a new opportunity
    reply = env.client.get(f"/api/v1/runs/{elsewhere}/compare/{first}", headers=env.auth())
    assert reply.status_code == 422 and reply.get_json()["error"] == "invalid_input"
    assert "different opportunities" in reply.get_json()["detail"]
    itself = env.client.get(f"/api/v1/runs/{first}/compare/{first}", headers=env.auth())
    assert itself.status_code == 422 and "itself" in itself.get_json()["detail"]
    running = signed_run(env, submission, "4" * 40, None, status="running")
    pending = env.client.get(f"/api/v1/runs/{running}/compare/{first}", headers=env.auth())
    assert (
        pending.status_code == 409
        and f"run {running} has no report" in pending.get_json()["detail"]
    )
    assert (
        env.client.get(f"/api/v1/runs/nope/compare/{first}", headers=env.auth()).status_code == 404
    )


def test_runs_of_two_submissions_of_one_opportunity_compare(env: Env) -> None:
    submission = env.submission()
    with env.db.session() as session:
        found = session.get(Submission, submission)
        assert found is not None
        opportunity = found.opportunity_id
    reply = env.client.post(
        f"/api/v1/opportunities/{opportunity}/submissions",
        json={"repo_url": REPO + "-2", "supplier": "Other Ltd", "branch": "main"}, headers=env.auth(),
    )  # fmt: skip
    other = reply.get_json()["id"]
    first = signed_run(env, submission, "1" * 40, BEFORE)
    second = signed_run(env, other, "2" * 40, AFTER)
    body = env.client.get(f"/api/v1/runs/{second}/compare/{first}", headers=env.auth()).get_json()
    assert body["same_submission"] is False and body["verdict"]["changed"] is True
