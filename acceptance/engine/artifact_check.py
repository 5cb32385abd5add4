"""Downloaded files held against the sha256 and size a signed report records for them.

The report's `predicate.artifacts` maps each file the checks produced (JUnit
XML, SARIF, SBOM...) to `{sha256, size}`; the signature covers that map, so a
verifier who has checked the signature can check the files too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from acceptance.errors import UserInputError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RecordedFile:
    sha256: str
    size: int


@dataclass(frozen=True)
class ArtifactComparison:
    """What the folder holds compared with what the report records."""

    matching: list[str] = field(default_factory=list)
    #: one line per missing, changed, extra or unreadable file, naming it
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def recorded_artifacts(predicate: object) -> tuple[dict[str, RecordedFile], list[str]]:
    """The report's artifacts map, and a line for each entry that cannot be used."""
    records = predicate.get("artifacts") if isinstance(predicate, Mapping) else None
    if not isinstance(records, Mapping) or not records:
        return {}, ["the signed report records no artifacts to check the files against"]
    usable: dict[str, RecordedFile] = {}
    problems: list[str] = []
    for name, entry in sorted(records.items(), key=lambda item: str(item[0])):
        sha256 = entry.get("sha256") if isinstance(entry, Mapping) else None
        size = entry.get("size") if isinstance(entry, Mapping) else None
        if not _plain_name(name):
            problems.append(f"unusable: the report names a file {name!r}, not a plain file name")
        elif not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)) or not (
            isinstance(size, int) and not isinstance(size, bool) and size >= 0
        ):
            problems.append(f"unusable: the report's entry for {name} has no sha256 and size")
        else:
            usable[name] = RecordedFile(sha256, size)
    return usable, problems


def compare_artifacts(
    recorded: tuple[dict[str, RecordedFile], list[str]], folder: Path, skip: Iterable[Path] = ()
) -> ArtifactComparison:
    """Each recorded file present and identical in `folder`, and nothing else there.

    `skip` names files that may sit in the folder without being artifacts
    (the report itself).
    """
    files, problems = recorded
    if not folder.is_dir():
        raise UserInputError(
            f"{folder} is not a folder", hint="pass the folder the files were saved in"
        )
    skipped = {path.resolve() for path in skip}
    present = {entry.name: entry for entry in folder.iterdir() if entry.resolve() not in skipped}
    matching: list[str] = []
    for name, record in files.items():
        path = present.pop(name, None)
        if path is None:
            problems.append(f"missing: {name}")
            continue
        found = _describe(path)
        if found is None:
            problems.append(f"unreadable: {name} is not a regular file")
        elif found != record:
            problems.append(f"changed: {name} ({_difference(record, found)})")
        else:
            matching.append(name)
    problems += [f"extra: {name} (not in the signed report)" for name in sorted(present)]
    return ArtifactComparison(matching, problems)


def _plain_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(c in name for c in "/\\\x00")
    )


def _describe(path: Path) -> RecordedFile | None:
    """The file's sha256 and size, streamed; None for anything but a regular file."""
    if path.is_symlink() or not path.is_file():
        return None
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return RecordedFile(digest.hexdigest(), size)


def _difference(record: RecordedFile, found: RecordedFile) -> str:
    if record.size != found.size:
        return f"{found.size} bytes, the report says {record.size}"
    return f"sha256 {found.sha256[:16]}…, the report says {record.sha256[:16]}…"
