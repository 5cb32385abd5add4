"""Signed events for owners' systems: an endpoint registered through the API receives `run.finished`,
`decision.recorded` and `submission.state_changed`, each verified by the real `standardwebhooks`
library with the secret shown once; a receiver that fails is retried (the same webhook-id, a fresh
signature) until it recovers, a day of failures disables the endpoint, and "send again" re-enables it.
On a real PostgreSQL database, with a real HTTP receiver on loopback."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from acceptance.service.access import get_submission
from acceptance.service.accounts import create_token, create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.events.delivery import GIVE_UP_AFTER, EventPublisher, deliver
from acceptance.service.models import EventDelivery, EventEndpoint, utcnow
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import load_settings
from checks.hidden_inventory import HIDDEN_DIR_NAME
from tests.service import test_notifications
from tests.service.test_notifications import Inbox
from tests.support import Recorder
from workers.celery_app import EVENT_TASK, SERVICE_QUEUE
from workers.runner import Claim, RunExecutor

smtp = test_notifications.smtp  # the real SMTP server on loopback (aiosmtpd), used by name below
HIDDEN_ID = f"{HIDDEN_DIR_NAME}/test_owner_secret.py::test_discount_rounding"
COMMIT = "d" * 40


@dataclass
class Receiver:
    """An owner's system on loopback: keeps every request; answers `answers` first, then 204."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/acceptance"

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every event received, checked by the standardwebhooks library (raises on any bad one)."""
        hook = Webhook(secret)
        return [hook.verify(body, headers) for headers, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    try:
        yield found
    finally:
        assert found.server is not None
        found.server.shutdown()
        found.server.server_close()


class World:
    """The web app (API), a worker's executor and the event task run at once, on one database."""

    def __init__(self, tmp_path: Path, database_url: str, receiver: Receiver) -> None:
        from web.app import create_app

        self.settings = load_settings({
            "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url,
            "ACCEPTANCE_PUBLIC_URL": "https://acceptance.buyer.example",
            "ACCEPTANCE_GIT_ALLOWED_HOSTS": f"{receiver.host},example.org",
        })  # fmt: skip
        upgrade(self.settings.database_url)
        self.db = Database(self.settings.database_url)
        self.box = SecretBox(self.settings.secrets_key)
        self.handed: list[str] = []
        self.executor = RunExecutor(
            self.settings, self.db, events=EventPublisher(self.db, self.handed.append)
        )
        self.celery = Recorder()
        self.app = create_app(self.settings, celery=self.celery)
        self.client = self.app.test_client()
        with self.db.session() as session:
            create_user(session, "owner@buyer.example", "owner", "a long password 1")
            create_user(session, "other@buyer.example", "owner", "a long password 1")
            self.auth = {"Authorization": f"Bearer {create_token(session, 'owner@buyer.example')}"}
            self.other = {"Authorization": f"Bearer {create_token(session, 'other@buyer.example')}"}
        spec = (
            b"version: 1\ntitle: Contact form\nlimits: {timeout: 100}\nfunctional: {timeout: 50}\n"
        )
        data = {"spec": (io.BytesIO(spec), "acceptance.yaml")}
        self.opportunity = self.client.post(
            "/api/v1/opportunities", data=data, headers=self.auth
        ).get_json()["id"]
        made = self.client.post(
            f"/api/v1/opportunities/{self.opportunity}/submissions",
            json={"repo_url": "https://example.org/s/contact.git", "supplier": "Supplier Ltd"}, headers=self.auth,
        )  # fmt: skip
        assert made.status_code == 201, made.get_json()
        self.submission = made.get_json()["id"]
        with self.db.session() as session:
            owner = session.scalar(_user("owner@buyer.example"))
            run, _ = create_run(session, get_submission(session, owner, self.submission), trigger="webhook",
                                ref="main", commit=COMMIT)  # fmt: skip
            self.run_id = run.id

    def finish(self, verdict: str) -> None:
        claim = self.executor.claim(self.run_id)
        assert isinstance(claim, Claim)
        assert self.executor._finish(claim, statement(verdict), {}, {}) == "done"

    def send_all(self, ids: list[str]) -> list[str]:
        return [deliver(self.db, self.settings, self.box, i, timeout=2).state for i in ids]

    def queued_by_web(self) -> list[str]:
        return [args[0] for name, args, options in self.celery.sent
                if name == EVENT_TASK and options["queue"] == SERVICE_QUEUE]  # fmt: skip


def _user(email: str) -> Any:
    from sqlalchemy import select

    from acceptance.service.models import User

    return select(User).where(User.email == email)


