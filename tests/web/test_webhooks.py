"""Webhook verification and interpretation (web/webhooks/), on real and documented payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance.errors import UserInputError
from web.webhooks.decision import decide, repository_key
from web.webhooks.delivery import (
    MAX_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    Action,
    Decision,
    Delivery,
    Provider,
    WebhookAuthError,
    WebhookError,
    WebhookPayloadError,
    WebhookRepositoryMismatch,
)
from web.webhooks.payload import parse
from web.webhooks.signature import verify

#: the real octokit example payloads, in ../shared beside the project root
GITHUB = Path(__file__).resolve().parents[2].parent / "shared" / "webhooks" / "github"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"

SECRET = "correct-horse-battery-staple-0123456789"
REPO = "https://github.com/Codertocat/Hello-World"
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
GITLAB_REPO = "https://gitlab.example.org/acme/contact-form"
GITLAB_COMMIT = "8e2d6c4a0b1f3e5d7c9a8b6f4e2d0c1a3b5f7e9d"
GITEA_REPO = "https://git.example.org/acme/contact-form"
GITEA_COMMIT = "c0ffee1234567890abcdef1234567890abcdef12"


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(body: bytes, event: str = "push", delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                   secret: str = SECRET) -> dict[str, str]:  # fmt: skip
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + sign(body, secret),
        "User-Agent": "GitHub-Hookshot/044aadd",
        "Content-Type": "application/json",
    }


def gitea_headers(body: bytes, *, forgejo: bool = False, secret: str = SECRET) -> dict[str, str]:
    """What Gitea 1.2x sends: its own headers plus GitHub's and Gogs' for compatibility."""
    brand = "Forgejo" if forgejo else "Gitea"
    return {
        f"X-{brand}-Event": "push",
        f"X-{brand}-Event-Type": "push",
        f"X-{brand}-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
        f"X-{brand}-Signature": sign(body, secret),
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
        "X-Gogs-Event": "push",
        "X-Hub-Signature-256": "sha256=" + sign(body, secret),
        "Content-Type": "application/json",
    }


def gitlab_headers(token: str = SECRET, event: str = "Push Hook", **extra: str) -> dict[str, str]:
    return {"X-Gitlab-Event": event, "X-Gitlab-Token": token, "Content-Type": "application/json",
            "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e", **extra}  # fmt: skip


def github_payload(name: str = "push-with-new-branch.payload.json") -> dict[str, Any]:
    return dict(json.loads((GITHUB / name).read_text()))


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


def encode(payload: object) -> bytes:
    return json.dumps(payload).encode()


def github_push(branch: str = "master", after: str = COMMIT, **changes: Any) -> Delivery:
    payload = github_payload()
    payload.update({"ref": f"refs/heads/{branch}", "after": after, **changes})
    body = encode(payload)
    headers = github_headers(body)
    return parse(verify(headers, body, SECRET), headers, body)


# ---------------------------------------------------------------- verify: GitHub and generic


@pytest.mark.parametrize("name", sorted(p.name for p in GITHUB.glob("*.json")))
def test_every_real_github_payload_verifies_and_parses(name: str) -> None:
    body = (GITHUB / name).read_bytes()
    event = name.split("-")[0].split(".")[0]
    headers = github_headers(body, event=event)
    assert verify(headers, body, SECRET) is Provider.GITHUB
    delivery = parse(Provider.GITHUB, headers, body)
    assert delivery.event == event and delivery.delivery_id == headers["X-GitHub-Delivery"]


def test_the_github_scheme_from_another_sender_is_generic() -> None:
    body = (GITHUB / "push-with-new-branch.payload.json").read_bytes()
    headers = github_headers(body)
    del headers["User-Agent"]
    assert verify(headers, body, SECRET) is Provider.GENERIC
    assert parse(Provider.GENERIC, headers, body).commit == COMMIT


def test_header_names_are_case_insensitive() -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    headers = {k.lower(): v for k, v in github_headers(body, event="ping").items()}
    assert verify(headers, body, SECRET) is Provider.GITHUB
    upper = {k.upper(): v for k, v in headers.items()}
    assert parse(verify(upper, body, SECRET), upper, body).event == "ping"


def test_uppercase_hex_signature_is_the_same_signature() -> None:
    body = b"{}"
    headers = github_headers(body)
    headers["X-Hub-Signature-256"] = "sha256=" + sign(body).upper()
    assert verify(headers, body, SECRET) is Provider.GITHUB


@pytest.mark.parametrize("position", [0, 1, 100, -2, -1])
def test_one_flipped_byte_in_the_body_is_refused(position: int) -> None:
    body = (GITHUB / "push-with-new-branch.payload.json").read_bytes()
    headers = github_headers(body)
    tampered = bytearray(body)
    tampered[position] ^= 0x01
    with pytest.raises(WebhookAuthError, match="does not match") as caught:
        verify(headers, bytes(tampered), SECRET)
    assert caught.value.status == 401


@given(body=st.binary(max_size=256), index=st.integers(min_value=0), bit=st.integers(0, 7))
@settings(max_examples=60, deadline=None)
def test_any_change_to_a_signed_body_is_refused(body: bytes, index: int, bit: int) -> None:
    headers = github_headers(body)
    assert verify(headers, body, SECRET) is Provider.GITHUB
    changed = bytearray(body) or bytearray(b"\x00")
    changed[index % len(changed)] ^= 1 << bit
    with pytest.raises(WebhookAuthError):
        verify(headers, bytes(changed), SECRET)


def test_a_missing_signature_is_refused() -> None:
    body = b"{}"
    headers = github_headers(body)
    del headers["X-Hub-Signature-256"]
    with pytest.raises(WebhookAuthError, match="no signature header") as caught:
        verify(headers, body, SECRET)
    assert caught.value.status == 401 and caught.value.hint


def test_the_wrong_secret_is_refused() -> None:
    body = b"{}"
    with pytest.raises(WebhookAuthError):
        verify(github_headers(body, secret="another secret"), body, SECRET)


def test_github_sha1_signature_alone_is_refused() -> None:
    body = b"{}"
    headers = github_headers(body)
    del headers["X-Hub-Signature-256"]
    headers["X-Hub-Signature"] = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    with pytest.raises(WebhookAuthError, match="SHA-1"):
        verify(headers, body, SECRET)


@pytest.mark.parametrize(
    "value",
    ["", "sha256=", "sha256=zz", "sha1=" + "0" * 64, "sha512=" + "0" * 64, "0" * 64,
     "sha256=" + "0" * 63, "sha256=" + "0" * 65, "sha256=" + "é" * 64],
)  # fmt: skip
def test_malformed_signatures_are_refused(value: str) -> None:
    body = b"{}"
    headers = github_headers(body)
    headers["X-Hub-Signature-256"] = value
    with pytest.raises(WebhookAuthError):
        verify(headers, body, SECRET)


def test_the_bare_signature_without_prefix_is_refused_for_github() -> None:
    body = b"{}"
    headers = github_headers(body)
    headers["X-Hub-Signature-256"] = sign(body)
    with pytest.raises(WebhookAuthError):
        verify(headers, body, SECRET)


def test_an_empty_secret_never_verifies() -> None:
    body = b"{}"
    with pytest.raises(WebhookAuthError, match="no webhook secret"):
        verify(github_headers(body, secret=""), body, "")


def test_errors_carry_their_http_status_and_are_user_errors() -> None:
    assert (WebhookAuthError.status, WebhookPayloadError.status) == (401, 400)
    assert WebhookRepositoryMismatch.status == 422
    assert WebhookPayloadError("x", status=413).status == 413
    assert issubclass(WebhookError, UserInputError)


# ---------------------------------------------------------------- verify: Gitea, Forgejo, GitLab


def test_gitea_signature_is_accepted() -> None:
    body = (FIXTURES / "gitea-push.json").read_bytes()
    assert verify(gitea_headers(body), body, SECRET) is Provider.GITEA


@pytest.mark.parametrize("forgejo", [False, True])
def test_gitea_and_forgejo_bare_hex_signature_alone_is_enough(forgejo: bool) -> None:
    body = (FIXTURES / "gitea-push.json").read_bytes()
    brand = "Forgejo" if forgejo else "Gitea"
    headers = {f"X-{brand}-Event": "push", f"X-{brand}-Signature": sign(body)}
    assert verify(headers, body, SECRET) is Provider.GITEA


def test_every_signature_a_gitea_delivery_carries_must_match() -> None:
    body = (FIXTURES / "gitea-push.json").read_bytes()
    headers = gitea_headers(body)
    headers["X-Gitea-Signature"] = sign(body, "another secret")  # X-Hub-Signature-256 still good
    with pytest.raises(WebhookAuthError, match="X-Gitea-Signature"):
        verify(headers, body, SECRET)
    headers = {"X-Gitea-Event": "push", "X-Gitea-Signature": sign(body + b" ")}
    with pytest.raises(WebhookAuthError):
        verify(headers, body, SECRET)


def test_gitlab_token_good_and_bad() -> None:
    body = (FIXTURES / "gitlab-push.json").read_bytes()
    assert verify(gitlab_headers(), body, SECRET) is Provider.GITLAB
    for wrong in ("", "x", SECRET[:-1], SECRET + "x", SECRET.upper(), " " + SECRET + "é"):
        with pytest.raises(WebhookAuthError, match="X-Gitlab-Token does not match"):
            verify(gitlab_headers(token=wrong), body, SECRET)


def test_gitlab_without_token_is_refused_even_if_hmac_signed() -> None:
    body = (FIXTURES / "gitlab-push.json").read_bytes()
    headers = gitlab_headers()
    del headers["X-Gitlab-Token"]
    headers["X-Hub-Signature-256"] = "sha256=" + sign(body)
    with pytest.raises(WebhookAuthError, match="X-Gitlab-Token header is missing"):
        verify(headers, body, SECRET)


# ---------------------------------------------------------------- parse: GitHub


def test_push_to_a_new_branch_reads_everything() -> None:
    delivery = github_push()
    assert delivery == Delivery(
        provider=Provider.GITHUB,
        event="push",
        delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        repository_urls=(
            "https://github.com/Codertocat/Hello-World.git",
            "https://github.com/Codertocat/Hello-World",
            "git://github.com/Codertocat/Hello-World.git",
            "git@github.com:Codertocat/Hello-World.git",
        ),
        repository_web_url=REPO,
        ref="refs/heads/master",
        branch="master",
        tag=None,
        commit=COMMIT,
        deleted=False,
        default_branch="master",
        pusher="Codertocat",
        commit_message="Initial commit",
    )


def test_tag_deletion_from_the_real_payload() -> None:
    body = (GITHUB / "push-payload.json").read_bytes()
    delivery = parse(Provider.GITHUB, github_headers(body), body)
    assert (delivery.ref, delivery.tag, delivery.branch) == (
        "refs/tags/simple-tag",
        "simple-tag",
        None,
    )
    assert delivery.deleted and delivery.commit is None and delivery.commit_message is None


def test_zero_after_means_deleted_even_without_the_flag() -> None:
    payload = github_payload()
    payload.update(after="0" * 40)
    del payload["deleted"]
    body = encode(payload)
    delivery = parse(Provider.GITHUB, github_headers(body), body)
    assert delivery.deleted and delivery.commit is None


def test_commit_ids_are_lowercased_and_sha256_repositories_accepted() -> None:
    assert github_push(after=COMMIT.upper()).commit == COMMIT
    long_id = "ab" * 32
    payload = github_payload()
    payload["head_commit"]["id"] = long_id
    assert github_push(after=long_id, head_commit=payload["head_commit"]).commit == long_id


def test_commit_message_is_capped_and_cleaned() -> None:
    payload = github_payload()
    head = dict(payload["head_commit"], message="fix\x00 the\x1b[31m form\n" + "x" * 5000)
    message = github_push(head_commit=head).commit_message
    assert message is not None and len(message) == MAX_MESSAGE_CHARS
    assert message.startswith("fix the[31m form\nxxx")


def test_message_is_found_in_commits_when_head_commit_is_absent() -> None:
    payload = github_payload()
    commits = payload["commits"]
    assert github_push(head_commit=None, commits=commits).commit_message == "Initial commit"
    assert github_push(head_commit=None, commits=[]).commit_message is None


def test_other_events_are_read_only_as_far_as_their_headers() -> None:
    body = (GITHUB / "pull_request-opened.payload.json").read_bytes()
    delivery = parse(Provider.GITHUB, github_headers(body, event="pull_request"), body)
    assert delivery == Delivery(
        Provider.GITHUB, "pull_request", "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    )


@pytest.mark.parametrize("provider", [Provider.GITHUB, Provider.GENERIC, Provider.GITEA])
def test_github_style_delivery_id_extraction(provider: Provider) -> None:
    body = b"{}"
    headers = github_headers(body, event="ping", delivery="abc-123")
    assert parse(provider, headers, body).delivery_id == "abc-123"
    del headers["X-GitHub-Delivery"]
    assert parse(provider, headers, body).delivery_id is None


def test_gitea_and_forgejo_delivery_ids_come_first() -> None:
    body = (FIXTURES / "gitea-push.json").read_bytes()
    headers = gitea_headers(body, forgejo=True)
    headers["X-Forgejo-Delivery"] = "forgejo-1"
    headers["X-GitHub-Delivery"] = "github-compat-1"
    assert parse(Provider.GITEA, headers, body).delivery_id == "forgejo-1"
    headers["X-Gitea-Delivery"] = "gitea-1"
    assert parse(Provider.GITEA, headers, body).delivery_id == "gitea-1"


@pytest.mark.parametrize("value", ["a" * 201, "has space", "tab\there", "é"])
def test_unusable_delivery_ids_are_refused(value: str) -> None:
    body = b"{}"
    with pytest.raises(WebhookPayloadError, match="X-GitHub-Delivery"):
        parse(Provider.GITHUB, github_headers(body, event="ping", delivery=value), body)


# ---------------------------------------------------------------- parse: Gitea and GitLab


def test_gitea_push() -> None:
    body = (FIXTURES / "gitea-push.json").read_bytes()
    headers = gitea_headers(body)
    delivery = parse(verify(headers, body, SECRET), headers, body)
    assert delivery.provider is Provider.GITEA and delivery.event == "push"
    assert (delivery.branch, delivery.commit, delivery.default_branch) == (
        "develop",
        GITEA_COMMIT,
        "develop",
    )
    assert (delivery.pusher, delivery.commit_message) == (
        "ssupplier",
        "Add the hidden honeypot field\n",
    )
    assert delivery.delivery_id == "f6266f16-1bf3-46a5-9ea4-602e06ead473"
    assert delivery.repository_web_url == GITEA_REPO
    assert set(delivery.repository_urls) == {
        GITEA_REPO,
        GITEA_REPO + ".git",
        "git@git.example.org:acme/contact-form.git",
    }


def test_gitlab_push() -> None:
    body = (FIXTURES / "gitlab-push.json").read_bytes()
    headers = gitlab_headers()
    delivery = parse(verify(headers, body, SECRET), headers, body)
    assert delivery.provider is Provider.GITLAB and delivery.event == "push"
    assert (delivery.branch, delivery.commit, delivery.deleted) == ("main", GITLAB_COMMIT, False)
    assert delivery.commit_message == "Reject addresses without a domain\n\nFixes #12.\n"
    assert (delivery.pusher, delivery.default_branch) == ("ssupplier", "main")
    assert delivery.repository_web_url == GITLAB_REPO
    assert set(delivery.repository_urls) == {
        GITLAB_REPO,
        GITLAB_REPO + ".git",
        "git@gitlab.example.org:acme/contact-form.git",
    }


def test_gitlab_delivery_id_prefers_the_idempotency_key() -> None:
    body = (FIXTURES / "gitlab-push.json").read_bytes()
    keyed = gitlab_headers(**{"Idempotency-Key": "908a6d9e-45fd-46c8-97e6-c4f350f219dd"})
    assert parse(Provider.GITLAB, keyed, body).delivery_id == "908a6d9e-45fd-46c8-97e6-c4f350f219dd"
    assert (
        parse(Provider.GITLAB, gitlab_headers(), body).delivery_id
        == "13792a34-cac6-4fda-95a8-c58e00a3954e"
    )
    bare = gitlab_headers()
    del bare["X-Gitlab-Event-UUID"]
    assert parse(Provider.GITLAB, bare, body).delivery_id is None


def test_gitlab_branch_deletion() -> None:
    payload = fixture("gitlab-push.json")
    payload.update(after="0" * 40, checkout_sha=None, commits=[], total_commits_count=0)
    body = encode(payload)
    delivery = parse(Provider.GITLAB, gitlab_headers(), body)
    assert delivery.deleted and delivery.commit is None and delivery.branch == "main"


def test_gitlab_tag_push_is_a_push_of_a_tag_at_its_commit() -> None:
    payload = fixture("gitlab-push.json")
    payload.update(
        object_kind="tag_push", ref="refs/tags/v1.0", after="f" * 40, message="Release 1.0"
    )
    body = encode(payload)
    delivery = parse(Provider.GITLAB, gitlab_headers(event="Tag Push Hook"), body)
    assert (delivery.event, delivery.tag, delivery.branch, delivery.commit) == (
        "push",
        "v1.0",
        None,
        GITLAB_COMMIT,
    )


def test_gitlab_other_hooks_keep_their_names() -> None:
    delivery = parse(Provider.GITLAB, gitlab_headers(event="Merge Request Hook"), b"{}")
    assert delivery.event == "Merge Request Hook"


# ---------------------------------------------------------------- parse: refusals


def test_a_body_over_the_cap_is_413() -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    with pytest.raises(WebhookPayloadError) as caught:
        parse(Provider.GITHUB, github_headers(body), body)
    assert caught.value.status == 413
    fits = b"{}" + b" " * (MAX_BODY_BYTES - 2)
    assert parse(Provider.GITHUB, github_headers(fits, event="ping"), fits).event == "ping"


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "not JSON"), (b"", "not JSON"), (b"\xff\xfe{}", "not UTF-8"),
     (b'{"a": NaN}', "not JSON"), (b"[" * 100_000 + b"]" * 100_000, "nested too deeply")],
)  # fmt: skip
def test_malformed_bodies_are_400(body: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message) as caught:
        parse(Provider.GITHUB, github_headers(body), body)
    assert caught.value.status == 400


@pytest.mark.parametrize("body", [b"[]", b'"push"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_422(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError, match="not an object") as caught:
        parse(Provider.GITHUB, github_headers(body), body)
    assert caught.value.status == 422


@pytest.mark.parametrize(
    ("change", "message"),
    [({"after": 5}, "after: expected a string, got a number"),
     ({"after": None}, "after: missing"),
     ({"after": "HEAD"}, "after: 'HEAD' is not a commit id"),
     ({"ref": ["refs/heads/main"]}, "ref: expected a string, got an array"),
     ({"ref": "main"}, "is not a git ref name"),
     ({"ref": "refs/heads/a..b"}, "is not a git ref name"),
     ({"ref": "refs/heads/--upload-pack=x y"}, "is not a git ref name"),
     ({"ref": "refs/heads/.hidden"}, "a component starts with '.'"),
     ({"ref": "refs/heads/main.lock"}, "ends with '/', '.' or '.lock'"),
     ({"ref": "heads/main"}, "it does not start with refs/"),
     ({"ref": "refs/heads/" + "a" * 400}, "longer than"),
     ({"deleted": "no"}, "deleted: expected true or false, got a string"),
     ({"repository": None}, "repository: missing"),
     ({"repository": "Hello-World"}, "repository: expected an object, got a string"),
     ({"repository": {"clone_url": 7}}, "repository.clone_url: expected a string"),
     ({"head_commit": {"id": COMMIT, "message": ["x"]}}, "head_commit.message"),
     ({"head_commit": None, "commits": {}}, "commits: expected an array"),
     ({"head_commit": None, "commits": [1]}, r"commits\[0\]: expected an object"),
     ({"pusher": {"name": {"first": "x"}}}, "pusher.name: expected a string"),
     ({"ref": "refs/heads/\ud800"}, "not valid Unicode")],
)  # fmt: skip
def test_push_payloads_of_the_wrong_shape_are_422(change: dict[str, Any], message: str) -> None:
    payload = github_payload()
    payload.update(change)
    body = json.dumps(payload).encode()  # ensure_ascii: lone surrogates survive as \\ud800
    with pytest.raises(WebhookPayloadError, match=message) as caught:
        parse(Provider.GITHUB, github_headers(body), body)
    assert caught.value.status == 422


def test_gitlab_payload_of_the_wrong_shape_is_422() -> None:
    payload = fixture("gitlab-push.json")
    payload["project"] = None
    with pytest.raises(WebhookPayloadError, match="project: missing"):
        parse(Provider.GITLAB, gitlab_headers(), encode(payload))
    payload = fixture("gitlab-push.json")
    payload["checkout_sha"] = "nope"
    with pytest.raises(WebhookPayloadError, match="checkout_sha"):
        parse(Provider.GITLAB, gitlab_headers(), encode(payload))


def test_missing_or_odd_event_header_is_400() -> None:
    body = b"{}"
    headers = github_headers(body)
    del headers["X-GitHub-Event"]
    with pytest.raises(WebhookPayloadError, match="X-GitHub-Event header is missing"):
        parse(Provider.GITHUB, headers, body)
    with pytest.raises(WebhookPayloadError, match="not an event name"):
        parse(Provider.GITHUB, github_headers(body, event="push;rm -rf"), body)


def test_form_encoded_deliveries_are_415_with_a_hint() -> None:
    body = b"payload=%7B%7D"
    headers = github_headers(body)
    headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    with pytest.raises(WebhookPayloadError, match="form-encoded") as caught:
        parse(Provider.GITHUB, headers, body)
    assert caught.value.status == 415 and "application/json" in (caught.value.hint or "")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
PUSH_KEYS = ["ref", "after", "deleted", "repository", "head_commit", "commits", "pusher",
             "checkout_sha", "project", "user_username", "sender"]  # fmt: skip


@given(
    provider=st.sampled_from(list(Provider)),
    payload=st.dictionaries(st.sampled_from(PUSH_KEYS), JSON, max_size=8),
    base=st.booleans(),
)
@settings(max_examples=100, deadline=None)
def test_any_push_payload_parses_or_is_refused_cleanly(
    provider: Provider, payload: dict[str, Any], base: bool
) -> None:
    if base:
        payload = {
            **fixture("gitlab-push.json" if provider is Provider.GITLAB else "gitea-push.json"),
            **payload,
        }
    body = encode(payload)
    headers = {"X-GitHub-Event": "push", "X-Gitea-Event": "push", "X-Gitlab-Event": "Push Hook"}
    try:
        delivery = parse(provider, headers, body)
    except WebhookPayloadError as exc:
        assert exc.status in (400, 422) and str(exc)
        return
    assert (
        delivery.event == "push" and delivery.ref is not None and delivery.ref.startswith("refs/")
    )
    assert delivery.deleted == (delivery.commit is None)
    try:
        decision = decide(delivery, registered_repo_url=REPO, followed_branch="main")
    except WebhookRepositoryMismatch:
        return
    if decision.action is Action.RUN:
        assert delivery.branch == "main" and delivery.commit is not None and not delivery.deleted
    else:
        assert decision.action is Action.IGNORE and decision.reason


@given(body=st.binary(max_size=512))
@settings(max_examples=100, deadline=None)
def test_any_body_parses_or_is_refused_cleanly(body: bytes) -> None:
    try:
        parse(Provider.GITHUB, {"X-GitHub-Event": "push"}, body)
    except WebhookPayloadError:
        pass


# ---------------------------------------------------------------- decide


def test_ping_pongs_whatever_repository_it_names() -> None:
    body = (GITHUB / "ping-payload.json").read_bytes()  # Octocoders/Hello-World, not ours
    delivery = parse(Provider.GITHUB, github_headers(body, event="ping"), body)
    assert decide(delivery, registered_repo_url=REPO, followed_branch="main").action is Action.PONG


def test_push_to_the_followed_branch_runs_the_commit() -> None:
    decision = decide(github_push(), registered_repo_url=REPO, followed_branch="master")
    assert decision.action is Action.RUN and COMMIT in decision.reason


def test_no_followed_branch_follows_the_default_branch_the_payload_names() -> None:
    assert (
        decide(github_push(), registered_repo_url=REPO, followed_branch=None).action is Action.RUN
    )
    other = decide(github_push(branch="feature"), registered_repo_url=REPO, followed_branch=None)
    assert (
        other.action is Action.IGNORE
        and other.reason == "branch feature is not followed (following master)"
    )
    payload = github_payload()
    del payload["repository"]["default_branch"], payload["repository"]["master_branch"]
    unknown = decide(
        github_push(repository=payload["repository"]),
        registered_repo_url=REPO,
        followed_branch=None,
    )
    assert unknown.action is Action.IGNORE and "default branch" in unknown.reason


def test_push_to_another_branch_is_ignored_with_the_reason() -> None:
    decision = decide(
        github_push(branch="feature"), registered_repo_url=REPO, followed_branch="main"
    )
    assert decision == Decision(Action.IGNORE, "branch feature is not followed (following main)")


def test_branch_names_are_compared_exactly() -> None:
    decision = decide(github_push(branch="Main"), registered_repo_url=REPO, followed_branch="main")
    assert decision.action is Action.IGNORE


def test_tag_push_is_ignored() -> None:
    delivery = github_push(ref="refs/tags/v1.0")
    decision = decide(delivery, registered_repo_url=REPO, followed_branch="master")
    assert decision.action is Action.IGNORE and decision.reason.startswith("tag v1.0 pushed")


def test_real_tag_deletion_is_ignored() -> None:
    body = (GITHUB / "push-payload.json").read_bytes()
    delivery = parse(Provider.GITHUB, github_headers(body), body)
    decision = decide(delivery, registered_repo_url=REPO, followed_branch="master")
    assert decision.action is Action.IGNORE and "simple-tag deleted" in decision.reason


def test_branch_deletion_is_ignored() -> None:
    delivery = github_push(after="0" * 40, deleted=True, head_commit=None)
    decision = decide(delivery, registered_repo_url=REPO, followed_branch="master")
    assert decision == Decision(Action.IGNORE, "branch master deleted")


def test_refs_that_are_neither_branch_nor_tag_are_ignored() -> None:
    delivery = github_push(ref="refs/notes/commits")
    decision = decide(delivery, registered_repo_url=REPO, followed_branch="master")
    assert decision.action is Action.IGNORE and "not a branch" in decision.reason


@pytest.mark.parametrize("event", ["issues", "pull_request", "create", "delete", "release"])
def test_other_events_are_ignored_with_their_name(event: str) -> None:
    body = b"{}"
    delivery = parse(Provider.GITHUB, github_headers(body, event=event), body)
    decision = decide(delivery, registered_repo_url=REPO, followed_branch="main")
    assert decision == Decision(Action.IGNORE, f"event {event} does not trigger a run")


def test_another_repository_is_422() -> None:
    payload = github_payload()
    urls = {"html_url": "https://github.com/someone/else", "clone_url": "https://github.com/someone/else.git",
            "git_url": "git://github.com/someone/else.git", "ssh_url": "git@github.com:someone/else.git",
            "svn_url": "https://github.com/someone/else", "url": "https://github.com/someone/else"}  # fmt: skip
    delivery = github_push(repository={**payload["repository"], **urls})
    with pytest.raises(WebhookRepositoryMismatch, match="someone/else") as caught:
        decide(delivery, registered_repo_url=REPO, followed_branch="master")
    assert caught.value.status == 422


def test_the_web_url_names_the_repository_whatever_the_clone_urls_say() -> None:
    payload = github_payload()
    other = "https://github.com/someone/else"
    repository = {
        **payload["repository"],
        "html_url": other,
        "clone_url": other + ".git",
        "url": other,
    }
    with pytest.raises(WebhookRepositoryMismatch, match="someone/else"):
        decide(
            github_push(repository=repository), registered_repo_url=REPO, followed_branch="master"
        )
    # ... and the other way round: our web URL, a stray clone URL.
    repository = {**payload["repository"], "clone_url": other + ".git"}
    delivery = github_push(repository=repository)
    assert decide(delivery, registered_repo_url=REPO, followed_branch="master").action is Action.RUN


def test_without_a_web_url_any_clone_url_may_name_the_repository() -> None:
    repository = {
        "clone_url": "https://example.org/mirror.git",
        "ssh_url": "git@github.com:Codertocat/Hello-World.git",
    }
    delivery = github_push(repository=repository)
    assert delivery.repository_web_url is None
    assert decide(delivery, registered_repo_url=REPO, followed_branch="master").action is Action.RUN
    payload = fixture("gitlab-push.json")
    del payload["project"]["web_url"], payload["project"]["homepage"]
    gitlab = parse(Provider.GITLAB, gitlab_headers(), encode(payload))
    assert (
        decide(gitlab, registered_repo_url=GITLAB_REPO, followed_branch="main").action is Action.RUN
    )


def test_a_push_naming_no_repository_url_is_422() -> None:
    delivery = github_push(repository={"name": "Hello-World"})
    with pytest.raises(WebhookRepositoryMismatch, match="no repository"):
        decide(delivery, registered_repo_url=REPO, followed_branch="master")


def test_repository_is_checked_before_the_branch() -> None:
    delivery = github_push(branch="feature", repository={"html_url": "https://github.com/x/y"})
    with pytest.raises(WebhookRepositoryMismatch):
        decide(delivery, registered_repo_url=REPO, followed_branch="master")


@pytest.mark.parametrize(
    "registered",
    [REPO, REPO + ".git", REPO + "/", "https://GitHub.com/codertocat/hello-world",
     "git@github.com:Codertocat/Hello-World.git", "ssh://git@github.com/Codertocat/Hello-World",
     "https://github.com:443/Codertocat/Hello-World", "http://github.com/Codertocat/Hello-World"],
)  # fmt: skip
def test_the_registered_url_matches_in_any_of_its_forms(registered: str) -> None:
    assert (
        decide(github_push(), registered_repo_url=registered, followed_branch="master").action
        is Action.RUN
    )


def test_gitlab_and_gitea_pushes_run() -> None:
    body = (FIXTURES / "gitlab-push.json").read_bytes()
    delivery = parse(Provider.GITLAB, gitlab_headers(), body)
    assert (
        decide(delivery, registered_repo_url=GITLAB_REPO, followed_branch=None).action is Action.RUN
    )
    body = (FIXTURES / "gitea-push.json").read_bytes()
    delivery = parse(Provider.GITEA, gitea_headers(body), body)
    decision = decide(delivery, registered_repo_url=GITEA_REPO + ".git", followed_branch="develop")
    assert decision.action is Action.RUN and GITEA_COMMIT in decision.reason
    with pytest.raises(WebhookRepositoryMismatch):
        decide(delivery, registered_repo_url=GITLAB_REPO, followed_branch="develop")


def test_an_incomparable_registered_url_is_a_bug_not_the_senders_fault() -> None:
    with pytest.raises(ValueError, match="not comparable"):
        decide(github_push(), registered_repo_url="/srv/git/repo", followed_branch="master")


# ---------------------------------------------------------------- repository_key


@pytest.mark.parametrize(
    ("url", "key"),
    [("https://github.com/Codertocat/Hello-World", "github.com/codertocat/hello-world"),
     ("git://github.com/Codertocat/Hello-World.git", "github.com/codertocat/hello-world"),
     ("git@github.com:Codertocat/Hello-World.git", "github.com/codertocat/hello-world"),
     ("ssh://git@GitHub.com:22/Codertocat/Hello-World.git/", "github.com/codertocat/hello-world"),
     ("https://user:pw@github.com/Codertocat/Hello-World?x=1#y", "github.com/codertocat/hello-world"),
     ("http://127.0.0.1:8080/contact.git", "127.0.0.1:8080/contact"),
     ("http://127.0.0.1:80/contact", "127.0.0.1/contact"),
     ("https://[::1]:8443/a/b.git", "[::1]:8443/a/b"),
     ("https://gitlab.example.org/group/sub/project", "gitlab.example.org/group/sub/project"),
     ("https://github.com/o/r%2Dx", "github.com/o/r-x"),
     ("https://github.com/evil/../Codertocat/Hello-World", None),
     ("https://github.com/./x", None),
     ("https://github.com/", None),
     ("https://github.com/.git", None),
     ("file:///srv/git/repo.git", None),
     ("ftp://github.com/o/r", None),
     ("/srv/git/repo", None),
     ("https://github.com:notaport/o/r", None),
     ("https://github.com/o/r\nx", None),
     ("", None)],
)  # fmt: skip
def test_repository_key(url: str, key: str | None) -> None:
    assert repository_key(url) == key


@pytest.mark.parametrize(
    ("one", "other"),
    [("https://github.com/Codertocat/Hello-World", "https://github.com/Codertocat/Hello-World2"),
     ("https://github.com/Codertocat/Hello-World", "https://gitlab.com/Codertocat/Hello-World"),
     ("https://github.com/Codertocat/Hello-World", "https://api.github.com/repos/Codertocat/Hello-World"),
     ("https://git.example.org:3000/a/b", "https://git.example.org/a/b"),
     ("https://github.com/Codertocat/Hello-World", "https://github.com/Codertocat"),
     ("https://github.com/a/b", "https://github.com/a/b/c")],
)  # fmt: skip
def test_different_repositories_have_different_keys(one: str, other: str) -> None:
    assert repository_key(one) != repository_key(other)


NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}", fullmatch=True)
HOST = st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(org|com|example)", fullmatch=True)


@given(host=HOST, owner=NAME, name=NAME)
@settings(max_examples=100, deadline=None)
def test_every_form_of_one_repository_has_one_key(host: str, owner: str, name: str) -> None:
    forms = [
        f"https://{host}/{owner}/{name}", f"https://{host}/{owner}/{name}.git",
        f"https://{host.upper()}/{owner.upper()}/{name.lower()}/", f"http://{host}:80/{owner}/{name}",
        f"git://{host}/{owner}/{name}.git", f"git@{host}:{owner}/{name}.git",
        f"ssh://git@{host}/{owner}/{name}.git",
    ]  # fmt: skip
    assert len({repository_key(form) for form in forms}) == 1
    assert repository_key(forms[0]) != repository_key(f"https://{host}/{owner}/{name}x")
