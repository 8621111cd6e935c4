"""The artifact bucket (``BlobStore``): content-addressed files, each stored as ``blobs/<sha256>``.

A key names its content, so an object is written once and never changes; a half-finished upload is not
visible under its key (S3 puts are atomic), and whatever is read back is checked against the sha256 it
was asked for before anyone uses it. The bucket itself (infra ``Storage``) is encrypted, blocks public
access, keeps object versions and expires old ones.
"""

from __future__ import annotations

from typing import Any

from switchboard.domain.release import BLOB_PREFIX as PREFIX
from switchboard.domain.release import sha256_hex
from switchboard.ports import BlobError


def _code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3Blobs:
    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def put(self, data: bytes) -> str:
        sha = sha256_hex(data)
        key = PREFIX + sha
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return sha  # the same content is there already
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError; anything but "absent" is a failure
            if _code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise BlobError(f"cannot read s3://{self.bucket}/{key}: {_code(exc) or type(exc).__name__}") from exc
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata={"sha256": sha})
        except Exception as exc:  # noqa: BLE001
            raise BlobError(f"cannot write s3://{self.bucket}/{key}: {_code(exc) or type(exc).__name__}") from exc
        return sha

    def get(self, sha256: str) -> bytes:
        key = PREFIX + sha256
        try:
            data = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:  # noqa: BLE001
            raise BlobError(f"cannot read s3://{self.bucket}/{key}: {_code(exc) or type(exc).__name__}") from exc
        if sha256_hex(data) != sha256:
            raise BlobError(f"s3://{self.bucket}/{key} does not have its sha256 (corrupt or tampered with)")
        return data
