"""Reading an audit stream batch: the sealer's own changes pass, every other change of a marker is named."""
from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.audit.stream import REWRITTEN, read_batch

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


def test_a_pending_event_deleted_and_put_back_altered_is_one_alteration_and_the_first_image_is_kept() -> None:
    forged = LANDED | {"pending": {"S": json.dumps({"action": "learner.erase", "outcome": "success"})}}
    batch = read_batch([_record("INSERT", 1, new=LANDED), _record("REMOVE", 2, old=LANDED),
                        _record("INSERT", 3, new=forged)])[("tnt_1", "UK")]
    assert batch.landed["20260601T090000000000-000000000001-ab"] == {"action": "learner.read", "outcome": "success"}
    [alteration] = batch.altered
    assert (alteration.change, alteration.record_id, alteration.fields) == ("pending_replaced", "2", ("action",))
    assert alteration.now_pending


def test_a_pending_event_deleted_alone_is_an_alteration() -> None:
    [alteration] = read_batch([_record("INSERT", 1, new=LANDED), _record("REMOVE", 2, old=LANDED)])[
        ("tnt_1", "UK")].altered
    assert (alteration.change, alteration.now_pending) == ("pending_removed", False)


def test_a_landed_record_put_is_not_an_alteration_but_its_deletion_is() -> None:
    sk = {"S": "LND#20260601T090000000000-000000000001-ab"}
    record = {"pk": PK, "sk": sk, "jurisdiction": {"S": "UK"}, "landed": {"S": "ab" * 32}, "seq": {"N": "7"}}
    put = {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": PK, "sk": sk}, "NewImage": record}}
    gone = {"eventName": "REMOVE", "dynamodb": {"Keys": {"pk": PK, "sk": sk}, "OldImage": record,
                                                "SequenceNumber": "9"}}
    assert read_batch([put]) == {}
    [alteration] = read_batch([put, gone])[("tnt_1", "UK")].altered
    assert (alteration.change, alteration.landed_record, alteration.sealed_seq) == (
        "landed_record_removed", ("ab" * 32, 7), 7)
