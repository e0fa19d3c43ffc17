"""Serves the Chalice app of one region on localhost, as ``chalice local`` would.

``python -m devtools.serve --stage dev --port 8003`` with ENCLAVE_REGION etc. in the environment.
It differs from ``chalice local`` in one way that the deployed API also has (a gateway response in
the template): an unknown route is a 404 in Enclave's error shape, not API Gateway's 403. With
``--sequence`` it also plays Lambda's DynamoDB-stream trigger for the region's audit tables and the SQS
trigger of its import queue (``devtools/queue_poller.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

from chalice.cli.factory import CLIFactory
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LambdaEventConverter,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    MatchResult,
    RouteMatcher,
    ThreadedHTTPServer,
)

from chalicelib.settings import PROJECT_ROOT

NOT_FOUND = json.dumps({"error": {"code": "not_found", "message": "no such route"}}).encode()


class IndexedRouteMatcher(RouteMatcher):
    """Chalice's matcher with the routes split once and grouped by their number of segments.

    Chalice's splits every route on every request, so its cost grows with the app's route count (Enclave's
    forty route paths paid about 3x what a bare app of nine did, for routing API Gateway does in AWS; this
    halves Enclave's). Same order
    (sorted: a literal segment before a capture), same answer; the captures are those of the route that
    matched (Chalice's kept leftovers of routes that failed part-way)."""

    def __init__(self, route_urls: list[str]) -> None:
        super().__init__(route_urls)
        self._by_length: dict[int, list[tuple[str, list[tuple[str, bool]]]]] = {}
        for route_url in self.route_urls:
            parts = [(p[1:-1], True) if p.startswith("{") and p.endswith("}") else (p, False)
                     for p in route_url.split("/")]
            self._by_length.setdefault(len(parts), []).append((route_url, parts))

    def match_route(self, url: str) -> MatchResult:
        parsed_url = urlparse(url)
        path = parsed_url.path
        if path != "/" and path.endswith("/"):
            path = path[:-1]
        parts = path.split("/")
        for route_url, pattern in self._by_length.get(len(parts), ()):
            captured = {}
            for given, (name, capture) in zip(parts, pattern, strict=True):
                if capture:
                    captured[name] = given
                elif given != name:
                    break
            else:
                return MatchResult(route_url, captured, parse_qs(parsed_url.query, keep_blank_values=True))
        raise ValueError(f"No matching route found for: {url}")


class EnclaveGateway(LocalGateway):
    def __init__(self, app_object: Any, config: Any) -> None:
        super().__init__(app_object, config)
        self.event_converter = LambdaEventConverter(IndexedRouteMatcher(list(app_object.routes)),
                                                    app_object.api.binary_types)

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            response = super().handle_request(method, path, headers, body)
        except ForbiddenError:
            return _not_found()
        if response.get("statusCode") == 405 and "MethodNotAllowedError" in str(response.get("body")):
            return _not_found()  # as the deployed API's gateway response answers an unknown method
        return response


def _not_found() -> dict[str, Any]:
    return {"statusCode": 404, "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
            "body": NOT_FOUND.decode()}


class EnclaveRequestHandler(ChaliceRequestHandler):
    # Chalice writes headers and body separately: with Nagle's algorithm and delayed ACKs every
    # keep-alive response waited ~40 ms for the client's ACK.
    disable_nagle_algorithm = True
    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
        self.local_gateway = EnclaveGateway(app_object, config)
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def log_message(self, format: str, *args: Any) -> None:
        """Access lines carry paths with query strings (e-mail look-ups): the app logs requests itself."""


class EndpointServer(ThreadedHTTPServer):
    """Chalice's threaded server with a listen backlog for a crowd.

    ``socketserver`` listens with a backlog of 5: with 16 clients connecting at once, while the GIL keeps
    the accepting thread waiting, the kernel's accept queue overflowed and connections were reset."""

    request_queue_size = 1024


def local_server(app: Any, config: Any, host: str, port: int) -> LocalDevServer:
    """What ``chalice.local.create_local_server`` builds, with Enclave's handler and server."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=EnclaveRequestHandler, server_cls=EndpointServer)


def _sequence(app: Any) -> None:
    """Seal audit events as the deployed stream trigger does (a daemon thread; dies with the server)."""
    from chalicelib.settings import load_settings
    from devtools.queue_poller import start_workers
    from devtools.stream_poller import start_sequencing

    settings = load_settings()
    if settings.aws_endpoint_url:
        start_sequencing(app, settings.region, settings.aws_endpoint_url, settings.audit_table_prefix,
                         threading.Event())
        start_workers(app, settings.region, settings.aws_endpoint_url, threading.Event())  # the import worker
        threading.Thread(target=_dispatch_webhooks, name="webhook-dispatch", daemon=True).start()


def _dispatch_webhooks(interval: float = 5.0) -> None:
    """Send due webhook deliveries, as the deployed one-minute schedule does (more often: a demo waits less)."""
    from chalicelib.composition import container

    while True:
        try:
            container().webhook_dispatcher.run()
        except Exception:  # the next pass retries; the deliveries stay queued
            logging.getLogger(__name__).exception("the local webhook dispatcher failed a pass")
        time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sequence", action="store_true",
                        help="also run the app's audit-stream handler on the emulator's streams (make run)")
    parser.add_argument("--project-dir", default=str(PROJECT_ROOT),
                        help="the Chalice project to serve (default: Enclave; the benchmarks serve their baseline)")
    args = parser.parse_args()
    factory = CLIFactory(args.project_dir, environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    os.environ.update(config.environment_variables)
    app = factory.load_chalice_app(config.environment_variables)
    if args.sequence:
        _sequence(app)
    server = local_server(app, config, args.host, args.port)
    print(f"serving {config.app_name} ({os.environ.get('ENCLAVE_REGION', '-')}) on http://{args.host}:{args.port}",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
