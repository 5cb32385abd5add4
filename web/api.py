"""The JSON API, version 1 (see /api/v1/openapi.json)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from acceptance.engine.git_source import validate_ref, validate_source
from acceptance.engine.source_policy import check_public_source
from acceptance.errors import PlatformError
from acceptance.service.access import Forbidden, NotFound, get_opportunity, get_run, get_submission
from acceptance.service.decisions import current_decision, submission_state
from acceptance.service.forge.credentials import forge_json, parse_forge, store_forge
from acceptance.service.forge.delivery import attempts_json
from acceptance.service.models import Opportunity, Role, Run, SpecVersion, Submission, User
from acceptance.service.opportunities import (
    SpecUpload,
    close_opportunity,
    current_spec,
    publish_spec,
    register_submission,
)
from acceptance.service.runs import create_run, run_to_json
from acceptance.service.runs_export import MAX_EXPORT_RUNS, export_rows, to_csv
from web.api_auth import authenticated
from web.api_errors import API_ERROR_HANDLERS, ApiError
from web.api_paging import page
from web.links import base_url

api = Blueprint("api", __name__, url_prefix="/api/v1")
for _error, _handler in API_ERROR_HANDLERS.items():
    api.register_error_handler(_error, _handler)

#: the longest ref a run records (runs.ref)
MAX_REF_CHARS = 255
RUN_FILTERS = ("opportunity", "submission", "supplier", "verdict", "status")


def _services() -> Any:
    from web.app import services

    return services()


def _base_url() -> str:
    return base_url()


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            400, "invalid_json", "send a JSON object with Content-Type: application/json"
        )
    return body


def _string_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "invalid_input", f"{name}: a non-empty string is required")
    return value.strip()


# ---------------------------------------------------------------- opportunities


def _upload(previous: SpecVersion | None = None) -> SpecUpload:
    """The multipart upload; `keep_hidden_tests=true` reuses `previous`'s hidden tests."""
    spec = request.files.get("spec")
    if spec is None:
        raise ApiError(
            422,
            "invalid_input",
            "spec: upload the acceptance spec as a multipart file field `spec`",
        )
    archive = request.files.get("hidden_tests")
    keep = request.form.get("keep_hidden_tests", "false").strip().lower()
    if keep not in ("true", "false"):
        raise ApiError(422, "invalid_input", "keep_hidden_tests: `true` or `false`")
    if keep == "false":
        return SpecUpload(spec=spec.read(), hidden_archive=archive.read() if archive else None)
    if previous is None:
        raise ApiError(
            422, "invalid_input",
            "keep_hidden_tests: only a new version of an existing opportunity can keep hidden tests "
            "(POST /api/v1/opportunities/<id>/specs)",
        )  # fmt: skip
    if archive is not None:
        raise ApiError(
            422, "invalid_input",
            "send either a `hidden_tests` archive or keep_hidden_tests=true, not both",
        )  # fmt: skip
    if previous.hidden_archive_sha256 is None:
        raise ApiError(
            422, "invalid_input",
            f"keep_hidden_tests: spec version {previous.version} has no hidden tests to keep; "
            "upload them as `hidden_tests`",
        )  # fmt: skip
    kept = _services().store.get(previous.hidden_archive_sha256)
    if kept is None:
        raise PlatformError(
            f"the hidden tests of spec version {previous.version} are missing from the artifact store"
        )
    return SpecUpload(
        spec=spec.read(), hidden_archive=kept, hidden_tests_kept_from=previous.version
    )


def _opportunity_json(opportunity: Opportunity) -> dict[str, Any]:
    spec = current_spec(opportunity)
    return {
        "id": opportunity.id,
        "title": opportunity.title,
        "owner": opportunity.owner.email,
        "created_at": _iso(opportunity.created_at),
        "closed_at": _iso(opportunity.closed_at),
        "spec_version": spec.version,
        "spec_sha256": spec.spec_sha256,
        "hidden_tests_sha256": spec.hidden_tests_sha256,
        "hidden_tests_files": spec.hidden_files,
        "specs": [_spec_json(s) for s in opportunity.specs],
    }


