"""Brute-force protection on the dashboard's sign-in: the real app, the real Redis.

Counters live in Redis database 7 of $ACCEPTANCE_TEST_REDIS (127.0.0.1:6379):
other tests flush 6 and 8-15, the default broker is 0 and the benchmark uses 5.
Only the throttle's own keys are deleted, before and after each test.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from acceptance.errors import UserInputError
from acceptance.settings import load_settings
from tests.conftest import unavailable
from tests.dashboard_support import (
    ADMIN,
    OTHER,
    OWNER,
    PASSWORD,
    REVIEWER,
    THROTTLE_REDIS,
    Service,
    client_for,
    csrf_token,
)
from tests.support import Recorder
from web.app import create_app
from web.dashboard.throttle import KEY_PREFIX, address_key, email_key

REDIS_URL = THROTTLE_REDIS
LOCKED = "Too many failed sign-in attempts. Try again in 15 minutes."
WRONG = "The email address or the password is not right."


@pytest.fixture
def counters() -> Iterator[redis.Redis]:
    """The throttle's Redis database, without any throttle key before and after the test."""
    client = redis.Redis.from_url(REDIS_URL)

    def clear() -> None:
        for key in client.scan_iter(match=f"{KEY_PREFIX}:*"):
            client.delete(key)

    try:
        clear()
    except redis.ConnectionError as exc:
        unavailable(f"Redis unavailable at {REDIS_URL}: {exc}")
    yield client
    clear()


def use(svc: Service, **settings: Any) -> Service:
    """Point the app's settings elsewhere (before its first request opens Redis)."""
    services = svc.app.extensions["acceptance"]
    services.settings = dataclasses.replace(services.settings, **settings)
    services.__dict__.pop("redis", None)  # the lazily made client, if any
    return svc


@pytest.fixture
def app(service: Service, counters: redis.Redis) -> Service:
    return use(service, broker_url=REDIS_URL)


def new_address() -> str:
    """A documentation address of its own, so no other test's counter is shared."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def browser(svc: Service, address: str, lang: str = "en") -> FlaskClient:
    client = client_for(svc, None, lang)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def attempt(client: FlaskClient, email: str, password: str) -> TestResponse:
    token = csrf_token(client, "/sign-in")
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})


def fail(client: FlaskClient, email: str, times: int) -> None:
    for _ in range(times):
        reply = attempt(client, email, "wrong password")
        assert reply.status_code == 422 and WRONG in reply.get_data(as_text=True)


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The emails whose password the sign-in page checked."""
    from web.dashboard import auth

    real = auth.authenticate
    seen: list[str] = []

    def counting(db: Any, email: str, password: str) -> Any:
        seen.append(email)
        return real(db, email, password)

    monkeypatch.setattr(auth, "authenticate", counting)
    return seen


def signed_in(client: FlaskClient) -> bool:
    return client.get("/runs").status_code == 200


# ---------------------------------------------------------------- per email


def test_five_failures_lock_the_email_and_its_password_is_not_checked(
    app: Service, counters: redis.Redis, checked: list[str]
) -> None:
    client = browser(app, new_address())
    fail(client, f"  {REVIEWER.upper()} ", 4)  # counted as the account is looked up
    fail(client, REVIEWER, 1)
    checked.clear()

    reply = attempt(client, REVIEWER, PASSWORD)
    assert reply.status_code == 429
    assert checked == []  # refused before the password was looked at
    wait = int(reply.headers["Retry-After"])
    assert 0 < wait <= 900
    page = reply.get_data(as_text=True)
    assert LOCKED in page and WRONG not in page
    assert 'name="csrf_token"' in page and 'name="password"' in page  # the form, again
    assert not signed_in(client)

    # From another address too: the email is locked, wherever the guesses come from.
    elsewhere = browser(app, new_address())
    assert attempt(elsewhere, REVIEWER, PASSWORD).status_code == 429
    assert checked == [] and not signed_in(elsewhere)

    # Refusals do not count as failures: the window is not extended.
    key = email_key(REVIEWER)
    assert counters.get(key) == b"5" and 0 < counters.ttl(key) <= 900


