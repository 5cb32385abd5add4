"""Tests for acceptance.engine.checkout against real git and a loopback `git daemon`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance.engine.checkout import Checkout, checkout
from acceptance.engine.git_runner import GitLimits, _Killer, _watch
from acceptance.engine.git_source import validate_ref, validate_source
from acceptance.errors import SubmissionError, UserInputError
from tests.support import free_port

# --------------------------------------------------------------------------- helpers


def _clean_env(home: Path) -> dict[str, str]:
    """An environment in which the test's own git commands ignore the user's config."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Supplier",
        "GIT_AUTHOR_EMAIL": "supplier@example.com",
        "GIT_COMMITTER_NAME": "Supplier",
        "GIT_COMMITTER_EMAIL": "supplier@example.com",
        "LC_ALL": "C",
    }


def _git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    """Run git for test setup and return its stdout."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=_clean_env(cwd),
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _make_repo(path: Path, files: dict[str, bytes], message: str = "commit") -> str:
    """Create (or extend) a non-bare repository with `files` committed; return the sha."""
    if not (path / ".git").exists():
        path.mkdir(parents=True, exist_ok=True)
        _git(path, "init", "-q", "-b", "main")
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "--allow-empty", "-m", message)
    return _git(path, "rev-parse", "HEAD")


@dataclass(frozen=True)
class Daemon:
    """A running `git daemon` serving bare repositories from `base`."""

    base: Path
    port: int

    def publish(self, repo: Path, name: str) -> str:
        """Serve a bare copy of `repo` and return its git:// URL."""
        _git(self.base, "clone", "-q", "--bare", str(repo), str(self.base / name))
        return f"git://127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Start `git daemon` on a free loopback port; stop it (and its children) afterwards."""
    base = tmp_path_factory.mktemp("served")
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            "--export-all",
            "--informative-errors",
            f"--base-path={base}",
        ],
        env=_clean_env(base),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.05)
        yield Daemon(base, port)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass(frozen=True)
class Origin:
    """The normal test repository: main (2 commits), feature (+1), annotated tag v1."""

    work: Path
    url: str
    first: str
    main: str
    feature: str