def _spec_json(spec: SpecVersion) -> dict[str, Any]:
    return {
        "id": spec.id,
        "version": spec.version,
        "title": spec.title,
        "spec_sha256": spec.spec_sha256,
        "hidden_tests_sha256": spec.hidden_tests_sha256,
        "created_at": _iso(spec.created_at),
    }


@api.post("/opportunities")
@authenticated
def create_opportunity() -> Any:
    upload = _upload()
    version = publish_spec(g.db, g.user, upload, _services().settings.specs_dir)
    _keep_archive(upload)
    return jsonify(_opportunity_json(version.opportunity)), 201


def _keep_archive(upload: SpecUpload) -> None:
    # Workers on other hosts rebuild the spec folder from this (acceptance.service.specfiles).
    if upload.hidden_archive is not None:
        _services().store.put(upload.hidden_archive)


@api.post("/opportunities/<opportunity_id>/specs")
@authenticated
def new_spec_version(opportunity_id: str) -> Any:
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    upload = _upload(current_spec(opportunity))
    version = publish_spec(g.db, g.user, upload, _services().settings.specs_dir, opportunity)
    _keep_archive(upload)
    g.db.refresh(opportunity)
    return jsonify({**_opportunity_json(opportunity), "new_version": _spec_json(version)}), 201


@api.post("/opportunities/<opportunity_id>/close")
@authenticated
def close_opportunity_route(opportunity_id: str) -> Any:
    """Close the opportunity (owner or admin): no new submission, run or spec version."""
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    close_opportunity(g.db, g.user, opportunity)
    return jsonify(_opportunity_json(opportunity))


@api.get("/opportunities")
@authenticated
def list_opportunities() -> Any:
    query = select(Opportunity)
    if g.user.role == Role.OWNER.value:
        query = query.where(Opportunity.owner_id == g.user.id)
    items, next_cursor = page(g.db, query, Opportunity.created_at, Opportunity.id)
    return jsonify(items=[_opportunity_json(o) for o in items], next=next_cursor)


@api.get("/opportunities/<opportunity_id>")
@authenticated
def show_opportunity(opportunity_id: str) -> Any:
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    body = _opportunity_json(opportunity)
    body["submissions"] = [submission_json(s) for s in opportunity.submissions]
    return jsonify(body)


@api.get("/opportunities/<opportunity_id>/specs/<int:version>")
@authenticated
def show_spec(opportunity_id: str, version: int) -> Any:
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    found = next((s for s in opportunity.specs if s.version == version), None)
    if found is None:
        raise NotFound(f"no spec version {version}")
    return Response(found.spec_yaml, mimetype="text/plain")


# ---------------------------------------------------------------- submissions


def submission_json(submission: Submission) -> dict[str, Any]:
    base = _base_url()
    standing = submission_state(g.db, submission)
    return {
        "id": submission.id,
        "opportunity": submission.opportunity_id,
        "supplier": submission.supplier,
        "repo_url": submission.repo_url,
        "branch": submission.branch,
        "webhook_url": f"{base}/hooks/{submission.id}",
        "status_url": f"{base}/status/{submission.status_token}",
        "created_at": _iso(submission.created_at),
        "state": standing.state.value,
        "accepted_run_id": standing.accepted_run_id,
        "withdrawn_at": _iso(submission.withdrawn_at),
        "contact_email": submission.contact_email,
        "language": submission.language,
        # kind, API URL and repository only: the token is never shown again
        "forge": forge_json(submission),
    }


