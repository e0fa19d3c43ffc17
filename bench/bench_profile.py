"""Where the server's CPU goes on the load benchmark's hot path: CPU per request and the top functions.

A child process imports the app (Enclave's as the eu-west-2 deployment, or the bare baseline: its
one-call routes, and its ``/same-calls`` routes making Enclave's DynamoDB calls) and
serves the load benchmark's request mix (``bench.bench_load.MIX``: read a learner, list results,
enrol, add a result) one request at a time through Chalice's test client (routing with the load benchmark
server's matcher, ``devtools.serve.IndexedRouteMatcher``, for every app), against the emulator over
HTTP in another process: so the figures are the app's work and the SDK's, never the emulator's.
After a warm-up, one pass without a profiler gives CPU milliseconds per request
(``time.process_time``); a second pass under ``cProfile`` gives the functions with the most own time
(tottime, measured in CPU time), per request, with their share of the profiled total, and the own
time summed by package. ``PROFILE_DUMP=path`` keeps each child's stats. Run ``python -m bench.bench_profile``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.bench_cold_start import REGION, bare_environment, enclave_environment
from bench.common import DIRECTORY_REGION, emulator
from chalicelib.settings import PROJECT_ROOT

BARE_DIR = Path(__file__).resolve().parent / "bare"
CHILD = r'''
import cProfile, json, os, pstats, random, sys, time
sys.path.insert(0, sys.argv[1])
import botocore.client
import app
from chalice.test import Client
sdk = [0.0]  # CPU seconds inside SDK calls (signing, HTTP, parsing): the same per call for every app
make_api_call = botocore.client.BaseClient._make_api_call

def timed_api_call(self, *args, **kwargs):
    began = time.process_time()
    try:
        return make_api_call(self, *args, **kwargs)
    finally:
        sdk[0] += time.process_time() - began

botocore.client.BaseClient._make_api_call = timed_api_call
from bench.bench_load import MIX, RESULT, learner_body
requests, top, enclave = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "enclave"
client = Client(app.app)
from chalice.local import LambdaEventConverter
from devtools.serve import IndexedRouteMatcher
# route as the load benchmark's server (devtools.serve) routes, for every app: Chalice's own matcher splits
# every route on every request, a cost that grows with the route count and that API Gateway bears in AWS
client.http._local_gateway.event_converter = LambdaEventConverter(IndexedRouteMatcher(list(app.app.routes)),
                                                                  app.app.api.binary_types)
headers = {"Content-Type": "application/json"}

def call(method, path, body=None, expect=200):
    response = client.http.request(method, path, headers=headers, body=json.dumps(body).encode() if body else b"")
    if response.status_code != expect:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.body[:300]!r}")
    return json.loads(response.body) if response.body else None

if enclave:
    from chalicelib.adapters.cognito_admin import sign_in
    from chalicelib.composition import container
    clients, settings = container().clients, container().settings
    pool = settings.cognito_pools[settings.region]
    headers["Authorization"] = "Bearer " + sign_in(clients.cognito(settings.region), pool, "profile-admin",
                                                   "platform_admin", None)
    tenant = call("POST", "/v1/tenants", {"name": "Profile School", "kind": "school", "jurisdiction": "UK"},
                  expect=201)["tenant_id"]
    headers["Authorization"] = "Bearer " + sign_in(clients.cognito(settings.region), pool, "profile-staff",
                                                   "tenant_staff", tenant)
else:
    tenant = "tnt_bare"
base = f"{sys.argv[5]}/v1/tenants/{tenant}/learners"
learners = [call("POST", base, learner_body(n), expect=201)["learner_id"] for n in range(4)]
for learner in learners:
    call("POST", f"{base}/{learner}/results", RESULT, expect=201)
rng, counter = random.Random(7), [100]

def one():
    kind = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
    learner = rng.choice(learners[:8])
    if kind == "read_learner":
        call("GET", f"{base}/{learner}")
    elif kind == "list_results":
        call("GET", f"{base}/{learner}/results")
    elif kind == "create_learner":
        counter[0] += 1
        learners.append(call("POST", base, learner_body(counter[0]), expect=201)["learner_id"])
    else:
        call("POST", f"{base}/{learner}/results", RESULT, expect=201)

for _ in range(50):
    one()
started, sdk[0] = time.process_time(), 0.0
for _ in range(requests):
    one()
cpu_ms, sdk_ms = (time.process_time() - started) * 1000 / requests, sdk[0] * 1000 / requests
profile = cProfile.Profile(time.process_time)  # CPU time: waiting on the emulator is not ours
profile.enable()
for _ in range(requests):
    one()
profile.disable()
stats = pstats.Stats(profile)
total = sum(row[2] for row in stats.stats.values())
rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]

def package(path):
    if "site-packages/" in path:
        return path.split("site-packages/")[1].split("/")[0]
    if path.startswith(sys.argv[1] + "/"):
        parts = path[len(sys.argv[1]) + 1:].removesuffix(".py").split("/")
        return ".".join(parts[:2])
    return "python (stdlib, builtins)"

packages = {}
for (f, _, _), row in stats.stats.items():
    packages[package(f)] = packages.get(package(f), 0.0) + row[2]
if os.environ.get("PROFILE_DUMP"):
    stats.dump_stats(os.environ["PROFILE_DUMP"] + "." + sys.argv[4])
print(json.dumps({"cpu_ms": cpu_ms, "sdk_ms": sdk_ms, "profiled_ms": total * 1000 / requests, "packages": [
    {"package": name, "own_share": f"{own / total:.1%}", "est_cpu_ms_per_req": round(cpu_ms * own / total, 3)}
    for name, own in sorted(packages.items(), key=lambda item: -item[1])[:top]], "top": [
    {"function": f"{f.split('site-packages/')[-1].replace(sys.argv[1] + '/', '')}:{line}({name})",
     "calls_per_req": round(row[1] / requests, 1), "own_ms_per_req": round(row[2] * 1000 / requests, 3),
     "cum_ms_per_req": round(row[3] * 1000 / requests, 3), "share": f"{row[2] / total:.1%}"}
    for (f, line, name), row in rows]}))
'''


def _child(app_dir: Path, env: dict[str, str], variant: str, requests: int, top: int,
           prefix: str = "") -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(app_dir), str(requests), str(top), variant, prefix],
                          env=env,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"profile child ({variant}) failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(requests: int = 600, top: int = 10) -> tuple[list[dict[str, object]], list[dict[str, object]],
                                                     list[dict[str, object]]]:
    """Rows of CPU per request (the one-call bare app, the same-calls bare app and enclave), Enclave's own
    CPU time by package (share of the profile, and that share of the unprofiled CPU per request), and
    Enclave's top functions."""
    with emulator(regions=(REGION,)) as emulated:
        enclave = _child(PROJECT_ROOT, {**enclave_environment(emulated), "PYTHONPATH": str(PROJECT_ROOT)},
                         "enclave", requests, top)
        bare_env = {**bare_environment(emulated), "BARE_DATA_REGION": REGION, "PYTHONPATH": str(PROJECT_ROOT),
                    "BARE_DIRECTORY_REGION": DIRECTORY_REGION,
                    "BARE_DATA_TABLE": emulated.settings.data_table("UK"),
                    "BARE_AUDIT_TABLE": emulated.settings.audit_table("UK"),
                    "BARE_KEY_TABLE": emulated.settings.key_table("UK")}
        bare = _child(BARE_DIR, bare_env, "bare", requests, top)
        same = _child(BARE_DIR, bare_env, "bare_same_calls", requests, top, prefix="/same-calls")
    cpu = [{"variant": name, "requests": requests, "cpu_ms_per_req": round(result["cpu_ms"], 3),
            "ratio_to_same_calls": round(result["cpu_ms"] / same["cpu_ms"], 2),
            "ratio_to_bare": round(result["cpu_ms"] / bare["cpu_ms"], 2),
            "sdk_cpu_ms_per_req": round(result["sdk_ms"], 3),
            "own_cpu_ms_per_req": round(result["cpu_ms"] - result["sdk_ms"], 3),
            "profiled_ms_per_req": round(result["profiled_ms"], 3)}
           for name, result in (("bare", bare), ("bare_same_calls", same), ("enclave", enclave))]
    return cpu, list(enclave["packages"]), list(enclave["top"])


if __name__ == "__main__":
    from bench.common import markdown_table

    for table in run():
        print(markdown_table(table))
