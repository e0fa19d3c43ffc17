"""The JWKS source: an unreachable identity provider is an outage (503), not a bad token (401)."""

from __future__ import annotations

import socket

import jwt
import pytest

from chalicelib.adapters.cognito_jwt import JwksKeySource
from chalicelib.domain.errors import ServiceUnavailable, Unauthenticated
from tests.conftest import moto_jwks


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_jwks_is_a_503() -> None:
    port = _closed_port()
    source = JwksKeySource(lambda region: f"http://127.0.0.1:{port}/pool/.well-known/jwks.json")
    with pytest.raises(ServiceUnavailable):
        source.key_for("eu-west-2", "any-kid")


def test_unknown_kid_from_a_reachable_jwks_is_a_401(tmp_path: object) -> None:
    import http.server
    import json
    import threading

    body = json.dumps(moto_jwks()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        source = JwksKeySource(lambda region: url)
        kid = moto_jwks()["keys"][0]["kid"]
        assert isinstance(source.key_for("eu-west-2", kid), jwt.PyJWK)
        with pytest.raises(Unauthenticated):
            source.key_for("eu-west-2", "not-a-kid")
    finally:
        server.shutdown()
