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

    @property
    def cache_dir(self) -> Path:
        """Shared caches (wheels, image build inputs)."""
        return self.data_dir / "cache"

    @property
    def work_dir(self) -> Path:
        """Scratch space for checkouts; emptied after every run."""
        return self.data_dir / "work"

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
    )


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")) / ".local" / "share")
    return Path(base) / "acceptance"
