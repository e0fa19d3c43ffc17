"""The audit trail for compliance officers: signed checkpoints, exports and verification.

Checkpoints sign ``{tenant_id, seq, head_hash, at}`` with the regional KMS key every
``checkpoint_every`` events and at every export (each export carries a checkpoint at its last event).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.export_bucket import MAX_PRESIGN_SECONDS, ExportBucket
from chalicelib.domain.audit import (
    ExportTally,
    build_manifest,
    checkpoint_payload,
    csv_lines,
    format_at,
    manifest_line,
    ndjson_lines,
    verify_chain,
)
from chalicelib.domain.audit.export_request import AuditExportCreate, Format
from chalicelib.domain.audit.keyset import keys_document
from chalicelib.domain.errors import EnclaveError, PayloadTooLarge, ValidationFailed
from chalicelib.domain.ids import new_id
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import logger
from chalicelib.services.access import AccessControl
from chalicelib.services.audit.proofs import TreeHeads
from chalicelib.services.audit.signing_keys import SigningKeys
from chalicelib.services.context import Caller

MAX_INLINE_EVENTS = 10_000
EPOCH = "0000-01-01T00:00:00.000000Z"
CONTENT_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv"}


@dataclass(frozen=True)
class Export:
    content_type: str
    lines: Iterator[str]


class Checkpointer:
    """Signs and stores checkpoints; called after every append (periodically) and at exports."""

    def __init__(self, store: AuditStore, keys: SigningKeys, clock: Callable[[], datetime],
                 every: int = 100) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock
        self._every = every

    def after_commit(self, jurisdiction: str, event: dict[str, Any]) -> None:
        if event["seq"] % self._every:
            return
        try:
            self.sign(jurisdiction, event["tenant_id"], event["seq"], event["hash"])
        except EnclaveError:  # the change is committed; the next export signs its own checkpoint
            logger.warning("periodic checkpoint skipped", extra={"seq": event["seq"]})

    def sign(self, jurisdiction: str, tenant_id: str, seq: int, head_hash: str) -> dict[str, Any]:
        def build(key: str) -> tuple[bytes, str]:  # the key is recorded before the checkpoint's time is taken
            at = format_at(self._clock())
            return checkpoint_payload(tenant_id, seq, head_hash, at), at

        key_id, signature, at = self._keys.sign_current(build)
        checkpoint = {"tenant_id": tenant_id, "seq": seq, "head_hash": head_hash, "at": at,
                      "key_id": key_id, "signature": signature}
        self._store.put_checkpoint(jurisdiction, checkpoint)
        return checkpoint

    def public_keys(self, key_ids: Iterable[str] = ()) -> dict[str, str]:
        """The public keys of ``key_ids`` (every key that signed something in a manifest); none named:
        the key in use now."""
        named = set(key_ids)
        return self._keys.public_keys(named) if named else dict([self._keys.signer.public_key()])


class AuditService:
    def __init__(self, access: AccessControl, store: AuditStore, checkpoints: Checkpointer, bucket: ExportBucket,
                 clock: Callable[[], datetime], tree_heads: TreeHeads | None = None,
                 keys: SigningKeys | None = None) -> None:
        """``tree_heads``: exports from seq 1 carry the latest signed Merkle tree head within them;
        ``keys``: an export gets the region's published key set beside it (``<export>.keys.json``)."""
        self._tree_heads = tree_heads
        self._keys = keys
        self._access = access
        self._store = store
        self._checkpoints = checkpoints
        self._bucket = bucket
        self._clock = clock

    def stream(self, caller: Caller, tenant_id: str, query: dict[str, str]) -> Export:
        """``GET .../audit``: the range's events as NDJSON (manifest last) or CSV, oldest first."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.read")
        fmt = _format(query.get("format", "ndjson"))
        start, end = self._range(query.get("from"), query.get("to"))
        seqs = self._seq_run(tenant, start if query.get("from") else None, end if query.get("to") else None)
        if seqs and seqs[1] - seqs[0] + 1 > MAX_INLINE_EVENTS:
            raise PayloadTooLarge(f"more than {MAX_INLINE_EVENTS} events: use POST .../audit/exports")
        lines = list(self._lines(tenant, fmt, seqs, start, end))
        self._store.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.read", f"tenants/{tenant.tenant_id}/audit", events=_count(seqs), format=fmt))
        return Export(CONTENT_TYPES[fmt], iter(lines))

    def export(self, caller: Caller, tenant_id: str, body: AuditExportCreate) -> dict[str, Any]:
        """``POST .../audit/exports``: the file in the regional bucket behind a presigned URL."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.export")
        start, end = self._range(body.from_, body.to)
        seqs = self._seq_run(tenant, start if body.from_ else None, end if body.to else None)
        export_id = new_id("exp")
        key = f"audit/{tenant.tenant_id}/{export_id}.{body.format}"
        tally = ExportTally()
        if body.format == "ndjson":
            lines = self._ndjson(tenant, seqs, start, end, tally)
        else:
            lines = csv_lines(self._events(tenant, seqs), tally)
        self._bucket.upload_lines(key, lines, CONTENT_TYPES[body.format])
        result: dict[str, Any] = {"export_id": export_id, "format": body.format, "events": tally.events,
                                  "head_hash": tally.head_hash}
        if body.format == "csv":
            manifest = self._manifest(tenant, tally, start, end)
            self._bucket.upload_lines(key + ".manifest.json", [manifest_line(manifest)], "application/json")
            result["manifest_url"] = self._bucket.presigned_get(key + ".manifest.json")
        if self._keys is not None:  # the key set as recorded when exported: `audit verify --keys`
            keys = json.dumps(keys_document(self._keys.recorded()), indent=2) + "\n"
            self._bucket.upload_lines(key + ".keys.json", [keys], "application/json")
            result["keys_url"] = self._bucket.presigned_get(key + ".keys.json")
        expires = self._clock() + timedelta(seconds=MAX_PRESIGN_SECONDS)
        result.update(download_url=self._bucket.presigned_get(key), expires_at=format_at(expires))
        self._store.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.export", f"tenants/{tenant.tenant_id}/audit/exports/{export_id}", export_id=export_id,
            events=tally.events, first_seq=tally.first_seq, last_seq=tally.last_seq, format=body.format))
        return result

    def verify(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        """``GET .../audit/verify``: the whole stored chain checked as an auditor would check an export."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.verify")
        head_seq, head_hash = self._store.head(tenant.tenant_id, tenant.jurisdiction)
        if head_seq == 0:
            return {"valid": True, "events": 0, "head_hash": head_hash, "checkpoints": 0}
        tally = ExportTally(events=head_seq, first_seq=1, last_seq=head_seq, head_hash=head_hash)
        later = self._store.checkpoints(tenant.tenant_id, tenant.jurisdiction, head_seq + 1)
        manifest = self._manifest(tenant, tally, None, None)
        result = verify_chain(self._store.events(tenant.tenant_id, tenant.jurisdiction, 1, head_seq), manifest)
        body = result.as_dict()
        if result.valid and later:  # a signed checkpoint vouches for events that are gone: the tail was cut
            body.update(valid=False, first_invalid={
                "seq": head_seq + 1, "reason": f"the chain ends at seq {head_seq} but a checkpoint signs seq "
                                               f"{max(c['seq'] for c in later)}: events were removed"})
        self._store.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.verify", f"tenants/{tenant.tenant_id}/audit", valid=body["valid"], events=result.events))
        return body

    # -- helpers -------------------------------------------------------------------------------

    def _seq_run(self, tenant: Tenant, start: str | None, end: str | None) -> tuple[int, int] | None:
        """The run of the chain an export of ``[start, end)`` holds: from the first event stamped in the
        range to the last, with whatever was chained between them (docs/audit-time-ranges.md). Without
        ``to``, every sealed event from ``from`` on, whatever its stamp."""
        return self._store.seq_range(tenant.tenant_id, tenant.jurisdiction, start, end)

    def _lines(self, tenant: Tenant, fmt: str, seqs: tuple[int, int] | None, start: str, end: str) -> Iterator[str]:
        if fmt == "csv":
            return csv_lines(self._events(tenant, seqs))
        return self._ndjson(tenant, seqs, start, end, ExportTally())

    def _ndjson(self, tenant: Tenant, seqs: tuple[int, int] | None, start: str, end: str,
                tally: ExportTally) -> Iterator[str]:
        """NDJSON lines; ``tally`` ends up holding the export's figures (for the response)."""
        def manifest(final: ExportTally) -> dict[str, Any]:
            tally.events, tally.first_seq, tally.last_seq = final.events, final.first_seq, final.last_seq
            tally.head_hash, tally.anchor_prev_hash = final.head_hash, final.anchor_prev_hash
            return self._manifest(tenant, final, start, end)

        return ndjson_lines(self._events(tenant, seqs), manifest)

    def _events(self, tenant: Tenant, seqs: tuple[int, int] | None) -> Iterator[dict[str, Any]]:
        if seqs is None:
            return iter(())
        return self._store.events(tenant.tenant_id, tenant.jurisdiction, seqs[0], seqs[1])

    def _manifest(self, tenant: Tenant, tally: ExportTally, start: str | None, end: str | None) -> dict[str, Any]:
        checkpoints: list[dict[str, Any]] = []
        if tally.events and tally.first_seq is not None and tally.last_seq is not None:
            checkpoints = self._store.checkpoints(tenant.tenant_id, tenant.jurisdiction, tally.first_seq,
                                                  tally.last_seq)
            if not any(c["seq"] == tally.last_seq for c in checkpoints):
                checkpoints.append(self._checkpoints.sign(tenant.jurisdiction, tenant.tenant_id, tally.last_seq,
                                                          str(tally.head_hash)))
        anchor = tally.anchor_prev_hash if (tally.first_seq or 1) > 1 else None
        if tally.first_seq and tally.first_seq > 1 and anchor is None:
            anchor = next(self._store.events(tenant.tenant_id, tenant.jurisdiction, tally.first_seq,
                                             tally.first_seq))["prev_hash"]
        tree_head = None  # the latest head within the export, as signed at sealing: no extra KMS call
        if self._tree_heads is not None and tally.first_seq == 1 and tally.last_seq:
            tree_head = self._tree_heads.latest(tenant.tenant_id, tenant.jurisdiction, tally.last_seq)
        return build_manifest(tenant_id=tenant.tenant_id, from_=start, to=end, events=tally.events,
                              first_seq=tally.first_seq, last_seq=tally.last_seq, head_hash=tally.head_hash,
                              checkpoints=checkpoints, public_keys=self._checkpoints.public_keys(
                                  [c["key_id"] for c in checkpoints] + ([tree_head["key_id"]] if tree_head else [])),
                              anchor_prev_hash=anchor, tree_head=tree_head)

    def _range(self, start: str | None, end: str | None) -> tuple[str, str]:
        low = _parse_time("from", start) if start else EPOCH
        high = _parse_time("to", end) if end else format_at(self._clock() + timedelta(seconds=1))
        if low >= high:
            raise ValidationFailed([{"field": "from", "message": "must be before 'to'"}])
        return low, high


def _parse_time(name: str, value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed([{"field": name, "message": "must be an ISO-8601 UTC time"}]) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_at(moment.astimezone(UTC))


def _format(value: str) -> Format:
    if value not in CONTENT_TYPES:
        raise ValidationFailed([{"field": "format", "message": "must be ndjson or csv"}])
    return "ndjson" if value == "ndjson" else "csv"


def _count(seqs: tuple[int, int] | None) -> int:
    return 0 if seqs is None else seqs[1] - seqs[0] + 1
