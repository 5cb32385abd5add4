"""Verify and interpret webhook deliveries; pure functions, no Flask, no database.

Three steps, each with its own error and HTTP status (``exc.status``):

1. ``verify(headers, body, secret)``: was the raw body signed with the
   submission's secret? ``WebhookAuthError`` (401).
2. ``parse(provider, headers, body)``: what does the delivery say?
   ``WebhookPayloadError``: 400 (not JSON), 413 (body over ``MAX_BODY_BYTES``),
   415 (form-encoded), 422 (JSON of the wrong shape).
3. ``decide(delivery, ...)``: run, pong or ignore? ``WebhookRepositoryMismatch``
   (422) when the payload names another repository.

Senders and their headers:

* GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``,
  ``X-GitHub-Event``, ``X-GitHub-Delivery``, ``User-Agent: GitHub-Hookshot/...``.
* Gitea/Forgejo: ``X-Gitea-Signature`` / ``X-Forgejo-Signature`` (bare hex) and
  usually ``X-Hub-Signature-256`` too; ``X-Gitea-Event`` / ``X-Forgejo-Event``,
  ``X-Gitea-Delivery`` / ``X-Forgejo-Delivery``; a GitHub-shaped push payload.
* GitLab: ``X-Gitlab-Token`` (the secret itself), ``X-Gitlab-Event: Push Hook``,
  ``Idempotency-Key`` (stable across retries) or ``X-Gitlab-Event-UUID``.
* Generic: GitHub's header scheme from any other sender.

Only push deliveries are read beyond their headers: other events are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final
from urllib.parse import unquote, urlsplit

from acceptance.engine.checkout import ref_problem
from acceptance.errors import UserInputError

#: bodies larger than this are refused with 413. GitHub allows 25 MB, but a
#: push payload lists at most 20 commits and stays far below this.
MAX_BODY_BYTES: Final = 2 * 1024 * 1024
#: the head commit's message is kept up to this many characters
MAX_MESSAGE_CHARS: Final = 1000
MAX_DELIVERY_ID_CHARS: Final = 200
_MAX_PUSHER_CHARS = 200
_MAX_REF_CHARS = 300
_MAX_URL_CHARS = 2048
_MAX_EVENT_CHARS = 100

_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ZERO_COMMIT = re.compile(r"0{40}|0{64}")
_PRINTABLE_ID = re.compile(r"[\x21-\x7e]+")
_EVENT_NAME = re.compile(r"[A-Za-z0-9_. -]+")
# C0 and C1 controls except tab and newline (PostgreSQL refuses NUL in text).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# JSON escapes can spell lone surrogates, which no database or encoder accepts.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_SCP_LIKE = re.compile(r"(?:[^@/\s]+@)?(?P<host>[^:/@\s\[\]]+):(?P<path>.+)")
_DEFAULT_PORTS: Final[Mapping[str, int]] = {
    "https": 443, "http": 80, "git": 9418, "ssh": 22, "git+ssh": 22, "ssh+git": 22,
}  # fmt: skip

_GITHUB_HOOKSHOT = "GitHub-Hookshot/"
_GITEA_MARKERS = (
    "x-gitea-event", "x-forgejo-event", "x-gitea-delivery", "x-forgejo-delivery",
    "x-gitea-signature", "x-forgejo-signature",
)  # fmt: skip
_SECRET_HINT = (
    "set the webhook's secret to the webhook_secret given when the submission was created"
)


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


# ---------------------------------------------------------------- verify


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> Provider:
    """Check the delivery's signature or token against ``secret``; return its sender.

    Every signature header present must match; SHA-1 (``X-Hub-Signature``)
    alone is refused. Comparisons take constant time.
    """
    if not secret:
        raise WebhookAuthError("no webhook secret is configured for this submission")
    found = _fold(headers)
    key = secret.encode("utf-8", "surrogatepass")
    if "x-gitlab-event" in found or "x-gitlab-token" in found:
        token = found.get("x-gitlab-token")
        if token is None:
            raise WebhookAuthError("the X-Gitlab-Token header is missing", hint=_SECRET_HINT)
        # Digests of both sides: equal lengths, so the time taken says nothing about the secret.
        sent = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if not hmac.compare_digest(sent, hashlib.sha256(key).digest()):
            raise WebhookAuthError("X-Gitlab-Token does not match", hint=_SECRET_HINT)
        return Provider.GITLAB

    provider = _hmac_provider(found)
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    headers_checked = 0
    for name, prefix in _signature_headers(provider):
        value = found.get(name.lower())
        if value is None:
            continue
        headers_checked += 1
        if not _signature_matches(value, prefix, expected):
            raise WebhookAuthError(f"{name} does not match the body", hint=_SECRET_HINT)
    if headers_checked == 0:
        if "x-hub-signature" in found:
            raise WebhookAuthError(
                "only the SHA-1 X-Hub-Signature header was sent; X-Hub-Signature-256 is required",
                hint=_SECRET_HINT,
            )
        raise WebhookAuthError(
            "no signature header (X-Hub-Signature-256) was sent", hint=_SECRET_HINT
        )
    return provider


def _hmac_provider(found: Mapping[str, str]) -> Provider:
    if any(marker in found for marker in _GITEA_MARKERS):
        return Provider.GITEA
    if found.get("user-agent", "").startswith(_GITHUB_HOOKSHOT):
        return Provider.GITHUB
    return Provider.GENERIC


def _signature_headers(provider: Provider) -> tuple[tuple[str, str], ...]:
    github = ("X-Hub-Signature-256", "sha256=")
    if provider is Provider.GITEA:
        return (github, ("X-Gitea-Signature", ""), ("X-Forgejo-Signature", ""))
    return (github,)


def _signature_matches(value: str, prefix: str, expected_hex: str) -> bool:
    if prefix:
        if value[: len(prefix)].lower() != prefix:
            return False
        value = value[len(prefix) :]
    if not _HEX_SIGNATURE.fullmatch(value):
        return False
    return hmac.compare_digest(value.lower(), expected_hex)


def _fold(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive (RFC 9110); values lose surrounding blanks."""
    return {name.lower(): value.strip() for name, value in headers.items()}