def test_only_a_hash_of_the_email_is_stored(app: Service, counters: redis.Redis) -> None:
    address = new_address()
    fail(browser(app, address), OWNER, 1)
    keys = {key.decode() for key in counters.scan_iter(match=f"{KEY_PREFIX}:*")}
    assert keys == {email_key(OWNER), address_key(address)}
    assert all("example.org" not in key and "owner" not in key for key in keys)
    for key in keys:
        assert counters.get(key) == b"1" and 0 < counters.ttl(key) <= 900


def test_a_locked_email_does_not_lock_another(app: Service) -> None:
    client = browser(app, new_address())
    fail(client, OWNER, 5)
    assert attempt(client, OWNER, PASSWORD).status_code == 429
    assert attempt(client, OTHER, PASSWORD).status_code == 303
    assert signed_in(client)


def test_success_clears_the_email_counter(app: Service, counters: redis.Redis) -> None:
    address = new_address()
    client = browser(app, address)
    fail(client, REVIEWER, 4)
    assert attempt(client, REVIEWER, PASSWORD).status_code == 303
    assert counters.exists(email_key(REVIEWER)) == 0
    assert counters.get(address_key(address)) == b"4"  # the address keeps its count

    again = browser(app, address)
    fail(again, REVIEWER, 4)  # would be the 8th failure had the count not been cleared
    assert attempt(again, REVIEWER, PASSWORD).status_code == 303


# ---------------------------------------------------------------- per address


def test_one_address_guessing_across_accounts_is_locked(
    app: Service, counters: redis.Redis, checked: list[str]
) -> None:
    use(app, signin_max_failures=2)  # 12 per address
    address = new_address()
    client = browser(app, address)
    for n in range(12):  # a different email each time: no email reaches its own limit
        fail(client, f"guess{n}@example.org", 1)
    checked.clear()

    reply = attempt(client, ADMIN, PASSWORD)
    assert reply.status_code == 429 and checked == []
    assert 0 < int(reply.headers["Retry-After"]) <= 900
    assert counters.get(address_key(address)) == b"12"
    # The same account from another address is not affected.
    assert attempt(browser(app, new_address()), ADMIN, PASSWORD).status_code == 303


# ---------------------------------------------------------------- the message


def test_the_message_is_in_french_for_french_readers(app: Service, counters: redis.Redis) -> None:
    client = browser(app, new_address(), lang="fr")
    fail_fr = "L'adresse courriel ou le mot de passe n'est pas exact."
    for _ in range(5):
        reply = attempt(client, OWNER, "mauvais")
        assert reply.status_code == 422 and fail_fr in reply.get_data(as_text=True).replace(
            "&#39;", "'"
        )
    reply = attempt(client, OWNER, PASSWORD)
    assert reply.status_code == 429
    page = reply.get_data(as_text=True).replace("&#39;", "'")
    assert "Trop de tentatives de connexion ont échoué. Réessayez dans 15 minutes." in page

    counters.expire(email_key(OWNER), 42)  # under a minute left: the singular
    page = attempt(client, OWNER, PASSWORD).get_data(as_text=True).replace("&#39;", "'")
    assert "Réessayez dans 1 minute." in page
    english = attempt(browser(app, new_address()), OWNER, PASSWORD)
    assert "Too many failed sign-in attempts. Try again in 1 minute." in english.get_data(
        as_text=True
    )
    assert 0 < int(english.headers["Retry-After"]) <= 42


# ---------------------------------------------------------------- Redis down


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_sign_in_still_works_without_redis_and_says_so(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    app = use(service, broker_url=f"redis://127.0.0.1:{closed_port()}/7")
    client = browser(app, new_address())

    def warnings() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "web.dashboard.throttle"]

    with caplog.at_level(logging.WARNING, logger="web.dashboard.throttle"):
        for n in range(1, 7):  # more than the limit: nothing is counted, nothing locks
            assert attempt(client, OWNER, "wrong password").status_code == 422
            assert len(warnings()) == n  # one warning per attempt, not one per counter
        assert attempt(client, OWNER, PASSWORD).status_code == 303
    assert signed_in(client)
    assert len(warnings()) == 7
    record = warnings()[-1]
    assert (
        record.levelno == logging.WARNING and record.getMessage() == "signin_throttle_unavailable"
    )
    assert record.__dict__["error"] == "ConnectionError"


