"""Step 3: run, pong or ignore a verified delivery; a push must be about the registered repository."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import unquote, urlsplit

from web.webhooks.delivery import (
    MAX_URL_CHARS,
    Action,
    Decision,
    Delivery,
    WebhookRepositoryMismatch,
)

_SCP_LIKE = re.compile(r"(?:[^@/\s]+@)?(?P<host>[^:/@\s\[\]]+):(?P<path>.+)")
_DEFAULT_PORTS: Final[Mapping[str, int]] = {
    "https": 443, "http": 80, "git": 9418, "ssh": 22, "git+ssh": 22, "ssh+git": 22,
}  # fmt: skip


def decide(
    delivery: Delivery, *, registered_repo_url: str, followed_branch: str | None
) -> Decision:
    """Run, pong or ignore; a push must be about the registered repository.

    ``followed_branch`` None follows the repository's default branch, as the
    payload names it. A ping proves only the secret, so its repository is not
    checked (an organisation's ping has none).
    """
    if delivery.event == "ping":
        return Decision(Action.PONG, "pong: the webhook reaches this submission")
    if delivery.event != "push":
        return Decision(Action.IGNORE, f"event {delivery.event} does not trigger a run")
    _check_repository(delivery, registered_repo_url)
    followed = followed_branch or delivery.default_branch
    following = f" (following {followed})" if followed else ""
    if delivery.tag is not None:
        done = "deleted" if delivery.deleted else "pushed"
        return Decision(
            Action.IGNORE, f"tag {delivery.tag} {done}: only branch pushes trigger a run"
        )
    if delivery.branch is None:
        return Decision(Action.IGNORE, f"ref {delivery.ref} is not a branch{following}")
    if delivery.deleted or delivery.commit is None:
        return Decision(Action.IGNORE, f"branch {delivery.branch} deleted")
    if followed is None:
        return Decision(
            Action.IGNORE,
            "the payload does not name the repository's default branch; "
            "give the submission a branch to follow",
        )
    if delivery.branch != followed:
        return Decision(Action.IGNORE, f"branch {delivery.branch} is not followed{following}")
    return Decision(Action.RUN, f"push to {delivery.branch} at {delivery.commit}")


def _check_repository(delivery: Delivery, registered_repo_url: str) -> None:
    """The web URL says which repository a payload is about; clone URLs only when it is absent.

    Real payloads agree with themselves, except that an ssh URL may name
    another host or port; one whose web URL names another repository is
    about that repository, whatever its other URLs say.
    """
    registered = repository_key(registered_repo_url)
    if registered is None:
        # Registered URLs were validated when the submission was created: a bug, not the sender's.
        raise ValueError(f"the registered repository URL {registered_repo_url!r} is not comparable")
    web = delivery.repository_web_url
    urls = (web,) if web else delivery.repository_urls
    if any(repository_key(url) == registered for url in urls):
        return
    named = urls[0] if urls else "no repository"
    raise WebhookRepositoryMismatch(
        f"the delivery is for {named[:200]}, but this submission is registered for "
        f"{registered_repo_url}",
        hint="send this webhook from the registered repository, or register a new submission",
    )


def repository_key(url: str) -> str | None:
    """``host[:port]/path`` naming a repository the same whichever URL form gives it.

    https, http, git:// and ssh URLs (``ssh://`` or scp-like ``git@host:o/r``)
    of one host and path are one repository: forges serve the same repository
    under each scheme, and the payload and the registered URL rarely use the
    same one. The host is lowercased and a scheme's default port dropped (an
    explicit other port must match); the path loses ``.git``, empty segments
    and trailing ``/`` and is compared case-insensitively, because GitHub,
    GitLab, Gitea and Forgejo resolve owner and name without regard to case.
    A path with ``.`` or ``..`` segments, another scheme or no host gives None.
    """
    text = url.strip()
    if not text or len(text) > MAX_URL_CHARS or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        return None
    if "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            return None
        path = parts.path
    else:
        scp = _SCP_LIKE.fullmatch(text)
        if scp is None:
            return None
        scheme, host, port, path = "ssh", scp["host"], None, scp["path"]
    if not host:
        return None
    host = host.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    segments = [segment for segment in unquote(path).split("/") if segment]
    if not segments or any(segment in (".", "..") for segment in segments):
        return None
    if segments[-1].lower().endswith(".git"):
        segments[-1] = segments[-1][: -len(".git")]
        if not segments[-1]:
            return None
    return f"{host}/" + "/".join(segments).casefold()
