"""Cold start: fresh processes that import ``app`` and serve one authenticated tenant read, vs a bare app.

Each process (``bench/cold_child.py``) imports an app and calls its Lambda handler ``app.app(event,
context)`` once with the same API Gateway proxy event: ``GET /v1/tenants/{id}`` with a real Cognito
ID token, against the AWS emulator over HTTP (``devtools.emulator``, provisioned by
``devtools.provision``). Variants, interleaved (one of each per round, alternating which goes first):

* ``bare``: ``bench/bare/app.py``, Chalice + boto3, one GetItem on the directory, no token check;
* ``enclave``: Enclave's ``app.py`` as the eu-west-2 deployment: settings and law packs read at
  import, then the first request verifies the token (JWKS fetched from the emulator, as from
  Cognito), loads the Cedar policies, authorizes and reads the directory (one GetItem).

Figures per variant, medians and min-max over the rounds: wall time of the whole process (interpreter
start to exit, as the parent sees it) and the in-process time from the script's first line to the
response (import + first request, the Lambda init + first invoke). Goal: enclave at most 1.5x bare
(aim 1.3x). ``import_profile()`` adds ``python -X importtime -c "import app"`` summed per package.

Run ``python -m bench.bench_cold_start``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import DIRECTORY_REGION, Emulator, add_tenant, base_environment, emulator, run_child, spread
from chalicelib.adapters.cognito_admin import sign_in
from chalicelib.domain.ids import new_id
from chalicelib.settings import PROJECT_ROOT, LocalPlatformSettings
from devtools.platform import endpoint_environment

REGION = "eu-west-2"
GOAL_RATIO = 1.5
AIM_RATIO = 1.3
BARE_DIR = Path(__file__).resolve().parent / "bare"
CHILD = Path(__file__).resolve().parent / "cold_child.py"


def api_gateway_event(tenant_id: str, token: str) -> dict[str, Any]:
    """A REST API (v1) proxy event for ``GET /v1/tenants/{tenant_id}``, as API Gateway sends it."""
    path, resource = f"/v1/tenants/{tenant_id}", "/v1/tenants/{tenant_id}"
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token}",
               "Host": "api.eu-west-2.enclave.example", "User-Agent": "bench", "X-Forwarded-Proto": "https"}
    return {
        "resource": resource, "path": path, "httpMethod": "GET",
        "headers": headers, "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"tenant_id": tenant_id}, "stageVariables": None,
        "requestContext": {
            "resourcePath": resource, "httpMethod": "GET", "path": f"/api{path}", "stage": "api",
            "requestId": str(uuid.uuid4()), "accountId": "123456789012", "apiId": "bench",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestTimeEpoch": int(time.time() * 1000), "protocol": "HTTP/1.1", "domainName": headers["Host"],
        },
        "body": None, "isBase64Encoded": False,
    }


def stage_environment() -> dict[str, str]:
    """The dev stage's variables (``.chalice/config.json``), as Lambda sets them."""
    config = json.loads((PROJECT_ROOT / ".chalice" / "config.json").read_text())
    variables: dict[str, str] = config["stages"]["dev"].get("environment_variables", {})
    return variables


def enclave_environment(emulated: Emulator) -> dict[str, str]:
    """The eu-west-2 deployment's environment: the dev stage's variables and the local platform's."""
    local = LocalPlatformSettings(moto_port=int(emulated.url.rsplit(":", 1)[1]))
    env = endpoint_environment(local, emulated.provisioned, base_environment())
    return {**env, **stage_environment(), "ENCLAVE_REGION": REGION, "AWS_DEFAULT_REGION": REGION}


def bare_environment(emulated: Emulator) -> dict[str, str]:
    return {**base_environment(), "AWS_ENDPOINT_URL": emulated.url, "AWS_DEFAULT_REGION": REGION,
            "BARE_DIRECTORY_REGION": DIRECTORY_REGION, "BARE_DIRECTORY_TABLE": emulated.settings.directory_table}


