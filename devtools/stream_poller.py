"""Local stand-in for Lambda's DynamoDB-stream trigger: reads the emulator's stream of an audit table
and calls the audit sequencer with the event Lambda would send (``{"Records": [...]}``).

Nothing invokes a Lambda from a stream in moto (emulator-facts.md, "DynamoDB Streams in moto"); this
poller keeps one iterator per shard, turns GetRecords' records into Lambda's record shape and hands
them over in batches. ``start_sequencing`` runs it in a thread of each local endpoint (``make run``:
devtools/serve.py ``--sequence``), calling the handler the app registers with Chalice; tests use the poller.
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import botocore.session

logger = logging.getLogger(__name__)

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


def audit_stream_handlers(app: Any) -> list[Handler]:
    """The app's ``on_dynamodb_record`` handlers, called as Lambda calls them (raw event, no context)."""
    names = [getattr(source, "name", "") for source in getattr(app, "event_sources", [])
             if type(source).__name__ == "DynamoDBEventConfig"]
    return [functools.partial(app.handler_map[name], context=None) for name in names if name in app.handler_map]


def start_sequencing(app: Any, region: str, endpoint_url: str, table_prefix: str,
                     stop: threading.Event, interval: float = 0.2) -> threading.Thread | None:
    """In a daemon thread, feed the streams of ``region``'s audit tables (``table_prefix-*``) to the app's
    stream handlers, as Lambda's event source mappings do in AWS; None when the app has no such handler."""
    handlers = audit_stream_handlers(app)
    if not handlers:
        return None
    session = botocore.session.get_session()
    session.set_credentials("testing", "testing")
    dynamodb: Any = session.create_client("dynamodb", region_name=region, endpoint_url=endpoint_url)
    streams = session.create_client("dynamodbstreams", region_name=region, endpoint_url=endpoint_url)

    def deliver(event: Mapping[str, Any]) -> None:
        for handler in handlers:
            handler(event)

    def run() -> None:
        tables = [name for name in dynamodb.list_tables()["TableNames"] if name.startswith(table_prefix + "-")]
        pollers = [StreamPoller(streams, dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"],
                                deliver) for name in tables]
        while not stop.is_set():
            for poller in pollers:
                try:
                    poller.poll_once()
                except Exception:  # a failed batch is delivered again on the next poll, as Lambda retries
                    logger.exception("the local audit sequencer failed a batch; retrying")
            stop.wait(interval)

    thread = threading.Thread(target=run, name=f"audit-sequencer-{region}", daemon=True)
    thread.start()
    return thread