@api.post("/opportunities/<opportunity_id>/submissions")
@authenticated
def create_submission(opportunity_id: str) -> Any:
    body = _json_body()
    repo_url = _string_field(body, "repo_url")
    supplier = _string_field(body, "supplier")
    branch = _string_field(body, "branch", required=False)
    assert repo_url is not None and supplier is not None
    settings = _services().settings
    normalised = validate_source(
        repo_url, allow_local=False, allowed_hosts=settings.git_allowed_hosts
    )
    if settings.git_allowed_hosts is None:
        check_public_source(normalised)
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    forge = body.get("forge")
    credentials = (
        parse_forge(forge, normalised, settings.git_allowed_hosts) if forge is not None else None
    )
    submission, secret = register_submission(
        g.db, g.user, opportunity, repo_url=normalised, supplier=supplier, branch=branch,
        box=_services().box, contact_email=body.get("contact_email"), language=body.get("language"),
    )  # fmt: skip
    if credentials is not None:
        store_forge(submission, credentials, _services().box)
    return jsonify({**submission_json(submission), "webhook_secret": secret}), 201


@api.put("/submissions/<submission_id>/forge")
@authenticated
def set_forge(submission_id: str) -> Any:
    """Set (or replace) where the submission's runs send commit statuses; the token is sealed."""
    submission = _managed_submission(submission_id)
    credentials = parse_forge(
        _json_body(), submission.repo_url, _services().settings.git_allowed_hosts
    )
    store_forge(submission, credentials, _services().box)
    return jsonify(submission_json(submission))


@api.delete("/submissions/<submission_id>/forge")
@authenticated
def remove_forge(submission_id: str) -> Any:
    """Stop sending commit statuses for the submission; its token is deleted."""
    submission = _managed_submission(submission_id)
    store_forge(submission, None, _services().box)
    return jsonify(submission_json(submission))


def _managed_submission(submission_id: str) -> Submission:
    """The submission, if the user is its opportunity's owner or an admin (403 otherwise)."""
    submission = get_submission(g.db, g.user, submission_id)
    if not (g.user.role == Role.ADMIN.value or submission.opportunity.owner_id == g.user.id):
        raise Forbidden("only the opportunity's owner may change the submission's forge")
    return submission


@api.get("/submissions/<submission_id>")
@authenticated
def show_submission(submission_id: str) -> Any:
    return jsonify(submission_json(get_submission(g.db, g.user, submission_id)))


@api.post("/submissions/<submission_id>/runs")
@authenticated
def start_run(submission_id: str) -> Any:
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", 'send a JSON object such as {"ref": "main"}')
    ref = _string_field(body, "ref", required=False)
    if ref is not None:
        validate_ref(ref)  # the one grammar of refs the checkout accepts: a clear 422 now
        if len(ref) > MAX_REF_CHARS:
            raise ApiError(422, "invalid_input", f"ref: at most {MAX_REF_CHARS} characters")
    submission = get_submission(g.db, g.user, submission_id)
    if g.user.role not in (Role.ADMIN.value, Role.OWNER.value) or not (
        g.user.role == Role.ADMIN.value or submission.opportunity.owner_id == g.user.id
    ):
        raise Forbidden("only the opportunity's owner may start runs")
    run, _ = create_run(
        g.db, submission, trigger="manual", ref=ref or submission.branch, requested_by=g.user
    )
    timeout = run.spec_version.run_timeout
    g.after_commit.append(functools.partial(_services().enqueue, run.id, timeout))
    return jsonify(run_to_json(run, _base_url())), 201


# ---------------------------------------------------------------- runs


@api.get("/runs/<run_id>")
@authenticated
def show_run(run_id: str) -> Any:
    run = get_run(g.db, g.user, run_id)
    # The commit status on the submission's forge and every attempt (None: no forge, nothing sent).
    return jsonify({**_with_decisions([run])[0], "forge_status": attempts_json(g.db, run.id)})


@api.get("/runs/<run_id>/report")
@authenticated
def run_report(run_id: str) -> Any:
    run = get_run(g.db, g.user, run_id)
    if not run.report_sha256:
        raise ApiError(404, "not_found", f"run {run_id} has no report yet (status {run.status})")
    data = _services().store.get(run.report_sha256)
    if data is None:
        raise PlatformError(f"the report of run {run_id} is missing from the artifact store")
    return Response(data, mimetype="application/json")


