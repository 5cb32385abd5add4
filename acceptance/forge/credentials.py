"""What a submission registers of its forge: checked, defaulted, and kept with the token sealed.

`{kind, token, api_url?, repository?}`: the API URL defaults from the submission's
repository URL (GitHub: https://api.github.com, or <host>/api/v3 for GitHub
Enterprise Server; GitLab: <host>/api/v4; Gitea/Forgejo: <host>/api/v1), and the
repository from its path. The API URL follows the sources' egress policy
(acceptance.source_policy.check_endpoint), here and again before every request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from acceptance.errors import UserInputError
from acceptance.forge.interface import ForgeKind, ForgeTarget
from acceptance.models import Submission
from acceptance.secretbox import SecretBox
from acceptance.source_policy import check_endpoint

GITHUB_API = "https://api.github.com"
_API_PATHS = {ForgeKind.GITHUB: "/api/v3", ForgeKind.GITLAB: "/api/v4", ForgeKind.GITEA: "/api/v1"}
_FIELDS = frozenset({"kind", "token", "api_url", "repository"})
_MAX_TOKEN = 4096
_MAX_URL = 2000
#: `owner/name`; GitLab also takes groups and subgroups (`group/sub/name`)
_SEGMENT = r"[A-Za-z0-9_.][A-Za-z0-9_.-]*"
_OWNER_NAME = re.compile(rf"{_SEGMENT}/{_SEGMENT}")
_PROJECT_PATH = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})+")
_HINT = 'send e.g. "forge": {"kind": "github", "token": "<a token that may write commit statuses>"}'


@dataclass(frozen=True)
class ForgeCredentials:
    """A submission's forge, checked; the token in clear only until it is sealed."""

    kind: ForgeKind
    api_url: str
    repository: str
    token: str = field(repr=False)


def parse_forge(
    value: object, repo_url: str, allowed_hosts: frozenset[str] | None
) -> ForgeCredentials:
    """Check a `forge` object from the API or the dashboard; UserInputError says what is wrong."""
    if not isinstance(value, Mapping):
        raise UserInputError(
            "forge: an object {kind, token, api_url?, repository?} is required", hint=_HINT
        )
    unknown = sorted(set(map(str, value)) - _FIELDS)
    if unknown:
        raise UserInputError(f"forge: unknown field(s) {', '.join(unknown)}", hint=_HINT)
    kind = _kind(value.get("kind"))
    token = value.get("token")
    if (
        not isinstance(token, str)
        or not token.strip()
        or len(token) > _MAX_TOKEN
        or _unprintable(token)
    ):
        raise UserInputError(
            f"forge.token: a token of 1 to {_MAX_TOKEN} printable characters is required",
            hint=_HINT,
        )
    api_url = _optional_text(value.get("api_url"), "forge.api_url") or default_api_url(
        kind, repo_url
    )
    api_url = api_url.rstrip("/")
    if len(api_url) > _MAX_URL:
        raise UserInputError(f"forge.api_url: at most {_MAX_URL} characters")
    if kind == ForgeKind.GITLAB and not api_url.endswith("/api/v4"):
        raise UserInputError(
            f"forge.api_url {api_url!r}: a GitLab API URL ends with /api/v4",
            hint="give https://<your GitLab host>/api/v4, or leave api_url out",
        )
    check_endpoint(api_url, allowed_hosts, "forge.api_url")
    repository = _optional_text(value.get("repository"), "forge.repository") or default_repository(
        repo_url
    )
    repository = repository.strip("/").removesuffix(".git")
    pattern = _PROJECT_PATH if kind == ForgeKind.GITLAB else _OWNER_NAME
    if not pattern.fullmatch(repository) or len(repository) > 500:
        shape = "group/project (subgroups allowed)" if kind == ForgeKind.GITLAB else "owner/name"
        raise UserInputError(
            f"forge.repository {repository!r}: the repository on the forge, as {shape}, is required",
            hint="give forge.repository, or register the repository URL the forge shows",
        )
    return ForgeCredentials(kind, api_url, repository, token.strip())


def default_api_url(kind: ForgeKind, repo_url: str) -> str:
    """The forge's API URL for a repository URL on it."""
    parts = urlsplit(repo_url)
    host = parts.hostname or ""
    if kind == ForgeKind.GITHUB and host in ("github.com", "www.github.com"):
        return GITHUB_API
    scheme = parts.scheme if parts.scheme in ("http", "https") else "https"
    netloc = host if parts.port is None or scheme != parts.scheme else f"{host}:{parts.port}"
    return f"{scheme}://{netloc}{_API_PATHS[kind]}"


def default_repository(repo_url: str) -> str:
    """`owner/name` (or a GitLab project path) from a repository URL's path."""
    return urlsplit(repo_url).path.strip("/").removesuffix(".git")


def store_forge(
    submission: Submission, credentials: ForgeCredentials | None, box: SecretBox
) -> None:
    """Keep the forge on the submission, the token sealed like webhook secrets; None removes it."""
    if credentials is None:
        submission.forge_kind = submission.forge_api_url = submission.forge_repository = None
        submission.forge_token_encrypted = None
        return
    submission.forge_kind = credentials.kind.value
    submission.forge_api_url = credentials.api_url
    submission.forge_repository = credentials.repository
    submission.forge_token_encrypted = box.seal(credentials.token)


def forge_json(submission: Submission) -> dict[str, Any] | None:
    """What the API and the dashboard show of a submission's forge: never the token."""
    if submission.forge_kind is None:
        return None
    return {
        "kind": submission.forge_kind,
        "api_url": submission.forge_api_url,
        "repository": submission.forge_repository,
        "token_set": submission.forge_token_encrypted is not None,
    }


def forge_target(submission: Submission, box: SecretBox) -> ForgeTarget | None:
    """The submission's forge with its token opened, for the delivery task; None without one."""
    if submission.forge_kind is None or submission.forge_token_encrypted is None:
        return None
    assert submission.forge_api_url is not None and submission.forge_repository is not None
    return ForgeTarget(
        ForgeKind(submission.forge_kind), submission.forge_api_url, submission.forge_repository,
        box.open(submission.forge_token_encrypted),
    )  # fmt: skip


def _kind(value: object) -> ForgeKind:
    try:
        return ForgeKind(value)
    except ValueError:
        kinds = ", ".join(k.value for k in ForgeKind)
        raise UserInputError(
            f"forge.kind {value!r}: one of {kinds} is required", hint=_HINT
        ) from None


def _optional_text(value: object, name: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or _unprintable(value):
        raise UserInputError(f"{name}: a string without control characters is required")
    return value.strip()


def _unprintable(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
