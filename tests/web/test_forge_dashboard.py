"""The dashboard's submission form takes a forge for commit statuses: the token is sealed and never
shown, the API URL and repository default from the repository URL, and a bad forge is a 422 form that
says which field is wrong (English and French)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.service.models import Submission
from acceptance.service.secretbox import SecretBox
from tests.dashboard_support import OWNER, Service, client_for, csrf_token

TOKEN = "glpat-forge-token-0123456789"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Service:
    return Service(tmp_path_factory.mktemp("seeded") / "data")


@pytest.fixture
def service(seeded: Service, tmp_path: Path) -> Service:
    return Service(tmp_path / "data", copy_of=seeded)


def test_a_submission_registered_with_a_forge_keeps_its_token_sealed(service: Service) -> None:
    client = client_for(service, OWNER)
    url = f"/opportunities/{service.ids.opportunity}/submissions/new"
    token = csrf_token(client, url)
    form = {"csrf_token": token, "supplier": "ACME", "repo_url": "https://gitlab.com/acme/site"}
    missing = client.post(url, data={**form, "forge_kind": "gitlab"})
    page = missing.get_data(as_text=True)
    assert missing.status_code == 422 and 'id="forge_token-error"' in page and "forge.token" in page
    made = client.post(url, data={**form, "forge_kind": "gitlab", "forge_token": TOKEN})
    assert made.status_code == 201, made.get_data(as_text=True)[:2000]
    assert TOKEN not in made.get_data(as_text=True)
    with service.db.session() as session:
        found = session.query(Submission).filter_by(supplier="ACME").one()
        assert (found.forge_kind, found.forge_api_url, found.forge_repository) == (
            "gitlab",
            "https://gitlab.com/api/v4",
            "acme/site",
        )
        assert found.forge_token_encrypted is not None
        assert SecretBox(service.settings.secrets_key).open(found.forge_token_encrypted) == TOKEN
    none = client.post(url, data={**form, "supplier": "No forge Ltd", "forge_kind": ""})
    assert none.status_code == 201
    with service.db.session() as session:
        assert session.query(Submission).filter_by(supplier="No forge Ltd").one().forge_kind is None


def test_an_internal_forge_is_refused_on_its_field_in_french(service: Service) -> None:
    client = client_for(service, OWNER)
    client.set_cookie("acceptance_lang", "fr")
    url = f"/opportunities/{service.ids.opportunity}/submissions/new"
    form = {"csrf_token": csrf_token(client, url), "supplier": "ACME", "repo_url": "https://gitlab.com/acme/site",
            "forge_kind": "gitlab", "forge_token": TOKEN, "forge_api_url": "https://10.0.0.5/api/v4"}  # fmt: skip
    refused = client.post(url, data=form)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="forge_api_url-error"' in page
    assert "Forge pour les statuts de commit (facultatif)" in page and "Vérifiez ce champ" in page
