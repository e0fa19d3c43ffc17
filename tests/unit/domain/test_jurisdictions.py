"""The jurisdiction law packs: the real files load and match the research; broken copies fail clearly."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.policy_files import load_jurisdictions, load_overlays
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.errors import NotFound, PolicyFileError, ValidationFailed
from chalicelib.domain.jurisdictions import STANDARD_PURPOSES
from chalicelib.settings import PROJECT_ROOT

POLICY_DIR = PROJECT_ROOT / "policies" / "jurisdictions"


@pytest.fixture(scope="module")
def catalog() -> JurisdictionCatalog:
    return load_jurisdictions(POLICY_DIR)


@pytest.fixture
def copy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "jurisdictions"
    shutil.copytree(POLICY_DIR, target)
    return target


def edit(directory: Path, code: str, change: Callable[[dict[str, Any]], None]) -> Path:
    path = directory / f"{code}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def load_error(directory: Path) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as caught:
        load_jurisdictions(directory)
    return caught.value


# --- the real files -------------------------------------------------------------------------------

def test_every_real_file_loads(catalog: JurisdictionCatalog) -> None:
    assert catalog.codes() == ["AU", "PH", "UK", "US"]
    assert [policy.code for policy in catalog.all()] == ["AU", "PH", "UK", "US"]
    assert sorted(path.stem for path in POLICY_DIR.glob("*.json")) == ["AU", "PH", "UK", "US"]


@pytest.mark.parametrize(("code", "home", "allowed"), [
    ("PH", "ap-southeast-1", {"ap-southeast-1"}),
    ("AU", "ap-southeast-2", {"ap-southeast-2", "ap-southeast-4"}),
    ("UK", "eu-west-2", {"eu-west-2"}),
    ("US", "us-east-1", {"us-east-1", "us-east-2", "us-west-2"}),
])
def test_residency(catalog: JurisdictionCatalog, code: str, home: str, allowed: set[str]) -> None:
    policy = catalog.get(code)
    assert policy.home_region == home
    assert policy.allowed_regions == frozenset(allowed)
    assert policy.allows_region(home)
    assert not policy.allows_region("eu-central-1")
    assert catalog.by_region(home) is policy


@pytest.mark.parametrize(("code", "age", "confidence"), [
    ("US", 13, "confirmed"), ("UK", 13, "confirmed"), ("AU", 15, "confirmed"), ("PH", 18, "unconfirmed"),
])
def test_consent_age(catalog: JurisdictionCatalog, code: str, age: int, confidence: str) -> None:
    policy = catalog.get(code)
    assert policy.consent_age == age
    assert policy.consent.confidence == confidence


@pytest.mark.parametrize(("code", "amount", "unit"), [
    ("PH", 30, "working_days"), ("UK", 1, "months"), ("AU", 30, "days"), ("US", 45, "days"),
])
def test_request_deadlines(catalog: JurisdictionCatalog, code: str, amount: int, unit: str) -> None:
    for request_type in ("access", "rectification", "erasure", "restriction"):
        rule = catalog.get(code).request_deadline(request_type)
        assert (rule.amount, rule.unit) == (amount, unit)


def test_australia_has_no_statutory_erasure_or_restriction(catalog: JurisdictionCatalog) -> None:
    au = catalog.get("AU")
    assert au.request_deadline("access").for_sector("government").statutory  # APP 12.4(a)(i): agencies
    assert not au.request_deadline("access").statutory  # organisations: "a reasonable period"
    assert not au.request_deadline("erasure").statutory
    assert not au.request_deadline("restriction").statutory


def test_uk_requests_extend_by_two_months(catalog: JurisdictionCatalog) -> None:
    extension = catalog.get("UK").request_deadline("access").extension
    assert extension is not None
    assert (extension.amount, extension.unit) == (2, "months")


@pytest.mark.parametrize(("code", "duties"), [
    ("PH", {("regulator", "notify", 72), ("individuals", "notify", 72)}),
    ("UK", {("regulator", "notify", 72), ("individuals", "notify", None)}),
    ("AU", {("regulator", "assess", 720), ("regulator", "notify", None), ("individuals", "notify", None)}),
    ("US", {("regulator", "notify", None), ("individuals", "notify", None)}),  # federal only: states overlay it
])
def test_breach_rules(catalog: JurisdictionCatalog, code: str, duties: set[tuple[str, str, int | None]]) -> None:
    rules = catalog.get(code).breach
    assert {(rule.party, rule.action, rule.within_hours) for rule in rules} == duties


@pytest.mark.parametrize("code", ["PH", "AU", "UK", "US"])
def test_purposes(catalog: JurisdictionCatalog, code: str) -> None:
    policy = catalog.get(code)
    assert set(STANDARD_PURPOSES) <= set(policy.consent.purposes)
    assert not policy.purpose("core_education").requires_consent
    for name in ("analytics", "marketing", "research", "third_party_sharing"):
        assert policy.purpose(name).requires_consent
        assert policy.purpose(name).lawful_basis == "consent"


def test_core_education_bases(catalog: JurisdictionCatalog) -> None:
    assert catalog.get("US").purpose("core_education").lawful_basis == "ferpa_school_official"
    uk = catalog.get("UK").purpose("core_education")
    assert uk.lawful_basis == "public_task"
    assert "contract" in uk.alternative_bases


def test_unknown_purpose_is_a_field_error(catalog: JurisdictionCatalog) -> None:
    with pytest.raises(ValidationFailed) as caught:
        catalog.get("UK").purpose("astrology")
    assert caught.value.details["fields"][0]["field"] == "purpose"


def test_unknown_request_type_is_a_field_error(catalog: JurisdictionCatalog) -> None:
    with pytest.raises(ValidationFailed) as caught:
        catalog.get("UK").request_deadline("portability")
    assert caught.value.details["fields"][0]["field"] == "type"


def test_retention_is_flagged_for_review(catalog: JurisdictionCatalog) -> None:
    for policy in catalog.all():
        for record_type in ("learner", "results", "consents", "requests", "audit"):
            rule = policy.retention_rule(record_type)
            assert rule.days > 0
            assert rule.sources
    assert catalog.get("UK").retention_rule("learner").confidence == "unconfirmed"


def test_unknown_code_and_region_are_not_found(catalog: JurisdictionCatalog) -> None:
    with pytest.raises(NotFound):
        catalog.get("FR")
    with pytest.raises(NotFound):
        catalog.by_region("ap-southeast-4")


def test_public_view_is_json_with_the_policy_in_force(catalog: JurisdictionCatalog) -> None:
    view = catalog.get("US").public_view()
    assert json.loads(json.dumps(view)) == view
    assert view["home_region"] == "us-east-1"
    assert view["allowed_regions"] == ["us-east-1", "us-east-2", "us-west-2"]
    assert view["consent_age"] == 13
    assert view["requests"]["access"]["amount"] == 45
    assert {rule["party"] for rule in view["breach"]} == {"regulator", "individuals"}
    assert view["retention"]["learner"]["days"] > 0
    assert "34 CFR 99.10(b)" in view["sources"]
    assert view["policy_version"] == "2026-11-01"


def test_catalog_rejects_mismatched_keys(catalog: JurisdictionCatalog) -> None:
    with pytest.raises(ValueError, match="catalog key"):
        JurisdictionCatalog({"XX": catalog.get("UK")})


# --- broken copies --------------------------------------------------------------------------------

def test_wrong_type_names_file_and_field(copy_dir: Path) -> None:
    path = edit(copy_dir, "UK", lambda data: data["consent"].update(age="13"))
    error = load_error(copy_dir)
    assert error.path == str(path)
    assert error.field == "consent.age"
    assert str(error).startswith(f"{path}: field 'consent.age': Input should be a valid integer")


def test_wrong_type_in_a_list_names_the_index(copy_dir: Path) -> None:
    edit(copy_dir, "AU", lambda data: data["breach"][1].update(within_hours="soon"))
    error = load_error(copy_dir)
    assert error.path.endswith("AU.json")
    assert error.field == "breach[1].within_hours"


def test_missing_field(copy_dir: Path) -> None:
    edit(copy_dir, "US", lambda data: data.pop("regulator"))
    error = load_error(copy_dir)
    assert error.path.endswith("US.json")
    assert error.field == "regulator"
    assert "Field required" in error.problem


def test_missing_nested_field(copy_dir: Path) -> None:
    edit(copy_dir, "PH", lambda data: data["requests"].pop("erasure"))
    error = load_error(copy_dir)
    assert (Path(error.path).name, error.field) == ("PH.json", "requests.erasure")


def test_unknown_field_is_rejected(copy_dir: Path) -> None:
    edit(copy_dir, "PH", lambda data: data["consent"].update(min_age=16))
    assert load_error(copy_dir).field == "consent.min_age"


def test_bad_confidence_value(copy_dir: Path) -> None:
    edit(copy_dir, "UK", lambda data: data["retention"]["audit"].update(confidence="probably"))
    assert load_error(copy_dir).field == "retention.audit.confidence"


def test_missing_standard_purpose(copy_dir: Path) -> None:
    edit(copy_dir, "AU", lambda data: data["consent"]["purposes"].pop("research"))
    error = load_error(copy_dir)
    assert error.field == "consent.purposes"
    assert "research" in error.problem


def test_consent_flag_must_match_lawful_basis(copy_dir: Path) -> None:
    edit(copy_dir, "UK", lambda data: data["consent"]["purposes"]["marketing"].update(requires_consent=False))
    assert load_error(copy_dir).field == "consent.purposes.marketing"


def test_home_region_listed_as_replica(copy_dir: Path) -> None:
    edit(copy_dir, "US", lambda data: data["residency"]["replica_regions"].append("us-east-1"))
    assert load_error(copy_dir).field == "residency.replica_regions"


def test_bad_json_reports_line_and_column(copy_dir: Path) -> None:
    path = copy_dir / "UK.json"
    path.write_text('{\n  "code": "UK",\n  "name": \n}\n', encoding="utf-8")
    error = load_error(copy_dir)
    assert error.path == str(path)
    assert "invalid JSON at line 4 column 1" in error.problem


def test_duplicate_key_is_rejected(copy_dir: Path) -> None:
    path = copy_dir / "UK.json"
    path.write_text('{"code": "UK", "code": "UK"}', encoding="utf-8")
    error = load_error(copy_dir)
    assert "duplicate key 'code'" in error.problem


def test_duplicate_home_region(copy_dir: Path) -> None:
    edit(copy_dir, "US", lambda data: data["residency"].update(home_region="eu-west-2", replica_regions=[]))
    error = load_error(copy_dir)
    assert error.path.endswith("US.json")
    assert error.field == "residency.home_region"
    assert "UK" in error.problem


def test_home_region_must_be_deployed(copy_dir: Path) -> None:
    edit(copy_dir, "AU", lambda data: data["residency"].update(home_region="ap-southeast-4", replica_regions=[]))
    assert load_error(copy_dir).field == "residency.home_region"


def test_file_name_must_match_code(copy_dir: Path) -> None:
    path = edit(copy_dir, "UK", lambda data: data.update(code="GB"))
    error = load_error(copy_dir)
    assert (error.path, error.field) == (str(path), "code")
    assert "GB" in error.problem


def test_every_jurisdiction_is_required(copy_dir: Path) -> None:
    (copy_dir / "PH.json").unlink()
    error = load_error(copy_dir)
    assert error.path.endswith("PH.json")
    assert "PH" in error.problem


def test_missing_folder(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nowhere").path.endswith("nowhere")


def test_every_state_overlay_value_is_cited() -> None:
    overlays = load_overlays(PROJECT_ROOT / "policies" / "jurisdictions" / "overlays")
    assert {"US-NY", "US-IL", "US-CA", "US-TX"} <= set(overlays)
    for overlay in overlays.values():
        for rule in overlay.cited_rules():
            assert rule.sources, overlay.code
            assert all(source.strip() for source in rule.sources), overlay.code
            assert rule.confidence in ("confirmed", "unconfirmed"), overlay.code
    assert overlays["US-NY"].breach[0].within_hours == 60 * 24
    assert overlays["US-IL"].breach[0].within_hours == 30 * 24