def _one(app_dir: Path, event_file: str, env: dict[str, str]) -> dict[str, float]:
    done, wall_ms, cpu_ms = run_child([sys.executable, str(CHILD), str(app_dir), event_file], env=env, cwd=app_dir,
                                      timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({app_dir.name}): {done.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["status"] != 200:
        raise RuntimeError(f"cold-start child of {app_dir.name} answered {figures['status']}")
    return {**figures, "wall_ms": wall_ms, "cpu_ms": cpu_ms}


def run(processes: int = 7) -> list[dict[str, object]]:
    """One row per variant: wall and in-process times (median, min, max over ``processes`` rounds)."""
    subprocess.run([sys.executable, "-m", "chalicelib.adapters.lawpack_cache"], cwd=PROJECT_ROOT, check=True,
                   capture_output=True, timeout=120)  # the law packs' validated form, as `make package` builds it
    with emulator(regions=(REGION,)) as emulated, tempfile.TemporaryDirectory() as folder:
        tenant_id = new_id("tnt")
        add_tenant(emulated.clients, tenant_id, "UK", REGION, emulated.settings.directory_table)
        token = sign_in(emulated.clients.cognito(REGION), emulated.provisioned.cognito_pools[REGION],
                        "bench-cold-start", "tenant_admin", tenant_id)
        event_file = os.path.join(folder, "event.json")
        Path(event_file).write_text(json.dumps(api_gateway_event(tenant_id, token)))
        variants = {"bare": (BARE_DIR, bare_environment(emulated)),
                    "enclave": (PROJECT_ROOT, enclave_environment(emulated)),
                    # SnapStart: init and the warm-up hook run before the snapshot; a restored environment
                    # serves its first request warm (first_request_ms; its in-process time includes the warm-up)
                    "enclave_snapstart": (PROJECT_ROOT, {**enclave_environment(emulated), "BENCH_SNAPSTART": "1"})}
        for app_dir, env in variants.values():  # warm-up: bytecode caches and the OS file cache
            _one(app_dir, event_file, env)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for round_ in range(processes):
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in order:
                app_dir, env = variants[name]
                samples[name].append(_one(app_dir, event_file, env))
    bare_wall = statistics.median(s["wall_ms"] for s in samples["bare"])
    bare_in = statistics.median(s["in_process_ms"] for s in samples["bare"])
    bare_cpu = statistics.median(s["cpu_ms"] for s in samples["bare"])
    rows: list[dict[str, object]] = []
    for name, runs in samples.items():
        wall = spread([s["wall_ms"] for s in runs])
        inside = spread([s["in_process_ms"] for s in runs])
        cpu = spread([s["cpu_ms"] for s in runs])
        rows.append({
            "variant": name, "processes": len(runs),
            "wall_ms": wall["median"], "wall_min_max": f"{wall['min']:.0f}-{wall['max']:.0f}",
            "wall_ratio": round(wall["median"] / bare_wall, 3),
            "in_process_ms": inside["median"], "in_process_min_max": f"{inside['min']:.0f}-{inside['max']:.0f}",
            "in_process_ratio": round(inside["median"] / bare_in, 3),
            "cpu_ms": cpu["median"], "cpu_min_max": f"{cpu['min']:.0f}-{cpu['max']:.0f}",
            "cpu_ratio": round(cpu["median"] / bare_cpu, 3),
            "import_ms": round(statistics.median(s["import_ms"] for s in runs), 1),
            "first_request_ms": round(statistics.median(s["request_ms"] for s in runs), 1),
        })
    return rows


def import_profile(top: int = 12, repeats: int = 3) -> list[dict[str, object]]:
    """``python -X importtime -c "import app"`` (Enclave's), self time summed per package, biggest first.

    Packages are top-level names, except ``chalicelib`` split by module. The median of ``repeats``
    runs per package; ``share`` is of the whole import.
    """
    env = {**base_environment(), **stage_environment(), "ENCLAVE_REGION": REGION,
           "ENCLAVE_DIRECTORY_REGION": DIRECTORY_REGION}
    totals: dict[str, list[float]] = defaultdict(list)
    whole: list[float] = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], env=env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, check=True, timeout=120)
        per_package: dict[str, float] = defaultdict(float)
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, cumulative_us, name = (part.strip() for part in line[len("import time:"):].split("|"))
            per_package[_package(name)] += int(self_us) / 1000
            if name == "app":
                whole.append(int(cumulative_us) / 1000)
        for package, ms in per_package.items():
            totals[package].append(ms)
    whole_ms = statistics.median(whole)
    ranked = sorted(((statistics.median(v), k) for k, v in totals.items()), reverse=True)[:top]
    return [{"package": package, "self_ms": round(ms, 1), "share": f"{ms / whole_ms:.0%}",
             "import_app_ms": round(whole_ms, 1)} for ms, package in ranked]


