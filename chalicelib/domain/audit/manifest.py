"""An export's manifest: building it, writing and reading the ``{"manifest": {...}}`` document, parsing it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.audit.canonical import (
    _DECODER,
    GENESIS_HASH,
    MAX_SAFE_INT,
    AuditFormatError,
    _canonical_text,
    is_hash,
)
from chalicelib.domain.audit.signing import CHECKPOINT_FIELDS, checkpoint_shape_ok
from chalicelib.domain.audit.tree_heads import head_fields, tree_head_problem


def build_manifest(
    *,
    tenant_id: str,
    from_: str | None,
    to: str | None,
    events: int,
    first_seq: int | None,
    last_seq: int | None,
    head_hash: str | None,
    checkpoints: Iterable[Mapping[str, Any]],
    public_keys: Mapping[str, str],
    anchor_prev_hash: str | None = None,
    tree_head: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An export's manifest; keeps only the checkpoints within ``first_seq..last_seq``, by seq.

    A range that does not start at seq 1 needs ``anchor_prev_hash`` (its first event's prev_hash);
    an empty export has ``events`` 0 and None for ``first_seq``, ``last_seq`` and ``head_hash``.
    """
    if events and (first_seq is None or last_seq is None or last_seq != first_seq + events - 1):
        raise AuditFormatError("last_seq must be first_seq + events - 1")
    if first_seq is not None and first_seq > 1 and anchor_prev_hash is None:
        raise AuditFormatError("an export that does not start at seq 1 needs anchor_prev_hash")
    low, high = (first_seq or 1), (last_seq or 0)
    kept = sorted((c for c in checkpoints if low <= c["seq"] <= high), key=lambda c: int(c["seq"]))
    manifest: dict[str, Any] = {
        "tenant_id": tenant_id, "from": from_, "to": to, "events": events,
        "first_seq": first_seq, "last_seq": last_seq, "head_hash": head_hash,
        "checkpoints": [{name: c[name] for name in CHECKPOINT_FIELDS} for c in kept],
        "public_keys": dict(public_keys),
    }
    if anchor_prev_hash is not None:
        manifest["anchor_prev_hash"] = anchor_prev_hash
    if tree_head is not None:  # only on an export from seq 1, a head of a size within it
        if first_seq != 1 or not 1 <= tree_head["tree_size"] <= (last_seq or 0):
            raise AuditFormatError("a tree_head must be of a size from 1 to last_seq, on an export from seq 1")
        manifest["tree_head"] = {name: tree_head[name] for name in head_fields(tree_head)}
    return manifest


def manifest_line(manifest: Mapping[str, Any]) -> str:
    """``{"manifest": {...}}`` as one canonical JSON line: an NDJSON export's last line, a CSV sidecar."""
    return _canonical_text({"manifest": dict(manifest)}) + "\n"


def parse_manifest_document(text: str) -> dict[str, Any]:
    """The manifest inside a ``{"manifest": {...}}`` document (a line or a sidecar file's content)."""
    try:
        document = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise AuditFormatError("the manifest is not valid JSON") from exc
    if type(document) is not dict or set(document) != {"manifest"} or type(document["manifest"]) is not dict:
        raise AuditFormatError('the manifest must be {"manifest": {...}}')
    manifest: dict[str, Any] = document["manifest"]
    return manifest


@dataclass(frozen=True, slots=True)
class _Manifest:
    tenant_id: str
    events: int
    first_seq: int
    last_seq: int  # first_seq - 1 when the export is empty
    head_hash: str | None
    anchor: str
    checkpoints: dict[int, list[Mapping[str, Any]]]
    public_keys: Mapping[str, Any]
    tree_head: Mapping[str, Any] | None = None


_NO_MANIFEST = _Manifest("", 0, 1, 0, None, GENESIS_HASH, {}, {})


def _optional_seq(manifest: Mapping[str, Any], name: str) -> int | None:
    value = manifest.get(name)
    if value is None or (type(value) is int and 1 <= value <= MAX_SAFE_INT):
        return value
    raise AuditFormatError(f"manifest {name} must be a positive integer")


def _parse_counts(manifest: Mapping[str, Any]) -> tuple[int, int, int]:
    events, first, last = manifest.get("events"), _optional_seq(manifest, "first_seq"), _optional_seq(
        manifest, "last_seq"
    )
    if type(events) is not int or events < 0:
        raise AuditFormatError("manifest events must be a non-negative integer")
    if events == 0 and last is None:
        return 0, first or 1, (first or 1) - 1
    if first is None or last is None or last - first + 1 != events:
        raise AuditFormatError("manifest events, first_seq and last_seq disagree")
    return events, first, last


def _parse_anchor(manifest: Mapping[str, Any], first_seq: int) -> str:
    anchor = manifest.get("anchor_prev_hash")
    if anchor is None and first_seq > 1:
        raise AuditFormatError("manifest lacks anchor_prev_hash for a range not starting at seq 1")
    if anchor is None:
        return GENESIS_HASH
    if not is_hash(anchor) or (first_seq == 1 and anchor != GENESIS_HASH):
        raise AuditFormatError("manifest anchor_prev_hash is not a valid hash")
    return anchor  # type: ignore[no-any-return]


def _parse_checkpoints(raw: object) -> dict[int, list[Mapping[str, Any]]]:
    if type(raw) is not list:
        raise AuditFormatError("manifest checkpoints must be a list")
    by_seq: dict[int, list[Mapping[str, Any]]] = {}
    for checkpoint in raw:
        if type(checkpoint) is not dict or not checkpoint_shape_ok(checkpoint) or (
            type(checkpoint.get("key_id")) is not str
        ):
            raise AuditFormatError("a manifest checkpoint is malformed")
        by_seq.setdefault(checkpoint["seq"], []).append(checkpoint)
    return by_seq


def _parse_manifest(manifest: object) -> _Manifest:
    if not isinstance(manifest, Mapping):
        raise AuditFormatError("the manifest is not a JSON object")
    tenant_id, head_hash, keys = manifest.get("tenant_id"), manifest.get("head_hash"), manifest.get("public_keys")
    if type(tenant_id) is not str:
        raise AuditFormatError("manifest tenant_id must be a string")
    events, first, last = _parse_counts(manifest)
    if not (is_hash(head_hash) or (events == 0 and head_hash is None)):
        raise AuditFormatError("manifest head_hash is not a valid hash")
    if not isinstance(keys, Mapping):
        raise AuditFormatError("manifest public_keys must be an object")
    checkpoints = _parse_checkpoints(manifest.get("checkpoints"))
    return _Manifest(tenant_id, events, first, last, head_hash, _parse_anchor(manifest, first), checkpoints, keys,
                     _parse_tree_head(manifest.get("tree_head"), tenant_id, first, last))


def _parse_tree_head(head: object, tenant_id: str, first: int, last: int) -> Mapping[str, Any] | None:
    """The manifest's signed tree head (exports from seq 1; absent from older ones, which verify as before)."""
    if head is None:
        return None
    problem = tree_head_problem(head)
    if problem is not None:
        raise AuditFormatError(f"manifest tree_head: {problem}")
    if not isinstance(head, Mapping):  # tree_head_problem said it is one; this tells the type checker
        raise AuditFormatError("manifest tree_head is not an object")
    if head["tenant_id"] != tenant_id:
        raise AuditFormatError("manifest tree_head is for another tenant")
    if first != 1 or not 1 <= head["tree_size"] <= last:
        raise AuditFormatError("manifest tree_head must be of a size from 1 to last_seq, on an export from seq 1")
    return head
