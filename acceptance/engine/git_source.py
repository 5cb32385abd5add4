"""What git may be pointed at: the one grammar of repository sources and of ref names.

The CLI, the API, the dashboard and webhook payloads all ask here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from acceptance.errors import UserInputError

_REMOTE_SCHEMES = frozenset({"https", "http", "git"})
_DEFAULT_PORTS = {"https": 443, "http": 80, "git": 9418}
# `<transport>::<address>` makes git run git-remote-<transport>; `ext::` runs any command.
TRANSPORT_HELPER = re.compile(r"[A-Za-z0-9+.-]+::")
URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?|[0-9a-f:.]*:[0-9a-f:.]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_MAX_REF_LENGTH = 1024


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
    if TRANSPORT_HELPER.match(source):
        raise _bad_source(source, "the `transport::address` form (e.g. ext::) can run commands")
    scheme = URL_SCHEME.match(source)
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
