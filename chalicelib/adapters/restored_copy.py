"""What the restore tool reads from the live data table and writes into a restored copy of it.

A restored copy is a new table (its own name) with the items of the live table at the backup's time.
Legal holds are state the copy must not lose: a hold placed (or lifted) after the backup is known only to
the live table, so its items (``H#<hold_id>``, and the markers ``HM#…`` an erasure's transaction checks)
are copied over as they are live. The copy must never be the live table itself (nor the key table): the
tool rewrites what it is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.adapters.data_store import DataStore
from chalicelib.adapters.governance_store import HOLD_PREFIX, MARKER_PREFIX
from chalicelib.domain.errors import BadRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class RestoredCopy:
    """The restored table (``restored``'s data table) next to the live one (``live``'s)."""

    def __init__(self, restored: DataStore, live: DataStore) -> None:
        self._restored = restored
        self._live = live

    def require_not_live(self, jurisdiction: str) -> None:
        """BadRequest (nothing touched) when the table named as the copy is a live table of the jurisdiction."""
        name = self._restored.table(jurisdiction)
        if name in (self._live.table(jurisdiction), self._live.key_table(jurisdiction)):
            raise BadRequest(f"{name} is a live table of {jurisdiction}, not a restored copy: name the table "
                             "the point-in-time restore created")

    def stale_holds(self, jurisdiction: str, tenant_id: str) -> list[dict[str, Any]]:
        """The live hold and hold-marker items the copy lacks or holds otherwise (placed or lifted since the
        backup), as the live table has them."""
        stale: list[dict[str, Any]] = []
        for prefix in (HOLD_PREFIX, MARKER_PREFIX):
            copied = {item["sk"]["S"]: item for item in self._restored.items_between(
                jurisdiction, tenant_id, prefix, prefix + "~")}
            stale += [item for item in self._live.items_between(jurisdiction, tenant_id, prefix, prefix + "~")
                      if copied.get(item["sk"]["S"]) != item]
        return stale

    def put(self, jurisdiction: str, item: dict[str, Any]) -> TransactWriteItemTypeDef:
        """Write ``item`` into the copy as it is (for a transaction with its audit event)."""
        return {"Put": {"TableName": self._restored.table(jurisdiction), "Item": item}}
