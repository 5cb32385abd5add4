"""The artifact store on S3-compatible object storage, for workers on several hosts.

Objects are named by their sha256 like the local store's files
(`<prefix>ab/cdef...`), written once and checked against their name when read,
so a corrupted or tampered object is an error, never a served report. Any
S3-compatible service works (MinIO, Ceph RGW, Garage, a cloud provider's):
set the endpoint for anything but the provider's default.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

from acceptance.errors import PlatformError, UserInputError
from acceptance.service.artifacts import ArtifactStore, LocalArtifactStore

if TYPE_CHECKING:
    from acceptance.settings import Settings

log = logging.getLogger(__name__)

_HEX = frozenset("0123456789abcdef")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class S3ArtifactStore:
    """Content-addressed objects in one bucket under a prefix."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any) -> None:
        if not bucket:
            raise UserInputError("the artifact store needs a bucket name: s3://BUCKET/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = client

    @classmethod
    def connect(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> S3ArtifactStore:
        """A store with its own boto3 client (credentials given, or boto3's usual chain)."""
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        config = Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # path-style works on every S3-compatible server; virtual hosts need DNS set up
            s3={"addressing_style": "path"},
        )
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        return cls(bucket, prefix, client=client)

    def _name(self, key: str) -> str:
        if len(key) != 64 or not set(key) <= _HEX:
            raise ValueError(f"not an artifact key: {key[:80]!r}")
        return f"{self.prefix}{key[:2]}/{key[2:]}"

    def put(self, data: bytes) -> str:
        """Store `data` under its sha256; an object already there is left alone."""
        key = hashlib.sha256(data).hexdigest()
        name = self._name(key)
        try:
            if self._exists(name):
                return key
            self._client.put_object(
                Bucket=self.bucket,
                Key=name,
                Body=data,
                ContentType="application/octet-stream",
                Metadata={"sha256": key},
            )
        except Exception as exc:  # noqa: BLE001 - botocore raises many unrelated types
            raise PlatformError(
                f"cannot store artifact {key[:12]} in s3://{self.bucket}: {exc}"
            ) from exc
        return key

    def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None; bytes that do not hash to `key` are an error."""
        try:
            name = self._name(key)
        except ValueError:
            return None
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=name)
            data: bytes = response["Body"].read()
        except Exception as exc:  # noqa: BLE001
            if _is_missing(exc):
                return None
            raise PlatformError(
                f"cannot read artifact {key[:12]} from s3://{self.bucket}: {exc}"
            ) from exc
        if hashlib.sha256(data).hexdigest() != key:
            log.error("artifact_corrupted", extra={"key": key, "bucket": self.bucket})
            raise PlatformError(
                f"artifact {key[:12]} in s3://{self.bucket} does not match its sha256",
                hint="restore the object from a backup; it was altered or truncated",
            )
        return data

    def healthy(self) -> bool:
        """Whether the bucket takes writes now (writes the empty object under its own key)."""
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._name(EMPTY_SHA256), Body=b"")
            return True
        except Exception:  # noqa: BLE001 - any failure means not ready
            log.warning("artifact_store_unhealthy", extra={"bucket": self.bucket}, exc_info=True)
            return False

    def _exists(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
            return True
        except Exception as exc:  # noqa: BLE001
            if _is_missing(exc):
                return False
            raise


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def artifact_store(settings: Settings) -> ArtifactStore:
    """The store `settings` names: `ACCEPTANCE_ARTIFACTS_URL` (s3:// or file://), else the
    data directory's `artifacts/` folder."""
    url = settings.artifacts_url
    if not url:
        return LocalArtifactStore(settings.artifacts_dir)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        from pathlib import Path

        return LocalArtifactStore(Path(urllib.parse.unquote(parts.path)))
    if parts.scheme == "s3":
        return S3ArtifactStore.connect(
            parts.netloc,
            parts.path,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    raise UserInputError(
        f"ACCEPTANCE_ARTIFACTS_URL: unsupported scheme {parts.scheme!r}",
        hint="use s3://BUCKET/PREFIX (with ACCEPTANCE_S3_ENDPOINT_URL) or file:///PATH",
    )
