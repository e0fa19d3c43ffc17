"""Keeping the global entry's routing table (CloudFront KeyValueStore) in step with the tenant directory.

The directory is the truth; the store is a copy of ``tenant_id -> home_region`` for the live tenants.

* **Onboarding** writes the directory entry, then puts the route (retried on ETag conflicts). **Offboarding**
  tombstones the entry, then deletes the route.
* **A failed update does not undo the directory change** (the tenant exists, or is gone, whatever the
  edge says) **and is never silent**: the answer says ``"edge_route": "pending"``, a critical log line
  counts the metric ``Enclave/EdgeRouteSyncFailures`` (alarm ``EdgeRouteSyncAlarm`` in the template),
  and the reconciliation repairs it. Until then a new tenant's console calls through the global
  hostname get 404 (the regional endpoints work), an offboarded tenant's get the home region's 404.
* **Reconciliation** (hourly schedule ``edge_routes``, or ``python -m chalicelib.cli edge reconcile``)
  diffs the tenants homed in this region against the routes pointing at this region and writes the
  difference in ``UpdateKeys`` batches. Each region repairs only its own tenants' routes, so the four
  deployments never fight over a key. Routes to a region that are not a live tenant of its directory
  (offboarded, or never onboarded) are deleted.

Without a store (``ENCLAVE_EDGE_KVS_ARN`` unset: ``make run``, tests) every step reports ``"disabled"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from chalicelib.adapters.edge_routes import EdgeRouteStore, EdgeSyncFailed
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import logger

SYNC_FAILURE_METRIC = "EdgeRouteSyncFailures"


class LiveTenants(Protocol):
    def in_region(self, home_region: str) -> list[Tenant]: ...


def sync_failed() -> None:
    """Count one failed routing-table update (CloudWatch EMF metric ``Enclave/EdgeRouteSyncFailures``)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=SYNC_FAILURE_METRIC, unit=MetricUnit.Count, value=1, namespace="Enclave") as metric:
        metric.add_dimension(name="service", value="enclave")


class EdgeRouteSync:
    def __init__(self, store: EdgeRouteStore | None, directory: LiveTenants, region: str,
                 on_failure: Callable[[], None] = sync_failed) -> None:
        self._store = store
        self._directory = directory
        self._region = region
        self._on_failure = on_failure

    def added(self, tenant: Tenant) -> str:
        """Route a new tenant: ``"synced"``, ``"pending"`` (failed: alarmed, reconciled) or ``"disabled"``."""
        return self._attempt("put", tenant.tenant_id, lambda store: store.put(tenant.tenant_id, tenant.home_region))

    def removed(self, tenant_id: str) -> str:
        """Remove an offboarded tenant's route (same answers as ``added``)."""
        return self._attempt("delete", tenant_id, lambda store: store.delete(tenant_id))

    def _attempt(self, operation: str, tenant_id: str, change: Callable[[EdgeRouteStore], None]) -> str:
        if self._store is None:
            return "disabled"
        try:
            change(self._store)
        except EdgeSyncFailed as exc:
            logger.critical("edge route not updated: the reconciliation will repair it",
                            extra={"alert": "edge_sync_failed", "operation": operation, "tenant_id": tenant_id,
                                   "reason": exc.message})
            self._on_failure()
            return "pending"
        return "synced"

    def reconcile(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Make the routes to this region equal the live tenants homed here; the report of what changed."""
        if self._store is None:
            return {"region": self._region, "status": "disabled"}
        wanted = {tenant.tenant_id: tenant.home_region for tenant in self._directory.in_region(self._region)}
        present = self._store.entries()
        puts = {tenant_id: region for tenant_id, region in wanted.items() if present.get(tenant_id) != region}
        deletes = sorted(key for key, region in present.items() if region == self._region and key not in wanted)
        report: dict[str, Any] = {"region": self._region, "dry_run": dry_run, "tenants": len(wanted),
                                  "put": sorted(puts), "deleted": deletes, "status": "in_step"}
        if puts or deletes:
            report["status"] = "would_repair" if dry_run else "repaired"
            if not dry_run:
                report["calls"] = self._store.apply(puts, deletes)
        logger.info("edge routes reconciled", extra={"puts": len(puts), "deletes": len(deletes), "dry_run": dry_run})
        return report
