"""A Node.js delivery's lockfile, read on the host as untrusted input (issue 16).

The lockfile is what makes a judgement reproducible: without one the engine refuses the
delivery (`LOCKFILE_REQUIRED`, saying how to make it). Every package it lists must come
from the engine's registry as a tarball: `file:`, `link:`, git and other URLs are
refused (`NPM_SOURCE_REFUSED`) before anything is fetched, so the host never reads a
path or a repository the supplier chose. Only `package.json` and the lockfile are read;
links are never followed.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acceptance.errors import SubmissionError

LOCKFILES = ("npm-shrinkwrap.json", "package-lock.json")
MANIFEST = "package.json"
#: the registry every locked package must come from (npm's public registry), unless the
#: engine is given another (ACCEPTANCE_NPM_REGISTRY, a mirror): then a `resolved` URL may
#: name either, as npm fetches this one's packages from the mirror (`--replace-registry-host`)
NPM_REGISTRY = "https://registry.npmjs.org/"
MAX_MANIFEST_BYTES = 1024**2
MAX_LOCKFILE_BYTES = 32 * 1024**2
MAX_PACKAGES = 5000
LOCKFILE_REQUIRED = "LOCKFILE_REQUIRED"
SOURCE_REFUSED = "NPM_SOURCE_REFUSED"
HOW_TO_LOCK = (
    "run `npm install --package-lock-only` in the project and commit the package-lock.json "
    "it writes"
)
#: dependency specifiers that name a place instead of a registry version
_PLACE_PREFIXES = ("file:", "link:", "git:", "git+", "github:", "gitlab:", "bitbucket:",
                   "gist:", "http:", "https:", "portal:", "workspace:")  # fmt: skip
_DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")


@dataclass(frozen=True)
class LockedPackage:
    """One package the lockfile installs: where under node_modules, which name and version."""

    path: str
    name: str
    version: str
    optional: bool = False
    #: the licence its installed package.json declares (set once the folder is checked)
    licence: str = ""


@dataclass(frozen=True)
class NpmProject:
    """The delivery's manifest and lockfile bytes, and the packages the lockfile installs."""

    manifest: bytes
    lockfile_name: str
    lockfile: bytes
    packages: tuple[LockedPackage, ...]
    test_script: str | None


def read_project(tree: Path, registry: str = NPM_REGISTRY) -> NpmProject:
    """The checkout's package.json and lockfile, validated; SubmissionError when refused.

    `registry` is the engine's (ending in `/`): a locked package resolved anywhere but
    there or NPM_REGISTRY is refused.
    """
    manifest = _read(tree, MANIFEST, MAX_MANIFEST_BYTES)
    if manifest is None:
        raise SubmissionError("INSTALL_FAILED", f"the repository has no regular root {MANIFEST}")
    found = [(name, _read(tree, name, MAX_LOCKFILE_BYTES)) for name in LOCKFILES]
    present = [(n, data) for n, data in found if data is not None]
    if not present:
        raise SubmissionError(
            LOCKFILE_REQUIRED,
            "a Node.js delivery must include its lockfile (package-lock.json or "
            "npm-shrinkwrap.json) so the judged dependencies are the ones delivered: "
            + HOW_TO_LOCK,
            hint=HOW_TO_LOCK,
        )
    lock_name, lock_bytes = present[0]  # npm itself prefers npm-shrinkwrap.json
    manifest_doc = _json(manifest, MANIFEST)
    lock_doc = _json(lock_bytes, lock_name)
    _check_manifest(manifest_doc, registry)
    packages = _locked_packages(lock_doc, lock_name, registry)
    scripts = manifest_doc.get("scripts")
    test = scripts.get("test") if isinstance(scripts, dict) else None
    return NpmProject(
        manifest, lock_name, lock_bytes, packages, test if isinstance(test, str) else None
    )


