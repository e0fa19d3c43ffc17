"""The audit trail: its store, the stream sequencer, checkpoints, signed tree heads and the witness, signing
keys, proofs, exports, the console's view and the oversight figures."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.composition.base import Parts

if TYPE_CHECKING:
    from chalicelib.adapters.audit_store import AuditStore
    from chalicelib.adapters.kms_signer import KmsCheckpointSigner
    from chalicelib.services.audit.browse import AuditBrowser
    from chalicelib.services.audit.proofs import AuditProofService, TreeHeads
    from chalicelib.services.audit.sequencer import Sequencer
    from chalicelib.services.audit.signing_keys import AuditKeyService, SigningKeys
    from chalicelib.services.audit.trail import AuditService, Checkpointer
    from chalicelib.services.oversight import Oversight


class AuditParts(Parts):
    """The container's builders of the audit trail's parts, each built on first use (see the module)."""

    @cached_property
    def audit_store(self) -> AuditStore:
        from chalicelib.adapters.audit_store import AuditStore

        return AuditStore(self.clients.dynamodb(self.settings.region), self.settings.audit_table,
                          self.settings.region, self.clock, after_commit=self._after_commit,
                          after_seal=self._after_seal)

    @cached_property
    def sequencer(self) -> Sequencer:
        from chalicelib.services.audit.sequencer import Sequencer

        return Sequencer(self.audit_store, after_tenant=self._after_tenant_sealed)

    def _after_tenant_sealed(self, tenant_id: str, jurisdiction: str) -> None:
        """After a tenant's batch is sealed: the OCSF stream, then the domain events (neither raises)."""
        self.siem_delivery.after_batch(tenant_id, jurisdiction)
        self.trail_events.after_batch(tenant_id, jurisdiction)

    def _after_commit(self, jurisdiction: str, event: dict[str, Any]) -> None:
        self.checkpointer.after_commit(jurisdiction, event)

    def _after_seal(self, tenant_id: str, jurisdiction: str, tree_size: int, sealed: int) -> None:
        self.tree_heads.after_seal(tenant_id, jurisdiction, tree_size, sealed)

    @cached_property
    def tree_heads(self) -> TreeHeads:
        from chalicelib.adapters.tree_store import TreeStore
        from chalicelib.adapters.witness_bucket import WitnessBucket
        from chalicelib.services.audit.proofs import TreeHeads, Witness

        settings = self.settings
        tree = TreeStore(self.clients.dynamodb(settings.region), settings.audit_table)
        witness = Witness(WitnessBucket(self.clients.s3(settings.region), settings.witness_bucket),
                          self._audit_retention_days)
        return TreeHeads(tree, self.signing_keys, self.clock, region=settings.region, stage=settings.stage,
                         every=settings.checkpoint_every, interval=timedelta(seconds=settings.head_interval_seconds),
                         witness=witness)

    def _audit_retention_days(self, jurisdiction: str) -> int:
        """How long the jurisdiction's law pack keeps the audit trail (the witness bucket's lock)."""
        return self.jurisdictions.get(jurisdiction).retention.audit.days

    @cached_property
    def signing_keys(self) -> SigningKeys:
        """The signing key in use and the region's key history (in the home jurisdiction's audit table)."""
        from chalicelib.adapters.key_history import KeyHistory
        from chalicelib.services.audit.signing_keys import SigningKeys

        home = self.jurisdictions.by_region(self.settings.region).code
        history = KeyHistory(self.clients.dynamodb(self.settings.region), self.settings.audit_table(home))
        return SigningKeys(self.signer, history, self.clock)

    @cached_property
    def audit_keys(self) -> AuditKeyService:
        from chalicelib.services.audit.signing_keys import AuditKeyService

        return AuditKeyService(self.access, self.signing_keys)

    @cached_property
    def audit_proofs(self) -> AuditProofService:
        from chalicelib.services.audit.proofs import AuditProofService

        return AuditProofService(self.access, self.audit_store, self.tree_heads, self.signing_keys)

    @cached_property
    def checkpointer(self) -> Checkpointer:
        from chalicelib.services.audit.trail import Checkpointer

        return Checkpointer(self.audit_store, self.signing_keys, self.clock, self.settings.checkpoint_every)

    @cached_property
    def audit(self) -> AuditService:
        from chalicelib.services.audit.trail import AuditService

        return AuditService(self.access, self.audit_store, self.checkpointer, self.export_bucket, self.clock,
                            self.tree_heads, self.signing_keys)

    @cached_property
    def audit_browser(self) -> AuditBrowser:
        from chalicelib.adapters.audit_summaries import AuditSummaries
        from chalicelib.services.audit.browse import AuditBrowser

        summaries = AuditSummaries(self.clients.dynamodb(self.settings.region), self.settings.audit_table)
        return AuditBrowser(self.access, self.audit_store, self.clock, summaries)

    @cached_property
    def oversight(self) -> Oversight:
        from chalicelib.adapters.audit_latest import AuditLatest
        from chalicelib.adapters.audit_summaries import AuditSummaries
        from chalicelib.adapters.consent_counts import ConsentCounts
        from chalicelib.services.oversight import Oversight

        latest = AuditLatest(self.clients.dynamodb(self.settings.region), self.settings.audit_table)
        counts = ConsentCounts(self.clients.dynamodb(self.settings.region), self.data_store.table)
        summaries = AuditSummaries(self.clients.dynamodb(self.settings.region), self.settings.audit_table)
        return Oversight(self.access, self.audit_store, latest, self.data_store, self.jurisdictions, self.clock,
                         counts, summaries)

    @cached_property
    def signer(self) -> KmsCheckpointSigner:
        from chalicelib.adapters.kms_signer import KmsCheckpointSigner

        return KmsCheckpointSigner(self.clients.kms(self.settings.region), self.settings.signing_key_alias)
