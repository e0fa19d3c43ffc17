"""Legal calculators: ages at the consent boundary, request due dates, breach and retention deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.applicable import TenantScope, request_deadline
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.deadlines import (
    age_on,
    breach_deadlines,
    is_below_consent_age,
    request_due_at,
    retention_expires_at,
)
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.jurisdictions import Deadline, SpecialDay
from chalicelib.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def catalog() -> JurisdictionCatalog:
    return load_jurisdictions(PROJECT_ROOT / "policies" / "jurisdictions")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- ages ------------------------------------------------------------------------------------------

def test_age_turns_on_the_birthday() -> None:
    born = date(2013, 6, 15)
    assert age_on(born, date(2026, 6, 14)) == 12
    assert age_on(born, date(2026, 6, 15)) == 13
    assert age_on(born, born) == 0


@pytest.mark.parametrize(("day", "age"), [
    (date(2013, 2, 28), 12),  # non-leap year: not yet the anniversary
    (date(2013, 3, 1), 13),   # ... which falls on 1 March
    (date(2012, 2, 28), 11),
    (date(2012, 2, 29), 12),  # leap year: the birthday itself
])
def test_29_february_birthdays(day: date, age: int) -> None:
    assert age_on(date(2000, 2, 29), day) == age


def test_age_before_birth_is_an_error() -> None:
    with pytest.raises(ValueError, match="before the date of birth"):
        age_on(date(2020, 1, 2), date(2020, 1, 1))


def test_below_consent_age_on_either_side_of_the_13th_birthday(catalog: JurisdictionCatalog) -> None:
    us, born = catalog.get("US"), date(2013, 6, 15)
    assert is_below_consent_age(born, date(2026, 6, 14), us)
    assert not is_below_consent_age(born, date(2026, 6, 15), us)


def test_consent_age_differs_by_jurisdiction(catalog: JurisdictionCatalog) -> None:
    born, day = date(2010, 1, 1), date(2026, 1, 1)  # exactly 16
    assert not is_below_consent_age(born, day, catalog.get("UK"))
    assert not is_below_consent_age(born, day, catalog.get("AU"))
    assert is_below_consent_age(born, day, catalog.get("PH"))


def test_29_february_child_reaches_13_on_1_march(catalog: JurisdictionCatalog) -> None:
    uk, born = catalog.get("UK"), date(2012, 2, 29)
    assert is_below_consent_age(born, date(2025, 2, 28), uk)
    assert not is_below_consent_age(born, date(2025, 3, 1), uk)


# --- request due dates -----------------------------------------------------------------------------

@pytest.mark.parametrize(("received", "due"), [
    (utc(2028, 1, 31, 9, 30), utc(2028, 2, 29, 9, 30)),  # leap year
    (utc(2027, 1, 31, 9, 30), utc(2027, 2, 28, 9, 30)),
    (utc(2027, 3, 31, 0, 0), utc(2027, 4, 30, 0, 0)),
    (utc(2027, 2, 28, 12, 0), utc(2027, 3, 28, 12, 0)),
    (utc(2026, 12, 15, 8, 0), utc(2027, 1, 15, 8, 0)),  # across the year
])
def test_one_month(received: datetime, due: datetime) -> None:
    assert request_due_at(received, Deadline(amount=1, unit="months")) == due


def test_uk_access_is_due_one_calendar_month_later(catalog: JurisdictionCatalog) -> None:
    rule = catalog.get("UK").request_deadline("access")
    assert request_due_at(utc(2028, 1, 31, 10, 0), rule) == utc(2028, 2, 29, 10, 0)


def test_thirty_working_days_from_a_friday(catalog: JurisdictionCatalog) -> None:
    rule = catalog.get("PH").request_deadline("access")
    friday = utc(2026, 1, 2, 15, 30)
    assert friday.weekday() == 4
    due = request_due_at(friday, rule)
    assert due == utc(2026, 2, 13, 15, 30)  # six whole weeks: a Friday again
    assert due.weekday() == 4


def test_working_days_skip_the_weekend() -> None:
    one = Deadline(amount=1, unit="working_days")
    assert request_due_at(utc(2026, 1, 2, 9, 0), one) == utc(2026, 1, 5, 9, 0)  # Friday -> Monday
    assert request_due_at(utc(2026, 1, 3, 9, 0), one) == utc(2026, 1, 5, 9, 0)  # Saturday -> Monday
    assert request_due_at(utc(2026, 1, 5, 9, 0), one) == utc(2026, 1, 6, 9, 0)  # Monday -> Tuesday
    thirty = Deadline(amount=30, unit="working_days")
    assert request_due_at(utc(2026, 1, 3, 9, 0), thirty) == utc(2026, 2, 13, 9, 0)


def test_thirty_calendar_days(catalog: JurisdictionCatalog) -> None:
    rule = catalog.get("AU").request_deadline("access")
    assert request_due_at(utc(2026, 1, 2, 15, 30), rule) == utc(2026, 2, 1, 15, 30)
    assert request_due_at(utc(2028, 2, 1, 0, 0), rule) == utc(2028, 3, 2, 0, 0)  # through 29 Feb


def test_forty_five_days(catalog: JurisdictionCatalog) -> None:
    rule = catalog.get("US").request_deadline("access")
    assert request_due_at(utc(2026, 1, 2, 15, 30), rule) == utc(2026, 2, 16, 15, 30)
    assert request_due_at(utc(2026, 12, 1, 0, 0), rule) == utc(2027, 1, 15, 0, 0)


def test_due_dates_are_computed_in_utc() -> None:
    manila = timezone(timedelta(hours=8))
    received = datetime(2026, 1, 3, 2, 0, tzinfo=manila)  # Saturday in Manila, Friday 18:00 in UTC
    due = request_due_at(received, Deadline(amount=1, unit="working_days"))
    assert due == utc(2026, 1, 5, 18, 0)
    assert due.tzinfo == UTC


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        request_due_at(datetime(2026, 1, 2), Deadline(amount=30, unit="days"))


# --- breach deadlines ------------------------------------------------------------------------------

DISCOVERED = utc(2026, 3, 10, 14, 0)


def duties(catalog: JurisdictionCatalog, code: str) -> dict[tuple[str, str], str | None]:
    found = breach_deadlines(DISCOVERED, catalog.get(code))
    for item in found:
        assert item["jurisdiction"] == code
        assert item["rule"]
        assert item["source"]
    return {(item["party"], item["action"]): item["due_at"] for item in found}


def test_philippines_breach(catalog: JurisdictionCatalog) -> None:
    assert duties(catalog, "PH") == {
        ("regulator", "notify"): "2026-03-13T14:00:00Z",
        ("individuals", "notify"): "2026-03-13T14:00:00Z",
    }


def test_uk_breach(catalog: JurisdictionCatalog) -> None:
    assert duties(catalog, "UK") == {
        ("regulator", "notify"): "2026-03-13T14:00:00Z",
        ("individuals", "notify"): None,
    }


def test_australia_breach(catalog: JurisdictionCatalog) -> None:
    assert duties(catalog, "AU") == {
        ("regulator", "assess"): "2026-04-09T14:00:00Z",
        ("regulator", "notify"): None,
        ("individuals", "notify"): None,
    }


def test_us_breach(catalog: JurisdictionCatalog) -> None:
    assert duties(catalog, "US") == {
        ("regulator", "notify"): None,
        ("individuals", "notify"): None,  # no federal duty: the state overlays set the deadlines
    }


def test_breach_deadline_shape(catalog: JurisdictionCatalog) -> None:
    item = breach_deadlines(DISCOVERED, catalog.get("UK"))[0]
    assert set(item) == {"jurisdiction", "party", "action", "due_at", "rule", "source"}
    assert "Art. 33" in item["source"]


# --- retention -------------------------------------------------------------------------------------

def test_retention_expiry(catalog: JurisdictionCatalog) -> None:
    uk = catalog.get("UK")
    left = utc(2026, 7, 20, 0, 0)
    days = uk.retention_rule("learner").days
    assert retention_expires_at("learner", left, uk) == left + timedelta(days=days)
    assert retention_expires_at("audit", left, uk) >= retention_expires_at("learner", left, uk)


def test_unknown_record_type(catalog: JurisdictionCatalog) -> None:
    with pytest.raises(ValidationFailed):
        retention_expires_at("photos", DISCOVERED, catalog.get("UK"))


def test_philippine_working_days_skip_holy_week(catalog: JurisdictionCatalog) -> None:
    policy = catalog.get("PH")
    wednesday = utc(2026, 4, 1, 9, 0)  # Maundy Thursday 2 April, Good Friday 3 April, Black Saturday 4 April
    one = Deadline(amount=1, unit="working_days")
    assert request_due_at(wednesday, one, policy.is_public_holiday) == utc(2026, 4, 6, 9, 0)
    assert request_due_at(wednesday, one) == utc(2026, 4, 2, 9, 0)  # without the calendar: Thursday


def test_philippine_access_request_across_holy_week(catalog: JurisdictionCatalog) -> None:
    policy = catalog.get("PH")
    rule = policy.request_deadline("access")  # 30 working days
    # 2 March 2026 + 30 weekdays = 13 April; Eid al-Fitr (20 March), Maundy Thursday, Good Friday and
    # Araw ng Kagitingan (9 April) push it four working days later.
    assert request_due_at(utc(2026, 3, 2, 9, 0), rule) == utc(2026, 4, 13, 9, 0)
    assert request_due_at(utc(2026, 3, 2, 9, 0), rule, policy.is_public_holiday) == utc(2026, 4, 17, 9, 0)


@pytest.mark.parametrize(("received", "due"), [
    # Each year boundary: Christmas Eve/Day, Rizal Day (30 Dec), New Year's Eve and Day are skipped.
    (utc(2025, 12, 29, 9, 0), utc(2026, 1, 2, 9, 0)),
    (utc(2026, 12, 23, 9, 0), utc(2027, 1, 6, 9, 0)),
    (utc(2027, 12, 23, 9, 0), utc(2028, 1, 4, 9, 0)),
])
def test_philippine_working_days_across_christmas_and_new_year(catalog: JurisdictionCatalog, received: datetime,
                                                               due: datetime) -> None:
    five = Deadline(amount=5, unit="working_days") if received.day == 23 else Deadline(amount=1, unit="working_days")
    assert request_due_at(received, five, catalog.get("PH").is_public_holiday) == due


def test_a_proclaimed_special_day_from_the_law_pack_is_skipped(catalog: JurisdictionCatalog) -> None:
    policy = catalog.get("PH")
    assert policy.working_days is not None
    monday = utc(2026, 6, 1, 9, 0)
    one = Deadline(amount=1, unit="working_days")
    assert request_due_at(monday, one, policy.is_public_holiday) == utc(2026, 6, 2, 9, 0)
    special = SpecialDay(date="2026-06-02", name="Proclaimed special non-working day", source="Proclamation (test)")
    proclaimed = policy.model_copy(update={
        "working_days": policy.working_days.model_copy(update={"special_days": (special,)})})
    assert request_due_at(monday, one, proclaimed.is_public_holiday) == utc(2026, 6, 3, 9, 0)


def test_jurisdictions_without_a_holiday_calendar_count_weekdays_only(catalog: JurisdictionCatalog) -> None:
    assert not catalog.get("UK").is_public_holiday(date(2026, 12, 25))
    assert catalog.get("PH").is_public_holiday(date(2026, 12, 25))


@pytest.mark.parametrize(("received", "due"), [
    # Tue 1 Dec 2026 + 30 working days: Immaculate Conception (8 Dec), Christmas Eve and Day, Rizal Day,
    # New Year's Eve and Day are skipped, across the year boundary: Wed 20 Jan 2027 (weekdays only: 12 Jan).
    (utc(2026, 12, 1, 9, 0), utc(2027, 1, 20, 9, 0)),
    # Mon 15 Mar 2027 + 30 working days: Holy Week moves with Easter (Maundy Thursday 25 Mar, Good Friday
    # 26 Mar) and Araw ng Kagitingan (Fri 9 Apr) is skipped: Thu 29 Apr (weekdays only: 26 Apr).
    (utc(2027, 3, 15, 9, 0), utc(2027, 4, 29, 9, 0)),
])
def test_a_philippine_access_request_as_the_api_computes_it(catalog: JurisdictionCatalog, received: datetime,
                                                            due: datetime) -> None:
    rule, computed, deadline = request_deadline(catalog, TenantScope("PH"), "access", received)
    assert computed == due
    assert deadline["applied_rule"] == "PH"
    assert request_due_at(received, rule) < due  # the holidays made the difference