def _read(tree: Path, name: str, limit: int) -> bytes | None:
    """A regular file at the root, never through a link; None when absent or not regular."""
    try:
        fd = os.open(tree / name, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SubmissionError("INSTALL_FAILED", f"{name} is larger than {limit // 1024**2} MiB")
    return data


def _json(data: bytes, name: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SubmissionError("INSTALL_FAILED", f"{name} is not valid JSON") from exc
    if not isinstance(document, dict):
        raise SubmissionError("INSTALL_FAILED", f"{name} is not a JSON object")
    return document


def _check_manifest(manifest: dict[str, Any], registry: str) -> None:
    """Refuse dependencies that name a place (a path, a link, a repository, a URL)."""
    if manifest.get("workspaces") is not None:
        raise SubmissionError(
            SOURCE_REFUSED, "npm workspaces are not supported: their packages are local folders"
        )
    for field in _DEPENDENCY_FIELDS:
        section = manifest.get(field)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise SubmissionError("INSTALL_FAILED", f"package.json: {field} is not an object")
        for name, spec in section.items():
            if not isinstance(spec, str) or _names_a_place(spec):
                raise SubmissionError(
                    SOURCE_REFUSED,
                    f"package.json: {field}: {_show(name)} is {_show(spec)}: only versions "
                    f"from the registry ({registry}) are installed, never file:, link:, "
                    "git or URL dependencies",
                )


def _names_a_place(spec: str) -> bool:
    text = spec.strip().lower()
    if text.startswith("npm:"):  # an alias to another registry package: a version
        return _names_a_place(text[4:].rpartition("@")[2]) if "@" in text[5:] else False
    if text.startswith(_PLACE_PREFIXES) or text.startswith((".", "/", "~/")):
        return True
    # "owner/repo" is npm's GitHub shorthand
    return "/" in text and not text.startswith("@")


def _locked_packages(
    lock: dict[str, Any], lock_name: str, registry: str
) -> tuple[LockedPackage, ...]:
    version = lock.get("lockfileVersion")
    entries = lock.get("packages")
    if version not in (2, 3) or not isinstance(entries, dict):
        raise SubmissionError(
            LOCKFILE_REQUIRED,
            f"{lock_name} has lockfileVersion {_show(version)}; the engine reads versions 2 and "
            "3 (npm 7 or later)",
            hint=HOW_TO_LOCK + " with npm 7 or later",
        )
    if len(entries) > MAX_PACKAGES + 1:
        raise SubmissionError(
            "INSTALL_FAILED", f"{lock_name} lists more than {MAX_PACKAGES} packages"
        )
    found: list[LockedPackage] = []
    for path, entry in entries.items():
        if path == "":
            continue
        where = f"{lock_name}: {_show(path)}"
        if not isinstance(entry, dict):
            raise SubmissionError("INSTALL_FAILED", f"{where} is not an object")
        if not _installed_path(path):
            raise SubmissionError(
                SOURCE_REFUSED,
                f"{where} is not installed under node_modules: local packages and workspaces are "
                "not installed",
            )
        if entry.get("link") is True:
            raise SubmissionError(SOURCE_REFUSED, f"{where} is a link to a local folder")
        resolved = entry.get("resolved")
        # No `resolved` means "from the configured registry" (npm 11 may leave it out):
        # the engine's registry, then. One under NPM_REGISTRY is fetched from the engine's
        # registry too (npm_fetch passes --replace-registry-host). Anything else is refused.
        if resolved is not None and (
            not isinstance(resolved, str) or not resolved.startswith((registry, NPM_REGISTRY))
        ):
            raise SubmissionError(
                SOURCE_REFUSED,
                f"{where} is resolved to {_show(resolved)}: every package must come from "
                f"the registry ({registry}); file:, git and other URLs are refused",
                hint="install the dependency from the registry and regenerate the lockfile",
            )
        name = entry.get("name")
        name = name if isinstance(name, str) else path.rpartition("node_modules/")[2]
        pkg_version = entry.get("version")
        if not isinstance(pkg_version, str) or _names_a_place(pkg_version):
            raise SubmissionError(SOURCE_REFUSED, f"{where} has version {_show(pkg_version)}")
        optional = entry.get("optional") is True or entry.get("devOptional") is True
        found.append(LockedPackage(path, name, pkg_version, optional))
    return tuple(found)


def _installed_path(path: str) -> bool:
    """`node_modules/a/node_modules/@s/b`: only node_modules folders, no `..`, no absolute path."""
    parts = path.split("/")
    if parts[0] != "node_modules" or any(p in ("", ".", "..") for p in parts):
        return False
    index = 0
    while index < len(parts):
        if parts[index] != "node_modules" or index + 1 >= len(parts):
            return False
        index += 1
        if parts[index].startswith("@"):
            index += 1
            if index >= len(parts):
                return False
        index += 1
    return "\\" not in path


def _show(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr("".join(ch if ch.isprintable() else "?" for ch in text)[:120])