# ---------------------------------------------------------------- parse


def parse(provider: Provider, headers: Mapping[str, str], body: bytes) -> Delivery:
    """Read a verified delivery: its event, delivery id and, for pushes, what was pushed."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookPayloadError(
            f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted", status=413
        )
    found = _fold(headers)
    event = _event(provider, found)
    delivery_id = _delivery_id(provider, found)
    media_type = found.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        raise WebhookPayloadError(
            "the delivery is form-encoded; only JSON bodies are read",
            status=415,
            hint="set the webhook's content type to application/json",
        )
    payload = _load(body)
    if event != "push":
        return Delivery(provider=provider, event=event, delivery_id=delivery_id)
    if provider is Provider.GITLAB:
        return _gitlab_push(payload, delivery_id)
    return _github_push(provider, payload, delivery_id)


def _event(provider: Provider, found: Mapping[str, str]) -> str:
    if provider is Provider.GITLAB:
        names: tuple[str, ...] = ("X-Gitlab-Event",)
    elif provider is Provider.GITEA:
        names = ("X-Gitea-Event", "X-Forgejo-Event", "X-GitHub-Event")
    else:
        names = ("X-GitHub-Event",)
    raw = next((found[n.lower()] for n in names if found.get(n.lower())), None)
    if raw is None:
        raise WebhookPayloadError(f"the {names[0]} header is missing")
    if len(raw) > _MAX_EVENT_CHARS or not _EVENT_NAME.fullmatch(raw):
        raise WebhookPayloadError(f"{names[0]}: {raw[:_MAX_EVENT_CHARS]!r} is not an event name")
    if provider is Provider.GITLAB:
        # A tag push is a push whose ref is refs/tags/...; decide() says why it is ignored.
        return "push" if raw in ("Push Hook", "Tag Push Hook") else raw
    return raw.lower()


def _delivery_id(provider: Provider, found: Mapping[str, str]) -> str | None:
    if provider is Provider.GITLAB:
        # Idempotency-Key stays the same when GitLab retries a delivery.
        names: tuple[str, ...] = ("Idempotency-Key", "X-Gitlab-Event-UUID")
    elif provider is Provider.GITEA:
        names = ("X-Gitea-Delivery", "X-Forgejo-Delivery", "X-GitHub-Delivery")
    else:
        names = ("X-GitHub-Delivery",)
    for name in names:
        value = found.get(name.lower())
        if not value:
            continue
        if len(value) > MAX_DELIVERY_ID_CHARS or not _PRINTABLE_ID.fullmatch(value):
            raise WebhookPayloadError(
                f"{name}: not a delivery id (1 to {MAX_DELIVERY_ID_CHARS} printable ASCII characters)"
            )
        return value
    return None


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _load(body: bytes) -> dict[str, object]:
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise WebhookPayloadError(
            f"the body is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from exc
    except RecursionError as exc:
        raise WebhookPayloadError("the body is not usable JSON: nested too deeply") from exc
    except ValueError as exc:
        raise WebhookPayloadError(f"the body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise WebhookPayloadError(f"the body is JSON {_kind(payload)}, not an object", status=422)
    return payload


_GITHUB_URL_KEYS = ("clone_url", "html_url", "git_url", "ssh_url", "svn_url", "url")
_GITLAB_PROJECT_URL_KEYS = ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url", "url", "homepage")  # fmt: skip
_GITLAB_REPOSITORY_URL_KEYS = ("git_http_url", "git_ssh_url", "url", "homepage")


def _github_push(
    provider: Provider, payload: dict[str, object], delivery_id: str | None
) -> Delivery:
    """GitHub's push payload; Gitea and Forgejo send the same shape."""
    ref = _ref(payload)
    commit = _commit(_string(payload, "after", "after", required=True), "after")
    deleted = _boolean(payload, "deleted", "deleted") is True or commit is None
    repository = _object(payload, "repository", "repository", required=True)
    assert repository is not None
    pusher_object = _object(payload, "pusher", "pusher")
    sender = _object(payload, "sender", "sender")
    pusher = _first_string(
        (pusher_object, "pusher", ("name", "login", "username")), (sender, "sender", ("login",))
    )
    return Delivery(
        provider=provider,
        event="push",
        delivery_id=delivery_id,
        repository_urls=_urls((repository, "repository", _GITHUB_URL_KEYS)),
        repository_web_url=_string(repository, "html_url", "repository.html_url"),
        ref=ref,
        branch=_branch(ref),
        tag=_tag(ref),
        commit=None if deleted else commit,
        deleted=deleted,
        default_branch=_string(repository, "default_branch", "repository.default_branch"),
        pusher=_clean(pusher, _MAX_PUSHER_CHARS, one_line=True),
        commit_message=_clean(_github_message(payload, commit), MAX_MESSAGE_CHARS),
    )


