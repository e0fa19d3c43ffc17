"""The benchmarks still run: each one's ``run()`` at the smallest sizes, checked for the shape of its rows.

Never a timing: a figure's size depends on the machine; these only prove the benchmark code works
against today's app (routes, settings, emulator), so ``make bench`` cannot rot between runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from bench import (
    bench_audit_verify,
    bench_cold_start,
    bench_encryption,
    bench_export_memory,
    bench_load,
    bench_profile,
)
from bench.load_generator import RESULT, learner_body
from chalicelib.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import DIRECTORY_REGION, Emulated, RegionalApi, TokenFactory


def test_cold_start_serves_the_event_in_both_apps_and_profiles_the_import() -> None:
    rows = bench_cold_start.run(processes=1)
    assert [row["variant"] for row in rows] == ["bare", "enclave", "enclave_snapstart"]
    for row in rows:
        assert row["processes"] == 1
        assert {"wall_ms", "wall_ratio", "in_process_ms", "in_process_ratio", "cpu_ratio", "import_ms",
                "first_request_ms"} <= row.keys()
    stages = bench_cold_start.dependency_costs(repeats=1)
    assert len(stages) == len(bench_cold_start.STAGES)
    assert all({"stage", "cpu_ms", "wall_ms"} <= row.keys() for row in stages)
    profile = bench_cold_start.import_profile(top=5, repeats=1)
    assert len(profile) == 5
    assert all({"package", "self_ms", "share"} <= row.keys() for row in profile)


def test_calls_are_counted_for_every_route_of_the_app() -> None:
    """In a child process: the benchmark runs its own in-process emulator and installs its own container."""
    script = "import json; from bench import bench_calls; print(json.dumps(bench_calls.run()))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    import app

    routes = {f"{spec.method} {spec.path}" for spec in app.api.specs}
    measured = {row["route"].split(" (")[0] for row in rows if row["verdict"] != "not measured"}
    assert routes <= measured | {row["route"] for row in rows}, "every route has a row"
    unmeasured = [row for row in rows if row["verdict"] == "not measured"]
    assert not unmeasured, f"add or fix a Scenario in bench/bench_calls.py for: {unmeasured}"
    learner_read = next(row for row in rows if row["route"] == "GET /v1/tenants/{tenant_id}/learners/{learner_id}")
    assert {"dynamodb", "kms", "calls", "goal", "verdict"} <= learner_read.keys()


def test_load_runs_every_variant_and_kind_from_a_generator_process_without_errors() -> None:
    rows = bench_load.run(clients=2, requests=6, rounds=1, tenants=1, seed_learners=1)
    assert [(row["variant"], row["kind"]) for row in rows] == list(bench_load.PHASES)
    for row in rows:
        assert row["requests"] == 6
        assert row["errors"] == 0, row["first_errors"]
        assert row["generators"] == min(2, bench_load.generator_count())
        assert {"req_per_s", "ratio_to_same_calls", "pair_ratio_min_max", "ratio_to_bare_1_call", "p99_ms",
                "server_cpu_ms_per_req",
                "cpu_ratio_to_same_calls", "generator_cpu_ms_per_req", "generator_cpu_cores"} <= row.keys()
    assert "generator process" in bench_load.verdict(rows)[1]


Shape = tuple[str, tuple[tuple[str, str], ...]]


@contextlib.contextmanager
def _shapes(client: Any) -> Iterator[list[Shape]]:
    """Every DynamoDB call ``client`` makes meanwhile: its operation and its items' (kind, table), sorted."""
    calls: list[Shape] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        items = [(kind, str(op["TableName"])) for entry in params.get("TransactItems", [])
                 for kind, op in entry.items()]
        items += [("Get", table) for table in params.get("RequestItems", {})]
        calls.append((model.name, tuple(sorted(items))))

    client.meta.events.register("before-parameter-build.dynamodb", seen)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb", seen)


