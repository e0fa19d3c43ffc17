"""The body of an audit export request (kept apart from the audit service so that ``app.py`` can
declare the route without importing the service and its AWS adapters at cold start)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["ndjson", "csv"]


class AuditExportCreate(BaseModel):
    """Body of ``POST .../audit/exports``."""

    model_config = ConfigDict(extra="forbid", defer_build=True, populate_by_name=True)

    from_: str | None = Field(default=None, alias="from", max_length=40)
    to: str | None = Field(default=None, max_length=40)
    format: Format = "ndjson"
