"""Bulk imports' bookkeeping, in the jurisdiction's personal-data table (nothing personal in it).

Items (``pk`` = ``TENANT#<tenant_id>``):
- ``IMPORT#<import_id>``: kind, format, header mapping (header names only), state, ``rows``, ``chunks``,
  the counters ``created``/``skipped``/``failed``/``chunks_done``, who started it, a file-level problem.
- ``IMPORT#<import_id>#C#<chunk>``: one processed chunk (put only if absent, in the transaction that adds
  its counts: a redelivered chunk counts once) with its problems ``[{row, field, code}]``.
- ``IMPROW#<kind>#<token>``: a row already imported (``token``: the tenant's blind index of what makes the
  row that learner or result), written in the transaction that creates it; no learner id, no value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.data_store import DataStore, tenant_pk
from chalicelib.adapters.dynamo_batch import batch_get
from chalicelib.adapters.dynamo_errors import error_code, translated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

PREFIX = "IMPORT#"
ROW_PREFIX = "IMPROW#"
COUNTERS = ("created", "skipped", "failed", "chunks_done")


def import_sk(import_id: str) -> str:
    return PREFIX + import_id


def chunk_sk(import_id: str, chunk: int) -> str:
    return f"{PREFIX}{import_id}#C#{chunk:06d}"


class ImportStore:
    def __init__(self, client: DynamoDBClient, store: DataStore) -> None:
        self._client = client
        self._store = store

    def _key(self, jurisdiction: str, tenant_id: str, sk: str) -> dict[str, Any]:
        return {"TableName": self._store.table(jurisdiction),
                "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": sk}}}

    def record_put(self, jurisdiction: str, tenant_id: str, import_id: str,
                   attributes: dict[str, str]) -> TransactWriteItemTypeDef:
        item: dict[str, Any] = {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": import_sk(import_id)}}
        item.update({name: {"S": value} for name, value in attributes.items()})
        item.update({name: {"N": "0"} for name in COUNTERS})
        return {"Put": {"TableName": self._store.table(jurisdiction), "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def record(self, jurisdiction: str, tenant_id: str, import_id: str) -> dict[str, Any] | None:
        with translated("the import store"):
            item = self._client.get_item(**self._key(jurisdiction, tenant_id, import_sk(import_id)),
                                         ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def start(self, jurisdiction: str, tenant_id: str, import_id: str, rows: int, chunks: int, at: str) -> bool:
        """``awaiting_upload`` -> ``processing`` with the file's row and chunk counts (again: the same)."""
        return self._update(jurisdiction, tenant_id, import_id,
                            "SET #s = :p, #r = :r, chunks = :c, updated_at = :at",
                            "#s IN (:w, :p)", {":p": "processing", ":w": "awaiting_upload", ":at": at},
                            {":r": rows, ":c": chunks}, {"#r": "rows"})

    def finish(self, jurisdiction: str, tenant_id: str, import_id: str, state: str, at: str,
               problem: dict[str, Any] | None = None) -> bool:
        """``processing``/``awaiting_upload`` -> ``state`` (completed or failed); False when already done."""
        expression = "SET #s = :s, updated_at = :at" + (", problem = :problem" if problem else "")
        values: dict[str, str] = {":s": state, ":at": at, ":w": "awaiting_upload", ":p": "processing"}
        if problem:
            values[":problem"] = json.dumps(problem, separators=(",", ":"))
        return self._update(jurisdiction, tenant_id, import_id, expression, "#s IN (:w, :p)", values, {}, {})

    def _update(self, jurisdiction: str, tenant_id: str, import_id: str, expression: str, condition: str,
                texts: dict[str, str], numbers: dict[str, int], names: dict[str, str]) -> bool:
        values: dict[str, Any] = {k: {"S": v} for k, v in texts.items()}
        values.update({k: {"N": str(v)} for k, v in numbers.items()})
        try:
            with translated("the import store"):
                self._client.update_item(**self._key(jurisdiction, tenant_id, import_sk(import_id)),
                                         UpdateExpression=expression,
                                         ConditionExpression=f"attribute_exists(pk) AND {condition}",
                                         ExpressionAttributeNames={"#s": "state", **names},
                                         ExpressionAttributeValues=values)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def chunk_done(self, jurisdiction: str, tenant_id: str, import_id: str, chunk: int,
                   counts: dict[str, int], problems: Sequence[dict[str, Any]], at: str) -> bool:
        """Record a chunk and add its counts, once: False when it was recorded before (a redelivery)."""
        table = self._store.table(jurisdiction)
        put: Any = {"Put": {"TableName": table, "Item": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": chunk_sk(import_id, chunk)},
            "problems": {"S": json.dumps(list(problems), separators=(",", ":"))}, "at": {"S": at}},
            "ConditionExpression": "attribute_not_exists(pk)"}}
        update: Any = {"Update": {**self._key(jurisdiction, tenant_id, import_sk(import_id)),
                                  "UpdateExpression": "ADD created :c, skipped :s, failed :f, chunks_done :one "
                                                      "SET updated_at = :at",
                                  "ExpressionAttributeValues": {
                                      ":c": {"N": str(counts["created"])}, ":s": {"N": str(counts["skipped"])},
                                      ":f": {"N": str(counts["failed"])}, ":one": {"N": "1"}, ":at": {"S": at}}}}
        try:
            with translated("the import store"):
                self._client.transact_write_items(TransactItems=[put, update])
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                return False
            raise
        return True

    def chunk_recorded(self, jurisdiction: str, tenant_id: str, import_id: str, chunk: int) -> bool:
        with translated("the import store"):
            return "Item" in self._client.get_item(**self._key(jurisdiction, tenant_id, chunk_sk(import_id, chunk)),
                                                   ConsistentRead=True, ProjectionExpression="pk")

    def record_with_problems(self, jurisdiction: str, tenant_id: str,
                             import_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The import's record and every recorded chunk's problems, in row order: one query, as the record
        and its chunks share the key prefix ``IMPORT#<import_id>`` (ids are of one length: no other import's
        key starts with it)."""
        record: dict[str, Any] | None = None
        chunks: list[dict[str, Any]] = []
        for item in self._query(jurisdiction, tenant_id, import_sk(import_id)):
            if item["sk"]["S"] == import_sk(import_id):
                record = _plain(item)
            else:
                chunks.append(item)
        return record, _in_row_order(chunks)

    def _query(self, jurisdiction: str, tenant_id: str, prefix: str) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self._store.table(jurisdiction), "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)}, ":p": {"S": prefix}},
        }
        while True:
            with translated("the import store"):
                page = self._client.query(**params)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- rows already imported ------------------------------------------------------------------

    def row_claim(self, jurisdiction: str, tenant_id: str, kind: str, token: str,
                  import_id: str) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": self._store.table(jurisdiction), "Item": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": f"{ROW_PREFIX}{kind}#{token}"},
            "import_id": {"S": import_id}}, "ConditionExpression": "attribute_not_exists(pk)"}}

    def claimed(self, jurisdiction: str, tenant_id: str, kind: str, tokens: Sequence[str]) -> set[str]:
        """Which of ``tokens`` were claimed by an earlier import (BatchGetItem, 100 a call)."""
        table, pk = self._store.table(jurisdiction), {"S": tenant_pk(tenant_id)}
        items = batch_get(self._client, ((table, {"pk": pk, "sk": {"S": f"{ROW_PREFIX}{kind}#{token}"}})
                                         for token in tokens), what="the import store", projection="sk")
        return {item["sk"]["S"].rsplit("#", 1)[-1] for item in items.get(table, [])}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        if "N" in value:
            out[name] = int(value["N"])
        elif "S" in value:
            out[name] = value["S"]
    return out


def _in_row_order(chunks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in chunks:
        found += json.loads(item["problems"]["S"])
    return sorted(found, key=lambda p: (p["row"], p["field"]))
