"""Commit statuses on Gitea and Forgejo, over plain HTTP (no well-kept Python client exists).

`POST /repos/{owner}/{repo}/statuses/{sha}` with `{state, context, target_url,
description}` (CreateStatusOption) and `Authorization: token <t>`.
"""

from __future__ import annotations

from urllib.parse import quote

import requests

from acceptance.service.forge.interface import CommitStatus, ForgeError, ForgeTarget, retryable


def send_status(target: ForgeTarget, status: CommitStatus, *, timeout: float) -> int:
    """Create `status` on the commit; returns the forge's 2xx status, or raises ForgeError."""
    owner, _, name = target.repository.partition("/")
    url = (
        f"{target.api_url.rstrip('/')}/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        f"/statuses/{quote(status.sha, safe='')}"
    )
    body = {
        "state": status.state.value,
        "context": status.context,
        "description": status.description,
    }
    if status.target_url:
        body["target_url"] = status.target_url
    try:
        # No redirects: a forge must not send the token (or us) somewhere else.
        response = requests.post(
            url, json=body, timeout=timeout, allow_redirects=False,
            headers={"Authorization": f"token {target.token}", "Accept": "application/json"},
        )  # fmt: skip
    except requests.RequestException as exc:
        raise ForgeError(f"Gitea could not be reached: {type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise ForgeError(
            f"Gitea answered {response.status_code}: {_message(response)}",
            http_status=response.status_code, retry=retryable(response.status_code),
        )  # fmt: skip
    return response.status_code


def _message(response: requests.Response) -> str:
    try:
        found = response.json()
    except ValueError:
        return response.text[:300] or "no message"
    message = found.get("message") if isinstance(found, dict) else None
    return str(message)[:300] if message else response.text[:300]
