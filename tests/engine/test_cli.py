"""The CLI contract without Docker: keygen, verify, bad input, help text."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from acceptance.cli import main
from acceptance.cli.common import clean
from acceptance.engine.report import PREDICATE_TYPE, STATEMENT_TYPE, serialize
from acceptance.engine.signing import load_private_key, sign_envelope


def signed_report(key_dir: Path, out: Path, statement: dict[str, object] | None = None) -> None:
    statement = statement or {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "repo", "digest": {"gitCommit": "a" * 40}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"verdict": "accepted", "spec": {"sha256": "0" * 64}},
    }
    envelope = sign_envelope(serialize(statement), load_private_key(key_dir / "signing.key"))
    out.write_text(json.dumps(envelope))


def test_keygen_writes_a_private_key_only_the_owner_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert stat.S_IMODE((tmp_path / "k" / "signing.key").stat().st_mode) == 0o600
    assert "key id: sha256:" in capsys.readouterr().out
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 2  # never overwrites


def test_verify_accepts_the_right_key_and_refuses_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["keygen", "--out", str(tmp_path / "a")])
    main(["keygen", "--out", str(tmp_path / "b")])
    report = tmp_path / "report.json"
    signed_report(tmp_path / "a", report)
    assert main(["verify", str(report), "--pubkey", str(tmp_path / "a" / "signing.pub")]) == 0
    assert "Verdict: accepted" in capsys.readouterr().out
    assert main(["verify", str(report), "--pubkey", str(tmp_path / "b" / "signing.pub")]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_verify_refuses_a_signed_payload_that_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["keygen", "--out", str(tmp_path / "a")])
    report = tmp_path / "report.json"
    signed_report(tmp_path / "a", report, {"_type": "something-else"})
    assert main(["verify", str(report), "--pubkey", str(tmp_path / "a" / "signing.pub")]) == 1


def test_verify_of_a_missing_file_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["keygen", "--out", str(tmp_path / "a")])
    code = main(
        ["verify", str(tmp_path / "nope.json"), "--pubkey", str(tmp_path / "a" / "signing.pub")]
    )
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_check_with_a_missing_spec_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path), "--spec", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            "functional: {hidden_tests: acceptance.yaml}\n",
            "'acceptance.yaml' is a file, not a folder",
        ),
        ('functional: {hidden_tests: "hid\\0den"}\n', "must not contain NUL characters"),
        ("licence: {allowed: [Apache2]}\n", "did you mean Apache-2.0?"),
        ("install: {requirements: [" + "a" * 5000 + "]}\n", "at most 4096 characters"),
    ],
)
def test_check_with_an_invalid_spec_field_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, says: str
) -> None:
    spec = tmp_path / "acceptance.yaml"
    spec.write_text("version: 1\ntitle: Demo\n" + body, encoding="utf-8")
    assert main(["check", str(tmp_path), "--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert len(err) < 2000


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "0 accepted, 1 rejected, 2 bad input" in capsys.readouterr().out


def test_terminal_output_strips_escape_sequences() -> None:
    assert clean("ok\x1b[31mred\x1b]8;;http://x\x07link\x1b]8;;\x07\x07") == "okredlink"


def test_service_commands_refuse_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path))
    assert main(["web", "--port", "1"]) == 3
    assert "acceptance db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_users_and_tokens_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path))
    assert main(["db", "upgrade"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "create", "Owner@Example.org", "--role", "owner"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "create", "b@example.org", "--role", "owner"]) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    assert main(["tokens", "create", "owner@example.org"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("acc_") and len(token) > 40
    assert main(["tokens", "create", "nobody@example.org"]) == 2


# ---------------------------------------------------------------- unmigrated database


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "create", "a@example.org", "--role", "owner"],
        ["users", "disable", "a@example.org"],
        ["tokens", "create", "a@example.org"],
        ["tokens", "list", "a@example.org"],
        ["tokens", "revoke", "--all", "a@example.org"],
        ["tokens", "revoke", "0" * 32],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_account_commands_on_a_database_never_migrated_say_to_upgrade(
    argv: list[str], database_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import io

    monkeypatch.setenv("ACCEPTANCE_DATABASE_URL", database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "has no tables yet" in err and "run `acceptance db upgrade`" in err
    assert "Traceback" not in err and "UndefinedTable" not in err


def test_a_database_behind_the_code_is_told_apart_from_an_empty_one(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from acceptance.service.db import upgrade

    upgrade(database_url, "0001")
    monkeypatch.setenv("ACCEPTANCE_DATABASE_URL", database_url)
    assert main(["tokens", "list", "a@example.org"]) == 3
    err = capsys.readouterr().err
    assert "is not at the newest schema" in err and "acceptance db upgrade" in err


def test_the_sessions_migration_keeps_existing_accounts_and_goes_both_ways(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from alembic import command
    from sqlalchemy import text

    from acceptance.service.db import Database, alembic_config, upgrade

    upgrade(database_url, "0001")
    db = Database(database_url)
    with db.engine.begin() as connection:  # an account and a token from before 0002
        connection.execute(text(
            "INSERT INTO users (id, email, role, password_hash, created_at) "
            "VALUES ('u1', 'old@example.org', 'owner', 'x', now());"
            "INSERT INTO api_tokens (id, user_id, token_sha256, created_at) "
            "VALUES ('t1', 'u1', repeat('a', 64), now())"
        ))  # fmt: skip
    upgrade(database_url)
    with db.engine.connect() as connection:
        user = connection.execute(text("SELECT disabled_at, session_generation FROM users")).one()
        token = connection.execute(text("SELECT expires_at, revoked_at FROM api_tokens")).one()
    assert tuple(user) == (None, 0) and tuple(token) == (None, None)
    monkeypatch.setenv("ACCEPTANCE_DATABASE_URL", database_url)
    assert main(["tokens", "list", "old@example.org"]) == 0
    assert re.search(r"^t1  active ", capsys.readouterr().out, re.M)

    command.downgrade(alembic_config(database_url), "0001")  # the downgrade works too
    assert not Database(database_url).is_current()
    upgrade(database_url)
    assert Database(database_url).is_current()


# ---------------------------------------------------------------- accounts and tokens


@pytest.fixture
def service_db(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:  # fmt: skip
    """A migrated PostgreSQL database with owner@example.org, created through the CLI."""
    import io

    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ACCEPTANCE_DATABASE_URL", database_url)
    assert main(["db", "upgrade"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "create", "owner@example.org", "--role", "owner"]) == 0
    capsys.readouterr()
    return database_url


def _api(database_url: str, tmp_path: Path) -> Any:
    """The real app on the same database, to see what a token is worth."""
    from acceptance.settings import load_settings
    from tests.support import Recorder
    from web.app import create_app

    settings = load_settings({
        "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url,
    })  # fmt: skip
    return create_app(settings, celery=Recorder()).test_client()


def _create_token(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[str, str, str]:
    """(token, id, stderr) of `tokens create owner@example.org`."""
    assert main(["tokens", "create", "owner@example.org", *extra]) == 0
    captured = capsys.readouterr()
    found = re.search(r"token id ([0-9a-f]{32})", captured.err)
    assert found, captured.err
    return captured.out.strip(), found.group(1), captured.err


def test_a_token_is_revoked_by_its_id_and_the_api_says_so(
    service_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token, token_id, err = _create_token(capsys)
    assert token.startswith("acc_") and "\n" not in token and "no expiry" in err
    api = _api(service_db, tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/opportunities", headers=headers).status_code == 200

    assert main(["tokens", "list", "owner@example.org"]) == 0
    listed = capsys.readouterr().out
    assert re.search(rf"^{token_id}  active .* last used \d{{4}}-", listed, re.M), listed

    assert main(["tokens", "revoke", token_id]) == 0
    assert f"revoked token {token_id} of owner@example.org" in capsys.readouterr().out
    reply = api.get("/api/v1/opportunities", headers=headers)
    assert reply.status_code == 401
    assert reply.get_json()["detail"] == "the token was revoked: ask an admin for a new one"
    assert main(["tokens", "list", "owner@example.org"]) == 0
    assert re.search(rf"^{token_id}  revoked .* revoked \d{{4}}-", capsys.readouterr().out, re.M)
    assert main(["tokens", "revoke", token_id]) == 0
    assert "already revoked" in capsys.readouterr().out


def test_revoke_all_ends_every_token_of_that_user_only(
    service_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert main(["users", "create", "other@example.org", "--role", "reviewer"]) == 0
    capsys.readouterr()
    first, first_id, _ = _create_token(capsys)
    second, second_id, _ = _create_token(capsys)
    assert main(["tokens", "create", "other@example.org"]) == 0
    other = capsys.readouterr().out.strip()

    assert main(["tokens", "revoke", "--all", "owner@example.org"]) == 0
    out = capsys.readouterr().out
    assert "revoked 2 token(s) of owner@example.org" in out
    assert first_id in out and second_id in out
    api = _api(service_db, tmp_path)
    for token in (first, second):
        assert (
            api.get(
                "/api/v1/opportunities", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 401
        )
    assert (
        api.get("/api/v1/opportunities", headers={"Authorization": f"Bearer {other}"}).status_code
        == 200
    )


def test_an_expired_token_is_refused_with_when_it_expired(
    service_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime as dt

    from sqlalchemy import update

    from acceptance.service.db import Database
    from acceptance.service.models import ApiToken

    token, token_id, err = _create_token(capsys, "--expires", "30d")
    expected = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%d")
    assert f"expires {expected}" in err
    api = _api(service_db, tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/opportunities", headers=headers).status_code == 200

    past = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    with Database(service_db).session() as session:
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(expires_at=past))
    reply = api.get("/api/v1/opportunities", headers=headers)
    assert reply.status_code == 401
    assert reply.get_json()["detail"] == (
        "the token expired at 2026-01-02T03:04:05+00:00: ask an admin for a new one"
    )
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="acceptance"'
    assert main(["tokens", "list", "owner@example.org"]) == 0
    assert re.search(
        rf"^{token_id}  expired .* expires 2026-01-02 03:04 UTC", capsys.readouterr().out, re.M
    )


@pytest.mark.parametrize("lifetime", ["30", "0d", "-1d", "1y", "d", "3651d", "1.5h"])
def test_a_token_lifetime_that_is_not_one_is_bad_input(
    lifetime: str, service_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "create", "owner@example.org", f"--expires={lifetime}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "error:" in captured.err
    assert main(["tokens", "list", "owner@example.org"]) == 0
    assert "has no API tokens" in capsys.readouterr().out


def test_revoking_an_unknown_token_names_the_way_to_find_ids(
    service_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "revoke", "f" * 32]) == 2
    assert "acceptance tokens list EMAIL" in capsys.readouterr().err
    assert main(["tokens", "revoke", "--all", "nobody@example.org"]) == 2
    with pytest.raises(SystemExit):  # an id and --all together
        main(["tokens", "revoke", "f" * 32, "--all", "owner@example.org"])


def test_a_token_can_be_revoked_by_the_token_itself(
    service_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token, token_id, _ = _create_token(capsys)
    assert main(["tokens", "revoke", token]) == 0
    assert token_id in capsys.readouterr().out
    api = _api(service_db, tmp_path)
    assert (
        api.get("/api/v1/opportunities", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_a_disabled_user_cannot_use_a_token_until_enabled(
    service_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token, _, _ = _create_token(capsys)
    api = _api(service_db, tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    assert main(["users", "disable", "Owner@Example.org"]) == 0
    assert "disabled owner@example.org" in capsys.readouterr().out
    reply = api.get("/api/v1/opportunities", headers=headers)
    assert (reply.status_code, reply.get_json()["detail"]) == (
        401,
        "the token's account is disabled",
    )
    assert main(["users", "enable", "owner@example.org"]) == 0
    assert api.get("/api/v1/opportunities", headers=headers).status_code == 200
    assert main(["users", "disable", "nobody@example.org"]) == 2


# ---------------------------------------------------------------- verify: key and artifacts


def test_verify_without_a_key_says_where_the_public_key_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["keygen", "--out", str(tmp_path / "a")])
    report = tmp_path / "report.json"
    signed_report(tmp_path / "a", report)
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path / "empty"))
    capsys.readouterr()
    assert main(["verify", str(report)]) == 2
    err = capsys.readouterr().err
    assert f"no public key at {tmp_path / 'empty' / 'keys' / 'signing.pub'}" in err
    assert "GET /api/v1/keys" in err and "dashboard" in err and "--pubkey FILE" in err

    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path / "mine"))
    main(["keygen", "--out", str(tmp_path / "mine" / "keys")])  # this machine has another key
    capsys.readouterr()
    assert main(["verify", str(report)]) == 1
    err = capsys.readouterr().err
    assert (
        "FAILED" in err
        and f"checked with this machine's key {tmp_path / 'mine' / 'keys' / 'signing.pub'}" in err
    )
    assert "GET /api/v1/keys" in err


ARTIFACTS = {
    "junit.xml": b"<testsuites/>\n",
    "bandit.sarif": b'{"runs": []}\n',
    "sbom.cdx.json": b'{"bomFormat": "CycloneDX"}\n',
}


def _report_with_artifacts(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, Path]:
    """A report signed by a fresh key recording `files`; (report, public key)."""
    import hashlib

    main(["keygen", "--out", str(tmp_path / "k")])
    statement: dict[str, object] = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "repo", "digest": {"gitCommit": "a" * 40}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verdict": "accepted",
            "spec": {"sha256": "0" * 64},
            "artifacts": {
                name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                for name, data in files.items()
            },
        },
    }
    report = tmp_path / "report.json"
    signed_report(tmp_path / "k", report, statement)
    return report, tmp_path / "k" / "signing.pub"


def _download(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_verify_artifacts_that_all_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, pub = _report_with_artifacts(tmp_path, ARTIFACTS)
    folder = _download(tmp_path / "dl", ARTIFACTS)
    capsys.readouterr()
    assert main(["verify", str(report), "--pubkey", str(pub), "--artifacts", str(folder)]) == 0
    assert f"Artifacts: all 3 files in {folder} match the signed report" in capsys.readouterr().out


def test_verify_artifacts_names_each_missing_changed_and_extra_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, pub = _report_with_artifacts(tmp_path, ARTIFACTS)
    folder = _download(tmp_path / "dl", {
        "junit.xml": b"<testsuites/>\n".replace(b"/", b" /"),  # one byte more
        "bandit.sarif": b'{"runs": [1]}\n'[:-3] + b"\n",        # same size, other bytes
        "notes.txt": b"mine\n",
    })  # fmt: skip
    (folder / "bandit.sarif").write_bytes(
        b'{"runs": [] }'[: len(ARTIFACTS["bandit.sarif"]) - 1] + b"\n"
    )
    assert (folder / "bandit.sarif").stat().st_size == len(ARTIFACTS["bandit.sarif"])
    capsys.readouterr()
    assert main(["verify", str(report), "--pubkey", str(pub), "--artifacts", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "OK: signature valid" in captured.out  # the signature itself is fine
    err = captured.err
    assert f"FAILED: the files in {folder} do not match the signed report" in err
    assert "missing: sbom.cdx.json" in err
    assert "changed: junit.xml (15 bytes, the report says 14)" in err
    assert "changed: bandit.sarif (sha256 " in err
    assert "extra: notes.txt (not in the signed report)" in err


def test_verify_artifacts_beside_the_report_and_in_json_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, pub = _report_with_artifacts(tmp_path, ARTIFACTS)
    folder = _download(tmp_path / "dl", ARTIFACTS)
    beside = folder / "report.dsse.json"
    beside.write_bytes(report.read_bytes())  # as `acceptance check --out DIR/... --artifacts DIR`
    capsys.readouterr()
    assert (
        main(["verify", str(beside), "--pubkey", str(pub), "--artifacts", str(folder), "--json"])
        == 0
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["predicate"]["verdict"] == "accepted"  # stdout stays JSON
    assert "match the signed report" in captured.err


def test_verify_artifacts_of_a_report_that_records_none_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["keygen", "--out", str(tmp_path / "k")])
    report = tmp_path / "report.json"
    signed_report(tmp_path / "k", report)
    folder = _download(tmp_path / "dl", ARTIFACTS)
    args = ["verify", str(report), "--pubkey", str(tmp_path / "k" / "signing.pub")]
    assert main([*args, "--artifacts", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "records no artifacts" in err and "extra: junit.xml" in err
    assert main([*args, "--artifacts", str(tmp_path / "nowhere")]) == 2


# ---------------------------------------------------------------- the key: created on first use


def test_worker_health_agrees_that_a_worker_creates_its_key_and_the_signer_does_not(
    tmp_path: Path,
) -> None:
    from acceptance.service.readiness import signing_key
    from acceptance.settings import load_settings

    settings = load_settings({"ACCEPTANCE_DATA_DIR": str(tmp_path)})
    worker = signing_key(settings, created_on_first_use=True)
    assert worker.ok and "not created yet: `acceptance worker` creates" in worker.detail
    signer = signing_key(settings, created_on_first_use=False)
    assert not signer.ok and "never creates one" in signer.detail
    assert f"acceptance keygen --out {tmp_path / 'keys'}" in signer.detail

    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    (tmp_path / "keys" / "signing.key").chmod(0o640)
    for created_on_first_use in (True, False):  # a key that exists but cannot be used: a fault
        assert not signing_key(settings, created_on_first_use=created_on_first_use).ok
