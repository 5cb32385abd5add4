"""Opportunities: their specs and what changed, submissions and runs; owners publish and register."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext
from werkzeug.datastructures import FileStorage

from acceptance.engine.archive_rules import ArchiveError
from acceptance.engine.git_source import validate_source
from acceptance.engine.source_policy import check_public_source
from acceptance.engine.spec import SpecError
from acceptance.errors import UserInputError
from acceptance.service.access import Forbidden, can_manage, get_opportunity
from acceptance.service.forge.credentials import ForgeCredentials, parse_forge, store_forge
from acceptance.service.models import Opportunity, Role, User
from acceptance.service.opportunities import (
    SpecUpload,
    close_opportunity,
    current_spec,
    publish_spec,
    register_submission,
)
from web.dashboard.auth import signed_in
from web.dashboard.errors import error_page, install_error_pages
from web.dashboard.forms import ActionForm, SpecForm, SubmissionForm
from web.dashboard.queries import opportunity_runs, readable_opportunities
from web.dashboard.specdiff import changes
from web.links import base_url

opportunities = Blueprint("opportunities", __name__)
install_error_pages(opportunities)


def _services() -> Any:
    from web.app import services

    return services()


def _base_url() -> str:
    return base_url()


def closed_page() -> Any:
    """What a form of a closed opportunity answers, in the reader's language."""
    return error_page(
        409,
        gettext("This opportunity is closed"),
        gettext(
            "It takes no new submissions, runs or spec versions. Its runs and decisions stay readable."
        ),
    )


def may_publish(user: User) -> bool:
    """Owners and admins publish opportunities."""
    return user.role in (Role.ADMIN.value, Role.OWNER.value)


@opportunities.get("/opportunities")
@signed_in
def index() -> Any:
    """The opportunities the user may read."""
    return render_template(
        "dashboard/opportunities.html",
        opportunities=readable_opportunities(g.db, g.user),
        may_publish=may_publish(g.user),
    )


@opportunities.get("/opportunities/<opportunity_id>")
@signed_in
def show(opportunity_id: str) -> Any:
    """An opportunity: its spec and versions, submissions and runs."""
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    return render_template(
        "dashboard/opportunity.html",
        opportunity=opportunity,
        spec=current_spec(opportunity),
        versions=sorted(opportunity.specs, key=lambda v: v.version, reverse=True),
        changes=changes(list(opportunity.specs)),
        runs=opportunity_runs(g.db, opportunity),
        may_manage=can_manage(g.user, opportunity),
        base_url=_base_url(),
        action_form=ActionForm(),
    )


@opportunities.post("/opportunities/<opportunity_id>/close")
@signed_in
def close(opportunity_id: str) -> Any:
    """Close the opportunity (owner, admin): the intake ends, the review goes on."""
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    if not can_manage(g.user, opportunity):
        raise Forbidden("only the opportunity's owner or an admin may close it")
    if opportunity.closed_at is not None:
        flash(gettext("This opportunity was already closed."), "error")
    else:
        close_opportunity(g.db, g.user, opportunity)
        flash(gettext("The opportunity is closed."), "info")
    return redirect(url_for("opportunities.show", opportunity_id=opportunity.id), code=303)


@opportunities.get("/opportunities/<opportunity_id>/specs/<int:version>")
@signed_in
def spec_version(opportunity_id: str, version: int) -> Any:
    """One spec version and what changed from the one before."""
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    found = next((s for s in opportunity.specs if s.version == version), None)
    if found is None:
        return render_template("dashboard/error.html", title=gettext("Page not found"),
                               message=gettext("This opportunity has no such spec version.")), 404  # fmt: skip
    return render_template(
        "dashboard/spec_version.html",
        opportunity=opportunity,
        spec=found,
        change=changes(list(opportunity.specs)).get(version),
        is_current=found.id == current_spec(opportunity).id,
    )


# ---------------------------------------------------------------- publishing


@opportunities.route("/opportunities/new", methods=["GET", "POST"])
@signed_in
def new() -> Any:
    """Publish a new opportunity from a spec (and hidden tests)."""
    if not may_publish(g.user):
        raise Forbidden("only owners and admins publish acceptance specs")
    return _publish(None)


@opportunities.route("/opportunities/<opportunity_id>/specs/new", methods=["GET", "POST"])
@signed_in
def new_version(opportunity_id: str) -> Any:
    """Publish a new version of an opportunity's spec."""
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    if not can_manage(g.user, opportunity):
        raise Forbidden("only the opportunity's owner may publish a new spec version")
    if opportunity.closed_at is not None:
        return closed_page()
    return _publish(opportunity)


