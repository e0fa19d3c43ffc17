"""The local platform, started the way ``make run`` starts it, on free ports: the e2e and browser tests' ``platform``
(the session fixture of tests/conftest.py, so one platform serves both levels).

Ports come from ``devtools.ports`` (random, below the kernel's ephemeral range, probed by binding),
so a developer's ``make run`` and parallel runs do not clash. Tokens come from
``python -m chalicelib.cli token`` run as a subprocess against this platform, which exercises the CLI
as a developer uses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from chalicelib.adapters.aws import AwsClients
from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings
from devtools.platform import PlatformError, RunningPlatform, start
from devtools.ports import DEFAULT_PORTS, HOST, free_local_settings, port_is_free, ports_of

__all__ = ["DEFAULT_PORTS", "HOST", "Platform", "cli_environment", "free_local_settings", "port_is_free", "ports_of",
           "run_cli", "running_platform"]

JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def cli_environment(local: LocalPlatformSettings) -> dict[str, str]:
    env = {**os.environ, "ENCLAVE_MOTO_PORT": str(local.moto_port), "ENCLAVE_PORT_BASE": str(local.port_base),
           "ENCLAVE_STATE_DIR": str(local.state_dir), "ENCLAVE_FRESH": "1" if local.fresh else "0"}
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def run_cli(local: LocalPlatformSettings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chalicelib.cli", *args], capture_output=True, text=True,
                          env=cli_environment(local), cwd=PROJECT_ROOT, timeout=60, check=False)


@dataclass
class Platform:
    """A running local platform and how to talk to it."""

    local: LocalPlatformSettings
    running: RunningPlatform
    startup_seconds: float
    _tokens: dict[tuple[str, ...], str] = field(default_factory=dict)
    _session: requests.Session = field(default_factory=requests.Session)

    def url(self, region: str) -> str:
        return self.local.endpoint_of(region)

    def emulator(self) -> AwsClients:
        """boto3 clients of the platform's emulator (to inspect or add resources)."""
        return AwsClients(endpoint_url=self.local.emulator_url, emulator_credentials=True)

    def token(self, role: str, tenant: str | None = None, region: str | None = None) -> str:
        """An ID token from ``python -m chalicelib.cli token`` (stdout must hold exactly the JWT)."""
        args = ["token", "--role", role, *(["--tenant", tenant] if tenant else []),
                *(["--region", region] if region else [])]
        key = tuple(args)
        if key not in self._tokens:
            result = run_cli(self.local, *args)
            assert result.returncode == 0, result.stderr
            assert JWT_SHAPE.fullmatch(result.stdout.rstrip("\n")), "stdout must hold the token alone"
            assert result.stdout.count("\n") == 1
            assert result.stderr.strip(), "the CLI says what it did on stderr"
            assert result.stdout.strip() not in result.stderr
            self._tokens[key] = result.stdout.strip()
        return self._tokens[key]

    def call(self, region: str, method: str, path: str, token: str | None = None, *, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        all_headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        response = self._session.request(method, self.url(region) + path, headers=all_headers,
                                         data=None if body is None else json.dumps(body),
                                         timeout=30)
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = response.text
        return response.status_code, payload


@contextlib.contextmanager
def running_platform() -> Iterator[Platform]:
    """Start the platform on free ports (twice at most: another process may take a probed port first)."""
    began = time.monotonic()
    for attempt in range(2):  # another process may take a probed port before the platform binds it
        local = free_local_settings()
        try:
            running = start(local)
            break
        except PlatformError:
            if attempt:
                raise
    try:
        yield Platform(local, running, time.monotonic() - began)
    finally:
        running.stop()
