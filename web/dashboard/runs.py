"""The runs list, a run's report page, its downloads, live progress and re-runs."""

from __future__ import annotations

import functools
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from sqlalchemy import func, select
from werkzeug.wrappers import Response as WerkzeugResponse

from acceptance.engine.keyring import public_keys
from acceptance.errors import PlatformError
from acceptance.service.access import Forbidden, can_manage, get_run
from acceptance.service.forge.credentials import forge_json
from acceptance.service.forge.delivery import attempts_json
from acceptance.service.models import Run
from acceptance.service.runs import create_run
from acceptance.service.runs_export import MAX_EXPORT_RUNS, export_rows, to_csv
from web.api import csv_download
from web.dashboard.auth import signed_in, signed_in_json
from web.dashboard.errors import error_page, install_error_pages
from web.dashboard.forms import ActionForm
from web.dashboard.i18n import number
from web.dashboard.presenting import live_entry
from web.dashboard.queries import (
    VERDICT_FILTERS,
    parse_filters,
    readable_opportunities,
    readable_suppliers,
    reruns_of,
    runs_by_id,
    runs_page,
    runs_query,
)
from web.dashboard.reportview import (
    LOG_PREFIX,
    REPORT_NAME,
    load_report,
    log_names,
    other_artifacts,
)
from web.dashboard.text import tail

runs = Blueprint("runs", __name__)
install_error_pages(runs)

#: the forges' own names (not translated)
FORGE_NAMES = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea/Forgejo"}
#: most runs one live-update request asks about (a page of the list)
MAX_LIVE_IDS = 100
_KEY_HEX = re.compile(r"[0-9a-f]{64}")
#: downloads are files, never pages: no scripts, no sniffing, no framing
DOWNLOAD_CSP = "default-src 'none'; sandbox"


def _services() -> Any:
    from web.app import services

    return services()


@runs.get("/")
def home() -> WerkzeugResponse:
    """The runs are the dashboard's first page."""
    return redirect(url_for("runs.index"), code=302)


@runs.get("/runs")
@signed_in
def index() -> Any:
    """The latest runs the user may read, filtered and paged."""
    filters, errors = parse_filters(request.args)
    config = current_app.config
    page = runs_page(
        g.db, g.user, filters, config["DASHBOARD_TIMEZONE"], config["DASHBOARD_PAGE_SIZE"]
    )
    return render_template(
        "dashboard/runs.html",
        page=page,
        filters=filters,
        errors=errors,
        opportunities=readable_opportunities(g.db, g.user),
        suppliers=readable_suppliers(g.db, g.user),
        verdicts=VERDICT_FILTERS,
    ), (422 if errors else 200)


@runs.get("/runs.csv")
@signed_in
def export() -> Any:
    """The runs the list shows with these filters (every page) and their decisions, as CSV."""
    filters, errors = parse_filters(request.args)
    if errors:
        return error_page(
            422,
            gettext("The filters could not be read"),
            gettext("Correct them on the runs page, then export again."),
        )
    query = runs_query(g.user, filters, current_app.config["DASHBOARD_TIMEZONE"])
    if (g.db.scalar(select(func.count()).select_from(query.subquery())) or 0) > MAX_EXPORT_RUNS:
        return error_page(
            422,
            gettext("Too many runs to export"),
            gettext(
                "More than %(count)s runs match: narrow the filters (dates, opportunity) and export again.",
                count=number(MAX_EXPORT_RUNS),
            ),
        )
    found = list(g.db.scalars(query.order_by(Run.queued_at.desc(), Run.id.desc())))
    return csv_download(to_csv(export_rows(g.db, found)))


@runs.get("/runs/live")
@signed_in_json
def live() -> Any:
    """The state of the given runs, for the script that keeps a page current."""
    ids = [i for i in request.args.getlist("id") if i][:MAX_LIVE_IDS]
    response = jsonify(runs=[live_entry(r) for r in runs_by_id(g.db, g.user, ids)])
    response.headers["Cache-Control"] = "no-store"
    return response