def _publish(opportunity: Opportunity | None) -> Any:
    form = SpecForm()
    details: dict[str, list[str]] = {}
    if form.validate_on_submit():
        spec_file: FileStorage = form.spec.data
        archive: FileStorage | None = form.hidden_tests.data or None
        upload = SpecUpload(
            spec=spec_file.read(), hidden_archive=archive.read() if archive else None
        )
        try:
            # A savepoint: a refused upload leaves nothing behind in this transaction.
            with g.db.begin_nested():
                version = publish_spec(
                    g.db, g.user, upload, _services().settings.specs_dir, opportunity
                )
        except SpecError as exc:
            form.spec.errors = [gettext("The spec was not published: fix these problems.")]
            details["spec"] = list(exc.problems)
        except ArchiveError as exc:
            form.hidden_tests.errors = [gettext("The hidden tests archive cannot be used.")]
            details["hidden_tests"] = [exc.diagnostics()]
        except Forbidden:
            raise
        except UserInputError as exc:
            form.spec.errors = [gettext("The spec was not published.")]
            details["spec"] = [exc.diagnostics()]
        else:
            flash(
                gettext("Version %(number)s of the spec is published.", number=version.version),
                "info",
            )
            return redirect(
                url_for("opportunities.show", opportunity_id=version.opportunity_id), code=303
            )
    status = 422 if form.errors or details else 200
    return render_template(
        "dashboard/spec_form.html", form=form, details=details, opportunity=opportunity
    ), status


# ---------------------------------------------------------------- submissions


def _forge(
    form: SubmissionForm,
    repo_url: str,
    allowed_hosts: frozenset[str] | None,
    details: dict[str, list[str]],
) -> ForgeCredentials | None:
    """The form's forge, checked (None without one); a problem goes on the field it is about."""
    if not form.forge_kind.data:
        return None
    given = {
        "kind": form.forge_kind.data, "token": form.forge_token.data or None,
        "api_url": form.forge_api_url.data or None, "repository": form.forge_repository.data or None,
    }  # fmt: skip
    try:
        return parse_forge(
            {k: v for k, v in given.items() if v is not None}, repo_url, allowed_hosts
        )
    except UserInputError as exc:
        field = next(
            (name for prefix, name in _FORGE_FIELDS if exc.message.startswith(prefix)), "forge_kind"
        )
        form[field].errors = [gettext("Check this field.")]
        details[field] = [exc.diagnostics()]
        return None


#: which form field a forge problem is about, by the start of its message
_FORGE_FIELDS = (
    ("forge.token", "forge_token"), ("forge.api_url", "forge_api_url"),
    ("forge.repository", "forge_repository"),
)  # fmt: skip


@opportunities.route("/opportunities/<opportunity_id>/submissions/new", methods=["GET", "POST"])
@signed_in
def new_submission(opportunity_id: str) -> Any:
    """Register a supplier's repository; the webhook secret is shown once, here."""
    opportunity = get_opportunity(g.db, g.user, opportunity_id)
    if not can_manage(g.user, opportunity):
        raise Forbidden("only the opportunity's owner may register submissions")
    if opportunity.closed_at is not None:
        return closed_page()
    form = SubmissionForm()
    details: dict[str, list[str]] = {}
    if form.validate_on_submit():
        settings = _services().settings
        repo_url = (form.repo_url.data or "").strip()
        branch = (form.branch.data or "").strip() or None
        try:
            repo_url = validate_source(
                repo_url, allow_local=False, allowed_hosts=settings.git_allowed_hosts
            )
            if settings.git_allowed_hosts is None:
                check_public_source(repo_url)
        except UserInputError as exc:
            form.repo_url.errors = [gettext("This repository address cannot be used.")]
            details["repo_url"] = [exc.diagnostics()]
        forge = _forge(form, repo_url, settings.git_allowed_hosts, details) if not details else None
        if not details:
            try:
                with g.db.begin_nested():
                    submission, secret = register_submission(
                        g.db, g.user, opportunity, repo_url=repo_url,
                        supplier=form.supplier.data or "", branch=branch, box=_services().box,
                        contact_email=form.contact_email.data, language=form.language.data,
                    )  # fmt: skip
                    if forge is not None:
                        store_forge(submission, forge, _services().box)
            except Forbidden:
                raise
            except UserInputError as exc:
                if exc.message.startswith("contact_email"):
                    form.contact_email.errors = [
                        gettext("Enter one email address, such as bids@supplier.example.")
                    ]
                else:
                    field = "branch" if exc.message.startswith("branch") else "supplier"
                    form[field].errors = [gettext("Check this field.")]
                    details[field] = [exc.message]
            else:
                base = _base_url()
                page = render_template(
                    "dashboard/submission_created.html",
                    opportunity=opportunity,
                    submission=submission,
                    secret=secret,
                    webhook_url=f"{base}/hooks/{submission.id}",
                    status_url=f"{base}/status/{submission.status_token}",
                )
                # The secret is shown once: never kept by a cache or the back button.
                return page, 201, {"Cache-Control": "no-store"}
    status = 422 if form.errors or details else 200
    return render_template(
        "dashboard/submission_form.html", form=form, details=details, opportunity=opportunity
    ), status