def _gitlab_push(payload: dict[str, object], delivery_id: str | None) -> Delivery:
    """GitLab's Push Hook and Tag Push Hook payloads."""
    ref = _ref(payload)
    after = _commit(_string(payload, "after", "after", required=True), "after")
    checkout = _string(payload, "checkout_sha", "checkout_sha")
    # checkout_sha is the commit to check out (for an annotated tag, not the tag object).
    commit = _commit(checkout, "checkout_sha") if checkout is not None else after
    deleted = after is None or commit is None
    project = _object(payload, "project", "project", required=True)
    assert project is not None
    repository = _object(payload, "repository", "repository")
    pusher = _first_string((payload, "", ("user_username", "user_name")))
    message = _message_of(payload, "commits", commit) if commit is not None else None
    return Delivery(
        provider=Provider.GITLAB,
        event="push",
        delivery_id=delivery_id,
        repository_urls=_urls(
            (project, "project", _GITLAB_PROJECT_URL_KEYS),
            (repository, "repository", _GITLAB_REPOSITORY_URL_KEYS),
        ),
        repository_web_url=_first_string((project, "project", ("web_url", "homepage"))),
        ref=ref,
        branch=_branch(ref),
        tag=_tag(ref),
        commit=None if deleted else commit,
        deleted=deleted,
        default_branch=_string(project, "default_branch", "project.default_branch"),
        pusher=_clean(pusher, _MAX_PUSHER_CHARS, one_line=True),
        commit_message=_clean(message, MAX_MESSAGE_CHARS),
    )


def _ref(payload: Mapping[str, object]) -> str:
    ref = _string(payload, "ref", "ref", required=True, max_chars=_MAX_REF_CHARS)
    assert ref is not None
    # What git's check-ref-format refuses is refused here, with the engine's reason.
    why = "it does not start with refs/" if not ref.startswith("refs/") else ref_problem(ref)
    if why:
        raise WebhookPayloadError(f"ref: {ref!r} is not a git ref name: {why}", status=422)
    return ref


