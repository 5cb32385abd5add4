"""Shell code the shell files load: files without a shell suffix or shebang that still run.

ShellCheck reads the files it is given and never what they source (without `-x`), and the
engine gives it `*.sh`, `*.bash`, `*.bats`, `*.ksh` and shell shebangs (checks/shellcheck.py).
A library named `lib/tidy`, loaded by a test (`load`, `source`, `.`) or run as `bash FILE`,
would run unread. This module finds, on the host, every regular file of the checkout that
a shell file names by a constant path in such a place, and the files those name in turn,
until the set is closed; checks/shellcheck.py scans them with `--shell=bash` beside the
others, and adds what ShellCheck's own "Not following" comments (SC1091) name too.

What counts as a constant path: a word without expansions once `$BATS_TEST_DIRNAME` (and
`${...}`) is read as the file's folder, and `$PWD` as the checkout's root (bats runs there);
a relative path is tried from both. A `# shellcheck source=PATH` directive names a file
too: it is followed, never trusted to hide one (checks/shellcheck.py blanks it for the
scan that lists findings). Executable files without a shebang that a shell file names
anywhere are followed too: bash runs such a file as a script of its own.

Read as bytes, never run; links and `.git` are never followed, nor paths out of the tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

#: the files followed, in all; past it the check fails (never passes unread)
MAX_FOLLOWED = 1_000
#: distinct words holding a slash looked up per file, for executables without a shebang;
#: past it, or past MAX_READ_TOTAL bytes read in all, the set is cut (the check fails)
MAX_WORDS = 20_000
MAX_READ_TOTAL = 256 * 1024**2
#: bytes of a file read for the names it holds (the scanner's own cap)
MAX_READ_BYTES = 2 * 1024**2
#: commands whose first operand is a file of shell code: `source`, `.` and bats's `load`
#: (`--` at most before it), and the shells (their options before it)
_WORD = rb"""(?:"[^"\n]*"|'[^'\n]*'|[^\s;&|()<>"'`])+"""
_LOAD = re.compile(
    rb"(?:^|[\s;&|({`]|\$\()(?:(?:builtin|command|run|exec|time|!)[ \t]+)*"
    rb"(?:(source|\.|load)(?:[ \t]+--)?|(bash|sh|dash|ksh|bats)(?:[ \t]+[-+][-\w]*)*)"
    rb"[ \t]+(" + _WORD + rb")",
    re.MULTILINE,
)
#: a comment starts the line, or follows a blank: what follows it runs nothing
_COMMENT = re.compile(rb"(?:^|[ \t])#", re.MULTILINE)
_SOURCE_DIRECTIVE = re.compile(rb"#[ \t]*shellcheck[ \t]+[^\n]*?\bsource=(\S+)")
#: any word holding a slash, or a bare file name: candidates for "run directly"
_ANY_WORD = re.compile(_WORD)
_DIR_VARIABLES = (b"${BATS_TEST_DIRNAME}", b"$BATS_TEST_DIRNAME")
_ROOT_VARIABLES = (b"${PWD}", b"$PWD")
_NOT_CONSTANT = re.compile(rb"[$`*?\[\]{}~\\]")
_ASSIGNMENT = re.compile(rb"^[A-Za-z_][A-Za-z0-9_]*=")


class _TooManyWords(Exception):
    """A file names more paths than the engine looks up: the set is reported as cut."""


def followed_files(
    tree: Path, scanned: Sequence[str], exclude: Sequence[str] = (), extra: Iterable[str] = ()
) -> tuple[list[str], bool]:
    """Files (relative, sorted) not in `scanned` that the shell code loads; and whether the
    set was cut (MAX_FOLLOWED, MAX_WORDS, MAX_READ_TOTAL: the caller fails the check).
    `extra` are paths already known to be followed (SC1091)."""
    skipped = {e.strip().strip("/") for e in exclude if e.strip().strip("/") not in ("", ".")}
    known = set(scanned)
    followed: set[str] = set()
    queue = list(scanned)
    for rel in extra:
        if rel not in known and _allowed(rel, skipped):
            followed.add(rel)
            queue.append(rel)
    read = 0
    while queue:
        rel = queue.pop()
        try:
            read += min(os.lstat(tree / rel).st_size, MAX_READ_BYTES)
            if read > MAX_READ_TOTAL:
                return sorted(followed), True
            names = names_in(tree, rel)
        except OSError:
            continue
        except _TooManyWords:
            return sorted(followed), True
        for name in names:
            if name in known or name in followed or not _allowed(name, skipped):
                continue
            if len(followed) >= MAX_FOLLOWED:
                return sorted(followed), True
            followed.add(name)
            queue.append(name)
    return sorted(followed), False


