"""A local webhook receiver for ``make run``: verifies each delivery's Standard Webhooks signature and prints
ids only (webhook-id, event type, event id, tenant id).

    python -m devtools.webhook_receiver --port 8099 --secret whsec_...

Register ``http://127.0.0.1:8099/`` as an endpoint of a tenant (the local platform allows ``http://`` to a
loopback address; deployed stages accept ``https://`` only) and pass the secret the registration answered.
A delivery whose signature does not verify, or whose timestamp is more than five minutes off, gets 401;
``--fail N`` answers 503 to the first N deliveries (to watch the retries).
"""

from __future__ import annotations

import argparse
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from chalicelib.domain.webhooks import signature

TOLERANCE_SECONDS = 300


def verified(secrets: list[str], body: bytes, headers: Any, now: float) -> bool:
    """The reference check: the three headers present, the timestamp within tolerance, one ``v1`` signature
    equal (constant time) to the HMAC of ``{id}.{timestamp}.{body}`` under one of ``secrets``."""
    message_id, stamp, signatures = (headers.get(name) for name in
                                     ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (message_id and stamp and signatures and stamp.isdigit()):
        return False
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return False
    expected = [signature(secret, message_id, int(stamp), body) for secret in secrets]
    return any(hmac.compare_digest(given, wanted) for given in signatures.split(" ") for wanted in expected)


def handler(secrets: list[str], fail: int) -> type[BaseHTTPRequestHandler]:
    state = {"failures_left": fail}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if state["failures_left"] > 0:
                state["failures_left"] -= 1
                print(f"answered 503 (to show a retry) webhook-id={self.headers.get('webhook-id')}", flush=True)
                self._answer(503)
                return
            if not verified(secrets, body, self.headers, time.time()):
                print(f"REFUSED (signature) webhook-id={self.headers.get('webhook-id')}", flush=True)
                self._answer(401)
                return
            detail = json.loads(body)
            print(f"verified webhook-id={self.headers['webhook-id']} type={detail.get('event_type')} "
                  f"event_id={detail.get('event_id')} tenant_id={detail.get('tenant_id')}", flush=True)
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--secret", action="append", required=True,
                        help="the endpoint's whsec_ secret (twice during a rotation's overlap)")
    parser.add_argument("--fail", type=int, default=0, help="answer 503 to the first N deliveries")
    args = parser.parse_args()
    server = HTTPServer((args.host, args.port), handler(args.secret, args.fail))
    print(f"webhook receiver on http://{args.host}:{args.port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
