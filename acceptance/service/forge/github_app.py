"""Check runs on GitHub with a GitHub App, through PyGithub: an installation token, then the check run.

Each attempt mints an installation token (`POST /app/installations/{id}/access_tokens`
with a JWT signed by the App's key), then creates the run's check run (`POST
/repos/{owner}/{repo}/check-runs`) or updates it (`PATCH .../check-runs/{id}`).
Annotations go 50 per request (GitHub's limit), in further updates; `CheckRunProgress`
says how far an attempt got, so a retry neither creates a second check run nor sends
an annotation twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubIntegration

from acceptance.service.forge.check_runs import ANNOTATIONS_PER_REQUEST, CheckRunUpdate
from acceptance.service.forge.interface import ForgeError, ForgeTarget, retryable


@dataclass
class CheckRunProgress:
    """The run's check run on GitHub, once created, and how many annotations it has."""

    check_run_id: str | None = None
    annotations_sent: int = 0


def send_check_run(
    target: ForgeTarget, update: CheckRunUpdate, progress: CheckRunProgress, *, timeout: float
) -> int:
    """Create or update the check run as `update` says; `progress` is kept current; 200/201 or ForgeError."""
    assert target.app_id is not None and target.installation_id is not None
    options: dict[str, Any] = {
        "timeout": max(1, round(timeout)), "retry": None,
        "seconds_between_requests": None, "seconds_between_writes": None,
    }  # fmt: skip
    try:
        app = GithubIntegration(
            base_url=target.api_url, auth=Auth.AppAuth(int(target.app_id), target.token), **options
        )
        token = app.get_access_token(int(target.installation_id)).token
        client = Github(base_url=target.api_url, auth=Auth.Token(token), lazy=True, **options)
        try:
            return _send(client, target.repository, update, progress)
        finally:
            client.close()
    except GithubException as exc:
        message = exc.message or (exc.data.get("message") if isinstance(exc.data, dict) else None)
        raise ForgeError(
            f"GitHub answered {exc.status}: {message or 'no message'}",
            http_status=exc.status, retry=retryable(exc.status),
        ) from exc  # fmt: skip
    except requests.RequestException as exc:
        raise ForgeError(f"GitHub could not be reached: {type(exc).__name__}: {exc}") from exc


def _send(
    client: Github, repository: str, update: CheckRunUpdate, progress: CheckRunProgress
) -> int:
    repo = client.get_repo(repository)
    fields: dict[str, Any] = {"status": update.status, "external_id": update.external_id}
    if update.conclusion is not None:
        fields["conclusion"] = update.conclusion
    if update.details_url:
        fields["details_url"] = update.details_url
    batch = _next_batch(update, progress)
    output: dict[str, Any] = {
        "title": update.title,
        "summary": update.summary,
        "annotations": batch,
    }
    if progress.check_run_id is None:
        made = repo.create_check_run(
            name=update.name, head_sha=update.head_sha, output=output, **fields
        )
        progress.check_run_id, answer = str(made.id), 201
    else:
        repo.get_check_run(int(progress.check_run_id)).edit(output=output, **fields)
        answer = 200
    progress.annotations_sent += len(batch)
    check = repo.get_check_run(int(progress.check_run_id))
    while batch := _next_batch(update, progress):  # the rest, 50 at a time (GitHub appends them)
        check.edit(output={"title": update.title, "summary": update.summary, "annotations": batch})
        progress.annotations_sent += len(batch)
    return answer


def _next_batch(update: CheckRunUpdate, progress: CheckRunProgress) -> list[dict[str, Any]]:
    start = progress.annotations_sent
    return update.annotations[start : start + ANNOTATIONS_PER_REQUEST]
