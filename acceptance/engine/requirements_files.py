"""Requirements files: which ones a delivery's tests need, and how their lines are read.

Which requirements files are read (when no override is given):

* ``requirements.txt`` at the root (the runtime dependencies);
* other root ``*.txt`` files whose name contains ``requirements`` and whose
  name words (split on ``-``, ``_``, ``.``) include one of ``TEST_WORDS``
  (``requirements-dev.txt``, ``test-requirements.txt``, ``requirements_test.txt``);
* ``requirements/*.txt`` whose name words include one of ``TEST_WORDS`` or whose
  stem is one of ``BASE_NAMES`` (``base.txt``, ``common.txt``...);
* whatever those include with ``-r``. Docs/lint files are not read.

Requirements-file option policy: ``-r`` is followed inside the checkout,
``-c`` constraints are ignored (versions are not pinned by them here), ``-e``
and bare paths name local projects, ``--hash`` is stripped, and every other
option (index, find-links, trusted-host, ``--pre``, ``--no-binary``...) is
ignored with an evidence line: the host's downloads use only its own pip
configuration. Option values are never echoed, since they may carry tokens.
The lines are parsed here; nothing is ever handed to pip.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from acceptance import safefs
from acceptance.engine.install_plan import (
    MAX_FILE_BYTES,
    OFFLINE_HINT,
    URL_RE,
    PlanBuilder,
    project_files,
    shorten,
    unsupported,
    url_error,
    valid_extra,
)

MAX_REQUIREMENT_FILES = 100

TEST_WORDS = frozenset({"test", "tests", "testing", "dev", "develop", "development", "ci"})
BASE_NAMES = frozenset({"base", "common", "main", "requirements", "runtime", "install"})
REQUIREMENTS_DIR = "requirements"

_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_SOURCE_OPTIONS = frozenset(
    {"-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links", "--trusted-host"}
)


def _words(stem: str) -> set[str]:
    return set(re.split(r"[-_.]+", stem.lower()))


def requirements_files(checkout: Path) -> list[str]:
    """The requirements files a project's CI would install, by the rule in the module doc."""
    chosen: list[str] = []
    root_names = [n for n in safefs.list_dir(checkout, ".") if n.lower().endswith(".txt")]
    if "requirements.txt" in root_names and safefs.is_regular_file(checkout, "requirements.txt"):
        chosen.append("requirements.txt")
    for name in root_names:
        stem = name[:-4]
        if name == "requirements.txt" or "requirements" not in stem.lower():
            continue
        if _words(stem) & TEST_WORDS and safefs.is_regular_file(checkout, name):
            chosen.append(name)
    if safefs.is_directory(checkout, REQUIREMENTS_DIR):
        for name in safefs.list_dir(checkout, REQUIREMENTS_DIR):
            stem = name[:-4]
            if not name.lower().endswith(".txt"):
                continue
            if not (_words(stem) & TEST_WORDS or stem.lower() in BASE_NAMES):
                continue
            relpath = f"{REQUIREMENTS_DIR}/{name}"
            if safefs.is_regular_file(checkout, relpath):
                chosen.append(relpath)
    return chosen


# ----------------------------------------------------------------------------- lines


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations and strip comments, keeping the first line's number."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        line = _COMMENT_RE.sub("", " ".join(pending)).strip()
        pending = []
        if line:
            lines.append((start, line))
    if pending:
        line = _COMMENT_RE.sub("", " ".join(pending)).strip()
        if line:
            lines.append((start, line))
    return lines


