"""What a submission registers of its forge: checked, defaulted, and kept with the token sealed.

`{kind, token, api_url?, repository?}`: the API URL defaults from the submission's
repository URL (GitHub: https://api.github.com, or <host>/api/v3 for GitHub
Enterprise Server; GitLab: <host>/api/v4; Gitea/Forgejo: <host>/api/v1), and the
repository from its path. The API URL follows the sources' egress policy
(acceptance.engine.source_policy.check_endpoint), here and again before every request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from acceptance.engine.source_policy import check_endpoint
from acceptance.errors import UserInputError
from acceptance.service.forge.interface import ForgeKind, ForgeTarget
from acceptance.service.models import Submission
from acceptance.service.secretbox import SecretBox

GITHUB_API = "https://api.github.com"
_API_PATHS = {ForgeKind.GITHUB: "/api/v3", ForgeKind.GITLAB: "/api/v4", ForgeKind.GITEA: "/api/v1"}
_FIELDS = frozenset({"kind", "token", "api_url", "repository"})
_APP_FIELDS = frozenset({"app_id", "private_key", "installation_id"})
_NUMBER = re.compile(r"[1-9][0-9]{0,19}")
_MAX_KEY = 16384
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
    #: the token, or with a GitHub App its private key (PEM)
    token: str = field(repr=False)
    app_id: str | None = None
    installation_id: str | None = None


def parse_forge(
    value: object, repo_url: str, allowed_hosts: frozenset[str] | None
) -> ForgeCredentials:
    """Check a `forge` object from the API or the dashboard; UserInputError says what is wrong."""
    if not isinstance(value, Mapping):
        raise UserInputError(
            "forge: an object {kind, token, api_url?, repository?} is required", hint=_HINT
        )
    unknown = sorted(set(map(str, value)) - _FIELDS - _APP_FIELDS)
    if unknown:
        raise UserInputError(f"forge: unknown field(s) {', '.join(unknown)}", hint=_HINT)
    kind = _kind(value.get("kind"))
    wants_app = bool(_APP_FIELDS & set(map(str, value)))
    if wants_app and kind != ForgeKind.GITHUB:
        raise UserInputError(
            "forge: app_id, private_key and installation_id are for GitHub Apps (kind github)"
        )
    if wants_app and "token" in value:
        raise UserInputError(
            "forge: give either a token or a GitHub App (app_id, private_key, installation_id)"
        )
    app = _app(value) if wants_app else None
    token = app[1] if app is not None else value.get("token")
    if (
        not isinstance(token, str)
        or not token.strip()
        or len(token) > _MAX_KEY
        or _unprintable(token, app is not None)
    ):
        raise UserInputError(
            f"forge.token: a token of 1 to {_MAX_TOKEN} printable characters is required",
            hint=_HINT,
        )
    if app is None and len(token) > _MAX_TOKEN:
        raise UserInputError(f"forge.token: at most {_MAX_TOKEN} characters", hint=_HINT)
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
    if app is not None:
        return ForgeCredentials(
            kind, api_url, repository, app[1], app_id=app[0], installation_id=app[2]
        )
    return ForgeCredentials(kind, api_url, repository, token.strip())


def _app(value: Mapping[str, Any]) -> tuple[str, str, str]:
    """(app id, private key PEM, installation id) of a GitHub App, checked."""
    app_id, installation_id = str(value.get("app_id", "")), str(value.get("installation_id", ""))
    if not _NUMBER.fullmatch(app_id) or not _NUMBER.fullmatch(installation_id):
        raise UserInputError(
            "forge.app_id and forge.installation_id: the GitHub App's numeric ids are required",
            hint="the App's settings page shows its App ID; the installation id ends the installation's URL",
        )
    key = value.get("private_key")
    if not isinstance(key, str) or len(key) > _MAX_KEY:
        raise UserInputError("forge.private_key: the GitHub App's private key (PEM) is required")
    try:
        loaded = serialization.load_pem_private_key(key.strip().encode(), password=None)
    except (ValueError, TypeError):
        raise UserInputError(
            "forge.private_key: not a PEM private key without a passphrase",
            hint="give the .pem file GitHub generated for the App, as it is",
        ) from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise UserInputError("forge.private_key: GitHub Apps sign with an RSA key")
    return app_id, key.strip() + "\n", installation_id


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
        submission.forge_app_id = submission.forge_installation_id = None
        return
    submission.forge_kind = credentials.kind.value
    submission.forge_api_url = credentials.api_url
    submission.forge_repository = credentials.repository
    submission.forge_token_encrypted = box.seal(credentials.token)
    submission.forge_app_id = credentials.app_id
    submission.forge_installation_id = credentials.installation_id


def forge_json(submission: Submission) -> dict[str, Any] | None:
    """What the API and the dashboard show of a submission's forge: never the token."""
    if submission.forge_kind is None:
        return None
    return {
        "kind": submission.forge_kind,
        "api_url": submission.forge_api_url,
        "repository": submission.forge_repository,
        "token_set": submission.forge_token_encrypted is not None,
        # with a GitHub App, runs are check runs (its private key is never shown either)
        "app_id": submission.forge_app_id,
        "installation_id": submission.forge_installation_id,
    }


def forge_target(submission: Submission, box: SecretBox) -> ForgeTarget | None:
    """The submission's forge with its token opened, for the delivery task; None without one."""
    if submission.forge_kind is None or submission.forge_token_encrypted is None:
        return None
    assert submission.forge_api_url is not None and submission.forge_repository is not None
    return ForgeTarget(
        ForgeKind(submission.forge_kind), submission.forge_api_url, submission.forge_repository,
        box.open(submission.forge_token_encrypted),
        app_id=submission.forge_app_id, installation_id=submission.forge_installation_id,
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


def _unprintable(text: str, lines: bool = False) -> bool:
    """Control characters (a PEM key may have line breaks)."""
    allowed = "\n\r" if lines else ""
    return any((ord(c) < 0x20 or ord(c) == 0x7F) and c not in allowed for c in text)
