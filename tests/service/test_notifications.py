"""Emails through a real SMTP server on loopback (aiosmtpd): a finished run and a decision reach the
supplier's contact and the owner in their languages, as plain text and HTML, without the owner's
hidden tests in the supplier's; an SMTP server that is down leaves the message retrying, then failed,
and the run and the decision as they were. On a real PostgreSQL database."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from acceptance.errors import UserInputError
from acceptance.service.accounts import create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.mailer import MAX_ATTEMPTS, deliver
from acceptance.service.models import Message, Run, RunStatus, Submission
from acceptance.service.notifications import Notifier
from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
from acceptance.service.recipients import check_contact_email
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import load_settings
from checks.hidden_inventory import HIDDEN_DIR_NAME
from tests.support import free_port
from workers.runner import Claim, RunExecutor

HIDDEN_ID = f"{HIDDEN_DIR_NAME}/test_owner_secret.py::test_discount_rounding"


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if m["To"] == address]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class World:
    """An owner reading French, a submission whose contact reads English, one run claimed by a worker."""

    def __init__(self, tmp_path: Path, database_url: str, smtp_port: int) -> None:
        self.settings = load_settings({
            "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"), "ACCEPTANCE_DATABASE_URL": database_url,
            "ACCEPTANCE_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "ACCEPTANCE_MAIL_FROM": "Acceptance <acceptance@buyer.example>",
            "ACCEPTANCE_PUBLIC_URL": "https://acceptance.buyer.example",
        })  # fmt: skip
        upgrade(self.settings.database_url)
        self.db = Database(self.settings.database_url)
        self.sent: list[str] = []
        # As the worker's mail task does, at once: deliver each message handed over.
        self.notifier = Notifier(self.settings, self.db, self._deliver)
        self.executor = RunExecutor(self.settings, self.db, notifier=self.notifier)
        with self.db.session() as session:
            owner = create_user(session, "owner@buyer.example", "owner", "a long password 1", "fr")
            spec = b"version: 1\ntitle: Contact form\nlimits: {timeout: 100}\nfunctional: {timeout: 50}\n"
            version = publish_spec(session, owner, SpecUpload(spec), self.settings.specs_dir)
            submission, _ = register_submission(
                session, owner, version.opportunity, repo_url="https://example.org/r.git",
                supplier="Supplier Ltd", branch=None, box=SecretBox(self.settings.secrets_key),
                contact_email="bids@supplier.example", language="en",
            )  # fmt: skip
            run, _ = create_run(session, submission, trigger="webhook", ref="main")
            self.run_id, self.status_token = run.id, submission.status_token

    def _deliver(self, message_id: str) -> None:
        self.sent.append(message_id)
        deliver(self.db, self.settings, message_id)

    def finish(self, verdict: str = "rejected") -> Claim:
        claim = self.executor.claim(self.run_id)
        assert isinstance(claim, Claim)
        assert self.executor._finish(claim, statement(verdict), {}, {}) == "done"
        return claim

    def messages(self) -> list[Message]:
        with self.db.session() as session:
            found = list(session.query(Message).order_by(Message.audience))
            session.expunge_all()
            return found


def statement(verdict: str) -> dict[str, Any]:
    """A report whose functional check names one of the owner's hidden tests."""
    return {"predicate": {
        "verdict": verdict,
        "reason_codes": ["TESTS_FAILED"],
        "reasons": [f"functional: 1 test failed: {HIDDEN_ID}"],
        "source": {"commit": "c" * 40},
        "stages": [{"name": "checkout", "seconds": 0.1, "status": "ok"}],
        "checks": [{"id": "functional", "kind": "functional", "status": "failed",
                    "summary": f"1 test failed: {HIDDEN_ID}", "reason_code": "TESTS_FAILED"}],
        "environment": {},
        "spec": {"hidden_test_ids": [HIDDEN_ID], "hidden_feedback": "none"},
    }}  # fmt: skip


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    markup = message.get_body(("html",))
    assert text is not None and markup is not None
    return str(text.get_content()), str(markup.get_content())


@pytest.fixture
def world(tmp_path: Path, database_url: str, smtp: tuple[Inbox, int]) -> World:
    return World(tmp_path, database_url, smtp[1])


