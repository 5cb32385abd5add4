"""One frozen settings object, read from the environment once, at the edge."""

from __future__ import annotations

import os
import re
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from acceptance.errors import UserInputError
from acceptance.sizes import parse_size

#: the per-address limit of failed dashboard sign-ins, as a multiple of the per-email one
SIGNIN_ADDRESS_FACTOR = 6
#: hosts links may be built for when neither ACCEPTANCE_PUBLIC_URL nor ACCEPTANCE_ALLOWED_HOSTS
#: is set: this machine only, on any port
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
#: `host`, `host:port`, `[v6]` or `[v6]:port`, as a Host header carries them
_HOST_ENTRY = re.compile(
    r"(?:[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?"
)


@dataclass(frozen=True)
class Settings:
    """Where things live and which sandbox to use."""

    data_dir: Path
    signing_key: Path
    sandbox_image: str | None
    sandbox_runtime: str | None
    sandbox_base_image: str | None
    debian_mirror: str | None
    git_allowed_hosts: frozenset[str] | None
    #: an OSV-compatible service (e.g. the public OSV API); unset: the offline store
    osv_url: str | None = None
    #: the npm registry Node.js deliveries' packages are fetched from (a mirror); unset:
    #: the engine's default (`NPM_REGISTRY` in acceptance/engine/npm_lockfile.py)
    npm_registry: str | None = None
    advisories_db_path: Path | None = None
    #: SQLAlchemy URL; unset: SQLite in the data directory
    database_url_setting: str | None = field(default=None, repr=False)  # may hold a password
    broker_url: str = field(default="redis://localhost:6379/0", repr=False)
    #: the service's external base URL, for webhook and status links; unset: from the request
    public_url: str | None = None
    #: where artifacts live: unset for the local directory, `s3://bucket/prefix` for object storage
    artifacts_url: str | None = None
    #: an S3-compatible endpoint (MinIO, Ceph, Garage...); unset: the provider's default
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = field(default=None, repr=False)
    s3_secret_access_key: str | None = field(default=None, repr=False)
    #: `text` (default) or `json`: one JSON object per log line, with the run id
    log_format: str = "text"
    log_level: str | None = None
    #: failed dashboard sign-ins per email address within `signin_window` before it is refused
    signin_max_failures: int = 5
    #: seconds a count of failed sign-ins lasts, from the first failure (a fixed window)
    signin_window: int = 900
    #: reverse proxies in front of the web app whose X-Forwarded-For/-Proto are trusted
    proxy_hops: int = 0
    #: bytes all prepared environments may take together (least recently used go first)
    env_cache_max_bytes: int = 8 * 1024**3
    #: public keys of retired signing keys (*.pub), still served by /api/v1/keys
    retired_keys_dir_setting: Path | None = None
    #: a token Prometheus sends to /metrics (`Authorization: Bearer <token>`); admins' API tokens work too
    metrics_token: str | None = field(default=None, repr=False)
    #: /metrics answers anyone, without a token (a scrape network nobody else reaches)
    metrics_public: bool = False
    #: `host` or `host:port` a request may name in its Host header for the service to build
    #: links from it (webhook, status, report links) when `public_url` is unset
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
    #: webhook runs one submission may start within an hour (runs ending in `error` do not
    #: count); 0: no limit
    runs_per_hour: int = 30
    #: who signs reports: `local` (the worker, with the private key) or `queue` (`acceptance signer`)
    signer: str = "local"
    #: seconds a worker waits for the signer's answer before giving the run back for a retry
    sign_timeout: float = 60.0
    #: where emails go out: `smtp://host:port`, `smtps://` (TLS) or `smtp+starttls://`; unset: no email
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    #: the From of every email; unset: noreply@ the public URL's host (or localhost)
    mail_from_setting: str | None = None
    #: seconds before a forge's commit status is tried again, times 4 after each failure
    forge_retry_seconds: float = 15.0
    #: seconds before an event an endpoint did not take is sent again, doubled each time (at most an hour)
    event_retry_seconds: float = 30.0
    #: seconds between reconciler passes (`--beat` or `acceptance scheduler`)
    reconcile_every: float = 30.0
    #: seconds a queued run may wait unclaimed before the reconciler enqueues it again
    requeue_after: float = 600.0
    #: dashboard cookies over plain http too (local use only); off: https only
    insecure_cookies: bool = False
    #: IANA time zone the dashboard shows dates in and reads date filters in
    timezone: str = "UTC"
    #: seconds the accessibility check gives a page after its network went idle before
    #: running axe-core on it again (both runs judged); at most MAX_ACCESSIBILITY_SETTLE
    accessibility_settle: float = 2.0

    @property
    def mail_from(self) -> str:
        """The sender of the service's emails."""
        if self.mail_from_setting:
            return self.mail_from_setting
        host = urllib.parse.urlsplit(self.public_url or "").hostname or "localhost"
        return f"noreply@{host}"

    @property
    def database_url(self) -> str:
        """Where runs, opportunities and accounts live."""
        return self.database_url_setting or f"sqlite:///{self.data_dir / 'acceptance.sqlite'}"

    @property
    def artifacts_dir(self) -> Path:
        """Content-addressed artifact store (reports, logs, SARIF, SBOM...)."""
        return self.data_dir / "artifacts"

    @property
    def specs_dir(self) -> Path:
        """Published spec versions with their hidden tests, one folder per version."""
        return self.data_dir / "specs"

    @property
    def secrets_key(self) -> Path:
        """Key that encrypts webhook secrets at rest (created on first start)."""
        return self.data_dir / "keys" / "secrets.key"

    @property
    def cache_dir(self) -> Path:
        """Shared caches (wheels, image build inputs)."""
        return self.data_dir / "cache"

    @property
    def work_dir(self) -> Path:
        """Scratch space for checkouts; emptied after every run."""
        return self.data_dir / "work"

    @property
    def advisories_db(self) -> Path:
        """The offline advisory store (SQLite) the dependency check reads."""
        return self.advisories_db_path or self.data_dir / "advisories.sqlite"

    @property
    def public_key(self) -> Path:
        """The public half of the signing key, beside it."""
        return self.signing_key.with_suffix(".pub")

    @property
    def retired_keys_dir(self) -> Path:
        """Public keys that signed earlier reports, kept so those reports still verify."""
        return self.retired_keys_dir_setting or self.signing_key.parent / "retired"

    @property
    def signin_max_failures_per_address(self) -> int:
        """Failed sign-ins per client address: higher, as people may share one (an office NAT)."""
        return SIGNIN_ADDRESS_FACTOR * self.signin_max_failures


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from ACCEPTANCE_* variables (see the README)."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("ACCEPTANCE_DATA_DIR") or _default_data_dir(env)).expanduser()
    hosts = env.get("ACCEPTANCE_GIT_ALLOWED_HOSTS", "").strip()
    return Settings(
        data_dir=data_dir,
        signing_key=Path(env.get("ACCEPTANCE_SIGNING_KEY") or data_dir / "keys" / "signing.key"),
        sandbox_image=env.get("ACCEPTANCE_SANDBOX_IMAGE") or None,
        sandbox_runtime=env.get("ACCEPTANCE_SANDBOX_RUNTIME") or None,
        sandbox_base_image=env.get("ACCEPTANCE_SANDBOX_BASE_IMAGE") or None,
        debian_mirror=env.get("ACCEPTANCE_DEBIAN_MIRROR") or None,
        git_allowed_hosts=(
            frozenset(h.strip().lower() for h in hosts.split(",") if h.strip()) if hosts else None
        ),
        osv_url=env.get("ACCEPTANCE_OSV_URL") or None,
        npm_registry=npm_registry(env),
        database_url_setting=_with_password(
            env.get("ACCEPTANCE_DATABASE_URL") or None,
            _secret(env, "ACCEPTANCE_DATABASE_PASSWORD"),
        ),
        broker_url=_with_password(
            env.get("ACCEPTANCE_BROKER_URL") or "redis://localhost:6379/0",
            _secret(env, "ACCEPTANCE_BROKER_PASSWORD"),
        )
        or "redis://localhost:6379/0",
        public_url=(env.get("ACCEPTANCE_PUBLIC_URL") or "").rstrip("/") or None,
        advisories_db_path=(
            Path(env["ACCEPTANCE_ADVISORIES_DB"]).expanduser()
            if env.get("ACCEPTANCE_ADVISORIES_DB")
            else None
        ),
        artifacts_url=env.get("ACCEPTANCE_ARTIFACTS_URL") or None,
        s3_endpoint_url=env.get("ACCEPTANCE_S3_ENDPOINT_URL") or None,
        s3_region=env.get("ACCEPTANCE_S3_REGION") or None,
        s3_access_key_id=_secret(env, "ACCEPTANCE_S3_ACCESS_KEY_ID"),
        s3_secret_access_key=_secret(env, "ACCEPTANCE_S3_SECRET_ACCESS_KEY"),
        log_format=(env.get("ACCEPTANCE_LOG_FORMAT") or "text").strip().lower(),
        log_level=(env.get("ACCEPTANCE_LOG_LEVEL") or "").strip().upper() or None,
        signin_max_failures=_positive_int(env, "ACCEPTANCE_SIGNIN_MAX_FAILURES", 5),
        signin_window=_positive_int(env, "ACCEPTANCE_SIGNIN_WINDOW", 900),
        proxy_hops=_whole_number(env, "ACCEPTANCE_PROXY_HOPS", 0, at_least=0),
        env_cache_max_bytes=_size(env, "ACCEPTANCE_ENV_CACHE_SIZE", 8 * 1024**3),
        retired_keys_dir_setting=(
            Path(env["ACCEPTANCE_RETIRED_KEYS_DIR"]).expanduser()
            if env.get("ACCEPTANCE_RETIRED_KEYS_DIR")
            else None
        ),
        metrics_token=_secret(env, "ACCEPTANCE_METRICS_TOKEN"),
        metrics_public=_flag(env, "ACCEPTANCE_METRICS_PUBLIC"),
        allowed_hosts=_allowed_hosts(env),
        runs_per_hour=_whole_number(env, "ACCEPTANCE_RUNS_PER_HOUR", 30, at_least=0),
        signer=_signer(env),
        sign_timeout=_positive_seconds(env, "ACCEPTANCE_SIGN_TIMEOUT", 60.0),
        smtp_url=_smtp_url(env),
        mail_from_setting=_mail_from(env),
        forge_retry_seconds=_positive_seconds(env, "ACCEPTANCE_FORGE_RETRY_SECONDS", 15.0),
        event_retry_seconds=_positive_seconds(env, "ACCEPTANCE_EVENT_RETRY_SECONDS", 30.0),
        reconcile_every=_positive_seconds(env, "ACCEPTANCE_RECONCILE_EVERY", 30.0),
        requeue_after=_positive_seconds(env, "ACCEPTANCE_REQUEUE_AFTER", 600.0),
        insecure_cookies=_flag(env, "ACCEPTANCE_INSECURE_COOKIES"),
        timezone=_timezone(env),
        accessibility_settle=accessibility_settle(env),
    )


