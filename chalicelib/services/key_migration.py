"""Moving key items out of a data table into the jurisdiction's key table (a one-off job).

Releases before the key table kept wrapped learner keys (``L#<id>#K``) and tenant key versions
(``TKEY#<v>``) in the data table, which has point-in-time recovery: a restore of it revived erased
learners. ``migrate`` moves every such item of every tenant homed in this region, each in its own
transaction (put in the key table, delete from the data table). Idempotent: an item already in the
key table is only deleted from the data table, and a second run finds nothing to move. Run it
(``python -m chalicelib.cli migrate-keys --jurisdiction UK``) once per jurisdiction right after the
release that adds the key table, before traffic reaches the new code (which reads keys only there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.legacy_keys import LegacyKeyItems
from chalicelib.services.restore import RegionDirectory


@dataclass
class MigrationReport:
    jurisdiction: str
    tenants: int = 0
    moved: int = 0
    already_moved: int = 0

    def view(self) -> dict[str, Any]:
        return {"jurisdiction": self.jurisdiction, "tenants": self.tenants, "moved": self.moved,
                "already_moved": self.already_moved}


class KeyMigration:
    """Moves legacy key items of one region's tenants from their data table to their key table."""

    def __init__(self, directory: RegionDirectory, legacy: LegacyKeyItems, region: str) -> None:
        self._directory = directory
        self._legacy = legacy
        self._region = region

    def migrate(self, jurisdiction: str) -> MigrationReport:
        report = MigrationReport(jurisdiction)
        for tenant in self._directory.in_region(self._region):
            if tenant.jurisdiction != jurisdiction:
                continue
            report.tenants += 1
            for item in self._legacy.items(jurisdiction, tenant.tenant_id):
                outcome = self._legacy.move(jurisdiction, {"pk": item["pk"], "sk": item["sk"]})
                report.moved += outcome == "moved"
                report.already_moved += outcome == "already_moved"
        return report