@runs.get("/runs/<run_id>")
@signed_in
def show(run_id: str) -> Any:
    """A run's report: verdict, evidence, logs, downloads and re-runs."""
    run = get_run(g.db, g.user, run_id)
    found = _services()
    keys = public_keys(found.settings)
    report = load_report(found.store, run, keys)
    logs = []
    for stage in log_names(run):
        data = found.store.get(run.artifacts[f"{LOG_PREFIX}{stage}.log"])
        text = data.decode("utf-8", errors="replace") if data is not None else ""
        logs.append((stage, tail(text), data is not None))
    key_hex = (run.key_id or "").removeprefix("sha256:")
    return render_template(
        "dashboard/run.html",
        run=run,
        report=report,
        logs=logs,
        files=other_artifacts(run),
        reruns=reruns_of(g.db, run),
        may_manage=can_manage(g.user, run.submission.opportunity),
        action_form=ActionForm(),
        key_hex=key_hex if _KEY_HEX.fullmatch(key_hex) else None,
        report_file=report_filename(run.id),
        key_file=key_filename(key_hex),
        # the commit status on the submission's forge and every attempt (None: nothing sent)
        forge=attempts_json(g.db, run.id),
        forge_target=forge_json(run.submission),
        FORGE_NAMES=FORGE_NAMES,
    )


def report_filename(run_id: str) -> str:
    """The file name a run's signed report downloads as."""
    return f"report-{run_id}.dsse.json"


def key_filename(key_hex: str) -> str:
    """The file name a public key downloads as."""
    return f"acceptance-{key_hex[:16]}.pub"


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _stored(key: str | None, what: str) -> bytes:
    if not key:
        abort(404)
    data: bytes | None = _services().store.get(key)
    if data is None:
        raise PlatformError(f"{what} is missing from the artifact store")
    return data


@runs.get("/runs/<run_id>/report.dsse.json")
@signed_in
def download_report(run_id: str) -> Response:
    """The signed report (DSSE envelope) exactly as stored."""
    run = get_run(g.db, g.user, run_id)
    data = _stored(run.report_sha256, "the signed report")
    return _download(data, "application/json", report_filename(run.id))


@runs.get("/runs/<run_id>/logs/<stage>.log")
@signed_in
def download_log(run_id: str, stage: str) -> Response:
    """A stage's whole log, raw, as plain text."""
    run = get_run(g.db, g.user, run_id)
    data = _stored(run.artifacts.get(f"{LOG_PREFIX}{stage}.log"), "the log")
    # The raw bytes, as the sandbox wrote them: plain text the browser must not interpret.
    return _download(data, "text/plain", f"run-{run.id[:8]}-{_file_part(stage)}.log")


@runs.get("/runs/<run_id>/files/<path:name>")
@signed_in
def download_file(run_id: str, name: str) -> Response:
    """A file a check produced (JUnit XML, SARIF, SBOM...)."""
    run = get_run(g.db, g.user, run_id)
    if name == REPORT_NAME or name.startswith(LOG_PREFIX):
        abort(404)
    data = _stored(run.artifacts.get(name), "the file")
    mimetype = "application/json" if name.endswith(".json") else "application/octet-stream"
    return _download(data, mimetype, _file_part(name))


@runs.get("/keys/<key_hex>.pub")
def download_key(key_hex: str) -> Response:
    """A public key reports are signed with (public: no sign-in needed)."""
    wanted = f"sha256:{key_hex}"
    for entry in public_keys(_services().settings):
        if entry["keyid"] == wanted:
            return _download(entry["pem"].encode("ascii"), "text/plain", key_filename(key_hex))
    abort(404)


@runs.post("/runs/<run_id>/rerun")
@signed_in
def rerun(run_id: str) -> WerkzeugResponse:
    """Run the same commit again against the current spec.

    The new run supersedes this one when this one ended and was judged against the
    current spec version (else the latest such run of the commit, if any).
    """
    run = get_run(g.db, g.user, run_id)
    submission = run.submission
    if not can_manage(g.user, submission.opportunity):
        raise Forbidden("only the opportunity's owner may start runs")
    if submission.opportunity.closed_at is not None:
        flash(gettext("This opportunity is closed: it takes no new runs."), "error")
        return redirect(url_for("runs.show", run_id=run.id), code=303)
    new, _ = create_run(
        g.db,
        submission,
        trigger="manual",
        ref=run.ref or submission.branch,
        commit=run.commit,
        rerun_of=run,
        requested_by=g.user,
    )
    g.after_commit.append(
        functools.partial(_services().enqueue, new.id, new.spec_version.run_timeout)
    )
    flash(gettext("A new run is queued."), "info")
    return redirect(url_for("runs.show", run_id=new.id), code=303)


def _file_part(name: str) -> str:
    """A name safe inside a Content-Disposition header."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name.rsplit("/", 1)[-1])[:100] or "file"
