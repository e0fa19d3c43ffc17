"""Peak RSS of streaming an NDJSON audit export of 1,000,000 events through ``ndjson_lines``.

A child process (so the figure is its own) builds the events with a generator (sealed one by one,
checkpoint every 10,000), writes ``ndjson_lines`` output to ``os.devnull`` (the writer, not the disk,
is measured) with the manifest signed after the last event, and reports its peak RSS
(``VmHWM``). Baseline: the same child's peak RSS after its imports and one event, before
the export. Run ``python -m bench.bench_export_memory``. Goal: peak below 200 MB.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

GOAL_MB = 200.0


def _peak_mb() -> float:
    """This process's peak RSS: ``VmHWM`` where Linux has it (``ru_maxrss`` would start from the RSS of the
    parent that spawned us, which Linux carries over exec), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def child(events: int) -> dict[str, Any]:
    """Run in the child: stream the export, return figures (peak RSS in MB)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from bench.bench_audit_verify import CHECKPOINT_EVERY, build_events, signed_manifest
    from chalicelib.domain import audit

    key = ec.generate_private_key(ec.SECP256R1())
    next(build_events(1))
    baseline = _peak_mb()
    heads: dict[int, str] = {}

    def source() -> Iterator[dict[str, Any]]:
        for event in build_events(events):
            if event["seq"] % CHECKPOINT_EVERY == 0 or event["seq"] == events:
                heads[event["seq"]] = event["hash"]  # a few hundred entries: the checkpoints to sign
            yield event

    written = 0
    start = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        for line in audit.ndjson_lines(source(), lambda tally: signed_manifest(key, tally, heads)):
            written += len(line)
            sink.write(line)
    seconds = time.perf_counter() - start
    return {"events": events, "bytes": written, "seconds": round(seconds, 1),
            "baseline_rss_mb": round(baseline, 1), "peak_rss_mb": round(_peak_mb(), 1)}


def run(events: int = 1_000_000) -> list[dict[str, object]]:
    """One row: peak RSS of the child that streamed the export, next to its idle baseline."""
    done = subprocess.run([sys.executable, "-m", "bench.bench_export_memory", "--child", str(events)],
                          capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return [{"variant": "ndjson_export_streaming", **figures, "goal_mb": GOAL_MB,
             "meets_goal": figures["peak_rss_mb"] < GOAL_MB}]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(int(sys.argv[2]))))
    else:
        for row in run():
            print(f"{row['variant']:<24} peak RSS {row['peak_rss_mb']:>6} MB (baseline {row['baseline_rss_mb']} MB "
                  f"after imports; goal < {GOAL_MB:.0f} MB) for {row['events']:,} events, "
                  f"{row['bytes']:,} bytes in {row['seconds']} s")
