"""Builds the sandbox image without a registry (debootstrap) or from a registry base image."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import docker
import docker.errors

from acceptance.engine.wheels import download_wheels
from acceptance.errors import PlatformError, UserInputError
from sandbox.docker import SANDBOX_USER

IMAGE_REPOSITORY = "acceptance-sandbox"
DEBIAN_SUITE = "bookworm"
# What the image holds besides the tools: Python with venv and headers, and a
# compiler, so packages with C extensions can build from source.
DEBIAN_PACKAGES = (
    "python3",
    "python3-venv",
    "python3-dev",
    "gcc",
    "libc6-dev",
    "git",
    "ca-certificates",
    "procps",
)
# The check tools, pinned: their versions go into every report.
TOOL_REQUIREMENTS = (
    "bandit[sarif,toml]==1.9.4",
    "pip-audit==2.10.1",
    "licensecheck==2025.1.0",
    # the quality check's linter; its version is also checks/ruff_rules.py's
    "ruff==0.17.6",
)
#: pytest for the owner's hidden tests, with its own dependencies only, in the
#: read-only image: the supplier's tests can rewrite the run venv's pytest, not this one.
HIDDEN_PYTEST_REQUIREMENTS = ("pytest==9.2.0",)
TOOLS_VENV = "/opt/acceptance/tools"
PLUGIN_DIR = "/opt/acceptance/lib"
HIDDEN_PYTEST_DIR = "/opt/acceptance/pytest"
PLUGIN_MODULE = "acceptance_sandbox_plugin"
#: the engine's files baked into PLUGIN_DIR (sandbox/image/)
IMAGE_FILES = (f"{PLUGIN_MODULE}.py", "acceptance_runner.py", "hidden-pytest.ini")
LABEL_INPUTS = "org.acceptance.inputs"
LABEL_TOOLS = "org.acceptance.tools"
LABEL_PYTHON = "org.acceptance.python"
LABEL_BASE = "org.acceptance.base"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuiltImage:
    """The result of `acceptance image build`."""

    tag: str
    image_id: str
    reused: bool
    tools: dict[str, str]


def install_script() -> str:
    """The shell script run as root, without network, to put the tools into the image."""
    requirements = " ".join(f"'{req}'" for req in TOOL_REQUIREMENTS)
    hidden = " ".join(f"'{req}'" for req in HIDDEN_PYTEST_REQUIREMENTS)
    return (
        "set -e; "
        f"python3 -m venv {TOOLS_VENV}; "
        f"{TOOLS_VENV}/bin/pip install --no-index --find-links /wheels --progress-bar off "
        f"{requirements}; "
        f"{TOOLS_VENV}/bin/pip install --no-index --find-links /wheels --progress-bar off "
        f"--no-compile --target {HIDDEN_PYTEST_DIR} {hidden}; "
        "chmod -R a+rX /opt/acceptance; "
        # The tmpfs mounted on /work takes this folder's mode: writable by the sandbox user.
        "mkdir -p /work && chmod 1777 /work; "
        f"{TOOLS_VENV}/bin/pip list --format json > /opt/acceptance/tools.json"
    )


def plugin_source() -> bytes:
    """The pytest plugin baked into the image."""
    return image_file(f"{PLUGIN_MODULE}.py")


def image_file(name: str) -> bytes:
    """One of the engine's files baked into PLUGIN_DIR."""
    return (resources.files("sandbox") / "image" / name).read_bytes()


