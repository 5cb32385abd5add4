"""Hand-made OSV advisory records and archives, for the advisory store's tests."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml


def record(
    vuln_id: str,
    *affected: dict[str, Any],
    modified: str = "2024-01-01T00:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    return {"id": vuln_id, "modified": modified, "affected": list(affected), **extra}


def pypi(name: str, *ranges: dict[str, Any], versions: list[str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"package": {"name": name, "ecosystem": "PyPI"}, "ranges": list(ranges)}
    if versions is not None:
        entry["versions"] = versions
    return entry


def eco(*events: dict[str, str], kind: str = "ECOSYSTEM") -> dict[str, Any]:
    return {"type": kind, "events": list(events)}


def write_tar(
    path: Path,
    records: list[dict[str, Any]],
    extra: Iterator[tarfile.TarInfo] | None = None,
    prefix: str = "",
) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for rec in records:
            name = rec["affected"][0]["package"]["name"] if rec["affected"] else "none"
            data = yaml.safe_dump(rec).encode()
            info = tarfile.TarInfo(f"{prefix}vulns/{name}/{rec['id']}.yaml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_zip(path: Path, records: list[dict[str, Any]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, rec in enumerate(records):
            archive.writestr(f"{index}/{rec['id']}.json", json.dumps(rec))
    return path