#: the most ACCEPTANCE_ACCESSIBILITY_SETTLE may be: every page of a run waits that long
MAX_ACCESSIBILITY_SETTLE = 30.0


def accessibility_settle(env: Mapping[str, str] | None = None) -> float:
    """ACCEPTANCE_ACCESSIBILITY_SETTLE: 0 to MAX_ACCESSIBILITY_SETTLE seconds; unset: 2.

    Public: the accessibility check reads it alone when it starts the browser.
    """
    env = os.environ if env is None else env
    name = "ACCEPTANCE_ACCESSIBILITY_SETTLE"
    raw = (env.get(name) or "").strip()
    if not raw:
        return 2.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_ACCESSIBILITY_SETTLE:
        raise UserInputError(
            f"{name} is {raw!r}: give a number of seconds from 0 to {MAX_ACCESSIBILITY_SETTLE:g}"
        )
    return value


def npm_registry(env: Mapping[str, str] | None = None) -> str | None:
    """ACCEPTANCE_NPM_REGISTRY: an http(s) registry URL, ending in `/`; unset: None.

    No user name, password, query or fragment: the URL is written into reports (the
    install evidence), and lockfile `resolved` URLs are matched against it as a prefix,
    which the trailing `/` keeps from matching a longer host name.
    """
    env = os.environ if env is None else env
    raw = (env.get("ACCEPTANCE_NPM_REGISTRY") or "").strip()
    if not raw:
        return None
    parts = urllib.parse.urlsplit(raw)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if (
        not port_ok
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or any(not ch.isprintable() or ch.isspace() for ch in raw)
    ):
        raise UserInputError(
            f"ACCEPTANCE_NPM_REGISTRY is {raw!r}: give a registry's http(s) URL, without "
            "user name, password, query or fragment",
            hint="e.g. https://npm.example.org/ (a registry mirror the host can reach)",
        )
    return raw if raw.endswith("/") else raw + "/"


