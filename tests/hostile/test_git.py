"""Git: nothing in a repository's metadata runs on the host, and pathological trees are
refused before they reach the disk."""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import subprocess
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RepoFactory, git
from tests.hostile.conftest import FUNCTIONAL_ONLY, Hostile, commit_all, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]


@pytest.fixture
def marker() -> Iterator[Path]:
    """A host path that a command smuggled into the repository would create."""
    path = Path("/tmp") / f"acceptance-pwned-{secrets.token_hex(8)}"
    yield path
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()


def pwned(marker: Path) -> list[Path]:
    return sorted(marker.parent.glob(marker.name + "*"))


class Objects:
    """Writes loose git objects straight into a repository, as no porcelain would."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo

    def put(self, kind: str, body: bytes = b"", *, size: int | None = None,
            chunks: Iterable[bytes] | None = None) -> str:  # fmt: skip
        header = f"{kind} {len(body) if size is None else size}\0".encode()
        digest, deflate = hashlib.sha1(header), zlib.compressobj(1)
        out = [deflate.compress(header)]
        for chunk in [body] if chunks is None else chunks:
            digest.update(chunk)
            out.append(deflate.compress(chunk))
        out.append(deflate.flush())
        sha = digest.hexdigest()
        folder = self.repo / ".git" / "objects" / sha[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / sha[2:]).write_bytes(b"".join(out))
        return sha

    def tree(self, entries: Iterable[tuple[str, str, str]]) -> str:
        """entries: (mode, name, sha), in git's order."""
        return self.put(
            "tree", b"".join(f"{m} {n}\0".encode() + bytes.fromhex(s) for m, n, s in entries)
        )

    def commit_on_main(self, tree: str) -> str:
        who = "Supplier <supplier@example.invalid> 0 +0000"
        sha = self.put(
            "commit", f"tree {tree}\nauthor {who}\ncommitter {who}\n\ndeliver\n".encode()
        )
        (self.repo / ".git" / "refs" / "heads" / "main").write_text(sha + "\n")
        return sha


def bare_repo(tmp_path: Path) -> Objects:
    repo = tmp_path / "crafted"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    return Objects(repo)


def test_commands_in_git_metadata_never_run(hostile: Hostile, tmp_path: Path, marker: Path) -> None:
    """Hooks, core.fsmonitor, filter drivers and other configured commands in the source
    repository, .gitattributes conversions and an embedded bare repository: each would
    leave a marker on the host and change a file the tests look at, had it run."""
    repo = tmp_path / "source"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    run = f'sh -c \'touch "{marker}-$0"; touch "$PWD/pwned-$0"\''
    embedded = repo / "fixture.git"
    for folder in ("objects/info", "refs/heads"):
        (embedded / folder).mkdir(parents=True)
        (embedded / folder / ".keep").write_text("")
    (embedded / "HEAD").write_text("ref: refs/heads/main\n")
    (embedded / "config").write_text(
        f"[core]\n\tbare = true\n\tfsmonitor = {run.replace('$0', 'embedded')}\n"
    )
    files = {
        ".gitattributes": "* filter=evil\n*.txt text eol=crlf\nident.txt ident\n",
        "data.txt": "committed\n",
        "ident.txt": "$Id$\n",
        "tests/test_git.py": (
            "import glob, pathlib\n\n"
            "def test_the_filter_driver_ran():\n"
            "    assert pathlib.Path('data.txt').read_text() == 'smudged\\n'\n\n"
            "def test_line_endings_were_converted():\n"
            "    assert b'\\r\\n' in pathlib.Path('data.txt').read_bytes()\n\n"
            "def test_the_ident_was_expanded():\n"
            "    assert pathlib.Path('ident.txt').read_text() != '$Id$\\n'\n\n"
            "def test_a_hook_or_fsmonitor_ran():\n"
            "    assert glob.glob('pwned-*'), 'nothing ran during the checkout'\n"
        ),
    }
    for relpath, text in files.items():
        (repo / relpath).parent.mkdir(parents=True, exist_ok=True)
        (repo / relpath).write_text(text)
    commit_all(repo)
    # Only now arm the source repository, so this test's own git never runs any of it.
    for name in (
        "post-checkout",
        "post-merge",
        "reference-transaction",
        "pre-auto-gc",
        "post-index-change",
    ):
        hook = repo / ".git" / "hooks" / name
        hook.write_text(f"#!/bin/sh\n{run.replace('$0', 'hook')}\n")
        hook.chmod(0o755)
    config = {
        "core.hooksPath": str(repo / ".git" / "hooks"),
        "core.fsmonitor": run.replace("$0", "fsmonitor"),
        "core.alternateRefsCommand": run.replace("$0", "alternates"),
        "core.sshCommand": run.replace("$0", "ssh"),
        "uploadpack.packObjectsHook": run.replace("$0", "packobjects"),
        "filter.evil.smudge": f"{run.replace('$0', 'smudge')}; sed s/committed/smudged/",
        "filter.evil.process": run.replace("$0", "process"),
        "filter.evil.required": "true",
    }
    for key, value in config.items():
        git("config", "--file", str(repo / ".git" / "config"), key, value, cwd=tmp_path)
    assert not pwned(marker)

    outcome = hostile.run(repo, hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "TESTS_FAILED")
    functional = outcome.check("functional")
    assert functional["tests"] == {"passed": 0, "failed": 4, "errors": 0, "skipped": 0}, (
        outcome.explain()
    )
    assert pwned(marker) == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ext::sh -c touch% {marker}-ext", "submodule.lib.url"),
        ("file:///etc", "submodule.lib.url"),
        ("/root", "submodule.lib.url"),
        # git's own fsck refuses this one while fetching
        ("--upload-pack=touch {marker}-option", "disallowed submodule url"),
    ],
)
def test_submodules_with_dangerous_urls_are_refused(
    hostile: Hostile, make_repo: RepoFactory, marker: Path, url: str, says: str
) -> None:
    repo = make_repo({
        ".gitmodules": f'[submodule "lib"]\n\tpath = lib\n\turl = {url.format(marker=marker)}\n',
        "tests/test_lib.py": "def test_lib():\n    import lib\n",
    })  # fmt: skip
    git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},lib", cwd=repo)
    commit_all(repo, "add a submodule")

    outcome = hostile.run(repo, hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "UNSAFE_REPOSITORY", says=says)
    assert pwned(marker) == []


