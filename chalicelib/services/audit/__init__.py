"""The audit trail's services: the trail itself (``trail``: checkpoints, exports, verification), the console's
filtered view (``browse``), the region's signing keys (``signing_keys``), Merkle tree heads and proofs
(``proofs``) and the stream sequencer that seals landed events (``sequencer``)."""
