"""Where an import's file waits (the regional bucket, ``imports/`` prefix) and the worker's queue.

The object key is ``imports/<tenant_id>/<import_id>``: identifiers only. The upload URL is a presigned
PUT that carries the SSE-KMS headers in its signature (the client must send them: the bucket stores the
file under the region's data key). Once processed, every version of the object is deleted (the bucket
is versioned: a plain delete would leave the file as a noncurrent version); a lifecycle rule removes
whatever is left after a day (deploy/render/storage.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "imports/"
UPLOAD_SECONDS = 900


def object_key(tenant_id: str, import_id: str) -> str:
    return f"{PREFIX}{tenant_id}/{import_id}"


def parse_key(key: str) -> tuple[str, str] | None:
    """``(tenant_id, import_id)`` of an import object's key, None for any other key."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] + "/" != PREFIX:
        return None
    return parts[1], parts[2]


class ImportBucket:
    def __init__(self, client: S3Client, bucket: str, kms_key_alias: str) -> None:
        self._client = client
        self._bucket = bucket
        self._kms_key = kms_key_alias

    def upload_url(self, key: str) -> tuple[str, dict[str, str]]:
        """A presigned PUT for ``key`` and the headers the upload must send."""
        headers = {"x-amz-server-side-encryption": "aws:kms",
                   "x-amz-server-side-encryption-aws-kms-key-id": self._kms_key}
        try:
            url: str = self._client.generate_presigned_url(
                "put_object", ExpiresIn=UPLOAD_SECONDS,
                Params={"Bucket": self._bucket, "Key": key, "ServerSideEncryption": "aws:kms",
                        "SSEKMSKeyId": self._kms_key})
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the import bucket is unavailable; retry later") from None
        return url, headers

    def read(self, key: str, limit: int) -> bytes | None:
        """The object's bytes (at most ``limit`` + 1: the caller refuses more), None when it is gone."""
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
            try:
                return bytes(body.read(limit + 1))
            finally:
                body.close()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ServiceUnavailable("the import bucket is unavailable; retry later") from None
        except BotoCoreError:
            raise ServiceUnavailable("the import bucket is unavailable; retry later") from None

    def delete_all_versions(self, key: str) -> int:
        """Delete every version and delete marker of ``key``; how many were deleted."""
        deleted = 0
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(Bucket=self._bucket, Prefix=key)
            for page in pages:
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if entry["Key"] != key:
                        continue
                    self._client.delete_object(Bucket=self._bucket, Key=key, VersionId=entry["VersionId"])
                    deleted += 1
            if not deleted:  # an unversioned bucket lists nothing: the plain delete is the only one
                self._client.delete_object(Bucket=self._bucket, Key=key)
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the import bucket is unavailable; retry later") from None
        return deleted


class ImportQueue:
    """The worker's queue: the bucket's upload events arrive here, and the worker sends its chunks here."""

    def __init__(self, client: Any, queue_name: str) -> None:
        self._client = client
        self._name = queue_name
        self._queue_url: str | None = None

    def _url(self) -> str:
        """The queue's URL, looked up on first send."""
        if self._queue_url is None:
            self._queue_url = str(self._client.get_queue_url(QueueName=self._name)["QueueUrl"])
        return self._queue_url

    def send(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Send ``messages`` (JSON, identifiers only), 10 a call."""
        try:
            for start in range(0, len(messages), 10):
                entries = [{"Id": str(n), "MessageBody": json.dumps(message, separators=(",", ":"))}
                           for n, message in enumerate(messages[start:start + 10])]
                failed = self._client.send_message_batch(QueueUrl=self._url(), Entries=entries).get("Failed")
                if failed:
                    raise ServiceUnavailable("the import queue refused messages; retry later")
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the import queue is unavailable; retry later") from None
