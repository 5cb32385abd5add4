"""The CLI contract without Docker: keygen, verify, bad input, help text."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from acceptance.cli import clean, main
from acceptance.report import PREDICATE_TYPE, STATEMENT_TYPE, serialize
from acceptance.signing import load_private_key, sign_envelope


def signed_report(key_dir: Path, out: Path, statement: dict[str, object] | None = None) -> None:
    statement = statement or {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "repo", "digest": {"gitCommit": "a" * 40}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"verdict": "accepted", "spec": {"sha256": "0" * 64}},
    }
    envelope = sign_envelope(serialize(statement), load_private_key(key_dir / "signing.key"))
    out.write_text(json.dumps(envelope))


def test_keygen_writes_a_private_key_only_the_owner_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert stat.S_IMODE((tmp_path / "k" / "signing.key").stat().st_mode) == 0o600
    assert "key id: sha256:" in capsys.readouterr().out
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 2  # never overwrites


def test_verify_accepts_the_right_key_and_refuses_another(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["keygen", "--out", str(tmp_path / "a")])
    main(["keygen", "--out", str(tmp_path / "b")])
    report = tmp_path / "report.json"
    signed_report(tmp_path / "a", report)
    assert main(["verify", str(report), "--pubkey", str(tmp_path / "a" / "signing.pub")]) == 0
    assert "Verdict: accepted" in capsys.readouterr().out
    assert main(["verify", str(report), "--pubkey", str(tmp_path / "b" / "signing.pub")]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_verify_refuses_a_signed_payload_that_is_not_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["keygen", "--out", str(tmp_path / "a")])
    report = tmp_path / "report.json"
    signed_report(tmp_path / "a", report, {"_type": "something-else"})
    assert main(["verify", str(report), "--pubkey", str(tmp_path / "a" / "signing.pub")]) == 1


def test_verify_of_a_missing_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["keygen", "--out", str(tmp_path / "a")])
    code = main(["verify", str(tmp_path / "nope.json"), "--pubkey", str(tmp_path / "a" / "signing.pub")])
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_check_with_a_missing_spec_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path), "--spec", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


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