def names_in(tree: Path, rel: str) -> set[str]:
    """The checkout's regular files that the shell file `rel` loads or runs by a constant path."""
    data = _read(tree / rel)
    if data is None:
        return set()
    folder = os.path.dirname(rel)
    found: set[str] = set()
    for match in _LOAD.finditer(data):
        at = match.start(1) if match.group(1) else match.start(2)
        if _COMMENT.search(data, data.rfind(b"\n", 0, at) + 1, at):
            continue
        bats_load = match.group(1) == b"load"
        found.update(resolve(tree, folder, match.group(3), bats_load=bats_load))
    for match in _SOURCE_DIRECTIVE.finditer(data):
        found.update(resolve(tree, folder, match.group(1)))
    # each distinct word once: a file of repeated paths costs one look each, not thousands
    words = {m.group(0) for m in _ANY_WORD.finditer(data) if b"/" in m.group(0)}
    if len(words) > MAX_WORDS:
        raise _TooManyWords(rel)
    for word in words:
        for name in resolve(tree, folder, word):
            if _runs_as_shell(tree / name):
                found.add(name)
    return found


def resolve(tree: Path, folder: str, word: bytes, *, bats_load: bool = False) -> list[str]:
    """The checkout files a word names, tried from the file's folder and from the root."""
    text = _ASSIGNMENT.sub(b"", word.replace(b'"', b"").replace(b"'", b""))
    for variable in _DIR_VARIABLES:
        text = text.replace(variable, b"./" if not folder else folder.encode() + b"/")
    starts = [folder, ""]
    for variable in _ROOT_VARIABLES:
        if text.startswith(variable):
            text, starts = b"./" + text[len(variable) :], [""]
    if not text or text.startswith((b"/", b"-")) or _NOT_CONSTANT.search(text):
        return []
    try:
        path = text.decode("utf-8")
    except UnicodeDecodeError:
        return []
    candidates = [path + ".bash", path] if bats_load else [path]
    found: list[str] = []
    for start in dict.fromkeys(starts):
        for candidate in candidates:
            rel = os.path.normpath(os.path.join(start, candidate))
            if _regular_in_tree(tree, rel):
                found.append(rel)
    return found


def _allowed(rel: str, skipped: set[str]) -> bool:
    parts = rel.split("/")
    return not any("/".join(parts[: i + 1]) in skipped for i in range(len(parts)))


def _regular_in_tree(tree: Path, rel: str) -> bool:
    """Whether `rel` is a regular file inside the tree, reached through no link, not in .git."""
    if rel in ("", ".") or rel.startswith("../") or rel == ".." or os.path.isabs(rel):
        return False
    parts = rel.split("/")
    if ".git" in parts or not os.path.isfile(os.path.join(tree, rel)):
        return False  # one look for the usual word that names nothing
    path = tree
    for part in parts:
        path = path / part
        if path.is_symlink():
            return False
    return path.is_file()


def _runs_as_shell(path: Path) -> bool:
    """An executable text file without a shebang: execve refuses it and bash runs it itself."""
    try:
        if not path.stat().st_mode & 0o111:
            return False
        with open(path, "rb") as handle:
            head = handle.read(8192)
    except OSError:
        return False
    return not head.startswith(b"#!") and b"\0" not in head


def _read(path: Path) -> bytes | None:
    try:
        if path.is_symlink():
            return None
        with open(path, "rb") as handle:
            return handle.read(MAX_READ_BYTES)
    except OSError:
        return None


def settled_lines(tree: Path, rel: str, scanned: set[str]) -> frozenset[int]:
    """Lines of `rel` whose non-constant `source` a `# shellcheck source=FILE` directive
    settles: FILE is a scanned file of the checkout and the next command names it.

    ShellCheck reports such a source (SC1090) unless the directive is there; the engine
    scans with the directive blanked, so the finding would read as suppressed. It is not
    a finding when the file the directive names is scanned and is the one the command
    sources (its name on the line); `source=/dev/null`, or a name the command does not
    use, settles nothing.
    """
    data = _read(tree / rel)
    if data is None:
        return frozenset()
    lines = data.split(b"\n")
    folder = os.path.dirname(rel)
    settled: set[int] = set()
    for number, line in enumerate(lines):
        match = _SOURCE_DIRECTIVE.search(line)
        if match is None:
            continue
        named = [n for n in resolve(tree, folder, match.group(1)) if n in scanned]
        if not named:
            continue
        for later in range(number + 1, min(number + 20, len(lines))):
            text = lines[later].strip()
            if not text or text.startswith(b"#"):
                continue
            if any(os.path.basename(n).encode() in text for n in named):
                settled.add(later + 1)
            break
    return frozenset(settled)
