"""One frozen settings object, read from the environment once, at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


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
    advisories_db_path: Path | None = None
    #: SQLAlchemy URL; unset: SQLite in the data directory
    database_url_setting: str | None = None
    broker_url: str = "redis://localhost:6379/0"
    #: the service's external base URL, for webhook and status links; unset: from the request
    public_url: str | None = None

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
        database_url_setting=env.get("ACCEPTANCE_DATABASE_URL") or None,
        broker_url=env.get("ACCEPTANCE_BROKER_URL") or "redis://localhost:6379/0",
        public_url=(env.get("ACCEPTANCE_PUBLIC_URL") or "").rstrip("/") or None,
        advisories_db_path=(
            Path(env["ACCEPTANCE_ADVISORIES_DB"]).expanduser()
            if env.get("ACCEPTANCE_ADVISORIES_DB")
            else None
        ),
    )


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")) / ".local" / "share")
    return Path(base) / "acceptance"
