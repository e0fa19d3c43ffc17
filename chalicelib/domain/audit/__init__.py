"""Tamper-evident audit trail, the pure part (no I/O, no boto3), one module per concern:

- ``canonical``: the event model, RFC 8785 canonical JSON, event hashes, sealing a draft into an event;
- ``signing``: signed checkpoints of the chain head (ECDSA P-256, as KMS ``ECDSA_SHA_256`` signs);
- ``manifest``: an export's manifest (build, write, parse);
- ``verify``: chain verification against a manifest, in constant memory;
- ``export``: the NDJSON and CSV export formats;
- ``tree_heads``: signed Merkle tree heads (version 1 and 2) and the proof checks;
- ``keyset``: the region's published signing keys a verifier checks signatures against (``--keys``);
- ``witness``: comparing a trail's heads with the witness bucket's copies.

This package re-exports their public names, so ``from chalicelib.domain.audit import X`` keeps working.
"""

from chalicelib.domain.audit.canonical import (
    EVENT_FIELDS,
    GENESIS_HASH,
    MAX_SAFE_INT,
    AuditEventDraft,
    AuditFormatError,
    canonical_bytes,
    event_hash,
    format_at,
    is_hash,
    seal,
)
from chalicelib.domain.audit.export import (
    CSV_COLUMNS,
    ExportTally,
    ManifestSource,
    csv_event,
    csv_header,
    csv_lines,
    csv_row,
    csv_sidecar_path,
    event_line,
    ndjson_lines,
    read_csv_events,
)
from chalicelib.domain.audit.manifest import build_manifest, manifest_line, parse_manifest_document
from chalicelib.domain.audit.signing import (
    CHECKPOINT_FIELDS,
    checkpoint_payload,
    checkpoint_record,
    key_fingerprint,
    public_key_pem,
    verify_checkpoint_signature,
)
from chalicelib.domain.audit.verify import ChainVerifier, VerifyResult, fast_line, verify_chain

__all__ = [
    "CHECKPOINT_FIELDS", "CSV_COLUMNS", "EVENT_FIELDS", "GENESIS_HASH", "MAX_SAFE_INT", "AuditEventDraft",
    "AuditFormatError", "ChainVerifier", "ExportTally", "ManifestSource", "VerifyResult", "build_manifest",
    "canonical_bytes", "checkpoint_payload", "checkpoint_record", "csv_event", "csv_header", "csv_lines",
    "csv_row", "csv_sidecar_path", "event_hash", "event_line", "fast_line", "format_at", "is_hash", "key_fingerprint",
    "manifest_line", "ndjson_lines", "parse_manifest_document", "public_key_pem", "read_csv_events",
    "seal", "verify_chain", "verify_checkpoint_signature",
]
