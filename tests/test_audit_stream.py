"""Reading an audit stream batch: the sealer's own changes pass, every other change of a marker is named."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.audit_stream import REWRITTEN, read_batch

PK, SK = {"S": "TENANT#tnt_1"}, {"S": "PND#20260601T090000000000-000000000001-ab"}
LANDED = {"pk": PK, "sk": SK, "tenant_id": {"S": "tnt_1"}, "jurisdiction": {"S": "UK"},
          "pending": {"S": json.dumps({"action": "learner.read", "outcome": "success"})}}
SEALED = {key: value for key, value in LANDED.items() if key != "pending"} | {"sealed_seq": {"N": "7"}}


def _record(name: str, seq: int, old: dict[str, Any] | None = None,
            new: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"Keys": {"pk": PK, "sk": SK}, "SequenceNumber": str(seq)}
    if old is not None:
        data["OldImage"] = old
    if new is not None:
        data["NewImage"] = new
    return {"eventName": name, "dynamodb": data}


def test_landing_and_sealing_are_not_alterations() -> None:
    batch = read_batch([_record("INSERT", 1, new=LANDED), _record("MODIFY", 2, LANDED, SEALED)])[("tnt_1", "UK")]
    assert list(batch.landed) == ["20260601T090000000000-000000000001-ab"]
    assert batch.altered == []
    assert list(batch.sealed) == ["20260601T090000000000-000000000001-ab"]
    assert batch.sealed["20260601T090000000000-000000000001-ab"].seq == 7


def test_a_seal_that_also_changes_another_attribute_is_an_alteration() -> None:
    moved = SEALED | {"jurisdiction": {"S": "DE"}}
    [alteration] = read_batch([_record("MODIFY", 3, LANDED, moved)])[("tnt_1", "UK")].altered
    assert alteration.change == REWRITTEN
    assert alteration.fields == ("action", "outcome")  # the event left the scan's sight: every field gone
    assert not alteration.now_pending


def test_items_other_than_pending_markers_are_ignored() -> None:
    head = {"eventName": "MODIFY", "dynamodb": {"Keys": {"pk": PK, "sk": {"S": "HEAD"}}, "OldImage": {},
                                                "NewImage": {"pk": PK, "sk": {"S": "HEAD"}}}}
    assert read_batch([head]) == {}
