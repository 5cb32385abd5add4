"""How a run's state and links are shown, shared by the runs pages and the supplier page."""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask_babel import gettext

from acceptance.service.models import RunStatus
from web.dashboard.i18n import STATUS_LABELS, VERDICT_LABELS, label, stage_label

_COMMIT = re.compile(r"[0-9a-f]{7,64}")
#: what a run shows as its state: the verdict once finished, else its progress
STATES = ("queued", "running", "accepted", "rejected", "error")
#: a marker beside each state's name, so state never rests on colour alone
STATE_ICONS = {"queued": "◷", "running": "◔", "accepted": "✓", "rejected": "✗", "error": "!"}


class RunProgress(Protocol):
    """What the state of a run is read from: a Run, or the supplier's view of one."""

    @property
    def status(self) -> str: ...
    @property
    def verdict(self) -> str | None: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def id(self) -> str: ...


def run_state(run: RunProgress) -> str:
    """What a run shows as its state: its verdict once finished, else its status."""
    if run.status in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
        return run.status
    if run.verdict in ("accepted", "rejected"):
        return run.verdict
    return "error"


def state_text(run: RunProgress) -> str:
    """The state in words: the verdict, or the status with the current stage."""
    state = run_state(run)
    if state == "running" and run.stage:
        return str(gettext("Running: %(stage)s", stage=stage_label(run.stage)))
    if state in ("queued", "running"):
        return label(STATUS_LABELS, state)
    return label(VERDICT_LABELS, state)


def is_done(run: RunProgress) -> bool:
    """Whether the run has finished (with a verdict or an error)."""
    return run_state(run) not in ("queued", "running")


def live_entry(run: RunProgress) -> dict[str, Any]:
    """What the page's script needs to update a run in place."""
    state = run_state(run)
    return {
        "id": run.id,
        "state": state,
        "icon": STATE_ICONS[state],
        "text": state_text(run),
        "done": is_done(run),
    }


def commit_url(repo_url: str | None, commit: str | None) -> str | None:
    """A link to the commit on the forge, for http(s) repositories; None otherwise."""
    if not repo_url or not commit or not _COMMIT.fullmatch(commit):
        return None
    parts = urlsplit(repo_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return None
    base = repo_url.rstrip("/").removesuffix(".git")
    # GitLab keeps commit pages under /-/; GitHub, Gitea and Forgejo under /commit/.
    marker = "/-/commit/" if "gitlab" in parts.netloc.lower() else "/commit/"
    return f"{base}{marker}{commit}"


def safe_link(url: str | None) -> str | None:
    """`url` when it is an http(s) address a page may link to; None otherwise."""
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("https", "http") and parts.netloc else None


def short_commit(commit: str | None) -> str:
    """The first 12 characters of a commit hash."""
    return commit[:12] if commit else ""


def template_helpers() -> dict[str, Any]:
    """Functions the templates use."""
    return {
        "run_state": run_state,
        "state_text": state_text,
        "is_done": is_done,
        "commit_url": commit_url,
        "safe_link": safe_link,
        "short_commit": short_commit,
        "STATE_ICONS": STATE_ICONS,
    }
