"""The region's witness bucket: every signed tree head, written once, under S3 Object Lock (compliance mode).

Object key ``heads/<tenant_id>/<tree_size:012d>.json`` (``witness_key``), body the head's canonical JSON,
retention until the jurisdiction's audit retention has passed. Compliance mode means no one, the account's
root included, can delete or overwrite that version before then; the write is conditional
(``If-None-Match: *``), so a second head of the same size is refused rather than stacked on top. The
function's role may only PutObject here (deploy/iam.py); reading is the auditor's (``witness_reader.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.dynamo_errors import error_code
from chalicelib.domain.audit.canonical import canonical_bytes
from chalicelib.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def witness_key(tenant_id: str, tree_size: int) -> str:
    """Where the head of ``tenant_id`` at ``tree_size`` is witnessed."""
    return f"heads/{tenant_id}/{tree_size:012d}.json"


class WitnessBucket:
    """Writes heads to the witness bucket (write-once, locked)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_head(self, head: Mapping[str, Any], retain_until: datetime) -> bool:
        """Witness ``head`` until ``retain_until``; False when a head of that size is witnessed already."""
        return put_if_absent(self._client, "the witness bucket", Bucket=self._bucket,
                             Key=witness_key(head["tenant_id"], head["tree_size"]),
                             Body=canonical_bytes(dict(head)), ContentType="application/json",
                             ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until)


def put_if_absent(client: Any, what: str, **request: Any) -> bool:
    """PutObject only where no object is (``If-None-Match: *``); False when one is there already (an earlier
    try wrote it). Other failures are ServiceUnavailable naming ``what``, never the object's content."""
    try:
        client.put_object(IfNoneMatch="*", ChecksumAlgorithm="SHA256", **request)
    except ClientError as exc:
        if error_code(exc) in {"PreconditionFailed", "ConditionalRequestConflict"}:
            return False
        raise ServiceUnavailable(f"{what} is unavailable; retry later") from None
    except BotoCoreError:
        raise ServiceUnavailable(f"{what} could not be reached; retry later") from None
    return True
