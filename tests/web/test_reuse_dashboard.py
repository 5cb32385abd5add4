"""The run page says when a run's report re-signs another run's evidence (same tree, same inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.service.models import Run
from tests.dashboard_support import OWNER, Service, client_for, html


@pytest.fixture
def service(seeded: Service, tmp_path: Path) -> Service:  # noqa: F811
    return Service(tmp_path / "data", copy_of=seeded)


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "This commit's tree is identical to the one judged in run "),
        ("fr", "L’arborescence de ce commit est identique à celle jugée par l’exécution "),
    ],
)
def test_a_reusing_run_links_the_run_whose_evidence_it_signed_again(
    service: Service, lang: str, said: str
) -> None:
    with service.db.session() as session:
        reusing = session.get(Run, service.ids.rejected)
        assert reusing is not None
        reusing.reused_from_id = service.ids.accepted
    page = html(client_for(service, OWNER, lang), f"/runs/{service.ids.rejected}")
    assert said + service.ids.accepted[:8] in page
    assert f'href="/runs/{service.ids.accepted}"' in page
    # A run judged on its own says nothing of the kind.
    other = html(client_for(service, OWNER, lang), f"/runs/{service.ids.accepted}")
    assert said not in other
