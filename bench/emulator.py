"""``python -m bench.emulator --port N``: moto's server, made as faithful as the test suite's emulator.

Same server as ``python -m moto.server`` (moto's WSGI app and request handler), plus:

* ``tests.emulator.install()``: TransactWriteItems checks every condition, then applies the writes,
  without moto's copy of every table it touches (which makes a transaction cost time proportional
  to the table: tens of milliseconds at a thousand items, growing through a load test);
* a Query on a table's key looks at the items of its key range only: moto sorts the whole table and
  sizes every item of the partition on every Query (a read would cost time proportional to all that
  every tenant stored); the items found and their order are those of moto's own code, which still
  runs, given the items of the range;
* one lock around each request: DynamoDB applies each request atomically, and moto's threaded server
  would otherwise let concurrent requests interleave inside its backend's dicts;
* keep-alive connections: werkzeug's development server closes the connection after every response,
  so each AWS call would open a TCP connection and start a server thread (AWS keeps connections
  open, and botocore reuses them); here a request with a ``Content-Length`` keeps its connection.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import io
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def partition_queries() -> None:
    """Make ``Table.query`` on the table's own key see only the queried partition's items."""
    original = Table.query
    signature = inspect.signature(original)

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or hash_key is None or not self.range_key_attr:
            return original(self, *args, **kwargs)
        partition = self.items.get(hash_key, {})  # get: the defaultdict gains no empty partition
        comparison, operands = bound.arguments.get("range_comparison"), bound.arguments.get("range_objs")
        items = sorted((item for item in partition.values()
                        if not comparison or item.range_key.compare(comparison, operands)),
                       key=lambda item: item.range_key)
        self.all_items = lambda: items  # type: ignore[method-assign]  # requests are serialised: see below
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]


def serialised(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    return call


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    importlib.import_module("tests.emulator").install()  # the test suite's fixes (a test module: not type-checked)
    partition_queries()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialised(app), threaded=True, request_handler=KeepAliveHandler)


if __name__ == "__main__":
    main()