def _timezone(env: Mapping[str, str]) -> str:
    """ACCEPTANCE_TIMEZONE as an IANA zone name the system knows; unset: UTC."""
    zone = (env.get("ACCEPTANCE_TIMEZONE") or "UTC").strip()
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise UserInputError(
            f"ACCEPTANCE_TIMEZONE: unknown time zone {zone!r}", hint="use an IANA name such as UTC"
        ) from None
    return zone


SIGNERS = ("local", "queue")
#: how the worker reaches the SMTP server: plain, implicit TLS, or STARTTLS on a plain connection
SMTP_SCHEMES = ("smtp", "smtps", "smtp+starttls")


def _smtp_url(env: Mapping[str, str]) -> str | None:
    """ACCEPTANCE_SMTP_URL (a password from ACCEPTANCE_SMTP_PASSWORD[_FILE] goes into it); unset: None."""
    raw = (env.get("ACCEPTANCE_SMTP_URL") or "").strip()
    if not raw:
        return None
    parts = urllib.parse.urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in SMTP_SCHEMES
        or not parts.hostname
        or port == -1
        or parts.path not in ("", "/")
    ):
        raise UserInputError(
            "ACCEPTANCE_SMTP_URL is not an SMTP server's URL",
            hint="write smtp://host:port, smtps://user@host:465 or smtp+starttls://user@host:587",
        )
    return _with_password(raw, _secret(env, "ACCEPTANCE_SMTP_PASSWORD"))


