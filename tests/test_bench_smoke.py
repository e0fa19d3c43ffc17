"""The benchmarks still run: each one's ``run()`` at the smallest sizes, checked for the shape of its rows.

Never a timing: a figure's size depends on the machine; these only prove the benchmark code works
against today's app (routes, settings, emulator), so ``make bench`` cannot rot between runs.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
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
from chalicelib.settings import PROJECT_ROOT, Settings
from tests.conftest import DIRECTORY_REGION, Emulated


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
        assert {"req_per_s", "ratio_to_same_calls", "ratio_to_bare_1_call", "p99_ms", "server_cpu_ms_per_req",
                "cpu_ratio_to_same_calls", "generator_cpu_ms_per_req", "generator_cpu_cores"} <= row.keys()
    assert "generator process" in bench_load.verdict(rows)[1]


def test_the_same_calls_bare_routes_make_the_calls_enclaves_routes_must(emulated: Emulated,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A read: its read + one PutItem of a small audit item; a write: one TransactWriteItems of two puts."""
    settings = Settings(region=DIRECTORY_REGION, directory_region=DIRECTORY_REGION)
    monkeypatch.setenv("BARE_DATA_REGION", "eu-west-2")
    monkeypatch.setenv("BARE_DATA_TABLE", settings.data_table("UK"))
    monkeypatch.setenv("BARE_AUDIT_TABLE", settings.audit_table("UK"))
    spec = importlib.util.spec_from_file_location("bare_app_under_test", bench_load.BARE_DIR / "app.py")
    assert spec is not None
    assert spec.loader is not None
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    calls: list[tuple[str, int]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, len(params.get("TransactItems", []))))

    bare.dynamodb("eu-west-2").meta.events.register("before-parameter-build.dynamodb", seen)
    base = "/same-calls/v1/tenants/tnt_bench/learners"
    json_headers = {"Content-Type": "application/json"}
    with Client(bare.app) as client:
        created = client.http.post(base, body=json.dumps({"given_name": "Ada"}), headers=json_headers)
        assert created.status_code == 201
        learner = json.loads(created.body)["learner_id"]
        assert calls == [("TransactWriteItems", 2)]
        calls.clear()
        read = client.http.get(f"{base}/{learner}")
        assert json.loads(read.body) == {"learner_id": learner, "given_name": "Ada"}
        assert calls == [("GetItem", 0), ("PutItem", 0)]
        calls.clear()
        result = client.http.post(f"{base}/{learner}/results", body=json.dumps({"score": 17}), headers=json_headers)
        assert result.status_code == 201
        assert calls == [("TransactWriteItems", 2)]
        calls.clear()
        listed = client.http.get(f"{base}/{learner}/results")
        assert [item["score"] for item in json.loads(listed.body)["items"]] == [17]
        assert calls == [("Query", 0), ("PutItem", 0)]
    audit = emulated.clients.dynamodb("eu-west-2").query(
        TableName=settings.audit_table("UK"), KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "TENANT#tnt_bench"}})["Items"]
    assert sorted(item["action"]["S"] for item in audit) == ["learner.create", "learner.read", "result.create",
                                                             "results.read"]


def test_the_hot_path_profile_reports_cpu_per_request_and_top_functions() -> None:
    cpu, packages, top = bench_profile.run(requests=20, top=10)
    assert [row["variant"] for row in cpu] == ["bare", "enclave"]
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
    assert second.count("| 4a. Field encryption (F2) |") == 1
    assert "| 4c. Audit export memory (F3) |" in second
    assert "Only 4a. Field encryption (F2) ran now" in second
