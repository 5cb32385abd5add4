"""The node variant of the sandbox image: Debian's nodejs and npm, no registry.

Built like the shell variant (debootstrap from the machine's own apt mirror) and reused
while its input digest is unchanged. Node and npm are Debian's packages (bookworm:
Node 18), never the supplier's: a delivery's node_modules/.bin is not what runs the
engine's steps. python3 is there for the sandbox's own init and file reads only.

The SAST scanner is the engine's ESLint with eslint-plugin-security, pinned by a lockfile
the engine ships and fetched by the host's npm (sandbox/node_tools.py), copied into
/opt/acceptance/eslint before the install script runs; the input digest covers the
manifest, the whole locked tree and the runner, so a new pin builds a new image.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from acceptance.errors import PlatformError
from sandbox.docker import SANDBOX_USER
from sandbox.image import (
    DEBIAN_SUITE,
    LABEL_INPUTS,
    LABEL_TOOLS,
    BuiltImage,
    ImageBuilder,
    _run,
    debian_mirror,
)
from sandbox.node_tools import ESLINT_DIR, eslint_archive, tools_digest

NODE_REPOSITORY = "acceptance-sandbox-node"
#: what debootstrap installs: its dependency resolver cannot install npm (hundreds of
#: node-* packages, several only through "Provides"), so npm comes next, by apt-get
NODE_BASE_PACKAGES = ("python3", "nodejs", "procps", "ca-certificates")
#: installed by apt-get in a chroot of that root filesystem, from the same Debian mirror
#: (the build containers have no network)
NODE_APT_PACKAGES = ("npm",)
NODE_PACKAGES = NODE_BASE_PACKAGES + NODE_APT_PACKAGES
#: where the image keeps the versions it reports (read at build time, stored as a label)
_VERSIONS = "/opt/acceptance/node-tools.json"


def node_install_script() -> str:
    """Run as root without network: the scratch folder, and the tools' versions recorded."""
    return (
        "set -e; "
        "mkdir -p /opt/acceptance /work && chmod 1777 /work; "
        "node_v=$(node --version | sed 's/^v//'); "
        "npm_v=$(npm --version); "
        f"chmod -R a+rX {ESLINT_DIR}; "
        # ESLint must start on this Node, or the image is not built
        f"node {ESLINT_DIR}/node_modules/eslint/bin/eslint.js --version > /dev/null; "
        f"eslint_v=$(node {ESLINT_DIR}/node_modules/eslint/bin/eslint.js --version | sed 's/^v//'); "
        f"plugin_v=$(node -p 'require(\"{ESLINT_DIR}/node_modules/eslint-plugin-security/package.json\").version'); "
        f"ts_v=$(node -p 'require(\"{ESLINT_DIR}/node_modules/@typescript-eslint/parser/package.json\").version'); "
        f'printf \'{{"node": "%s", "npm": "%s", "eslint": "%s", "eslint-plugin-security": "%s", '
        f'"typescript-eslint": "%s"}}\' '
        f'"$node_v" "$npm_v" "$eslint_v" "$plugin_v" "$ts_v" > {_VERSIONS}; '
        f"chmod a+r {_VERSIONS}"
    )


