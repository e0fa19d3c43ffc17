"""Monthly AWS cost of a reference tenant per region, from the calls each route makes and published prices.

Inputs: the per-route AWS calls of ``bench.bench_calls`` (measured on a warm container: DynamoDB reads,
transaction items and plain writes, KMS and S3 calls; a write that has a cached and an uncached way
is priced by its ``(not read here within the minute)`` row), the price table ``bench/prices.json``
(dated, each price with its source; estimates marked there) and two reference tenants' monthly requests per
route (``PROFILES``). For each tenant and region it prices:

* Lambda: requests, and GB-seconds = memory x (base ms + ms per AWS call x calls) per request;
* API Gateway (REST): one call per request;
* DynamoDB on demand: read request units (1 per read call), write request units (2 per transaction
  item, 1 per plain write), and storage (learners' items plus a year of audit events);
* KMS: symmetric calls (a cold tenant key) and asymmetric ones (checkpoint signatures), per 10,000;
* S3: PUTs and GETs of exports and access packages.

Per-region fixed costs (two KMS keys, the tables' existence) are not a tenant's and are left out, as
are free tiers. Run ``python -m bench.bench_cost``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES = Path(__file__).resolve().parent / "prices.json"
_TRANSACT = re.compile(r"Transact\[([^\]]*)\]")
_PART = re.compile(r"^(\S+?)(?: x(\d+))?$")
DYNAMO_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
DYNAMO_PLAIN_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
KMS_ASYMMETRIC = {"Sign", "GetPublicKey"}

LEARNER = "/v1/tenants/{tenant_id}/learners/{learner_id}"
REQUESTS = "/v1/tenants/{tenant_id}/requests"
AUDIT = "/v1/tenants/{tenant_id}/audit"


@dataclass(frozen=True)
class Profile:
    """A reference tenant: learners kept, and requests per month per route (``bench_calls`` names)."""

    name: str
    learners: int
    monthly: Mapping[str, float]
    note: str


def _school() -> Profile:
    return Profile("reference school", 1_000, {
        "GET /v1/tenants/{tenant_id}": 1_000,
        "POST /v1/tenants/{tenant_id}/learners": 20,
        "GET " + LEARNER: 4_000,
        "POST /v1/tenants/{tenant_id}/learners/search": 500,
        "PATCH " + LEARNER: 100,
        "DELETE " + LEARNER: 15,
        "POST " + LEARNER + "/results": 5_000,
        "GET " + LEARNER + "/results": 3_000,
        "POST " + LEARNER + "/consents": 100,
        "GET " + LEARNER + "/consents": 300,
        "PUT " + LEARNER + "/departure": 15,
        "POST " + REQUESTS: 3,
        "GET " + REQUESTS + "/{request_id}": 6,
        "GET " + REQUESTS + "/{request_id}/package": 1,
        "GET " + AUDIT: 4,
        "POST " + AUDIT + "/exports": 1,
        "GET " + AUDIT + "/verify": 4,
    }, "a term month: 4 profile views and 5 results per learner, 20 enrolments, weekly audit reads")


def _review_centre() -> Profile:
    return Profile("reference review centre", 20_000, {
        "GET /v1/tenants/{tenant_id}": 20_000,
        "POST /v1/tenants/{tenant_id}/learners": 2_000,
        "GET " + LEARNER: 40_000,
        "POST /v1/tenants/{tenant_id}/learners/search": 10_000,
        "PATCH " + LEARNER: 1_000,
        "DELETE " + LEARNER: 200,
        # 4 mock exams per learner, then the exam-results day: every learner's result posted at once
        "POST " + LEARNER + "/results": 80_000 + 20_000,
        # 3 looks per learner over the month, and 3 more each on results day
        "GET " + LEARNER + "/results": 60_000 + 60_000,
        "POST " + LEARNER + "/consents": 2_000,
        "GET " + LEARNER + "/consents": 5_000,
        "POST " + LEARNER + "/results/research-share": 500,
        "PUT " + LEARNER + "/departure": 500,
        "POST " + REQUESTS: 30,
        "GET " + REQUESTS + "/{request_id}": 60,
        "GET " + REQUESTS + "/{request_id}/package": 10,
        "GET " + AUDIT: 20,
        "POST " + AUDIT + "/exports": 4,
        "GET " + AUDIT + "/verify": 4,
    }, "a month with an exam-results day: 20,000 results posted and 60,000 result reads that day on top")


PROFILES = (_school(), _review_centre())


@dataclass(frozen=True)
class Usage:
    """What one request of a route uses, from its measured calls."""

    dynamodb_calls: int = 0
    rru: float = 0
    wru: float = 0
    kms_symmetric: int = 0
    kms_asymmetric: int = 0
    s3_put: int = 0
    s3_get: int = 0

    @property
    def kms_calls(self) -> int:
        return self.kms_symmetric + self.kms_asymmetric

    @property
    def s3_calls(self) -> int:
        return self.s3_put + self.s3_get


def _counted(text: str) -> list[tuple[str, int]]:
    """``"ddb.Query x2, kms.Sign"`` -> ``[("ddb.Query", 2), ("kms.Sign", 1)]``."""
    parts = []
    for part in (p.strip() for p in text.split(",")):
        match = _PART.match(part)
        if part and part != "-" and match is not None:
            parts.append((match.group(1), int(match.group(2) or 1)))
    return parts


def usage(row: Mapping[str, Any], assumptions: Mapping[str, Any]) -> Usage:
    """A ``bench_calls`` row's calls priced in units: read calls -> RRU, transaction items -> 2 WRU each."""
    calls = _counted(str(row.get("calls", "")))
    dynamo = {name.split(".", 1)[1]: n for name, n in calls if name.startswith("ddb.")}
    items = sum(n for inner in _TRANSACT.findall(str(row.get("dynamodb_detail", "")))
                for _, n in _counted(inner))
    kms = {name.split(".", 1)[1]: n for name, n in calls if name.startswith("kms.")}
    s3 = {name.split(".", 1)[1]: n for name, n in calls if name.startswith("s3.")}
    return Usage(
        dynamodb_calls=sum(dynamo.values()),
        rru=sum(n for op, n in dynamo.items() if op in DYNAMO_READS) * float(assumptions["rru_per_read_call"]),
        wru=items * float(assumptions["wru_per_transaction_item"])
        + sum(n for op, n in dynamo.items() if op in DYNAMO_PLAIN_WRITES),
        kms_symmetric=sum(n for op, n in kms.items() if op not in KMS_ASYMMETRIC),
        kms_asymmetric=sum(n for op, n in kms.items() if op in KMS_ASYMMETRIC),
        s3_put=s3.get("PutObject", 0), s3_get=s3.get("GetObject", 0),
    )


