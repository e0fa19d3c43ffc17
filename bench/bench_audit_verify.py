"""Events/s of audit trail verification next to raw SHA-256 over the same canonical bytes.

Builds a chain of N events (default 200,000; a checkpoint every 10,000, signed with a local P-256
key) and exports it as NDJSON. Rows, medians (and min-max) of a few runs in this process:

* ``floor_json_sha256``: ``json.loads(line)`` and ``sha256(line).hexdigest()`` per line: the floor
  any verifier pays (it must parse each line and hash it); the goal's baseline;
* ``raw_sha256``: ``sha256(canonical body).hexdigest()`` per event, bytes prepared beforehand (no
  parsing at all: below any real verifier, shown for reference);
* ``verify_lines``: ``ChainVerifier.feed_line`` over the NDJSON lines (bytes) in memory (the line fast
  path: a shape check, SHA-256 of the line minus its hash member, chain and checkpoint checks);
* ``verify_file``: ``audit verify`` (``chalicelib.cli.audit.verify_file``) on the file: adds reading;
* ``verify_lines_tree_head``: ``verify_lines`` on an export from seq 1 as written now, its manifest carrying a
  signed Merkle tree head at the last event (the verifier also builds the RFC 9162 tree);
* ``verify_lines_general``: ``verify_lines`` without the line fast path (every line parsed and
  re-serialized by the C encoder), as for lines not in the exact exported form;
* ``verify_lines_rfc8785``: ``verify_lines`` with pure-Python ``rfc8785`` canonicalization (on a
  tenth of the events): what the verifier would do without either fast path.

Run ``python -m bench.bench_audit_verify``. Goal: ``verify_lines`` at least 50 % of
``floor_json_sha256`` on one core.

``run_large()`` writes a chain of 10,000,000 events (about 6 GB, deleted afterwards) and times
``python -m chalicelib.cli audit verify`` on it in a child process: the file is verified on every core
(``chalicelib.cli.parallel_verify``); goal under 60 s with flat memory (peak RSS of the parent and of
any worker, from ``RUSAGE_CHILDREN``, next to the RSS of a child that only imports the CLI).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.cli.audit import verify_file
from chalicelib.domain import audit
from chalicelib.domain.audit import canonical as audit_canonical
from chalicelib.domain.audit import merkle
from chalicelib.domain.audit import verify as audit_verify
from chalicelib.domain.audit.tree_heads import tree_head_payload, tree_head_record

TENANT = "tnt_benchbenchbenchbenchbenchbe"
KEY_ID = "bench-key"
CHECKPOINT_EVERY = 10_000


def build_events(count: int) -> Iterator[dict[str, Any]]:
    """A valid chain of ``count`` events shaped like the platform's (ids, no personal data)."""
    prev, start = audit.GENESIS_HASH, datetime(2026, 11, 25, tzinfo=UTC)
    for seq in range(1, count + 1):
        draft = audit.AuditEventDraft(
            actor_sub=f"8d0c1b7e-4f5a-4c3b-9a2d-{seq % 977:012d}", actor_role="tenant_staff",
            action="learner.read", resource=f"tenants/{TENANT}/learners/lrn_{seq:026d}", outcome="allowed",
            request_id=f"5b2f9c7e-1d3a-4e8b-8f6c-{seq:012d}", details={"fields": ["email", "name"], "count": 2},
        )
        event = audit.seal(draft, tenant_id=TENANT, seq=seq, prev_hash=prev,
                           at=start + timedelta(milliseconds=seq), region="ap-southeast-1")
        prev = event["hash"]
        yield event


def signed_manifest(key: ec.EllipticCurvePrivateKey, tally: audit.ExportTally,
                    heads: dict[int, str], leaves: list[str] | None = None) -> dict[str, Any]:
    """The manifest of a whole-chain export, checkpoints at ``heads`` (seq -> head hash); with ``leaves``
    (every event hash), a signed tree head over them."""
    at = "2026-11-26T00:00:00.000000Z"
    checkpoints = [
        audit.checkpoint_record(tenant_id=TENANT, seq=seq, head_hash=head, at=at, key_id=KEY_ID,
                                signature=key.sign(audit.checkpoint_payload(TENANT, seq, head, at),
                                                   ec.ECDSA(hashes.SHA256())))
        for seq, head in sorted(heads.items())
    ]
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    tree_head = None
    if leaves:
        root = merkle.root_hash(leaves)
        signature = key.sign(tree_head_payload(TENANT, len(leaves), root, at), ec.ECDSA(hashes.SHA256()))
        tree_head = tree_head_record(tenant_id=TENANT, tree_size=len(leaves), root_hash=root, at=at, key_id=KEY_ID,
                                     signature=base64.b64encode(signature).decode())
    return audit.build_manifest(
        tenant_id=TENANT, from_=None, to=None, events=tally.events, first_seq=tally.first_seq,
        last_seq=tally.last_seq, head_hash=tally.head_hash, checkpoints=checkpoints, public_keys={KEY_ID: public},
        tree_head=tree_head,
    )