def test_a_finished_run_is_emailed_to_the_supplier_in_english_and_the_owner_in_french(
    world: World, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    world.finish("rejected")
    supplier, owner = inbox.to("bids@supplier.example"), inbox.to("owner@buyer.example")
    assert len(supplier) == 1 and len(owner) == 1, [m["To"] for m in inbox.received]

    assert supplier[0]["From"] == "Acceptance <acceptance@buyer.example>"
    assert supplier[0]["Subject"] == "Contact form: a run of Supplier Ltd has finished"
    text, markup = parts(supplier[0])
    assert "The checks rejected this delivery." in text
    assert f"https://acceptance.buyer.example/status/{world.status_token}" in text
    assert f'href="https://acceptance.buyer.example/status/{world.status_token}"' in markup
    assert "The submission is now: in review." in text
    # Built from the supplier view: the owner's hidden test is never named to the supplier.
    for body in (text, markup, str(supplier[0]["Subject"])):
        assert "test_owner_secret" not in body and "test_discount_rounding" not in body
    assert "functional: failed" in text

    assert owner[0]["Subject"] == "Contact form\u00a0: une exécution de Supplier Ltd est terminée"
    owner_text, owner_markup = parts(owner[0])
    assert "Les vérifications ont refusé cette livraison." in owner_text
    assert "La soumission est désormais\u00a0: en cours d’examen." in owner_text
    assert f"https://acceptance.buyer.example/runs/{world.run_id}" in owner_text
    assert '<html lang="fr">' in owner_markup
    assert HIDDEN_ID in owner_text  # the owner reads their own hidden tests' names
    # The reason said in French from its code, then the engine's sentence as signed.
    assert ("functional\u00a0: des tests ont échoué ou fini en erreur. — Dans le rapport "
            f"signé\u00a0: functional: 1 test failed: {HIDDEN_ID}") in owner_text  # fmt: skip
    assert "- functional\u00a0: échoué — " in owner_text  # French punctuation in the list too

    kept = world.messages()
    assert [(m.audience, m.language, m.state, m.attempts) for m in kept] == [
        ("owner", "fr", "sent", 1),
        ("supplier", "en", "sent", 1),
    ]
    assert all(m.event == "run_finished" and m.run_id == world.run_id and m.sent_at for m in kept)


def test_a_decision_is_emailed_with_its_reason_and_the_new_state(
    tmp_path: Path, database_url: str, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the API, as tests/service/test_decisions.py does: the email leaves after the commit."""
    from acceptance.service.accounts import create_token
    from tests.support import Recorder
    from web.app import create_app

    inbox, port = smtp
    world = World(tmp_path, database_url, port)
    world.finish("accepted")
    inbox.received.clear()
    app = create_app(world.settings, celery=Recorder())
    with world.db.session() as session:
        token = create_token(session, "owner@buyer.example")
    monkeypatch.setattr("web.messages.notifier", lambda: world.notifier)
    reply = app.test_client().post(
        f"/api/v1/runs/{world.run_id}/decision", headers={"Authorization": f"Bearer {token}"},
        json={"decision": "changes_requested", "reason": "Please add the privacy notice."},
    )  # fmt: skip
    assert reply.status_code == 201, reply.get_json()
    supplier, owner = inbox.to("bids@supplier.example"), inbox.to("owner@buyer.example")
    assert len(supplier) == 1 and len(owner) == 1
    text, _ = parts(supplier[0])
    assert supplier[0]["Subject"] == "Contact form: a decision on Supplier Ltd's delivery"
    assert "The owner asks for changes to this delivery." in text
    assert "Reason: Please add the privacy notice." in text
    assert "The submission is now: changes requested." in text
    owner_text, _ = parts(owner[0])
    assert "Le propriétaire demande des modifications de cette livraison." in owner_text
    assert "La soumission est désormais\u00a0: modifications demandées." in owner_text
    events = {
        (m.event, m.decision_id is not None) for m in world.messages() if m.event != "run_finished"
    }
    assert events == {("decision_recorded", True)}


def test_an_smtp_server_that_is_down_leaves_the_run_finished_and_the_message_retrying_then_failed(
    tmp_path: Path, database_url: str
) -> None:
    world = World(tmp_path, database_url, free_port())  # nothing listens there
    world.finish("accepted")
    with world.db.session() as session:
        run = session.get(Run, world.run_id)
        assert (
            run is not None and run.status == RunStatus.FINISHED.value and run.verdict == "accepted"
        )
    kept = world.messages()
    assert len(kept) == 2
    assert all(m.state == "retrying" and m.attempts == 1 and m.last_error for m in kept)
    assert "ConnectionRefusedError" in str(kept[0].last_error)
    # The mail task's retries: each attempt counted, then given up.
    for _ in range(MAX_ATTEMPTS - 1):
        outcome = deliver(world.db, world.settings, kept[0].id)
    assert outcome.state == "failed" and not outcome.retry
    failed = next(m for m in world.messages() if m.id == kept[0].id)
    assert failed.state == "failed" and failed.attempts == MAX_ATTEMPTS


def test_a_decision_stands_when_the_mail_cannot_even_be_queued(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from acceptance.service.accounts import create_token
    from tests.support import Recorder
    from web.app import create_app

    world = World(tmp_path, database_url, free_port())
    world.finish("accepted")

    def broken(message_id: str) -> None:
        raise ConnectionError("broker down")

    world.notifier.send = broken
    monkeypatch.setattr("web.messages.notifier", lambda: world.notifier)
    app = create_app(world.settings, celery=Recorder())
    with world.db.session() as session:
        token = create_token(session, "owner@buyer.example")
    reply = app.test_client().post(
        f"/api/v1/runs/{world.run_id}/decision", headers={"Authorization": f"Bearer {token}"},
        json={"decision": "accepted"},
    )  # fmt: skip
    assert reply.status_code == 201
    with world.db.session() as session:
        assert (
            session.get(Submission, next(iter([m.submission_id for m in world.messages()])))
            is not None
        )
    queued = [m for m in world.messages() if m.event == "decision_recorded"]
    assert len(queued) == 2 and all(m.state == "queued" and m.attempts == 0 for m in queued)


def test_without_an_smtp_url_nothing_is_kept_or_sent(tmp_path: Path, database_url: str) -> None:
    settings = load_settings(
        {"ACCEPTANCE_DATA_DIR": str(tmp_path / "d"), "ACCEPTANCE_DATABASE_URL": database_url}
    )
    upgrade(settings.database_url)
    handed: list[str] = []
    notifier = Notifier(settings, Database(settings.database_url), handed.append)
    assert notifier.run_finished("f" * 32, None, None) == [] and handed == []


def test_admins_list_messages_and_others_are_refused(world: World) -> None:
    from acceptance.service.accounts import create_token
    from tests.support import Recorder
    from web.app import create_app

    world.finish("accepted")
    app = create_app(world.settings, celery=Recorder())
    with world.db.session() as session:
        create_user(session, "admin@buyer.example", "admin", "a long password 1")
        admin, owner = (
            create_token(session, "admin@buyer.example"),
            create_token(session, "owner@buyer.example"),
        )
    client = app.test_client()
    reply = client.get("/api/v1/messages?state=sent", headers={"Authorization": f"Bearer {admin}"})
    assert reply.status_code == 200
    items = reply.get_json()["items"]
    assert {(i["recipient"], i["state"], i["attempts"]) for i in items} == {
        ("bids@supplier.example", "sent", 1),
        ("owner@buyer.example", "sent", 1),
    }
    assert (
        client.get("/api/v1/messages", headers={"Authorization": f"Bearer {owner}"}).status_code
        == 403
    )
    bad = client.get("/api/v1/messages?state=lost", headers={"Authorization": f"Bearer {admin}"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "address", ["not an email", "a@b", "x@example.org, y@example.org", "a\n@b.example"]
)
def test_a_contact_email_must_be_one_address(address: str) -> None:
    with pytest.raises(UserInputError):
        check_contact_email(address)


def test_the_api_registers_a_contact_and_its_language_and_refuses_a_bad_one(
    tmp_path: Path, database_url: str, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from acceptance.service.accounts import create_token
    from tests.support import Recorder
    from web.app import create_app

    monkeypatch.setattr("web.api.check_public_source", lambda url: None)
    world = World(tmp_path, database_url, smtp[1])
    app = create_app(world.settings, celery=Recorder())
    with world.db.session() as session:
        token = create_token(session, "owner@buyer.example")
    auth = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    data = {"spec": (io.BytesIO(b"version: 1\ntitle: T\n"), "acceptance.yaml")}
    opportunity = client.post("/api/v1/opportunities", data=data, headers=auth).get_json()["id"]
    url = f"/api/v1/opportunities/{opportunity}/submissions"
    body = {"repo_url": "https://github.com/Codertocat/Hello-World", "supplier": "S"}
    made = client.post(
        url, json={**body, "contact_email": "team@s.example", "language": "fr"}, headers=auth
    )
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["contact_email"], made.get_json()["language"]) == (
        "team@s.example",
        "fr",
    )
    assert client.post(url, json={**body, "contact_email": "nope"}, headers=auth).status_code == 422
    assert client.post(url, json={**body, "language": "de"}, headers=auth).status_code == 422