def test_a_huge_blob_is_refused_before_checkout(hostile: Hostile, tmp_path: Path) -> None:
    objects = bare_repo(tmp_path)
    size = (1 << 30) + (64 << 20)  # past the 1 GiB checkout limit, ~1 MiB compressed
    blob = objects.put("blob", size=size, chunks=(bytes(1 << 20) for _ in range(size >> 20)))
    objects.commit_on_main(objects.tree([("100644", "huge.bin", blob)]))

    outcome = hostile.run(objects.repo, hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "REPO_TOO_LARGE", says="too many or too large files")
    assert [s["name"] for s in outcome.predicate["stages"]] == ["checkout"]


def test_a_million_tiny_files_are_refused_before_checkout(hostile: Hostile, tmp_path: Path) -> None:
    objects = bare_repo(tmp_path)
    empty = objects.put("blob")
    thousand = objects.tree(("100644", f"{n:04d}", empty) for n in range(1000))
    objects.commit_on_main(objects.tree(("40000", f"{n:04d}", thousand) for n in range(1000)))

    outcome = hostile.run(objects.repo, hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "REPO_TOO_LARGE", says="200000 files")


def test_a_very_deep_tree_is_refused_and_leaves_nothing_behind(
    hostile: Hostile, tmp_path: Path
) -> None:
    objects = bare_repo(tmp_path)
    tree = objects.tree(
        [("100644", "test_deep.py", objects.put("blob", b"def test_deep():\n    pass\n"))]
    )
    for _ in range(3000):  # 'a/' * 3000: past PATH_MAX, and past Python's recursion limit
        tree = objects.tree([("40000", "a", tree)])
    objects.commit_on_main(tree)

    outcome = hostile.run(objects.repo, hostile.spec(FUNCTIONAL_ONLY))

    judged(outcome, "UNSAFE_REPOSITORY", says="more than 128 levels deep")


@pytest.mark.parametrize("ref", ["--upload-pack=touch {marker}-ref", "-evil"])
def test_a_ref_that_looks_like_an_option_is_refused(
    hostile: Hostile,
    make_repo: RepoFactory,
    git_server: tuple[Path, str],
    marker: Path,
    tmp_path: Path,
    ref: str,
) -> None:
    base, url = git_server
    repo = make_repo({"tests/test_a.py": "def test_a():\n    pass\n"})
    served = base / "hostile.git"
    git("clone", "-q", "--bare", str(repo), str(served), cwd=tmp_path)
    # git itself will not name a branch like an option; a hostile server will.
    name = ref.format(marker=marker)
    (served / "refs" / "heads" / name.replace("/", "_")).write_text(
        git("rev-parse", "HEAD", cwd=repo) + "\n"
    )

    outcome = hostile.run(f"{url}/hostile.git", hostile.spec(FUNCTIONAL_ONLY), f"--ref={name}")

    assert outcome.exit_code == 2, outcome.explain()  # bad input: no report, nothing fetched
    assert "is not accepted" in outcome.stderr and "must not start with '-'" in outcome.stderr
    assert pwned(marker) == []


def test_the_checkout_is_byte_for_byte_the_commit(tmp_path: Path) -> None:
    """Unit-level proof for the attribute defence above: every blob as committed."""
    from acceptance.engine.checkout import checkout

    repo = tmp_path / "r"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / ".gitattributes").write_text("* text eol=crlf ident\n")
    (repo / "a.txt").write_text("$Id$\nline\n")
    commit_all(repo)
    tree = checkout(str(repo), None, tmp_path / "out", allow_local=True)
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        meta, relpath = line.split("\t")
        blob = subprocess.run(
            ["git", "cat-file", "blob", meta.split()[2]], cwd=repo, capture_output=True, check=True
        ).stdout
        assert (tree.path / relpath).read_bytes() == blob, relpath
    assert not stat.S_ISLNK(os.lstat(tree.path / "a.txt").st_mode)
