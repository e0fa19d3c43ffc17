"""Batched reads: 100 keys a call across tables, unprocessed keys asked again, a bound on asking."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.dynamo_batch import batch_get
from chalicelib.domain.errors import Throttled


def _key(n: int) -> dict[str, Any]:
    return {"pk": {"S": "TENANT#t"}, "sk": {"S": f"P#{n}"}}


class _Dynamo:
    """A BatchGetItem that answers every key it holds, except that it leaves the first ``unprocessed`` keys
    of each of its first ``stingy`` calls unprocessed (as DynamoDB does when throttled)."""

    def __init__(self, held: set[str], unprocessed: int = 0, stingy: int = 0) -> None:
        self.held, self.unprocessed, self.stingy = held, unprocessed, stingy
        self.calls: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(RequestItems)
        responses: dict[str, list[dict[str, Any]]] = {}
        left: dict[str, Any] = {}
        for table, asked in RequestItems.items():
            keys = asked["Keys"]
            if len(self.calls) <= self.stingy:
                left[table] = {**asked, "Keys": keys[:self.unprocessed]}
                keys = keys[self.unprocessed:]
            responses[table] = [key for key in keys if f"{table}/{key['sk']['S']}" in self.held]
        return {"Responses": responses, "UnprocessedKeys": {t: v for t, v in left.items() if v["Keys"]}}


def test_keys_go_a_hundred_a_call_across_tables_and_duplicates_once() -> None:
    wanted = [(table, _key(n)) for n in range(80) for table in ("data", "keys")] + [("data", _key(0))]
    dynamo = _Dynamo({f"{t}/P#{n}" for n in range(80) for t in ("data", "keys") if n % 2 == 0})
    found = batch_get(dynamo, wanted, what="the data store")
    assert [sum(len(t["Keys"]) for t in call.values()) for call in dynamo.calls] == [100, 60]
    assert len(found["data"]) == len(found["keys"]) == 40


def test_unprocessed_keys_are_asked_again_after_a_backoff() -> None:
    waits: list[int] = []
    dynamo = _Dynamo({f"data/P#{n}" for n in range(10)}, unprocessed=3, stingy=2)
    found = batch_get(dynamo, [("data", _key(n)) for n in range(10)], what="the data store", backoff=waits.append)
    assert len(found["data"]) == 10
    assert waits == [1, 2]


def test_keys_never_processed_are_a_throttle_not_a_hang() -> None:
    dynamo = _Dynamo({"data/P#0"}, unprocessed=1, stingy=1_000)
    with pytest.raises(Throttled):
        batch_get(dynamo, [("data", _key(0))], what="the data store", backoff=lambda _: None, attempts=4)
    assert len(dynamo.calls) == 4
