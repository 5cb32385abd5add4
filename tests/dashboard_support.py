"""A seeded service for the dashboard tests: accounts, opportunities, submissions and runs
with real signed reports whose supplier-controlled fields carry XSS and ANSI payloads."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from flask.testing import FlaskClient

from acceptance.engine.keyring import ensure_signing_key
from acceptance.engine.report import ReportInput, build_statement, serialize
from acceptance.engine.signing import keyid_for, sign_envelope
from acceptance.service.accounts import create_user
from acceptance.service.db import Database, upgrade
from acceptance.service.models import Run, RunStatus, Submission, utcnow
from acceptance.service.opportunities import SpecUpload, publish_spec, register_submission
from acceptance.service.runs import create_run
from acceptance.service.secretbox import SecretBox
from acceptance.settings import Settings, load_settings
from checks.interface import CheckResult, CheckStatus
from tests.support import Recorder, tar_gz
from web.app import create_app
from web.dashboard.throttle import KEY_PREFIX

PASSWORD = "a long password 1"
OWNER, OTHER, REVIEWER, ADMIN = (
    "owner@example.org", "other@example.org", "reviewer@example.org", "admin@example.org",
)  # fmt: skip

# Supplier-controlled text: each must show as inert text, never run or render as markup.
XSS_TEST = "tests/test_form.py::test_<img src=x onerror=alert('test-name')>"
XSS_MESSAGE = "\x1b[31mAssertionError\x1b[0m: <script>alert('message')</script> expected 200"
XSS_FINDING = "Use of exec <svg onload=alert('finding')> detected"
XSS_COMMIT = "<script>alert('commit')</script> \x1b[1mFix the form\x1b[0m"
XSS_LOG = "\x1b[32mcollected 3 items\x1b[0m\n<iframe src=javascript:alert('log')></iframe>\n"
HIDDEN_TEST = "acceptance_hidden_tests/test_owner.py::test_rejects_blank_email"
HIDDEN_MESSAGE = "assert post('/contact', email='') == SECRET_HIDDEN_ASSERTION"
COMMIT = "3f9c2a7d5e1b4c6a8f0e2d4b6a8c0e2f4a6b8d0c"
SPEC_V1 = b"version: 1\ntitle: Contact form\nfunctional: {paths: [tests], hidden_tests: hidden}\n"
SPEC_V2 = (
    b"version: 1\ntitle: Contact form\nfunctional: {paths: [tests], hidden_tests: hidden, "
    b"min_passed: 2}\nlicence: {allowed: [MIT]}\n"
)
OTHER_SPEC = b"version: 1\ntitle: Another owner's tender\nfunctional: {paths: [tests]}\n"


HIDDEN = tar_gz({"test_owner.py": "def test_rejects_blank_email():\n    assert True\n"})


@dataclass
class Seeded:
    """Ids of what was seeded, for the tests to open."""

    opportunity: str = ""
    other_opportunity: str = ""
    submission: str = ""
    status_token: str = ""
    other_status_token: str = ""
    rejected: str = ""
    accepted: str = ""
    running: str = ""
    queued: str = ""
    errored: str = ""
    other_run: str = ""
    runs: list[str] = field(default_factory=list)


def _checks(failing: bool) -> list[CheckResult]:
    functional = CheckResult(
        "functional", "functional",
        CheckStatus.FAILED if failing else CheckStatus.PASSED,
        "2 of 5 tests failed" if failing else "5 tests passed",
        "TESTS_FAILED" if failing else None,
        {
            "tests": {"passed": 3 if failing else 5, "failed": 2 if failing else 0, "errors": 0, "skipped": 1},
            "failing_tests": [XSS_TEST, HIDDEN_TEST] if failing else [],
            "failures": (
                [{"id": XSS_TEST, "message": XSS_MESSAGE}, {"id": HIDDEN_TEST, "message": HIDDEN_MESSAGE}]
                if failing else []
            ),
        },
    )  # fmt: skip
    finding = {
        "test_id": "B102", "test_name": "exec_used", "severity": "medium", "confidence": "high",
        "filename": "app/<b>views</b>.py", "line": 42, "text": XSS_FINDING, "cwe": "CWE-78",
        "suppressed": False, "blocking": failing,
    }  # fmt: skip
    sast = CheckResult(
        "sast", "sast", CheckStatus.FAILED if failing else CheckStatus.PASSED,
        "1 finding at or above medium" if failing else "no blocking findings",
        "SAST_FINDINGS" if failing else None,
        {"findings": [finding], "findings_truncated": False, "counts": {"medium": 1}},
    )  # fmt: skip
    dependencies = CheckResult(
        "dependencies", "dependencies", CheckStatus.PASSED,
        "1 known vulnerability in 1 of 12 installed package(s), 1 ignored by the spec", None,
        {
            "audited": 12,
            "vulnerabilities": [{
                "package": "jinja2", "version": "3.1.2", "id": "GHSA-h5c8-rqwp-cp95",
                "aliases": ["CVE-2024-22195"], "fix_versions": ["3.1.3"], "ignored": True,
            }],
        },
    )  # fmt: skip
    licence = CheckResult(
        "licence", "licence", CheckStatus.PASSED, "licensed MIT (from LICENSE)", None,
        {
            "licence": {"spdx": "MIT", "source_file": "LICENSE", "allowed": True, "score": 100.0},
            "evidence": [{"source": "LICENSE", "kind": "file", "matched": "MIT", "score": 100.0}],
            "dependencies": [
                {"name": "flask", "version": "3.0.0", "licence": "BSD-3-Clause", "compatible": True},
                {"name": "<b>evil</b>", "version": "1.0", "licence": "GPL-3.0", "compatible": False},
            ],
        },
    )  # fmt: skip
    # The linter's evidence: supplier text (paths, reasons) carries markup to stay inert.
    quality = CheckResult(
        "quality", "quality", CheckStatus.FAILED if failing else CheckStatus.PASSED,
        "1 unjustified suppression(s) (app/<b>forms</b>.py:3)" if failing else "no ruff finding at any level",
        "UNJUSTIFIED_SUPPRESSION" if failing else None,
        {
            "findings": [
                {"rule": "UNJUSTIFIED_SUPPRESSION", "name": "unjustified-suppression", "level": "error",
                 "file": "app/<b>forms</b>.py", "line": 3, "column": 1, "url": None,
                 "message": "blanket noqa silences every rule; name the rules and say why after ' -- '",
                 "suppressed": False, "blocking": True},
                {"rule": "F401", "name": "unused-import", "level": "warning", "file": "app/views.py",
                 "line": 1, "column": 8, "message": "`os` imported but unused",
                 "url": "https://docs.astral.sh/ruff/rules/unused-import", "suppressed": True,
                 "suppression_reason": "the loader imports it by name", "blocking": False},
            ] if failing else [],
            "findings_truncated": False,
            "counts": {"error": 0, "warning": 0, "style": 0},
            "suppressions": [
                {"file": "app/views.py", "line": 1, "scope": "line", "directive": "noqa",
                 "rules": ["F401"], "reason": "the loader imports it by name", "justified": True},
                *([{"file": "app/<b>forms</b>.py", "line": 3, "scope": "file", "directive": "ruff: noqa",
                    "rules": [], "reason": None, "justified": False}] if failing else []),
            ],
            "suppressions_truncated": False,
            "settings": {"rules": ["E4", "E7", "E9", "F"], "default_rules": True, "fail_on": "style",
                         "suppressions": "justified", "exclude": []},
            "tool": {"name": "ruff", "version": "0.17.6"},
        },
    )  # fmt: skip
    return [functional, sast, dependencies, licence, quality]


def _statement(run: Run, failing: bool) -> dict[str, Any]:
    started = run.queued_at + dt.timedelta(seconds=5)
    report = ReportInput(
        source_url=run.submission.repo_url,
        ref=run.ref,
        spec={"version": 1, "title": "Contact form"},
        started=started,
        commit=run.commit,
        finished=started + dt.timedelta(seconds=95),
        environment={"engine": "acceptance 0.1.0", "image": "acceptance-sandbox:test"},
        stages=[
            {"name": "checkout", "seconds": 1.234, "status": "ok"},
            {"name": "install", "seconds": 61.5, "status": "ok"},
            {"name": "functional", "seconds": 1234.5, "status": "ok"},
        ],
        checks=_checks(failing),
        run={"id": run.id, "submission": run.submission_id},
        runtime={"runtime": "python", "runtime_source": "detected"},
    )
    return build_statement(report)


def _finish(settings: Settings, store: Any, run: Run, failing: bool) -> None:
    """Sign a report for `run` and store it as a worker does."""
    statement = _statement(run, failing)
    key = ensure_signing_key(settings)
    envelope = sign_envelope(serialize(statement), key)
    long_log = "".join(f"line {n}: pip output\n" for n in range(1, 451))
    keys = {
        "junit.xml": store.put(b"<testsuites/>"),
        "logs/functional.log": store.put((long_log + XSS_LOG).encode()),
        "logs/install.log": store.put(b"Successfully installed flask-3.0.0\n"),
    }
    keys["report.dsse.json"] = store.put(json.dumps(envelope, indent=2).encode() + b"\n")
    predicate = statement["predicate"]
    run.status = RunStatus.FINISHED.value
    run.verdict = predicate["verdict"]
    run.reason_codes = predicate["reason_codes"]
    run.reasons = predicate["reasons"]
    run.stages = predicate["stages"]
    run.finished_at = run.queued_at + dt.timedelta(seconds=100)
    run.artifacts = keys
    run.report_sha256 = keys["report.dsse.json"]
    run.key_id = keyid_for(key.public_key())
    run.summary = {"checks": [{"id": c["id"], "status": c["status"], "summary": c["summary"]}
                              for c in predicate["checks"]],
                   "runtime": predicate["runtime"], "runtime_source": predicate["runtime_source"]}  # fmt: skip


TRANSLATIONS = Path(__file__).resolve().parents[1] / "web" / "dashboard" / "translations"


def compile_translations() -> None:
    """Compile the .po catalogues to .mo when stale, as scripts/setup.sh does at build time."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as target:
            write_mo(target, catalog)
        tmp.replace(mo)


