"""Jurisdiction law packs: the schema of ``policies/jurisdictions/*.json`` (the catalog of
them is ``chalicelib.domain.catalog``).

Each file is declarative data: every rule carries its ``rule`` text, the ``sources`` that back it and a
``confidence`` (``"unconfirmed"`` where no primary source backed the value, so a compliance officer
can review it). This module only validates and queries that data; reading the files is
``chalicelib.adapters.policy_files``'s job.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import cache
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import (
    BaseModel,
    Field,
    Strict,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.law_rules import CitedRule, Confidence, Frozen, IsoDate, Sector, Source, Text
from chalicelib.domain.obligations import Obligation, distinct_obligations

_Frozen = Frozen
__all__ = ["CitedRule", "Confidence", "Frozen", "IsoDate", "Sector", "Source", "Text"]  # re-exported

JURISDICTION_CODES: tuple[str, ...] = ("AU", "PH", "UK", "US")
"""The jurisdictions a tenant may choose; each needs a policy file."""

Unit = Literal["days", "working_days", "months"]
RequestType = Literal["access", "rectification", "erasure", "restriction"]
RecordType = Literal["learner", "results", "consents", "requests", "audit"]
Party = Literal["regulator", "individuals", "school"]
"""Who is told: the regulator, the affected people, or the school (by its contractor)."""
Actor = Literal["tenant", "contractor"]
"""Who must act on a breach duty: the tenant (the school or centre), or its contractor (the platform)."""
BreachAction = Literal["notify", "assess"]
BreachClock = Literal["discovery", "individuals_notified"]
PauseReason = Literal["identity", "clarification"]
"""Why a request's clock may stop: waiting for proof of the requester's identity, or for clarification."""
"""From when a breach duty's hours count: discovery, or the notice to the affected people."""
RetentionStart = Literal["learner_left", "request_closed", "event_recorded"]
LawfulBasis = Literal[
    "consent", "contract", "public_task", "legal_obligation", "legitimate_interests",
    "primary_purpose", "ferpa_school_official",
]
VerificationMethod = Literal[
    "signed_form", "school_official", "id_document", "credit_card_check", "video_call",
    "knowledge_based_questions",
]

REQUEST_TYPES: tuple[str, ...] = get_args(RequestType)
RECORD_TYPES: tuple[str, ...] = get_args(RecordType)
STANDARD_PURPOSES: tuple[str, ...] = (
    "core_education", "analytics", "marketing", "research", "third_party_sharing",
)
"""Purposes every jurisdiction must define; a file may add more."""

