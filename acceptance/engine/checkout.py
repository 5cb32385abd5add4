"""Fetch a supplier's git repository into a directory without trusting it."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from acceptance.engine.disk_usage import disk_usage
from acceptance.engine.git_runner import GitLimits, GitResult, GitRunner, TreeTally
from acceptance.engine.git_source import (
    TRANSPORT_HELPER,
    URL_SCHEME,
    validate_ref,
    validate_source,
)
from acceptance.errors import (
    AcceptanceError,
    PlatformError,
    SubmissionError,
    UserInputError,
)
from acceptance.safefs import remove_tree

# GitLimits is part of checkout()'s signature, so callers get it from here too.
__all__ = [
    "Checkout",
    "CommitTree",
    "GitLimits",
    "checkout",
    "fetch_commit_tree",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ABBREV_SHA = re.compile(r"[0-9a-fA-F]{4,39}")
_EXCERPT_LINES = 6
_EXCERPT_WIDTH = 300

# Markers in git's stderr, matched against English messages (we force LC_ALL=C).
_NOT_FOUND = "couldn't find remote ref"
_SHA_REFUSED = ("not our ref", "unadvertised object", "allow-tip-sha1-in-want")
_FSCK_FAILED = re.compile(r"fsck error|error: object [0-9a-f]+: \w+:|invalid path|has a symlink")


_DEFAULT_LIMITS = GitLimits()


@dataclass(frozen=True)
class Checkout:
    """A repository checked out at one exact commit."""

    path: Path  # the work tree (dest)
    source: str  # as given, normalised (local paths made absolute)
    ref: str | None  # as requested
    commit: str  # full 40-hex sha actually checked out
    #: the commit's tree id: what was judged, whatever the commit's message, author or parents
    tree: str | None = None


@dataclass(frozen=True)
class CommitTree:
    """A commit fetched (not checked out) and the id of its tree, read from the fetched objects."""

    source: str
    commit: str
    tree: str


def checkout(
    source: str,
    ref: str | None,
    dest: Path,
    limits: GitLimits = _DEFAULT_LIMITS,
    *,
    allow_local: bool = False,
    allowed_hosts: frozenset[str] | None = None,
) -> Checkout:
    """Fetch `ref` of `source` into the empty directory `dest`, hardened and limited."""
    normalised = validate_source(source, allow_local=allow_local, allowed_hosts=allowed_hosts)
    if ref is not None:
        validate_ref(ref)
    target, created = _prepare_dest(dest)
    try:
        with tempfile.TemporaryDirectory(prefix="acceptance-git-home-") as home:
            git = GitRunner(target, limits, Path(home), local=normalised.startswith("/"))
            commit = _fetch_and_checkout(git, normalised, ref)
            tree = _tree_of(git, commit)
    except BaseException:
        # A half-fetched hostile repository is of no use to anyone; do not leave it behind.
        _discard(target, created)
        raise
    return Checkout(path=target, source=normalised, ref=ref, commit=commit, tree=tree)


def fetch_commit_tree(
    source: str,
    ref: str | None,
    scratch: Path,
    limits: GitLimits = _DEFAULT_LIMITS,
    *,
    allow_local: bool = False,
    allowed_hosts: frozenset[str] | None = None,
) -> CommitTree:
    """Fetch `ref` of `source` into a new folder under `scratch`, hardened and limited as a
    checkout is, and read its commit's tree id; nothing is checked out, the folder is removed.

    The tree id comes from the fetched commit object, whose id git checked against its
    bytes: what a webhook payload says about the tree is never used.
    """
    normalised = validate_source(source, allow_local=allow_local, allowed_hosts=allowed_hosts)
    if ref is not None:
        validate_ref(ref)
    scratch.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(dir=scratch, prefix="tree-"))
    try:
        with tempfile.TemporaryDirectory(prefix="acceptance-git-home-") as home:
            git = GitRunner(target, limits, Path(home), local=normalised.startswith("/"))
            _init(git)
            commit = _fetch(git, normalised, ref)
            return CommitTree(normalised, commit, _tree_of(git, commit))
    finally:
        remove_tree(target)


# --------------------------------------------------------------------------- dest


def _prepare_dest(dest: Path) -> tuple[Path, bool]:
    """Make sure `dest` is a new or empty directory; return it absolute and if we made it."""
    target = Path(os.path.abspath(dest))
    hint = "give a path that does not exist yet, or an empty directory"
    try:
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise UserInputError(f"destination {target} exists and is not a directory", hint=hint)
        if target.exists():
            if any(target.iterdir()):
                raise UserInputError(f"destination {target} is not empty", hint=hint)
            return target, False
        target.mkdir(parents=True, mode=0o700)
    except OSError as exc:
        raise UserInputError(
            f"cannot use destination {target}: {exc.strerror}", hint=hint
        ) from None
    return target, True


def _discard(target: Path, created: bool) -> None:
    """Remove what a failed checkout left in `target` (never following symlinks)."""
    if created:
        remove_tree(target)
        return
    for child in list(target.iterdir()) if target.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            remove_tree(child)
        else:
            child.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the steps


def _fetch_and_checkout(git: GitRunner, source: str, ref: str | None) -> str:
    """Init, fetch, size-check and check out; return the verified commit sha."""
    _init(git)
    commit = _fetch(git, source, ref)
    _check_tree(git, source, commit)
    _checkout(git, source, commit)
    _verify(git, commit)
    _check_submodules(git, source)
    return commit


def _init(git: GitRunner) -> None:
    """Create an empty repository with no template (so not even sample hooks)."""
    result = git.run(
        ["-c", "init.defaultBranch=main", "init", "-q", "--template=", str(git.dest)], repo=False
    )
    if not result.ok:
        raise PlatformError(
            f"git init failed in {git.dest}: {_excerpt(result.stderr)}",
            hint="check that the destination is writable and git works on this machine",
        )
    _neutralise_attributes(git)


# Highest-precedence attributes for every path: the in-tree .gitattributes may not
# convert line endings, expand keywords, re-encode or filter files on checkout, so
# the tree judged (and named by the report's commit) is byte for byte the committed
# one. Filter drivers need configuration the repository cannot supply anyway.
_NEUTRAL_ATTRIBUTES = "* -text -eol -ident -filter -working-tree-encoding\n"


def _neutralise_attributes(git: GitRunner) -> None:
    info = git.dest / ".git" / "info"
    info.mkdir(exist_ok=True)
    (info / "attributes").write_text(_NEUTRAL_ATTRIBUTES, encoding="ascii")


def _fetch(git: GitRunner, source: str, ref: str | None) -> str:
    """Fetch just enough of `source` to have `ref`; return its full commit sha."""
    wanted = "HEAD" if ref is None else ref
    if _FULL_SHA.fullmatch(wanted.lower()):
        wanted = wanted.lower()
    shallow = _fetch_refspecs(git, source, ["--depth=1"], [wanted])
    if shallow.ok:
        return _resolve(git, source, ref, "FETCH_HEAD", expect=wanted)
    refused = any(marker in shallow.stderr for marker in _SHA_REFUSED)
    unknown_hex = _NOT_FOUND in shallow.stderr and _ABBREV_SHA.fullmatch(wanted)
    if not (refused or unknown_hex):
        raise _fetch_error(shallow, git, source, ref)
    # Servers only resolve full shas they agree to serve, and never abbreviations:
    # fetch every branch and tag, then look the commit up locally.
    full = _fetch_refspecs(
        git, source, [], ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
    )
    if not full.ok:
        raise _fetch_error(full, git, source, ref)
    return _resolve(git, source, ref, wanted, expect=wanted)


def _fetch_refspecs(
    git: GitRunner, source: str, options: list[str], refspecs: list[str]
) -> GitResult:
    """One `git fetch` from `source`, watched for size."""
    args = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--no-auto-maintenance"]
    args += [*options, "--end-of-options", source, *refspecs]
    return git.run(args, allow_file=git.local, watch=True)


def _resolve(git: GitRunner, source: str, ref: str | None, name: str, *, expect: str) -> str:
    """Turn a local name into a full commit sha; a full-sha request must come back unchanged."""
    result = git.run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}"])
    commit = result.stdout.strip()
    if not result.ok or not _FULL_SHA.fullmatch(commit):
        if "ambiguous" in result.stderr:
            raise UserInputError(
                f"ref {ref!r} is ambiguous in {source}",
                hint="give more characters of the commit sha, or the full 40-character sha",
            )
        raise _not_found(source, ref)
    if _FULL_SHA.fullmatch(expect) and commit != expect:
        raise SubmissionError(
            "UNSAFE_REPOSITORY",
            f"{source} answered commit {expect} with a different commit {commit}",
            hint="the server is misbehaving; fetch from the supplier's canonical repository",
        )
    return commit


def _tree_of(git: GitRunner, commit: str) -> str:
    """The tree id `commit` names (SHA-1 or SHA-256 hex)."""
    result = git.run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^{{tree}}"])
    tree = result.stdout.strip()
    if not result.ok or not _OBJECT_ID.fullmatch(tree):
        raise _local_error(result, git, f"reading the tree of {commit}")
    return tree


def _check_tree(git: GitRunner, source: str, commit: str) -> None:
    """Refuse before checkout when the commit's tree alone is over the limits."""
    room = git.limits.max_bytes - disk_usage(git.dest).bytes
    if room < 0:
        raise _too_large(source, "its history alone exceeds the size limit", git.limits)
    tally = TreeTally(git.limits.max_files, room, git.limits.max_depth)
    result = git.run(
        ["ls-tree", "-r", "-l", "-z", "--full-tree", "--end-of-options", commit], sink=tally
    )
    if tally.deepest:
        raise SubmissionError(
            "UNSAFE_REPOSITORY",
            f"commit {commit} nests folders more than {git.limits.max_depth} levels deep "
            f"({_excerpt(tally.deepest[:120].decode('utf-8', 'replace'))}...)",
            hint="deliver a tree of ordinary depth; generated or pathological trees are refused",
        )
    if tally.exceeded:
        raise _too_large(source, f"commit {commit} has too many or too large files", git.limits)
    if not result.ok:
        raise _local_error(result, git, f"listing the files of {commit}")


