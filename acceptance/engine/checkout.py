"""Fetch a supplier's git repository into a directory without trusting it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import SplitResult, unquote, urlsplit

from acceptance.errors import (
    AcceptanceError,
    PlatformError,
    SubmissionError,
    UserInputError,
)
from acceptance.safefs import remove_tree

__all__ = [
    "Checkout",
    "CommitTree",
    "GitLimits",
    "checkout",
    "fetch_commit_tree",
    "ref_problem",
    "validate_ref",
    "validate_source",
]

_REMOTE_SCHEMES = frozenset({"https", "http", "git"})
_DEFAULT_PORTS = {"https": 443, "http": 80, "git": 9418}
# `<transport>::<address>` makes git run git-remote-<transport>; `ext::` runs any command.
_HELPER_SYNTAX = re.compile(r"[A-Za-z0-9+.-]+::")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?|[0-9a-f:.]*:[0-9a-f:.]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ABBREV_SHA = re.compile(r"[0-9a-fA-F]{4,39}")
_MAX_REF_LENGTH = 1024

_POLL_SECONDS = 0.1
_STDOUT_LIMIT = 1 << 20
_STDERR_LIMIT = 64 << 10
_MAX_TREE_RECORD = 64 << 10
_EXCERPT_LINES = 6
_EXCERPT_WIDTH = 300

# Markers in git's stderr, matched against English messages (we force LC_ALL=C).
_NOT_FOUND = "couldn't find remote ref"
_SHA_REFUSED = ("not our ref", "unadvertised object", "allow-tip-sha1-in-want")
_FSCK_FAILED = re.compile(r"fsck error|error: object [0-9a-f]+: \w+:|invalid path|has a symlink")

# Every git invocation gets these `-c` options; command-line config beats any file.
_HARDENING: tuple[tuple[str, str], ...] = (
    # Hooks are code: never run any, whatever hooksPath a config file names.
    ("core.hooksPath", "/dev/null"),
    # fsmonitor may name a command that git runs on every index refresh.
    ("core.fsmonitor", "false"),
    # Only the transports we vetted; ext:: runs shell commands, file:// reads the host.
    ("protocol.allow", "never"),
    ("protocol.https.allow", "always"),
    ("protocol.http.allow", "always"),
    ("protocol.git.allow", "always"),
    ("protocol.ext.allow", "never"),
    # Bare repositories committed inside the tree must never be picked up implicitly.
    ("safe.bareRepository", "explicit"),
    # Submodule URLs are attacker-chosen; never follow them.
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    # Symlinks stay symlinks, so nothing on the host is copied in by following one.
    ("core.symlinks", "true"),
    # Reject malformed objects: bad .gitmodules, `.git` path entries, overflowing fields.
    ("transfer.fsckObjects", "true"),
    ("fetch.fsckObjects", "true"),
    # Refuse paths that alias `.git` on NTFS/HFS+, in case the tree is copied there later.
    ("core.protectNTFS", "true"),
    ("core.protectHFS", "true"),
    # No stored credentials are ever sent, and nothing ever prompts for one.
    ("credential.helper", ""),
    ("core.askPass", ""),
    # A redirect could send us to a host the allow-list never approved.
    ("http.followRedirects", "false"),
    ("http.sslVerify", "true"),
    # No user-level attributes (and so no filter drivers) leak in; none are configured.
    ("core.attributesFile", "/dev/null"),
    # Bytes on disk are exactly the committed bytes.
    ("core.autocrlf", "false"),
    # No background processes that outlive the limits we enforce.
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("advice.detachedHead", "false"),
)

# Operator settings we keep; everything else (GIT_DIR, GIT_SSH_COMMAND, ...) is dropped.
_PASSTHROUGH_ENV = (
    "PATH",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@dataclass(frozen=True)
class GitLimits:
    """Resource limits for fetching and checking out one repository."""

    timeout: float = 300.0  # seconds for all git operations of one checkout
    max_bytes: int = 1024**3  # size of .git + work tree on disk
    max_files: int = 200_000  # files (and symlinks) in the work tree
    max_depth: int = 128  # folders a path may nest

    def __post_init__(self) -> None:
        """Reject limits that could never be met."""
        if not self.timeout > 0 or min(self.max_bytes, self.max_files, self.max_depth) <= 0:
            raise UserInputError(
                f"invalid git limits {self!r}: every limit must be positive",
                hint="configure a positive timeout, max_bytes and max_files",
            )


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
    limits: GitLimits = GitLimits(),
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
            git = _Git(target, limits, Path(home), local=normalised.startswith("/"))
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
    limits: GitLimits = GitLimits(),
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
            git = _Git(target, limits, Path(home), local=normalised.startswith("/"))
            _init(git)
            commit = _fetch(git, normalised, ref)
            return CommitTree(normalised, commit, _tree_of(git, commit))
    finally:
        remove_tree(target)


# --------------------------------------------------------------------------- source


def validate_source(source: str, *, allow_local: bool, allowed_hosts: frozenset[str] | None) -> str:
    """Return `source` normalised, or raise UserInputError if git must not be pointed at it."""
    if not isinstance(source, str) or not source.strip():
        raise _bad_source(repr(source), "it is empty")
    if _CONTROL.search(source):
        raise _bad_source(repr(source), "it contains control characters (NUL, newline, ...)")
    if source != source.strip():
        raise _bad_source(repr(source), "it has leading or trailing whitespace")
    if source.startswith("-"):
        raise _bad_source(source, "it looks like a command-line option")
    if _HELPER_SYNTAX.match(source):
        raise _bad_source(source, "the `transport::address` form (e.g. ext::) can run commands")
    scheme = _URL_SCHEME.match(source)
    if scheme:
        return _validate_url(source, scheme.group(1).lower(), allow_local, allowed_hosts)
    if ":" in source.split("/", 1)[0]:
        raise _bad_source(source, "ssh and scp-style `host:path` sources are not supported")
    if not allow_local:
        raise _bad_source(source, "it is not an https://, http:// or git:// URL")
    return _validate_local(source)


def _validate_url(
    source: str, scheme: str, allow_local: bool, allowed_hosts: frozenset[str] | None
) -> str:
    """Check a `scheme://` source; file:// becomes a local path when allowed."""
    parts = _split_url(source)
    if scheme == "file":
        if not allow_local or parts.netloc not in ("", "localhost"):
            raise _bad_source(source, "file:// URLs are not allowed here")
        return _validate_local(unquote(parts.path))
    if scheme not in _REMOTE_SCHEMES:
        raise _bad_source(source, f"the scheme {scheme}:// is not supported")
    if re.search(r"\s", source):
        raise _bad_source(source, "URLs must not contain whitespace")
    if "@" in parts.netloc:
        raise UserInputError(
            "source URL must not contain a user name or password",
            hint="remove the `user:password@` part; credentials are never sent with a fetch",
        )
    host = parts.hostname or ""
    if not _HOSTNAME.fullmatch(host) or parts.fragment:
        raise _bad_source(source, "the host name or URL is malformed")
    if allowed_hosts is not None and not _host_allowed(host, _port(parts, scheme), allowed_hosts):
        raise UserInputError(
            f"source host {host!r} is not allowed",
            hint="use a repository on one of: " + ", ".join(sorted(allowed_hosts)),
        )
    return scheme + source[len(scheme) :]