def test_the_same_calls_bare_routes_make_the_calls_enclaves_warm_routes_make(
        emulated: Emulated, monkeypatch: pytest.MonkeyPatch, api: dict[str, RegionalApi], token: TokenFactory,
        onboard: Callable[..., dict[str, Any]]) -> None:
    """Per route, the bare app's ``/same-calls`` makes the DynamoDB calls Enclave's warm route makes, with the
    same kinds of items in the same tables (a write: one TransactWriteItems; a read: its read + the audit
    PutItem), so the emulator does the same work for both."""
    settings = Settings(region=DIRECTORY_REGION, directory_region=DIRECTORY_REGION)
    tenant = onboard("UK")["tenant_id"]
    staff = token("tenant_staff", tenant, region="eu-west-2")
    enclave: list[list[Shape]] = []
    learners = f"/v1/tenants/{tenant}/learners"
    with _shapes(emulated.clients.dynamodb("eu-west-2")) as enclave_calls:
        for _ in range(2):  # the second round is the warm one
            enclave_calls.clear()
            status, body = api["eu-west-2"].call("POST", learners, staff, learner_body(1))
            assert status == 201, body
            learner = body["learner_id"]
            enclave = [list(enclave_calls)]
            for method, path, sent in (("GET", f"{learners}/{learner}", None),
                                       ("POST", f"{learners}/{learner}/results", RESULT),
                                       ("GET", f"{learners}/{learner}/results", None)):
                enclave_calls.clear()
                status, body = api["eu-west-2"].call(method, path, staff, sent)
                assert status in (200, 201), body
                enclave.append(list(enclave_calls))

    monkeypatch.setenv("BARE_DATA_REGION", "eu-west-2")
    monkeypatch.setenv("BARE_DATA_TABLE", settings.data_table("UK"))
    monkeypatch.setenv("BARE_KEY_TABLE", settings.key_table("UK"))
    monkeypatch.setenv("BARE_AUDIT_TABLE", settings.audit_table("UK"))
    spec = importlib.util.spec_from_file_location("bare_app_under_test", bench_load.BARE_DIR / "app.py")
    assert spec is not None
    assert spec.loader is not None
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    base = "/same-calls/v1/tenants/tnt_bench/learners"
    json_headers = {"Content-Type": "application/json"}
    bare_calls = []
    with Client(bare.app) as client, _shapes(bare.dynamodb("eu-west-2")) as calls:
        created = client.http.post(base, body=json.dumps(learner_body(1)), headers=json_headers)
        assert created.status_code == 201
        learner = json.loads(created.body)["learner_id"]
        bare_calls.append(list(calls))
        calls.clear()
        read = client.http.get(f"{base}/{learner}")
        answered = json.loads(read.body)
        assert {name: answered[name] for name in ("learner_id", *learner_body(1))} == {"learner_id": learner,
                                                                                      **learner_body(1)}
        assert answered["version"] == 1  # the profile item carries Enclave's version and times
        bare_calls.append(list(calls))
        calls.clear()
        result = client.http.post(f"{base}/{learner}/results", body=json.dumps(RESULT), headers=json_headers)
        assert result.status_code == 201
        bare_calls.append(list(calls))
        calls.clear()
        listed = client.http.get(f"{base}/{learner}/results")
        assert [item["score"] for item in json.loads(listed.body)["items"]] == [RESULT["score"]]
        bare_calls.append(list(calls))
    assert bare_calls == enclave
    assert [[name for name, _ in route] for route in bare_calls] == [
        ["TransactWriteItems"], ["BatchGetItem", "PutItem"], ["TransactWriteItems"], ["Query", "PutItem"]]
    audit = emulated.clients.dynamodb("eu-west-2").query(
        TableName=settings.audit_table("UK"), KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "TENANT#tnt_bench#BARE"}})["Items"]
    events = [json.loads(item["pending"]["S"]) for item in audit]
    assert sorted(event["action"] for event in events) == ["learner.create", "learner.read", "result.create",
                                                           "results.read"]
    # each audit item is an event with Enclave's members, not a stub smaller than Enclave's
    assert all({"actor", "resource", "request_id", "details", "event_id", "at"} <= event.keys() for event in events)


