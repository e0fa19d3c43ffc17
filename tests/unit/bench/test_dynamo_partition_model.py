"""The contention benchmark's partition limits: a hot partition key is throttled past 1,000 write units a
second, a transaction's writes count double, spread keys are not throttled, and the key design is a strategy.
Never a timing: the limits run on a clock the test sets."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench import bench_partitions
from bench.dynamo_contention import ContendedClient, Contention
from bench.dynamo_model import ModelTable
from bench.dynamo_partitions import PartitionLimits, item_size, read_units, write_units


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _client(clock: _Clock, **limits: Any) -> tuple[ContendedClient, PartitionLimits, Contention]:
    partition_limits = PartitionLimits(clock, **limits)
    contention = Contention(latency=0.0, sleep=lambda seconds: None, limits=partition_limits)
    return ContendedClient(ModelTable(), contention), partition_limits, contention


def _put(client: ContendedClient, pk: str, n: int, payload: int = 100) -> None:
    client.put_item(TableName="audit", Item={"pk": {"S": pk}, "sk": {"S": f"EVT#{n:08d}"},
                                             "event": {"S": "x" * payload}})


def test_one_partition_key_is_throttled_past_1000_write_units_a_second() -> None:
    clock = _Clock()
    client, limits, contention = _client(clock)
    for n in range(1000):
        _put(client, "TENANT#hot", n)
    with pytest.raises(ClientError) as raised:
        _put(client, "TENANT#hot", 1000)
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert limits.throttled["put_item"] == 3, "the SDK's three attempts, each refused and counted"
    assert contention.calls["put_item:throttled"] == 1
    clock.now = 1.0  # the next second: the partition takes writes again
    _put(client, "TENANT#hot", 1000)
    assert limits.peak_units("audit", write=True) == 1000


def test_the_sdk_retry_backs_off_into_the_next_second_and_succeeds() -> None:
    clock = _Clock()
    limits = PartitionLimits(clock)
    def backoff(seconds: float) -> None:  # a round trip takes no time here; a backoff ends in the next second
        clock.now += 1.0 if seconds else 0.0

    contention = Contention(latency=0.0, sleep=backoff, limits=limits, seed=1)
    client = ContendedClient(ModelTable(), contention)
    for n in range(1001):  # the 1,001st is refused once, then lands after the modelled backoff
        _put(client, "TENANT#hot", n)
    assert limits.throttled["put_item"] == 1


def test_a_transactions_writes_count_double() -> None:
    clock = _Clock()
    client, limits, _ = _client(clock)

    def transaction(n: int) -> None:
        client.transact_write_items(TransactItems=[{"Put": {"TableName": "audit", "Item": {
            "pk": {"S": "TENANT#hot"}, "sk": {"S": f"PND#{n:08d}"}}}}])

    for n in range(500):  # 500 transactional 1-unit items: 1,000 units
        transaction(n)
    with pytest.raises(ClientError) as raised:
        transaction(500)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert raised.value.response["CancellationReasons"] == [{"Code": "ThrottlingError"}]  # type: ignore[typeddict-item]
    assert limits.throttled["transact_write_items"] == 1


def test_spread_partition_keys_are_not_throttled() -> None:
    clock = _Clock()
    client, limits, _ = _client(clock)
    for n in range(5000):  # 5,000 writes in one second over 50 keys: 100 units per partition
        _put(client, f"TENANT#t{n % 50}", n)
    assert sum(limits.throttled.values()) == 0


def test_units_round_item_sizes_up_to_1_kb_written_and_4_kb_read() -> None:
    item = {"pk": {"S": "TENANT#a"}, "sk": {"S": "EVT#1"}, "event": {"S": "x" * 1500}}
    assert item_size(item) == 2 + 8 + 2 + 5 + 5 + 1500
    assert write_units(item_size(item)) == 2
    assert write_units(item_size(item), transactional=True) == 4
    assert write_units(10) == 1
    assert read_units(5000, consistent=True) == 2
    assert read_units(5000) == 1
    assert read_units(0) == 0.5


def test_reads_are_charged_to_the_read_cap_of_their_partition() -> None:
    clock = _Clock()
    client, limits, _ = _client(clock)
    _put(client, "TENANT#hot", 1)
    key = {"pk": {"S": "TENANT#hot"}, "sk": {"S": "EVT#00000001"}}
    for _ in range(3000):
        client.get_item(TableName="audit", Key=key, ConsistentRead=True)
    with pytest.raises(ClientError):
        client.get_item(TableName="audit", Key=key, ConsistentRead=True)
    assert limits.throttled["get_item"] == 3


def test_the_key_design_is_a_strategy_a_sharded_one_spreads_the_hot_key() -> None:
    def sharded(table: str, pk: str, sk: str) -> str:  # what a sharded audit key would hash: pk plus a shard
        return f"{pk}#{hashlib.sha256(sk.encode()).digest()[0] % 8}"

    clock = _Clock()
    client, limits, _ = _client(clock, key_design=sharded)
    for n in range(3000):
        _put(client, "TENANT#hot", n)
    assert sum(limits.throttled.values()) == 0


def test_the_partition_mode_throttles_the_current_audit_keys_at_5000_requests_a_second() -> None:
    busy = bench_partitions.run(rate=5000, seconds=0.5)
    assert int(str(busy["throttled_calls"])) > 0
    assert int(str(busy["audit_partition_peak_wcu_s"])) == 1000
    assert busy["chain_gap_free"] is True
    assert {"p99_ms", "errors", "seal_lag_p99_s", "harness_cpu_s"} <= busy.keys()
    quiet = bench_partitions.run(rate=20, seconds=1.0)
    assert quiet["throttled_calls"] == 0
    assert quiet["errors"] == 0
    assert quiet["chain_gap_free"] is True
    assert "throttled calls" in bench_partitions.verdict([quiet, busy])
