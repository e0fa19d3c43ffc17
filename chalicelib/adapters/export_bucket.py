"""The regional export bucket: streamed uploads (SSE-KMS), reads and short-lived presigned downloads.

Uploads go through a multipart upload fed from an iterator, so an export of any size is written
in constant memory (one part buffered at a time).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_BYTES = 8 * 1024 * 1024  # S3's minimum part is 5 MiB (except the last)
MAX_PRESIGN_SECONDS = 900


class ExportBucket:
    def __init__(self, client: S3Client, bucket: str, kms_key_alias: str) -> None:
        self._client = client
        self._bucket = bucket
        self._kms_key = kms_key_alias

    def upload_lines(self, key: str, lines: Iterable[str], content_type: str) -> int:
        """Write ``lines`` to ``key``; returns the bytes written."""
        try:
            return self._upload(key, lines, content_type)
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the export bucket is unavailable; retry later") from None

    def _upload(self, key: str, lines: Iterable[str], content_type: str) -> int:
        encryption: dict[str, Any] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self._kms_key}
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        buffer, total = bytearray(), 0
        for line in lines:
            buffer += line.encode("utf-8")
            if len(buffer) >= PART_BYTES:
                if upload_id is None:
                    upload_id = self._client.create_multipart_upload(
                        Bucket=self._bucket, Key=key, ContentType=content_type, **encryption)["UploadId"]
                parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
                total += len(buffer)
                buffer.clear()
        total += len(buffer)
        if upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=bytes(buffer), ContentType=content_type,
                                    **encryption)
            return total
        if buffer:
            parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
        self._client.complete_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id,
                                               MultipartUpload={"Parts": parts})  # type: ignore[typeddict-item]
        return total

    def _part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        etag = self._client.upload_part(Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                        Body=data)["ETag"]
        return {"ETag": etag, "PartNumber": number}

    def get_text(self, key: str) -> str | None:
        """The object at ``key`` as UTF-8 text, or None when there is none (expired by the lifecycle rule)."""
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
            try:
                return body.read().decode("utf-8")
            finally:
                body.close()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ServiceUnavailable("the export bucket is unavailable; retry later") from None
        except BotoCoreError:
            raise ServiceUnavailable("the export bucket is unavailable; retry later") from None

    def presigned_get(self, key: str, seconds: int = MAX_PRESIGN_SECONDS) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=min(seconds, MAX_PRESIGN_SECONDS))
        return url
