"""A lockfile's `resolved` URLs against a configured npm registry (issue 16).

The supplier writes the lockfile: a URL that only looks like the engine's registry is
refused before anything is fetched, as it is without a mirror.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.engine.npm_lockfile import NPM_REGISTRY, read_project
from acceptance.errors import SubmissionError
from tests.engine.test_node_runtime import LODASH_4_17_4, project

MIRROR = "https://npm.example.org/mirror/"
#: the default registry's URL without its final `/`
DEFAULT = NPM_REGISTRY.removesuffix("/")


@pytest.mark.parametrize(
    ("resolved", "accepted"),
    [
        (f"{MIRROR}lodash/-/lodash-4.17.4.tgz", True),
        (LODASH_4_17_4["resolved"], True),  # fetched from the mirror (--replace-registry-host)
        (None, True),
        ("https://npm.example.org/other/lodash-4.17.4.tgz", False),
        ("https://npm.example.org/mirrorx/lodash-4.17.4.tgz", False),
        ("https://npm.example.org.evil.example/mirror/lodash.tgz", False),
        ("https://evil.example/lodash-4.17.4.tgz", False),
        ("https://npm.example.org@evil.example/mirror/lodash.tgz", False),
        ("https://npm.example.org\\@evil.example/mirror/lodash.tgz", False),
        ("HTTPS://NPM.EXAMPLE.ORG/mirror/lodash.tgz", False),
        ("http://npm.example.org/mirror/lodash-4.17.4.tgz", False),
        (f"{DEFAULT}.evil.example/lodash.tgz", False),  # the default's host as a prefix
        (f"{DEFAULT}@evil.example/lodash.tgz", False),  # ...as a user name
        ("file:///etc/passwd", False),
        (["https://npm.example.org/mirror/x.tgz"], False),
    ],
)
def test_a_configured_registry_takes_its_own_and_the_default_urls_only(
    tmp_path: Path, resolved: object, accepted: bool
) -> None:
    entry: dict[str, object] = {k: v for k, v in LODASH_4_17_4.items() if k != "resolved"}
    if resolved is not None:
        entry["resolved"] = resolved
    root = project(tmp_path, {"lodash": "4.17.4"}, {"node_modules/lodash": entry})
    if accepted:
        assert len(read_project(root, MIRROR).packages) == 1
        return
    with pytest.raises(SubmissionError) as caught:
        read_project(root, MIRROR)
    assert caught.value.reason == "NPM_SOURCE_REFUSED"
    assert MIRROR in caught.value.message
