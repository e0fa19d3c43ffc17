"""Serves the console (``console/``) for ``make run``, in local sign-in mode.

``python -m devtools.console_server --port P`` with ENCLAVE_ENDPOINTS, ENCLAVE_COGNITO_POOLS and
AWS_ENDPOINT_URL in the environment (``devtools.platform`` starts it). Besides the static files it
answers three things only a local build has:

- ``GET /config.json``: ``mode: "local"``, the regional endpoints and each region's pool and client;
- ``GET /local/outbox``: the e-mails the emulator's SES recorded (the reminders job's alerts);
- ``POST /local/cognito/{region}``: Cognito's ``InitiateAuth`` (USER_PASSWORD_AUTH only) passed to
  the emulator's cognito-idp in that region (the emulator sends no CORS headers and picks the
  region from the request's signature, so the browser cannot call it directly).

The deployed build (``deploy.console``) ships neither: its config says ``mode: "hosted"`` and the
console signs in through Cognito's hosted UI. ``python -m devtools.console_server user --role R
[--tenant T] [--region X]`` prints a user name and a fresh password to sign in with.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chalicelib.settings import PROJECT_ROOT, REGIONS, load_local_settings

CONSOLE_DIR = PROJECT_ROOT / "console"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' http://127.0.0.1:* http://localhost:*; "
                               "img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}
MAX_BODY = 8192


def local_config(environ: dict[str, str]) -> dict[str, Any]:
    endpoints = json.loads(environ.get("ENCLAVE_ENDPOINTS", "{}"))
    pools = json.loads(environ.get("ENCLAVE_COGNITO_POOLS", "{}"))
    return {"mode": "local", "regions": endpoints, "default_region": "eu-west-2",
            "pools": {region: {"client_id": pool["client_id"]} for region, pool in pools.items()},
            "local_cognito": "/local/cognito/"}


class ConsoleHandler(BaseHTTPRequestHandler):
    config: dict[str, Any] = {}
    emulator_url: str = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/config.json":
            self._send(200, json.dumps(self.config).encode(), TYPES[".json"])
            return
        if path == "/local/outbox":  # what the emulator's SES recorded (the console's outbox screen)
            self._send(200, read_outbox(self.emulator_url), TYPES[".json"])
            return
        file = static_file(path)
        if file is None:
            self._send(404, b"not found", "text/plain")
            return
        self._send(200, file.read_bytes(), TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "")

    def do_POST(self) -> None:
        region = self.path.removeprefix("/local/cognito/")
        length = int(self.headers.get("Content-Length") or 0)
        if region not in REGIONS or not self.path.startswith("/local/cognito/") or length > MAX_BODY:
            self._send(404, b'{"message": "no such route"}', TYPES[".json"])
            return
        body = json.loads(self.rfile.read(length) or b"{}")
        target = self.headers.get("X-Amz-Target", "")
        if target != "AWSCognitoIdentityProviderService.InitiateAuth" or body.get("AuthFlow") != "USER_PASSWORD_AUTH":
            self._send(400, b'{"__type": "InvalidParameterException", "message": "only USER_PASSWORD_AUTH"}',
                       TYPES[".json"])
            return
        status, answer = initiate_auth(self.emulator_url, region, body)
        self._send(status, json.dumps(answer).encode(), "application/x-amz-json-1.1")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the APIs log what matters."""


def static_file(path: str) -> Path | None:
    """The file of ``console/`` that ``path`` names (``/`` is index.html), never outside it."""
    relative = "index.html" if path in ("", "/") else path.lstrip("/")
    candidate = (CONSOLE_DIR / relative).resolve()
    if not candidate.is_relative_to(CONSOLE_DIR.resolve()) or not candidate.is_file():
        return None
    return candidate


def read_outbox(emulator_url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(emulator_url + "/enclave/outbox", timeout=10) as answer:  # noqa: S310 - the emulator
        body: bytes = answer.read()
    return body


def initiate_auth(emulator_url: str, region: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    from botocore.exceptions import ClientError

    from chalicelib.adapters.aws import AwsClients

    cognito = AwsClients(endpoint_url=emulator_url, max_attempts=1, emulator_credentials=True).cognito(region)
    params = body.get("AuthParameters") or {}
    try:
        result = cognito.initiate_auth(ClientId=str(body.get("ClientId")), AuthFlow="USER_PASSWORD_AUTH",
                                       AuthParameters={"USERNAME": str(params.get("USERNAME", "")),
                                                       "PASSWORD": str(params.get("PASSWORD", ""))})
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return 400, {"__type": error.get("Code", "NotAuthorizedException"),
                     "message": "Incorrect username or password."}
    return 200, {"AuthenticationResult": dict(result.get("AuthenticationResult", {}))}


def serve(host: str, port: int) -> None:
    ConsoleHandler.config = local_config(dict(os.environ))
    ConsoleHandler.emulator_url = os.environ.get("AWS_ENDPOINT_URL", "")
    server = ThreadingHTTPServer((host, port), ConsoleHandler)
    print(f"serving the console on http://{host}:{port}", flush=True)
    server.serve_forever()


def add_user(role: str, tenant: str | None, region: str) -> tuple[str, str]:
    """A console user of the local pools (created on first use) and a fresh password."""
    from chalicelib.adapters.aws import AwsClients
    from chalicelib.adapters.cognito_admin import create_user_with_password, find_user_pool

    local = load_local_settings()
    cognito = AwsClients(endpoint_url=local.emulator_url, max_attempts=2, emulator_credentials=True).cognito(region)
    pool = find_user_pool(cognito, region)
    if pool is None:
        raise SystemExit(f"no Enclave user pool in {region} at {local.emulator_url}; is `make run` up?")
    username = "-".join(p for p in (role, tenant, region) if p)
    return username, create_user_with_password(cognito, pool, username, role, tenant)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="the local console server, or a console user")
    parser.add_argument("command", nargs="?", choices=("serve", "user"), default="serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=load_local_settings().port_base + 8)
    parser.add_argument("--role")
    parser.add_argument("--tenant")
    parser.add_argument("--region", choices=REGIONS, default="eu-west-2")
    args = parser.parse_args(argv)
    if args.command == "user":
        if not args.role:
            parser.error("--role is required")
        username, password = add_user(args.role, args.tenant, args.region)
        print(f"region: {args.region}\nuser:     {username}\npassword: {password}")
        return 0
    serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