def _checkout(git: GitRunner, source: str, commit: str) -> None:
    """Write the work tree of `commit` (detached HEAD), watched for size, then re-measure."""
    result = git.run(
        ["checkout", "--quiet", "--detach", "--no-recurse-submodules", commit, "--"], watch=True
    )
    if not result.ok:
        raise _local_error(result, git, f"checking out {commit}")
    usage = disk_usage(git.dest)
    if usage.files > git.limits.max_files or usage.bytes > git.limits.max_bytes:
        raise _too_large(
            source, f"the checkout holds {usage.files} files, {usage.bytes} bytes", git.limits
        )


def _check_submodules(git: GitRunner, source: str) -> None:
    """Refuse submodule URLs that run commands or read the host if anything fetched them.

    Submodules are never fetched here; a delivery carrying such a URL is hostile
    (or broken) either way, and whoever clones it next might recurse.
    """
    gitmodules = git.dest / ".gitmodules"
    if gitmodules.is_symlink() or not gitmodules.is_file():
        return  # absent; a linked .gitmodules is refused by fsck on fetch
    result = git.run(["config", "--file", str(gitmodules), "--null", "--list"], repo=False)
    if not result.ok:
        raise _unsafe(source, result, doing="reading .gitmodules")
    for entry in result.stdout.split("\0"):
        key, _, value = entry.partition("\n")
        problem = _submodule_problem(key, value)
        if problem:
            shown = _CONTROL.sub("", value)[:120]
            raise SubmissionError(
                "UNSAFE_REPOSITORY",
                f".gitmodules gives {_CONTROL.sub('', key)[:120]} = {shown!r}: {problem}",
                hint="remove the submodule or point it at an https:// repository",
            )


