"""Legal holds: what a regional admin sends, and the view of a hold.

A hold covers one learner (``learner_id``) or, without one, the whole tenant. While it is active
it blocks erasure (409 ``legal_hold_active``) and the retention sweep; lifting it is a second,
audited act and the hold stays on record with ``lifted_at``.

The reason is free text and may well name people (a claimant, a lawyer, the learner), so it is
personal data: it is encrypted like any personal field, with a key of the hold's own (a subject key
wrapped by the tenant key, bound to tenant, hold and field), never stored, logged or audited in
plaintext. What the platform needs to reason about holds (``category``, scope, times, who) is an
enumeration or an identifier and is stored as is.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chalicelib.domain.ids import is_valid_id

HoldCategory = Literal[
    "litigation", "regulatory_investigation", "law_enforcement", "data_subject_dispute",
    "internal_investigation", "other",
]
HOLD_CATEGORIES: tuple[str, ...] = get_args(HoldCategory)
HOLD_RECORD = "legal_hold"
"""Record type of the hold's encrypted fields (part of each envelope's associated data)."""
HOLD_LIFT_RECORD = "legal_hold_lift"
"""Record type of the reason given for lifting a hold (sealed with the hold's own key, like its reason)."""
_CONTROL = {"Cc", "Cf", "Cs", "Co", "Cn"}


def _reason(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValueError("must not be blank")
    if any(unicodedata.category(ch) in _CONTROL and ch not in "\n\t" for ch in value):
        raise ValueError("must not contain control or invisible formatting characters")
    return value


def _learner_id(value: str) -> str:
    if not is_valid_id(value, "lrn"):
        raise ValueError("must be a learner id (lrn_...)")
    return value


class HoldCreate(BaseModel):
    """Body of ``POST /v1/tenants/{tenant_id}/legal-holds``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_reason)]
    category: HoldCategory = "other"
    learner_id: Annotated[str, AfterValidator(_learner_id)] | None = None

    @property
    def scope(self) -> str:
        return "learner" if self.learner_id else "tenant"


class HoldLift(BaseModel):
    """Optional body of ``DELETE /v1/tenants/{tenant_id}/legal-holds/{hold_id}``: why the hold ends.

    Free text like the hold's reason, so personal data: encrypted with the hold's key, never audited."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_reason)]


def hold_view(item: dict[str, Any], reason: str, lift_reason: str | None = None) -> dict[str, Any]:
    """The API view of a stored hold item (DynamoDB attribute values) with its decrypted reason."""

    def text(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    return {
        "hold_id": text("hold_id"),
        "tenant_id": text("tenant_id"),
        "scope": "learner" if text("learner_id") else "tenant",
        "learner_id": text("learner_id"),
        "category": text("category"),
        "reason": reason,
        "placed_at": text("placed_at"),
        "placed_by": text("placed_by"),
        "active": text("lifted_at") is None,
        "lifted_at": text("lifted_at"),
        "lifted_by": text("lifted_by"),
        "lift_reason": lift_reason,
    }
