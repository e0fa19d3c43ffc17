"""Which blocks of a tenant's chain hold events of an action: what the console's action filter reads.

A block is ``SEQ_BLOCK`` consecutive ``seq`` (one Query of an event shard, ``domain/audit/layout.py``).
Items ``ACX#<action>#<chunk>`` (a number set ``blocks``; a chunk is ``CHUNK`` blocks, so an item stays
small whatever the trail's length) under ``TENANT#<id>#X<n>`` (``n``: a hash of the action modulo
``PARTITIONS``; the partition holds nothing else and no item of it has ``at``).

The sealer adds the blocks of the events it is about to chain *before* its transaction (``ADD`` to a set
is idempotent): a lost race or a crash leaves a block listed that holds no such event (the filter reads it
for nothing), never an event unlisted. Each process remembers the (action, block) pairs it added, so a
block costs an action one write per process, not one per seal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.audit.layout import SEQ_BLOCK, tenant_pk
from chalicelib.domain.cache import TtlCache

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PARTITIONS = 4
CHUNK = 4096
REMEMBERED = 50_000
REMEMBERED_SECONDS = 3600.0


def block_of(seq: int) -> int:
    return (seq - 1) // SEQ_BLOCK


def block_seqs(block: int) -> tuple[int, int]:
    """The first and last ``seq`` of ``block``."""
    return block * SEQ_BLOCK + 1, (block + 1) * SEQ_BLOCK


def _pk(tenant_id: str, action: str) -> str:
    shard = int.from_bytes(hashlib.sha256(action.encode()).digest()[:4], "big") % PARTITIONS
    return f"{tenant_pk(tenant_id)}#X{shard}"


def _sk(action: str, chunk: int | None) -> str:
    return f"ACX#{action}#" + (f"{chunk:08d}" if chunk is not None else "~")


class AuditActionIndex:
    """Adds and reads the blocks holding each action's events."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self._added: TtlCache[tuple[str, str, str, int], bool] = TtlCache(REMEMBERED, REMEMBERED_SECONDS)

    def add(self, table: str, tenant_id: str, events: Sequence[Mapping[str, Any]]) -> None:
        """List the blocks of ``events`` under their actions (before the transaction that chains them)."""
        wanted: dict[tuple[str, int], set[int]] = {}
        for event in events:
            action, block = str(event["action"]), block_of(int(event["seq"]))
            if self._added.get((table, tenant_id, action, block)) is None:
                wanted.setdefault((action, block // CHUNK), set()).add(block)
        for (action, chunk), blocks in wanted.items():
            with translated("the audit trail"):
                self._client.update_item(
                    TableName=table, Key={"pk": {"S": _pk(tenant_id, action)}, "sk": {"S": _sk(action, chunk)}},
                    UpdateExpression="ADD blocks :b",
                    ExpressionAttributeValues={":b": {"NS": [str(block) for block in sorted(blocks)]}})
            for block in blocks:
                self._added.put((table, tenant_id, action, block), True)

    def blocks(self, table: str, tenant_id: str, action: str, first: int) -> Iterator[int]:
        """The blocks from ``first`` on (ascending) listed as holding events of ``action``."""
        params: dict[str, Any] = {
            "TableName": table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": {"S": _pk(tenant_id, action)},
                                          ":lo": {"S": _sk(action, first // CHUNK)}, ":hi": {"S": _sk(action, None)}}}
        while True:
            with translated("the audit trail"):
                page = self._client.query(**params)
            for item in page.get("Items", []):
                yield from (block for block in sorted(int(n) for n in item["blocks"]["NS"]) if block >= first)
            if not page.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