def image_inputs_digest(base_image: str | None) -> str:
    """A digest of everything the image is built from; it names the image tag."""
    inputs = {
        "base": base_image or f"debootstrap:{DEBIAN_SUITE}:minbase",
        "packages": DEBIAN_PACKAGES if base_image is None else (),
        "tools": TOOL_REQUIREMENTS,
        "plugin": hashlib.sha256(plugin_source()).hexdigest(),
        "files": {name: hashlib.sha256(image_file(name)).hexdigest() for name in IMAGE_FILES},
        "hidden_pytest": HIDDEN_PYTEST_REQUIREMENTS,
        "script": install_script(),
        "user": SANDBOX_USER,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def default_image_tag(base_image: str | None = None) -> str:
    """The tag the engine expects for the current code."""
    return f"{IMAGE_REPOSITORY}:{image_inputs_digest(base_image)[:16]}"


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian archive this machine's apt already uses (one-line or deb822 sources)."""
    files = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for uri in _debian_uris(text):
            return uri
    raise PlatformError(
        "no Debian mirror found in the apt sources",
        hint="set ACCEPTANCE_DEBIAN_MIRROR to a Debian archive URL",
    )


def _debian_uris(text: str) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        # "deb [options] URI suite components", the options being optional
        line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0])
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "deb" and parts[2] == DEBIAN_SUITE:
            found.append(parts[1])
    for stanza in re.split(r"\n\s*\n", text):
        fields = {
            key.strip().lower(): value.strip()
            for key, _, value in (
                ln.partition(":")
                for ln in stanza.splitlines()
                if ":" in ln and not ln.startswith("#")
            )
        }
        if (
            "deb" in fields.get("types", "").split()
            and DEBIAN_SUITE in fields.get("suites", "").split()
        ):
            found.extend(fields.get("uris", "").split())
    return [uri for uri in found if uri.startswith(("http://", "https://"))]