def _split_url(source: str) -> SplitResult:
    """Parse a URL, turning parser complaints into UserInputError."""
    try:
        parts = urlsplit(source)
        parts.port  # noqa: B018  - property access validates the port
    except ValueError as exc:
        raise _bad_source(source, f"the URL is malformed ({exc})") from None
    return parts


def _port(parts: SplitResult, scheme: str) -> int:
    """The port a URL connects to, defaulted per scheme."""
    return parts.port if parts.port is not None else _DEFAULT_PORTS[scheme]


def _host_allowed(host: str, port: int, allowed_hosts: frozenset[str]) -> bool:
    """True when `host` (any port) or `host:port` is listed."""
    shown = f"[{host}]" if ":" in host else host
    entries = {entry.strip().lower() for entry in allowed_hosts}
    return bool({host, shown, f"{shown}:{port}"} & entries)


def _validate_local(raw: str) -> str:
    """Check a local path names a git repository; return it absolute."""
    if not raw:
        raise _bad_source(repr(raw), "the path is empty")
    path = Path(os.path.abspath(raw))
    try:
        is_repo = path.is_dir() and (
            (path / ".git").exists()
            or all((path / n).exists() for n in ("HEAD", "objects", "refs"))
        )
    except OSError as exc:
        raise _bad_source(str(path), f"it cannot be read ({exc.strerror})") from None
    if not is_repo:
        raise UserInputError(
            f"local source {str(path)!r} is not a git repository",
            hint="point at a repository directory (bare, or one containing .git)",
        )
    return str(path)