def export(count: int, tree_head: bool = False) -> tuple[list[str], list[bytes]]:
    """The NDJSON lines (manifest last) and each event's canonical body bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    heads: dict[int, str] = {}
    bodies: list[bytes] = []
    leaves: list[str] = []

    def events() -> Iterator[dict[str, Any]]:
        for event in build_events(count):
            if event["seq"] % CHECKPOINT_EVERY == 0 or event["seq"] == count:
                heads[event["seq"]] = event["hash"]
            bodies.append(audit.canonical_bytes({k: v for k, v in event.items() if k != "hash"}))
            if tree_head:
                leaves.append(event["hash"])
            yield event

    lines = list(audit.ndjson_lines(events(), lambda tally: signed_manifest(key, tally, heads, leaves)))
    return lines, bodies


def _rate(body: Callable[[], None], events: int, repeats: int) -> list[float]:
    """Events/s of each of ``repeats`` runs, slowest first."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return sorted(events / t for t in times)


def _raw(bodies: list[bytes]) -> Callable[[], None]:
    def body() -> None:
        sha256 = hashlib.sha256
        for data in bodies:
            sha256(data).hexdigest()
    return body


def _floor(lines: list[bytes]) -> Callable[[], None]:
    def body() -> None:
        loads, sha256 = json.loads, hashlib.sha256
        for line in lines:
            loads(line)
            sha256(line).hexdigest()
    return body


def _verify_lines(lines: list[str] | list[bytes], path: str = "fast") -> Callable[[], None]:
    """Verification of the lines in memory: ``fast`` as shipped, ``general`` without the line fast
    path (parse + C encoder), ``rfc8785`` without either (parse + pure-Python canonical JSON)."""
    last = lines[-1]
    manifest = audit.parse_manifest_document(last.decode("utf-8") if isinstance(last, bytes) else last)

    def body() -> None:
        verifier = audit.ChainVerifier(manifest)
        feed = verifier.feed_line
        for line in lines[:-1]:
            feed(line)
        if not verifier.finish().valid:
            raise RuntimeError("the benchmark chain does not verify")

    def body_general() -> None:
        with mock.patch.object(audit_verify, "fast_line", _decline):
            body()

    def body_rfc8785() -> None:
        with (mock.patch.object(audit_verify, "fast_line", _decline),
              mock.patch.object(audit_canonical, "_ENCODER", _NonAscii())):
            body()
    return {"fast": body, "general": body_general, "rfc8785": body_rfc8785}[path]


def _decline(_data: bytes, _known: set[bytes]) -> None:
    """Stands in for the line fast path: every line is parsed and re-serialized."""


class _NonAscii:
    """Stands in for the C encoder: its output never passes the ASCII check, so rfc8785 serializes."""

    def encode(self, _value: object) -> str:
        return "\u00e9"


def _verify_file(path: str) -> Callable[[], None]:
    def body() -> None:
        if verify_file(path, out=io.StringIO()) != 0:
            raise RuntimeError("the benchmark export does not verify")
    return body


