"""The artifact store on S3-compatible storage (a real S3 API server on loopback: moto's),
the store chosen from settings, and spec files rebuilt on a worker host from what hosts share."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from acceptance.errors import PlatformError, UserInputError
from acceptance.service.accounts import create_user
from acceptance.service.artifacts import LocalArtifactStore
from acceptance.service.artifacts_s3 import S3ArtifactStore, artifact_store
from acceptance.service.db import Database, upgrade
from acceptance.service.models import SpecVersion
from acceptance.service.opportunities import SpecUpload, publish_spec
from acceptance.service.specfiles import ensure_spec_files
from acceptance.settings import load_settings
from tests.conftest import unavailable
from tests.support import accepts_connections, free_port, tar_gz, wait_for


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server on loopback, as MinIO or Ceph would answer."""
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server is None:
        unavailable("moto_server is not installed (pip install 'moto[server]')")
        raise AssertionError
    port = free_port()
    proc = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: accepts_connections(port), 30, "moto_server to listen", every=0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    import boto3  # type: ignore[import-untyped]

    name = f"artifacts-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    ).create_bucket(Bucket=name)  # fmt: skip
    return name


def connect(s3_endpoint: str, bucket: str, prefix: str = "prod") -> S3ArtifactStore:
    return S3ArtifactStore.connect(
        bucket, prefix, endpoint_url=s3_endpoint, access_key_id="test", secret_access_key="test"
    )


def test_put_get_content_addressed_and_idempotent(s3_endpoint: str, bucket: str) -> None:
    store = connect(s3_endpoint, bucket)
    data = b'{"payloadType": "application/vnd.in-toto+json"}\n'
    key = store.put(data)
    assert key == hashlib.sha256(data).hexdigest()
    assert store.put(data) == key  # the same bytes again: same key, nothing rewritten
    assert store.get(key) == data
    # Another host's store on the same bucket and prefix sees it.
    assert connect(s3_endpoint, bucket).get(key) == data
    assert connect(s3_endpoint, bucket, "staging").get(key) is None
    assert store.get("0" * 64) is None
    assert store.get("../../etc/passwd") is None
    assert store.healthy()


def test_objects_that_do_not_match_their_name_are_an_error(s3_endpoint: str, bucket: str) -> None:
    store = connect(s3_endpoint, bucket, "")
    key = store.put(b"the real report")
    store._client.put_object(Bucket=bucket, Key=f"{key[:2]}/{key[2:]}", Body=b"a forged report")
    with pytest.raises(PlatformError, match="does not match its sha256"):
        store.get(key)


def test_unreachable_storage_is_unhealthy_and_a_platform_error(bucket: str) -> None:
    store = S3ArtifactStore.connect(
        bucket,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key_id="x",
        secret_access_key="y",
    )
    assert not store.healthy()
    with pytest.raises(PlatformError, match="cannot store artifact"):
        store.put(b"data")


def test_the_store_is_chosen_from_settings(tmp_path: Path, s3_endpoint: str, bucket: str) -> None:
    secret = tmp_path / "s3-secret"
    secret.write_text("test\n")
    key_id = "AKIA-DISTINCTIVE-ID"
    settings = load_settings({
        "ACCEPTANCE_DATA_DIR": str(tmp_path / "data"),
        "ACCEPTANCE_ARTIFACTS_URL": f"s3://{bucket}/prod/",
        "ACCEPTANCE_S3_ENDPOINT_URL": s3_endpoint,
        "ACCEPTANCE_S3_ACCESS_KEY_ID": key_id,
        "ACCEPTANCE_S3_SECRET_ACCESS_KEY_FILE": str(secret),
    })  # fmt: skip
    store = artifact_store(settings)
    assert isinstance(store, S3ArtifactStore) and store.prefix == "prod/"
    assert store.get(store.put(b"x")) == b"x"
    assert settings.s3_secret_access_key == "test" and key_id not in repr(settings)

    local = artifact_store(load_settings({"ACCEPTANCE_DATA_DIR": str(tmp_path / "d")}))
    assert isinstance(local, LocalArtifactStore) and local.root == tmp_path / "d" / "artifacts"
    shared = artifact_store(load_settings({"ACCEPTANCE_ARTIFACTS_URL": f"file://{tmp_path}/nfs"}))
    assert isinstance(shared, LocalArtifactStore) and shared.root == tmp_path / "nfs"
    with pytest.raises(UserInputError, match="unsupported scheme"):
        artifact_store(load_settings({"ACCEPTANCE_ARTIFACTS_URL": "ftp://x/y"}))


# ---------------------------------------------------------------- spec files on another host

SPEC = b"version: 1\ntitle: Hidden\nfunctional: {paths: [tests], hidden_tests: hidden}\n"


def test_a_worker_host_rebuilds_and_verifies_the_spec_folder(tmp_path: Path) -> None:
    web = load_settings({"ACCEPTANCE_DATA_DIR": str(tmp_path / "web")})
    upgrade(web.database_url)
    db = Database(web.database_url)
    archive = tar_gz({"test_owner.py": "def test_owner():\n    assert True\n"})
    store = LocalArtifactStore(tmp_path / "shared-artifacts")
    with db.session() as session:
        owner = create_user(session, "o@example.org", "owner", "a long password 1")
        version = publish_spec(session, owner, SpecUpload(SPEC, archive), web.specs_dir)
        session.expunge(version)
    assert store.put(archive) == version.hidden_archive_sha256  # what the web app keeps

    worker_specs = tmp_path / "worker" / "specs"
    path = ensure_spec_files(worker_specs, version, store)
    published = web.specs_dir / version.folder
    assert path.read_bytes() == (published / "acceptance.yaml").read_bytes()
    assert (path.parent / "hidden" / "test_owner.py").read_bytes() == (
        published / "hidden" / "test_owner.py"
    ).read_bytes()
    assert ensure_spec_files(worker_specs, version, store) == path  # already there: kept

    # Altered data in a shared store is refused, never judged against.
    forged = tar_gz({"test_owner.py": "def test_owner():\n    pass\n"})
    store.root.joinpath(
        version.hidden_archive_sha256[:2], version.hidden_archive_sha256[2:]
    ).unlink()
    tampered = LocalArtifactStore(tmp_path / "tampered")
    tampered_key = tampered.put(forged)
    (tampered.root / version.hidden_archive_sha256[:2]).mkdir(parents=True, exist_ok=True)
    (tampered.root / tampered_key[:2] / tampered_key[2:]).rename(
        tampered.root / version.hidden_archive_sha256[:2] / version.hidden_archive_sha256[2:]
    )
    with pytest.raises(PlatformError, match="does not match what was published"):
        ensure_spec_files(tmp_path / "other" / "specs", version, tampered)
    with pytest.raises(PlatformError, match="not in the artifact store"):
        ensure_spec_files(tmp_path / "third" / "specs", version, store)
    assert not list((tmp_path / "other" / "specs").iterdir())  # no half-built folder left


def test_a_spec_without_hidden_tests_needs_only_the_database(tmp_path: Path) -> None:
    version = SpecVersion(
        id="v1", folder="v1", spec_yaml="version: 1\ntitle: Plain\n", hidden_archive_sha256=None,
        hidden_tests_sha256=None,
    )  # fmt: skip
    from acceptance.engine.spec import load_spec

    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "acceptance.yaml").write_text(version.spec_yaml)
    version.spec_sha256 = load_spec(tmp_path / "ref" / "acceptance.yaml").sha256
    path = ensure_spec_files(tmp_path / "specs", version, LocalArtifactStore(tmp_path / "a"))
    assert path.read_text() == version.spec_yaml
