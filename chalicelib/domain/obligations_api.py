"""The body of ``POST /v1/tenants/{tenant_id}/obligations/{key}/evidence``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from chalicelib.domain.errors import ValidationFailed

EARLIEST = date(2000, 1, 1)


class EvidenceCreate(BaseModel):
    """``evidenced_on``: the day the duty was done (the notice sent, the policy adopted); ``reference``: where
    the document lives, an https URL (no personal value: it is stored as given)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    evidenced_on: date
    reference: Annotated[str, StringConstraints(pattern=r"^https://[^\s@]{3,490}$")] | None = None

    def checked_day(self, today: date) -> date:
        """``evidenced_on``, once it is neither in the future nor absurdly old (else 422)."""
        if self.evidenced_on > today:
            raise ValidationFailed([{"field": "evidenced_on", "message": "must not be in the future"}])
        if self.evidenced_on < EARLIEST:
            raise ValidationFailed([{"field": "evidenced_on", "message": f"must be on or after {EARLIEST}"}])
        return self.evidenced_on
