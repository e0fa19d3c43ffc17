"""Bulk imports of learners and results: the request body, the columns, and a file's rows checked.

A file is parsed here (CSV, or a OneRoster zip by ``domain.oneroster``) into numbered rows of text;
each row becomes the very body the API takes (``LearnerCreate``, ``ResultCreate``) or a list of
problems ``{row, field, code}``. A problem names a column and a code, never a value from the file.
``row`` is the record's line in its file, the header being line 1 (in a OneRoster set: its line in
``users.csv``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from chalicelib.domain.consents import ConsentCreate, check_decision
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.jurisdictions import JurisdictionPolicy
from chalicelib.domain.learners import LearnerCreate, ResultCreate

Kind = Literal["learners", "results"]
Format = Literal["csv", "oneroster"]

LEARNER_COLUMNS = ("given_name", "family_name", "email", "date_of_birth", "guardian_name", "guardian_email",
                   "programme", "consent_purpose", "consent_decision", "consent_given_by", "consent_verification")
LEARNER_REQUIRED = ("given_name", "family_name", "email", "date_of_birth")
RESULT_COLUMNS = ("learner_id", "email", "assessment", "score", "max_score", "taken_on")
RESULT_REQUIRED = ("assessment", "score", "max_score", "taken_on")
COLUMNS: dict[str, tuple[str, ...]] = {"learners": LEARNER_COLUMNS, "results": RESULT_COLUMNS}

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 100_000
CHUNK_ROWS = 1_000
"""Rows per worker message: about 3 s of writes, far within Lambda's 15 minutes and SQS's visibility."""

STATES = ("awaiting_upload", "processing", "completed", "failed")

# error codes of the report (docs/imports.md lists them)
MISSING, INVALID, INVALID_DATE, INVALID_EMAIL, INVALID_NUMBER = (
    "missing", "invalid", "invalid_date", "invalid_email", "invalid_number")
UNDER_CONSENT_AGE, NOT_CONSENT, VERIFICATION = "under_consent_age", "not_consent_based", "verification_invalid"
DUPLICATE, UNKNOWN_LEARNER, NOT_STUDENT = "duplicate", "unknown_learner", "unknown_guardian"
UNREADABLE, NO_HEADER, UNKNOWN_COLUMN, TOO_LARGE = "unreadable", "missing_columns", "unknown_column", "too_large"
LEARNER_UNAVAILABLE = "learner_unavailable"

HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class ImportCreate(BaseModel):
    """Body of ``POST /v1/tenants/{tenant_id}/imports``. ``mapping``: the file's header names to ours
    (``{"First Name": "given_name"}``); headers not mapped must be ours already (plain CSV only)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    kind: Kind
    format: Format = "csv"
    mapping: dict[HeaderName, str] = Field(default_factory=dict, max_length=40)

    @model_validator(mode="after")
    def _known(self) -> ImportCreate:
        if self.format == "oneroster" and self.kind != "learners":
            raise ValidationFailed([{"field": "format", "message": "OneRoster sets import learners only"}])
        if self.format == "oneroster" and self.mapping:
            raise ValidationFailed([{"field": "mapping", "message": "a OneRoster set has fixed column names"}])
        unknown = sorted(set(self.mapping.values()) - set(COLUMNS[self.kind]))
        if unknown:
            raise ValidationFailed([{"field": "mapping", "message": (
                f"maps to columns {self.kind} files do not have; expected some of {', '.join(COLUMNS[self.kind])}")}])
        return self


@dataclass(frozen=True)
class Problem:
    """One line of the error report: a row, a column, a code (never a value)."""

    row: int
    field: str
    code: str

    def view(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "code": self.code}


@dataclass
class Rows:
    """A parsed file: its rows (line number, values by our column names) or why none could be read."""

    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problem: Problem | None = None


class FileRefused(ValueError):
    """The file as a whole cannot be imported (its ``problem`` says why, row 0 or 1)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.field}: {problem.code}")
        self.problem = problem


def read_csv(data: bytes, kind: Kind, mapping: Mapping[str, str]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a plain CSV with a header (UTF-8, a BOM allowed), keyed by our column names."""
    reader = csv.reader(io.StringIO(_text(data), newline=""))
    header = next(reader, None)
    if header is None:
        raise FileRefused(Problem(1, "header", NO_HEADER))
    names = [mapping.get(name.strip(), name.strip()) for name in header]
    for position, name in enumerate(names):
        if name not in COLUMNS[kind]:
            raise FileRefused(Problem(1, f"column {position + 1}", UNKNOWN_COLUMN))
    required = LEARNER_REQUIRED if kind == "learners" else RESULT_REQUIRED
    missing = [name for name in required if name not in names]
    if kind == "results" and "learner_id" not in names and "email" not in names:
        missing.append("learner_id")
    if missing:
        raise FileRefused(Problem(1, missing[0], NO_HEADER))
    rows = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        rows.append((reader.line_num, {name: value.strip() for name, value in zip(names, record, strict=False)}))
        if len(rows) > MAX_ROWS:
            raise FileRefused(Problem(0, "file", TOO_LARGE))
    return rows


