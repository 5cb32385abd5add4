"""The attack suite's harness: canaries where an attacker would look, one hostile run
through `acceptance check`, and what must hold after every run.

Every case builds a hostile repository, judges it through the real CLI and the real
Docker sandbox, then `Hostile.run` checks the invariants no attack may break:

* the canary (a random secret planted in the worker's environment, beside the
  signing key and in the host's home folder) appears nowhere in the report, the
  progress output, the logs, the artifacts or the signed envelope;
* the run left nothing behind: no container of this commit, no process of ours,
  no scratch checkout, and the host's key folder is byte-for-byte unchanged.

Each test then asserts its own verdict, reason code and sentence with `judged`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, write_spec

#: every canary starts with this; the random rest is never written into a repository
CANARY_PREFIX = "ACCEPTANCE-CANARY-"
#: a run must be judged within its spec's `limits.timeout` plus this
MARGIN_SECONDS = 15
#: small limits keep the suite fast; every case's spec starts with them
LIMITS = "limits: {timeout: 60, memory: 256m, pids: 64, disk: 64m, output: 1m}\n"
RUN_LIMIT = 60
FUNCTIONAL = "functional: {timeout: 10}\n"
#: for cases where only the functional outcome matters
FUNCTIONAL_ONLY = "security: false\nlicence: false\n"
#: what a person-readable reason looks like: a few words, not a bare code
MIN_REASON_WORDS = 4


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hostile: the attack suite (hostile submissions through the real sandbox)"
    )


@dataclass(frozen=True)
class Canary:
    """A secret the sandbox must never reach, and where it was planted on the host."""

    value: str
    files: tuple[Path, ...]
    env_names: tuple[str, ...]


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch, cli_data_dir: Path) -> Iterator[Canary]:
    """Plant a fresh canary in the worker's environment, beside the signing key and in ~."""
    from acceptance.engine.signing import generate_keypair

    value = CANARY_PREFIX + secrets.token_hex(16)
    names = ("ACCEPTANCE_CANARY", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD")
    for name in names:
        monkeypatch.setenv(name, value)
    keys = cli_data_dir / "keys"
    if not (keys / "signing.key").exists():
        generate_keypair(keys)
    home = Path("/root") if os.access("/root", os.W_OK) else Path.home()
    files = (keys / "canary.secret", home / f"acceptance-canary-{secrets.token_hex(8)}")
    for path in files:
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)
    try:
        yield Canary(value, files, names)
    finally:
        for path in files:
            path.unlink(missing_ok=True)


@dataclass
class Outcome:
    """One hostile run, as the CLI left it."""

    exit_code: int
    statement: dict[str, Any]
    stderr: str
    logs: dict[str, str]
    artifacts: dict[str, bytes]
    seconds: float
    envelope: dict[str, Any] | None = None
    records: list[str] = field(default_factory=list)

    @property
    def predicate(self) -> dict[str, Any]:
        return dict(self.statement.get("predicate") or {})

    @property
    def verdict(self) -> str:
        return str(self.predicate.get("verdict"))

    @property
    def reason_codes(self) -> list[str]:
        return list(self.predicate.get("reason_codes") or [])

    @property
    def reasons(self) -> list[str]:
        return list(self.predicate.get("reasons") or [])

    def check(self, check_id: str) -> dict[str, Any]:
        """The report's entry for one check (functional, sast, dependencies, licence)."""
        return dict(next(c for c in self.predicate["checks"] if c["id"] == check_id))

    def explain(self) -> str:
        """What to print when an assertion about this run fails."""
        return json.dumps(
            {"exit": self.exit_code, "seconds": round(self.seconds, 1), "codes": self.reason_codes,
             "reasons": self.reasons, "stderr": self.stderr[-1500:]},
            indent=1,
        )  # fmt: skip


