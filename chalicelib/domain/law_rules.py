"""The building blocks every law-pack rule shares: a rule's text, its sources and the research's confidence.

Kept apart from ``jurisdictions`` (the pack) so that the models a pack holds (obligations, overlays)
can use them without importing the pack itself.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

Confidence = Literal["confirmed", "unconfirmed"]
Sector = Literal["government", "non_government"]
"""Whether a tenant is a public body (a government school) or not; some laws differ by it."""
Text = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Source = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]
IsoDate = Annotated[str, Strict(), StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]


class Frozen(BaseModel):
    """The base of every policy model: frozen, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CitedRule(Frozen):
    """What every rule carries: its text, its sources and how sure the research is of it."""

    rule: Text
    sources: tuple[Source, ...] = Field(min_length=1)
    confidence: Confidence
    note: Text | None = None