class ImageBuilder:
    """Builds the sandbox image; does nothing when the current one exists."""

    def __init__(
        self, client: docker.DockerClient, cache_dir: Path, progress: Progress = print
    ) -> None:
        self._client = client
        self._cache_dir = cache_dir
        self._progress = progress

    def build(
        self, *, base_image: str | None = None, mirror: str | None = None, force: bool = False
    ) -> BuiltImage:
        """Build (or reuse) the image for the current code and tool pins."""
        tag = default_image_tag(base_image)
        if not force:
            existing = self._existing(tag)
            if existing is not None:
                self._progress(f"image {tag} is up to date ({existing.short_id})")
                return BuiltImage(tag, str(existing.id), True, _tools(existing))
        base_id = (
            self._pull(base_image) if base_image else self._debootstrap(mirror or debian_mirror())
        )
        python = self._python_version(base_id)
        self._progress(f"downloading the check tools for Python {python} (wheels only)")
        wheel_dir = self._cache_dir / "wheels"
        wheel_dir.mkdir(parents=True, exist_ok=True)
        self._download_wheels(TOOL_REQUIREMENTS, wheel_dir, python)
        self._download_wheels(HIDDEN_PYTEST_REQUIREMENTS, wheel_dir, python)
        self._progress("installing the check tools into the image (no network)")
        image = self._install_tools(base_id, wheel_dir, tag, python, base_image)
        self._client.images.get(image.id).tag(IMAGE_REPOSITORY, "latest")
        self._progress(f"built {tag} ({image.short_id})")
        return BuiltImage(tag, str(image.id), False, _tools(image))

    def _download_wheels(self, requirements: tuple[str, ...], wheel_dir: Path, python: str) -> None:
        download_wheels(requirements, wheel_dir, python_version=python)

    def _existing(self, tag: str) -> Any:
        try:
            return self._client.images.get(tag)
        except docker.errors.ImageNotFound:
            return None

    def _pull(self, base_image: str) -> str:
        self._progress(f"pulling {base_image}")
        try:
            return str(self._client.images.pull(base_image).id)
        except docker.errors.DockerException as exc:
            raise UserInputError(
                f"cannot pull {base_image}: {exc}",
                hint="without a registry, build from Debian packages: omit --base-image",
            ) from exc

    def _debootstrap(
        self,
        mirror: str,
        packages: tuple[str, ...] = DEBIAN_PACKAGES,
        repository: str = f"{IMAGE_REPOSITORY}-base",
    ) -> str:
        # Keyed by what debootstrap is given only, so tool changes reuse the root filesystem.
        base_inputs = json.dumps([DEBIAN_SUITE, "minbase", packages]).encode()
        base_tag = f"{repository}:{hashlib.sha256(base_inputs).hexdigest()[:16]}"
        existing = self._existing(base_tag)
        if existing is not None:
            self._progress(f"reusing the Debian root filesystem {base_tag}")
            return str(existing.id)
        if shutil.which("debootstrap") is None:
            raise PlatformError(
                "debootstrap is not installed", hint="apt-get install -y debootstrap"
            )
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._cache_dir, prefix="rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            self._progress(f"debootstrap {DEBIAN_SUITE} (minbase) from the apt mirror, ~1-2 min")
            _run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(packages)}",
                    DEBIAN_SUITE,
                    str(rootfs),
                    mirror,
                ],
                "debootstrap",
            )
            # Package caches and lists are dead weight in the image.
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                shutil.rmtree(rootfs / junk, ignore_errors=True)
            archive = Path(tmp) / "rootfs.tar"
            self._progress("importing the root filesystem into Docker")
            _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."], "tar")
            repository, _, tag = base_tag.partition(":")
            self._client.api.import_image_from_file(str(archive), repository=repository, tag=tag)
        return str(self._client.images.get(base_tag).id)

    def _python_version(self, image_id: str) -> str:
        out = self._client.containers.run(
            image_id,
            ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            network_mode="none",
            remove=True,
        )
        return bytes(out).decode().strip()

    def _install_tools(
        self, base_id: str, wheel_dir: Path, tag: str, python: str, base_image: str | None
    ) -> Any:
        script = install_script()
        container = self._client.containers.create(
            base_id,
            ["sh", "-c", script],
            user="0:0",
            network_mode="none",
            environment={"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            mounts=[docker.types.Mount("/wheels", str(wheel_dir), type="bind", read_only=True)],
        )
        try:
            container.put_archive("/", _plugin_tar())
            container.start()
            status = container.wait(timeout=1800)
            logs = container.logs().decode(errors="replace")
            if status.get("StatusCode") != 0:
                raise PlatformError(f"installing the check tools failed:\n{logs[-4000:]}")
            tools = _read_tools(container)
            repository, _, image_tag = tag.partition(":")
            conf = {
                "User": SANDBOX_USER,
                "WorkingDir": "/work",
                "Env": ["LANG=C.UTF-8", "HOME=/tmp"],
                "Cmd": ["python3"],
                "Labels": {
                    LABEL_INPUTS: image_inputs_digest(base_image),
                    LABEL_TOOLS: json.dumps(tools, sort_keys=True),
                    LABEL_PYTHON: python,
                    LABEL_BASE: base_image or f"debootstrap:{DEBIAN_SUITE}",
                },
            }
            return container.commit(repository=repository, tag=image_tag, conf=conf)
        finally:
            container.remove(force=True)


def _plugin_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("opt", "opt/acceptance", PLUGIN_DIR.lstrip("/")):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name in IMAGE_FILES:
            data = image_file(name)
            info = tarfile.TarInfo(f"{PLUGIN_DIR.lstrip('/')}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _read_tools(container: Any) -> dict[str, str]:
    stream, _ = container.get_archive("/opt/acceptance/tools.json")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile("tools.json")
        listing = json.loads(member.read()) if member else []
    wanted = {"bandit", "pip-audit", "licensecheck", "ruff", "pip"}
    tools = {str(item["name"]).lower().replace("_", "-"): str(item["version"]) for item in listing}
    return {name: version for name, version in tools.items() if name in wanted}


def _tools(image: Any) -> dict[str, str]:
    labels = image.labels or {}
    tools: dict[str, str] = json.loads(labels.get(LABEL_TOOLS, "{}"))
    if LABEL_PYTHON in labels:
        tools["python"] = labels[LABEL_PYTHON]
    return tools


def _run(argv: list[str], what: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise PlatformError(f"{what} failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
