"""The shell variant of the sandbox image: Debian's bash, bats, shellcheck and git, no registry.

Built like the main image (debootstrap from the machine's own apt mirror) and reused
while its input digest is unchanged. The test runner and the scanner are Debian's
packages, never the supplier's copies: a delivery's vendored `bats` is not what runs
its tests. python3 is there for the sandbox's own init and file reads only.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from acceptance.errors import PlatformError
from sandbox.docker import SANDBOX_USER
from sandbox.image import (
    DEBIAN_SUITE,
    LABEL_INPUTS,
    LABEL_TOOLS,
    BuiltImage,
    ImageBuilder,
    debian_mirror,
)

SHELL_REPOSITORY = "acceptance-sandbox-shell"
#: git because shell tools often wrap it and their tests build a scratch repository
#: (git-open's bats suite does); it runs as the sandbox user with HOME=/tmp.
SHELL_PACKAGES = ("python3", "bash", "bats", "shellcheck", "procps", "git")
#: where the image keeps the versions it reports (read at build time, stored as a label)
_VERSIONS = "/opt/acceptance/shell-tools.json"


def shell_install_script() -> str:
    """Run as root without network: the scratch folder, and the tools' versions recorded."""
    return (
        "set -e; "
        "mkdir -p /opt/acceptance /work && chmod 1777 /work; "
        "bats_v=$(bats --version | sed -n 's/^Bats //p'); "
        "sc_v=$(shellcheck --version | sed -n 's/^version: //p'); "
        "bash_v=$(bash -c 'echo ${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}.${BASH_VERSINFO[2]}'); "
        "git_v=$(git --version | sed -n 's/^git version //p'); "
        f'printf \'{{"bats": "%s", "shellcheck": "%s", "bash": "%s", "git": "%s"}}\' '
        f'"$bats_v" "$sc_v" "$bash_v" "$git_v" > {_VERSIONS}; '
        f"chmod a+r {_VERSIONS}"
    )


def shell_inputs_digest() -> str:
    """A digest of everything the variant is built from; it names the variant's tag."""
    inputs = {
        "base": f"debootstrap:{DEBIAN_SUITE}:minbase",
        "packages": SHELL_PACKAGES,
        "script": shell_install_script(),
        "user": SANDBOX_USER,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def shell_image_tag() -> str:
    """The variant's tag for the current code and packages."""
    return f"{SHELL_REPOSITORY}:{shell_inputs_digest()[:16]}"


class ShellImageBuilder(ImageBuilder):
    """Builds (or reuses) the shell variant."""

    def build_shell(self, *, mirror: str | None = None, force: bool = False) -> BuiltImage:
        tag = shell_image_tag()
        if not force:
            existing = self._existing(tag)
            if existing is not None:
                self._progress(f"image {tag} is up to date ({existing.short_id})")
                return BuiltImage(tag, str(existing.id), True, _labels_tools(existing))
        base_id = self._debootstrap(
            mirror or debian_mirror(), SHELL_PACKAGES, f"{SHELL_REPOSITORY}-base"
        )
        image = self._install_shell_tools(base_id, tag)
        self._progress(f"built {tag} ({image.short_id})")
        return BuiltImage(tag, str(image.id), False, _labels_tools(image))

    def _install_shell_tools(self, base_id: str, tag: str) -> Any:
        container = self._client.containers.create(
            base_id, ["sh", "-c", shell_install_script()], user="0:0", network_mode="none"
        )
        try:
            container.start()
            status = container.wait(timeout=600)
            if status.get("StatusCode") != 0:
                logs = container.logs().decode(errors="replace")
                raise PlatformError(f"preparing the shell image failed:\n{logs[-4000:]}")
            tools = _read_versions(container)
            repository, _, image_tag = tag.partition(":")
            conf = {
                "User": SANDBOX_USER,
                "WorkingDir": "/work",
                "Env": ["LANG=C.UTF-8", "HOME=/tmp"],
                "Cmd": ["bash"],
                "Labels": {
                    LABEL_INPUTS: shell_inputs_digest(),
                    LABEL_TOOLS: json.dumps(tools, sort_keys=True),
                },
            }
            return container.commit(repository=repository, tag=image_tag, conf=conf)
        finally:
            container.remove(force=True)


def _read_versions(container: Any) -> dict[str, str]:
    import io
    import tarfile

    stream, _ = container.get_archive(_VERSIONS)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(_VERSIONS.rsplit("/", 1)[1])
        raw = json.loads(member.read()) if member else {}
    if not isinstance(raw, dict) or not all(raw.get(k) for k in ("bats", "shellcheck", "git")):
        raise PlatformError(f"the shell image's tools did not report their versions: {raw!r}")
    return {str(k): str(v) for k, v in raw.items()}


def _labels_tools(image: Any) -> dict[str, str]:
    labels = image.labels or {}
    tools: dict[str, str] = json.loads(labels.get(LABEL_TOOLS, "{}"))
    return tools
