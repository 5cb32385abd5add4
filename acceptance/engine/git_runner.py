"""Run hardened git for one checkout: no hooks, no user config, one deadline, capped output and disk."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from acceptance.engine.disk_usage import disk_usage
from acceptance.errors import PlatformError, UserInputError

_POLL_SECONDS = 0.1
_STDOUT_LIMIT = 1 << 20
_STDERR_LIMIT = 64 << 10
_MAX_TREE_RECORD = 64 << 10

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
class GitResult:
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


class OutputCapture:
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


class TreeTally(OutputCapture):
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


class GitRunner:
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
        sink: OutputCapture | None = None,
    ) -> GitResult:
        """Run `git <args>` hardened; kill it on timeout or when dest outgrows max_bytes."""
        timeout = self.remaining()
        if timeout <= 0:
            return GitResult(-1, "", "", timed_out=True, too_large=False)
        proc = self._spawn(self._command(args, repo=repo, allow_file=allow_file), allow_file)
        kill = _Killer(proc)
        out = sink if sink is not None else OutputCapture(_STDOUT_LIMIT)
        err = OutputCapture(_STDERR_LIMIT)
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
        return GitResult(
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


def _drain(stream: IO[bytes], sink: OutputCapture, kill: _Killer) -> None:
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
        if disk_usage(dest, byte_cap=max_bytes).bytes > max_bytes:
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
