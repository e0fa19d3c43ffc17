"""The cost model of ``bench.bench_cost``: calls read from a ``bench_calls`` row, and the arithmetic."""

from __future__ import annotations

import json

import pytest

from bench import bench_cost
from bench.bench_cost import Profile, Usage, monthly_cost, usage

ASSUMPTIONS = {"lambda_memory_mb": 2048, "lambda_base_ms": 10, "lambda_ms_per_dynamodb_call": 5,
               "lambda_ms_per_kms_call": 20, "lambda_ms_per_s3_call": 30, "wru_per_transaction_item": 2,
               "rru_per_read_call": 1, "learner_bytes": 5000, "audit_event_bytes": 1000, "audit_months_kept": 12}
PRICES = {"lambda_per_gb_second": 0.00002, "lambda_per_million_requests": 0.2, "api_gateway_rest_per_million": 4.0,
          "dynamodb_per_million_wru": 1.0, "dynamodb_per_million_rru": 0.25, "dynamodb_per_gb_month": 0.5,
          "kms_symmetric_per_10k": 0.03, "kms_asymmetric_per_10k": 0.15, "kms_per_key_month": 1.0,
          "s3_put_per_1k": 0.005, "s3_get_per_1k": 0.0004, "s3_per_gb_month": 0.023}


def test_a_rows_calls_become_request_units() -> None:
    row = {"calls": "ddb.Query x2, ddb.PutItem, ddb.TransactWriteItems, kms.Sign, kms.Decrypt, s3.PutObject",
           "dynamodb_detail": "Query(data L#*#K..L#*#P) x2, PutItem(audit), "
                              "Transact[ConditionCheck:data, Put:audit, Put:data x2, Update:audit]"}
    assert usage(row, ASSUMPTIONS) == Usage(dynamodb_calls=4, rru=2, wru=2 * 5 + 1, kms_symmetric=1,
                                            kms_asymmetric=1, s3_put=1, s3_get=0)
    assert usage({"calls": "-", "dynamodb_detail": ""}, ASSUMPTIONS) == Usage()


def test_the_monthly_cost_is_the_sum_of_its_parts_worked_by_hand() -> None:
    write = Usage(dynamodb_calls=2, rru=1, wru=8)
    export = Usage(dynamodb_calls=1, rru=1, kms_asymmetric=1, s3_put=1)
    profile = Profile("toy", 100, {"write": 1_000, "export": 10}, "")
    cost = monthly_cost(profile, {"write": write, "export": export}, PRICES, ASSUMPTIONS)
    # Lambda: 1,010 requests; GB-s = 2 GB x (1,000 x (10 + 2x5) ms + 10 x (10 + 5 + 20 + 30) ms) = 41.3
    assert cost["lambda"] == pytest.approx(1_010 / 1e6 * 0.2 + 2 * (1_000 * 0.020 + 10 * 0.065) * 0.00002)
    assert cost["api_gateway"] == pytest.approx(1_010 / 1e6 * 4.0)
    assert cost["dynamodb_requests"] == pytest.approx(1_010 / 1e6 * 0.25 + 8_000 / 1e6 * 1.0)
    # storage: 100 learners x 5,000 B + 1,000 audited writes a month x 12 months x 1,000 B = 12.5 MB
    assert cost["dynamodb_storage"] == pytest.approx(0.0125 * 0.5)
    assert cost["kms"] == pytest.approx(10 / 1e4 * 0.15)
    assert cost["s3"] == pytest.approx(10 / 1e3 * 0.005)
    assert cost["total"] == pytest.approx(sum(v for k, v in cost.items() if k != "total"))


def test_a_route_without_measured_calls_is_an_error() -> None:
    with pytest.raises(KeyError, match="nowhere"):
        monthly_cost(Profile("toy", 1, {"nowhere": 1}, ""), {}, PRICES, ASSUMPTIONS)


def test_the_price_table_is_dated_cited_and_complete() -> None:
    table = json.loads(bench_cost.PRICES.read_text())
    assert table["as_of"]
    assert all(url for urls in table["sources"].values() for url in urls)
    assert set(table["regions"]) == {"us-east-1", "eu-west-2", "ap-southeast-1", "ap-southeast-2"}
    assert all(set(prices) == set(PRICES) for prices in table["regions"].values())
    assert set(ASSUMPTIONS) <= set(table["assumptions"])


def test_the_reference_tenants_use_routes_the_app_has() -> None:
    import app

    routes = {f"{spec.method} {spec.path}" for spec in app.api.specs}
    for profile in bench_cost.PROFILES:
        assert {route.split(" (")[0] for route in profile.monthly} <= routes


def test_every_priced_route_is_one_the_call_bench_measures() -> None:
    """A route renamed in the call bench (``?email=`` became the search route) must not break ``make bench``."""
    from bench.bench_calls import _scenarios
    from bench.bench_cost import PROFILES

    measured = {f"{scenario.method} {scenario.path}" for scenario in _scenarios()}
    priced = {route for profile in PROFILES for route in profile.monthly}
    assert priced - measured == set()
