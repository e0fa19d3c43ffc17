"""Storage of each tenant's Merkle tree over its audit chain, in the jurisdiction's audit table.

Items (``pk`` = ``TENANT#<id>``, the tenant's base partition; the chain's events are in event shards,
``domain/audit/layout.py``):

- ``MTN#<level:02d>#<index:012d>``: ``hash`` (hex), the root of the complete subtree over leaves
  ``index * CHUNK * 2**level`` onwards. Written once, when the subtree completes; the value is
  determined by the chain, so a repeated write (two sealers, a retry) stores the same thing.
- ``STH#<tree_size:012d>``: ``head``, a signed tree head (JSON). The first one stored at a size stays.

Leaves are not stored again: the leaves of one chunk of ``CHUNK`` events are their ``hash`` in the
``EVT#`` items (one Query: a chunk lies in one block of an event shard). So a proof or a head reads one
or two chunks and O(log n) nodes, never the whole trail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.audit_shards import ChainShards
from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.audit.layout import SEQ_BLOCK, tenant_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CHUNK = 64  # leaves per chunk: one Query of 64 event items per chunk read
assert SEQ_BLOCK % CHUNK == 0, "a chunk must lie in one event shard"
NODE_PREFIX = "MTN#"
HEAD_PREFIX = "STH#"


def node_sk(level: int, index: int) -> str:
    return f"{NODE_PREFIX}{level:02d}#{index:012d}"


def head_sk(tree_size: int) -> str:
    return f"{HEAD_PREFIX}{tree_size:012d}"


class TreeStore:
    """Reads and writes tree nodes and signed heads; reads chunk leaves from the chain's event items."""

    def __init__(self, client: DynamoDBClient, table_for: Callable[[str], str],
                 shards: ChainShards | None = None) -> None:
        self._client = client
        self._table_for = table_for
        self._shards = shards or ChainShards(client)

    def chunk_hashes(self, tenant_id: str, jurisdiction: str, chunk: int) -> list[str]:
        """The event hashes of chunk ``chunk`` (seq ``chunk * CHUNK + 1`` onwards; fewer in the last chunk)."""
        first = chunk * CHUNK + 1
        items = self._shards.events(self._table_for(jurisdiction), tenant_id, first, first + CHUNK - 1,
                                    consistent=True)
        return [json.loads(item["event"]["S"])["hash"] for item in items]

    def node(self, tenant_id: str, jurisdiction: str, level: int, index: int) -> str | None:
        with translated("the audit trail"):
            item = self._client.get_item(TableName=self._table_for(jurisdiction), ConsistentRead=True, Key={
                "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": node_sk(level, index)}}).get("Item")
        return item["hash"]["S"] if item else None

    def complete_chunks(self, tenant_id: str, jurisdiction: str) -> int:
        """How many chunks have their level-0 node stored (they are stored in order)."""
        with translated("the audit trail"):
            items = self._client.query(
                TableName=self._table_for(jurisdiction), ConsistentRead=True, ScanIndexForward=False, Limit=1,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}, ":p": {"S": f"{NODE_PREFIX}00#"}},
            ).get("Items", [])
        return int(items[0]["sk"]["S"].rsplit("#", 1)[1]) + 1 if items else 0

    def put_nodes(self, tenant_id: str, jurisdiction: str, nodes: Iterable[tuple[int, int, str]]) -> None:
        table = self._table_for(jurisdiction)
        for level, index, value in nodes:
            with translated("the audit trail"):
                self._client.put_item(TableName=table, Item={
                    "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": node_sk(level, index)}, "hash": {"S": value}})

    def put_head(self, jurisdiction: str, head: dict[str, Any]) -> dict[str, Any]:
        """Store ``head`` unless a head of that size is stored already; return the stored one."""
        key = {"pk": {"S": tenant_pk(head["tenant_id"])}, "sk": {"S": head_sk(head["tree_size"])}}
        try:
            with translated("the audit trail"):
                self._client.put_item(TableName=self._table_for(jurisdiction),
                                      ConditionExpression="attribute_not_exists(pk)",
                                      Item={**key, "head": {"S": json.dumps(head, separators=(",", ":"))}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            stored = self.head_at(head["tenant_id"], jurisdiction, head["tree_size"])
            return stored if stored is not None else head
        return head

    def head_at(self, tenant_id: str, jurisdiction: str, tree_size: int) -> dict[str, Any] | None:
        with translated("the audit trail"):
            item = self._client.get_item(TableName=self._table_for(jurisdiction), ConsistentRead=True, Key={
                "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": head_sk(tree_size)}}).get("Item")
        return json.loads(item["head"]["S"]) if item else None

    def first_head(self, tenant_id: str, jurisdiction: str, at_least: int, at_most: int) -> dict[str, Any] | None:
        """The stored head of the smallest size from ``at_least`` to ``at_most``."""
        with translated("the audit trail"):
            items = self._client.query(
                TableName=self._table_for(jurisdiction), ConsistentRead=True, ScanIndexForward=True, Limit=1,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}, ":lo": {"S": head_sk(at_least)},
                                           ":hi": {"S": head_sk(at_most)}},
            ).get("Items", [])
        return json.loads(items[0]["head"]["S"]) if items else None

    def heads(self, tenant_id: str, jurisdiction: str) -> list[dict[str, Any]]:
        """Every stored head, smallest size first (one a hundred events: a small list per tenant)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "TableName": self._table_for(jurisdiction), "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)}, ":p": {"S": HEAD_PREFIX}}}
        while True:
            with translated("the audit trail"):
                page = self._client.query(**params)
            found += [json.loads(item["head"]["S"]) for item in page.get("Items", [])]
            if not page.get("LastEvaluatedKey"):
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def latest_head(self, tenant_id: str, jurisdiction: str, at_most: int | None = None) -> dict[str, Any] | None:
        """The stored head of the largest size (up to ``at_most``)."""
        upper = head_sk(at_most) if at_most is not None else HEAD_PREFIX + "~"
        with translated("the audit trail"):
            items = self._client.query(
                TableName=self._table_for(jurisdiction), ConsistentRead=True, ScanIndexForward=False, Limit=1,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}, ":lo": {"S": head_sk(1)},
                                           ":hi": {"S": upper}},
            ).get("Items", [])
        return json.loads(items[0]["head"]["S"]) if items else None
