"""Prepared node_modules: capped like the Python environments, evicted least recently used,
never half-used; and the npm registry as a setting (issue 16).

Real folders and files; the two fetches at the end ask the real registry (and a dead one).
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from acceptance.engine import envcache, npm_prepared
from acceptance.engine.npm_fetch import PREPARED_DIR, fetch_node_modules, npm_ci_command
from acceptance.engine.npm_lockfile import NPM_REGISTRY, read_project
from acceptance.errors import SubmissionError, UserInputError
from acceptance.settings import load_settings, npm_registry
from tests.engine.test_node_runtime import LODASH_4_17_4, project

LEFT_PAD_1_3_0 = {
    "version": "1.3.0",
    "resolved": f"{NPM_REGISTRY}left-pad/-/left-pad-1.3.0.tgz",
    "integrity": "sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQGinBN9yTQT3bFlCBy/aVx2HrNcqQGsdot8ghrjyrvMCoEA==",
}


def _folder(tmp_path: Path, name: str, size: int) -> Path:
    """A checked project folder as npm_fetch leaves it: package.json, lockfile, node_modules."""
    folder = tmp_path / "work" / name
    (folder / "node_modules" / "p").mkdir(parents=True)
    (folder / "package.json").write_text("{}")
    (folder / "node_modules" / "p" / "index.js").write_bytes(b"x" * size)
    return folder


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _published(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if (p / npm_prepared.READY).is_file()}


def _age(root: Path, name: str, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(root / name / npm_prepared.READY, (when, when))


def test_the_least_recently_used_folders_go_first_until_the_rest_fit(tmp_path: Path) -> None:
    root = tmp_path / "cache" / PREPARED_DIR
    for name in ("a", "b", "c"):
        assert npm_prepared.publish(_folder(tmp_path, name, 100), root / name, 100, 10_000)
    _age(root, "a", 300)
    _age(root, "b", 100)
    _age(root, "c", 200)
    # Reusing `a` makes it the most recently used: `c`, then `b`, are older now.
    run = tmp_path / "run-a"
    assert npm_prepared.reuse(root / "a", run)
    assert (run / "node_modules" / "p" / "index.js").read_bytes() == b"x" * 100
    assert not (run / npm_prepared.READY).exists()  # the run's copy is no cache entry
    assert npm_prepared.publish(_folder(tmp_path, "d", 100), root / "d", 100, 250)
    assert _published(root) == {"a", "d"}
    # Nothing of the evicted ones is left, not even a renamed folder.
    assert sorted(p.name for p in root.iterdir()) == ["a", "d"]


def test_the_folder_just_published_stays_even_alone_over_the_cap(tmp_path: Path) -> None:
    root = tmp_path / PREPARED_DIR
    assert npm_prepared.publish(_folder(tmp_path, "a", 100), root / "a", 100, 1000)
    assert npm_prepared.publish(_folder(tmp_path, "b", 100), root / "b", 100, 150)
    assert _published(root) == {"b"}
    # A folder larger than the whole cap is not kept at all (and evicts nothing).
    assert not npm_prepared.publish(_folder(tmp_path, "c", 200), root / "c", 200, 150)
    assert _published(root) == {"b"}
    assert [p.name for p in root.iterdir()] == ["b"]


def test_idle_folders_and_dead_leftovers_go_whatever_the_size(tmp_path: Path) -> None:
    root = tmp_path / PREPARED_DIR
    for name in ("old", "recent"):
        npm_prepared.publish(_folder(tmp_path, name, 10), root / name, 10, 10_000)
    _age(root, "old", envcache.MAX_IDLE_SECONDS + 60)
    dead = root / ".evicted-x-123456"  # an eviction that died halfway, two hours ago
    (dead / "node_modules").mkdir(parents=True)
    os.utime(dead, (time.time() - 7200, time.time() - 7200))
    live = root / ".y-abcdef"  # a publication going on now
    live.mkdir()
    assert npm_prepared.evict(root, 10_000) == ["old"]
    assert sorted(p.name for p in root.iterdir()) == [".y-abcdef", "recent"]


def test_a_folder_without_a_recorded_size_is_measured(tmp_path: Path) -> None:
    root = tmp_path / PREPARED_DIR
    npm_prepared.publish(_folder(tmp_path, "a", 500), root / "a", 500, 10_000)
    (root / "a" / npm_prepared.READY).write_bytes(b"")  # made before eviction existed
    _age(root, "a", 100)
    npm_prepared.publish(_folder(tmp_path, "b", 10), root / "b", 10, 10_000)
    # `a` measures 502 bytes (its files), more than 400 with `b`: it goes.
    assert npm_prepared.evict(root, 400) == ["a"]
    assert npm_prepared.evict(root, 400) == []


def test_a_folder_evicted_while_a_run_links_it_is_never_used_half(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / PREPARED_DIR
    folder = _folder(tmp_path, "a", 10)
    for n in range(20):
        (folder / "node_modules" / f"f{n}.js").write_text(str(n))
    npm_prepared.publish(folder, root / "a", 10, 10_000)
    real_link = npm_prepared._link_or_copy
    calls = []

    def link_then_evict(src: str, dst: str) -> None:
        real_link(src, dst)
        calls.append(src)
        if len(calls) == 3:  # another run evicts the folder in the middle of the copy
            assert npm_prepared.evict(root, 0) == ["a"]

    monkeypatch.setattr(npm_prepared, "_link_or_copy", link_then_evict)
    run = tmp_path / "run"
    assert not npm_prepared.reuse(root / "a", run)
    assert not run.exists()
    assert list(root.iterdir()) == []


def test_a_folder_evicted_and_prepared_again_during_the_copy_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / PREPARED_DIR
    npm_prepared.publish(_folder(tmp_path, "a", 10), root / "a", 10, 10_000)
    real_read = npm_prepared._read_marker
    reads = []

    def replaced_after_the_copy(marker: Path) -> str | None:
        reads.append(marker)
        if len(reads) == 2:  # the copy is done: meanwhile another run evicted and published
            npm_prepared.evict(root, 0)
            npm_prepared.publish(_folder(tmp_path, "a2", 10), root / "a", 10, 10_000)
        return real_read(marker)

    monkeypatch.setattr(npm_prepared, "_read_marker", replaced_after_the_copy)
    assert not npm_prepared.reuse(root / "a", tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_run_linked_copy_outlives_the_eviction_of_its_folder(tmp_path: Path) -> None:
    root = tmp_path / PREPARED_DIR
    npm_prepared.publish(_folder(tmp_path, "a", 64), root / "a", 64, 10_000)
    run = tmp_path / "run"
    assert npm_prepared.reuse(root / "a", run)
    assert npm_prepared.evict(root, 0) == ["a"]
    assert (run / "node_modules" / "p" / "index.js").read_bytes() == b"x" * 64


def test_a_fetch_over_the_cap_evicts_the_older_lockfile_and_fetching_it_again_works(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    lodash = read_project(
        project(
            _mkdir(tmp_path / "l"), {"lodash": "4.17.4"}, {"node_modules/lodash": LODASH_4_17_4}
        )
    )
    pad = read_project(
        project(
            _mkdir(tmp_path / "p"), {"left-pad": "1.3.0"}, {"node_modules/left-pad": LEFT_PAD_1_3_0}
        )
    )
    first = fetch_node_modules(lodash, tmp_path / "w1", cache, timeout=120, max_bytes=1024**3)
    cap = first.size  # lodash fits, lodash and left-pad do not
    fetch_node_modules(
        pad, tmp_path / "w2", cache, timeout=120, max_bytes=1024**3, max_total_bytes=cap
    )
    prepared = list((cache / PREPARED_DIR).iterdir())
    assert len(prepared) == 1 and (prepared[0] / "node_modules" / "left-pad").is_dir()
    again = fetch_node_modules(
        lodash, tmp_path / "w3", cache, timeout=120, max_bytes=1024**3, max_total_bytes=cap
    )
    assert not again.reused
    assert [(p.name, p.version) for p in again.installed] == [("lodash", "4.17.4")]
    reused = fetch_node_modules(
        lodash, tmp_path / "w4", cache, timeout=120, max_bytes=1024**3, max_total_bytes=cap
    )
    assert reused.reused and reused.project_dir == tmp_path / "w4" / "prepared"


# ---------------------------------------------------------------- the registry setting


def test_the_registry_setting_defaults_to_the_engines_and_is_checked() -> None:
    assert load_settings({}).npm_registry is None
    assert npm_registry({"ACCEPTANCE_NPM_REGISTRY": " https://npm.example.org/mirror "}) == (
        "https://npm.example.org/mirror/"
    )
    assert load_settings({"ACCEPTANCE_NPM_REGISTRY": "http://10.0.0.5:4873/"}).npm_registry == (
        "http://10.0.0.5:4873/"
    )
    for bad in (
        "ftp://npm.example.org/",
        "npm.example.org",
        "https://user:secret@npm.example.org/",
        "https://npm.example.org/?token=1",
        "https://npm.example.org/#x",
        "https://npm.example.org:99999/",
        "https://npm.example.org/a b/",
    ):
        with pytest.raises(UserInputError, match="ACCEPTANCE_NPM_REGISTRY"):
            npm_registry({"ACCEPTANCE_NPM_REGISTRY": bad})


MIRROR = "https://npm.example.org/mirror/"


def test_npm_is_told_the_configured_registry() -> None:
    argv = npm_ci_command(Path("/p"), (Path("/u"), Path("/g")), Path("/c"), MIRROR)
    assert f"--registry={MIRROR}" in argv and "--replace-registry-host=npmjs" in argv
    assert f"--registry={NPM_REGISTRY}" in npm_ci_command(Path("/p"), (Path("/u"),) * 2, Path("/c"))


def test_a_lockfile_of_the_default_registry_is_fetched_from_the_configured_one(
    tmp_path: Path,
) -> None:
    # A registry on loopback that has nothing (404) and notes what it is asked for: npm
    # must go there, not to the lockfile's URLs.
    asked: list[str] = []

    class Mirror(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            asked.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mirror = f"http://127.0.0.1:{server.server_address[1]}/mirror/"
    root = project(tmp_path, {"lodash": "4.17.4"}, {"node_modules/lodash": LODASH_4_17_4})
    try:
        with pytest.raises(SubmissionError) as caught:
            fetch_node_modules(
                read_project(root, mirror), tmp_path / "w", tmp_path / "cache",
                timeout=90, max_bytes=1024**3, registry=mirror,
            )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.reason == "INSTALL_FAILED"
    assert asked and all(path.startswith("/mirror/lodash") for path in asked), asked
    assert not (tmp_path / "cache" / PREPARED_DIR).exists()