def _submodule_problem(key: str, value: str) -> str | None:
    if not key.startswith("submodule."):
        return None
    if key.endswith(".update") and value.startswith("!"):
        return "a custom update command would run on every machine that updates it"
    if not key.endswith(".url"):
        return None
    if TRANSPORT_HELPER.match(value):
        return "a `transport::` URL (such as ext::) runs a command when fetched"
    if value.startswith("-"):
        return "a URL that starts with '-' is read as a command-line option"
    scheme = URL_SCHEME.match(value)
    if value.startswith("/") or (scheme and scheme.group(1).lower() == "file"):
        return "a local path or file:// URL reads the fetching machine's own files"
    return None


def _verify(git: GitRunner, commit: str) -> None:
    """Confirm HEAD is exactly the commit we resolved."""
    result = git.run(["rev-parse", "--verify", "--quiet", "HEAD"])
    head = result.stdout.strip()
    if not result.ok or head != commit:
        raise SubmissionError(
            "UNSAFE_REPOSITORY",
            f"after checkout HEAD is {head or 'unknown'!r}, expected {commit}",
            hint="the repository could not be checked out faithfully; inspect it manually",
        )


# --------------------------------------------------------------------------- errors


def _fetch_error(
    result: GitResult, git: GitRunner, source: str, ref: str | None
) -> AcceptanceError:
    """Say whose fault a failed fetch is, with git's own words when useful."""
    if result.too_large:
        return _too_large(source, "the fetch grew past the size limit", git.limits)
    if result.timed_out:
        return UserInputError(
            f"fetching from {source} did not finish within {git.limits.timeout:g} s",
            hint="check that the server is reachable and responsive from this machine",
        )
    if _FSCK_FAILED.search(result.stderr):
        return _unsafe(source, result)
    if _NOT_FOUND in result.stderr:
        return _not_found(source, ref)
    return UserInputError(
        f"could not fetch from {source}: {_excerpt(result.stderr) or 'git gave no reason'}",
        hint="check the URL, that the repository exists and is public, and that the server is"
        " reachable from this machine",
    )


