"""The dashboard through Flask's test client: pages, roles, CSRF, escaping, both languages.

Real SQLite database and migrations, real signed reports in the real artifact
store; the broker is a recorder. tests/test_dashboard_browser.py drives the
same pages in a real Chromium.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from acceptance.engine.signing import load_public_key, verify_envelope
from acceptance.errors import UserInputError
from acceptance.service.models import Run, SpecVersion
from acceptance.service.secretbox import SecretBox
from tests.dashboard_support import (
    ADMIN,
    HIDDEN_MESSAGE,
    OTHER,
    OWNER,
    PASSWORD,
    PO_FILE,
    REVIEWER,
    Service,
    client_for,
    compile_translations,
    csrf_token,
    html,
    sign_in,
)
from web.dashboard.config import load_dashboard_config, session_key
from web.dashboard.text import inert, tail

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- signing in


def test_pages_need_sign_in_and_come_back_after_it(service: Service) -> None:
    client = client_for(service, None)
    reply = client.get("/runs?verdict=rejected")
    assert reply.status_code == 303
    assert reply.headers["Location"].startswith("/sign-in?next=")
    token = csrf_token(client, "/sign-in")
    reply = client.post(
        "/sign-in?next=/runs?verdict%3Drejected",
        data={"email": REVIEWER, "password": PASSWORD, "csrf_token": token},
    )
    assert reply.status_code == 303 and reply.headers["Location"] == "/runs?verdict=rejected"


def test_a_wrong_password_is_refused_without_saying_which_field(service: Service) -> None:
    client = client_for(service, None)
    token = csrf_token(client, "/sign-in")
    reply = client.post("/sign-in", data={"email": OWNER, "password": "wrong", "csrf_token": token})
    assert reply.status_code == 422
    assert "The email address or the password is not right." in reply.get_data(as_text=True)
    assert client.get("/runs").status_code == 303


def test_sign_in_never_redirects_off_site(service: Service) -> None:
    client = client_for(service, None)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        token = csrf_token(client, "/sign-in")
        reply = client.post(f"/sign-in?next={target}",
                            data={"email": OWNER, "password": PASSWORD, "csrf_token": token})  # fmt: skip
        assert reply.headers["Location"] == "/runs"


def test_sign_out_ends_the_session(service: Service) -> None:
    client = client_for(service, OWNER)
    assert client.get("/runs").status_code == 200
    token = csrf_token(client, "/runs")
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
    assert client.get("/runs").status_code == 303


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("acceptance_session")
    assert cookie is not None
    return cookie.value


def _replay(service: Service, cookie: str) -> int:
    """The status of /runs for a new browser presenting a copy of the cookie."""
    thief = service.app.test_client()
    thief.set_cookie("acceptance_session", cookie)
    return thief.get("/runs").status_code


def test_a_copy_of_the_cookie_stops_working_after_sign_out(service: Service) -> None:
    client = client_for(service, OWNER)
    elsewhere = client_for(service, OWNER)  # the same user in another browser
    copied = _session_cookie(client)
    assert _replay(service, copied) == 200
    token = csrf_token(client, "/runs")
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
    assert _replay(service, copied) == 303  # ended on the server, not only in the browser
    assert elsewhere.get("/runs").status_code == 303  # signing out ends every session of the user
    assert client_for(service, REVIEWER).get("/runs").status_code == 200  # others are untouched
    sign_in(client, OWNER)  # and signing in again works
    assert client.get("/runs").status_code == 200
    assert _replay(service, copied) == 303


def test_a_disabled_user_is_signed_out_and_cannot_sign_in(service: Service) -> None:
    from acceptance.service.accounts import disable_user, enable_user

    client = client_for(service, OWNER)
    assert client.get("/runs").status_code == 200
    with service.db.session() as session:
        disable_user(session, OWNER)
    assert client.get("/runs").status_code == 303
    live = client.get("/runs/live")
    assert (live.status_code, live.get_json()["error"]) == (401, "unauthenticated")
    token = csrf_token(client, "/sign-in")
    reply = client.post(
        "/sign-in", data={"email": OWNER, "password": PASSWORD, "csrf_token": token}
    )
    assert reply.status_code == 422  # the same answer as a wrong password: nothing is revealed
    assert "The email address or the password is not right." in reply.get_data(as_text=True)
    with service.db.session() as session:
        enable_user(session, OWNER)
    sign_in(client, OWNER)
    assert client.get("/runs").status_code == 200


def test_session_cookies_are_secure_httponly_and_samesite(service: Service) -> None:
    # Built as in production: no test override of SESSION_COOKIE_SECURE.
    from tests.support import Recorder
    from web.app import create_app

    app = create_app(service.settings, celery=Recorder())
    assert app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    token = csrf_token(client, "https://localhost/sign-in")
    page = client.get("https://localhost/sign-in")
    # Browsers send a same-origin Referer (the pages' policy), which CSRF needs over https.
    assert page.headers["Referrer-Policy"] == "same-origin"
    reply = client.post("https://localhost/sign-in", headers={"Referer": "https://localhost/sign-in"},
                        data={"email": OWNER, "password": PASSWORD, "csrf_token": token})  # fmt: skip
    cookie = reply.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_insecure_cookies_only_when_asked_for() -> None:
    assert load_dashboard_config({}).secure_cookies is True
    assert load_dashboard_config({"ACCEPTANCE_INSECURE_COOKIES": "1"}).secure_cookies is False
    with pytest.raises(UserInputError, match="ACCEPTANCE_INSECURE_COOKIES"):
        load_dashboard_config({"ACCEPTANCE_INSECURE_COOKIES": "perhaps"})


def test_the_time_zone_is_a_setting_checked_at_start() -> None:
    assert load_dashboard_config({"ACCEPTANCE_TIMEZONE": "America/Toronto"}).timezone == (
        "America/Toronto"
    )
    assert load_dashboard_config({}).timezone == "UTC"
    for bad in ("Mars/Olympus", "../etc/passwd"):
        with pytest.raises(UserInputError, match="ACCEPTANCE_TIMEZONE"):
            load_dashboard_config({"ACCEPTANCE_TIMEZONE": bad})


def test_the_session_key_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "session.key"
    first = session_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert session_key(path) == first and len(first) >= 64


def test_a_new_password_signs_out_other_sessions(service: Service) -> None:
    from werkzeug.security import generate_password_hash

    from acceptance.service.models import User

    client = client_for(service, OWNER)
    with service.db.session() as session:
        user = session.query(User).filter_by(email=OWNER).one()
        user.password_hash = generate_password_hash("another long password")
    assert client.get("/runs").status_code == 303


# ---------------------------------------------------------------- CSRF and headers


@pytest.mark.parametrize(
    "url", ["/sign-in", "/sign-out", "/opportunities/new", "/runs/{run}/rerun"]
)
def test_every_form_needs_its_csrf_token(service: Service, url: str) -> None:
    client = client_for(service, OWNER)
    reply = client.post(url.format(run=service.ids.rejected), data={"email": OWNER})
    assert reply.status_code == 400
    assert "The form has expired" in reply.get_data(as_text=True)
    assert not service.celery.sent


def test_the_api_and_webhooks_are_not_subject_to_form_csrf(service: Service) -> None:
    client = service.app.test_client()
    reply = client.post("/api/v1/opportunities")
    assert reply.status_code == 401  # the API's own authentication answers, not CSRF
    reply = client.post(f"/hooks/{service.ids.submission}", data=b"{}",
                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert reply.status_code == 401  # the webhook's signature check answers


def test_pages_carry_a_strict_content_security_policy(service: Service) -> None:
    client = client_for(service, REVIEWER)
    for url in (
        "/sign-in",
        "/runs",
        f"/runs/{service.ids.rejected}",
        f"/status/{service.ids.status_token}",
    ):
        reply = client.get(url, headers={"Accept": "text/html"})
        policy = reply.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        # Nothing the policy would block: no inline script, style or event-handler attribute.
        assert inline_code(reply.get_data(as_text=True)) == [], url


class _InlineCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style" or "style" in names:
            self.found.append(f"inline style on <{tag}>")
        self.found += [f"{name} on <{tag}>" for name in names if name.startswith("on")]
        self.found += [f"javascript: URL on <{tag}>" for _, value in attrs
                       if value and value.strip().lower().startswith("javascript:")]  # fmt: skip


def inline_code(page: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(page)
    return parser.found


# ---------------------------------------------------------------- roles


def test_an_owner_never_sees_another_owners_opportunities(service: Service) -> None:
    ids = service.ids
    client = client_for(service, OTHER)
    assert "Contact form" not in html(client, "/runs")
    assert "Contact form" not in html(client, "/opportunities")
    for url in (f"/opportunities/{ids.opportunity}", f"/opportunities/{ids.opportunity}/specs/1",
                f"/runs/{ids.rejected}", f"/runs/{ids.rejected}/report.dsse.json",
                f"/runs/{ids.rejected}/logs/functional.log",
                f"/opportunities/{ids.opportunity}/submissions/new"):  # fmt: skip
        reply = client.get(url)
        assert reply.status_code == 404, url
    live = client.get(f"/runs/live?id={ids.running}").get_json()
    assert live == {"runs": []}
    assert client.post(f"/runs/{ids.rejected}/rerun",
                       data={"csrf_token": csrf_token(client, "/runs")}).status_code == 404  # fmt: skip


def test_reviewers_see_everything_but_change_nothing(service: Service) -> None:
    ids = service.ids
    client = client_for(service, REVIEWER)
    page = html(client, "/runs")
    assert "Contact form" in page and "Another owner" in page
    opportunity = html(client, f"/opportunities/{ids.opportunity}")
    assert "Register a submission" not in opportunity and "Publish a new version" not in opportunity
    assert "Run again" not in html(client, f"/runs/{ids.rejected}")
    token = csrf_token(client, "/runs")
    for url in (f"/opportunities/{ids.opportunity}/specs/new", "/opportunities/new",
                f"/opportunities/{ids.opportunity}/submissions/new"):  # fmt: skip
        assert client.get(url).status_code == 403
        assert client.post(url, data={"csrf_token": token}).status_code == 403
    assert client.post(f"/runs/{ids.rejected}/rerun", data={"csrf_token": token}).status_code == 403
    assert not service.celery.sent


def test_admins_manage_every_opportunity(service: Service) -> None:
    client = client_for(service, ADMIN)
    assert "Register a submission" in html(
        client, f"/opportunities/{service.ids.other_opportunity}"
    )


# ---------------------------------------------------------------- runs list


def rows(page: str) -> int:
    return len(re.findall(r"<tr[ >]", page)) - 1  # minus the header row


def test_runs_are_filtered_by_opportunity_supplier_verdict_date_and_commit(
    service: Service,
) -> None:
    ids = service.ids
    client = client_for(service, REVIEWER)
    assert rows(html(client, "/runs")) == 6
    assert rows(html(client, f"/runs?opportunity={ids.opportunity}")) == 5
    assert rows(html(client, "/runs?supplier=Rival+Inc")) == 1
    assert rows(html(client, "/runs?verdict=rejected")) == 2
    assert rows(html(client, "/runs?verdict=accepted")) == 1
    assert rows(html(client, "/runs?verdict=pending")) == 2
    assert rows(html(client, "/runs?verdict=error")) == 1
    assert rows(html(client, "/runs?commit=3f9c2a7")) == 6
    assert rows(html(client, "/runs?commit=FIX+THE")) == 6
    assert "No run matches" in html(client, "/runs?commit=deadbeef")
    assert "No run matches" in html(client, "/runs?commit=%25")  # LIKE wildcards are literal
    assert "No run matches" in html(client, "/runs?from=2999-01-01")
    assert rows(html(client, "/runs?from=2000-01-01&to=2999-12-31")) == 6


def test_bad_filters_are_explained_beside_the_field(service: Service) -> None:
    client = client_for(service, REVIEWER)
    page = html(client, "/runs?from=yesterday&to=2020-01-01&verdict=maybe", status=422)
    assert "Enter a date as year-month-day" in page
    assert 'aria-invalid="true"' in page and 'href="#filter-from"' in page


def test_runs_are_paged(service: Service) -> None:
    service.app.config["DASHBOARD_PAGE_SIZE"] = 4
    client = client_for(service, REVIEWER)
    first = html(client, "/runs?verdict=")
    assert rows(first) == 4 and "Page 1 of 2" in first and 'rel="next"' in first
    second = html(client, "/runs?page=2")
    assert rows(second) == 2 and 'rel="prev"' in second
    assert rows(html(client, "/runs?page=999")) == 2  # past the end: the last page


def test_running_runs_show_their_stage_and_update_through_json(service: Service) -> None:
    client = client_for(service, OWNER)
    page = html(client, "/runs")
    assert "Running: running the tests" in page
    assert f'data-run-id="{service.ids.running}"' in page
    reply = client.get(f"/runs/live?id={service.ids.running}&id={service.ids.queued}")
    states = {r["id"]: r for r in reply.get_json()["runs"]}
    assert states[service.ids.running]["text"] == "Running: running the tests"
    assert states[service.ids.queued] == {
        "id": service.ids.queued, "state": "queued", "icon": "◷", "text": "Queued", "done": False,
    }  # fmt: skip
    service.finish_running()
    done = client.get(f"/runs/live?id={service.ids.running}").get_json()["runs"][0]
    assert done["done"] and done["state"] == "accepted" and done["text"] == "Accepted"
    assert service.app.test_client().get("/runs/live").status_code == 401


# ---------------------------------------------------------------- the report


def test_the_report_shows_every_check_with_its_evidence(service: Service) -> None:
    client = client_for(service, REVIEWER)
    page = html(client, f"/runs/{service.ids.rejected}")
    for text in (
        "Verdict:",
        "Rejected",
        "2 failing tests",
        "hidden test",
        "B102",
        ":42",
        "Medium",
        "GHSA-h5c8-rqwp-cp95",
        "CVE-2024-22195",
        "3.1.3",
        "MIT",
        "LICENSE",
        "BSD-3-Clause",
        "GPL-3.0",
        "Every check ran.",
        "Stage timings",
        "1,234.5 s",
        "The signature is valid",
        "Version 2",
        "Run report",
    ):
        assert text in page, text
    # The owner's side may read the hidden test's message; the supplier's page may not.
    assert HIDDEN_MESSAGE.replace("'", "&#39;") in page
    assert "https://github.com/example/contact-form/commit/3f9c2a7d5e1b" in page
    assert f"acceptance verify report-{service.ids.rejected}.dsse.json --pubkey acceptance-" in page


def test_logs_are_truncated_on_the_page_and_whole_in_the_download(service: Service) -> None:
    client = client_for(service, REVIEWER)
    page = html(client, f"/runs/{service.ids.rejected}")
    assert "The last 200 lines of 452 are shown." in page
    assert "line 450: pip output" in page and "line 100: pip output" not in page
    reply = client.get(f"/runs/{service.ids.rejected}/logs/functional.log")
    assert reply.status_code == 200
    assert reply.mimetype == "text/plain"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in reply.headers["Content-Security-Policy"]
    body = reply.get_data()
    assert b"line 1: pip output" in body and b"\x1b[32m" in body  # raw, as the sandbox wrote it


def test_the_signed_report_and_key_download_and_verify(service: Service, tmp_path: Path) -> None:
    client = client_for(service, REVIEWER)
    reply = client.get(f"/runs/{service.ids.rejected}/report.dsse.json")
    assert reply.status_code == 200 and reply.headers["Content-Disposition"].startswith(
        "attachment"
    )
    envelope = json.loads(reply.get_data())
    page = html(client, f"/runs/{service.ids.rejected}")
    key_url = re.search(r'href="(/keys/[0-9a-f]{64}\.pub)"', page)
    assert key_url
    key = client.get(key_url.group(1))  # public: no sign-in needed, but signed in here anyway
    assert service.app.test_client().get(key_url.group(1)).status_code == 200
    (tmp_path / "signing.pub").write_bytes(key.get_data())
    verified = verify_envelope(envelope, [load_public_key(tmp_path / "signing.pub")])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicate"]["verdict"] == "rejected"
    assert verified.keyid.startswith("sha256:")
    assert client.get("/keys/" + "0" * 64 + ".pub").status_code == 404


def test_a_tampered_report_says_its_signature_does_not_verify(service: Service) -> None:
    with service.db.session() as session:
        run = session.get(Run, service.ids.rejected)
        assert run is not None
        envelope = json.loads(service.store.get(run.report_sha256) or b"")
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["predicate"]["verdict"] = "accepted"
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        run.report_sha256 = service.store.put(json.dumps(envelope).encode())
    page = html(client_for(service, REVIEWER), f"/runs/{service.ids.rejected}")
    assert "The signature could not be verified" in page


def test_other_files_download_as_attachments(service: Service) -> None:
    client = client_for(service, REVIEWER)
    reply = client.get(f"/runs/{service.ids.rejected}/files/junit.xml")
    assert reply.status_code == 200 and reply.mimetype == "application/octet-stream"
    assert client.get(f"/runs/{service.ids.rejected}/files/nothing.xml").status_code == 404


def test_running_and_failed_runs_have_pages_too(service: Service) -> None:
    client = client_for(service, OWNER)
    running = html(client, f"/runs/{service.ids.running}")
    assert "This run has not finished" in running and "data-live-url" in running
    errored = html(client, f"/runs/{service.ids.errored}")
    assert "not a verdict on the supplier" in errored and "Docker" in errored


def test_a_rerun_is_queued_after_the_commit_and_supersedes(service: Service) -> None:
    client = client_for(service, OWNER)
    token = csrf_token(client, f"/runs/{service.ids.rejected}")
    reply = client.post(f"/runs/{service.ids.rejected}/rerun", data={"csrf_token": token})
    assert reply.status_code == 303
    new_id = reply.headers["Location"].rsplit("/", 1)[-1]
    assert [args[0] for _, args, _ in service.celery.sent] == [new_id]
    page = html(client, f"/runs/{service.ids.rejected}")
    assert "Runs that supersede this one" in page and new_id in page


# ---------------------------------------------------------------- supplier text stays inert


XSS_MARKERS = ("<script>alert", "<img src=x", "<svg onload", "<iframe", "<b>evil", "<b>views")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_supplier_controlled_text_is_shown_as_text(service: Service, lang: str) -> None:
    ids = service.ids
    client = client_for(service, OWNER, lang)
    for url in ("/runs", f"/runs/{ids.rejected}", f"/opportunities/{ids.opportunity}",
                f"/status/{ids.status_token}", f"/status/{ids.status_token}/runs/{ids.rejected}"):  # fmt: skip
        page = html(client, url)
        for marker in XSS_MARKERS:
            assert marker not in page, (url, marker)
        assert "\x1b" not in page, url
    page = html(client, f"/runs/{ids.rejected}")
    assert "&lt;script&gt;alert(&#39;message&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(&#39;test-name&#39;)&gt;" in page
    assert "&lt;svg onload=alert(&#39;finding&#39;)&gt;" in page
    assert "&lt;iframe src=javascript:alert(&#39;log&#39;)&gt;" in page
    assert "[31m" not in page and "AssertionError" in page


def test_inert_strips_terminal_escapes_controls_and_bidi_overrides() -> None:
    assert inert("\x1b[1;31mred\x1b[0m") == "red"
    assert inert("title\x1b]0;evil\x07 end") == "title end"
    assert inert("a\x00b\x08c\x7fd\x9be") == "abcde"
    assert inert("line\r\nnext\rlast") == "line\nnext\nlast"
    assert inert("admin\u202etxt.exe") == "admin\ufffdtxt.exe"
    assert inert("x" * 10, limit=4) == "xxxx…"
    assert inert(None) == ""
    excerpt = tail("".join(f"{n}\n" for n in range(1, 301)), max_lines=5)
    assert excerpt.text == "296\n297\n298\n299\n300" and excerpt.truncated
    assert excerpt.total_lines == 300


def test_commit_links_only_for_web_repositories() -> None:
    from web.dashboard.presenting import commit_url, safe_link

    sha = "a" * 40
    assert commit_url("https://gitlab.com/g/p.git", sha) == f"https://gitlab.com/g/p/-/commit/{sha}"
    assert commit_url("https://codeberg.org/o/r/", sha) == f"https://codeberg.org/o/r/commit/{sha}"
    assert commit_url("javascript:alert(1)//", sha) is None
    assert commit_url("https://github.com/o/r", "<script>") is None
    assert safe_link("javascript:alert(1)") is None and safe_link("git://host/r") is None


# ---------------------------------------------------------------- opportunities


def test_the_opportunity_shows_its_spec_versions_and_what_changed(service: Service) -> None:
    client = client_for(service, OWNER)
    page = html(client, f"/opportunities/{service.ids.opportunity}")
    assert "Current version: 2" in page and "first version" in page
    assert "2 lines added, 1 removed" in page
    assert "Supplier &lt;script&gt;" in page and "Register a submission" in page
    diff = html(client, f"/opportunities/{service.ids.opportunity}/specs/2")
    assert "<ins>" in diff and "<del>" in diff and "min_passed: 2" in diff
    assert "The hidden tests did not change." in diff
    assert "This is the first version." in html(
        client, f"/opportunities/{service.ids.opportunity}/specs/1"
    )
    html(client, f"/opportunities/{service.ids.opportunity}/specs/9", status=404)


def upload(
    client: FlaskClient, url: str, spec: bytes, hidden: bytes | None = None
) -> tuple[int, str]:
    data: dict[str, object] = {"csrf_token": csrf_token(client, url),
                               "spec": (io.BytesIO(spec), "acceptance.yaml")}  # fmt: skip
    if hidden is not None:
        data["hidden_tests"] = (io.BytesIO(hidden), "hidden.tar.gz")
    reply = client.post(url, data=data, content_type="multipart/form-data")
    if reply.status_code == 303:
        return reply.status_code, reply.headers["Location"]
    return reply.status_code, reply.get_data(as_text=True)


def test_an_owner_publishes_a_new_spec_version_with_inline_errors_first(service: Service) -> None:
    client = client_for(service, OWNER)
    url = f"/opportunities/{service.ids.opportunity}/specs/new"
    status, page = upload(
        client, url, b"version: 1\ntitle: x\nfunctional: {hidden_tests: hidden}\n"
    )
    assert status == 422
    assert "There is a problem" in page and 'aria-invalid="true"' in page
    assert "no hidden_tests archive was uploaded" in page
    status, page = upload(
        client,
        url,
        b"version: 1\ntitle: x\nfunctional: {hidden_tests: hidden}\n",
        b"not an archive",
    )
    assert status == 422 and 'id="hidden_tests-error"' in page
    reply = client.post(url, data={"csrf_token": csrf_token(client, url)},
                        content_type="multipart/form-data")  # fmt: skip
    assert reply.status_code == 422 and "Choose the acceptance spec file." in reply.get_data(
        as_text=True
    )
    with service.db.session() as session:
        assert session.query(SpecVersion).count() == 3  # nothing kept from the refusals
    status, location = upload(client, url, b"version: 1\ntitle: Contact form v3\n")
    assert status == 303
    assert "Version 3 of the spec is published." in html(client, location)


def test_an_owner_publishes_a_new_opportunity(service: Service) -> None:
    client = client_for(service, OTHER)
    status, location = upload(client, "/opportunities/new", b"version: 1\ntitle: Brand new\n")
    assert status == 303
    assert "Brand new" in html(client, location)
    assert "Brand new" not in html(client_for(service, OWNER), "/opportunities")


def test_registering_a_submission_shows_the_secret_once_with_instructions(service: Service) -> None:
    client = client_for(service, OWNER)
    url = f"/opportunities/{service.ids.opportunity}/submissions/new"
    token = csrf_token(client, url)
    bad = client.post(url, data={"csrf_token": token, "supplier": "", "repo_url": "file:///etc"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Enter the supplier's name." in page
    bad = client.post(
        url, data={"csrf_token": token, "supplier": "ACME", "repo_url": "file:///etc"}
    )
    assert bad.status_code == 422 and 'id="repo_url-error"' in bad.get_data(as_text=True)
    reply = client.post(url, data={"csrf_token": token, "supplier": "ACME",
                                   "repo_url": "https://github.com/acme/site", "branch": "release"})  # fmt: skip
    assert reply.status_code == 201
    assert reply.headers["Cache-Control"] == "no-store"
    page = reply.get_data(as_text=True)
    secret = re.search(r'<code id="webhook-secret">([^<]+)</code>', page)
    hook = re.search(r'<code id="webhook-url">(http://localhost/hooks/([0-9a-f]{32}))</code>', page)
    assert secret and hook
    for forge in ("GitHub", "GitLab", "Gitea / Forgejo"):
        assert f"<h3>{forge}</h3>" in page
    assert page.count(secret.group(1)) == 4  # the field and the three forges' instructions
    from acceptance.service.models import Submission

    with service.db.session() as session:
        submission = session.get(Submission, hook.group(2))
        assert submission is not None
        sealed = submission.webhook_secret_encrypted
    assert SecretBox(service.settings.secrets_key).open(sealed) == secret.group(1)
    # Never shown again.
    assert secret.group(1) not in html(client, f"/opportunities/{service.ids.opportunity}")


# ---------------------------------------------------------------- the supplier's status page


def test_the_status_page_is_html_for_browsers_and_json_for_clients(service: Service) -> None:
    client = service.app.test_client()
    url = f"/status/{service.ids.status_token}"
    page = client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.mimetype == "text/html" and "Acceptance status" in page.get_data(as_text=True)
    assert page.headers["Vary"].startswith("Accept")
    for accept in ("application/json", "*/*", None):
        headers = {"Accept": accept} if accept else {}
        reply = client.get(url, headers=headers)
        assert reply.mimetype == "application/json", accept
        assert reply.get_json()["supplier"].startswith("Supplier")
    assert client.get("/status/nope", headers={"Accept": "text/html"}).mimetype == "text/html"
    assert client.get("/status/nope").get_json()["error"] == "not_found"


def test_the_status_page_never_shows_hidden_test_sources(service: Service) -> None:
    client = service.app.test_client()
    token = service.ids.status_token
    page = html(client, f"/status/{token}/runs/{service.ids.rejected}")
    # An older report, hidden tests mixed into the list: neither their names nor messages show.
    assert "acceptance_hidden_tests" not in page and "test_rejects_blank_email" not in page
    assert "SECRET_HIDDEN_ASSERTION" not in page
    assert "The owner's hidden tests" in page and "Only counts are shown" in page
    assert "1 failing test" in page  # the supplier's own, not the hidden one
    assert "expected 200" in page  # the supplier's own test keeps its message
    assert "logs/" not in page and "report.dsse.json" not in page
    # Another submission's run is not reachable through this token.
    html(client, f"/status/{token}/runs/{service.ids.other_run}", status=404)
    html(
        client, f"/status/{service.ids.other_status_token}/runs/{service.ids.rejected}", status=404
    )
    live = client.get(f"/status/{token}/live?id={service.ids.running}&id={service.ids.other_run}")
    assert [r["id"] for r in live.get_json()["runs"]] == [service.ids.running]


# ---------------------------------------------------------------- both languages


def test_french_everywhere_with_lang_attributes_and_french_formats(service: Service) -> None:
    ids = service.ids
    client = client_for(service, REVIEWER, "fr")
    runs = html(client, "/runs")
    assert '<html lang="fr">' in runs
    assert "Exécutions" in runs and "Filtrer les exécutions" in runs
    assert 'lang="en" hreflang="en"' in runs and ">English<" in runs
    report = html(client, f"/runs/{ids.rejected}")
    assert "Verdict\u00a0:" in report and "Rejetée" in report
    assert "1\u202f234,5\u00a0s" in report or "1\u00a0234,5\u00a0s" in report
    assert re.search(r"\d+ (janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)", report)
    # The engine's own sentences are English: marked so, for screen readers.
    assert '<span lang="en">2 of 5 tests failed</span>' in report
    status = html(client, f"/status/{ids.status_token}")
    assert "État de l'acceptation" in status and '<html lang="fr">' in status


def test_the_language_toggle_is_remembered_and_stays_on_site(service: Service) -> None:
    client = service.app.test_client()
    page = html(client, "/sign-in")
    assert '<html lang="en">' in page and 'href="/language/fr?next=/sign-in"' in page
    reply = client.get("/language/fr?next=/sign-in")
    assert reply.status_code == 303 and reply.headers["Location"] == "/sign-in"
    assert "acceptance_lang=fr" in reply.headers["Set-Cookie"]
    assert '<html lang="fr">' in html(client, "/sign-in")
    assert client.get("/language/en?next=//evil.example").headers["Location"] == "/"


def test_the_browsers_language_is_the_default(service: Service) -> None:
    client = service.app.test_client()
    page = client.get("/sign-in", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in page.get_data(as_text=True)


def test_every_message_has_a_french_translation() -> None:
    compile_translations()
    # What `pybabel extract` reads, from its own configuration (every file with messages).
    with (ROOT / "web" / "dashboard" / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options = parse_mapping_cfg(config)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
                "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}  # fmt: skip
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and not m.fuzzy and all(m.string if isinstance(m.string, tuple) else [m.string])
    }
    assert found, "no messages extracted"
    assert sorted(found - translated) == []
    assert sorted(translated - found) == []  # no stale entries either
