"""Learners and their assessment results: request bodies, validation and the fields that are personal.

Every personal field is encrypted before it leaves the request (``PERSONAL_FIELDS``); e-mails are
normalised to lower case so look-ups are case-insensitive.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.text import clean_text

SEARCH_ROUTE = "POST /v1/tenants/{tenant_id}/learners/search"
"""Where the e-mail look-up lives (a personal value never travels in a URL)."""

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_AGE_YEARS = 120


def _clean_text(value: str) -> str:
    return clean_text(value)  # NFC, trimmed, nothing invisible (joiners between letters excepted)


def _email(value: str) -> str:
    value = _clean_text(value).lower()
    if len(value) > 254 or not EMAIL.match(value):
        raise ValueError("must be an e-mail address")
    return value


def _birth_date(value: date) -> date:
    today = datetime.now(UTC).date()
    if value >= today:
        raise ValueError("must be in the past")
    if value.year < today.year - MAX_AGE_YEARS:
        raise ValueError(f"must be within the last {MAX_AGE_YEARS} years")
    return value


def _past_or_today(value: date) -> date:
    if value > datetime.now(UTC).date():
        raise ValueError("must not be in the future")
    return value


def _name(value: str) -> str:
    value = _clean_text(value)
    if not value:
        raise ValueError("must not be blank")
    return value


Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_name)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
FreeText = Annotated[str, Field(max_length=200), AfterValidator(_clean_text)]
BirthDate = Annotated[date, AfterValidator(_birth_date)]


class Guardian(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: Name
    email: Email


def name_key(value: str) -> str:
    """A name as the family-name search compares it: cleaned, case-folded, inner spaces collapsed
    (``"  van  der Berg "`` and ``"Van der Berg"`` match; accents and hyphens still count)."""
    return " ".join(unicodedata.normalize("NFKC", _clean_text(value)).casefold().split())


class LearnerSearch(BaseModel):
    """Body of ``POST /v1/tenants/{tenant_id}/learners/search``: the e-mail, or the family name (and
    optionally the given name), travels in the body, never in a URL (API Gateway's traces and access
    logs record the path and query). Exactly one of ``email`` and ``family_name``."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    family_name: Name | None = None
    given_name: Name | None = None

    @model_validator(mode="after")
    def _one_key(self) -> LearnerSearch:
        # ValidationFailed (not a ValueError) leaves pydantic as it is: the 422 names the field
        if (self.email is None) == (self.family_name is None):
            raise ValidationFailed([{"field": "email" if self.family_name is None else "family_name", "message": (
                "give either email or family_name (with given_name optionally)")}])
        if self.given_name is not None and self.family_name is None:
            raise ValidationFailed([{"field": "given_name", "message": "narrows a family_name search only"}])
        return self


class LearnerCreate(BaseModel):
    """Body of ``POST /v1/tenants/{tenant_id}/learners``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    given_name: Name
    family_name: Name
    email: Email
    date_of_birth: BirthDate
    guardian: Guardian | None = None
    programme: FreeText | None = None

    def personal_fields(self) -> dict[str, Any]:
        return personal_fields(self.model_dump(mode="json", exclude_none=True))


class LearnerPatch(BaseModel):
    """Body of ``PATCH .../learners/{learner_id}`` (rectification): only the fields to change.

    ``expected_version`` (optional) makes the update conditional on the version the client read.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    given_name: Name | None = None
    family_name: Name | None = None
    email: Email | None = None
    date_of_birth: BirthDate | None = None
    guardian: Guardian | None = None
    programme: FreeText | None = None
    expected_version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _something_to_change(self) -> LearnerPatch:
        if not self.changes():
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        return personal_fields(self.model_dump(mode="json", exclude_none=True, exclude={"expected_version"}))


class ResultCreate(BaseModel):
    """Body of ``POST .../learners/{learner_id}/results``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    assessment: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_name)]
    score: float = Field(ge=0, le=1_000_000, allow_inf_nan=False)
    max_score: float = Field(gt=0, le=1_000_000, allow_inf_nan=False)
    taken_on: Annotated[date, AfterValidator(_past_or_today)]

    @model_validator(mode="after")
    def _score_within_max(self) -> ResultCreate:
        if self.score > self.max_score:
            raise ValueError("score must not exceed max_score")
        return self

    def personal_fields(self) -> dict[str, str]:
        data = self.model_dump(mode="json")
        return {name: str(data[name]) for name in ("assessment", "score", "max_score", "taken_on")}


PERSONAL_FIELDS = ("given_name", "family_name", "email", "date_of_birth", "guardian", "programme")


def personal_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in PERSONAL_FIELDS if name in data}


def result_view(result_id: str, plain: dict[str, Any], recorded_at: str) -> dict[str, Any]:
    return {
        "result_id": result_id,
        "assessment": plain["assessment"],
        "score": _number(plain["score"]),
        "max_score": _number(plain["max_score"]),
        "taken_on": plain["taken_on"],
        "recorded_at": recorded_at,
    }


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value
