"""Brute-force protection for the dashboard's sign-in: failed attempts counted in Redis.

Two counters with a fixed window (`ACCEPTANCE_SIGNIN_WINDOW`, from the first
failure): one per email address, so no account can be guessed at for long, and
one per client address, higher (several reviewers may share one office
address), so no client can guess across many accounts. Redis is the broker the
service already runs, shared by every web worker. Only a sha256 of the email
goes into the key: Redis is not where the accounts live.

When Redis cannot be reached the throttle steps aside and logs a warning: a
broker outage must not lock every reviewer out of the dashboard.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import redis

if TYPE_CHECKING:
    from web.app import Services

log = logging.getLogger(__name__)

T = TypeVar("T")

#: every key starts with this, so the throttle's keys are easy to find beside Celery's
KEY_PREFIX = "acceptance:signin-failures"


@dataclass(frozen=True)
class Limits:
    """How many failures lock an email address and a client address, for how long."""

    per_email: int
    per_address: int
    #: seconds, from the first failure in the window
    window: int


def email_key(email: str) -> str:
    """The email's counter: normalised as accounts are looked up, then hashed (no email in Redis)."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"{KEY_PREFIX}:email:{digest}"


def address_key(address: str) -> str:
    """The client address's counter."""
    return f"{KEY_PREFIX}:address:{address}"


class SignInThrottle:
    """One sign-in attempt's view of the counters (make one per request).

    After the first Redis error it stops trying for the rest of the request, so an
    outage costs one timeout and one warning per attempt, not one per counter.
    """

    def __init__(self, connect: Callable[[], redis.Redis], limits: Limits) -> None:
        self._connect = connect
        self._limits = limits
        self._down = False

    @classmethod
    def of(cls, services: Services) -> SignInThrottle:
        """The throttle configured by the service's settings, on the broker's Redis."""
        settings = services.settings
        limits = Limits(
            per_email=settings.signin_max_failures,
            per_address=settings.signin_max_failures_per_address,
            window=settings.signin_window,
        )
        return cls(lambda: services.redis, limits)

    def retry_after(self, email: str, address: str) -> int | None:
        """Seconds until `email` may sign in from `address` again; None: it may try now."""
        counters = (
            (email_key(email), self._limits.per_email),
            (address_key(address), self._limits.per_address),
        )

        def read(client: redis.Redis) -> list[int]:
            pipe = client.pipeline(transaction=False)
            for key, _limit in counters:
                pipe.get(key)
                pipe.ttl(key)
            values = pipe.execute()
            waits = []
            for (key, limit), count, ttl in zip(counters, values[::2], values[1::2], strict=True):
                if count is not None and int(count) >= limit:
                    if ttl < 0:
                        # A counter without an expiry would lock for ever: give it the window.
                        client.expire(key, self._limits.window, nx=True)
                        ttl = self._limits.window
                    waits.append(max(int(ttl), 1))
            return waits

        waits = self._run("check", read)
        return max(waits) if waits else None

    def failed(self, email: str, address: str) -> None:
        """Count a wrong email or password against both the email and the address."""

        def count(client: redis.Redis) -> None:
            # MULTI/EXEC: a counter never exists without its expiry, and NX keeps the
            # expiry set when the counter was created (a fixed window, not a sliding one).
            pipe = client.pipeline(transaction=True)
            for key in (email_key(email), address_key(address)):
                pipe.incr(key)
                pipe.expire(key, self._limits.window, nx=True)
            pipe.execute()

        self._run("count", count)

    def succeeded(self, email: str) -> None:
        """A right password: the email's earlier failures no longer count (the address's do)."""

        def clear(client: redis.Redis) -> None:
            client.delete(email_key(email))

        self._run("clear", clear)

    def _run(self, step: str, action: Callable[[redis.Redis], T]) -> T | None:
        """`action` on Redis; on failure, a warning and None (fail open)."""
        if self._down:
            return None
        try:
            return action(self._connect())
        except (redis.RedisError, ValueError) as exc:  # ValueError: a broker URL that is not Redis
            self._down = True
            log.warning(
                "signin_throttle_unavailable",
                extra={"step": step, "error": type(exc).__name__, "why": str(exc)},
            )
            return None
