"""Commit statuses on GitHub (and GitHub Enterprise Server) through PyGithub.

`POST /repos/{owner}/{repo}/statuses/{sha}` with `{state, target_url, description, context}`;
PyGithub sends the token as `Authorization: token <t>`, which GitHub takes like `Bearer`.
The repository and the commit are lazy objects: one request per status, the POST itself.
"""

from __future__ import annotations

import requests
from github import Auth, Github, GithubException

from acceptance.service.forge.interface import CommitStatus, ForgeError, ForgeTarget, retryable

#: the status GitHub answers a created status with
CREATED = 201


def send_status(target: ForgeTarget, status: CommitStatus, *, timeout: float) -> int:
    """Create `status` on the commit; returns 201, or raises ForgeError."""
    client = Github(
        base_url=target.api_url, auth=Auth.Token(target.token), timeout=max(1, round(timeout)),
        # The delivery task retries with its own backoff and records each attempt; PyGithub's
        # own retries and write throttling would hide attempts and hold the worker.
        retry=None, seconds_between_requests=None, seconds_between_writes=None, lazy=True,
    )  # fmt: skip
    try:
        commit = client.get_repo(target.repository).get_commit(status.sha)
        commit.create_status(
            state=status.state.value,
            description=status.description,
            context=status.context,
            **({"target_url": status.target_url} if status.target_url else {}),
        )
    except GithubException as exc:
        message = exc.message or (exc.data.get("message") if isinstance(exc.data, dict) else None)
        raise ForgeError(
            f"GitHub answered {exc.status}: {message or 'no message'}",
            http_status=exc.status, retry=retryable(exc.status),
        ) from exc  # fmt: skip
    except requests.RequestException as exc:
        raise ForgeError(f"GitHub could not be reached: {type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
    return CREATED
