"""Events/s of audit trail verification next to raw SHA-256 over the same canonical bytes.

Builds a chain of N events (default 200,000; a checkpoint every 10,000, signed with a local P-256
key) and exports it as NDJSON. Rows, medians (and min-max) of a few runs in this process:

* ``raw_sha256``: ``sha256(canonical body).hexdigest()`` per event, bytes prepared beforehand: the
  floor any verifier pays;
* ``verify_lines``: ``ChainVerifier.feed_line`` over the NDJSON lines in memory (the line fast
  path: a shape check, SHA-256 of the line minus its hash member, chain and checkpoint checks);
* ``verify_file``: ``audit verify`` (``chalicelib.cli.audit.verify_file``) on the file: adds reading;
* ``verify_lines_general``: ``verify_lines`` without the line fast path (every line parsed and
  re-serialized by the C encoder), as for lines not in the exact exported form;
* ``verify_lines_rfc8785``: ``verify_lines`` with pure-Python ``rfc8785`` canonicalization (on a
  tenth of the events): what the verifier would do without either fast path.

Run ``python -m bench.bench_audit_verify``. Goal: ``verify_lines`` at least 50 % of ``raw_sha256``.
"""

from __future__ import annotations

import hashlib
import io
import os
import statistics
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
                    heads: dict[int, str]) -> dict[str, Any]:
    """The manifest of a whole-chain export, checkpoints at ``heads`` (seq -> head hash)."""
    at = "2026-11-26T00:00:00.000000Z"
    checkpoints = [
        audit.checkpoint_record(tenant_id=TENANT, seq=seq, head_hash=head, at=at, key_id=KEY_ID,
                                signature=key.sign(audit.checkpoint_payload(TENANT, seq, head, at),
                                                   ec.ECDSA(hashes.SHA256())))
        for seq, head in sorted(heads.items())
    ]
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return audit.build_manifest(
        tenant_id=TENANT, from_=None, to=None, events=tally.events, first_seq=tally.first_seq,
        last_seq=tally.last_seq, head_hash=tally.head_hash, checkpoints=checkpoints, public_keys={KEY_ID: public},
    )


def export(count: int) -> tuple[list[str], list[bytes]]:
    """The NDJSON lines (manifest last) and each event's canonical body bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    heads: dict[int, str] = {}
    bodies: list[bytes] = []

    def events() -> Iterator[dict[str, Any]]:
        for event in build_events(count):
            if event["seq"] % CHECKPOINT_EVERY == 0 or event["seq"] == count:
                heads[event["seq"]] = event["hash"]
            bodies.append(audit.canonical_bytes({k: v for k, v in event.items() if k != "hash"}))
            yield event

    lines = list(audit.ndjson_lines(events(), lambda tally: signed_manifest(key, tally, heads)))
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


def _verify_lines(lines: list[str], path: str = "fast") -> Callable[[], None]:
    """Verification of the lines in memory: ``fast`` as shipped, ``general`` without the line fast
    path (parse + C encoder), ``rfc8785`` without either (parse + pure-Python canonical JSON)."""
    manifest = audit.parse_manifest_document(lines[-1])

    def body() -> None:
        verifier = audit.ChainVerifier(manifest)
        feed = verifier.feed_line
        for line in lines[:-1]:
            feed(line)
        if not verifier.finish().valid:
            raise RuntimeError("the benchmark chain does not verify")

    def body_general() -> None:
        with mock.patch.object(audit, "_fast_line", _decline):
            body()

    def body_rfc8785() -> None:
        with mock.patch.object(audit, "_fast_line", _decline), mock.patch.object(audit, "_ENCODER", _NonAscii()):
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
    subset = max(1, events // 10)
    reference_lines = export(subset)[0]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trail.ndjson")
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        rates = {
            "raw_sha256": _rate(_raw(bodies), events, repeats),
            "verify_lines": _rate(_verify_lines(lines), events, repeats),
            "verify_file": _rate(_verify_file(path), events, repeats),
            "verify_lines_general": _rate(_verify_lines(lines, path="general"), events, repeats),
            "verify_lines_rfc8785": _rate(_verify_lines(reference_lines, path="rfc8785"), subset, repeats),
        }
    raw = statistics.median(rates["raw_sha256"])
    return [{"variant": name, "events": subset if name.endswith("rfc8785") else events,
             "events_per_s": round(statistics.median(rate)), "events_per_s_min_max": f"{rate[0]:,.0f}-{rate[-1]:,.0f}",
             "ratio_to_raw": round(statistics.median(rate) / raw, 3), "goal_ratio": 0.5}
            for name, rate in rates.items()]


if __name__ == "__main__":
    for row in run():
        print(f"{row['variant']:<22} {row['events_per_s']:>10,} events/s  {row['ratio_to_raw']:.1%} of raw "
              f"sha256 ({row['events']:,} events; goal verify_lines >= 50%)")
