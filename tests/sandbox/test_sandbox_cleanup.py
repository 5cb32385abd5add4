"""A sandbox that fails to start leaves no container behind (real Docker)."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from sandbox.docker import LABEL, OWNER_LABEL, DockerSandbox, owner_label
from sandbox.interface import SandboxConfig, SandboxError

pytestmark = pytest.mark.docker


def _exists(engine: Any, name: str) -> bool:
    try:
        engine.containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


def test_a_sandbox_whose_start_fails_after_create_is_removed(
    docker_engine: Any, sandbox_image: str
) -> None:
    # The engine creates a container joining another's network, then refuses to
    # start it once that other container has ended: docker-py's run() used to
    # leave the created one behind for good.
    ended = docker_engine.containers.create(
        sandbox_image, ["true"], network_mode="none", labels={"org.acceptance.test": "1"}
    )
    try:
        box = DockerSandbox(SandboxConfig(image=sandbox_image, network_of=ended.name))
        with pytest.raises(SandboxError, match="cannot start the sandbox container"):
            box.start()
        assert not _exists(docker_engine, box.name)
        box.close()  # still safe afterwards
    finally:
        ended.remove(force=True)


def test_a_sandbox_names_the_process_that_started_it(
    docker_engine: Any, sandbox_image: str
) -> None:
    with DockerSandbox(SandboxConfig(image=sandbox_image)) as box:
        labels = docker_engine.containers.get(box.name).labels
        assert labels[LABEL] == "1"
        assert labels[OWNER_LABEL] == owner_label()
    assert not _exists(docker_engine, box.name)
