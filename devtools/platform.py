"""The whole local platform in one command (``make run``).

Starts the embedded AWS emulator (``devtools.emulator``: moto's server, costing O(items touched)),
creates every region's resources from the deployment's definitions, starts one API endpoint per
region (``devtools.serve``, the Chalice app with the dev stage's settings and that region's),
prints how to call them, runs the reminders job of every region at once and then hourly
(``devtools.reminders``), and stays in the foreground; Ctrl-C (or SIGTERM) stops every process it
started. A port in use fails fast.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from types import FrameType

from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.settings import PROJECT_ROOT, REGIONS, LocalPlatformSettings, Settings, load_local_settings
from devtools.provision import Provisioned, provision

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing"}
DIRECTORY_REGION = "us-east-1"  # the one emulated region the directory lives in (no global tables in moto)
REMINDERS_EVERY = 3600.0  # seconds: the reminders job's schedule (hourly, as EventBridge Scheduler runs it)


class PlatformError(RuntimeError):
    """The platform cannot start; the message says why and what to do."""


@dataclass
class RunningPlatform:
    local: LocalPlatformSettings
    emulator: subprocess.Popen[bytes]
    endpoints: dict[str, subprocess.Popen[bytes]]

    def stop(self) -> None:
        for process in [*self.endpoints.values(), self.emulator]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.endpoints.values(), self.emulator]:
            try:
                process.wait(timeout=60 if process is self.emulator else 10)  # the emulator saves its state
            except subprocess.TimeoutExpired:
                print(f"process {process.pid} did not stop in time; killed", file=sys.stderr)
                process.kill()


def check_ports_free(local: LocalPlatformSettings) -> None:
    ports = [local.moto_port] + [local.port_of(region) for region in REGIONS] + [local.port_base + 8]
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((local.host, port)) == 0:
                raise PlatformError(
                    f"port {port} on {local.host} is already in use; stop what runs there or set "
                    "ENCLAVE_MOTO_PORT / ENCLAVE_PORT_BASE to free ports")


def start(local: LocalPlatformSettings, quiet: bool = False) -> RunningPlatform:
    """Start the emulator and the four endpoints; return once every endpoint answers /v1/health.

    ``quiet``: the endpoints' request logs go nowhere (``make demo`` starting the platform for itself)."""
    sink = subprocess.DEVNULL if quiet else None
    check_ports_free(local)
    base_env = {**os.environ, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": DIRECTORY_REGION, "PYTHONUNBUFFERED": "1"}
    base_env.pop("AWS_ENDPOINT_URL", None)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "devtools.emulator", "--host", local.host, "--port", str(local.moto_port),
         "--state", str(local.emulator_state_file), "--snapshot-seconds", str(local.snapshot_seconds),
         *(["--fresh"] if local.fresh else []), *([] if local.journal else ["--no-journal"])],
        env=base_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    platform = RunningPlatform(local, emulator, {})
    try:
        # loading the snapshot and replaying the journal after it grow with the data
        _wait_for(f"{local.emulator_url}/moto-api/", "the AWS emulator", emulator, timeout=600)
        provisioned = _provision(local)
        env = endpoint_environment(local, provisioned, base_env)
        for region in REGIONS:
            platform.endpoints[region] = subprocess.Popen(
                [sys.executable, "-m", "devtools.serve", "--stage", "dev", "--host", local.host,
                 "--port", str(local.port_of(region)), "--sequence"],
                env={**env, "ENCLAVE_REGION": region}, cwd=PROJECT_ROOT, stdout=sink, stderr=sink)
        for region, process in platform.endpoints.items():
            _wait_for(f"{local.endpoint_of(region)}/v1/health", f"the {region} endpoint", process)
        platform.endpoints["console"] = start_console(local, env, quiet)
    except BaseException:
        platform.stop()
        raise
    return platform


def _provision(local: LocalPlatformSettings) -> Provisioned:
    settings = Settings(region=DIRECTORY_REGION, directory_region=DIRECTORY_REGION)
    jurisdictions = load_jurisdictions(settings.policy_dir / "jurisdictions")
    return provision(AwsClients(endpoint_url=local.emulator_url, emulator_credentials=True), settings, jurisdictions)