@api.get("/runs/<run_id>/artifacts/<path:name>")
@authenticated
def run_artifact(run_id: str, name: str) -> Any:
    run = get_run(g.db, g.user, run_id)
    key = run.artifacts.get(name)
    if not isinstance(key, str):
        raise NotFound(f"run {run_id} has no artifact {name!r}")
    data = _services().store.get(key)
    if data is None:
        raise PlatformError(f"artifact {name!r} is missing from the artifact store")
    # Supplier-controlled bytes: never rendered by the browser.
    mimetype = "application/json" if name.endswith(".json") else "text/plain"
    if name.endswith((".xml", ".sarif")):
        mimetype = "application/octet-stream"
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = "attachment"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@api.get("/runs")
@authenticated
def list_runs() -> Any:
    query = _runs_query(extra_args=("cursor", "limit"))
    # Each item names its supplier and spec version: load them for the whole page in
    # two queries, not two per run.
    query = query.options(selectinload(Run.submission), selectinload(Run.spec_version))
    items, next_cursor = page(g.db, query, Run.queued_at, Run.id)
    return jsonify(items=_with_decisions(items), next=next_cursor)


@api.get("/runs.csv")
@authenticated
def export_runs() -> Any:
    """The runs list's filters, every matching run with its decisions, as CSV (no paging)."""
    query = _runs_query(extra_args=())
    count = g.db.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count > MAX_EXPORT_RUNS:
        raise ApiError(
            422, "too_many_runs",
            f"{count} runs match; an export holds at most {MAX_EXPORT_RUNS}: narrow the filters",
        )  # fmt: skip
    runs = list(g.db.scalars(query.order_by(Run.queued_at.desc(), Run.id.desc())))
    return csv_download(to_csv(export_rows(g.db, runs)))


def csv_download(text: str) -> Response:
    """A CSV attachment (UTF-8 with a byte-order mark, so spreadsheets read accents right)."""
    response = Response("\ufeff" + text, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="runs.csv"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _runs_query(extra_args: tuple[str, ...]) -> Any:
    """The runs the user may read, filtered by RUN_FILTERS from the query string."""
    query = select(Run).join(Submission).join(Opportunity)
    if g.user.role == Role.OWNER.value:
        query = query.where(Opportunity.owner_id == g.user.id)
    args = request.args
    unknown = sorted(set(args) - {*RUN_FILTERS, *extra_args})
    if unknown:
        raise ApiError(
            422,
            "invalid_input",
            f"unknown filter(s): {', '.join(unknown)}; use {', '.join(RUN_FILTERS)}",
        )
    if args.get("opportunity"):
        query = query.where(Submission.opportunity_id == args["opportunity"])
    if args.get("submission"):
        query = query.where(Run.submission_id == args["submission"])
    if args.get("supplier"):
        query = query.where(Submission.supplier == args["supplier"])
    if args.get("verdict"):
        query = query.where(Run.verdict == args["verdict"])
    if args.get("status"):
        query = query.where(Run.status == args["status"])
    return query


def _with_decisions(runs: list[Run]) -> list[dict[str, Any]]:
    """Runs as JSON, each with its decision in force and its submission's state."""
    base = _base_url()
    states = {r.submission_id: submission_state(g.db, r.submission) for r in runs}
    items = []
    for run in runs:
        decision = current_decision(g.db, run.id)
        standing = states[run.submission_id]
        items.append({
            **run_to_json(run, base),
            "decision": decision.decision if decision else None,
            "decision_id": decision.id if decision else None,
            "submission_state": standing.state.value,
            "accepted_delivery": standing.accepted_run_id == run.id,
        })  # fmt: skip
    return items


# ---------------------------------------------------------------- keys and the API document


@api.get("/keys")
def keys() -> Any:
    # The current key first, then retired ones, so reports signed before a rotation still verify.
    from acceptance.engine.keyring import public_keys

    return jsonify(keys=public_keys(_services().settings))


@api.get("/openapi.json")
def openapi() -> Any:
    from web.openapi import document

    # Without a public URL, a server relative to where the document is served: it needs
    # no Host header, so any client (behind any proxy) can read it.
    return jsonify(document(_services().settings.public_url or "/"))


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


__all__ = ["api", "User"]
