"""Retention: record a learner's departure, and sweep what the law packs say has expired.

The sweep runs daily (a Chalice scheduled function, ``app.retention``) and on demand
(``POST /v1/retention/sweep``, regional admins of the region and platform admins). For each tenant
homed in this deployment's region (found by a filtered scan of the tenant directory: one small,
non-personal item per tenant, fine for a daily job; no new index or table):

1. one range query of the data table's ``by_lookup`` index finds the learners who left on or before
   the last day for which anything can have expired (``domain.retention``);
2. one query lists the tenant's active legal holds: a held learner (or every learner, under a
   whole-tenant hold) is kept and reported, nothing of theirs deleted. A hold placed after that query
   is still seen where it matters, at the point of deletion: the shredding transaction and every purge
   transaction check the hold markers of their learners and of the tenant (as an erasure does), and a
   learner a refused transaction names is then kept whole (no result of theirs purged either);
3. an expired learner is crypto-shredded through ``ErasureService.shred(..., "retention.shred")``
   (its own audit event, in the same transaction as the key deletion);
4. once the ``results`` / ``consents`` rules have expired, those items are deleted too (crypto-shredding
   already made results unreadable; consent records are kept unencrypted as evidence until their own
   rule expires), in chunks (at most 97 changes with the hold checks), each with a ``retention.purge``
   audit event; the departure item goes last;
5. one ``retention.sweep`` audit event per tenant (counts, learner ids, ``dry_run``), written in dry
   runs too: the sweep read the tenant's data.

Time budget: a run stops starting work after ``budget_seconds`` (20 s; the functions time out at
30 s and API Gateway at 29 s). Tenants not reached are reported as ``deferred``, a tenant cut short as
``incomplete``; what is left is found again by the next run (tenants are visited in random order so
none is always last). Measured on the in-process emulator: about 50 ms per expired learner shredded
and purged, 22 ms per learner in a dry run.

A dry run does steps 1, 2 and 5 and reports what 3 and 4 would do; it changes no data item. DynamoDB
TTL is not used: it deletes days late, and in the emulator never. Rules counted from another event
(``request_closed``: data-subject requests; ``audit``: the append-only audit trail, which this
deployment has no permission to delete from) are not swept here.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, live_profile
from chalicelib.adapters.governance_store import GovernanceStore, departure_sk
from chalicelib.domain.audit import format_at
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.deadlines import iso_utc
from chalicelib.domain.errors import (
    BadRequest,
    Conflict,
    EnclaveError,
    Gone,
    LegalHoldActive,
    NotFound,
    ValidationFailed,
)
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import require_id
from chalicelib.domain.retention import (
    RECORD_KINDS,
    DepartureUpdate,
    Expiry,
    expiry,
    latest_departure_with_expiry,
)
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import logger
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller, SystemCaller
from chalicelib.services.holds import HoldService
from chalicelib.services.learners.service import learner_resource
from chalicelib.services.requests.erasure import ErasureService

SYSTEM_SUB = "system:retention-scheduler"
DEFAULT_BUDGET_SECONDS = 20.0
"""Stop starting new tenants after this long (the function times out at 30 s); the rest wait a day."""


class RegionDirectory(Protocol):
    def in_region(self, home_region: str) -> list[Tenant]: ...


@dataclass
class TenantSweep:
    tenant_id: str
    jurisdiction: str
    tenant_hold: bool = False
    examined: int = 0
    shred: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    purge: list[str] = field(default_factory=list)
    records_purged: int = 0
    failed: list[str] = field(default_factory=list)
    incomplete: bool = False
    error: str | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tenant_id": self.tenant_id, "jurisdiction": self.jurisdiction, "tenant_hold": self.tenant_hold,
            "examined": self.examined, "shred": sorted(self.shred), "held": sorted(self.held),
            "purge": sorted(self.purge), "records_purged": self.records_purged, "failed": sorted(self.failed),
            "incomplete": self.incomplete,
        }
        if self.error:
            out["error"] = self.error
        return out


class RetentionService:
    def __init__(self, access: AccessControl, directory: RegionDirectory, jurisdictions: JurisdictionCatalog,
                 data: DataStore, store: GovernanceStore, holds: HoldService, erasure: ErasureService,
                 audit: AuditStore, clock: Callable[[], datetime], region: str, *,
                 budget_seconds: float = DEFAULT_BUDGET_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._access = access
        self._directory = directory
        self._jurisdictions = jurisdictions
        self._data = data
        self._store = store
        self._holds = holds
        self._erasure = erasure
        self._audit = audit
        self._clock = clock
        self._region = region
        self._budget = budget_seconds
        self._monotonic = monotonic

    # -- departures ----------------------------------------------------------------------------------

    def record_departure(self, caller: Caller, tenant_id: str, learner_id: str,
                         body: DepartureUpdate) -> dict[str, Any]:
        """Set (or clear, with null) the day a learner left: the reference time of their retention."""
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.update")
        require_id(learner_id, "lrn", "learner")
        now = self._clock()
        if body.left_on is not None and body.left_on > now.date():
            raise ValidationFailed([{"field": "left_on", "message": "must not be in the future"}])
        if body.left_on is not None and body.left_on.year < 1900:
            raise ValidationFailed([{"field": "left_on", "message": "must be in 1900 or later"}])
        # No read first: the transaction checks the learner exists and is not erased; only a refusal reads
        # the profile, to answer 404 or 410 (one round trip on the way that succeeds)
        j, tid = tenant.jurisdiction, tenant.tenant_id
        change = (self._store.record_delete(j, tid, departure_sk(learner_id)) if body.left_on is None
                  else self._store.departure_put(j, tid, learner_id, body.left_on.isoformat(), format_at(now)))
        draft = caller.draft("learner.departure", f"{learner_resource(tid, learner_id)}/departure",
                             learner_id=learner_id, cleared=body.left_on is None)
        try:
            self._audit.commit(tid, j, draft, [change, self._data.learner_exists_check(j, tid, learner_id)])
        except ChangeRejected:
            live_profile(self._data.learner_items(j, tid, learner_id).get("P"))  # 404 unknown, 410 erased
            raise Conflict("the learner changed meanwhile; retry") from None
        return self._departure_view(tenant, learner_id, body.left_on)

    def _departure_view(self, tenant: Tenant, learner_id: str, left_on: date | None) -> dict[str, Any]:
        view: dict[str, Any] = {"learner_id": learner_id, "left_on": None if left_on is None else left_on.isoformat(),
                                "retention": None}
        if left_on is not None:
            policy = self._jurisdictions.get(tenant.jurisdiction)
            expires = expiry(policy, left_on)
            view["retention"] = {
                record_type: None if at is None else {
                    "expires_at": iso_utc(at), "days": policy.retention_rule(record_type).days,
                    "rule": policy.retention_rule(record_type).rule,
                    "confidence": policy.retention_rule(record_type).confidence,
                }
                for record_type, at in expires.at.items()
            }
        return view

    # -- sweeps --------------------------------------------------------------------------------------

    def sweep(self, caller: Caller, dry_run: str | None = None) -> dict[str, Any]:
        """``POST /v1/retention/sweep``: every tenant homed in this region, now."""
        self._access.region(caller.principal, "retention.sweep")
        if dry_run not in (None, "true", "false"):
            raise BadRequest("dry_run must be true or false")
        return self.run(caller, self._directory.in_region(self._region), dry_run=dry_run == "true")

    def scheduled(self, request_id: str | None = None) -> dict[str, Any]:
        """The daily run: as the system, every tenant homed in this region."""
        principal = Principal(sub=SYSTEM_SUB, username=SYSTEM_SUB, role=Role.PLATFORM_ADMIN, region=self._region)
        caller = SystemCaller(principal, request_id or f"schedule-{uuid.uuid4()}")
        report = self.run(caller, self._directory.in_region(self._region), dry_run=False)
        logger.info("retention sweep finished", extra={"totals": report["totals"]})
        return report

    def run(self, caller: Caller, tenants: list[Tenant], *, dry_run: bool,
            now: datetime | None = None) -> dict[str, Any]:
        """Sweep ``tenants`` (each must be homed here) as of ``now`` (default: the clock)."""
        now = now or self._clock()
        stop_at = self._monotonic() + self._budget
        order = list(tenants)
        secrets.SystemRandom().shuffle(order)  # under a time budget, no tenant is always last
        reports: list[TenantSweep] = []
        deferred: list[str] = []
        for tenant in order:
            if self._monotonic() > stop_at:
                deferred.append(tenant.tenant_id)
                continue
            self._access.require_home(tenant.home_region)
            reports.append(self._tenant(caller, tenant, dry_run, now, stop_at))
        views = sorted((r.view() for r in reports), key=lambda v: str(v["tenant_id"]))
        return {
            "region": self._region, "dry_run": dry_run, "swept_at": format_at(now),
            "tenants": views, "deferred": sorted(deferred),
            "totals": {"tenants": len(reports), "examined": sum(r.examined for r in reports),
                       "shred": sum(len(r.shred) for r in reports), "held": sum(len(r.held) for r in reports),
                       "purge": sum(len(r.purge) for r in reports),
                       "records_purged": sum(r.records_purged for r in reports),
                       "failed": sum(len(r.failed) for r in reports),
                       "incomplete": sum(1 for r in reports if r.incomplete) + len(deferred),
                       "errors": sum(1 for r in reports if r.error)},
        }

    def _tenant(self, caller: Caller, tenant: Tenant, dry_run: bool, now: datetime, stop_at: float) -> TenantSweep:
        report = TenantSweep(tenant.tenant_id, tenant.jurisdiction)
        try:
            self._examine(caller, tenant, dry_run, now, stop_at, report)
        except EnclaveError as err:
            report.error = err.code
            logger.error("retention sweep of a tenant failed",
                         extra={"tenant_id": tenant.tenant_id, "error_code": err.code})
        draft = caller.draft(
            "retention.sweep", f"tenants/{tenant.tenant_id}/retention", outcome="error" if report.error else "success",
            dry_run=dry_run, as_of=format_at(now), examined=report.examined, shred=len(report.shred),
            held=len(report.held), purge=len(report.purge), records_purged=report.records_purged,
            failed=len(report.failed), tenant_hold=report.tenant_hold, incomplete=report.incomplete,
            shred_learner_ids=sorted(report.shred),
            held_learner_ids=sorted(report.held), **({"error": report.error} if report.error else {}))
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft)
        except EnclaveError as err:
            report.error = report.error or err.code
            logger.error("retention sweep event not recorded",
                         extra={"tenant_id": tenant.tenant_id, "error_code": err.code})
        return report

    def _examine(self, caller: Caller, tenant: Tenant, dry_run: bool, now: datetime, stop_at: float,
                 report: TenantSweep) -> None:
        policy = self._jurisdictions.get(tenant.jurisdiction)
        latest = latest_departure_with_expiry(policy, now)
        if latest is None:
            return
        candidates = self._store.departed(tenant.jurisdiction, tenant.tenant_id, latest.isoformat())
        if not candidates:
            return
        tenant_hold, held = self._holds.active(tenant)
        report.tenant_hold = tenant_hold
        deletes: list[tuple[str, str]] = []  # (learner_id, sk)
        for learner_id, left_on in candidates:
            if self._monotonic() > stop_at:  # out of time: what is left is found again by the next run
                report.incomplete = True
                break
            report.examined += 1
            if tenant_hold or learner_id in held:
                report.held.append(learner_id)
                continue
            expires = expiry(policy, date.fromisoformat(left_on))
            items = self._data.everything_about(tenant.jurisdiction, tenant.tenant_id, learner_id)
            by_sk = {item["sk"]["S"]: item for item in items}
            profile = by_sk.get(f"L#{learner_id}#P")
            erased = profile is None or "erased_at" in profile
            if not erased and expires.due("learner", now):
                report.shred.append(learner_id)
                outcome = "erased" if dry_run else self._shred(caller, tenant, learner_id, report)
                if outcome == "held":  # a hold placed since the listing: nothing of this learner goes
                    continue
                erased = outcome == "erased"
            mine = [sk for sk in by_sk if self._purgeable(sk, learner_id, expires, erased, now)]
            if erased and expires.all_due(now):
                mine.append(departure_sk(learner_id))
            if mine:
                report.purge.append(learner_id)
                deletes += [(learner_id, sk) for sk in mine]
        report.records_purged = len(deletes)
        if not dry_run:
            report.records_purged = self._purge(caller, tenant, deletes, report)

    def _shred(self, caller: Caller, tenant: Tenant, learner_id: str, report: TenantSweep) -> str:
        """Shred through the learner service: ``erased`` (now or before), ``held`` or ``failed``."""
        try:
            self._erasure.shred(caller, tenant, learner_id, "retention.shred")
        except LegalHoldActive:  # a hold placed since the sweep listed them
            report.shred.remove(learner_id)
            report.held.append(learner_id)
            return "held"
        except Gone:
            report.shred.remove(learner_id)
        except (NotFound, Conflict):
            report.shred.remove(learner_id)
            report.failed.append(learner_id)
            return "failed"
        return "erased"

    @staticmethod
    def _purgeable(sk: str, learner_id: str, expires: Expiry, erased: bool, now: datetime) -> bool:
        parts = sk.split("#")
        if len(parts) < 4 or parts[1] != learner_id:
            return False
        record_type = RECORD_KINDS.get(parts[2])
        if record_type is None or not expires.due(record_type, now):
            return False
        # Results may go on their own when their rule is shorter; consent evidence only with the learner.
        return record_type == "results" or erased

    def _purge(self, caller: Caller, tenant: Tenant, deletes: list[tuple[str, str]], report: TenantSweep) -> int:
        """Delete ``deletes`` in audited chunks; how many were deleted. Each chunk's transaction checks the hold
        markers of its learners and of the whole tenant (as an erasure's does), so a hold placed since the
        sweep listed the holds refuses it: the held learners' records are then left alone and the rest retried."""
        j, tid = tenant.jurisdiction, tenant.tenant_id
        pending, purged = list(deletes), 0
        while pending:
            chunk, learners = _next_chunk(pending)
            guards = [self._store.no_hold_check(j, tid, None), *(self._store.no_hold_check(j, tid, learner_id)
                                                                for learner_id in learners)]
            changes = [self._store.record_delete(j, tid, sk) for _, sk in chunk] + guards
            draft = caller.draft("retention.purge", f"tenants/{tid}/retention", learner_ids=learners,
                                 records=_kinds(chunk))
            try:
                self._audit.commit(tid, j, draft, changes)
            except ChangeRejected as exc:  # only a guard has a condition: a hold landed meanwhile
                guard = exc.index - len(chunk)
                if guard < 0:  # no delete has a condition: not expected; the next sweep tries again
                    raise Conflict("the purge was refused; the next sweep retries it") from None
                held = {learners[guard - 1]} if guard else {learner_id for learner_id, _ in pending}
                report.tenant_hold = report.tenant_hold or not guard  # the whole tenant: nothing more goes
                for learner_id in sorted(held):
                    _now_held(report, learner_id)
                pending = [(learner_id, sk) for learner_id, sk in pending if learner_id not in held]
                continue
            purged += len(chunk)
            pending = pending[len(chunk):]
        return purged


MAX_CHANGES = 97
"""Changes per purge transaction besides its audit event (DynamoDB allows 100 items in all)."""


def _next_chunk(pending: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The first deletes of ``pending`` that fit one transaction with a hold check per learner and one for the
    tenant, and those learners (sorted)."""
    chunk: list[tuple[str, str]] = []
    learners: set[str] = set()
    for learner_id, sk in pending:
        if len(chunk) + 1 + len(learners | {learner_id}) + 1 > MAX_CHANGES:
            break
        chunk.append((learner_id, sk))
        learners.add(learner_id)
    return chunk, sorted(learners)


def _kinds(chunk: list[tuple[str, str]]) -> dict[str, int]:
    """How many records of each kind ``chunk`` deletes (for its audit event)."""
    kinds: dict[str, int] = {}
    for _, sk in chunk:
        kind = sk.split("#")[2]
        name = RECORD_KINDS.get(kind, "departure" if kind == "D" else kind)
        kinds[name] = kinds.get(name, 0) + 1
    return kinds


def _now_held(report: TenantSweep, learner_id: str) -> None:
    """Report a learner the purge found held: kept, not purged."""
    if learner_id in report.purge:
        report.purge.remove(learner_id)
    if learner_id not in report.held:
        report.held.append(learner_id)