def _bad_source(shown: str, why: str) -> UserInputError:
    """The uniform rejection of a source, with the accepted forms as hint."""
    return UserInputError(
        f"source {shown[:200]} is not accepted: {why}",
        hint="give an https://, http:// or git:// URL of the repository without credentials"
        " (or, on the command line, a local repository path)",
    )


# --------------------------------------------------------------------------- ref


def validate_ref(ref: str) -> str:
    """Return `ref` if it is a safe branch, tag or sha name; raise UserInputError otherwise."""
    why = ref_problem(ref)
    if why:
        raise UserInputError(
            f"ref {ref[:100]!r} is not accepted: {why}",
            hint="give a branch name, tag name or commit sha, e.g. `main`, `v1.2` or `3f2a9c1`",
        )
    return ref


def ref_problem(ref: str) -> str | None:
    """Why `ref` breaks `git check-ref-format` style rules, or None.

    The one grammar of ref names: the CLI, the API and webhook payloads all ask here.
    """
    if not isinstance(ref, str) or not ref:
        return "it is empty"
    if len(ref) > _MAX_REF_LENGTH:
        return "it is too long"
    if ref[0] in "-+/":
        # `-` would be read as an option, `+` as a forced refspec.
        return "it must not start with '-', '+' or '/'"
    if _REF_FORBIDDEN.search(ref) or not ref.isprintable():
        return "it contains spaces, control characters or one of ~ ^ : ? * [ \\"
    if ".." in ref or "@{" in ref or "//" in ref or ref == "@":
        return "it contains '..', '@{' or '//', or is '@'"
    if ref.endswith(("/", ".", ".lock")):
        return "it ends with '/', '.' or '.lock'"
    if any(part.startswith(".") or part.endswith(".lock") for part in ref.split("/")):
        return "a component starts with '.' or ends with '.lock'"
    return None


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


# --------------------------------------------------------------------------- running git


@dataclass(frozen=True)
class _Result:
    """What one git subprocess did."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    too_large: bool

    @property
    def ok(self) -> bool:
        """True when git succeeded within the limits."""
        return self.returncode == 0 and not self.timed_out and not self.too_large


class _Capture:
    """Keeps the first `limit` bytes of a stream and drains the rest."""

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit
        self.exceeded = False

    def feed(self, chunk: bytes) -> None:
        """Take one chunk of output."""
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]


class _TreeTally(_Capture):
    """Counts `git ls-tree -r -l -z` entries and bytes as they stream by."""

    def __init__(self, max_files: int, max_bytes: int, max_depth: int) -> None:
        super().__init__(0)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.files = 0
        self.bytes = 0
        self.deepest = b""
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        """Count every complete record; flag as soon as a limit is passed."""
        if self.exceeded:
            return
        *records, self._pending = (self._pending + chunk).split(b"\0")
        for record in records:
            self._count(record)
        # One absurdly long path is as good a reason to stop as too many files.
        if len(self._pending) > _MAX_TREE_RECORD:
            self.exceeded = True
        if self.files > self.max_files or self.bytes > self.max_bytes or self.deepest:
            self.exceeded = True

    def _count(self, record: bytes) -> None:
        """Add one `mode type sha size<TAB>path` record."""
        head, _, path = record.partition(b"\t")
        # A tree thousands of folders deep breaks tools that recurse per level
        # (Python's shutil.rmtree among them) long before it breaks git.
        if path.count(b"/") > self.max_depth and not self.deepest:
            self.deepest = path
        fields = head.split()
        if len(fields) == 4 and fields[1] in (b"blob", b"commit"):
            self.files += 1  # a gitlink ("commit") still becomes a directory
            if fields[3].isdigit():
                self.bytes += int(fields[3])


class _Killer:
    """Kills a git process group once, from whichever thread notices first."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._lock = threading.Lock()

    def __call__(self) -> None:
        """SIGKILL the whole group: git forks index-pack, remote helpers, ..."""
        with self._lock:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class _Git:
    """Runs hardened git commands for one checkout, within its shared limits."""

    def __init__(self, dest: Path, limits: GitLimits, home: Path, *, local: bool) -> None:
        self.dest = dest
        self.limits = limits
        self.local = local
        self._home = home
        self._deadline = time.monotonic() + limits.timeout

    def remaining(self) -> float:
        """Seconds left of the whole checkout's timeout."""
        return self._deadline - time.monotonic()

    def run(
        self,
        args: Sequence[str],
        *,
        repo: bool = True,
        allow_file: bool = False,
        watch: bool = False,
        sink: _Capture | None = None,
    ) -> _Result:
        """Run `git <args>` hardened; kill it on timeout or when dest outgrows max_bytes."""
        timeout = self.remaining()
        if timeout <= 0:
            return _Result(-1, "", "", timed_out=True, too_large=False)
        proc = self._spawn(self._command(args, repo=repo, allow_file=allow_file), allow_file)
        kill = _Killer(proc)
        out = sink if sink is not None else _Capture(_STDOUT_LIMIT)
        err = _Capture(_STDERR_LIMIT)
        stop = threading.Event()
        tripped = threading.Event()
        assert proc.stdout is not None and proc.stderr is not None
        readers = [_start(_drain, proc.stdout, out, kill), _start(_drain, proc.stderr, err, kill)]
        watcher = (
            _start(_watch, self.dest, self.limits.max_bytes, stop, tripped, kill) if watch else None
        )
        timed_out = _wait(proc, timeout, kill)
        stop.set()
        _join(readers, watcher, kill)
        return _Result(
            returncode=proc.returncode,
            stdout=out.data.decode("utf-8", "replace"),
            stderr=err.data.decode("utf-8", "replace"),
            timed_out=timed_out,
            too_large=tripped.is_set() or out.exceeded,
        )

    def _command(self, args: Sequence[str], *, repo: bool, allow_file: bool) -> list[str]:
        """The full argv: hardening options, explicit repository, then `args`."""
        options = dict(_HARDENING)
        # The one fetch from a vetted local path needs file://; nothing else ever does.
        options["protocol.file.allow"] = "always" if allow_file else "never"
        argv = ["git"]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        if repo:
            # Explicit paths: never discover a repository in (or above) dest.
            argv += [f"--git-dir={self.dest / '.git'}", f"--work-tree={self.dest}"]
        return argv + list(args)

    def _spawn(self, argv: list[str], allow_file: bool) -> subprocess.Popen[bytes]:
        """Start git in its own process group with a controlled environment."""
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.dest,
                env=_environment(self._home, allow_file),
                start_new_session=True,
            )
        except OSError as exc:
            raise PlatformError(
                f"could not run git: {exc.strerror}",
                hint="install git (2.39 or newer) and make sure it is on PATH",
            ) from None


