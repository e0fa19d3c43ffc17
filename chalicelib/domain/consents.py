"""The consent ledger's rules: the request body, what may be recorded, and the state derived from history.

Every legal fact comes from the jurisdiction's law pack (``policies/jurisdictions/*.json``): the
purposes and their lawful bases, the consent age and the guardian verification methods. This module
only applies them; it holds no storage and no clock.

Rules, and the choices made where the law packs leave room:

* **Append-only, latest wins.** A decision is never changed or deleted; a new decision for the same
  purpose supersedes the previous one from its ``at``. Withdrawal therefore takes effect at once.
  Two decisions with the same ``at`` (only possible between concurrent writers) resolve to the
  withdrawal: the protective reading.
* **Only consent can be recorded as consent.** A purpose whose lawful basis in the law pack is not
  consent (core education: contract, public task, primary purpose, the FERPA school-official
  exception) is refused with 422 ("purpose X rests on lawful basis Y, not consent"): asking for
  consent where it is not the basis misleads the person (ICO: "consent only for real choices"),
  and a withdrawal could not stop that processing anyway. A law pack may list ``consent`` among a
  purpose's ``alternative_bases`` (PH core education, for a review centre without a regulatory
  mandate); then the decision is recorded with lawful basis ``consent``.
* **Age on the day of the decision.** The learner's age on the (UTC) day of the decision is compared
  with the jurisdiction's consent age (``deadlines.is_below_consent_age``). Below it, a decision
  ``given_by: learner`` is refused (422 on ``given_by``) for grants and withdrawals alike, as API.md
  states; a child's wish to withdraw is recorded by the guardian, or by the school with the
  ``school_official`` method where the law pack lists it. The message names the consent age,
  never the birth date.
* **Guardian verification.** ``given_by: guardian`` requires ``verification``, one of the
  jurisdiction's ``guardian_verification.methods``; a learner's own decision carries none.
* **Policy version** defaults to the law pack's ``policy_version``; a client may name the version of
  the notice the person actually saw (e.g. a paper form signed earlier), as a short token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from chalicelib.domain.deadlines import is_below_consent_age
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.jurisdictions import JurisdictionPolicy, PurposeName, VerificationMethod

Decision = Literal["granted", "withdrawn"]
GivenBy = Literal["learner", "guardian"]
PolicyVersion = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]
CONSENT = "consent"


class ConsentCreate(BaseModel):
    """Body of ``POST .../learners/{learner_id}/consents``: enumerated values only, no free text."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    purpose: PurposeName
    decision: Decision
    given_by: GivenBy
    verification: VerificationMethod | None = None
    policy_version: PolicyVersion | None = None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One entry of the ledger, as stored and as answered."""

    consent_id: str
    purpose: str
    decision: str
    given_by: str
    verification: str | None
    lawful_basis: str
    policy_version: str
    at: str

    def view(self) -> dict[str, Any]:
        return {"consent_id": self.consent_id, "purpose": self.purpose, "decision": self.decision,
                "given_by": self.given_by, "verification": self.verification,
                "lawful_basis": self.lawful_basis, "policy_version": self.policy_version, "at": self.at}

    @property
    def granted(self) -> bool:
        return self.decision == "granted"


@dataclass(frozen=True, slots=True)
class Accepted:
    """What the law pack makes of a valid decision."""

    lawful_basis: str
    policy_version: str


def consent_basis(policy: JurisdictionPolicy, purpose_name: str) -> str:
    """``consent`` when the law pack lets this purpose rest on consent; else ValidationFailed (422)."""
    purpose = policy.purpose(purpose_name)
    if purpose.lawful_basis == CONSENT or CONSENT in purpose.alternative_bases:
        return CONSENT
    raise ValidationFailed([{"field": "purpose", "message": (
        f"purpose {purpose_name} rests on lawful basis {purpose.lawful_basis}, not consent, "
        f"in {policy.code}: there is no consent to record")}])


def check_decision(policy: JurisdictionPolicy, body: ConsentCreate, date_of_birth: date,
                   decided_on: date) -> Accepted:
    """The decision checked against ``policy``; ValidationFailed listing every problem otherwise."""
    problems: list[dict[str, str]] = []
    basis = ""
    try:
        basis = consent_basis(policy, body.purpose)
    except ValidationFailed as exc:
        problems += exc.details["fields"]
    if body.given_by == "learner":
        if _below_age(date_of_birth, decided_on, policy):
            problems.append({"field": "given_by", "message": (
                f"the learner is below the consent age of {policy.consent_age} in {policy.code}: "
                "a guardian must give or withdraw this consent (given_by guardian, with verification)")})
        if body.verification is not None:
            problems.append({"field": "verification",
                             "message": "verification applies to a guardian's decision only"})
    else:
        methods = policy.consent.guardian_verification.methods
        if body.verification is None:
            problems.append({"field": "verification", "message": (
                f"required when a guardian decides; one of {', '.join(methods)}")})
        elif body.verification not in methods:
            problems.append({"field": "verification", "message": (
                f"not a guardian verification method accepted in {policy.code}; "
                f"expected one of {', '.join(methods)}")})
    if problems:
        raise ValidationFailed(problems)
    return Accepted(basis, body.policy_version or policy.policy_version)


def _below_age(date_of_birth: date, day: date, policy: JurisdictionPolicy) -> bool:
    if day < date_of_birth:  # a decision dated before the birth date: treat as a child's
        return True
    return is_below_consent_age(date_of_birth, day, policy)


def in_order(records: list[ConsentRecord]) -> list[ConsentRecord]:
    """Oldest first; at equal ``at``, a withdrawal after a grant (so it is the one that wins)."""
    return sorted(records, key=lambda r: (r.at, r.decision == "withdrawn", r.consent_id))


def current_state(records: list[ConsentRecord]) -> dict[str, ConsentRecord]:
    """The decision in force per purpose: the latest one (see ``in_order``)."""
    state: dict[str, ConsentRecord] = {}
    for record in in_order(records):
        state[record.purpose] = record
    return dict(sorted(state.items()))


def is_permitted(policy: JurisdictionPolicy, records: list[ConsentRecord], purpose_name: str) -> bool:
    """Whether processing for ``purpose_name`` may go ahead: its basis is not consent, or consent is granted."""
    purpose = policy.purpose(purpose_name)
    if not purpose.requires_consent:
        return True
    found = current_state(records).get(purpose_name)
    return found is not None and found.granted
