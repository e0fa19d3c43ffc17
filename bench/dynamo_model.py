"""A DynamoDB table model in memory, for the contention benchmark's 128 concurrent clients.

moto in process costs ~3 ms of CPU per call (botocore serialises to HTTP, moto parses it back), so on
two cores it, not the audit design, caps a run at ~150 audited requests/s whatever the concurrency:
in AWS that work is DynamoDB's, on its own fleet. This model keeps DynamoDB's semantics for exactly the
calls the audit stores make (GetItem, BatchGetItem, PutItem, UpdateItem, Query on the table's key,
TransactWriteItems with all-or-nothing conditions and CancellationReasons) at a few microseconds each, and
refuses anything else (``NotImplementedError``) rather than guess. tests/integration/bench/test_bench_contention.py
runs the same script of audit operations on it and on the emulator and requires identical chains and errors.
"""
from __future__ import annotations

import bisect
import re
import threading
from typing import Any

from botocore.exceptions import ClientError

Item = dict[str, Any]
_NOT_EXISTS = re.compile(r"^attribute_not_exists\((\w+)\)$")
_EXISTS = re.compile(r"^attribute_exists\((\w+)\)$")
_EQUALS = re.compile(r"^(#?\w+) = (:\w+)$")
_IF_NOT_EXISTS = re.compile(r"^(#?\w+) = if_not_exists\((#?\w+), (:\w+)\)$")
_BETWEEN = re.compile(r"^pk = (:\w+) AND sk BETWEEN (:\w+) AND (:\w+)$")
_ADD = re.compile(r"^([#\w]+) (:\w+)$")
_BEGINS = re.compile(r"^pk = (:\w+) AND begins_with\(sk, (:\w+)\)$")


def _name(token: str, names: dict[str, str]) -> str:
    return names.get(token, token)


def _holds(condition: str | None, item: Item | None, names: dict[str, str], values: dict[str, Any]) -> bool:
    if condition is None:
        return True
    if match := _NOT_EXISTS.match(condition):
        return item is None or _name(match.group(1), names) not in item
    if match := _EXISTS.match(condition):
        return item is not None and _name(match.group(1), names) in item
    if match := _EQUALS.match(condition):
        return item is not None and item.get(_name(match.group(1), names)) == values[match.group(2)]
    raise NotImplementedError(f"condition {condition!r}")


def _updated(item: Item | None, key: Item, expression: str, names: dict[str, str], values: dict[str, Any]) -> Item:
    result = dict(item or key)
    for clause in re.split(r"\s*(?=\b(?:SET|REMOVE|ADD)\b)", expression.strip()):
        if not clause:
            continue
        verb, _, rest = clause.partition(" ")
        for part in (p.strip() for p in re.split(r",(?![^()]*\))", rest)):
            if verb == "REMOVE":
                result.pop(_name(part, names), None)
            elif verb == "SET" and (match := _EQUALS.match(part)):
                result[_name(match.group(1), names)] = values[match.group(2)]
            elif verb == "SET" and (match := _IF_NOT_EXISTS.match(part)):
                existing = (item or {}).get(_name(match.group(2), names))
                result[_name(match.group(1), names)] = existing if existing is not None else values[match.group(3)]
            elif verb == "ADD" and (match := _ADD.match(part)):  # the audit's hour counts and action blocks
                name, value = _name(match.group(1), names), values[match.group(2)]
                if "NS" in value:
                    result[name] = {"NS": sorted(set(result.get(name, {}).get("NS", [])) | set(value["NS"]))}
                else:
                    before = int(result[name]["N"]) if name in result else 0
                    result[name] = {"N": str(before + int(value["N"]))}
            else:
                raise NotImplementedError(f"update {clause!r}")
    return result


class ModelTable:
    """Items of every table by (table, pk, sk), and each partition's sort keys in order."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], Item] = {}
        self._sorted: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(table: str, key: Item) -> tuple[str, str, str]:
        return table, key["pk"]["S"], key.get("sk", {}).get("S", "")

    def _store(self, table: str, item: Item) -> None:
        address = self._key(table, item)
        if address not in self._items:
            bisect.insort(self._sorted.setdefault(address[:2], []), address[2])
        self._items[address] = item

    def get_item(self, *, TableName: str, Key: Item, **_: Any) -> dict[str, Any]:
        with self._lock:
            item = self._items.get(self._key(TableName, Key))
        return {"Item": dict(item)} if item is not None else {}

    def batch_get_item(self, *, RequestItems: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Every key asked for that exists (never any ``UnprocessedKeys``: no 16 MB answer here)."""
        with self._lock:
            responses = {table: [dict(self._items[address]) for address in (self._key(table, key)
                                                                          for key in request["Keys"])
                                 if address in self._items]
                         for table, request in RequestItems.items()}
        return {"Responses": responses, "UnprocessedKeys": {}}

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.transact_write_items(TransactItems=[{"Put": kwargs}], _single="PutItem")
        return {}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.transact_write_items(TransactItems=[{"Update": kwargs}], _single="UpdateItem")
        return {}

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]],
                             _single: str | None = None) -> dict[str, Any]:
        with self._lock:
            planned, reasons = [], []
            for entry in TransactItems:
                (kind, op), = entry.items()
                table, names, values = op["TableName"], op.get("ExpressionAttributeNames", {}), \
                    op.get("ExpressionAttributeValues", {})
                key = op["Item"] if kind == "Put" else op["Key"]
                current = self._items.get(self._key(table, key))
                ok = _holds(op.get("ConditionExpression"), current, names, values)
                reasons.append({"Code": "None" if ok else "ConditionalCheckFailed"})
                if kind == "Put":
                    planned.append((table, dict(op["Item"])))
                elif kind == "Update":
                    planned.append((table, _updated(current, key, op["UpdateExpression"], names, values)))
                elif kind != "ConditionCheck":
                    raise NotImplementedError(kind)
            if any(r["Code"] != "None" for r in reasons):
                if _single:
                    raise ClientError({"Error": {"Code": "ConditionalCheckFailedException",
                                                 "Message": "The conditional request failed"}}, _single)
                raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                                   "CancellationReasons": reasons}, "TransactWriteItems")  # type: ignore[typeddict-item]
            for table, item in planned:
                self._store(table, item)
        return {}

    def query(self, *, TableName: str, KeyConditionExpression: str,
              ExpressionAttributeValues: dict[str, Any], FilterExpression: str | None = None,
              IndexName: str | None = None, **_: Any) -> dict[str, Any]:
        if IndexName is not None:
            raise NotImplementedError("index queries")
        values = ExpressionAttributeValues
        if match := _BETWEEN.match(KeyConditionExpression):
            pk, low, high = (values[g]["S"] for g in match.groups())
        elif match := _BEGINS.match(KeyConditionExpression):
            pk, low = values[match.group(1)]["S"], values[match.group(2)]["S"]
            high = low + "\U0010ffff"
        else:
            raise NotImplementedError(KeyConditionExpression)
        with self._lock:
            keys = self._sorted.get((TableName, pk), [])
            found = [self._items[(TableName, pk, sk)] for sk in keys[bisect.bisect_left(keys, low):
                                                                    bisect.bisect_right(keys, high)]]
        kept = [dict(i) for i in found if _holds(FilterExpression, i, {}, values)]
        return {"Items": kept, "Count": len(kept), "ScannedCount": len(found)}
