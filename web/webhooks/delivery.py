"""What the three webhook steps share: the sender, the delivery, the decision and the errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from acceptance.errors import UserInputError

#: bodies larger than this are refused with 413. GitHub allows 25 MB, but a
#: push payload lists at most 20 commits and stays far below this.
MAX_BODY_BYTES: Final = 2 * 1024 * 1024
#: the head commit's message is kept up to this many characters
MAX_MESSAGE_CHARS: Final = 1000
MAX_DELIVERY_ID_CHARS: Final = 200
#: the longest repository URL read from a payload or compared
MAX_URL_CHARS = 2048


class Provider(str, Enum):
    """Who sent a delivery, as told by its headers."""

    GITHUB = "github"
    GITEA = "gitea"
    GITLAB = "gitlab"
    GENERIC = "generic"


class Action(str, Enum):
    """What the intake does with a verified delivery."""

    RUN = "run"
    PONG = "pong"
    IGNORE = "ignore"


class WebhookError(UserInputError):
    """A delivery the intake refuses; ``status`` is the HTTP status to answer with."""

    code = "webhook:invalid"
    status: int = 400

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        if status is not None:
            self.status = status


class WebhookAuthError(WebhookError):
    """No recognised signature or token, or it does not match (401)."""

    code = "webhook:unauthenticated"
    status = 401


class WebhookPayloadError(WebhookError):
    """The delivery cannot be read: 400, 413, 415 or 422 (see ``status``)."""

    code = "webhook:invalid-payload"
    status = 400


class WebhookRepositoryMismatch(WebhookError):
    """The payload names a repository other than the submission's (422)."""

    code = "webhook:repository-mismatch"
    status = 422


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a verified delivery says; push fields are None for other events."""

    provider: Provider
    #: ``push``, ``ping`` or the sender's own name for any other event
    event: str
    #: the sender's id for this delivery, stable across its retries; None if not sent
    delivery_id: str | None
    #: every URL the payload gives for the repository (clone, web, ssh, ...)
    repository_urls: tuple[str, ...] = ()
    #: the repository's web page (``html_url``, GitLab's ``project.web_url``): its identity
    repository_web_url: str | None = None
    ref: str | None = None
    #: the branch name for ``refs/heads/...``; None for tags and other refs
    branch: str | None = None
    #: the tag name for ``refs/tags/...``
    tag: str | None = None
    #: the pushed commit (lowercase hex); None when the ref was deleted
    commit: str | None = None
    deleted: bool = False
    default_branch: str | None = None
    pusher: str | None = None
    commit_message: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a delivery, and why (shown to the sender)."""

    action: Action
    reason: str


def fold_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive (RFC 9110); values lose surrounding blanks."""
    return {name.lower(): value.strip() for name, value in headers.items()}