def endpoint_environment(local: LocalPlatformSettings, provisioned: Provisioned,
                         base_env: dict[str, str]) -> dict[str, str]:
    """What a regional endpoint needs beyond the dev stage's settings: where the emulator and pools are."""
    pools = {region: pool.model_dump() for region, pool in provisioned.cognito_pools.items()}
    return {
        **base_env,
        "AWS_ENDPOINT_URL": local.emulator_url,
        "ENCLAVE_ENDPOINTS": json.dumps({region: local.endpoint_of(region) for region in REGIONS}),
        "ENCLAVE_COGNITO_POOLS": json.dumps(pools),
        "ENCLAVE_JWKS_URL_TEMPLATE": local.emulator_url + "/{pool_id}/.well-known/jwks.json",
        "ENCLAVE_CONSOLE_ORIGIN": local.console_url,
        "ENCLAVE_WEBHOOKS_ALLOW_LOCAL_HTTP": "true",  # the receiver of devtools.webhook_receiver (docs/events.md)
    }


def _wait_for(url: str, what: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PlatformError(f"{what} exited with code {process.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback URL we built
                return
        except OSError:
            time.sleep(0.1)
    raise PlatformError(f"{what} did not answer at {url} within {timeout:.0f} s")


def start_console(local: LocalPlatformSettings, env: dict[str, str], quiet: bool = False) -> subprocess.Popen[bytes]:
    """Start the console server for ``make run`` and return once it answers (``stop`` stops it)."""
    sink = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen([sys.executable, "-m", "devtools.console_server", "--host", local.host,
                                "--port", str(local.port_base + 8)], env=env, cwd=PROJECT_ROOT,
                               stdout=sink, stderr=sink)
    _wait_for(f"{local.console_url}/config.json", "the console server", process)
    return process


def banner(local: LocalPlatformSettings) -> str:
    lines = ["Enclave local platform is up.", f"  AWS emulator   {local.emulator_url}"]
    lines += [f"  {region:<14} {local.endpoint_of(region)}" for region in REGIONS]
    lines += [f"  console        {local.console_url}   (a user: .venv/bin/python -m devtools.console_server user "
              "--role platform_admin --region eu-west-2)"]
    lines += [f"  alert outbox   {local.console_url}/#/outbox (admins; the emulator's SES, JSON at "
              f"{local.emulator_url}/enclave/outbox); the reminders job runs hourly, now: "
              ".venv/bin/python -m devtools.reminders"]
    eu = local.endpoint_of("eu-west-2")
    lines += [
        "",
        "Get a token and call the API:",
        "  TOKEN=$(.venv/bin/python -m chalicelib.cli token --role platform_admin --region eu-west-2)",
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" {eu}/v1/jurisdictions/UK",
        "  curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        f"       -d '{{\"name\": \"Hill School\", \"kind\": \"school\", \"jurisdiction\": \"UK\"}}' {eu}/v1/tenants",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def run_reminders(local: LocalPlatformSettings, stop: threading.Event) -> None:
    """The reminders job of every region now and then hourly, as EventBridge Scheduler runs it in AWS (a thread of
    this process, so the platform still has only the emulator, the endpoints and the console as children)."""
    from devtools.reminders import run

    while not stop.is_set():
        for region in REGIONS:
            try:
                run(local, region)
            except Exception as exc:  # a failed run is reported, and retried in an hour
                print(f"the reminders job of {region} failed: {exc}", file=sys.stderr)
        stop.wait(REMINDERS_EVERY)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    local = load_local_settings()
    signal.signal(signal.SIGTERM, _interrupt)  # during start-up: unwind, and start() stops what it began
    try:
        platform = start(local)
    except PlatformError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped during start-up", file=sys.stderr)
        return 130
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(banner(local), flush=True)
    quit_reminders = threading.Event()
    threading.Thread(target=run_reminders, args=(local, quit_reminders), name="reminders", daemon=True).start()
    try:
        while not stopping:
            for region, process in platform.endpoints.items():
                if process.poll() is not None:
                    print(f"the {region} endpoint stopped (code {process.returncode})", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        quit_reminders.set()
        platform.stop()
        print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
