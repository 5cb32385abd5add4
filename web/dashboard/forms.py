"""The dashboard's forms: fields, limits and the messages shown beside each field."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import EmailField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs predate it
from wtforms.validators import DataRequired, Length, Optional

from acceptance.engine.spec import MAX_SPEC_BYTES
from acceptance.service.decisions import MAX_REASON_CHARS

#: the hidden-tests archive, as sent (its unpacked size has its own cap)
MAX_ARCHIVE_BYTES = 50 * 1024**2


class SignInForm(FlaskForm):
    """Email address and password."""

    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=320)],
        render_kw={"autocomplete": "username", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=1000)],
        render_kw={"autocomplete": "current-password"},
    )


class SpecForm(FlaskForm):
    """A new opportunity, or a new version of an opportunity's spec."""

    spec = FileField(
        _l("Acceptance spec (YAML)"),
        validators=[
            FileRequired(_l("Choose the acceptance spec file.")),
            FileSize(MAX_SPEC_BYTES, message=_l("The spec file is too large.")),
        ],
        description=_l("The acceptance.yaml file: what is checked and what counts as passing."),
        render_kw={"accept": ".yaml,.yml,application/yaml,text/yaml"},
    )
    hidden_tests = FileField(
        _l("Hidden tests (optional)"),
        validators=[
            Optional(),
            FileSize(MAX_ARCHIVE_BYTES, message=_l("The archive is too large.")),
        ],
        description=_l(
            "A tar.gz or zip archive of the tests the supplier never sees; "
            "the spec names their folder under functional.hidden_tests."
        ),
        render_kw={"accept": ".tar.gz,.tgz,.zip,application/gzip,application/zip"},
    )


class SubmissionForm(FlaskForm):
    """A supplier's repository registered against an opportunity."""

    supplier = StringField(
        _l("Supplier"),
        validators=[DataRequired(_l("Enter the supplier's name.")), Length(max=200)],
        description=_l("The company or person delivering the code."),
        render_kw={"autocomplete": "organization"},
    )
    repo_url = StringField(
        _l("Repository URL"),
        validators=[DataRequired(_l("Enter the repository's https address.")), Length(max=2000)],
        description=_l(
            "The address the repository is cloned from, such as https://host/team/project."
        ),
        render_kw={"inputmode": "url", "spellcheck": "false", "autocomplete": "url"},
    )
    branch = StringField(
        _l("Branch (optional)"),
        validators=[Optional(), Length(max=255)],
        description=_l("Pushes to this branch start runs; empty: the repository's default branch."),
        render_kw={"spellcheck": "false"},
    )
    contact_email = EmailField(
        _l("Contact email (optional)"),
        validators=[Optional(), Length(max=320)],
        description=_l("Run results, decisions and changes of state are emailed to this address."),
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )
    language = SelectField(
        _l("Language of the supplier's emails"),
        choices=[("en", _l("English")), ("fr", _l("French"))],
        default="en",
    )
    # Where each run's verdict goes as a commit status (acceptance.service.forge); a GitHub App: the API.
    forge_kind = SelectField(
        _l("Forge for commit statuses (optional)"),
        choices=[
            ("", _l("None")),
            ("github", "GitHub"),
            ("gitlab", "GitLab"),
            ("gitea", "Gitea / Forgejo"),
        ],
        default="",
        description=_l("Each run then shows its verdict next to the commit, as a commit status."),
    )
    forge_token = PasswordField(
        _l("Forge token"),
        validators=[Optional(), Length(max=4096)],
        description=_l(
            "A token that may write the repository's commit statuses; stored encrypted and never shown again."
        ),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    forge_api_url = StringField(
        _l("Forge API URL (optional)"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Empty: from the repository URL (for GitHub, https://api.github.com)."),
        render_kw={"inputmode": "url", "spellcheck": "false"},
    )
    forge_repository = StringField(
        _l("Repository on the forge (optional)"),
        validators=[Optional(), Length(max=500)],
        description=_l(
            "owner/name (on GitLab, the project's path); empty: from the repository URL."
        ),
        render_kw={"spellcheck": "false"},
    )


class ActionForm(FlaskForm):
    """A button that changes something (sign out, run again): only the CSRF token."""


class DecisionForm(FlaskForm):
    """Accept, ask for changes or reject a finished run."""

    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice("accepted", _l("Accept this delivery")),
            SelectChoice("changes_requested", _l("Ask for changes")),
            SelectChoice("rejected", _l("Reject this delivery")),
        ],
        validators=[DataRequired(_l("Choose a decision."))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[Length(max=MAX_REASON_CHARS, message=_l("The reason is too long."))],
        description=_l(
            "The supplier and the record keep it. Required unless you accept a run the checks accepted."
        ),
    )
