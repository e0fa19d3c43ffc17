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
import os
import threading
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    ForbiddenError,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    ThreadedHTTPServer,
)

from chalicelib.settings import PROJECT_ROOT

NOT_FOUND = json.dumps({"error": {"code": "not_found", "message": "no such route"}}).encode()


class EnclaveGateway(LocalGateway):
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
