"""The licences of the distributions installed in the run's venv, listed in the sandbox, offline."""

from __future__ import annotations

import json

from packaging.utils import canonicalize_name

from checks.licence_evidence import DependencyLicence, printable

TOOLS_PYTHON = "/opt/acceptance/tools/bin/python"
RUN_VENV = "/work/venv"
MAX_DEPENDENCY_OUTPUT = 4 * 1024 * 1024
MAX_DEPENDENCIES = 5000

#: Run by the image's tools interpreter in isolated mode. It reads every distribution in
#: the run's venv with importlib.metadata (no network, nothing of the supplier imported)
#: and judges each with licensecheck's own code: ``from_classifiers`` and the licence
#: string clean-up of ``PackageInfoManager.get_package_info``, then ``licenseType`` and
#: ``depCompatWMyLice`` from its matrix. Unlike licensecheck's own local lookup it reads
#: ``License-Expression`` (licensecheck 2025.1.0 asks for "License_Expression", which
#: installed metadata never has, and then falls back to the package index).
DEPENDENCY_SCRIPT = r"""
import glob, json, os, re, sys, tempfile
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="licensecheck-")
os.chdir(tempfile.mkdtemp(prefix="licensecheck-cwd-"))
from importlib import metadata
import license_expression
from loguru import logger
from licensecheck import license_matrix
from licensecheck.packageinfo import from_classifiers
from licensecheck.types import JOINS, ucstr
logger.remove()
venv, project_licence = sys.argv[1], sys.argv[2]
paths = sorted(glob.glob(venv + "/lib/python3*/site-packages"))
mine = license_matrix.licenseType(ucstr(project_licence))[0]
licensing = license_expression.Licensing()
packages, truncated = [], False
for dist in metadata.distributions(path=paths):
    if len(packages) >= 5000:
        truncated = True
        break
    try:
        meta = dist.metadata
        raw = (meta.get("License-Expression") or from_classifiers(meta.get_all("Classifier"))
               or meta.get("License") or "")
        raw = str(raw).strip()
        lic = raw
        if lic:
            try:
                parsed = licensing.parse(re.sub(r"[^a-zA-Z0-9_.:\- ]", "_", lic.splitlines()[0]))
                lic = JOINS.join(x.key for x in sorted(parsed.literals))
            except Exception:
                pass
        types = license_matrix.licenseType(ucstr(lic))
        packages.append({
            "name": str(meta.get("Name") or "")[:200],
            "version": str(meta.get("Version") or "")[:100],
            "licence": raw.splitlines()[0][:300] if raw else "",
            "licensecheck": [t.name for t in types][:20],
            "compatible": bool(license_matrix.depCompatWMyLice(mine, types)),
        })
    except Exception as exc:
        packages.append({"name": str(getattr(dist, "name", "?"))[:200], "version": "",
                         "licence": "", "error": type(exc).__name__, "compatible": False})
print(json.dumps({"format": 1, "project_licence": project_licence, "project_type": mine.name,
                  "site_packages": paths, "truncated": truncated, "packages": packages}))
"""


def dependency_licence_command(repo_spdx: str) -> list[str]:
    """The argv, run inside the sandbox, that prints the venv's dependency licences as JSON."""
    return [TOOLS_PYTHON, "-I", "-c", DEPENDENCY_SCRIPT, RUN_VENV, repo_spdx]


def parse_dependency_licences(output: bytes) -> list[DependencyLicence]:
    """Parse the script's JSON defensively; raises ValueError when it is not there."""
    if len(output) > MAX_DEPENDENCY_OUTPUT:
        raise ValueError("the dependency licence listing is larger than its limit")
    document: object = None
    text = output.decode("utf-8", errors="replace")
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                document = json.loads(line)
            except ValueError:
                continue
            break
    if not isinstance(document, dict) or document.get("format") != 1:
        raise ValueError("no dependency licence listing in the output")
    packages = document.get("packages")
    if not isinstance(packages, list):
        raise ValueError("the dependency licence listing has no package list")
    result: list[DependencyLicence] = []
    for item in packages[:MAX_DEPENDENCIES]:
        if not isinstance(item, dict):
            continue
        name, version, licence = item.get("name"), item.get("version"), item.get("licence")
        compatible = item.get("compatible")
        if not isinstance(name, str) or not name.strip():
            continue
        result.append(
            DependencyLicence(
                name=printable(name, 200),
                version=printable(version, 100) if isinstance(version, str) else "",
                licence=printable(licence, 300) if isinstance(licence, str) else "",
                compatible=compatible if isinstance(compatible, bool) else None,
            )
        )
    return sorted(result, key=lambda d: (canonicalize_name(d.name), d.version))
