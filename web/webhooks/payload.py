"""Step 2: what a verified delivery says; push payloads are read field by field, typed and capped."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from acceptance.engine.git_source import ref_problem
from web.webhooks.delivery import (
    MAX_BODY_BYTES,
    MAX_DELIVERY_ID_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_URL_CHARS,
    Delivery,
    Provider,
    WebhookPayloadError,
    fold_headers,
)

_MAX_PUSHER_CHARS = 200
_MAX_REF_CHARS = 300
_MAX_EVENT_CHARS = 100

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ZERO_COMMIT = re.compile(r"0{40}|0{64}")
_PRINTABLE_ID = re.compile(r"[\x21-\x7e]+")
_EVENT_NAME = re.compile(r"[A-Za-z0-9_. -]+")
# C0 and C1 controls except tab and newline (PostgreSQL refuses NUL in text).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# JSON escapes can spell lone surrogates, which no database or encoder accepts.
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def parse(provider: Provider, headers: Mapping[str, str], body: bytes) -> Delivery:
    """Read a verified delivery: its event, delivery id and, for pushes, what was pushed."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookPayloadError(
            f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted", status=413
        )
    found = fold_headers(headers)
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
            url = _string(obj, key, f"{where}.{key}", max_chars=MAX_URL_CHARS)
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