def statement(verdict: str) -> dict[str, Any]:
    return {"predicate": {
        "verdict": verdict, "reason_codes": ["TESTS_FAILED"], "reasons": [f"1 test failed: {HIDDEN_ID}"],
        "source": {"commit": COMMIT}, "stages": [{"name": "checkout", "seconds": 0.1, "status": "ok"}],
        "checks": [{"id": "functional", "kind": "functional", "status": "failed",
                    "summary": f"4 passed, 1 failed ({HIDDEN_ID})"}],
        "environment": {}, "spec": {"hidden_test_ids": [HIDDEN_ID], "hidden_feedback": "none"},
    }}  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, database_url: str, receiver: Receiver) -> World:
    return World(tmp_path, database_url, receiver)


def add_endpoint(
    world: World, receiver: Receiver, events: list[str] | None = None
) -> tuple[str, str]:
    events = events or ["run.finished", "decision.recorded", "submission.state_changed"]
    made = world.client.post(
        f"/api/v1/opportunities/{world.opportunity}/endpoints",
        json={"url": receiver.url, "events": events}, headers=world.auth,
    )  # fmt: skip
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["secret"].startswith("whsec_") and body["events"] == events
    return body["id"], body["secret"]


def test_every_event_reaches_the_owners_endpoint_signed_and_verified_by_standardwebhooks(
    world: World, receiver: Receiver
) -> None:
    endpoint, secret = add_endpoint(world, receiver)
    listed = world.client.get(
        f"/api/v1/opportunities/{world.opportunity}/endpoints", headers=world.auth
    )
    assert [e["id"] for e in listed.get_json()["items"]] == [endpoint]
    assert secret not in listed.get_data(as_text=True)  # the secret was shown once

    world.finish("rejected")
    assert world.send_all(world.handed) == ["delivered", "delivered"]
    decided = world.client.post(
        f"/api/v1/runs/{world.run_id}/decision",
        json={"decision": "rejected", "reason": "the discount is rounded the wrong way"}, headers=world.auth,
    )  # fmt: skip
    assert decided.status_code == 201, decided.get_json()
    assert world.send_all(world.queued_by_web()) == ["delivered", "delivered"]
    withdrawn = world.client.post(
        f"/api/v1/submissions/{world.submission}/withdraw", headers=world.auth
    )
    assert withdrawn.status_code == 200, withdrawn.get_json()
    assert world.send_all(world.queued_by_web()[2:]) == ["delivered"]

    events = receiver.verified(secret)
    assert [e["type"] for e in events] == [
        "run.finished",
        "submission.state_changed",
        "decision.recorded",
        "submission.state_changed",
        "submission.state_changed",
    ]
    run = events[0]["data"]["run"]
    assert (run["id"], run["verdict"], run["commit"]) == (world.run_id, "rejected", COMMIT)
    assert len(run["report_sha256"]) == 64 and run["report_url"].endswith(
        f"/runs/{world.run_id}/report"
    )
    states = [(e["data"]["submission"]["previous_state"], e["data"]["submission"]["state"])
              for e in events if e["type"] == "submission.state_changed"]  # fmt: skip
    assert states == [
        ("awaiting_delivery", "in_review"),
        ("in_review", "rejected"),
        ("rejected", "withdrawn"),
    ]
    decision = events[2]["data"]["decision"]
    assert (decision["decision"], decision["report_sha256"]) == ("rejected", run["report_sha256"])
    raw = b"".join(body for _, body in receiver.received)
    assert (
        b"test_discount_rounding" not in raw and HIDDEN_DIR_NAME.encode() not in raw
    )  # never the hidden tests
    headers = receiver.received[0][0]
    assert headers["webhook-signature"].startswith("v1,") and headers["webhook-id"].startswith(
        "msg_"
    )
    with pytest.raises(WebhookVerificationError):  # another secret does not verify them
        Webhook("whsec_" + "A" * 43 + "=").verify(receiver.received[0][1], headers)
    log = world.client.get(
        f"/api/v1/endpoints/{endpoint}/deliveries", headers=world.auth
    ).get_json()
    assert [d["state"] for d in log["items"]] == ["delivered"] * 5


