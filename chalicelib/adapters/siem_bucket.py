"""The region's SIEM bucket: the OCSF stream of sealed audit events (gzip NDJSON, Security Lake layout).

Objects are written once (``If-None-Match: *``): a delivery that is redone (a crash between writing and
moving the tenant's cursor, two sequencers on one tenant) is refused for every object already there, so
no seq is ever written twice. The function's role may only PutObject under ``ext/`` (deploy/iam.py);
the SIEM reads with its own role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.adapters.witness_bucket import put_if_absent

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class SiemBucket:
    """Writes stream objects, each at most once."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_once(self, key: str, body: bytes) -> bool:
        """Write ``body`` at ``key``; False when an object is there already (written by an earlier try)."""
        return put_if_absent(self._client, "the SIEM bucket", Bucket=self._bucket, Key=key, Body=body,
                             ContentType="application/gzip")
