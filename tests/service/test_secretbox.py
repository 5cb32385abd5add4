"""The secrets key: created once, whole, even when several processes start at the same time."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from acceptance.errors import PlatformError
from acceptance.service import secretbox
from acceptance.service.secretbox import SecretBox


def _open_box(path: str, start: object, answers: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    try:
        box = SecretBox(Path(path))
        answers.put(box.open(box.seal("probe")) + ":" + Path(path).read_text().strip())  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - reported to the test
        answers.put(f"error: {exc}")  # type: ignore[attr-defined]


@pytest.mark.parametrize("round_", range(5))
def test_processes_starting_together_share_one_whole_key(tmp_path: Path, round_: int) -> None:
    context = multiprocessing.get_context("fork")
    start, answers = context.Event(), context.Queue()
    path = tmp_path / "keys" / "secrets.key"
    workers = [
        context.Process(target=_open_box, args=(str(path), start, answers)) for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    start.set()
    seen = [answers.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(10)
    assert not [answer for answer in seen if answer.startswith("error")], seen
    assert len(set(seen)) == 1  # one key for all
    assert sorted(p.name for p in path.parent.iterdir()) == ["secrets.key"]  # no temporary left
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_first_link_wins_and_the_loser_uses_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secrets.key"
    winner = Fernet.generate_key()
    real_link = os.link

    def another_process_first(source: object, target: object) -> None:
        path.write_bytes(winner + b"\n")  # created meanwhile by another process
        real_link(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(secretbox.os, "link", another_process_first)
    box = SecretBox(path)
    assert Fernet(winner).decrypt(box.seal("x")) == b"x"
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.key"]


def test_an_empty_or_damaged_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "secrets.key"
    path.write_bytes(b"")
    with pytest.raises(PlatformError, match="not a Fernet key .* restore it from the backups"):
        SecretBox(path)