#: where the app counts failed sign-ins (web/dashboard/throttle.py); other tests flush 6 and 8-15
THROTTLE_REDIS = os.environ.get("ACCEPTANCE_TEST_REDIS", "redis://127.0.0.1:6379") + "/7"


def forget_failed_sign_ins() -> None:
    """Drop the sign-in counters, so one test's wrong passwords never lock out the next test."""
    client = redis.Redis.from_url(THROTTLE_REDIS)
    try:
        for key in client.scan_iter(match=f"{KEY_PREFIX}:*"):
            client.delete(key)
    except redis.ConnectionError:
        pass  # the throttle fails open without Redis too
    finally:
        client.close()


class Service:
    """The real app on a fresh data directory (SQLite, local artifact store, own keys)."""

    def __init__(self, data_dir: Path, *, copy_of: Service | None = None) -> None:
        compile_translations()
        if copy_of is not None:
            # Seeding costs seconds (password hashes, keys): tests start from a copy of one.
            copy_of.db.engine.dispose()
            shutil.copytree(copy_of.settings.data_dir, data_dir)
        # Listed hosts skip the DNS check of public sources (no network in tests).
        self.settings = load_settings({
            "ACCEPTANCE_DATA_DIR": str(data_dir),
            "ACCEPTANCE_GIT_ALLOWED_HOSTS": "github.com,gitlab.com",
            "ACCEPTANCE_BROKER_URL": THROTTLE_REDIS,
        })  # fmt: skip
        forget_failed_sign_ins()
        upgrade(self.settings.database_url)
        self.db = Database(self.settings.database_url)
        self.celery = Recorder()
        self.app = create_app(self.settings, celery=self.celery)
        self.app.config["SESSION_COOKIE_SECURE"] = False  # plain http on loopback in tests
        self.store = self.app.extensions["acceptance"].store
        self.ids = copy_of.ids if copy_of is not None else self._seed()

    def _seed(self) -> Seeded:
        ids = Seeded()
        box = SecretBox(self.settings.secrets_key)
        specs = self.settings.specs_dir
        with self.db.session() as session:
            users = {
                email: create_user(session, email, role, PASSWORD)
                for email, role in [(OWNER, "owner"), (OTHER, "owner"),
                                    (REVIEWER, "reviewer"), (ADMIN, "admin")]
            }  # fmt: skip
            first = publish_spec(session, users[OWNER], SpecUpload(SPEC_V1, HIDDEN), specs)
            opportunity = first.opportunity
            publish_spec(session, users[OWNER], SpecUpload(SPEC_V2, HIDDEN), specs, opportunity)
            session.refresh(opportunity)
            submission, _ = register_submission(
                session, users[OWNER], opportunity, repo_url="https://github.com/example/contact-form",
                supplier="Supplier <script>alert('supplier')</script> Ltd", branch="main", box=box,
            )  # fmt: skip
            other = publish_spec(session, users[OTHER], SpecUpload(OTHER_SPEC), specs).opportunity
            other_submission, _ = register_submission(
                session, users[OTHER], other, repo_url="https://gitlab.com/rival/tender",
                supplier="Rival Inc", branch=None, box=box,
            )  # fmt: skip
            ids.opportunity, ids.other_opportunity = opportunity.id, other.id
            ids.submission, ids.status_token = submission.id, submission.status_token
            ids.other_status_token = other_submission.status_token
            base = utcnow() - dt.timedelta(days=3)

            def run(sub: Submission, hours: float, **values: Any) -> Run:
                made, _ = create_run(session, sub, trigger="webhook", ref="main", commit=COMMIT,
                                     commit_message=XSS_COMMIT, delivery_id=f"d-{hours}")  # fmt: skip
                made.queued_at = base + dt.timedelta(hours=hours)
                for name, value in values.items():
                    setattr(made, name, value)
                session.flush()
                ids.runs.append(made.id)
                return made

            accepted = run(submission, 1)
            _finish(self.settings, self.store, accepted, failing=False)
            rejected = run(submission, 2)
            _finish(self.settings, self.store, rejected, failing=True)
            errored = run(submission, 3, status=RunStatus.ERROR.value, verdict="error",
                          reasons=["the Docker engine is unavailable"], error="Docker is down")  # fmt: skip
            running = run(submission, 4, status=RunStatus.RUNNING.value, stage="functional")
            queued = run(submission, 5)
            other_run = run(other_submission, 6)
            _finish(self.settings, self.store, other_run, failing=True)
            ids.accepted, ids.rejected, ids.errored = accepted.id, rejected.id, errored.id
            ids.running, ids.queued, ids.other_run = running.id, queued.id, other_run.id
        return ids

    def finish_running(self) -> None:
        """The worker finishes the running run (for the live-update test)."""
        with self.db.session() as session:
            run = session.get(Run, self.ids.running)
            assert run is not None
            _finish(self.settings, self.store, run, failing=False)


# ---------------------------------------------------------------- the pages through Flask's client

#: the French catalogue the pages are translated with
PO_FILE = (
    Path(__file__).resolve().parents[1]
    / "web"
    / "dashboard"
    / "translations"
    / "fr"
    / "LC_MESSAGES"
    / "messages.po"
)


def csrf_token(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert found, f"no CSRF token on {url}"
    return found.group(1)


def sign_in(client: FlaskClient, email: str) -> None:
    token = csrf_token(client, "/sign-in")
    reply = client.post(
        "/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert reply.status_code == 303, reply.get_data(as_text=True)


def client_for(service: Service, email: str | None, lang: str = "en") -> FlaskClient:
    client = service.app.test_client()
    client.set_cookie("acceptance_lang", lang)
    if email:
        sign_in(client, email)
    return client


def html(client: FlaskClient, url: str, status: int = 200) -> str:
    reply = client.get(url, headers={"Accept": "text/html"})
    assert reply.status_code == status, (url, reply.status_code, reply.get_data(as_text=True)[:500])
    return reply.get_data(as_text=True)