def test_a_failing_receiver_is_retried_then_a_day_of_failures_disables_it_and_send_again_revives_it(
    world: World, receiver: Receiver
) -> None:
    endpoint, secret = add_endpoint(world, receiver, ["run.finished"])
    receiver.answers = [500, 503]
    world.finish("accepted")
    [delivery_id] = world.handed
    assert world.send_all([delivery_id, delivery_id]) == ["retrying", "retrying"]
    assert world.send_all([delivery_id]) == ["delivered"]
    first, _, last = receiver.received
    assert first[0]["webhook-id"] == last[0]["webhook-id"]  # the receiver can drop duplicates
    assert [e["type"] for e in receiver.verified(secret)] == ["run.finished"] * 3
    assert (
        world.send_all([delivery_id]) == ["delivered"] and len(receiver.received) == 3
    )  # not again

    # A day of failures: the delivery fails and the endpoint, with no success in that day, is disabled.
    receiver.answers = [500] * 3
    with world.db.session() as session:
        row = session.get(EventDelivery, delivery_id)
        assert row is not None
        row.state, row.delivered_at = "retrying", None
        row.created_at = utcnow() - GIVE_UP_AFTER - dt.timedelta(minutes=1)
    assert world.send_all([delivery_id]) == ["failed"]
    with world.db.session() as session:
        found = session.get(EventEndpoint, endpoint)
        assert found is not None and found.disabled_at is not None
    world.handed.clear()
    publisher = EventPublisher(world.db, world.handed.append)
    assert (
        publisher.run_finished(world.run_id, None, None) == []
    )  # nothing is sent to a disabled endpoint

    # "Send again": re-enabled, queued for the service queue, delivered once the receiver is back.
    url = f"/api/v1/endpoints/{endpoint}/deliveries/{delivery_id}/resend"
    assert world.client.post(url, headers=world.other).status_code in (403, 404)
    again = world.client.post(url, headers=world.auth)
    assert again.status_code == 202 and again.get_json()["state"] == "queued"
    assert world.queued_by_web() == [delivery_id]
    receiver.answers = []
    assert world.send_all([delivery_id]) == ["delivered"]
    shown = world.client.get(
        f"/api/v1/opportunities/{world.opportunity}/endpoints", headers=world.auth
    )
    assert shown.get_json()["items"][0]["disabled_at"] is None


def test_bad_endpoints_are_refused_with_what_to_fix(world: World, receiver: Receiver) -> None:
    url = f"/api/v1/opportunities/{world.opportunity}/endpoints"
    cases = [
        ({"url": receiver.url, "events": []}, "events"),
        ({"url": receiver.url, "events": ["run.started"]}, "unknown run.started"),
        ({"url": "http://10.0.0.7/hook", "events": ["run.finished"]}, "https"),
        ({"url": "https://127.0.0.1:9/hook", "events": ["run.finished"]}, "not a public address"),
        ({"events": ["run.finished"]}, "url"),
    ]
    for body, why in cases:
        refused = world.client.post(url, json=body, headers=world.auth)
        assert refused.status_code == 422 and why in json.dumps(refused.get_json()), (
            body,
            refused.get_json(),
        )
    assert world.client.post(url, data="x", headers=world.auth).status_code == 400
    stranger = world.client.post(
        url, json={"url": receiver.url, "events": ["run.finished"]}, headers=world.other
    )
    assert stranger.status_code in (403, 404)
    endpoint, _ = add_endpoint(world, receiver)
    assert world.client.delete(
        f"/api/v1/endpoints/{endpoint}", headers=world.other
    ).status_code in (403, 404)
    assert (
        world.client.delete(f"/api/v1/endpoints/{endpoint}", headers=world.auth).status_code == 204
    )
    assert (
        world.client.get(f"/api/v1/endpoints/{endpoint}/deliveries", headers=world.auth).status_code
        == 404
    )


def test_the_owner_is_emailed_in_their_language_when_their_endpoint_is_disabled(
    tmp_path: Path, database_url: str, receiver: Receiver, smtp: tuple[Inbox, int]
) -> None:
    from acceptance.service.mailer import deliver as deliver_mail
    from acceptance.service.notifications import Notifier

    world = World(tmp_path, database_url, receiver)
    endpoint, _ = add_endpoint(world, receiver, ["run.finished"])
    inbox, port = smtp
    settings = dataclasses.replace(world.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    with world.db.session() as session:
        owner = session.scalar(_user("owner@buyer.example"))
        owner.language = "fr"
    sent: list[str] = []

    def send_now(message_id: str) -> None:  # as the worker's mail task does
        sent.append(deliver_mail(world.db, settings, message_id).state)

    notifier = Notifier(settings, world.db, send_now)
    receiver.answers = [500]
    world.finish("accepted")
    with world.db.session() as session:
        row = session.get(EventDelivery, world.handed[0])
        assert row is not None
        row.created_at = utcnow() - GIVE_UP_AFTER - dt.timedelta(minutes=1)
    attempt = deliver(world.db, settings, world.box, world.handed[0])
    assert (attempt.state, attempt.disabled_endpoint) == ("failed", endpoint)
    assert len(notifier.endpoint_disabled(endpoint)) == 1  # what the worker's event task does then
    assert sent == ["sent"]
    [mail] = inbox.to("owner@buyer.example")
    assert "un point de réception d’événements a été désactivé" in mail["Subject"]
    text = mail.get_body(("plain",))
    assert text is not None and receiver.url in str(text.get_content())
    assert f"https://acceptance.buyer.example/opportunities/{world.opportunity}/endpoints" in str(
        text.get_content()
    )