def test_the_same_calls_results_read_queries_enclaves_key_range(emulated: Emulated,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Enclave's results read queries the learner's profile and results together (``L#<id>#P`` to
    ``L#<id>#R#~``): the bare app's queries the same range, and answers 404 for a learner with no profile."""
    settings = Settings(region=DIRECTORY_REGION, directory_region=DIRECTORY_REGION)
    for name, value in (("BARE_DATA_REGION", "eu-west-2"), ("BARE_DATA_TABLE", settings.data_table("UK")),
                        ("BARE_KEY_TABLE", settings.key_table("UK")), ("BARE_AUDIT_TABLE", settings.audit_table("UK"))):
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("bare_app_range", bench_load.BARE_DIR / "app.py")
    assert spec is not None
    assert spec.loader is not None
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    ranges: list[tuple[str, str]] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        values = params.get("ExpressionAttributeValues", {})
        ranges.append((values[":lo"]["S"], values[":hi"]["S"]))

    bare.dynamodb("eu-west-2").meta.events.register("before-parameter-build.dynamodb.Query", seen)
    with Client(bare.app) as client:
        assert client.http.get("/same-calls/v1/tenants/tnt_bench/learners/lrn_none/results").status_code == 404
    assert ranges == [("L#lrn_none#P", "L#lrn_none#R#~")]


def test_the_hot_path_profile_reports_cpu_per_request_and_top_functions() -> None:
    cpu, packages, top = bench_profile.run(requests=20, top=10)
    assert [row["variant"] for row in cpu] == ["bare", "bare_same_calls", "enclave"]
    assert all(float(str(row["own_cpu_ms_per_req"])) > 0 for row in cpu)
    assert all(float(str(row["cpu_ms_per_req"])) > 0 for row in cpu)
    assert len(top) == 10
    assert {"function", "calls_per_req", "own_ms_per_req", "share"} <= top[0].keys()
    assert any(str(row["package"]).startswith("chalicelib") for row in packages)


def test_in_process_benchmarks_give_one_row_per_variant() -> None:
    encryption = bench_encryption.run(records=20, repeats=2)
    assert [row["variant"] for row in encryption] == ["raw_aesgcm", "record_helper", "record_helper_with_unwrap"]
    verify = bench_audit_verify.run(events=200, repeats=1)
    assert [row["variant"] for row in verify] == ["floor_json_sha256", "raw_sha256", "verify_lines", "verify_file",
                                                  "verify_lines_tree_head",
                                                  "verify_lines_general", "verify_lines_rfc8785"]
    large = bench_audit_verify.run_large(events=2_000)
    assert [row["events"] for row in large] == [200, 2_000]
    assert all(row["valid"] for row in large), "the large-file writer writes a chain the CLI finds valid"
    memory = bench_export_memory.run(events=500)
    assert len(memory) == 1
    assert memory[0]["events"] == 500
    assert {"peak_rss_mb", "baseline_rss_mb", "meets_goal"} <= memory[0].keys()


def test_the_report_is_assembled_and_written(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "encryption,verify,export_memory",
                           "--output", str(output)], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = output.read_text()
    assert report.startswith("# Benchmarks")
    assert report.count("\n## ") == 4  # the summary and three sections
    assert "4a. Field encryption" in report
    assert "| benchmark | goal | status | result |" in report


def test_only_reruns_the_sections_it_names_and_keeps_the_others_in_the_report(tmp_path: Path) -> None:
    from bench.__main__ import main

    report = tmp_path / "results.md"
    assert main(["--quick", "--only", "encryption,export_memory", "--output", str(report)]) == 0
    first = report.read_text(encoding="utf-8")
    kept = first[first.index("## 4c."):first.index("Whole run:")]
    assert main(["--quick", "--only", "encryption", "--output", str(report)]) == 0
    second = report.read_text(encoding="utf-8")
    assert kept in second, "the section not re-run keeps its figures"
    assert second.index("## 4a.") < second.index("## 4c."), "sections stay in the report's order"
    assert second.count("| 4a. Field encryption |") == 1
    assert "| 4c. Audit export memory |" in second
    assert "Only 4a. Field encryption ran now" in second


def test_load_ratio_pairs_each_round_of_enclave_with_the_same_round_of_the_baseline() -> None:
    enclave = [{"throughput": 90.0}, {"throughput": 50.0}, {"throughput": 100.0}]
    same = [{"throughput": 100.0}, {"throughput": 50.0}, {"throughput": 125.0}]
    assert bench_load._pair_ratios(enclave, same) == [0.9, 1.0, 0.8]