CLIENT = "import boto3; boto3.client('dynamodb', region_name='eu-west-2')"
PYDANTIC = "from pydantic import BaseModel\nclass Model(BaseModel):\n    x: int"  # a model: pydantic.main, plugins
JWT = "import jwt.algorithms"
CEDAR = "import cedarpy"
LOGGER = "from aws_lambda_powertools import Logger; Logger(service='x')"
FIRST_REQUEST_MODULES = (
    "from chalicelib.composition import container; container(); import chalicelib.http, chalicelib.logs, "
    "chalicelib.adapters.cognito_jwt, chalicelib.adapters.cedar_authz, chalicelib.adapters.directory, "
    "chalicelib.services.access, chalicelib.services.tenants")
_LIBRARIES = f"import chalice.app; {CLIENT}; {JWT}; {CEDAR}; {LOGGER}"
STAGES = (
    ("python (empty interpreter)", "pass"),
    ("+ chalice, boto3, a DynamoDB client (= the bare app)", f"import chalice.app; {CLIENT}"),
    ("+ PyJWT with cryptography (RS256)", f"import chalice.app; {CLIENT}; {JWT}"),
    ("+ cedarpy", f"import chalice.app; {CLIENT}; {JWT}; {CEDAR}"),
    ("+ powertools Logger", _LIBRARIES),
    ("+ the Enclave modules GET /v1/tenants/{id} uses (settings and law packs read)",
     f"{_LIBRARIES}\n{FIRST_REQUEST_MODULES}"),
    ("+ import app: every other route's modules (request bodies, OpenAPI)",
     f"{_LIBRARIES}\n{FIRST_REQUEST_MODULES}; import app"),
    ("(not on this path) + pydantic and one model: what a request with a body adds",
     f"{_LIBRARIES}\n{FIRST_REQUEST_MODULES}; import app\n{PYDANTIC}"),
)


def dependency_costs(repeats: int = 5) -> list[dict[str, object]]:
    """CPU time of fresh processes importing what the first authenticated request needs, added stage by
    stage (median of ``repeats``, stages interleaved): the libraries, then the Enclave modules that
    request uses, then ``import app`` (what it loads beyond them is eager and unused by that request).
    CPU time, not wall time: these differences are tens of milliseconds, below the wall-time noise of
    a shared machine. The first request's own work (JWKS fetch, token check, Cedar) is not in here."""
    env = {**base_environment(), **stage_environment(), "ENCLAVE_REGION": REGION,
           "ENCLAVE_DIRECTORY_REGION": DIRECTORY_REGION}
    cpu: dict[str, list[float]] = {name: [] for name, _ in STAGES}
    wall: dict[str, list[float]] = {name: [] for name, _ in STAGES}
    for _ in range(repeats):
        for name, code in STAGES:
            done, wall_ms, cpu_ms = run_child([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"{name}: {done.stderr[-500:]}")
            cpu[name].append(cpu_ms)
            wall[name].append(wall_ms)
    rows: list[dict[str, object]] = []
    previous = None
    bare = statistics.median(cpu[STAGES[1][0]])
    for name, _ in STAGES:
        median = statistics.median(cpu[name])
        rows.append({"stage": name, "cpu_ms": round(median, 1),
                     "adds_cpu_ms": round(median - previous, 1) if previous is not None else "",
                     "cpu_ratio_to_bare_app": round(median / bare, 2),
                     "wall_ms": round(statistics.median(wall[name]), 1)})
        previous = median
    return rows


def _package(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "chalicelib":
        return ".".join(parts[:3])
    return parts[0]


if __name__ == "__main__":
    for row in run():
        print(row)
    for row in import_profile():
        print(row)
