"""Two fixes to the in-process emulator (moto 5.2.5) that make it behave more like DynamoDB, not less.

1. moto's TransactWriteItems deep-copies every table a transaction touches, once per item, to be able
   to roll back: a transaction costs time proportional to the whole table (50 ms at a few thousand
   items), so a 1,600-event chain takes minutes. DynamoDB checks every condition against the state
   before the transaction and then applies all writes; ``two_phase_transact_write_items`` does the same,
   with no snapshot. Observable results (writes, CancellationReasons) are those of moto's own version.
2. moto's backend is not thread-safe (concurrent requests corrupt its dicts); DynamoDB applies each
   request atomically. ``serialise_requests`` holds one lock around each request of a client.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend

EMULATOR_LOCK = threading.RLock()


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _check(backend: DynamoDBBackend, op: dict[str, Any], key: dict[str, Any]) -> tuple[Any, Any, Any]:
    condition = op.get("ConditionExpression")
    if condition is None:
        return None, None, None
    current = backend.get_item(op["TableName"], key)
    expression = get_filter_expression(condition, op.get("ExpressionAttributeNames"),
                                       op.get("ExpressionAttributeValues"))
    if expression.expr(current):
        return None, None, None
    old = current.to_json()["Attributes"] if current and op.get(
        "ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
    return "ConditionalCheckFailed", ConditionalCheckFailed().message, old


def _apply(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(op["TableName"], op["Item"], expression_attribute_names=names,
                         expression_attribute_values=values)
    elif op_type == "Delete":
        backend.delete_item(op["TableName"], key, expression_attribute_names=names,
                            expression_attribute_values=values)
    elif op_type == "Update":
        backend.update_item(op["TableName"], key, update_expression=op["UpdateExpression"],
                            expression_attribute_names=names, expression_attribute_values=values)


def two_phase_transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with EMULATOR_LOCK:
        seen: set[tuple[str, str]] = set()
        planned, reasons = [], []
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            key = _key_of(self, op_type, op)
            identity = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            reasons.append(_check(self, op, key))
            planned.append((op_type, op, key))
        if any(code is not None for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        for op_type, op, key in planned:
            _apply(self, op_type, op, key)


def install() -> None:
    DynamoDBBackend.transact_write_items = two_phase_transact_write_items  # type: ignore[method-assign]


def serialise_requests(client: Any) -> None:
    """Hold ``EMULATOR_LOCK`` for the duration of each request ``client`` makes."""
    def acquire(**_: Any) -> None:
        EMULATOR_LOCK.acquire()

    def release(**_: Any) -> None:
        EMULATOR_LOCK.release()

    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-call.{service}", acquire)
    client.meta.events.register(f"after-call.{service}", release)
    client.meta.events.register(f"after-call-error.{service}", release)