# ---------------------------------------------------------------- settings


def test_the_limits_default_to_5_per_email_30_per_address_for_15_minutes() -> None:
    settings = load_settings({})
    assert (settings.signin_max_failures, settings.signin_window) == (5, 900)
    assert settings.signin_max_failures_per_address == 30
    settings = load_settings(
        {"ACCEPTANCE_SIGNIN_MAX_FAILURES": " 3 ", "ACCEPTANCE_SIGNIN_WINDOW": "60"}
    )
    assert (settings.signin_max_failures, settings.signin_window) == (3, 60)
    assert settings.signin_max_failures_per_address == 18
    assert load_settings({"ACCEPTANCE_SIGNIN_WINDOW": ""}).signin_window == 900


@pytest.mark.parametrize("name", ["ACCEPTANCE_SIGNIN_MAX_FAILURES", "ACCEPTANCE_SIGNIN_WINDOW"])
@pytest.mark.parametrize("value", ["0", "-5", "1.5", "ten"])
def test_a_limit_that_is_not_a_whole_number_of_at_least_1_is_a_clear_error(
    name: str, value: str
) -> None:
    with pytest.raises(UserInputError) as raised:
        load_settings({name: value})
    assert raised.value.message == f"{name} is {value!r}: give a whole number of at least 1"


# ---------------------------------------------------------------- behind a reverse proxy


def behind_proxy(svc: Service, hops: int) -> Service:
    """A second app on the same data, built with ACCEPTANCE_PROXY_HOPS=hops."""
    settings = dataclasses.replace(
        svc.settings, broker_url=REDIS_URL, proxy_hops=hops, signin_max_failures=1
    )
    proxied = copy.copy(svc)
    proxied.app = create_app(settings, celery=Recorder())
    proxied.app.config["SESSION_COOKIE_SECURE"] = False
    return proxied


def via_proxy(svc: Service, forwarded_for: str) -> FlaskClient:
    client = browser(svc, "10.9.8.7")  # the proxy is every request's TCP peer
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client


def test_behind_a_proxy_each_client_has_its_own_address_limit(
    app: Service, counters: redis.Redis
) -> None:
    proxied = behind_proxy(app, hops=1)
    guesser, colleague = new_address(), new_address()
    client = via_proxy(proxied, guesser)
    for n in range(6):  # 6 per address with 1 per email
        fail(client, f"guess{n}@example.org", 1)
    assert counters.get(address_key(guesser)) == b"6"
    assert counters.get(address_key("10.9.8.7")) is None
    # A forged entry further left does not move the guesser to a fresh counter.
    assert (
        attempt(via_proxy(proxied, f"{new_address()}, {guesser}"), ADMIN, PASSWORD).status_code
        == 429
    )
    # Another client of the same proxy signs in.
    assert attempt(via_proxy(proxied, colleague), ADMIN, PASSWORD).status_code == 303


def test_without_proxy_hops_x_forwarded_for_is_ignored(app: Service, counters: redis.Redis) -> None:
    direct = behind_proxy(app, hops=0)
    fail(via_proxy(direct, new_address()), "guess@example.org", 1)
    assert counters.get(address_key("10.9.8.7")) == b"1"


@pytest.mark.parametrize("value", ["-1", "one", "1.5"])
def test_proxy_hops_must_be_a_whole_number(value: str) -> None:
    assert load_settings({}).proxy_hops == 0
    assert load_settings({"ACCEPTANCE_PROXY_HOPS": "2"}).proxy_hops == 2
    with pytest.raises(UserInputError) as raised:
        load_settings({"ACCEPTANCE_PROXY_HOPS": value})
    assert (
        raised.value.message
        == f"ACCEPTANCE_PROXY_HOPS is {value!r}: give a whole number of at least 0"
    )
