"""``make bench`` (``python -m bench``): every benchmark, one report, each figure beside its baseline.

Runs, in order: cold start (plus the import profile and the libraries' share), AWS calls per route,
throughput under load, field encryption, audit verification, export memory, cost, growth, audit
contention, bulk import rate, the console on a 20,000-learner school. Prints the report as markdown and
writes it to ``bench/results.md``. ``--quick`` runs every benchmark at small sizes (a check that they
work, figures meaningless, no file written); ``--only cold_start,calls`` runs some.

Everything is measured on this machine in this run: timings are ratios to a baseline measured alongside
(interleaved), as medians with min-max over repetitions, never a single time.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import markdown_table

Rows = list[dict[str, object]]
RESULTS = Path(__file__).resolve().parent / "results.md"


@dataclass
class Section:
    key: str
    title: str
    about: str
    goal: str
    measure: Callable[[bool], list[tuple[str, Rows]]]
    verdict: Callable[[list[tuple[str, Rows]]], tuple[str, str]]


def _cold_start(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_cold_start

    return [
        ("Fresh processes, interleaved; ratios are to the bare app's medians",
         bench_cold_start.run(processes=2 if quick else 11)),
        ("What each layer adds to a fresh process's CPU time: the libraries the first authenticated request needs, "
         "then Enclave's modules it uses, then the rest of `import app` (and, off that path, pydantic)",
         bench_cold_start.dependency_costs(repeats=1 if quick else 5)),
        ('`python -X importtime -c "import app"`: self time per package, biggest first (median of 3)',
         bench_cold_start.import_profile(top=12, repeats=1 if quick else 3)),
    ]


def _cold_start_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    enclave = next(row for row in tables[0][1] if row["variant"] == "enclave")
    wall, inside, cpu = (float(str(enclave[k])) for k in ("wall_ratio", "in_process_ratio", "cpu_ratio"))
    met = wall <= 1.5 and inside <= 1.5
    aim = wall <= 1.3 and inside <= 1.3
    bare = next(row for row in tables[0][1] if row["variant"] == "bare")
    snap = next((row for row in tables[0][1] if row["variant"] == "enclave_snapstart"), None)
    snapped = "" if snap is None else (
        f"; with SnapStart (restored after the warm-up hook) the first request takes {snap['first_request_ms']} ms "
        f"against the bare app's init + first request of {bare['in_process_ms']} ms")
    return ("met" if met else "MISSED",
            f"enclave/bare: whole process {wall:.2f}x, in-process {inside:.2f}x (CPU {cpu:.2f}x); goal <= 1.5x "
            f"{'met' if met else 'missed'}, aim 1.3x {'met' if aim else 'not reached'}{snapped}")


_CALL_ROWS: Rows = []  # the calls section's rows, reused by the cost section


def _calls(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_calls

    _CALL_ROWS[:] = bench_calls.run()
    return [("Second request of each kind on a warm container (eu-west-2, moto in process)", _CALL_ROWS)]


def _calls_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    rows = tables[0][1]
    verdicts = [str(row["verdict"]) for row in rows]
    missed = [str(row["route"]) for row in rows if row["verdict"] == "MISSED"]
    kms_warm = [str(row["route"]) for row in rows if row.get("kind") in ("read", "write") and row.get("kms")]
    text = (f"{verdicts.count('met')} routes meet their goal, {len(missed)} miss it, "
            f"{verdicts.count('not measured')} not measured; KMS calls on warm reads/writes: "
            f"{', '.join(kms_warm) or 'none'}")
    return ("met" if not missed and "not measured" not in verdicts else "MISSED", text)


def _load(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_load

    if quick:
        return [("2 clients (quick)", bench_load.run(clients=2, requests=20, rounds=1, tenants=1, seed_learners=1)),
                *_profile(30)]
    rounds = int(os.environ.get("ENCLAVE_BENCH_LOAD_ROUNDS", "0")) or None
    return [
        ("8 clients on 4 tenants, paired rounds after a discarded warm-up round (the servers wait on each other "
         "more than on the CPU)",
         bench_load.run(clients=8, requests=200, rounds=rounds or 7, tenants=4, seed_learners=4, warmup=1)),
        ("16 clients on 8 tenants, paired rounds after a discarded warm-up round (the machine's two cores "
         "saturated)",
         bench_load.run(clients=16, requests=320, rounds=rounds or 5, tenants=8, seed_learners=3, warmup=1)),
        *_profile(600),
    ]


def _profile(requests: int) -> list[tuple[str, Rows]]:
    from bench import bench_profile

    cpu, packages, top = bench_profile.run(requests=requests)
    return [("The same mix, one request at a time in process (`bench/bench_profile.py`): the app's CPU per request "
             "(its SDK calls included, the emulator's work not)", cpu),
            ("Where Enclave's CPU goes (cProfile own time by package; est_cpu_ms_per_req = that share of the "
             "unprofiled CPU per request)", packages),
            ("Enclave's top 10 functions by own CPU time (profiled; per request)", top)]


def _load_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    from bench import bench_load

    parts, met = [], True
    for _, rows in tables[:-3]:
        ok, text = bench_load.verdict(rows)
        met = met and ok
        parts.append(f"{rows[0]['clients']} clients: {text}")
    by_variant = {str(row["variant"]): row for row in tables[-3][1]}
    mine, same = by_variant["enclave"], by_variant["bare_same_calls"]
    profile = (f"; in-process CPU per request {mine['cpu_ms_per_req']} vs {same['cpu_ms_per_req']} ms "
               f"({mine['ratio_to_same_calls']}x the same-calls bare app, {mine['ratio_to_bare']}x the one-call "
               "one), see the profile below")
    return ("met" if met else "MISSED", "; ".join(parts) + " (goal >= 85% per kind, 0 errors)" + profile)


def _cost(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_cost

    return [(bench_cost.describe() + " USD per month, free tiers left out", bench_cost.run(_CALL_ROWS or None))]


def _cost_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    parts = []
    for tenant in dict.fromkeys(str(row["tenant"]) for row in tables[0][1]):
        totals = {str(row["region"]): float(str(row["total_usd"])) for row in tables[0][1] if row["tenant"] == tenant}
        low, high = min(totals, key=totals.__getitem__), max(totals, key=totals.__getitem__)
        parts.append(f"{tenant}: ${totals[low]:.2f} ({low}) to ${totals[high]:.2f} ({high}) a month")
    return "reported", "; ".join(parts)


def _encryption(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_encryption

    rows = bench_encryption.run(records=200, repeats=3) if quick else bench_encryption.run(records=3_000, repeats=9)
    return [("Encrypt + decrypt of a learner's six fields, in process", rows)]


def _ratio_verdict(variant: str, goal: float, what: str) -> Callable[[list[tuple[str, Rows]]], tuple[str, str]]:
    def verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
        row = next(row for row in tables[0][1] if row["variant"] == variant)
        ratio = float(str(row["ratio_to_raw"]))
        return ("met" if ratio >= goal else "MISSED", f"{variant} at {ratio:.0%} of {what} (goal >= {goal:.0%})")
    return verdict


def _verify(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_audit_verify

    rows = bench_audit_verify.run(events=2_000, repeats=1) if quick else bench_audit_verify.run(events=100_000,
                                                                                                  repeats=3)
    large = bench_audit_verify.run_large(events=20_000 if quick else 10_000_000)
    return [("Verification of an exported chain (checkpoint every 10,000 events), one core, in process", rows),
            ("`python -m chalicelib.cli audit verify` on a large export, every core (peak RSS of the CLI and its "
             "workers; write_s: making the file, not measured)", large)]


def _verify_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    row = next(row for row in tables[0][1] if row["variant"] == "verify_lines")
    ratio = float(str(row["ratio_to_floor"]))
    small, large = tables[1][1][0], tables[1][1][-1]
    seconds, events = float(str(large["extrapolated_10m_s"])), int(str(large["events"]))
    flat = float(str(large["peak_rss_mb"])) <= float(str(small["peak_rss_mb"])) * 1.25
    met = ratio >= 0.5 and seconds < 60 and flat
    return ("met" if met else "MISSED",
            f"one core: verify_lines at {ratio:.0%} of json.loads + sha256 (goal >= 50%); every core: "
            f"{events:,} events in {large['seconds']} s ({seconds:.0f} s per 10 M, goal < 60 s), peak RSS "
            f"{small['peak_rss_mb']} MB at {int(str(small['events'])):,} events and {large['peak_rss_mb']} MB at "
            f"{events:,} ({'flat' if flat else 'NOT flat'})")


def _export_memory(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_export_memory

    rows = bench_export_memory.run(events=5_000 if quick else 1_000_000)
    return [("A child process streams the NDJSON export to /dev/null; baseline: its RSS after imports", rows)]


def _export_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    row = tables[0][1][0]
    peak, baseline = float(str(row["peak_rss_mb"])), float(str(row["baseline_rss_mb"]))
    return ("met" if row["meets_goal"] else "MISSED",
            f"peak RSS {peak:.0f} MB for {int(str(row['events'])):,} events, {peak - baseline:.1f} MB over the "
            f"process's baseline (goal < 200 MB)")


def _contention(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_contention, contention_processes

    seconds = 0.3 if quick else 4.0
    levels = (1, 8) if quick else bench_contention.LEVELS
    return [
        ("Closed loop: one tenant, N concurrent containers each sending its next request as soon as one is "
         "answered, 80 % audited reads / 20 % audited writes, 10 ms per call and DynamoDB's transaction "
         "conflicts, over the in-memory DynamoDB model in a process of its own, the containers in "
         f"{contention_processes.generator_count()} generator process(es) (one per core beyond the model's; "
         "generator_cpu_cores = their CPU, busiest_generator_core = the busiest one's share of its core, "
         "model_cpu_cores = the model's and the sequencer's); head = head in every request's transaction, "
         "sequenced = no head on the request path (sequencer thread sealing meanwhile). p50/p99 are wall-clock; "
         "own_p50/own_p99 are each container's own time (its modelled round trips and backoffs + its thread's CPU), "
         "what a Lambda container with its own CPU would see, without the queueing for a generator's interpreter",
         bench_contention.run(seconds, levels)),
        (f"Paced: each container sends one request every {bench_contention.PACED_INTERVAL * 1000:.0f} ms at a random "
         "phase (128 containers offer 1,280 requests/s, 14x what head answers); wall-clock latency from each "
         "request's scheduled start", bench_contention.run(seconds, levels, interval=bench_contention.PACED_INTERVAL)),
        ("Cross-check on the emulator itself (moto in process: ~3 ms CPU per call, so CPU-bound from 8 clients)",
         bench_contention.run(seconds / 2, (1, 8), backend="emulator")),
        *_partitions(quick),
    ]


def _partitions(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_partitions

    seconds = float(os.environ.get("ENCLAVE_BENCH_PARTITION_SECONDS", "0.5" if quick else "60"))
    return [(bench_partitions.describe(seconds), bench_partitions.run_all(seconds))]


def _contention_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    from bench import bench_contention, bench_partitions

    met, text = bench_contention.verdict(tables[0][1], tables[1][1])
    if len(tables) > 3:
        under = bench_partitions.goal_met(tables[3][1])
        met = met and under
        text += (f"; partition limits ({'met' if under else 'MISSED'}: the sharded audit keys at the top rate with "
                 "0 throttled calls, 0 errors, p99 within 2x of the low rate's): "
                 + bench_partitions.verdict(tables[3][1]))
    return ("met" if met else "MISSED", text)


def _growth(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_growth

    learners = int(os.environ.get("ENCLAVE_BENCH_GROWTH_LEARNERS", "500" if quick else "20000"))
    return [(f"One tenant on the local platform, sequential requests, at 100 and at {learners:,} learners "
             "(journal on)", bench_growth.run(learners=learners)),
            ("The journal's cost: the same rates at 100 learners, journal off and on", bench_growth.journal_cost())]


def _growth_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    rows = tables[0][1]
    met = all(row["meets_goal"] for row in rows)
    text = ", ".join(f"{row['operation']} at {float(str(row['ratio'])):.0%}" for row in rows)
    cost = ", ".join(f"{row['operation']} {float(str(row['on_vs_off'])):.0%}" for row in tables[1][1])
    return ("met" if met else "MISSED",
            f"{text} of the rate at 100 learners (goal >= 80%); with the journal on, rates of off: {cost}")


def _imports(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_imports

    rows = int(os.environ.get("ENCLAVE_BENCH_IMPORT_ROWS", "200" if quick else "2000"))
    return [(f"{rows:,} learner rows on the local platform, one run: a CSV import against single API calls",
             bench_imports.run(rows))]


def _imports_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    api, imported = tables[0][1]
    ratio = float(str(imported["ratio"]))
    return ("met" if ratio >= 5 else "MISSED",
            f"import {imported['rows_per_s']} rows/s, single calls {api['rows_per_s']} rows/s: {ratio:.1f}x "
            "(goal >= 5x)")


def _console(quick: bool) -> list[tuple[str, Rows]]:
    from bench import bench_console

    learners = int(os.environ.get("ENCLAVE_BENCH_CONSOLE_LEARNERS", "300" if quick else "20000"))
    rows, made = bench_console.run(learners=learners, demo_learners=100 if quick else 2000, repeats=1 if quick else 3)
    return [(f"Seconds from opening each screen (Chromium, 1366x768) to interactive, median of {rows[0]['repeats']}, "
             f"one school holding {learners:,} learners", rows),
            ("How the data was made (through the public API)", [made])]


def _console_verdict(tables: list[tuple[str, Rows]]) -> tuple[str, str]:
    rows = tables[0][1]
    slow = [f"{row['role']} {row['screen']} {row['median_s']} s" for row in rows if not row["within_1_s"]]
    text = f"{len(rows) - len(slow)} of {len(rows)} within 1 s" + (f"; over 1 s: {', '.join(slow)}" if slow else "")
    return ("met" if not slow else "MISSED", text)


SECTIONS = (
    Section("cold_start", "1. Cold start",
            "Fresh processes import `app` and serve one authenticated `GET /v1/tenants/{id}` through the Lambda "
            "handler (an API Gateway proxy event) against the emulator; baseline: a bare Chalice + boto3 app "
            "(`bench/bare/app.py`) doing one GetItem for the same event.",
            "at most 1.5x the bare app (aim 1.3x)", _cold_start, _cold_start_verdict),
    Section("calls", "2. AWS calls per request",
            "botocore `before-call` hooks count every AWS call of each route's second request.",
            "a write = 1 DynamoDB round trip including its audit event; a read = 1 read + 1 audit event put; "
            "0 KMS calls warm", _calls, _calls_verdict),
    Section("load", "3. Throughput under load",
            "Concurrent keep-alive clients, in generator processes of their own (`bench/load_generator.py`, one "
            "per core beyond the server's), against the local platform's eu-west-2 endpoint (`devtools.serve`); "
            "baseline: the same load on the bare app served by the same local server "
            "(`devtools.serve --project-dir bench/bare`) making the same DynamoDB calls as Enclave's warm routes "
            "with the same items (`/same-calls`: a read = a BatchGetItem of the profile and key items or the "
            "results Query, + a PutItem of a small audit item; a write = one TransactWriteItems of Enclave's items: "
            "its puts, condition checks and a small audit item) without authentication, encryption, authorization "
            "or audit hashing, per route kind "
            "(mix, read, write); the one-call bare app (no audit item) beside it for continuity; one emulator "
            "for all. Both apps run in the same server (one process, a thread per connection). The ratio is "
            "paired: in every round each kind's two phases run back to back on fresh tenants seeded alike (the "
            "emulator's partitions the same size for both), the round's order reversed every other round; "
            "`ratio_to_same_calls` is the median of the rounds' paired ratios (Enclave's req/s over the "
            "same-calls app's), `pair_ratio_min_max` their spread; a first warm-up round is discarded.",
            "at least 85% of the same-calls bare app's throughput per route kind at 8 and 16 clients, 0 errors",
            _load, _load_verdict),
    Section("encryption", "4a. Field encryption",
            "`FieldCipher.encrypt_record`/`decrypt_record`; baseline: raw AES-GCM on the same six fields.",
            "record_helper at least 50% of raw AES-GCM", _encryption,
            _ratio_verdict("record_helper", 0.5, "raw AES-GCM")),
    Section("verify", "4b. Audit chain verification",
            "`ChainVerifier` over an NDJSON export; baseline: the floor any verifier pays, `json.loads` + "
            "`hashlib.sha256` per line, on one core. Then the CLI on 1 M and 10 M events using every core "
            "(`chalicelib.cli.parallel_verify`).",
            "verify_lines at least 50% of json.loads + sha256 on one core; 10 M events in under 60 s on every core, "
            "memory flat", _verify, _verify_verdict),
    Section("export_memory", "4c. Audit export memory",
            "Peak RSS of streaming an NDJSON export; baseline: the same process's RSS before the export.",
            "peak below 200 MB", _export_memory, _export_verdict),
    Section("cost", "5. Cost per tenant",
            "The calls each route makes (section 2, measured) priced with `bench/prices.json` (dated, cited, "
            "estimates marked) for two reference tenants' monthly requests (`bench/bench_cost.py`).",
            "a monthly cost per reference tenant and region (no target)", _cost, _cost_verdict),
    Section("growth", "6. A growing tenant on the local platform",
            "Enrolment and read rate (sequential, over HTTP) on `make run`'s platform when one tenant holds 100 "
            "learners and when it holds 20,000 (`ENCLAVE_BENCH_GROWTH_LEARNERS` for another size); baseline: "
            "the rate at 100 learners, same run, and (judged) a second platform's 100-learner tenant measured in "
            "rounds alternated with the grown one's; then the journal's cost (rates with it off and on).",
            "each rate at 20,000 learners at least 80% of its rate at 100", _growth, _growth_verdict),
    Section("contention", "7. Audit trail under contention: one tenant",
            "`bench/bench_contention.py`: audited requests of one tenant from 1, 8, 32 and 128 concurrent "
            "containers (threads of generator processes, the DynamoDB model in a process of its own: "
            "`bench/contention_processes.py`) with DynamoDB's per-call latency (10 ms) and transaction-conflict rule "
            "(`bench/dynamo_contention.py`); baseline: the head-in-every-transaction design "
            "(`bench/head_per_request_store.py`), same run. Then "
            "DynamoDB's per-partition limits at a paced 500 and 5,000 audited requests/s of one tenant, the "
            "sharded audit keys beside the single-partition keys of before (`bench/bench_partitions.py`, "
            "docs/audit-partitions.md).",
            "at 128 clients sequenced at least 10x head's audited requests/s, 0 errors, sequenced's p99 within 2x "
            "of its p99 at 8 clients; with partition limits, the sharded keys at 5,000 audited requests/s for 60 s: 0 "
            "throttled calls, 0 errors, p99 within 2x of its p99 at 500/s", _contention, _contention_verdict),
    Section("imports", "8. Bulk import rate",
            "`bench/bench_imports.py`: the same learner rows into two tenants of one local platform, as a CSV "
            "import (presigned PUT, the upload event through SQS to the worker inside the platform, followed "
            "until `completed`) and as sequential `POST .../learners` calls (half before, half after the "
            "import); rows per second of wall time (`ENCLAVE_BENCH_IMPORT_ROWS`, default 2,000).",
            "the import at least 5x the rate of single API calls", _imports, _imports_verdict),
    Section("console", "9. The console on a 20,000-learner school",
            "`bench/bench_console.py`: the demo data (four schools, 2,000 learners) and one school filled to "
            "20,000 learners through the public API (its admin's bulk import) on a fresh local platform, measured "
            "once the seal-on-read window has moved past the import; Chromium signs in as each role "
            "and opens each of its screens; a screen is interactive when its heading shows, no request is in "
            "flight and nothing is loading (300 ms quiet); then the audit trail's filter (action) on that school.",
            "every screen and the audit filter interactive within 1 s (reported, not asserted in tests)",
            _console, _console_verdict),
)


def _machine() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False, timeout=10).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit} (plus uncommitted changes), Python "
            f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {load} at start")


SUMMARY_COLUMNS = ("benchmark", "goal", "status", "result")
SUMMARY_HEAD = "\n".join(markdown_table([dict.fromkeys(SUMMARY_COLUMNS, "")]).splitlines()[:2])


def _summary_line(section: Section, status: str, text: str) -> str:
    row: dict[str, object] = {"benchmark": section.title, "goal": section.goal, "status": status, "result": text}
    return markdown_table([row], SUMMARY_COLUMNS).splitlines()[-1]


def _kept_sections(previous: str, fresh: set[str]) -> tuple[str, dict[str, list[str]], dict[str, str]]:
    """From an earlier report: its machine line, and the blocks and summary lines of the sections not in
    ``fresh`` (``--only`` keeps what it did not re-run)."""
    lines = previous.splitlines()
    machine = lines[2] if len(lines) > 2 else ""
    blocks: dict[str, list[str]] = {}
    summary: dict[str, str] = {}
    current: list[str] | None = None
    for line in lines:
        if line.startswith("## "):
            title = line[3:]
            current = blocks.setdefault(title, []) if title != "Summary" and title not in fresh else None
        elif line.startswith("Whole run:"):
            current = None
        if current is not None:
            current.append(line)
    for title in blocks:
        found = [line for line in lines if line.startswith(f"| {title} |")]
        if found:
            summary[title] = found[0]
    return machine, blocks, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmarks run, not figures")
    parser.add_argument("--only", help="comma-separated section keys: " + ",".join(s.key for s in SECTIONS))
    parser.add_argument("--output", type=Path, help=f"where to write the markdown report (default {RESULTS.name}; "
                        "--quick writes none unless asked)")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else {s.key for s in SECTIONS}
    unknown = wanted - {s.key for s in SECTIONS}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    began = time.monotonic()
    blocks: dict[str, list[str]] = {}
    summary: dict[str, str] = {}
    for section in SECTIONS:
        if section.key not in wanted:
            continue
        print(f"running {section.title} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        tables = section.measure(args.quick)
        status, text = section.verdict(tables)
        seconds = time.monotonic() - started
        summary[section.title] = _summary_line(section, status, text)
        block = [f"## {section.title}", "", section.about, "", f"Goal: {section.goal}. **{status}**: {text}.", ""]
        for caption, rows in tables:
            block += [f"{caption}:", "", markdown_table(rows), ""]
        blocks[section.title] = [*block, f"({seconds:.0f} s)", ""]
    output = args.output or (None if args.quick else RESULTS)
    header = [_machine()]
    if args.only and output is not None and output.exists():
        kept = _kept_sections(output.read_text(encoding="utf-8"), set(blocks))
        if kept[0]:
            header.append(f"Only {', '.join(blocks)} ran now; the other sections are from the run of {kept[0]}")
        blocks, summary = {**kept[1], **blocks}, {**kept[2], **summary}
    titles = [s.title for s in SECTIONS if s.title in blocks]
    parts = ["# Benchmarks (`make bench`)", "", *header, "", "## Summary", "", SUMMARY_HEAD,
             *(summary[t] for t in titles if t in summary), ""]
    for title in titles:
        parts += blocks[title]
    note = " (--quick: figures meaningless)" if args.quick else ""
    parts.append(f"Whole run: {time.monotonic() - began:.0f} s{note}.")
    report = "\n".join(parts) + "\n"
    print(report)
    if output is not None:
        output.write_text(report, encoding="utf-8")
        print(f"written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
