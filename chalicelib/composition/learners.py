"""Learners and what is held on them: profiles, results, consents, research shares, holds, retention,
bulk imports, offboarding a tenant and re-applying erasures to a restored table."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.composition.base import Parts

if TYPE_CHECKING:
    from chalicelib.adapters.governance_store import GovernanceStore
    from chalicelib.services.consents import ConsentService
    from chalicelib.services.holds import HoldService
    from chalicelib.services.imports import ImportService
    from chalicelib.services.learners.service import LearnerService
    from chalicelib.services.offboarding import OffboardingService
    from chalicelib.services.research import ResearchShareService
    from chalicelib.services.restore import RestoreService
    from chalicelib.services.results import ResultService
    from chalicelib.services.retention import RetentionService


class LearnerParts(Parts):
    """The container's builders of the learner parts, each built on first use (see the module)."""

    @cached_property
    def learners(self) -> LearnerService:
        from chalicelib.services.learners.service import LearnerService

        return LearnerService(self.access, self.data_store, self.tenant_keys, self.audit_store, self.idempotent,
                              self.clock)

    @cached_property
    def results(self) -> ResultService:
        from chalicelib.services.results import ResultService

        return ResultService(self.access, self.data_store, self.learners, self.audit_store, self.idempotent,
                             self.clock)

    @cached_property
    def governance_store(self) -> GovernanceStore:
        from chalicelib.adapters.governance_store import GovernanceStore

        return GovernanceStore(self.clients.dynamodb(self.settings.region), self.data_store)

    @cached_property
    def holds(self) -> HoldService:
        from chalicelib.services.holds import HoldService

        return HoldService(self.access, self.governance_store, self.data_store, self.tenant_keys, self.audit_store,
                           self.idempotent, self.clock)

    @cached_property
    def retention(self) -> RetentionService:
        from chalicelib.services.retention import RetentionService

        return RetentionService(self.access, self.directory, self.jurisdictions, self.data_store,
                                self.governance_store, self.holds, self.erasure, self.audit_store, self.clock,
                                self.settings.region)

    @cached_property
    def offboarding(self) -> OffboardingService:
        from chalicelib.services.offboarding import OffboardingService

        return OffboardingService(self.access, self.governance_store, self.holds, self.learners, self.tenant_keys,
                                  self.audit, self.audit_store, self.export_bucket, self.directory, self.clock,
                                  timedelta(days=self.settings.offboarding_wait_days),
                                  on_offboarded=self.edge_routes.removed)

    @cached_property
    def consents(self) -> ConsentService:
        from chalicelib.services.consents import ConsentService

        return ConsentService(self.access, self.data_store, self.learners, self.audit_store, self.jurisdictions,
                              self.clock, self.idempotent)

    @cached_property
    def research(self) -> ResearchShareService:
        from chalicelib.services.research import ResearchShareService

        return ResearchShareService(self.access, self.consents, self.learners, self.tenant_keys, self.data_store,
                                    self.audit_store)

    @cached_property
    def imports(self) -> ImportService:
        """Bulk imports: the routes and the worker of the import queue (``import_worker`` in app.py)."""
        from chalicelib.adapters.import_files import ImportBucket, ImportQueue
        from chalicelib.adapters.import_store import ImportStore
        from chalicelib.services.import_writer import ImportWriter
        from chalicelib.services.imports import ImportService

        settings = self.settings
        store = ImportStore(self.clients.dynamodb(settings.region), self.data_store)
        bucket = ImportBucket(self.clients.s3(settings.region), settings.export_bucket, settings.kms_key_alias)
        queue = ImportQueue(self.clients.sqs(settings.region), settings.import_queue)
        writer = ImportWriter(self.data_store, store, self.tenant_keys, self.audit_store, self.jurisdictions,
                              self.clock)
        return ImportService(self.access, self.directory, store, bucket, queue, writer, self.data_store,
                             self.tenant_keys, self.audit_store, self.jurisdictions, self.clock, settings.region)

    def restore(self, restored_table: str) -> RestoreService:
        """The restore tool's service, working on ``restored_table`` (a restored copy of a data table) and the
        live key table (never restored: it has no point-in-time recovery)."""
        from chalicelib.adapters.data_store import DataStore
        from chalicelib.adapters.legacy_keys import LegacyKeyItems
        from chalicelib.adapters.restored_copy import RestoredCopy
        from chalicelib.services.restore import RestoreService

        client = self.clients.dynamodb(self.settings.region)
        restored = DataStore(client, self.settings.region, lambda jurisdiction: restored_table, self.jurisdictions,
                             self.settings.key_table)
        return RestoreService(self.directory, self.audit_store, restored, LegacyKeyItems(client, restored),
                              RestoredCopy(restored, self.data_store), self.settings.region)
