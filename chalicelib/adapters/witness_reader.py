"""Reading the witness bucket, for ``audit witness`` (an auditor's credentials, never the deployed function).

Every version of a head's object is read, oldest first: the oldest is the one locked when the head was
signed; any later version is an attempt to write over it (the conditional write the sealer uses never
makes one).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.witness_bucket import witness_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class WitnessUnavailable(Exception):
    """The bucket cannot be read; the message says why."""


class WitnessReader:
    """The witnessed copies of one tenant's heads."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def versions(self, tenant_id: str, tree_size: int) -> list[dict[str, Any]]:
        """Every stored version of the head at ``tree_size``, oldest first, with ``LastModified`` and
        ``ObjectLockMode``/``ObjectLockRetainUntilDate`` as S3 reports them; [] when none."""
        key = witness_key(tenant_id, tree_size)
        try:
            listed = self._client.list_object_versions(Bucket=self._bucket, Prefix=key).get("Versions", [])
            found = []
            for version in reversed([v for v in listed if v["Key"] == key]):  # S3 lists the newest first
                response = self._client.get_object(Bucket=self._bucket, Key=key, VersionId=version["VersionId"])
                body = json.loads(response["Body"].read())
                found.append({"head": body, "version_id": version["VersionId"],
                              "lock_mode": response.get("ObjectLockMode"),
                              "retain_until": response.get("ObjectLockRetainUntilDate")})
            return found
        except (ClientError, BotoCoreError) as exc:
            raise WitnessUnavailable(f"the witness bucket {self._bucket} cannot be read: {type(exc).__name__}") \
                from None
