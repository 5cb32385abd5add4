"""The browser variant of the sandbox image: Debian's Chromium, Playwright and axe-core.

Built like the main image (debootstrap, then the tools installed without network) and
reused while its input digest is unchanged. The browser is Debian's package, never a
download by Playwright; axe-core is the engine's pinned copy from the host's npm tree
(tests/browser, installed by scripts/setup.sh), never the supplier's.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import docker

from acceptance.errors import PlatformError
from sandbox.docker import SANDBOX_USER
from sandbox.image import (
    DEBIAN_SUITE,
    LABEL_INPUTS,
    LABEL_TOOLS,
    PLUGIN_DIR,
    TOOLS_VENV,
    BuiltImage,
    ImageBuilder,
    debian_mirror,
    image_file,
)

BROWSER_REPOSITORY = "acceptance-sandbox-browser"
# dbus-x11: debootstrap does not resolve dconf-service's virtual dbus-session-bus by itself;
# libatomic1: the Node binary in Playwright's wheel links against it.
BROWSER_PACKAGES = (
    "python3",
    "python3-venv",
    "chromium",
    "fonts-dejavu-core",
    "ca-certificates",
    "dbus-x11",
    "libatomic1",
)
#: the driver; its bundled Node runs the protocol, the browser is /usr/bin/chromium
BROWSER_TOOL_REQUIREMENTS = ("playwright==1.65.3",)
AXE_VERSION = "4.14.1"
AXE_DIR = "/opt/acceptance/axe"
RUNNER = "acceptance_axe_runner.py"
RUNNER_PATH = f"{PLUGIN_DIR}/{RUNNER}"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: where scripts/setup.sh's `npm ci` puts the engine's axe-core
DEFAULT_AXE_PACKAGE = _PROJECT_ROOT / "tests" / "browser" / "node_modules" / "axe-core"


def axe_source(package_dir: Path = DEFAULT_AXE_PACKAGE) -> bytes:
    """axe.min.js from the host's npm tree, refused unless it is the pinned version."""
    try:
        manifest = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
        script = (package_dir / "axe.min.js").read_bytes()
    except (OSError, ValueError) as exc:
        raise PlatformError(
            f"axe-core is not installed at {package_dir}: {exc}",
            hint="run scripts/setup.sh (npm ci --prefix tests/browser)",
        ) from exc
    if manifest.get("version") != AXE_VERSION:
        raise PlatformError(
            f"axe-core at {package_dir} is {manifest.get('version')!r}, the engine pins {AXE_VERSION}",
            hint="run npm ci --prefix tests/browser",
        )
    return script


def browser_install_script() -> str:
    """Run as root without network: the driver into the tools venv, nothing downloaded."""
    requirements = " ".join(f"'{req}'" for req in BROWSER_TOOL_REQUIREMENTS)
    return (
        "set -e; "
        f"python3 -m venv {TOOLS_VENV}; "
        f"{TOOLS_VENV}/bin/pip install --no-index --find-links /wheels --progress-bar off "
        f"{requirements}; "
        "chmod -R a+rX /opt/acceptance; "
        "mkdir -p /work && chmod 1777 /work"
    )


def browser_inputs_digest(axe: bytes) -> str:
    """A digest of everything the variant is built from; it names the variant's tag."""
    inputs = {
        "base": f"debootstrap:{DEBIAN_SUITE}:minbase",
        "packages": BROWSER_PACKAGES,
        "tools": BROWSER_TOOL_REQUIREMENTS,
        "axe": hashlib.sha256(axe).hexdigest(),
        "runner": hashlib.sha256(image_file(RUNNER)).hexdigest(),
        "script": browser_install_script(),
        "user": SANDBOX_USER,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def browser_image_tag(axe: bytes | None = None) -> str:
    """The variant's tag for the current code and pins."""
    return f"{BROWSER_REPOSITORY}:{browser_inputs_digest(axe or axe_source())[:16]}"


class BrowserImageBuilder(ImageBuilder):
    """Builds (or reuses) the browser variant."""

    def build_browser(self, *, mirror: str | None = None, force: bool = False) -> BuiltImage:
        axe = axe_source()
        tag = browser_image_tag(axe)
        if not force:
            existing = self._existing(tag)
            if existing is not None:
                self._progress(f"image {tag} is up to date ({existing.short_id})")
                return BuiltImage(tag, str(existing.id), True, _labels_tools(existing))
        base_id = self._debootstrap(
            mirror or debian_mirror(), BROWSER_PACKAGES, f"{BROWSER_REPOSITORY}-base"
        )
        python = self._python_version(base_id)
        wheel_dir = self._cache_dir / "wheels"
        wheel_dir.mkdir(parents=True, exist_ok=True)
        self._progress(f"downloading the browser driver for Python {python} (wheels only)")
        self._download_wheels(BROWSER_TOOL_REQUIREMENTS, wheel_dir, python)
        image = self._install_browser_tools(base_id, wheel_dir, tag, axe)
        self._progress(f"built {tag} ({image.short_id})")
        return BuiltImage(tag, str(image.id), False, _labels_tools(image))

    def _install_browser_tools(self, base_id: str, wheel_dir: Path, tag: str, axe: bytes) -> Any:
        container = self._client.containers.create(
            base_id,
            ["sh", "-c", browser_install_script()],
            user="0:0",
            network_mode="none",
            environment={"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            mounts=[docker.types.Mount("/wheels", str(wheel_dir), type="bind", read_only=True)],
        )
        try:
            container.put_archive("/", _files_tar(axe))
            container.start()
            status = container.wait(timeout=1800)
            if status.get("StatusCode") != 0:
                logs = container.logs().decode(errors="replace")
                raise PlatformError(f"installing the browser driver failed:\n{logs[-4000:]}")
            tools = {
                "playwright": BROWSER_TOOL_REQUIREMENTS[0].split("==")[1],
                "axe-core": AXE_VERSION,
            }
            repository, _, image_tag = tag.partition(":")
            conf = {
                "User": SANDBOX_USER,
                "WorkingDir": "/work",
                "Env": ["LANG=C.UTF-8", "HOME=/tmp"],
                "Cmd": ["python3"],
                "Labels": {
                    LABEL_INPUTS: browser_inputs_digest(axe),
                    LABEL_TOOLS: json.dumps(tools, sort_keys=True),
                },
            }
            return container.commit(repository=repository, tag=image_tag, conf=conf)
        finally:
            container.remove(force=True)


def _files_tar(axe: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("opt", "opt/acceptance", PLUGIN_DIR.lstrip("/"), AXE_DIR.lstrip("/")):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for path, data in ((RUNNER_PATH, image_file(RUNNER)), (f"{AXE_DIR}/axe.min.js", axe)):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _labels_tools(image: Any) -> dict[str, str]:
    labels = image.labels or {}
    tools: dict[str, str] = json.loads(labels.get(LABEL_TOOLS, "{}"))
    return tools