def _local_error(result: GitResult, git: GitRunner, doing: str) -> AcceptanceError:
    """Classify a failure of a purely local step (the remote is done by then)."""
    if result.too_large:
        return _too_large(str(git.dest), f"{doing} grew past the size limit", git.limits)
    if result.timed_out:
        return SubmissionError(
            "TIMEOUT",
            f"{doing} did not finish within the {git.limits.timeout:g} s git time limit",
            hint="the repository is too large or pathological; reduce it or raise the limit",
        )
    if "No space left" in result.stderr:
        return PlatformError(f"{doing} failed: the disk is full", hint="free disk space and retry")
    return _unsafe(str(git.dest), result, doing=doing)


def _not_found(source: str, ref: str | None) -> UserInputError:
    """The requested ref (or the default branch) does not exist."""
    if ref is None:
        return UserInputError(
            f"{source} has no default branch (HEAD)",
            hint="the repository may be empty; give an explicit branch, tag or commit",
        )
    return UserInputError(
        f"ref {ref} not found in {source}",
        hint="check the branch, tag or commit name; commits must be reachable from a branch or tag",
    )


def _unsafe(source: str, result: GitResult, *, doing: str = "fetching") -> SubmissionError:
    """git refused the content itself: malformed objects or dangerous paths."""
    return SubmissionError(
        "UNSAFE_REPOSITORY",
        f"git refused the repository {source} while {doing}: {_excerpt(result.stderr)}",
        hint="the supplier must remove the malformed objects or unsafe paths from the history",
    )


def _too_large(source: str, why: str, limits: GitLimits) -> SubmissionError:
    """A size or file-count limit was hit."""
    return SubmissionError(
        "REPO_TOO_LARGE",
        f"repository {source} is too large: {why} (limits: {limits.max_bytes} bytes,"
        f" {limits.max_files} files)",
        hint="deliver a smaller repository (no build outputs or large binaries)",
    )


def _excerpt(stderr: str) -> str:
    """The first few lines of git's stderr, without terminal escapes or control characters."""
    lines: list[str] = []
    for line in _ANSI_ESCAPE.sub("", stderr).splitlines():
        clean = _CONTROL.sub("", line).strip()
        if clean:
            lines.append(clean[:_EXCERPT_WIDTH])
        if len(lines) == _EXCERPT_LINES:
            break
    return " | ".join(lines)
