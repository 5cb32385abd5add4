"""Commit statuses on GitLab through python-gitlab.

`POST /projects/{url-encoded path}/statuses/{sha}` with `{state, name, target_url,
description}` and the token in `PRIVATE-TOKEN`. GitLab has no `error` or `failure`
state: both are `failed` there, told apart by the description.
"""

from __future__ import annotations

import gitlab
import requests

from acceptance.service.forge.interface import (
    CommitStatus,
    ForgeError,
    ForgeTarget,
    StatusState,
    retryable,
)

CREATED = 201
#: GitLab's states for ours (pending|running|success|failed|canceled there)
STATES = {
    StatusState.PENDING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failed",
    StatusState.ERROR: "failed",
}
API_SUFFIX = "/api/v4"


class _NoRedirects(requests.Session):
    """A session that never follows a redirect.

    python-gitlab leaves requests' default (follow, then complain), so a forge the egress
    policy let through could send the service, PRIVATE-TOKEN header and all, on to an internal
    address before anything objects; a 3xx is an answer like any other refusal here.
    """

    def request(self, *args: object, **kwargs: object) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)  # type: ignore[arg-type]


def instance_url(api_url: str) -> str:
    """The instance's root, which python-gitlab takes (it adds /api/v4 itself)."""
    return api_url.removesuffix("/").removesuffix(API_SUFFIX)


def send_status(target: ForgeTarget, status: CommitStatus, *, timeout: float) -> int:
    """Create `status` on the commit; returns 201, or raises ForgeError."""
    client = gitlab.Gitlab(
        instance_url(target.api_url), private_token=target.token, timeout=timeout,
        retry_transient_errors=False, session=_NoRedirects(),
    )  # fmt: skip
    data = {
        "state": STATES[status.state],
        "name": status.context,
        "description": status.description,
    }
    if status.target_url:
        data["target_url"] = status.target_url
    try:
        project = client.projects.get(target.repository, lazy=True)
        # No sleeping on a 429 inside the worker: the delivery task retries with its backoff.
        project.commits.get(status.sha, lazy=True).statuses.create(
            data, obey_rate_limit=False, max_retries=0
        )
    except gitlab.GitlabError as exc:
        code = exc.response_code
        if code is None:
            raise ForgeError(f"GitLab could not be reached: {exc.error_message}") from exc
        raise ForgeError(
            f"GitLab answered {code}: {exc.error_message}", http_status=code, retry=retryable(code)
        ) from exc
    except requests.RequestException as exc:
        raise ForgeError(f"GitLab could not be reached: {type(exc).__name__}: {exc}") from exc
    finally:
        client.session.close()
    return CREATED