def _mail_from(env: Mapping[str, str]) -> str | None:
    """ACCEPTANCE_MAIL_FROM: an address, or `Name <address>`."""
    from email.utils import parseaddr

    raw = (env.get("ACCEPTANCE_MAIL_FROM") or "").strip()
    if not raw:
        return None
    address = parseaddr(raw)[1]
    if "@" not in address or any(c in raw for c in "\r\n"):
        raise UserInputError(
            f"ACCEPTANCE_MAIL_FROM is {raw!r}: give an email address such as acceptance@example.org"
        )
    return raw


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str) -> bool:
    """`NAME` as on (1, true, yes, on) or off (unset, empty, 0, false, no, off)."""
    raw = (env.get(name) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise UserInputError(f"{name} is {raw!r}: use 1 (on) or 0 (off)")


def _allowed_hosts(env: Mapping[str, str]) -> frozenset[str]:
    """ACCEPTANCE_ALLOWED_HOSTS as lowercase `host` / `host:port` entries; unset: loopback."""
    raw = (env.get("ACCEPTANCE_ALLOWED_HOSTS") or "").strip()
    if not raw:
        return LOOPBACK_HOSTS
    entries = [entry.strip().lower().rstrip(".") for entry in raw.split(",") if entry.strip()]
    for entry in entries:
        if not _HOST_ENTRY.fullmatch(entry):
            raise UserInputError(
                f"ACCEPTANCE_ALLOWED_HOSTS: {entry!r} is not `host` or `host:port`",
                hint="write names as clients send them in the Host header, e.g. acceptance.example.org,10.0.0.5:8000",
            )
    return frozenset(entries)


def _signer(env: Mapping[str, str]) -> str:
    value = (env.get("ACCEPTANCE_SIGNER") or "local").strip().lower()
    if value not in SIGNERS:
        raise UserInputError(
            f"ACCEPTANCE_SIGNER is {value!r}: use `local` (workers sign) or `queue` (`acceptance signer` signs)"
        )
    return value


def _positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise UserInputError(f"{name} is {raw!r}: give a positive number of seconds")
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """`NAME`, or the contents of the file named by `NAME_FILE` (compose and k8s secrets)."""
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).expanduser().read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise UserInputError(f"{name}_FILE: cannot read {path}: {exc.strerror or exc}") from exc
    return env.get(name) or None


def _with_password(url: str | None, password: str | None) -> str | None:
    """`url` with `password` put into its user part (percent-encoded), keeping the user name."""
    if url is None or password is None:
        return url
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0] if at else ""
    netloc = f"{user}:{urllib.parse.quote(password, safe='')}@{hostport}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """`NAME` as a whole number of at least 1; unset or empty: `default`."""
    return _whole_number(env, name, default, at_least=1)


def _whole_number(env: Mapping[str, str], name: str, default: int, *, at_least: int) -> int:
    """`NAME` as a whole number of at least `at_least`; unset or empty: `default`."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = at_least - 1
    if value < at_least:
        raise UserInputError(f"{name} is {raw!r}: give a whole number of at least {at_least}")
    return value


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    """`NAME` as a size ("8g", "500m", bytes); unset or empty: `default`."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return parse_size(int(raw) if raw.isdigit() else raw)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"{name} is {raw!r}: {exc}") from None


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")) / ".local" / "share")
    return Path(base) / "acceptance"
