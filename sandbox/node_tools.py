"""The engine's ESLint for the node image: pinned by a lockfile the engine ships.

ESLint, eslint-plugin-security, @eslint/js, globals, and typescript-eslint's parser and
plugin with TypeScript are pinned exactly in
sandbox/image/eslint-package.json, and their whole tree, with every package's integrity
hash, in sandbox/image/eslint-package-lock.json (regenerate both with
`npm install --package-lock-only --save-exact` in a folder holding the manifest). The
image build has no network, so the host's npm fetches them the way it fetches a
delivery's packages (acceptance/engine/npm_fetch.py's `npm ci` line: scripts off, no
user or global npmrc, the engine's registry, the tarballs checked against the lockfile)
and the folder is copied into the build container. Never the supplier's lockfile, never
the delivery's node_modules.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from acceptance.engine.npm_fetch import npm_ci_command
from acceptance.errors import PlatformError
from sandbox.image import image_file

ESLINT_DIR = "/opt/acceptance/eslint"
MANIFEST = "eslint-package.json"
LOCKFILE = "eslint-package-lock.json"
RUNNER = "acceptance_eslint_runner.mjs"
#: the packages whose versions the image's tools label and every report state
REPORTED = ("eslint", "eslint-plugin-security")
_PATH = "/usr/local/bin:/usr/bin:/bin"


def pinned_versions() -> dict[str, str]:
    """The exact versions the engine's manifest pins (a range there is a build error)."""
    manifest = json.loads(image_file(MANIFEST))
    pins = {str(k): str(v) for k, v in manifest["dependencies"].items()}
    loose = [f"{k}@{v}" for k, v in pins.items() if not v[:1].isdigit() or " " in v]
    if loose:
        raise PlatformError(f"the ESLint tools must be pinned exactly: {', '.join(loose)}")
    return pins


def tools_digest() -> str:
    """What the node image's ESLint is made of: manifest, whole locked tree, runner."""
    parts = {
        name: hashlib.sha256(image_file(name)).hexdigest() for name in (MANIFEST, LOCKFILE, RUNNER)
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def fetch_eslint(cache_dir: Path, work: Path, *, timeout: float = 600.0) -> Path:
    """`npm ci` of the engine's lockfile on the host; the checked project folder."""
    if shutil.which("npm", path=_PATH) is None:
        raise PlatformError("npm is not installed on the host", hint="apt-get install -y npm")
    project = work / "eslint"
    home = work / "home"
    project.mkdir(parents=True)
    home.mkdir()
    (project / "package.json").write_bytes(image_file(MANIFEST))
    (project / "package-lock.json").write_bytes(image_file(LOCKFILE))
    empty = (work / "npmrc-user", work / "npmrc-global")
    for path in empty:
        path.write_bytes(b"")
    cache = cache_dir / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    env = {"PATH": _PATH, "HOME": str(home), "LANG": "C.UTF-8", "NO_COLOR": "1"}
    try:
        done = subprocess.run(
            npm_ci_command(project, empty, cache), cwd=project, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"fetching ESLint took longer than {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace")[-2000:]
        raise PlatformError(f"fetching ESLint with npm ci failed:\n{tail}")
    pins = pinned_versions()
    for name, version in pins.items():
        try:
            found = json.loads((project / "node_modules" / name / "package.json").read_bytes())
        except (OSError, ValueError) as exc:
            raise PlatformError(f"npm ci did not install {name}: {exc}") from exc
        if found.get("version") != version:
            raise PlatformError(f"npm ci installed {name}@{found.get('version')}, not {version}")
    return project


def eslint_tar(project: Path) -> bytes:
    """The folder as it goes into the image: node_modules, the manifest and the runner."""
    root = ESLINT_DIR.lstrip("/")

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if not (info.isfile() or info.isdir()):
            raise PlatformError(f"unexpected {info.name} in the fetched ESLint (a link?)")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("opt", "opt/acceptance", root):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        tar.add(project / "node_modules", f"{root}/node_modules", filter=owned_by_root)
        for name, data in (("package.json", image_file(MANIFEST)), (RUNNER, image_file(RUNNER))):
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def eslint_archive(cache_dir: Path) -> bytes:
    """Fetch and pack in one step, in a scratch folder under the engine's cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="eslint-") as tmp:
        return eslint_tar(fetch_eslint(cache_dir, Path(tmp)))
