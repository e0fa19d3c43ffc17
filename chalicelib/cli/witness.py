"""``audit witness --tenant T --region R FILE...``: compare a trail's tree heads with the witness bucket.

Each ``FILE`` is where the trail's heads come from: the answer of ``GET .../audit/heads`` (the whole
timeline), a proof document (``.../proof``, ``.../consistency``), or an export (NDJSON, or a CSV
export's ``.manifest.json``) whose manifest holds a ``tree_head``. Every head of the tenant found is
looked up in ``enclave-witness-<region>`` (or ``--bucket``), where the sealer locked it when it was
signed. One line per head (EQUAL, DIFFERS, MISSING, OVERWRITTEN, UNLOCKED) and a summary on stdout;
exit 0 when every head is equal, 1 otherwise or when a file or the bucket cannot be read.
Reads S3 with the caller's own AWS credentials (ListBucketVersions and GetObjectVersion on the bucket).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from chalicelib.cli.audit_proofs import Unreadable, _read_held
from chalicelib.domain.audit.witness import compare_heads


def heads_in(document: Any) -> list[dict[str, Any]]:
    """The tree heads a file's document holds (a heads list, a proof, or an export's manifest)."""
    if isinstance(document, dict) and isinstance(document.get("manifest"), dict):
        document = document["manifest"]
    if not isinstance(document, dict):
        return []
    found = [h for h in document.get("heads") or [] if isinstance(h, dict)]
    found += [document[name] for name in ("tree_head", "first_head", "second_head")
              if isinstance(document.get(name), dict)]
    return found


def witness_report(tenant_id: str, files: Sequence[str], copies: Callable[[int], Sequence[Mapping[str, Any]]],
                   out: TextIO | None = None) -> int:
    """Compare the tenant's heads in ``files`` with ``copies(size)``; print one line per head; 0 all equal."""
    stream = sys.stdout if out is None else out
    heads: list[dict[str, Any]] = []
    try:
        for name in files:
            heads += [h for h in heads_in(_read_held(name)) if h.get("tenant_id") == tenant_id
                      and type(h.get("tree_size")) is int]
    except Unreadable as exc:
        print(f"unreadable: {exc}", file=stream, flush=True)
        return 1
    if not heads:
        print(f"no tree head of tenant {tenant_id} in {', '.join(files)}", file=stream, flush=True)
        return 1
    findings = compare_heads(heads, copies)
    for finding in findings:
        print(finding.line(), file=stream)
    bad = [f for f in findings if f.status != "equal"]
    verdict = "all equal" if not bad else f"{len(bad)} differ from the witness (first at size {bad[0].tree_size})"
    print(f"{'WITNESSED' if not bad else 'NOT WITNESSED'}: {len(findings)} tree head(s) of tenant {tenant_id}: "
          f"{verdict}", file=stream, flush=True)
    return 0 if not bad else 1


def add_parser(actions: Any) -> None:
    """Add ``witness`` to the ``audit`` actions (its S3 client is imported only when it runs)."""
    witness = actions.add_parser(
        "witness", help="compare a trail's signed tree heads with the region's witness bucket",
        description="Compare the tree heads in FILEs (exports, proof documents, GET .../audit/heads answers) "
                    "with the copies in the witness bucket. Exit 0 all equal, 1 a difference or a head missing.")
    witness.add_argument("files", nargs="+", metavar="FILE", help="where the trail's heads come from")
    witness.add_argument("--tenant", required=True, help="the tenant id")
    witness.add_argument("--region", required=True, help="the deployment's region (its witness bucket)")
    witness.add_argument("--bucket", help="the witness bucket (default enclave-witness-<region>)")
    witness.add_argument("--endpoint-url", help="an S3 endpoint (the local platform's emulator)")
    witness.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The subcommand: read the bucket with the caller's credentials."""
    from chalicelib.adapters.aws import AwsClients
    from chalicelib.adapters.witness_reader import WitnessReader, WitnessUnavailable

    bucket = args.bucket or f"enclave-witness-{args.region}"
    reader = WitnessReader(AwsClients(endpoint_url=args.endpoint_url).s3(args.region), bucket)
    try:
        return witness_report(args.tenant, args.files, lambda size: reader.versions(args.tenant, size))
    except WitnessUnavailable as exc:
        print(f"unreadable: {exc}", file=sys.stderr, flush=True)
        return 1
