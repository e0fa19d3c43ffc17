"""A CloudFront KeyValueStore data-plane client for the tests, following the documented interface.

moto does not implement ``cloudfront-keyvaluestore``. This fake keeps what the service documents:
every write names the store's current ETag (``IfMatch``) and answers the next one; a stale ETag is a
``ConflictException`` (409); deleting a missing key is ``ResourceNotFoundException``; ``ListKeys`` pages
with ``NextToken``; ``UpdateKeys`` takes up to 50 puts and deletes at once. ``racer`` runs before a
write is applied (another writer getting there first); ``refuse`` makes every call fail with that code.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

ARN = "arn:aws:cloudfront::123456789012:key-value-store/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def _error(code: str, status: int, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)


class FakeKeyValueStore:
    def __init__(self, arn: str = ARN) -> None:
        self.arn = arn
        self.items: dict[str, str] = {}
        self._versions = itertools.count(1)
        self.etag = f"etag-{next(self._versions)}"
        self.racer: Callable[[FakeKeyValueStore], None] | None = None
        self.refuse: str | None = None
        self.calls: list[str] = []

    # -- the documented operations --------------------------------------------------------------

    def describe_key_value_store(self, *, KvsARN: str) -> Mapping[str, Any]:
        self._enter("DescribeKeyValueStore", KvsARN)
        return {"KvsARN": KvsARN, "ETag": self.etag, "ItemCount": len(self.items),
                "TotalSizeInBytes": self._size(), "Status": "READY"}

    def put_key(self, *, KvsARN: str, Key: str, Value: str, IfMatch: str) -> Mapping[str, Any]:
        self._write("PutKey", KvsARN, IfMatch)
        self.items[Key] = Value
        return self._written()

    def delete_key(self, *, KvsARN: str, Key: str, IfMatch: str) -> Mapping[str, Any]:
        self._write("DeleteKey", KvsARN, IfMatch)
        if Key not in self.items:
            raise _error("ResourceNotFoundException", 404, "DeleteKey")
        del self.items[Key]
        return self._written()

    def update_keys(self, *, KvsARN: str, IfMatch: str, Puts: Sequence[Mapping[str, str]],
                    Deletes: Sequence[Mapping[str, str]]) -> Mapping[str, Any]:
        if len(Puts) + len(Deletes) > 50:
            raise _error("ValidationException", 400, "UpdateKeys")
        self._write("UpdateKeys", KvsARN, IfMatch)
        for put in Puts:
            self.items[put["Key"]] = put["Value"]
        for delete in Deletes:
            self.items.pop(delete["Key"], None)
        return self._written()

    def list_keys(self, *, KvsARN: str, MaxResults: int = 50, NextToken: str | None = None) -> Mapping[str, Any]:
        self._enter("ListKeys", KvsARN)
        keys = sorted(self.items)
        start = int(NextToken) if NextToken else 0
        page = keys[start:start + MaxResults]
        answer: dict[str, Any] = {"Items": [{"Key": k, "Value": self.items[k]} for k in page]}
        if start + MaxResults < len(keys):
            answer["NextToken"] = str(start + MaxResults)
        return answer

    # -- helpers --------------------------------------------------------------------------------

    def _enter(self, operation: str, arn: str) -> None:
        self.calls.append(operation)
        if self.refuse:
            raise _error(self.refuse, 403 if self.refuse == "AccessDeniedException" else 500, operation)
        if arn != self.arn:
            raise _error("ResourceNotFoundException", 404, operation)

    def _write(self, operation: str, arn: str, if_match: str) -> None:
        self._enter(operation, arn)
        if self.racer is not None:
            self.racer(self)
        if if_match != self.etag:
            raise _error("ConflictException", 409, operation)

    def _written(self) -> Mapping[str, Any]:
        self.etag = f"etag-{next(self._versions)}"
        return {"ETag": self.etag, "ItemCount": len(self.items), "TotalSizeInBytes": self._size()}

    def _size(self) -> int:
        return sum(len(k) + len(v) for k, v in self.items.items())

    def bump(self) -> None:
        """Another writer's change: the ETag moves on."""
        self.etag = f"etag-{next(self._versions)}"
