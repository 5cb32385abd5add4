"""A spec version's files on a worker host that did not receive the upload.

The web app keeps each published version in its data directory's `specs/`.
A worker on another machine rebuilds that folder from what every host shares:
the spec text from the database and the hidden-tests archive from the artifact
store (named by its sha256, which the version records). The rebuilt folder must
hash to what was published, spec and hidden tests alike, or the run cannot be
judged, since judging against other tests than the owner's would be wrong.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import yaml

from acceptance.engine.spec import load_spec
from acceptance.errors import PlatformError
from acceptance.service.artifacts import ArtifactStore
from acceptance.service.models import SpecVersion

SPEC_NAME = "acceptance.yaml"


def ensure_spec_files(specs_dir: Path, version: SpecVersion, store: ArtifactStore) -> Path:
    """The version's acceptance.yaml on this host, fetched and verified when missing."""
    final = specs_dir / version.folder
    if (final / SPEC_NAME).is_file():
        return final / SPEC_NAME
    specs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=specs_dir, prefix=".fetch-"))
    try:
        (staging / SPEC_NAME).write_text(version.spec_yaml, encoding="utf-8")
        if version.hidden_archive_sha256:
            archive = store.get(version.hidden_archive_sha256)
            if archive is None:
                raise PlatformError(
                    f"the hidden tests of spec version {version.id} are not in the artifact store",
                    hint="publish the spec again, or share the web host's specs/ folder",
                )
            from acceptance.engine.archives import extract_archive

            extract_archive(archive, staging / _hidden_folder(version.spec_yaml))
        spec = load_spec(staging / SPEC_NAME)
        if (spec.sha256, spec.hidden_tests_sha256) != (
            version.spec_sha256,
            version.hidden_tests_sha256,
        ):
            raise PlatformError(
                f"spec version {version.id} rebuilt on this host does not match what was published",
                hint="the database or the artifact store holds altered data: restore it",
            )
        try:
            os.replace(staging, final)
        except OSError:
            if not (
                final / SPEC_NAME
            ).is_file():  # another worker here was not faster: a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final / SPEC_NAME


def _hidden_folder(spec_yaml: str) -> str:
    document = yaml.safe_load(spec_yaml)
    functional = document.get("functional") if isinstance(document, dict) else None
    name = functional.get("hidden_tests") if isinstance(functional, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise PlatformError("the spec has a hidden-tests archive but names no folder for it")
    return name
