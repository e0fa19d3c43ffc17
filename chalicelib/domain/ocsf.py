"""Sealed audit events as OCSF API Activity records (class 6003), and the stream's objects. No I/O.

Each sealed event becomes one OCSF 1.2.0 API Activity record (``schemas/ocsf/`` holds the class's JSON
Schema the tests validate against). Only identifiers, names of actions, outcomes, times and hashes are
mapped: an event's ``details`` are left out (ids and counts as they are, but free-form), so nothing in the
stream can carry a personal value; a reader who needs them fetches the event by tenant and seq.

The stream's objects are gzip NDJSON (one record a line, in seq order) under the Amazon Security Lake
custom-source layout, with the tenant and the event hour as two more partitions (``object_key``). An
object holds a run of consecutive seqs of one tenant and one hour and is named by them, so the same run
always gives the same key and the same bytes (gzip without a timestamp): a redone delivery is refused by
the bucket (written only if absent) or, at worst, writes identical bytes.
"""
from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool

OCSF_VERSION = "1.2.0"
CLASS_UID = 6003
CLASS_NAME = "API Activity"
CATEGORY_UID = 6
CATEGORY_NAME = "Application Activity"
SOURCE_NAME = "enclave-audit"
"""The custom source's name: the ``ext/<name>/`` prefix of the Security Lake layout."""

_ACTIVITIES = {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
_VERBS: dict[str, int] = {
    **dict.fromkeys(("create", "evidence", "record"), 1),
    **dict.fromkeys(("read", "list", "search", "download", "export", "verify", "prove", "coverage", "keys"), 2),
    **dict.fromkeys(("update", "fulfil", "pause", "unrestrict", "departure", "rotate", "rewrap", "retire",
                     "erasure_reapplied", "holds_reapplied"), 3),
    **dict.fromkeys(("delete", "erase", "purge", "offboard", "offboard_request", "legacy_keys_removed"), 4),
}
_ADMINS = frozenset({"platform_admin", "regional_admin"})
_USER_TYPES = {1: "User", 2: "Admin", 3: "System"}
_STATUS = {"success": (1, "Success", 1), "denied": (2, "Failure", 3), "rejected": (2, "Failure", 2),
           "error": (2, "Failure", 3), "detected": (99, "Other", 4)}
"""outcome -> (status_id, status, severity_id): a refusal is Medium, a tampering finding High."""
_SEVERITIES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High"}


def activity_id(action: str) -> int:
    """OCSF activity of an audit action, by its verb (``learner.erase`` -> 4 Delete); 99 Other if unknown."""
    return _VERBS.get(action.rpartition(".")[2], 99)


def _user_type(role: str) -> int:
    if role == "system":
        return 3
    return 2 if role in _ADMINS else 1


def _millis(at: str) -> int:
    moment = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _resource_type(resource: str) -> str:
    """``tenants/t/legal-holds/h`` -> ``legal-holds``: the last collection named in the resource path."""
    parts = resource.split("/")
    collections = parts[0::2]
    return collections[-1] if collections and collections[-1] else "audit"


def to_ocsf(event: Mapping[str, Any], product_version: str = "1") -> dict[str, Any]:
    """The OCSF API Activity record of one sealed audit event (the export format of API.md)."""
    actor = event.get("actor") or {}
    role, sub = str(actor.get("role", "")), str(actor.get("sub", ""))
    activity = activity_id(str(event["action"]))
    status_id, status, severity_id = _STATUS.get(str(event["outcome"]), (99, "Other", 1))
    user_type = _user_type(role)
    return {
        "class_uid": CLASS_UID, "class_name": CLASS_NAME,
        "category_uid": CATEGORY_UID, "category_name": CATEGORY_NAME,
        "activity_id": activity, "activity_name": _ACTIVITIES[activity],
        "type_uid": CLASS_UID * 100 + activity, "type_name": f"{CLASS_NAME}: {_ACTIVITIES[activity]}",
        "severity_id": severity_id, "severity": _SEVERITIES[severity_id],
        "status_id": status_id, "status": status, "status_detail": str(event["outcome"]),
        "time": _millis(str(event["at"])),
        "actor": {"user": {"uid": sub, "type_id": user_type, "type": _USER_TYPES[user_type],
                           "groups": [{"name": role}]}},
        "api": {"operation": str(event["action"]), "service": {"name": "enclave"},
                "request": {"uid": str(event["request_id"])}},
        "resources": [{"uid": str(event["resource"]), "type": _resource_type(str(event["resource"])),
                       "region": str(event["region"])}],
        "src_endpoint": {"svc_name": "enclave-api"},
        "cloud": {"provider": "AWS", "region": str(event["region"])},
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "Enclave", "vendor_name": "Enclave", "version": product_version},
            "log_name": "audit", "log_provider": "enclave",
            "tenant_uid": str(event["tenant_id"]), "sequence": int(event["seq"]), "uid": str(event["hash"]),
            "correlation_uid": str(event["request_id"]), "original_time": str(event["at"]),
            "labels": [f"region:{event['region']}", f"prev_hash:{event['prev_hash']}"],
        },
    }


@dataclass(frozen=True)
class StreamObject:
    """One object of the stream: a run of consecutive seqs of one tenant within one hour."""

    key: str
    body: bytes
    first_seq: int
    last_seq: int


def _hour(at: str) -> str:
    """``2026-12-05T13:04:05.123456Z`` -> ``2026120513``."""
    return at[0:4] + at[5:7] + at[8:10] + at[11:13]


def object_key(region: str, account_id: str, tenant_id: str, hour: str, first_seq: int, last_seq: int) -> str:
    """``ext/<source>/region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/tenant=<id>/eventHour=<HH>/<first>-<last>.json.gz``"""
    return (f"ext/{SOURCE_NAME}/region={region}/accountId={account_id}/eventDay={hour[:8]}/tenant={tenant_id}/"
            f"eventHour={hour[8:]}/{first_seq:012d}-{last_seq:012d}.json.gz")


def encode(records: Iterable[Mapping[str, Any]]) -> bytes:
    """gzip NDJSON, byte for byte the same for the same records (no timestamp, no file name)."""
    text = "".join(json.dumps(record, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n"
                   for record in records)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as archive:
        archive.write(text.encode("utf-8"))
    return buffer.getvalue()


def decode(body: bytes) -> list[dict[str, Any]]:
    """The records of one stream object."""
    return [json.loads(line) for line in gzip.decompress(body).decode("utf-8").splitlines() if line]


def stream_objects(events: Sequence[Mapping[str, Any]], region: str, account_id: str) -> list[StreamObject]:
    """The objects holding ``events`` (consecutive seqs of one tenant, in order): a new object wherever the
    event hour changes, so each object sits in its hour's partition."""
    runs: list[list[Mapping[str, Any]]] = []
    for event in events:
        if runs and _hour(str(runs[-1][-1]["at"])) == _hour(str(event["at"])):
            runs[-1].append(event)
        else:
            runs.append([event])
    objects = []
    for run in runs:
        first, last = int(run[0]["seq"]), int(run[-1]["seq"])
        key = object_key(region, account_id, str(run[0]["tenant_id"]), _hour(str(run[0]["at"])), first, last)
        objects.append(StreamObject(key, encode(to_ocsf(event) for event in run), first, last))
    return objects


class StreamSwitch(BaseModel):
    """Body of ``PUT /v1/tenants/{tenant_id}/audit/stream``: switch the tenant's OCSF stream on or off."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    enabled: StrictBool