class Hostile:
    """Runs `acceptance check` on a hostile repository and checks the invariants."""

    def __init__(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
        canary: Canary,
        docker_engine: Any,
        data_dir: Path,
    ) -> None:
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.caplog = caplog
        self.canary = canary
        self.docker = docker_engine
        self.data_dir = data_dir
        self._runs = 0

    def spec(
        self,
        body: str = "",
        *,
        limits: str = LIMITS,
        functional: str = FUNCTIONAL,
        hidden: dict[str, str] | None = None,
    ) -> Path:
        """A spec: the suite's small limits and test timeout (unless replaced), then `body`."""
        self._runs += 1
        text = limits + functional + body
        return write_spec(self.tmp_path / f"spec{self._runs}", text, hidden=hidden)

    def run(self, source: str | Path, spec: Path, *extra: str, sign: bool = True) -> Outcome:
        """Judge `source` through the CLI; assert the containment invariants; return the run."""
        from acceptance.cli import main

        self._runs += 1
        out = self.tmp_path / f"out{self._runs}"
        logs, artifacts, envelope = out / "logs", out / "artifacts", out / "report.json"
        argv = ["check", str(source), "--spec", str(spec), "--json"]
        argv += ["--logs", str(logs), "--artifacts", str(artifacts), *extra]
        if sign:
            argv += ["--out", str(envelope)]
        before = self._host_state()
        children = _descendants(os.getpid())
        self.capsys.readouterr()
        self.caplog.set_level(logging.INFO)
        started = time.monotonic()
        code = main(argv)
        seconds = time.monotonic() - started
        captured = self.capsys.readouterr()
        statement = json.loads(captured.out) if captured.out.strip() else {}
        outcome = Outcome(
            exit_code=code,
            statement=statement,
            stderr=captured.err,
            logs=_read_texts(logs),
            artifacts=_read_bytes(artifacts),
            seconds=seconds,
            envelope=json.loads(envelope.read_text()) if envelope.exists() else None,
            records=[
                r.getMessage() + " " + json.dumps(r.__dict__, default=str)
                for r in self.caplog.records
            ],
        )
        self._assert_contained(outcome, before, children)
        return outcome

    def _host_state(self) -> dict[str, str]:
        """Digests of the key folder and the planted canaries: must not change."""
        state: dict[str, str] = {}
        for path in sorted((self.data_dir / "keys").iterdir()) + list(self.canary.files):
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        return state

    def _assert_contained(
        self, outcome: Outcome, before: dict[str, str], children: set[int]
    ) -> None:
        secret = self.canary.value
        assert secret not in json.dumps(outcome.statement), "the canary leaked into the report"
        assert secret not in outcome.stderr, "the canary leaked into the progress output"
        for name, text in outcome.logs.items():
            assert secret not in text, f"the canary leaked into the log {name}"
        for name, data in outcome.artifacts.items():
            assert secret.encode() not in data, f"the canary leaked into the artifact {name}"
        if outcome.envelope is not None:
            payload = base64.b64decode(outcome.envelope["payload"])
            assert secret.encode() not in payload, "the canary leaked into the signed report"
            # Signed on the host, after judging, by the key the sandbox never saw.
            from acceptance.engine.signing import load_public_key, verify_envelope

            public = load_public_key(self.data_dir / "keys" / "signing.pub")
            assert (
                json.loads(verify_envelope(outcome.envelope, [public]).payload) == outcome.statement
            )
        assert not any(secret in record for record in outcome.records), "the canary was logged"
        # The host is unharmed: key folder and canaries untouched...
        assert self._host_state() == before, "files beside the signing key changed"
        # ...no sandbox container of this commit is left, running or stopped...
        commit = (outcome.predicate.get("source") or {}).get("commit")
        if commit:
            left = self.docker.containers.list(
                all=True, filters={"label": f"org.acceptance.commit={commit}"}
            )
            assert left == [], f"sandbox containers left behind: {[c.name for c in left]}"
        # ...no process we started survives the run...
        survivors = _descendants(os.getpid()) - children
        assert not survivors, f"processes left behind: {_describe(survivors)}"
        # ...and no scratch checkout stays on disk.
        work = self.data_dir / "work"
        leftovers = sorted(p.name for p in work.iterdir()) if work.exists() else []
        assert leftovers == [], f"scratch space left behind in {work}: {leftovers}"


@pytest.fixture
def hostile(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    canary: Canary,
    docker_engine: Any,
    cli_data_dir: Path,
    cli_env: None,
) -> Hostile:
    """The harness for one hostile case (real Docker, real image, a fresh canary)."""
    return Hostile(tmp_path, capsys, caplog, canary, docker_engine, cli_data_dir)


def judged(
    outcome: Outcome,
    code: str,
    *,
    verdict: str = "rejected",
    says: str | None = None,
    limit: float = RUN_LIMIT,
) -> None:
    """Assert an explicit verdict with `code`, a sentence a person understands, in time."""
    assert outcome.verdict == verdict, outcome.explain()
    assert outcome.exit_code == {"rejected": 1, "error": 3}[verdict], outcome.explain()
    assert code in outcome.reason_codes, outcome.explain()
    assert len(outcome.reasons) >= len(outcome.reason_codes) > 0, outcome.explain()
    for reason in outcome.reasons:
        assert len(reason.split()) >= MIN_REASON_WORDS, f"not a sentence: {reason!r}"
    if says is not None:
        assert any(says in reason for reason in outcome.reasons), outcome.explain()
    assert outcome.seconds < limit + MARGIN_SECONDS, outcome.explain()


def commit_all(repo: Path, message: str = "deliver") -> str:
    """Commit everything in `repo` (already a git repository); return the commit sha."""
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


def _read_texts(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        p.name: p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.iterdir())
    }


def _read_bytes(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _descendants(root: int) -> set[int]:
    """Every live process below `root` (by /proc parent links), zombies excluded."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _describe(pids: set[int]) -> list[str]:
    described = []
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            described.append(f"{pid}: {cmdline[:200]}")
        except OSError:
            described.append(str(pid))
    return described
