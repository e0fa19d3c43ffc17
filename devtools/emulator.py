"""The AWS emulator every local use runs: tests (in-process), benchmarks and ``make run`` (a server).

moto 5.2.5, made to behave more like DynamoDB, not less, and to cost what DynamoDB costs (O(items
touched), not O(table)):

1. moto's TransactWriteItems deep-copies every table a transaction touches, once per item, to be able
   to roll back: a transaction costs time proportional to the whole table (50 ms at a few thousand
   items). DynamoDB checks every condition against the state before the transaction and then applies
   all writes; ``two_phase_transact_write_items`` does the same, with no snapshot. Observable results
   (writes, CancellationReasons) are those of moto's own version.
2. A Query on a table's key looks at the items of its key range only: moto sorts the whole table and
   sizes every item of the partition on every Query, and even a filter of the partition costs
   O(partition) (a tenant's partition holds all its learners). Each partition keeps its range keys
   sorted (``SortedPartition``, maintained on every put and delete), so a Query finds its range by
   bisection: O(log partition + items returned). The items found and their order are those of moto's
   own code, which still runs, given the items of the range. (GetItem, PutItem, UpdateItem and
   DeleteItem are dict look-ups in moto already.) Queries on a secondary index still scan the table.
   (``devtools.partitions``.)
3. moto's backend is not thread-safe; DynamoDB applies each request atomically. In-process,
   ``serialise_requests`` holds ``EMULATOR_LOCK`` around each request of a client; the server holds
   the same lock around each HTTP request.
4. Server only: keep-alive connections (werkzeug's development server closes the connection after
   every response; AWS keeps connections open, and botocore reuses them), and a listen backlog of
   1,024 (a crowd of connections arriving together is queued, not reset).
5. Server with ``--state``: every mutating request is journaled, on disk before it is answered, and
   replayed over the last snapshot at start (``devtools.journal``, ``devtools.replay``).

``python -m devtools.emulator --port N [--state FILE]`` serves it (what ``make run`` and the
benchmarks start); with ``--state``, the data survives restarts (``devtools.persistence``).
"""

from __future__ import annotations

import argparse
import io
import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
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
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import ThreadedWSGIServer

from devtools.partitions import SortedPartition, partition_queries, sorted_partitions
from devtools.persistence import Store
from devtools.replay import CLOCK, begin, finish, mutation, replay

EMULATOR_LOCK = threading.RLock()
__all__ = ["EMULATOR_LOCK", "SortedPartition", "install", "serialise_requests", "serialised",
           "two_phase_transact_write_items"]


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
                            expression_attribute_names=names or {}, expression_attribute_values=values or {})


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
    """Apply fixes 1 and 2 to moto's classes (once; later calls do nothing)."""
    if DynamoDBBackend.transact_write_items is two_phase_transact_write_items:
        return
    DynamoDBBackend.transact_write_items = two_phase_transact_write_items  # type: ignore[method-assign]
    sorted_partitions()
    partition_queries(EMULATOR_LOCK)


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


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialised(app: WsgiApp, store: Store | None = None) -> WsgiApp:
    """One request at a time (DynamoDB applies each atomically); each write journaled before its answer.

    A mutating request (``devtools.replay.mutation``) is appended to the store's journal under the lock,
    in the order requests are applied; every answer, a read's too, waits (outside the lock, so concurrent
    requests share one disk flush) until the journal holds everything applied before it: no client sees
    a state a crash could lose. Once the store took its last snapshot, requests are refused (503, which
    the SDK retries and then reports)."""
    journal = store.journal if store is not None else None

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = mutation(environ) if store is not None else None
        with EMULATOR_LOCK:
            if store is not None and store.closed:
                start_response("503 Service Unavailable", [("Content-Type", "application/json")])
                return [b'{"__type": "ServiceUnavailable", "message": "the emulator is stopping"}']
            if found is None or store is None:
                answer = list(app(environ, start_response))
            else:
                store.changes += 1
                body = environ["wsgi.input"].read()
                environ["wsgi.input"] = io.BytesIO(body)
                record = begin(environ, body) if journal is not None else None
                try:
                    answer = list(app(environ, start_response))
                finally:
                    CLOCK.at = None
                if record is not None and journal is not None:
                    finish(record, found, b"".join(answer))
                    journal.append(record)
            sequence = journal.written if journal is not None else 0
        if journal is not None:
            journal.wait_durable(sequence)
        return answer

    return call


class EmulatorServer(ThreadedWSGIServer):
    """werkzeug's threaded server with the endpoints' listen backlog (werkzeug's is 128; four endpoints with a
    crowd each open connections beyond their pools at once)."""

    request_queue_size = 1024


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, answering HTTP/1.1 with a ``Content-Length`` and keeping the connection."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in separate writes: no 40 ms delayed-ACK stall

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None and self.command not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            self.close_connection = True  # a chunked or unframed body: werkzeug's way, one request per connection
            super().run_wsgi()
            return
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(length or 0)))  # drained: the next request follows
        response: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            response["status"], response["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.server.app(environ, start_response))
        code, _, reason = response["status"].partition(" ")
        self.send_response(int(code), reason)
        for name, value in response["headers"]:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


OUTBOX_PATH = "/enclave/outbox"


def outbox() -> list[dict[str, Any]]:
    """Every e-mail the emulator's SES sent, oldest first, in every region (the console's outbox)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent: list[dict[str, Any]] = []
    with EMULATOR_LOCK:
        for region, backend in ses_backends[DEFAULT_ACCOUNT_ID].items():
            sent += [{"region": region, "id": m.id, "from": m.source, "to": list(m.destinations.get("ToAddresses", [])),
                      "subject": m.subject, "body": m.body}
                     for m in backend.sent_messages if hasattr(m, "subject")]
    return sent


def with_outbox(app: Callable[..., Any]) -> Callable[..., Any]:
    """``GET /enclave/outbox``: the SES outbox as JSON (moto keeps sent mail but has no API to read it)."""

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == OUTBOX_PATH and environ.get("REQUEST_METHOD") == "GET":
            import json

            body = json.dumps(outbox()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)  # type: ignore[no-any-return]

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, help="keep the state in this file (loaded on start, saved "
                        "periodically and on SIGINT/SIGTERM); without it, nothing is kept")
    parser.add_argument("--fresh", action="store_true", help="start empty, ignoring the saved state")
    parser.add_argument("--snapshot-seconds", type=float, default=5.0)
    parser.add_argument("--no-journal", action="store_true",
                        help="snapshots only: a SIGKILL loses the writes answered since the last one")
    args = parser.parse_args()
    install()
    store = Store(args.state, EMULATOR_LOCK, args.snapshot_seconds, journaled=not args.no_journal) \
        if args.state else None
    moto_app = DomainDispatcherApplication(create_backend_app)
    if store is not None:
        if args.fresh:
            store.discard()
        with EMULATOR_LOCK:
            store.load(lambda record: replay(moto_app, record))
    server = EmulatorServer(args.host, args.port, with_outbox(serialised(moto_app, store)), handler=KeepAliveHandler)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    threading.Thread(target=server.serve_forever, name="emulator", daemon=True).start()
    if store is not None:
        store.start()
    stopping.wait()
    server.shutdown()
    if store is not None:
        store.stop()


if __name__ == "__main__":
    main()