def node_inputs_digest() -> str:
    """A digest of everything the variant is built from; it names the variant's tag."""
    inputs = {
        "base": f"debootstrap:{DEBIAN_SUITE}:minbase",
        "packages": NODE_PACKAGES,
        "script": node_install_script(),
        "eslint": tools_digest(),
        "user": SANDBOX_USER,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def node_image_tag() -> str:
    """The variant's tag for the current code and packages."""
    return f"{NODE_REPOSITORY}:{node_inputs_digest()[:16]}"


class NodeImageBuilder(ImageBuilder):
    """Builds (or reuses) the node variant."""

    def build_node(self, *, mirror: str | None = None, force: bool = False) -> BuiltImage:
        tag = node_image_tag()
        if not force:
            existing = self._existing(tag)
            if existing is not None:
                self._progress(f"image {tag} is up to date ({existing.short_id})")
                return BuiltImage(tag, str(existing.id), True, _labels_tools(existing))
        base_id = self._node_rootfs(mirror or debian_mirror())
        self._progress("fetching the engine's ESLint on the host (npm ci, scripts off)")
        eslint = eslint_archive(self._cache_dir)
        image = self._install_node_tools(base_id, tag, eslint)
        self._progress(f"built {tag} ({image.short_id})")
        return BuiltImage(tag, str(image.id), False, _labels_tools(image))

    def _node_rootfs(self, mirror: str) -> str:
        """debootstrap with nodejs, then apt-get install npm in a chroot; cached by its inputs."""
        inputs = json.dumps([DEBIAN_SUITE, "minbase", NODE_BASE_PACKAGES, NODE_APT_PACKAGES])
        base_tag = f"{NODE_REPOSITORY}-base:{hashlib.sha256(inputs.encode()).hexdigest()[:16]}"
        existing = self._existing(base_tag)
        if existing is not None:
            self._progress(f"reusing the Debian root filesystem {base_tag}")
            return str(existing.id)
        for tool in ("debootstrap", "chroot"):
            if shutil.which(tool) is None:
                raise PlatformError(
                    f"{tool} is not installed", hint="apt-get install -y debootstrap"
                )
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._cache_dir, prefix="rootfs-node-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            self._progress(f"debootstrap {DEBIAN_SUITE} (minbase) with nodejs, ~1-2 min")
            _run(["debootstrap", "--variant=minbase", f"--include={','.join(NODE_BASE_PACKAGES)}",
                  DEBIAN_SUITE, str(rootfs), mirror], "debootstrap")  # fmt: skip
            self._progress(f"apt-get install {' '.join(NODE_APT_PACKAGES)} in the root filesystem")
            shutil.copyfile("/etc/resolv.conf", rootfs / "etc/resolv.conf")
            apt = (
                "set -e; apt-get update -q; apt-get install -y -q --no-install-recommends "
                f"{' '.join(NODE_APT_PACKAGES)}; apt-get clean"
            )
            _run(["chroot", str(rootfs), "sh", "-c", apt], "apt-get install in the chroot")
            (rootfs / "etc/resolv.conf").unlink()
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                shutil.rmtree(rootfs / junk, ignore_errors=True)
            archive = Path(tmp) / "rootfs.tar"
            self._progress("importing the root filesystem into Docker")
            _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."], "tar")
            repository, _, tag = base_tag.partition(":")
            self._client.api.import_image_from_file(str(archive), repository=repository, tag=tag)
        return str(self._client.images.get(base_tag).id)

    def _install_node_tools(self, base_id: str, tag: str, eslint: bytes) -> Any:
        container = self._client.containers.create(
            base_id, ["sh", "-c", node_install_script()], user="0:0", network_mode="none"
        )
        try:
            container.put_archive("/", eslint)
            container.start()
            status = container.wait(timeout=600)
            if status.get("StatusCode") != 0:
                logs = container.logs().decode(errors="replace")
                raise PlatformError(f"preparing the node image failed:\n{logs[-4000:]}")
            tools = _read_versions(container)
            repository, _, image_tag = tag.partition(":")
            conf = {
                "User": SANDBOX_USER,
                "WorkingDir": "/work",
                # npm offline and quiet whatever the delivery says: no update check, no
                # audit, no funding call; HOME in /tmp (npm writes its logs there).
                "Env": [
                    "LANG=C.UTF-8",
                    "HOME=/tmp",
                    "npm_config_offline=true",
                    "npm_config_update_notifier=false",
                    "npm_config_audit=false",
                    "npm_config_fund=false",
                    "NODE_ENV=test",
                ],
                "Cmd": ["bash"],
                "Labels": {
                    LABEL_INPUTS: node_inputs_digest(),
                    LABEL_TOOLS: json.dumps(tools, sort_keys=True),
                },
            }
            return container.commit(repository=repository, tag=image_tag, conf=conf)
        finally:
            container.remove(force=True)


def _read_versions(container: Any) -> dict[str, str]:
    stream, _ = container.get_archive(_VERSIONS)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(_VERSIONS.rsplit("/", 1)[1])
        raw = json.loads(member.read()) if member else {}
    wanted = ("node", "npm", "eslint", "eslint-plugin-security", "typescript-eslint")
    if not isinstance(raw, dict) or not all(raw.get(k) for k in wanted):
        raise PlatformError(f"the node image's tools did not report their versions: {raw!r}")
    return {str(k): str(v) for k, v in raw.items()}


def _labels_tools(image: Any) -> dict[str, str]:
    labels = image.labels or {}
    tools: dict[str, str] = json.loads(labels.get(LABEL_TOOLS, "{}"))
    return tools