Region = Annotated[str, Strict(), StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")]
PurposeName = Annotated[str, Strict(), StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,62}$")]
Count = Annotated[int, Strict(), Field(ge=1, le=36500)]


class Residency(CitedRule):
    home_region: Region
    replica_regions: tuple[Region, ...] = ()

    @field_validator("replica_regions")
    @classmethod
    def _distinct_replicas(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("replica regions must be distinct")
        if info.data.get("home_region") in value:
            raise ValueError("the home region must not be listed among the replica regions")
        return value


class GuardianVerification(CitedRule):
    methods: tuple[VerificationMethod, ...] = Field(min_length=1)


class Purpose(CitedRule):
    lawful_basis: LawfulBasis
    alternative_bases: tuple[LawfulBasis, ...] = ()
    requires_consent: Annotated[bool, Strict()]

    @model_validator(mode="after")
    def _consent_matches_basis(self) -> Purpose:
        if self.requires_consent != (self.lawful_basis == "consent"):
            raise ValueError("requires_consent must be true exactly when the lawful basis is consent")
        return self


class Consent(CitedRule):
    """The consent age (this rule's text and sources), guardian checks and purposes."""

    age: Annotated[int, Strict(), Field(ge=0, le=21)]
    guardian_verification: GuardianVerification
    purposes: dict[PurposeName, Purpose]

    @field_validator("purposes")
    @classmethod
    def _standard_purposes(cls, value: dict[str, Purpose]) -> dict[str, Purpose]:
        missing = [name for name in STANDARD_PURPOSES if name not in value]
        if missing:
            raise ValueError(f"missing purposes: {', '.join(missing)}")
        return value


class Deadline(_Frozen):
    """A period counted from a day of receipt (see ``deadlines.request_due_at``)."""

    amount: Annotated[int, Strict(), Field(ge=1, le=1000)]
    unit: Unit


class RequestRule(CitedRule, Deadline):
    statutory: Annotated[bool, Strict()]
    """False where the law sets no number of days and the deadline is the platform's own service level."""
    extension: Deadline | None = None
    next_working_day: Annotated[bool, Strict()] = False
    """A calendar-day due date that falls on a weekend or public holiday moves to the next working day."""
    by_sector: dict[Sector, RequestRule] = Field(default_factory=dict)
    """The rule for tenants that declared this sector, where the law differs by it (else this rule)."""

    def for_sector(self, sector: str | None) -> RequestRule:
        """The rule a tenant of ``sector`` is under (this one unless a variant names the sector)."""
        return self.by_sector.get(cast(Sector, sector), self) if sector is not None else self


class ClockStop(CitedRule):
    """Where the law stops a request's clock while the controller waits for information it needs
    (UK GDPR Art. 12A): for which ``reasons``, and from which day."""

    reasons: tuple[PauseReason, ...] = Field(min_length=1)
    in_force_from: IsoDate


class Requests(_Frozen):
    access: RequestRule
    rectification: RequestRule
    erasure: RequestRule
    restriction: RequestRule


class BreachRule(CitedRule):
    party: Party
    action: BreachAction
    within_hours: Annotated[int, Strict(), Field(ge=1, le=8760)] | None
    """Hours after discovery; null where the law says "as soon as practicable" or "without undue delay"."""
    by: Actor = "tenant"
    """Who acts: the tenant, or its contractor (New York: the platform tells the school within 7 days)."""
    counted_from: BreachClock = "discovery"
    """``individuals_notified``: the hours run from the notice to the affected people (its latest due time)."""
    by_sector: dict[Sector, BreachRule] = Field(default_factory=dict)
    """The rule for tenants that declared this sector, where the law differs by it (else this rule)."""

    @model_validator(mode="after")
    def _variants_are_the_same_duty(self) -> BreachRule:
        for sector, variant in self.by_sector.items():
            if (variant.party, variant.action) != (self.party, self.action):
                raise ValueError(f"the {sector} variant must be the same duty ({self.party} {self.action})")
        return self

    def for_sector(self, sector: str | None) -> BreachRule:
        """The rule a tenant of ``sector`` is under (this one unless a variant names the sector)."""
        return self.by_sector.get(cast(Sector, sector), self) if sector is not None else self


class RetentionRule(CitedRule):
    days: Count
    after: RetentionStart


class Retention(_Frozen):
    learner: RetentionRule
    results: RetentionRule
    consents: RetentionRule
    requests: RetentionRule
    audit: RetentionRule

    @model_validator(mode="after")
    def _evidence_outlives_data(self) -> Retention:
        longest = max(self.learner.days, self.results.days)
        if self.consents.days < longest or self.audit.days < longest:
            raise ValueError("consents and audit must be kept at least as long as learner data and results")
        return self


StateCode = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{2,3}$")]


class SpecialDay(_Frozen):
    """A proclaimed non-working day the ``holidays`` package does not know (e.g. a one-off proclamation)."""

    date: IsoDate
    name: Text
    source: Source


MonthDay = Annotated[str, Strict(), StringConstraints(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]


class Closedown(_Frozen):
    """A period of every year that does not count as working days (e.g. 25 December to 5 January);
    ``first`` after ``last`` spans the turn of the year. Both days are included."""

    first: MonthDay
    last: MonthDay
    source: Source

    def contains(self, day: date) -> bool:
        key = f"{day.month:02d}-{day.day:02d}"
        if self.first <= self.last:
            return self.first <= key <= self.last
        return key >= self.first or key <= self.last


class WorkingDays(CitedRule):
    """Which days are not working days: weekends, the package's public holidays of ``country``,
    ``special_days`` proclaimed on top and yearly ``closedowns`` (working-day deadlines skip them all)."""

    country: Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{2}$")]
    subdivision: Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{2,3}$")] | None = None
    """A state's own holidays on top of the national ones (``holidays`` ``subdiv``; overlays only)."""
    special_days: tuple[SpecialDay, ...] = ()
    closedowns: tuple[Closedown, ...] = ()

    def is_holiday(self, day: date) -> bool:
        """True when ``day`` is a public holiday, a proclaimed special day or in a closedown period."""
        special = day.isoformat() in {special.date for special in self.special_days}
        closed = any(period.contains(day) for period in self.closedowns)
        return special or closed or day in _public_holidays(self.country, self.subdivision, day.year)


class JurisdictionPolicy(_Frozen):
    """One jurisdiction's law pack, exactly as its policy file states it."""

    code: Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{2}$")]
    name: Text
    laws: tuple[Text, ...] = Field(min_length=1)
    regulator: Text
    policy_version: Annotated[str, Strict(), StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    residency: Residency
    consent: Consent
    requests: Requests
    breach: tuple[BreachRule, ...] = Field(min_length=1)
    retention: Retention
    working_days: WorkingDays | None = None
    """Absent: working days are Monday to Friday with no holiday calendar."""
    clock_stop: ClockStop | None = None
    """Absent: the law never stops a request's clock (a pause is refused, naming the law)."""
    obligations: tuple[Obligation, ...] = ()
    """Standing duties of every tenant of the jurisdiction (``domain.obligations``)."""
    states: tuple[StateCode, ...] = ()
    """The states and territories a tenant may declare (postal codes); empty: none can be declared."""

    @field_validator("states")
    @classmethod
    def _distinct_states(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("states must be distinct")
        return value

    @field_validator("obligations")
    @classmethod
    def _distinct_obligations(cls, value: tuple[Obligation, ...]) -> tuple[Obligation, ...]:
        return distinct_obligations(value)

    @field_validator("breach")
    @classmethod
    def _one_rule_per_duty(cls, value: tuple[BreachRule, ...]) -> tuple[BreachRule, ...]:
        duties = [(rule.party, rule.action) for rule in value]
        if len(set(duties)) != len(duties):
            raise ValueError("at most one rule per party and action")
        return value

    @property
    def home_region(self) -> str:
        return self.residency.home_region

    @property
    def allowed_regions(self) -> frozenset[str]:
        """Regions this jurisdiction's personal data may live in: home plus replicas."""
        return frozenset((self.residency.home_region, *self.residency.replica_regions))

    def allows_region(self, region: str) -> bool:
        return region in self.allowed_regions

    @property
    def consent_age(self) -> int:
        return self.consent.age

    def purpose(self, name: str) -> Purpose:
        """The purpose's lawful basis and consent rule; ValidationFailed for an unknown purpose."""
        found = self.consent.purposes.get(name)
        if found is None:
            message = f"unknown purpose; expected one of {', '.join(sorted(self.consent.purposes))}"
            raise ValidationFailed([{"field": "purpose", "message": message}])
        return found

    def request_deadline(self, request_type: str) -> RequestRule:
        """The deadline of a data-subject request type; ValidationFailed for an unknown type."""
        if request_type not in REQUEST_TYPES:
            message = f"unknown request type; expected one of {', '.join(REQUEST_TYPES)}"
            raise ValidationFailed([{"field": "type", "message": message}])
        rule: RequestRule = getattr(self.requests, request_type)
        return rule

    def retention_rule(self, record_type: str) -> RetentionRule:
        """How long a record type is kept; ValidationFailed for an unknown record type."""
        if record_type not in RECORD_TYPES:
            message = f"unknown record type; expected one of {', '.join(RECORD_TYPES)}"
            raise ValidationFailed([{"field": "record_type", "message": message}])
        rule: RetentionRule = getattr(self.retention, record_type)
        return rule

    def is_public_holiday(self, day: date) -> bool:
        """True when ``day`` is a public holiday or proclaimed special day of this jurisdiction."""
        return self.working_days is not None and self.working_days.is_holiday(day)

    def sources(self) -> list[str]:
        """Every source any rule cites, sorted, without repeats."""
        return sorted({source for rule in _cited_rules(self) for source in rule.sources})

    def public_view(self) -> dict[str, Any]:
        """The policy in force as JSON-able data (GET /v1/jurisdictions/{code}): summary, then the file."""
        file = self.model_dump(mode="json")
        summary = {
            "code": self.code,
            "home_region": self.home_region,
            "replica_regions": list(self.residency.replica_regions),
            "allowed_regions": sorted(self.allowed_regions),
            "consent_age": self.consent_age,
        }
        return {**summary, **file, "sources": self.sources()}


@cache
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # Imported here: the package builds its calendars lazily and only working-day packs need it.
    import holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def cited_rules(model: BaseModel) -> Iterator[CitedRule]:
    """Every cited rule inside ``model`` (itself included), depth first."""
    return _cited_rules(model)


def _cited_rules(model: BaseModel) -> Iterator[CitedRule]:
    if isinstance(model, CitedRule):
        yield model
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, dict):
            value = tuple(value.values())
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, BaseModel):
                yield from _cited_rules(child)