def run(events: int = 200_000, repeats: int = 3) -> list[dict[str, object]]:
    """One row per variant: events/s and ratio to raw SHA-256 over the same canonical bytes."""
    lines, bodies = export(events)
    as_bytes = [line.encode("utf-8") for line in lines]
    subset = max(1, events // 10)
    reference_lines = export(subset)[0]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trail.ndjson")
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        rates = {
            "floor_json_sha256": _rate(_floor(as_bytes[:-1]), events, repeats),
            "raw_sha256": _rate(_raw(bodies), events, repeats),
            "verify_lines": _rate(_verify_lines(as_bytes), events, repeats),
            "verify_file": _rate(_verify_file(path), events, repeats),
            "verify_lines_tree_head": _rate(_verify_lines([line.encode() for line in export(events, True)[0]]),
                                            events, repeats),
            "verify_lines_general": _rate(_verify_lines(lines, path="general"), events, repeats),
            "verify_lines_rfc8785": _rate(_verify_lines(reference_lines, path="rfc8785"), subset, repeats),
        }
    floor = statistics.median(rates["floor_json_sha256"])
    raw = statistics.median(rates["raw_sha256"])
    return [{"variant": name, "events": subset if name.endswith("rfc8785") else events,
             "events_per_s": round(statistics.median(rate)), "events_per_s_min_max": f"{rate[0]:,.0f}-{rate[-1]:,.0f}",
             "ratio_to_floor": round(statistics.median(rate) / floor, 3),
             "ratio_to_raw_sha256": round(statistics.median(rate) / raw, 3), "goal_ratio": 0.5}
            for name, rate in rates.items()]


# --- a large file, every core ---------------------------------------------------------------------

_REGION = "ap-southeast-1"


def _at(seq: int) -> str:
    """``format_at`` of 2026-11-25T00:00:00Z + ``seq`` ms (the chain of ``build_events``)."""
    seconds, ms = divmod(seq, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"2026-11-25T{hour:02d}:{minute:02d}:{second:02d}.{ms * 1000:06d}Z"


def _fast_lines(count: int) -> Iterator[tuple[int, str, bytes]]:
    """``(seq, hash, line)`` of the chain of ``build_events``, written straight in the exported form
    (formatting is ~10x quicker than sealing; the first events are checked equal to ``seal``'s)."""
    prev, sha256 = audit.GENESIS_HASH, hashlib.sha256
    head = '{"action":"learner.read","actor":{"role":"tenant_staff","sub":"8d0c1b7e-4f5a-4c3b-9a2d-'
    details = '"details":{"count":2,"fields":["email","name"]},'
    for seq in range(1, count + 1):
        before = f'{head}{seq % 977:012d}"}},"at":"{_at(seq)}",{details}'
        after = (f'"outcome":"allowed","prev_hash":"{prev}","region":"{_REGION}","request_id":'
                 f'"5b2f9c7e-1d3a-4e8b-8f6c-{seq:012d}","resource":"tenants/{TENANT}/learners/lrn_{seq:026d}",'
                 f'"seq":{seq},"tenant_id":"{TENANT}"}}')
        digest = sha256((before + after).encode()).hexdigest()
        yield seq, digest, f'{before}"hash":"{digest}",{after}\n'.encode()
        prev = digest


def write_large(path: str, count: int) -> None:
    """An NDJSON export of ``count`` events, a signed checkpoint every 10,000 and at the end."""
    key = ec.generate_private_key(ec.SECP256R1())
    heads: dict[int, str] = {}
    reference = {event["seq"]: audit.event_line(event).encode() for event in build_events(min(count, 3))}
    tally = audit.ExportTally()
    with open(path, "wb") as handle:
        batch: list[bytes] = []
        for seq, digest, line in _fast_lines(count):
            if seq in reference and reference[seq] != line:
                raise RuntimeError("the fast chain writer no longer writes what seal() does")
            if seq % CHECKPOINT_EVERY == 0 or seq == count:
                heads[seq] = digest
            if seq == 1:
                tally.first_seq, tally.anchor_prev_hash = 1, audit.GENESIS_HASH
            batch.append(line)
            if len(batch) == 10_000:
                handle.write(b"".join(batch))
                batch.clear()
        handle.write(b"".join(batch))
        tally.events, tally.last_seq, tally.head_hash = count, count, heads.get(count)
        handle.write(audit.manifest_line(signed_manifest(key, tally, heads)).encode())


_MEASURE = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run([sys.executable, '-m', 'chalicelib.cli', 'audit', 'verify', sys.argv[1]],\n"
    "                      capture_output=True, text=True, check=False)\n"
    "lines = done.stderr.splitlines()\n"
    "verdict = next((line for line in lines if line.startswith(('VALID', 'INVALID'))), lines[-1])\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, verdict)\n"
)


def _cli(path: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the CLI or any of its workers, and the CLI's verdict line. A fresh
    parent process reports the peak, so no earlier child of the benchmark counts."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, path], capture_output=True, text=True, check=True,
                          timeout=900)
    seconds = time.perf_counter() - started
    code, peak_kb, summary = done.stdout.strip().split(" ", 2)
    if code != "0":
        raise RuntimeError(f"audit verify failed: {summary}")
    return seconds, int(peak_kb) / 1024, summary


def run_large(events: int = 10_000_000) -> list[dict[str, object]]:
    """``audit verify`` on files of ``events`` / 10 and ``events`` events, every core (goal: 10 M in
    under 60 s; memory flat: the same peak RSS for both sizes)."""
    from chalicelib.cli.parallel_verify import workers

    rows: list[dict[str, object]] = []
    for count in (max(1, events // 10), events):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "large.ndjson")
            started = time.perf_counter()
            write_large(path, count)
            written = time.perf_counter() - started
            size = os.path.getsize(path)
            seconds, peak, summary = _cli(path)
        rows.append({"variant": "cli_every_core", "events": count, "bytes": size, "cores": workers(),
                     "seconds": round(seconds, 1), "events_per_s": round(count / seconds),
                     "extrapolated_10m_s": round(seconds * 10_000_000 / count, 1), "peak_rss_mb": round(peak, 1),
                     "write_s": round(written, 1), "valid": summary.startswith("VALID")})
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['variant']:<22} {row['events_per_s']:>10,} events/s  {row['ratio_to_floor']:.1%} of "
              f"json.loads + sha256 ({row['events']:,} events; goal verify_lines >= 50%)")
    print(run_large(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000))
