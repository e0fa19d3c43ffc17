"""The emulator's bisected Query (``devtools.emulator``) answers what DynamoDB answers.

Every key condition the platform can send, forwards and backwards, paged with Limit and
ExclusiveStartKey, after puts and deletes in any order, and on a table restored from a snapshot
(pickled, as ``make run`` keeps it): each answer equals the brute-force answer over the items put.
"""

from __future__ import annotations

import pickle
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto.backends import get_backend

from devtools.emulator import SortedPartition
from tests.integration.conftest import Emulated

REGION = "eu-west-2"
TABLE = "emulator-query-check"
Condition = tuple[str, dict[str, Any], Callable[[str], bool]]


@pytest.fixture(scope="module")
def dynamodb(emulated: Emulated) -> Iterator[Any]:
    client = emulated.clients.dynamodb(REGION)
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}])
    yield client
    client.delete_table(TableName=TABLE)


def conditions() -> list[Condition]:
    v = {":p": {"S": "T1"}}
    return [
        ("pk = :p", v, lambda sk: True),
        ("pk = :p AND sk = :a", {**v, ":a": {"S": "L#b#P"}}, lambda sk: sk == "L#b#P"),
        ("pk = :p AND sk < :a", {**v, ":a": {"S": "L#c"}}, lambda sk: sk < "L#c"),
        ("pk = :p AND sk <= :a", {**v, ":a": {"S": "L#c#K"}}, lambda sk: sk <= "L#c#K"),
        ("pk = :p AND sk > :a", {**v, ":a": {"S": "L#c#K"}}, lambda sk: sk > "L#c#K"),
        ("pk = :p AND sk >= :a", {**v, ":a": {"S": "L#c#K"}}, lambda sk: sk >= "L#c#K"),
        ("pk = :p AND sk BETWEEN :a AND :b", {**v, ":a": {"S": "L#b#K"}, ":b": {"S": "L#d#P"}},
         lambda sk: "L#b#K" <= sk <= "L#d#P"),
        ("pk = :p AND begins_with(sk, :a)", {**v, ":a": {"S": "L#c#"}}, lambda sk: sk.startswith("L#c#")),
        ("pk = :p AND begins_with(sk, :a)", {**v, ":a": {"S": "TKEY#"}}, lambda sk: sk.startswith("TKEY#")),
        ("pk = :p AND begins_with(sk, :a)", {**v, ":a": {"S": "Z"}}, lambda sk: False),
    ]


def query(client: Any, expression: str, values: dict[str, Any], forward: bool, limit: int | None) -> list[str]:
    found: list[str] = []
    start: dict[str, Any] | None = None
    while True:
        page = client.query(TableName=TABLE, KeyConditionExpression=expression, ExpressionAttributeValues=values,
                            ScanIndexForward=forward, **({"Limit": limit} if limit else {}),
                            **({"ExclusiveStartKey": start} if start else {}))
        found += [item["sk"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def check_all(client: Any, kept: set[str]) -> None:
    for expression, values, matches in conditions():
        expected = sorted(sk for sk in kept if matches(sk))
        for forward in (True, False):
            for limit in (None, 3):
                assert query(client, expression, values, forward, limit) == (
                    expected if forward else expected[::-1]), (expression, forward, limit)


def test_every_key_condition_matches_a_brute_force_answer_through_puts_and_deletes(dynamodb: Any) -> None:
    rng = random.Random(12)
    universe = [f"L#{learner}#{kind}" for learner in "abcdefg" for kind in ("K", "P", "R#1", "R#2")]
    universe += ["TKEY#1", "TKEY#2", "A", "L#c"]
    kept: set[str] = set()
    for sk in rng.sample(universe, len(universe)):
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "T1"}, "sk": {"S": sk}, "v": {"N": "1"}})
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "T2"}, "sk": {"S": sk}})  # another partition
        kept.add(sk)
    check_all(dynamodb, kept)
    for sk in rng.sample(sorted(kept), 12):
        dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "T1"}, "sk": {"S": sk}})
        kept.discard(sk)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "T1"}, "sk": {"S": "L#c#K"}, "v": {"N": "2"}})  # overwrite
    kept.add("L#c#K")
    check_all(dynamodb, kept)


