"""The repository licence's evidence, cached by the bytes it is computed from.

ScanCode's index costs ~5 s of CPU and ~1 GB to load in each run's child process
(:func:`checks.licence_detection.detect_repo_licence_isolated`), yet the inputs it reads
almost never change between pushes. :func:`inputs_digest` hashes exactly those
inputs, read the way :func:`checks.licence_detection.detect_repo_licence` reads them (the
same no-link, size-capped reader): the names of the licence files at the root
and in ``LICENSES/``, their bytes, ``pyproject.toml``'s bytes, a file it names
as ``project.license.file``, and the detector's identity (ScanCode's version and
the source of the detection modules). Same digest, same evidence: the cache is
exact, so it is shared by every repository. A checkout whose licence inputs
cannot be read safely (a link, a special file) gets no digest and is detected,
and refused, as before.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import tomllib
from dataclasses import asdict
from functools import cache
from pathlib import Path

from acceptance import safefs
from acceptance.errors import SubmissionError
from acceptance.safefs import write_atomic
from checks import (
    licence_detection,
    licence_evidence,
    licence_expressions,
    licence_scancode,
    licence_texts,
)

log = logging.getLogger(__name__)

FORMAT = 1


@cache
def _detector_identity() -> str:
    parts = [str(FORMAT)]
    for name in ("scancode-toolkit-mini", "packaging", "license-expression"):
        try:
            parts.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name}==?")
    # The code that computes the evidence: a change to any of it is a new detector.
    detector = (licence_detection, licence_scancode, licence_expressions, licence_evidence)
    for module in (*detector, licence_texts):
        parts.append(hashlib.sha256(Path(module.__file__ or "").read_bytes()).hexdigest())
    return "|".join(parts)


def _file_digest(checkout: Path, relpath: str, max_bytes: int) -> str:
    try:
        data = safefs.read_bytes(checkout, relpath, max_bytes)
    except safefs.UnsafePathError:
        raise
    except SubmissionError as exc:  # too large: the detector records that as a problem
        return f"error:{exc.reason}"
    return "absent" if data is None else hashlib.sha256(data).hexdigest()


def inputs_digest(checkout: Path) -> str | None:
    """A digest of everything licence detection reads from CHECKOUT; None when unsafe to read."""
    try:
        inputs: list[object] = [_detector_identity()]
        for name in safefs.list_dir(checkout, "."):
            if licence_detection.LICENCE_FILE_NAME.match(name):
                if safefs.is_directory(checkout, name):
                    inputs.append([name, "dir"])
                else:
                    inputs.append(
                        [name, _file_digest(checkout, name, licence_detection.MAX_LICENCE_BYTES)]
                    )
        if safefs.is_directory(checkout, "LICENSES"):
            for name in safefs.list_dir(checkout, "LICENSES"):
                if licence_detection.REUSE_FILE_NAME.match(name):
                    relpath = f"LICENSES/{name}"
                    inputs.append(
                        [
                            relpath,
                            _file_digest(checkout, relpath, licence_detection.MAX_LICENCE_BYTES),
                        ]
                    )
        inputs.append(
            [
                "pyproject.toml",
                _file_digest(checkout, "pyproject.toml", licence_detection.MAX_PYPROJECT_BYTES),
            ]
        )
        target = _licence_file_reference(checkout)
        if target is not None:
            inputs.append(
                ["->", target, _file_digest(checkout, target, licence_detection.MAX_LICENCE_BYTES)]
            )
    except safefs.UnsafePathError:
        return None
    except (SubmissionError, ValueError, OSError):
        return None
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


def _licence_file_reference(checkout: Path) -> str | None:
    """``project.license.file`` of pyproject.toml, when it names one."""
    try:
        text = safefs.read_text(checkout, "pyproject.toml", licence_detection.MAX_PYPROJECT_BYTES)
        data = tomllib.loads(text) if text else {}
    except safefs.UnsafePathError:
        raise
    except (SubmissionError, tomllib.TOMLDecodeError):
        return None
    project = data.get("project")
    value = project.get("license") if isinstance(project, dict) else None
    target = value.get("file") if isinstance(value, dict) else None
    if not isinstance(target, str):
        return None
    safefs.split_relpath(target)  # refuses absolute paths and '..' as the detector does
    return target


def detect(checkout: Path, cache_dir: Path, *, timeout: float) -> licence_evidence.LicenceEvidence:
    """The repository's licence evidence: from the cache, else detected (isolated) and cached."""
    digest = inputs_digest(checkout)
    path = cache_dir / f"{digest}.json" if digest is not None else None
    if path is not None:
        try:
            return licence_detection.evidence_from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("licence_cache_entry_unreadable", extra={"entry": path.name})
    evidence = licence_detection.detect_repo_licence_isolated(checkout, timeout=timeout)
    if path is not None and evidence.unsafe is None:
        try:
            write_atomic(path, json.dumps(asdict(evidence)).encode())
        except OSError:
            log.warning("licence_cache_write_failed", exc_info=True)
    return evidence