def monthly_cost(profile: Profile, usages: Mapping[str, Usage], prices: Mapping[str, float],
                 assumptions: Mapping[str, Any]) -> dict[str, float]:
    """USD per month of ``profile`` in a region with ``prices``, by service; ``total`` sums them."""
    missing = sorted(set(profile.monthly) - set(usages))
    if missing:
        raise KeyError(f"no measured calls for: {', '.join(missing)}")
    requests = gb_seconds = rru = wru = kms_sym = kms_asym = s3_put = s3_get = events = 0.0
    gb = float(assumptions["lambda_memory_mb"]) / 1024
    for route, count in profile.monthly.items():
        use = usages[route]
        ms = (float(assumptions["lambda_base_ms"])
              + use.dynamodb_calls * float(assumptions["lambda_ms_per_dynamodb_call"])
              + use.kms_calls * float(assumptions["lambda_ms_per_kms_call"])
              + use.s3_calls * float(assumptions["lambda_ms_per_s3_call"]))
        requests += count
        gb_seconds += count * gb * ms / 1000
        rru, wru = rru + count * use.rru, wru + count * use.wru
        kms_sym, kms_asym = kms_sym + count * use.kms_symmetric, kms_asym + count * use.kms_asymmetric
        s3_put, s3_get = s3_put + count * use.s3_put, s3_get + count * use.s3_get
        events += count if use.wru else 0  # every audited request writes its event in a transaction
    stored_gb = (profile.learners * float(assumptions["learner_bytes"]) + events * float(
        assumptions["audit_months_kept"]) * float(assumptions["audit_event_bytes"])) / 1e9
    cost = {
        "lambda": requests / 1e6 * prices["lambda_per_million_requests"] + gb_seconds * prices["lambda_per_gb_second"],
        "api_gateway": requests / 1e6 * prices["api_gateway_rest_per_million"],
        "dynamodb_requests": rru / 1e6 * prices["dynamodb_per_million_rru"]
        + wru / 1e6 * prices["dynamodb_per_million_wru"],
        "dynamodb_storage": stored_gb * prices["dynamodb_per_gb_month"],
        "kms": kms_sym / 1e4 * prices["kms_symmetric_per_10k"] + kms_asym / 1e4 * prices["kms_asymmetric_per_10k"],
        "s3": s3_put / 1e3 * prices["s3_put_per_1k"] + s3_get / 1e3 * prices["s3_get_per_1k"],
    }
    cost["total"] = sum(cost.values())
    return cost


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return table


def run(call_rows: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, object]]:
    """One row per reference tenant and region: USD per month by service, total and per learner."""
    if call_rows is None:
        from bench import bench_calls

        call_rows = bench_calls.run()
    from bench.bench_calls import NOT_CACHED

    table = load_prices()
    assumptions = table["assumptions"]
    usages = {str(row["route"]): usage(row, assumptions) for row in call_rows}
    for route in [r for r in usages if r.endswith(NOT_CACHED)]:  # priced as a learner not touched lately
        usages[route.removesuffix(NOT_CACHED)] = usages[route]
    rows: list[dict[str, object]] = []
    for profile in PROFILES:
        for region, prices in table["regions"].items():
            cost = monthly_cost(profile, usages, prices, assumptions)
            rows.append({"tenant": profile.name, "learners": profile.learners, "region": region,
                         "requests": int(sum(profile.monthly.values())),
                         **{f"{name}_usd": round(value, 4) for name, value in cost.items()},
                         "usd_per_1000_learners": round(cost["total"] / profile.learners * 1000, 3)})
    return rows


def describe() -> str:
    """The price table's date and what the reference tenants are (for the report)."""
    table = load_prices()
    tenants = "; ".join(f"{p.name} ({p.learners:,} learners): {p.note}" for p in PROFILES)
    return f"Prices as of {table['as_of']} (bench/prices.json, sources and estimates listed there). {tenants}."


if __name__ == "__main__":
    print(describe())
    for row in run():
        print(row)