def _split_options(line: str) -> tuple[str, list[str]]:
    """Split ``req --hash=... --opt`` into the requirement and its trailing option tokens."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char.isspace() and re.match(r"\s+-", line[index:]):
            return line[:index].strip(), line[index:].split()
    return line.strip(), []


def _option_and_value(line: str) -> tuple[str, str]:
    if line.startswith("--"):
        name, sep, value = line.partition("=")
        if not sep:
            name, _, value = line.partition(" ")
        return name.strip(), value.strip()
    # short options may be glued to their value: -rfile.txt
    return line[:2], line[2:].strip()


class RequirementsReader:
    """Parses requirements lines itself; nothing is ever handed to pip."""

    def __init__(self, plan: PlanBuilder) -> None:
        self.plan = plan
        self.visited: set[str] = set()

    def read_file(self, relpath: str, where: str) -> None:
        if relpath in self.visited:
            self.plan.evidence.append(f"{relpath}: already read, not read again ({where})")
            return
        if len(self.visited) >= MAX_REQUIREMENT_FILES:
            raise unsupported(f"{where}: more than {MAX_REQUIREMENT_FILES} requirements files")
        self.visited.add(relpath)
        text = safefs.read_text(self.plan.checkout, relpath, MAX_FILE_BYTES)
        if text is None:
            raise unsupported(
                f"{where}: includes {relpath!r}, which does not exist in the submission"
            )
        if "${" in text:
            self.plan.evidence.append(
                f"{relpath}: environment variable references are not expanded"
            )
        before = len(self.plan.requirements)
        for number, line in logical_lines(text):
            self.read_line(line, f"{relpath} line {number}", posixpath.dirname(relpath))
        added = len(self.plan.requirements) - before
        self.plan.evidence.append(f"{relpath}: {added} requirements")

    def _include_path(self, value: str, base_dir: str, where: str) -> str:
        if URL_RE.match(value):
            raise url_error(where, value)
        if value.startswith(("/", "~")):
            raise unsupported(
                f"{where}: {shorten(value)!r} is an absolute path; "
                "only files in the submission can be used"
            )
        joined = posixpath.normpath(posixpath.join(base_dir, value))
        if joined == ".." or joined.startswith("../"):
            raise unsupported(f"{where}: {shorten(value)!r} points outside the submission")
        return "/".join(safefs.split_relpath(joined))

    def read_line(self, line: str, where: str, base_dir: str) -> None:
        if line.startswith("-"):
            self._read_option(line, where, base_dir)
            return
        requirement, options = _split_options(line)
        hashes = 0
        skip_next = False
        for token in options:
            if skip_next:
                skip_next = False
                continue
            if token.startswith("--hash"):
                hashes += 1
                skip_next = "=" not in token
            elif token.startswith("-"):
                self.plan.evidence.append(
                    f"{where}: option {shorten(token.split('=')[0], 40)!r} ignored "
                    "(only pre-built wheels are installed)"
                )
        if hashes:
            self.plan.evidence.append(f"{where}: {hashes} --hash pin(s) stripped")
        self._read_requirement(requirement, where, editable=False)

    def _read_option(self, line: str, where: str, base_dir: str) -> None:
        name, value = _option_and_value(line)
        if name in ("-r", "--requirement", "-c", "--constraint") and not value:
            raise unsupported(f"{where}: option {name!r} needs a file name")
        if name in ("-r", "--requirement"):
            self.read_file(self._include_path(value, base_dir, where), where)
        elif name in ("-c", "--constraint"):
            self.plan.evidence.append(
                f"{where}: constraints file {shorten(value)!r} ignored "
                "(constraints are not applied)"
            )
        elif name in ("-e", "--editable"):
            self._read_requirement(value, where, editable=True)
        elif name in _SOURCE_OPTIONS:
            self.plan.evidence.append(
                f"{where}: option {name!r} ignored for safety: packages come only from "
                "the acceptance service's own package index"
            )
        else:
            self.plan.evidence.append(
                f"{where}: option {shorten(name, 40)!r} ignored (the acceptance service uses "
                "fixed pip options and installs pre-built wheels only)"
            )

    def _read_requirement(self, text: str, where: str, *, editable: bool) -> None:
        if not text:
            raise unsupported(f"{where}: option without a value")
        if "${" in text:
            raise unsupported(
                f"{where}: environment variable references like '${{...}}' are not expanded"
            )
        if URL_RE.match(text):
            raise url_error(where, text)
        head = re.split(r"[\[;@\s]", text, maxsplit=1)[0]
        looks_like_path = text.startswith((".", "/", "~")) or "/" in head or "\\" in head
        if looks_like_path or head.lower().endswith(_ARCHIVE_SUFFIXES):
            self._read_local(text, where, editable)
            return
        if editable:
            raise unsupported(
                f"{where}: editable requirement {shorten(text)!r} must be a local path"
            )
        self.plan.add_requirements([text], where)

    def _read_local(self, text: str, where: str, editable: bool) -> None:
        match = re.fullmatch(
            r"(?P<path>[^\[;]+?)\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<marker>;.*)?", text
        )
        if match is None:
            raise unsupported(f"{where}: {shorten(text)!r} is not a valid local path")
        if match["marker"]:
            raise unsupported(f"{where}: environment markers on local paths are not supported")
        path = match["path"].strip()
        if path.lower().endswith(_ARCHIVE_SUFFIXES):
            raise unsupported(
                f"{where}: local archive {shorten(path)!r} is not supported; "
                "list the package by name",
                hint=OFFLINE_HINT,
            )
        # pip resolves local paths against the working directory, i.e. the checkout root.
        relpath = self._include_path(path, "", where) or "."
        extras = [
            valid_extra(e.strip(), where) for e in (match["extras"] or "").split(",") if e.strip()
        ]
        if not safefs.is_directory(self.plan.checkout, relpath):
            raise unsupported(
                f"{where}: local project {shorten(path)!r} does not exist in the submission"
            )
        if not any(project_files(self.plan.checkout, relpath).values()):
            raise unsupported(
                f"{where}: {shorten(path)!r} has no pyproject.toml, setup.py or setup.cfg"
            )
        self.plan.add_local(relpath, extras, editable)
        self.plan.evidence.append(
            f"{where}: local project {relpath!r} ({'editable' if editable else 'from source'})"
        )
