"""Local stand-in for Lambda's DynamoDB-stream trigger: reads the emulator's stream of an audit table
and calls the audit sequencer with the event Lambda would send (``{"Records": [...]}``).

Nothing invokes a Lambda from a stream in moto (emulator-facts.md, "DynamoDB Streams in moto"); this
poller keeps one iterator per shard, turns GetRecords' records into Lambda's record shape and hands
them over in batches. Used by devtools/platform.py (``make run``) and by tests.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

Handler = Callable[[Mapping[str, Any]], object]


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda delivers (dates as epoch seconds, the stream's ARN added)."""
    shaped = dict(record)
    dynamodb = dict(shaped.get("dynamodb", {}))
    when = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(when, datetime):
        dynamodb["ApproximateCreationDateTime"] = when.timestamp()
    shaped["dynamodb"] = dynamodb
    shaped["eventSourceARN"] = stream_arn
    return shaped


class StreamPoller:
    """Polls one table's stream (all shards, from the start) and feeds batches to ``handler``."""

    def __init__(self, streams: Any, stream_arn: str, handler: Handler, batch_size: int = 100) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._handler = handler
        self._batch = batch_size
        self._iterators: dict[str, str | None] = {}

    def poll_once(self) -> int:
        """Deliver every record available now; return how many were delivered."""
        delivered = 0
        for shard in self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"].get("Shards", []):
            delivered += self._drain(shard["ShardId"])
        return delivered

    def _drain(self, shard_id: str) -> int:
        if shard_id not in self._iterators:
            self._iterators[shard_id] = self._streams.get_shard_iterator(
                StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        delivered = 0
        while self._iterators[shard_id]:
            page = self._streams.get_records(ShardIterator=self._iterators[shard_id], Limit=self._batch)
            records = page.get("Records", [])
            if records:  # Lambda retries a failed batch; so does this loop on the next poll
                self._handler({"Records": [lambda_record(r, self._arn) for r in records]})
            self._iterators[shard_id] = page.get("NextShardIterator")
            delivered += len(records)
            if not records:
                break
        return delivered

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Poll until ``stop`` is set (the local platform's sealing delay is about ``interval``)."""
        while not stop.is_set():
            self.poll_once()
            stop.wait(interval)
