"""Each decision as a signed SLSA Verification Summary Attestation v1: served by the API,
parsed strictly into the in-toto-attestation package's VSA v1 message, signed by the signer
service only as the database recorded it, and read by `acceptance verify`."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import ParseDict
from in_toto_attestation.predicates.vsa.v1.vsa_pb2 import VerificationSummary

from acceptance.cli import main
from acceptance.engine.report import serialize
from acceptance.engine.signing import load_public_key, verify_envelope
from acceptance.service.vsa import PREDICATE_TYPE, resource_uri, verified_levels
from tests.service.test_decisions import OVERRIDE_REASON, REPO, Env, _with
from workers.signer import Signer, SigningRefused

#: the fields this service always writes (SLSA VSA v1's required ones, inputAttestations and slsaVersion)
WRITTEN = {
    "verifier", "timeVerified", "resourceUri", "policy", "inputAttestations",
    "verificationResult", "verifiedLevels", "slsaVersion",
}  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    yield Env(tmp_path, database_url)


def strict_predicate(predicate: dict[str, Any]) -> VerificationSummary:
    """The predicate as the package's message, no unknown field; verifiedLevels checked apart.

    The package types verifiedLevels as one string; the SLSA specification (followed here)
    as a list of strings.
    """
    assert set(predicate) == WRITTEN, set(predicate) ^ WRITTEN
    rest = dict(predicate)
    levels = rest.pop("verifiedLevels")
    assert isinstance(levels, list) and levels and all(isinstance(v, str) for v in levels)
    assert not any(v.startswith("SLSA_") for v in levels)  # reserved by the specification
    message = ParseDict(rest, VerificationSummary(), ignore_unknown_fields=False)
    for field in ("verifier", "time_verified", "policy"):
        assert message.HasField(field), field
    assert message.verifier.id and message.resource_uri and message.policy.uri
    assert message.verification_result in ("PASSED", "FAILED")
    assert len(message.input_attestations) == 1
    return message


def fetch_vsa(env: Env, decision_id: str, who: str = "owner") -> tuple[bytes, dict[str, Any]]:
    reply = env.client.get(f"/api/v1/decisions/{decision_id}/vsa", headers=env.auth(who))
    assert reply.status_code == 200, reply.get_json()
    verified = verify_envelope(reply.get_json(), [load_public_key(env.settings.public_key)])
    return reply.data, json.loads(verified.payload)


def spec_of(env: Env, run_id: str) -> dict[str, Any]:
    run = env.client.get(f"/api/v1/runs/{run_id}", headers=env.auth()).get_json()
    opportunity = env.client.get(
        f"/api/v1/opportunities/{run['opportunity']}", headers=env.auth()
    ).get_json()
    return dict(opportunity)


# ---------------------------------------------------------------- the API


def test_an_acceptance_is_a_passed_vsa_on_the_commit_the_spec_and_the_report(env: Env) -> None:
    commit = "a" * 40
    run = env.run(env.submission(), commit)
    decision = env.decide(run, "accepted").get_json()
    assert decision["vsa_url"].endswith(f"/api/v1/decisions/{decision['id']}/vsa")
    data, statement = fetch_vsa(env, decision["id"], who="reviewer")

    assert (
        statement["predicateType"] == PREDICATE_TYPE == "https://slsa.dev/verification_summary/v1"
    )
    assert statement["subject"] == [{"name": REPO, "digest": {"gitCommit": commit}}]
    predicate = statement["predicate"]
    message = strict_predicate(predicate)
    assert message.verification_result == "PASSED"
    assert predicate["verifiedLevels"] == ["ACCEPTANCE_ACCEPTED", "ACCEPTANCE_VERDICT_ACCEPTED"]
    assert message.verifier.id == "http://localhost"
    assert message.resource_uri == f"git+{REPO}@{commit}"
    assert predicate["timeVerified"] == decision["decided_at"].replace("+00:00", "Z")
    assert message.slsa_version == "1.0"

    (link,) = predicate["inputAttestations"]
    assert link == {
        "uri": f"http://localhost/api/v1/runs/{run}/report",
        "digest": {"sha256": decision["report_sha256"]},
    }
    report = env.client.get(link["uri"].removeprefix("http://localhost"), headers=env.auth()).data
    assert hashlib.sha256(report).hexdigest() == decision["report_sha256"]

    opportunity = spec_of(env, run)
    (spec,) = opportunity["specs"]
    assert predicate["policy"] == {
        "uri": f"http://localhost/api/v1/opportunities/{opportunity['id']}/specs/1",
        "digest": {"sha256": spec["spec_sha256"]},
    }
    served = env.client.get(
        predicate["policy"]["uri"].removeprefix("http://localhost"), headers=env.auth()
    )
    assert served.status_code == 200 and b"Contact form" in served.data

    again, _ = fetch_vsa(env, decision["id"])
    assert again == data  # the same bytes each time: its digest can be filed


@pytest.mark.parametrize(
    ("verdict", "decision", "reason", "result", "levels"),
    [
        ("accepted", "changes_requested", "Please add the export button.", "FAILED",
         ["FAILED", "ACCEPTANCE_CHANGES_REQUESTED", "ACCEPTANCE_VERDICT_ACCEPTED"]),
        ("rejected", "rejected", "Two tests fail.", "FAILED",
         ["FAILED", "ACCEPTANCE_REJECTED", "ACCEPTANCE_VERDICT_REJECTED"]),
        ("error", "accepted", OVERRIDE_REASON, "PASSED",
         ["ACCEPTANCE_ACCEPTED", "ACCEPTANCE_VERDICT_ERROR"]),
    ],
)  # fmt: skip
def test_only_an_acceptance_passes_and_the_levels_say_what_was_decided_on_which_verdict(
    env: Env, verdict: str, decision: str, reason: str, result: str, levels: list[str]
) -> None:
    run = env.run(env.submission(), "b" * 40, verdict=verdict)
    body = env.decide(run, decision, reason).get_json()
    _, statement = fetch_vsa(env, body["id"])
    assert strict_predicate(statement["predicate"]).verification_result == result
    assert statement["predicate"]["verifiedLevels"] == levels


def test_the_vsa_is_read_like_the_decision(env: Env) -> None:
    run = env.run(env.submission(), "c" * 40)
    body = env.decide(run, "accepted").get_json()
    assert (
        env.client.get(f"/api/v1/decisions/{body['id']}/vsa", headers=env.auth("other")).status_code
        == 404
    )
    assert env.client.get(f"/api/v1/decisions/{body['id']}/vsa").status_code == 401
    assert env.client.get("/api/v1/decisions/nope/vsa", headers=env.auth()).status_code == 404


def test_the_vsa_names_the_public_url_as_its_verifier(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = env.app.extensions["acceptance"]
    monkeypatch.setattr(
        services, "settings", _with(services.settings, public_url="https://acceptance.example.org")
    )
    run = env.run(env.submission(), "d" * 40)
    body = env.decide(run, "accepted").get_json()
    _, statement = fetch_vsa(env, body["id"])
    predicate = statement["predicate"]
    assert predicate["verifier"] == {"id": "https://acceptance.example.org"}
    assert (
        predicate["inputAttestations"][0]["uri"]
        == f"https://acceptance.example.org/api/v1/runs/{run}/report"
    )
    assert predicate["policy"]["uri"].startswith(
        "https://acceptance.example.org/api/v1/opportunities/"
    )


# ---------------------------------------------------------------- the signer service


def _encoded(statement: dict[str, Any]) -> str:
    return base64.standard_b64encode(serialize(statement)).decode()


def _tampered(statement: dict[str, Any], change: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(statement))
    change(copy["predicate"])
    return dict(copy)


def test_the_signer_signs_a_vsa_only_as_the_database_recorded_it(env: Env) -> None:
    run = env.run(env.submission(), "e" * 40, verdict="rejected")
    body = env.decide(run, "rejected", "Two tests fail.").get_json()
    _, statement = fetch_vsa(env, body["id"])
    signer = Signer(env.db, env.key)
    answer = signer.sign(body["id"], 0, _encoded(statement))
    assert (
        json.loads(
            verify_envelope(answer["envelope"], [load_public_key(env.settings.public_key)]).payload
        )
        == statement
    )
    # Another public URL is accepted when every URI follows it (the signer does not know the URL).
    elsewhere = json.loads(
        serialize(statement).decode().replace("http://localhost", "https://acceptance.example.org")
    )
    signer.sign(body["id"], 0, _encoded(elsewhere))

    lies = {
        "passed": lambda p: p.update(verificationResult="PASSED"),
        "levels": lambda p: p.update(verifiedLevels=["ACCEPTANCE_ACCEPTED"]),
        "report": lambda p: p["inputAttestations"][0]["digest"].update(sha256="0" * 64),
        "report elsewhere": lambda p: p["inputAttestations"][0].update(
            uri="https://evil.example/report"
        ),
        "spec": lambda p: p["policy"]["digest"].update(sha256="0" * 64),
        "time": lambda p: p.update(timeVerified="2020-01-01T00:00:00.000000Z"),
        "extra field": lambda p: p.update(dependencyLevels={"ACCEPTANCE_ACCEPTED": 3}),
    }
    for change in lies.values():
        with pytest.raises(SigningRefused, match="does not say what decision"):
            signer.sign(body["id"], 0, _encoded(_tampered(statement, change)))
    for verifier in ("ftp://localhost", "http://localhost/", "http://localhost?x=1", "localhost"):
        with pytest.raises(SigningRefused, match="verifier.id"):
            signer.sign(
                body["id"],
                0,
                _encoded(_tampered(statement, lambda p, v=verifier: p.update(verifier={"id": v}))),
            )
    with pytest.raises(SigningRefused, match="does not exist"):
        signer.sign("f" * 32, 0, _encoded(statement))


def test_with_a_queue_signer_the_vsa_is_signed_by_the_signer_service(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    class Celery:  # the broker, answered by the real Signer as `acceptance signer` would
        def send_task(self, name: str, args: list[Any], **options: Any) -> Any:
            asked.append(args[0])
            answer = Signer(env.db, env.key).sign(*args)

            class Result:
                def get(self, **kw: Any) -> dict[str, Any]:
                    return answer

                def forget(self) -> None:
                    pass

            return Result()

    run = env.run(env.submission(), "f" * 40)
    body = env.decide(run, "accepted").get_json()  # signed locally
    services = env.app.extensions["acceptance"]
    monkeypatch.setattr(services, "celery", Celery())
    monkeypatch.setattr(services, "settings", _with(services.settings, signer="queue"))
    _, statement = fetch_vsa(env, body["id"])
    assert asked == [body["id"]] and statement["predicate"]["verificationResult"] == "PASSED"


def test_the_vsa_answers_503_while_the_signer_is_down(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DownBroker:
        def send_task(self, *args: Any, **options: Any) -> Any:
            raise ConnectionError("broker down")

    run = env.run(env.submission(), "1a" * 20)
    body = env.decide(run, "accepted").get_json()
    services = env.app.extensions["acceptance"]
    monkeypatch.setattr(services, "celery", DownBroker())
    monkeypatch.setattr(
        services, "settings", _with(services.settings, signer="queue", sign_timeout=0.1)
    )
    reply = env.client.get(f"/api/v1/decisions/{body['id']}/vsa", headers=env.auth())
    assert reply.status_code == 503 and reply.get_json()["error"] == "unavailable"


# ---------------------------------------------------------------- acceptance verify


def test_acceptance_verify_reads_a_vsa(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submission = env.submission()
    accepted = env.run(submission, "2b" * 20)
    body = env.decide(accepted, "changes_requested", "Please add the export button.").get_json()
    vsa = tmp_path / "vsa.dsse.json"
    vsa.write_bytes(env.client.get(body["vsa_url"], headers=env.auth()).data)
    report = tmp_path / "report.dsse.json"
    report.write_bytes(env.client.get(f"/api/v1/runs/{accepted}/report", headers=env.auth()).data)
    pub = ["--pubkey", str(env.settings.public_key)]

    assert main(["verify", str(vsa), *pub]) == 0  # a FAILED result is still an intact signature
    out = capsys.readouterr().out
    assert (
        "Result:   FAILED" in out
        and "ACCEPTANCE_CHANGES_REQUESTED" in out
        and f"git+{REPO}@" in out
    )
    assert main(["verify", str(vsa), *pub, "--with-report", str(report)]) == 0
    assert "is the report this decision rests on" in capsys.readouterr().out

    passed = env.decide(accepted, "accepted").get_json()
    vsa.write_bytes(env.client.get(passed["vsa_url"], headers=env.auth()).data)
    assert main(["verify", str(vsa), *pub]) == 0
    assert "Result:   PASSED" in capsys.readouterr().out

    other = tmp_path / "other.dsse.json"
    other.write_bytes(
        env.client.get(
            f"/api/v1/runs/{env.run(env.submission(), '3c' * 20)}/report", headers=env.auth()
        ).data
    )
    assert main(["verify", str(vsa), *pub, "--with-report", str(other)]) == 1

    envelope = json.loads(vsa.read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["verificationResult"] = "FAILED"
    envelope["payload"] = base64.standard_b64encode(serialize(statement)).decode()
    forged = tmp_path / "forged.dsse.json"
    forged.write_text(json.dumps(envelope))
    assert main(["verify", str(forged), *pub]) == 1
    assert "FAILED" in capsys.readouterr().err

    unreadable = tmp_path / "unreadable.dsse.json"
    unreadable.write_text("not json")
    assert main(["verify", str(unreadable), *pub]) == 2


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("url", "commit", "expected"),
    [
        ("https://github.com/o/r", "c" * 40, "git+https://github.com/o/r@" + "c" * 40),
        ("https://github.com/o/r.git", None, "git+https://github.com/o/r.git"),
        ("git+https://example.org/r", "1" * 40, "git+https://example.org/r@" + "1" * 40),
        ("git://example.org/r", "1" * 40, "git://example.org/r@" + "1" * 40),
    ],
)
def test_resource_uri_is_a_git_location(url: str, commit: str | None, expected: str) -> None:
    assert resource_uri(url, commit) == expected


def test_levels_never_use_the_reserved_prefix_and_fail_unless_accepted() -> None:
    for decision in ("accepted", "changes_requested", "rejected"):
        for verdict in ("accepted", "rejected", "error", None):
            levels = verified_levels(decision, verdict)
            assert not any(v.startswith("SLSA_") for v in levels)
            assert (levels[0] == "FAILED") is (decision != "accepted")