@pytest.fixture(scope="module")
def origin(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Origin:
    """Build the normal repository and serve it."""
    work = tmp_path_factory.mktemp("origin") / "repo"
    first = _make_repo(work, {"README.md": b"first\n"}, "first")
    _git(work, "tag", "-a", "v1", "-m", "release 1")
    main = _make_repo(work, {"README.md": b"second\n"}, "second")
    _git(work, "checkout", "-q", "-b", "feature")
    feature = _make_repo(work, {"feature.txt": b"feature\n"}, "feature")
    _git(work, "checkout", "-q", "main")
    return Origin(work, daemon.publish(work, "origin.git"), first, main, feature)


def _head(result: Checkout) -> str:
    """HEAD of a checkout, read by plain git."""
    return _git(result.path, "rev-parse", "HEAD")


# --------------------------------------------------------------------------- fetching refs


def test_default_branch_over_git_daemon(origin: Origin, tmp_path: Path) -> None:
    result = checkout(origin.url, None, tmp_path / "out")
    assert result.commit == origin.main == _git(origin.work, "rev-parse", "main")
    assert _head(result) == origin.main
    assert (result.path / "README.md").read_bytes() == b"second\n"
    assert result.source == origin.url and result.ref is None


def test_branch(origin: Origin, tmp_path: Path) -> None:
    result = checkout(origin.url, "feature", tmp_path / "out")
    assert result.commit == origin.feature == _head(result)
    assert (result.path / "feature.txt").exists()


def test_annotated_tag_resolves_to_its_commit(origin: Origin, tmp_path: Path) -> None:
    result = checkout(origin.url, "v1", tmp_path / "out")
    assert result.commit == origin.first == _git(origin.work, "rev-parse", "v1^{commit}")
    assert (result.path / "README.md").read_bytes() == b"first\n"


def test_full_sha_of_a_non_tip_commit(origin: Origin, tmp_path: Path) -> None:
    result = checkout(origin.url, origin.first, tmp_path / "out")
    assert result.commit == origin.first == _head(result)
    # protocol v2 served the sha directly, so the fetch stayed shallow
    assert (result.path / ".git" / "shallow").exists()


def test_abbreviated_sha_falls_back_to_a_full_fetch(origin: Origin, tmp_path: Path) -> None:
    result = checkout(origin.url, origin.first[:10], tmp_path / "out")
    assert result.commit == origin.first == _head(result)
    assert result.ref == origin.first[:10]


def test_unknown_sha_is_not_found(origin: Origin, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not found"):
        checkout(origin.url, "1" * 40, tmp_path / "out")


def test_unknown_ref(origin: Origin, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="ref no-such-branch not found in git://") as info:
        checkout(origin.url, "no-such-branch", tmp_path / "out")
    assert info.value.hint
    assert not (tmp_path / "out").exists()  # nothing half-fetched is left behind


def test_local_paths_bare_and_non_bare(origin: Origin, daemon: Daemon, tmp_path: Path) -> None:
    bare = daemon.base / "origin.git"
    for i, (path, ref) in enumerate([(bare, "feature"), (origin.work, None)]):
        result = checkout(str(path), ref, tmp_path / f"out{i}", allow_local=True)
        assert result.commit == _git(path, "rev-parse", ref or "HEAD")
        assert result.source == str(path)
    via_url = checkout(bare.as_uri(), "v1", tmp_path / "out-url", allow_local=True)
    assert via_url.commit == origin.first and via_url.source == str(bare)


def test_relative_local_path_is_made_absolute(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(origin.work.parent)
    result = checkout("repo", None, tmp_path / "out", allow_local=True)
    assert result.source == str(origin.work)


def test_existing_empty_dest_is_used(origin: Origin, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    assert checkout(origin.url, None, tmp_path / "out").commit == origin.main


def test_dest_must_be_empty(origin: Origin, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("mine")
    with pytest.raises(UserInputError, match="not empty"):
        checkout(origin.url, None, tmp_path / "out")
    assert (tmp_path / "out" / "keep").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserInputError, match="not a directory"):
        checkout(origin.url, None, tmp_path / "file")


# --------------------------------------------------------------------------- hostile content


def _hostile_hooks(directory: Path, marker: Path) -> Path:
    """Hook scripts (and an fsmonitor) that would each create `marker` if ever run."""
    directory.mkdir(parents=True)
    for name in ("post-checkout", "reference-transaction", "pre-auto-gc", "fsmonitor"):
        hook = directory / name
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
        hook.chmod(0o755)
    return directory


def test_committed_hooks_and_hostile_user_config_never_run(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker"
    hooks = _hostile_hooks(tmp_path / "hooks", marker)
    script = f"#!/bin/sh\ntouch {marker}\n".encode()
    work = tmp_path / "src"
    _make_repo(
        work,
        {
            ".githooks/post-checkout": script,
            ".gitattributes": b"* filter=evil\n",
            "a.txt": b"hello\n",
        },
    )
    (work / ".githooks" / "post-checkout").chmod(0o755)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "executable hook")
    url = daemon.publish(work, "hooks.git")
    expected = _git(work, "rev-parse", "HEAD")
    decoy = daemon.publish(_make_repo_at(tmp_path / "decoy"), "decoy.git")

    home = tmp_path / "home"
    home.mkdir()
    # Options no `-c` of ours overrides: only ignoring the user's config defeats these.
    (home / ".gitconfig").write_text(
        f'[url "{decoy}"]\n\tinsteadOf = {url}\n'
        f"[core]\n\tgitProxy = {hooks}/fsmonitor\n"
        f"[core]\n\thooksPath = {hooks}\n\tfsmonitor = {hooks}/fsmonitor\n"
        f"[filter \"evil\"]\n\tsmudge = sh -c 'touch {marker}; cat'\n\trequired = true\n"
        "[protocol]\n\tallow = always\n"
    )
    templates = tmp_path / "templates"
    _hostile_hooks(templates / "hooks", marker)
    # Sanity: this configuration really is hostile to a plain `git clone`.
    subprocess.run(
        ["git", "clone", "-q", url, str(tmp_path / "plain")],
        env={"PATH": os.environ["PATH"], "HOME": str(home)},
        capture_output=True,
        check=False,
    )
    assert marker.exists()
    marker.unlink()

    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.hookspath'='.githooks'")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "2")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(hooks))
    monkeypatch.setenv("GIT_CONFIG_KEY_1", "core.gitProxy")
    monkeypatch.setenv("GIT_CONFIG_VALUE_1", f"{hooks}/fsmonitor")
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(templates))
    result = checkout(url, None, tmp_path / "out")
    assert not marker.exists()
    assert result.commit == expected
    assert (result.path / "a.txt").read_bytes() == b"hello\n"
    assert not (result.path / ".git" / "hooks").exists()


def _make_repo_at(path: Path) -> Path:
    """A one-commit repository at `path`, returned for chaining."""
    _make_repo(path, {"decoy.txt": b"decoy\n"})
    return path


def test_submodules_are_never_fetched(daemon: Daemon, tmp_path: Path) -> None:
    work = tmp_path / "src"
    target = _make_repo(work, {"a.txt": b"a\n"})
    (work / ".gitmodules").write_text(
        '[submodule "web"]\n\tpath = web\n\turl = https://example.invalid/lib.git\n'
        '[submodule "sibling"]\n\tpath = sibling\n\turl = ../sibling.git\n'
    )
    _git(work, "add", ".gitmodules")
    for path in ("web", "sibling"):
        _git(work, "update-index", "--add", "--cacheinfo", f"160000,{target},{path}")
    _git(work, "commit", "-q", "-m", "submodules")
    result = checkout(daemon.publish(work, "submodules.git"), None, tmp_path / "out")
    for path in ("web", "sibling"):
        assert list((result.path / path).iterdir()) == []


@pytest.mark.parametrize("url", ["ext::sh -c touch% {marker}", "file://{work}", "{work}"])
def test_submodule_urls_that_run_commands_or_read_the_host_are_unsafe(
    daemon: Daemon, tmp_path: Path, url: str
) -> None:
    marker = tmp_path / "marker"
    work = tmp_path / "src"
    target = _make_repo(work, {"a.txt": b"a\n"})
    (work / ".gitmodules").write_text(
        f'[submodule "lib"]\n\tpath = lib\n\turl = {url.format(marker=marker, work=work)}\n'
    )
    _git(work, "add", ".gitmodules")
    _git(work, "update-index", "--add", "--cacheinfo", f"160000,{target},lib")
    _git(work, "commit", "-q", "-m", "submodule")
    with pytest.raises(SubmissionError, match="submodule.lib.url") as info:
        checkout(daemon.publish(work, f"{tmp_path.name}.git"), None, tmp_path / "out")
    assert info.value.reason == "UNSAFE_REPOSITORY"
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_symlink_stays_a_symlink(daemon: Daemon, tmp_path: Path) -> None:
    work = tmp_path / "src"
    _make_repo(work, {"a.txt": b"a\n"})
    (work / "passwd").symlink_to("/etc/passwd")
    _git(work, "add", "passwd")
    _git(work, "commit", "-q", "-m", "symlink")
    result = checkout(daemon.publish(work, "symlink.git"), None, tmp_path / "out")
    link = result.path / "passwd"
    assert os.path.islink(link)
    assert os.readlink(link) == "/etc/passwd"


def test_dot_git_path_in_history_is_unsafe(daemon: Daemon, tmp_path: Path) -> None:
    work = tmp_path / "src"
    _make_repo(work, {"a.txt": b"a\n"})
    blob = _git(work, "hash-object", "-w", "--stdin", stdin="[core]\n\tfsmonitor = evil\n")
    inner = _git(work, "mktree", stdin=f"100644 blob {blob}\tconfig\n")
    outer = _git(work, "mktree", stdin=f"040000 tree {inner}\t.git\n100644 blob {blob}\tok\n")
    commit = _git(work, "commit-tree", "-p", "HEAD", "-m", "sneaky", outer)
    _git(work, "update-ref", "refs/heads/main", commit)
    with pytest.raises(SubmissionError, match="hasDotgit") as info:
        checkout(daemon.publish(work, "dotgit.git"), None, tmp_path / "out")
    assert info.value.reason == "UNSAFE_REPOSITORY"


# --------------------------------------------------------------------------- limits


def test_size_limit(daemon: Daemon, tmp_path: Path) -> None:
    _make_repo(tmp_path / "src", {"blob.bin": os.urandom(5 * 1024 * 1024)})
    url = daemon.publish(tmp_path / "src", "big.git")
    with pytest.raises(SubmissionError) as info:
        checkout(url, None, tmp_path / "out", GitLimits(max_bytes=1024 * 1024))
    assert info.value.reason == "REPO_TOO_LARGE"
    assert not (tmp_path / "out").exists()


def test_size_watcher_kills_a_growing_process_group(tmp_path: Path) -> None:
    grower = subprocess.Popen(
        ["sh", "-c", "while :; do head -c 65536 /dev/zero >> grow.bin; sleep 0.01; done"],
        cwd=tmp_path,
        start_new_session=True,
    )
    stop, tripped = threading.Event(), threading.Event()
    try:
        _watch(tmp_path, 256 * 1024, stop, tripped, _Killer(grower))
        assert grower.wait(timeout=5) == -signal.SIGKILL
        assert tripped.is_set()
    finally:
        if grower.poll() is None:
            os.killpg(grower.pid, signal.SIGKILL)
            grower.wait()


def test_highly_compressible_blob_is_refused_before_checkout(
    daemon: Daemon, tmp_path: Path
) -> None:
    _make_repo(tmp_path / "src", {"zeros.bin": bytes(20 * 1024 * 1024)})
    url = daemon.publish(tmp_path / "src", "zeros.git")
    with pytest.raises(SubmissionError, match="too many or too large files") as info:
        checkout(url, None, tmp_path / "out", GitLimits(max_bytes=1024 * 1024))
    assert info.value.reason == "REPO_TOO_LARGE"


def test_file_count_limit(daemon: Daemon, tmp_path: Path) -> None:
    _make_repo(tmp_path / "src", {f"f{i}.txt": b"x" for i in range(30)})
    url = daemon.publish(tmp_path / "src", "many.git")
    with pytest.raises(SubmissionError) as info:
        checkout(url, None, tmp_path / "out", GitLimits(max_files=10))
    assert info.value.reason == "REPO_TOO_LARGE"
    assert checkout(url, None, tmp_path / "ok", GitLimits(max_files=30)).commit


def test_unreachable_port_fails_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(UserInputError, match="could not fetch") as info:
        checkout(f"git://127.0.0.1:{free_port()}/x.git", None, tmp_path / "out")
    assert time.monotonic() - started < 5
    assert "Connection refused" in info.value.message
    assert info.value.hint


def test_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        accepted: list[socket.socket] = []
        thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
        thread.start()
        started = time.monotonic()
        with pytest.raises(UserInputError, match="did not finish within 1 s"):
            url = f"git://127.0.0.1:{server.getsockname()[1]}/x.git"
            checkout(url, None, tmp_path / "out", GitLimits(timeout=1.0))
        assert time.monotonic() - started < 4
        for conn in accepted:
            conn.close()


def test_invalid_limits_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="positive"):
        GitLimits(timeout=0)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "source",
    [
        "ext::sh -c touch% /tmp/marker",
        "fd::17",
        "file:///tmp/repo",
        "git@github.com:org/repo.git",
        "github.com:org/repo",
        "--upload-pack=touch x",
        "-oProxyCommand=x",
        "https://user:secret@example.com/r.git",
        "https://token@example.com/r.git",
        "ssh://example.com/r.git",
        "git+ssh://example.com/r.git",
        "ftp://example.com/r.git",
        "https://example.com/r.git\n--upload-pack=x",
        "https://exa\x00mple.com/r.git",
        "https://example.com/r .git",
        "https://[::1/x",
        "https://example.com:99999/x",
        "https://-evil.example.com/x",
        "/tmp/repo",
        "",
        " https://example.com/r.git",
    ],
)
def test_rejected_sources(source: str) -> None:
    with pytest.raises(UserInputError) as info:
        validate_source(source, allow_local=False, allowed_hosts=None)
    assert info.value.hint


def test_rejected_sources_reach_no_git(tmp_path: Path) -> None:
    with pytest.raises(UserInputError):
        checkout("--upload-pack=touch x", None, tmp_path / "out", allow_local=True)
    assert not (tmp_path / "out").exists()


def test_local_sources_need_allow_local_and_a_repository(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not a git repository"):
        validate_source(str(tmp_path), allow_local=True, allowed_hosts=None)
    with pytest.raises(UserInputError):
        validate_source("file://remote-host/repo", allow_local=True, allowed_hosts=None)
    with pytest.raises(UserInputError):
        validate_source("host:path", allow_local=True, allowed_hosts=None)


def test_accepted_sources_are_normalised() -> None:
    assert validate_source("HTTPS://example.com/r.git", allow_local=False, allowed_hosts=None) == (
        "https://example.com/r.git"
    )
    for url in ("http://example.com/r", "git://[::1]:9418/r.git", "https://example.com:8443/r"):
        assert validate_source(url, allow_local=False, allowed_hosts=None) == url


def test_allowed_hosts() -> None:
    hosts = frozenset({"example.com", "git.example.org:8443", "[::1]:9418"})
    for url in (
        "https://example.com/r",
        "git://EXAMPLE.com:1234/r",
        "https://git.example.org:8443/r",
        "git://[::1]/r",
    ):
        assert validate_source(url, allow_local=False, allowed_hosts=hosts)
    for url in ("https://evil.com/r", "https://git.example.org/r", "https://example.com.evil/r"):
        with pytest.raises(UserInputError, match="not allowed"):
            validate_source(url, allow_local=False, allowed_hosts=hosts)


@pytest.mark.parametrize(
    "ref",
    [
        "--upload-pack=x",
        "-x",
        "a..b",
        "a b",
        "main~1",
        "HEAD^",
        "a:b",
        "+main",
        "refs/heads/*",
        "x.lock",
        ".hidden",
        "a/",
        "a\x00b",
        "a\nb",
        "@{-1}",
        "",
    ],
)
def test_rejected_refs(ref: str, origin: Origin, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not accepted"):
        checkout(origin.url, ref, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@settings(max_examples=300, deadline=None)
@given(source=st.text(max_size=60), allow_local=st.booleans())
def test_validate_source_never_crashes(source: str, allow_local: bool) -> None:
    try:
        normalised = validate_source(source, allow_local=allow_local, allowed_hosts=None)
    except UserInputError:
        return
    assert normalised.startswith(("https://", "http://", "git://", "/"))
    assert "::" not in normalised.split("/", 1)[0] and not normalised.startswith("-")


@settings(max_examples=150, deadline=None)
@given(ref=st.text(alphabet=st.sampled_from("ab-./@{}~^:.+ lock\\"), max_size=12))
def test_accepted_refs_satisfy_git(ref: str) -> None:
    try:
        validate_ref(ref)
    except UserInputError:
        return
    check = subprocess.run(
        ["git", "check-ref-format", "--allow-onelevel", ref], capture_output=True, check=False
    )
    assert check.returncode == 0, ref


def test_a_tree_nested_past_the_depth_limit_is_refused_before_checkout(
    daemon: Daemon, tmp_path: Path
) -> None:
    work = tmp_path / "src"
    _make_repo(work, {"/".join(["d"] * 40) + "/f.txt": b"deep\n"})
    url = daemon.publish(work, "deep.git")
    with pytest.raises(SubmissionError, match="more than 32 levels deep") as info:
        checkout(url, None, tmp_path / "out", GitLimits(max_depth=32))
    assert info.value.reason == "UNSAFE_REPOSITORY"
    assert not (tmp_path / "out").exists()
    shallow = checkout(url, None, tmp_path / "ok", GitLimits(max_depth=40))
    assert (shallow.path / ("/".join(["d"] * 40) + "/f.txt")).read_bytes() == b"deep\n"
