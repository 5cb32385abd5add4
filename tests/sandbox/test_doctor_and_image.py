"""`acceptance doctor` and `acceptance image build` against the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.cli import main
from sandbox.image import _debian_uris, default_image_tag


@pytest.mark.docker
def test_image_build_is_idempotent(
    sandbox_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path))
    assert main(["image", "build"]) == 0
    captured = capsys.readouterr()
    assert "up to date" in captured.err
    assert captured.out.startswith(sandbox_image)
    assert "pip-audit" in captured.out and "bandit" in captured.out


@pytest.mark.docker
def test_doctor_is_ready_before_the_key_exists_and_names_an_unusable_one(
    sandbox_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As the README says: the signing key is created on first use, so its absence is no fault.
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert (
        f"[ok  ] signing key {tmp_path / 'keys' / 'signing.key'}: not created yet (created on first use"
        in out
    )
    assert "[ok  ] Docker engine" in out and f"[ok  ] sandbox image {sandbox_image}" in out

    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    (tmp_path / "keys" / "signing.key").chmod(0o644)
    capsys.readouterr()
    assert main(["doctor"]) == 3
    out = capsys.readouterr().out
    assert (
        "[MISS] signing key" in out and f"fix: chmod 600 {tmp_path / 'keys' / 'signing.key'}" in out
    )
    (tmp_path / "keys" / "signing.key").chmod(0o600)
    assert main(["doctor"]) == 0


def test_doctor_explains_how_to_start_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCEPTANCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert main(["doctor"]) == 3
    out = capsys.readouterr().out
    assert "[MISS] Docker engine unreachable" in out
    assert "dockerd --bridge=none --iptables=false" in out


def test_debian_mirror_is_read_from_both_apt_source_formats() -> None:
    one_line = "deb [arch=amd64] http://mirror.invalid/debian bookworm main\ndeb http://x.invalid/debian-security bookworm-security main\n"
    deb822 = "Types: deb\nURIs: http://other.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
    assert _debian_uris(one_line) == ["http://mirror.invalid/debian"]
    assert _debian_uris(deb822) == ["http://other.invalid/debian"]


def test_image_tag_changes_with_the_base() -> None:
    assert default_image_tag() != default_image_tag("python:3.11-slim")
    assert default_image_tag().startswith("acceptance-sandbox:")