def _text(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(Problem(0, "file", TOO_LARGE))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused(Problem(0, "file", UNREADABLE)) from None


# -- one row -> the API's body ------------------------------------------------------------------


def _problems(row: int, exc: ValidationError, columns: Mapping[str, str], values: Mapping[str, str],
              whole: str = "row") -> list[Problem]:
    """Pydantic's errors as report lines: the column, and a code from what is wrong with it (a check of
    the row as a whole, like a score above its maximum, is reported on ``whole``)."""
    found: dict[str, str] = {}
    for error in exc.errors():
        where = [str(part) for part in error.get("loc", ())]
        if not where:
            found.setdefault(whole, INVALID)
            continue
        column = columns.get(".".join(where), columns.get(where[0], where[0]))
        if not values.get(column):
            code = MISSING
        elif column in ("date_of_birth", "taken_on"):
            code = INVALID_DATE
        elif column.endswith("email"):
            code = INVALID_EMAIL
        elif column in ("score", "max_score"):
            code = INVALID_NUMBER
        else:
            code = INVALID
        found.setdefault(column, code)
    return [Problem(row, column, code) for column, code in found.items()]


_LEARNER_FIELDS = {"guardian.name": "guardian_name", "guardian.email": "guardian_email", "guardian": "guardian_name"}


def learner_body(row: int, values: Mapping[str, str]) -> LearnerCreate | list[Problem]:
    """The ``POST .../learners`` body of a row, or its problems."""
    body: dict[str, Any] = {name: values.get(name, "") for name in LEARNER_REQUIRED}
    if values.get("programme"):
        body["programme"] = values["programme"]
    if values.get("guardian_name") or values.get("guardian_email"):
        body["guardian"] = {"name": values.get("guardian_name", ""), "email": values.get("guardian_email", "")}
    try:
        return LearnerCreate.model_validate(body)
    except ValidationError as exc:
        return _problems(row, exc, _LEARNER_FIELDS, values)


def consent_body(row: int, values: Mapping[str, str], learner: LearnerCreate, policy: JurisdictionPolicy,
                 today: date) -> ConsentCreate | list[Problem] | None:
    """The row's consent decision checked as ``POST .../consents`` checks it (consent age on ``today``),
    None when the row records none."""
    if not values.get("consent_purpose"):
        return None
    try:
        body = ConsentCreate.model_validate({
            "purpose": values["consent_purpose"], "decision": values.get("consent_decision") or "granted",
            "given_by": values.get("consent_given_by") or "",
            "verification": values.get("consent_verification") or None})
    except ValidationError as exc:
        return _problems(row, exc, {name: f"consent_{name}" for name in ("purpose", "decision", "given_by",
                                                                         "verification")}, values)
    try:
        policy.purpose(body.purpose)
        check_decision(policy, body, learner.date_of_birth, today)
    except ValidationFailed as exc:
        return [Problem(row, f"consent_{f['field']}", _consent_code(f["field"])) for f in exc.details["fields"]]
    except (KeyError, ValueError):
        return [Problem(row, "consent_purpose", INVALID)]
    return body


def _consent_code(field_name: str) -> str:
    return {"given_by": UNDER_CONSENT_AGE, "purpose": NOT_CONSENT}.get(field_name, VERIFICATION)


def result_body(row: int, values: Mapping[str, str]) -> ResultCreate | list[Problem]:
    """The ``POST .../results`` body of a row, or its problems (the learner is resolved by the service)."""
    problems = []
    if not values.get("learner_id") and not values.get("email"):
        problems.append(Problem(row, "learner_id", MISSING))
    try:
        body = ResultCreate.model_validate({name: values.get(name, "") for name in RESULT_REQUIRED})
    except ValidationError as exc:
        return problems + _problems(row, exc, {}, values, whole="score")
    return problems or body


def learner_identity(body: LearnerCreate) -> str:
    """What makes two rows the same learner: the e-mail (normalised by the body)."""
    return body.email


def result_identity(learner_id: str, body: ResultCreate) -> str:
    """What makes two rows the same result: the learner, the assessment and the day taken."""
    return "\x00".join((learner_id, body.assessment.casefold(), body.taken_on.isoformat()))


