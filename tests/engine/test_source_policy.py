"""Without an allow-list, only https to public addresses (no SSRF into the host's network)."""

from __future__ import annotations

import pytest

from acceptance.engine.source_policy import check_public_source
from acceptance.errors import UserInputError


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.org/repo.git", "only https"),
        ("git://example.org/repo.git", "only https"),
        ("https://127.0.0.1/repo.git", "not a public address"),
        ("https://localhost/repo.git", "not a public address"),
        ("https://10.0.0.8/repo.git", "not a public address"),
        ("https://192.168.1.1/repo.git", "not a public address"),
        ("https://169.254.169.254/latest/meta-data", "not a public address"),
        ("https://[::1]/repo.git", "not a public address"),
        ("https://[fd00::1]/repo.git", "not a public address"),
        ("https://0.0.0.0/repo.git", "not a public address"),
        ("https://100.64.0.1/repo.git", "not a public address"),
        ("https:///repo.git", "no host"),
        ("https://example.org:99999/repo.git", "malformed"),
    ],
)
def test_internal_and_plain_sources_are_refused(url: str, why: str) -> None:
    with pytest.raises(UserInputError, match=why) as info:
        check_public_source(url)
    assert "ACCEPTANCE_GIT_ALLOWED_HOSTS" in (info.value.hint or "")


def test_public_address_literal_is_allowed() -> None:
    check_public_source("https://93.184.215.14/repo.git")  # a literal: no lookup needed
    check_public_source("https://[2606:4700::1111]/repo.git")


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(UserInputError, match="cannot be resolved"):
        check_public_source("https://no-such-host.invalid/repo.git")