def _branch(ref: str) -> str | None:
    name = ref.removeprefix("refs/heads/")
    return name if name != ref and name else None


def _tag(ref: str) -> str | None:
    name = ref.removeprefix("refs/tags/")
    return name if name != ref and name else None


def _commit(value: str | None, where: str) -> str | None:
    """A commit id in lowercase hex; None for the all-zero id of a deleted ref."""
    if value is None:
        return None
    commit = value.lower()
    if not _COMMIT.fullmatch(commit):
        raise WebhookPayloadError(
            f"{where}: {value[:80]!r} is not a commit id (40 or 64 hex digits)", status=422
        )
    return None if _ZERO_COMMIT.fullmatch(commit) else commit


def _github_message(payload: Mapping[str, object], commit: str | None) -> str | None:
    head = _object(payload, "head_commit", "head_commit")
    if head is not None:
        head_id = _string(head, "id", "head_commit.id")
        if commit is None or head_id is None or head_id.lower() == commit:
            return _string(head, "message", "head_commit.message")
    return _message_of(payload, "commits", commit) if commit is not None else None


def _message_of(payload: Mapping[str, object], key: str, commit: str) -> str | None:
    """The message of ``commit`` in the payload's list of pushed commits."""
    commits = payload.get(key)
    if commits is None:
        return None
    if not isinstance(commits, list):
        raise _wrong_type(key, "an array", commits)
    for index, entry in enumerate(commits):
        where = f"{key}[{index}]"
        if not isinstance(entry, dict):
            raise _wrong_type(where, "an object", entry)
        entry_id = _string(entry, "id", f"{where}.id")
        if entry_id is not None and entry_id.lower() == commit:
            return _string(entry, "message", f"{where}.message")
    return None


def _urls(*sources: tuple[Mapping[str, object] | None, str, tuple[str, ...]]) -> tuple[str, ...]:
    found: list[str] = []
    for obj, where, keys in sources:
        if obj is None:
            continue
        for key in keys:
            url = _string(obj, key, f"{where}.{key}", max_chars=_MAX_URL_CHARS)
            if url and url not in found:
                found.append(url)
    return tuple(found)


def _first_string(*sources: tuple[Mapping[str, object] | None, str, tuple[str, ...]]) -> str | None:
    for obj, where, keys in sources:
        if obj is None:
            continue
        for key in keys:
            value = _string(obj, key, f"{where}.{key}" if where else key)
            if value:
                return value
    return None


def _string(
    obj: Mapping[str, object], key: str, where: str, *, required: bool = False,
    max_chars: int | None = None,
) -> str | None:  # fmt: skip
    value = obj.get(key)
    if value is None:
        if required:
            raise WebhookPayloadError(f"{where}: missing", status=422)
        return None
    if not isinstance(value, str):
        raise _wrong_type(where, "a string", value)
    if _SURROGATES.search(value):
        raise WebhookPayloadError(f"{where}: not valid Unicode (a lone surrogate)", status=422)
    if max_chars is not None and len(value) > max_chars:
        raise WebhookPayloadError(f"{where}: longer than {max_chars} characters", status=422)
    return value


def _object(
    obj: Mapping[str, object], key: str, where: str, *, required: bool = False
) -> dict[str, object] | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise WebhookPayloadError(f"{where}: missing", status=422)
        return None
    if not isinstance(value, dict):
        raise _wrong_type(where, "an object", value)
    return value


def _boolean(obj: Mapping[str, object], key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _wrong_type(where, "true or false", value)


def _wrong_type(where: str, expected: str, value: object) -> WebhookPayloadError:
    return WebhookPayloadError(f"{where}: expected {expected}, got {_kind(value)}", status=422)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _clean(text: str | None, limit: int, *, one_line: bool = False) -> str | None:
    """Supplier text without control characters, capped; None when nothing is left."""
    if text is None:
        return None
    cleaned = _CONTROLS.sub("", text)
    if one_line:
        cleaned = " ".join(cleaned.split())
    return cleaned[:limit] or None


# ---------------------------------------------------------------- decide


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
    if not text or len(text) > _MAX_URL_CHARS or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
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