def _environment(home: Path, allow_file: bool) -> dict[str, str]:
    """A minimal environment: no user config, no prompts, no inherited GIT_* variables."""
    env = {key: os.environ[key] for key in _PASSTHROUGH_ENV if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            # An empty HOME and no system/global config: ~/.gitconfig cannot add hooks or filters.
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_SYSTEM": os.devnull,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ATTR_NOSYSTEM": "1",
            # Never wait for a person: no terminal prompt and no askpass program.
            "GIT_TERMINAL_PROMPT": "0",
            # Transports come from us, not from URLs inside the repository (submodules).
            "GIT_PROTOCOL_FROM_USER": "0",
            "GIT_ALLOW_PROTOCOL": "https:http:git" + (":file" if allow_file else ""),
            # refs/replace/* must not change which commit we verify.
            "GIT_NO_REPLACE_OBJECTS": "1",
            "GIT_OPTIONAL_LOCKS": "0",
            # English messages, because we classify git's stderr.
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    return env


def _start(target: Callable[..., None], *args: object) -> threading.Thread:
    """Start a daemon thread."""
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _drain(stream: IO[bytes], sink: _Capture, kill: _Killer) -> None:
    """Feed a pipe into `sink` until EOF; kill git when the sink says enough."""
    fd = stream.fileno()
    try:
        while chunk := os.read(fd, 1 << 16):
            sink.feed(chunk)
            if sink.exceeded:
                kill()
    finally:
        stream.close()


def _watch(
    dest: Path, max_bytes: int, stop: threading.Event, tripped: threading.Event, kill: _Killer
) -> None:
    """Poll the size of dest; kill git as soon as it exceeds `max_bytes`."""
    while not stop.wait(_POLL_SECONDS):
        if _usage(dest, byte_cap=max_bytes).bytes > max_bytes:
            tripped.set()
            kill()
            return


def _wait(proc: subprocess.Popen[bytes], timeout: float, kill: _Killer) -> bool:
    """Wait for git; kill it at the timeout (or on interrupt). True when it timed out."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill()
        proc.wait()
        return True
    except BaseException:
        kill()
        proc.wait()
        raise
    return False


def _join(readers: list[threading.Thread], watcher: threading.Thread | None, kill: _Killer) -> None:
    """Collect helper threads; a straggler still holding a pipe gets its group killed."""
    for thread in readers:
        thread.join(timeout=5)
        if thread.is_alive():
            kill()
            thread.join(timeout=5)
    if watcher is not None:
        watcher.join(timeout=5)


# --------------------------------------------------------------------------- disk usage


@dataclass(frozen=True)
class _Usage:
    """Files in the work tree (outside .git) and bytes under dest (including .git)."""

    files: int
    bytes: int


def _usage(root: Path, *, byte_cap: int | None = None) -> _Usage:
    """Measure `root` with lstat only, never following symlinks; stop early past `byte_cap`."""
    files = size = 0
    stack: list[tuple[str, bool]] = [(str(root), False)]
    while stack:
        directory, in_git = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue  # git may delete temporary files while we look
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(
                        (entry.path, in_git or (directory == str(root) and entry.name == ".git"))
                    )
                    continue
                size += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
            files += 0 if in_git else 1
        if byte_cap is not None and size > byte_cap:
            break
    return _Usage(files=files, bytes=size)


# --------------------------------------------------------------------------- the steps


def _fetch_and_checkout(git: _Git, source: str, ref: str | None) -> str:
    """Init, fetch, size-check and check out; return the verified commit sha."""
    _init(git)
    commit = _fetch(git, source, ref)
    _check_tree(git, source, commit)
    _checkout(git, source, commit)
    _verify(git, commit)
    _check_submodules(git, source)
    return commit


def _init(git: _Git) -> None:
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


def _neutralise_attributes(git: _Git) -> None:
    info = git.dest / ".git" / "info"
    info.mkdir(exist_ok=True)
    (info / "attributes").write_text(_NEUTRAL_ATTRIBUTES, encoding="ascii")


def _fetch(git: _Git, source: str, ref: str | None) -> str:
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


def _fetch_refspecs(git: _Git, source: str, options: list[str], refspecs: list[str]) -> _Result:
    """One `git fetch` from `source`, watched for size."""
    args = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--no-auto-maintenance"]
    args += [*options, "--end-of-options", source, *refspecs]
    return git.run(args, allow_file=git.local, watch=True)


def _resolve(git: _Git, source: str, ref: str | None, name: str, *, expect: str) -> str:
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


def _tree_of(git: _Git, commit: str) -> str:
    """The tree id `commit` names (SHA-1 or SHA-256 hex)."""
    result = git.run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^{{tree}}"])
    tree = result.stdout.strip()
    if not result.ok or not _OBJECT_ID.fullmatch(tree):
        raise _local_error(result, git, f"reading the tree of {commit}")
    return tree


def _check_tree(git: _Git, source: str, commit: str) -> None:
    """Refuse before checkout when the commit's tree alone is over the limits."""
    room = git.limits.max_bytes - _usage(git.dest).bytes
    if room < 0:
        raise _too_large(source, "its history alone exceeds the size limit", git.limits)
    tally = _TreeTally(git.limits.max_files, room, git.limits.max_depth)
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


def _checkout(git: _Git, source: str, commit: str) -> None:
    """Write the work tree of `commit` (detached HEAD), watched for size, then re-measure."""
    result = git.run(
        ["checkout", "--quiet", "--detach", "--no-recurse-submodules", commit, "--"], watch=True
    )
    if not result.ok:
        raise _local_error(result, git, f"checking out {commit}")
    usage = _usage(git.dest)
    if usage.files > git.limits.max_files or usage.bytes > git.limits.max_bytes:
        raise _too_large(
            source, f"the checkout holds {usage.files} files, {usage.bytes} bytes", git.limits
        )


def _check_submodules(git: _Git, source: str) -> None:
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
    if _HELPER_SYNTAX.match(value):
        return "a `transport::` URL (such as ext::) runs a command when fetched"
    if value.startswith("-"):
        return "a URL that starts with '-' is read as a command-line option"
    scheme = _URL_SCHEME.match(value)
    if value.startswith("/") or (scheme and scheme.group(1).lower() == "file"):
        return "a local path or file:// URL reads the fetching machine's own files"
    return None


def _verify(git: _Git, commit: str) -> None:
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


def _fetch_error(result: _Result, git: _Git, source: str, ref: str | None) -> AcceptanceError:
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


def _local_error(result: _Result, git: _Git, doing: str) -> AcceptanceError:
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


def _unsafe(source: str, result: _Result, *, doing: str = "fetching") -> SubmissionError:
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
