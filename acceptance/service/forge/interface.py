"""What every forge client shares: the forge kinds, a commit status, the target and one error."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

#: seconds to connect to a forge and for each of its answers: a slow forge never holds a worker long
FORGE_TIMEOUT = 10.0
#: the longest description a status carries (GitHub refuses longer ones)
MAX_DESCRIPTION = 140


class ForgeKind(str, enum.Enum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"


class StatusState(str, enum.Enum):
    """A run's status in GitHub's words; each client maps it to its forge's own."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True)
class ForgeTarget:
    """Where statuses go: the forge's API, the repository on it and the token (decrypted)."""

    kind: ForgeKind
    api_url: str
    repository: str
    #: the token, or with a GitHub App its private key (PEM)
    token: str = field(repr=False)
    #: a GitHub App's id and installation id: check runs instead of commit statuses
    app_id: str | None = None
    installation_id: str | None = None

    @property
    def is_app(self) -> bool:
        return self.app_id is not None and self.installation_id is not None


@dataclass(frozen=True)
class CommitStatus:
    """One status of one commit, as every forge takes it."""

    sha: str
    state: StatusState
    context: str
    description: str
    target_url: str | None = None


class ForgeError(Exception):
    """The forge did not take the status: why, its HTTP status (if it answered) and whether to retry."""

    def __init__(self, message: str, *, http_status: int | None = None, retry: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.retry = retry


def retryable(http_status: int) -> bool:
    """A forge's answer worth trying again later: its own failures, rate limits, time-outs.

    Any other 4xx (a bad token, an unknown repository or commit) says the same next time.
    """
    return http_status >= 500 or http_status in (408, 409, 425, 429)


class StatusSender(Protocol):
    """A forge client: sends one commit status, returns the forge's HTTP status, or raises ForgeError."""

    def __call__(self, target: ForgeTarget, status: CommitStatus, *, timeout: float) -> int: ...