def test_a_table_restored_from_a_snapshot_keeps_answering_and_ordering(dynamodb: Any) -> None:
    backend = get_backend("dynamodb")["123456789012"][REGION]  # type: ignore[index]
    table = backend.get_table(TABLE)
    partition = table.items[next(iter(table.items))]
    assert isinstance(partition, SortedPartition)
    restored = pickle.loads(pickle.dumps(table.items))  # as devtools.persistence saves and loads it
    table.items = restored
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "T1"}, "sk": {"S": "L#b#R#9"}})
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "T1"}, "sk": {"S": "A"}})
    items = dynamodb.scan(TableName=TABLE)["Items"]
    check_all(dynamodb, {item["sk"]["S"] for item in items if item["pk"]["S"] == "T1"})
    # a snapshot saved before partitions were kept sorted holds moto's plain dicts
    table.items = defaultdict(dict, {key: dict(value) for key, value in table.items.items()})
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "T1"}, "sk": {"S": "L#a#R#7"}})
    items = dynamodb.scan(TableName=TABLE)["Items"]
    check_all(dynamodb, {item["sk"]["S"] for item in items if item["pk"]["S"] == "T1"})
    assert all(isinstance(value, SortedPartition) for value in table.items.values() if value)


INDEXED = "emulator-index-check"


@pytest.fixture(scope="module")
def indexed(emulated: Emulated) -> Iterator[Any]:
    client = emulated.clients.dynamodb(REGION)
    client.create_table(
        TableName=INDEXED, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                              for name in ("pk", "sk", "lookup_pk", "lookup_sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_lookup", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "lookup_pk", "KeyType": "HASH"},
                                               {"AttributeName": "lookup_sk", "KeyType": "RANGE"}]}])
    yield client
    client.delete_table(TableName=INDEXED)


def _index_query(client: Any, lookup: str, after: str | None, limit: int | None) -> list[str]:
    found: list[str] = []
    start: dict[str, Any] | None = None
    expression = "lookup_pk = :l" + (" AND lookup_sk > :a" if after else "")
    values = {":l": {"S": lookup}, **({":a": {"S": after}} if after else {})}
    while True:
        page = client.query(TableName=INDEXED, IndexName="by_lookup", KeyConditionExpression=expression,
                            ExpressionAttributeValues=values, **({"Limit": limit} if limit else {}),
                            **({"ExclusiveStartKey": start} if start else {}))
        found += [item["sk"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def test_an_index_query_matches_a_brute_force_answer_through_puts_updates_and_deletes(indexed: Any) -> None:
    """The emulator sifts the table for an index Query's key values; updates in place move items in and out."""
    rng = random.Random(7)
    held: dict[str, tuple[str, str]] = {}  # sk -> (lookup_pk, lookup_sk)
    for n in range(60):
        sk, lookup = f"Q#{n:03d}", (rng.choice(["REQ#uk", "REQ#us", "INC#uk"]), f"2026-12-{rng.randint(1, 28):02d}")
        indexed.put_item(TableName=INDEXED, Item={"pk": {"S": f"T{n % 3}"}, "sk": {"S": sk},
                                                  "lookup_pk": {"S": lookup[0]}, "lookup_sk": {"S": lookup[1]}})
        held[sk] = lookup
    for n in range(0, 60, 7):  # moved to another index key in place, or out of the index
        key = {"pk": {"S": f"T{n % 3}"}, "sk": {"S": f"Q#{n:03d}"}}
        if n % 2:
            indexed.update_item(TableName=INDEXED, Key=key, UpdateExpression="SET lookup_pk = :l",
                                ExpressionAttributeValues={":l": {"S": "REQ#us"}})
            held[f"Q#{n:03d}"] = ("REQ#us", held[f"Q#{n:03d}"][1])
        else:
            indexed.update_item(TableName=INDEXED, Key=key, UpdateExpression="REMOVE lookup_pk")
            del held[f"Q#{n:03d}"]
    indexed.delete_item(TableName=INDEXED, Key={"pk": {"S": "T1"}, "sk": {"S": "Q#001"}})
    held.pop("Q#001", None)
    for lookup in ("REQ#uk", "REQ#us", "INC#uk", "none"):
        for after in (None, "2026-12-14"):
            expected = [sk for sk, _ in sorted(((sk, at) for sk, (pk, at) in held.items()
                                                if pk == lookup and (after is None or at > after)),
                                               key=lambda pair: (pair[1], pair[0]))]
            for limit in (None, 4):
                found = _index_query(indexed, lookup, after, limit)
                assert sorted(found) == sorted(expected), (lookup, after, limit)
                assert [held[sk][1] for sk in found] == sorted(held[sk][1] for sk in found)
