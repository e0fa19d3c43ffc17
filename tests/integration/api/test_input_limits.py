"""Input limits: whatever the bytes, a clean 4xx in the error shape, never a 5xx, nothing stored.

Decisions on names (given/family/guardian names, programme, tenant names), applied after Unicode
NFC normalisation and trimming:

* accepted: any script (Latin with diacritics, CJK, Arabic, Devanagari, ...), combining marks (a
  decomposed "Zoë" is stored composed), apostrophes and hyphens, emoji that are single code points;
  zero-width (non-)joiners *between two letters*, which Persian and Indic names need;
* refused with 422 (naming the field, never echoing the value): control characters (NUL, C0, C1),
  bidirectional overrides and isolates (the "RTL override" spoofing trick), zero-width spaces, word
  joiners and byte-order marks, joiners anywhere else (so emoji ZWJ sequences are refused), lone
  surrogates, private-use and unassigned code points; names longer than their limit (code points).

Bodies: more than 1 MiB is 413; bytes that are not UTF-8 JSON, JSON nested deeper than 32 levels,
duplicate keys, NaN/Infinity literals and numbers of absurd length are 400; a JSON body that is not
an object is 422; a body sent as another media type than JSON is 415. Query strings and path
parameters of any length are 400/404/422.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import composition
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory
from tests.support.audit_keys import tenant_items

REGION = "eu-west-2"
DATA, AUDIT = "enclave-data-uk", "enclave-audit-uk"
ZOE = {"given_name": "Zoë", "family_name": "Brontë", "email": "zoe.limits@example.org", "date_of_birth": "2011-04-09"}
MIB = 1024 * 1024


class School:
    """A UK tenant, its staff token and a way to send any bytes to its endpoint."""

    def __init__(self, emulated: Emulated, api: RegionalApi, token: TokenFactory, tenant_id: str) -> None:
        self.emulated = emulated
        self.api = api
        self.tenant_id = tenant_id
        self.staff = token("tenant_staff", tenant_id, REGION)
        self.admin = token("tenant_admin", tenant_id, REGION)
        self.learners = f"/v1/tenants/{tenant_id}/learners"

    def send(self, method: str, path: str, body: bytes = b"", content_type: str | None = "application/json",
             token: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        """The raw exchange: status, the parsed JSON body, the headers."""
        composition.use(self.api.container)
        all_headers = {"Authorization": f"Bearer {token or self.staff}", **(headers or {})}
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        response = self.api._client.http.request(method, path, headers=all_headers, body=body)
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        return response.status_code, json.loads(text) if text else None, dict(response.headers)

    def enrol(self, body: Any, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        return self.send("POST", self.learners, raw, **kwargs)

    def stored(self) -> tuple[int, int]:
        """How many learner items and audit events the tenant has in the raw tables."""
        dynamodb = self.emulated.clients.dynamodb(REGION)
        counts = []
        pages = dynamodb.get_paginator("query").paginate(
            TableName=DATA, KeyConditionExpression="pk = :p", ConsistentRead=True,
            ExpressionAttributeValues={":p": {"S": f"TENANT#{self.tenant_id}"}})
        counts.append(sum(1 for page in pages for item in page["Items"] if item["sk"]["S"].startswith("L#")))
        counts.append(len(tenant_items(dynamodb, AUDIT, self.tenant_id, "EVT#")))
        return counts[0], counts[1]


@pytest.fixture(scope="module")
def school(emulated: Emulated, api: dict[str, RegionalApi], token: TokenFactory) -> School:
    status, tenant = api[REGION].call("POST", "/v1/tenants", token("platform_admin", region=REGION),
                                      {"name": "Limits Academy", "kind": "school", "jurisdiction": "UK"})
    assert status == 201, tenant
    return School(emulated, api[REGION], token, tenant["tenant_id"])


def assert_refused(status: int, body: Any, expected: int, code: str | None = None,
                   secret: str | None = None) -> None:
    """A clean refusal: the status, the error shape, and no echo of what was sent."""
    assert status == expected, body
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str), body
    assert isinstance(error["message"], str), body
    if code is not None:
        assert error["code"] == code, body
    if expected == 422:
        assert error["fields"], body
        assert all(set(f) == {"field", "message"} for f in error["fields"]), body
    if secret is not None:
        assert secret not in json.dumps(body, ensure_ascii=False), "the refused value is echoed"


@pytest.fixture
def nothing_stored(school: School) -> Callable[[], None]:
    before = school.stored()

    def check() -> None:
        assert school.stored() == before, "a refused request stored something"

    return check


# --- sizes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [MIB + 1, 3 * MIB])
def test_a_body_over_one_mebibyte_is_413(school: School, nothing_stored: Callable[[], None], size: int) -> None:
    padding = "x" * (size - len(json.dumps({**ZOE, "programme": ""})))
    raw = json.dumps({**ZOE, "programme": padding}).encode()
    assert len(raw) == size
    status, body, _ = school.enrol(raw)
    assert_refused(status, body, 413, "payload_too_large")
    nothing_stored()


def test_a_body_just_under_the_limit_is_read_and_judged_on_its_fields(
        school: School, nothing_stored: Callable[[], None]) -> None:
    raw = json.dumps({**ZOE, "programme": "y" * (MIB - 200)}).encode()
    assert len(raw) < MIB
    status, body, _ = school.enrol(raw)
    assert_refused(status, body, 422, "validation_failed")
    assert [f["field"] for f in body["error"]["fields"]] == ["programme"]
    nothing_stored()


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_deeply_nested_json_is_400(school: School, nothing_stored: Callable[[], None], depth: int) -> None:
    raw = ('{"given_name": ' + "[" * depth + "]" * depth + "}").encode()
    status, body, _ = school.enrol(raw)
    assert_refused(status, body, 400, "malformed_json")
    nothing_stored()


def test_nesting_within_the_limit_is_judged_on_its_fields(school: School, nothing_stored: Callable[[], None]) -> None:
    raw = ('{"given_name": ' + "[" * 30 + "]" * 30 + "}").encode()
    status, body, _ = school.enrol(raw)
    assert_refused(status, body, 422)
    nothing_stored()


@pytest.mark.parametrize(("field", "value"), [
    ("given_name", "A" * 101),
    ("family_name", "B" * 10_000),
    ("email", "a" * 250 + "@example.org"),
    ("programme", "P" * 201),
    ("guardian", {"name": "G" * 101, "email": "g@example.org"}),
])
def test_strings_over_their_limit_are_422_naming_the_field(school: School, nothing_stored: Callable[[], None],
                                                           field: str, value: Any) -> None:
    status, body, _ = school.enrol({**ZOE, field: value})
    assert_refused(status, body, 422, "validation_failed")
    assert [f["field"].split(".")[0] for f in body["error"]["fields"]] == [field]
    nothing_stored()


def test_a_name_of_exactly_the_limit_is_accepted(school: School) -> None:
    status, body, _ = school.enrol({**ZOE, "given_name": "A" * 100, "email": "limit100@example.org"})
    assert status == 201, body
    assert body["given_name"] == "A" * 100


# --- Unicode in names -----------------------------------------------------------------------------

ACCEPTED = {
    "latin-diacritics": ("Zoë", "Zoë"),
    "decomposed-is-composed": ("Zoe\u0308", "Zoë"),
    "spanish": ("José", "José"),
    "vietnamese": ("Nguyễn Thị Minh Khai", "Nguyễn Thị Minh Khai"),
    "chinese": ("李小龍", "李小龍"),
    "japanese": ("さくら", "さくら"),
    "korean": ("김민준", "김민준"),
    "arabic": ("محمد", "محمد"),
    "hebrew": ("שָׁלוֹם", "שָׁלוֹם"),
    "devanagari": ("अर्जुन", "अर्जुन"),
    "irish-apostrophe": ("Siobhán O'Brien-Ó Súilleabháin", "Siobhán O'Brien-Ó Súilleabháin"),
    "persian-zwnj": ("\u0639\u0644\u06cc\u200c\u0631\u0636\u0627",) * 2,  # Alireza, a ZWNJ inside
    "emoji": ("Sunny 🌞", "Sunny 🌞"),
    "surrounding-spaces-trimmed": ("  Zoë  ", "Zoë"),
}


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_names_in_any_script_are_accepted_nfc_normalised(school: School, case: str) -> None:
    sent, stored = ACCEPTED[case]
    email = f"{case}@example.org"
    status, body, _ = school.enrol({**ZOE, "given_name": sent, "email": email})
    assert status == 201, body
    assert body["given_name"] == stored
    status, read = school.api.call("GET", f"{school.learners}/{body['learner_id']}", school.staff)
    assert status == 200
    assert read["given_name"] == stored


REFUSED = {
    "nul": "Zo\u0000ë",
    "c0-control": "Zo\u0007ë",
    "c1-control": "Zo\u0085ë",
    "newline": "Zoë\nSmith",
    "rtl-override": "\u202eeoZ",
    "ltr-embedding": "\u202aZoë",
    "rtl-isolate": "\u2067Zoë\u2069",
    "zero-width-space": "Zo\u200bë",
    "zero-width-joiner-leading": "\u200dZoë",
    "word-joiner": "Zo\u2060ë",
    "byte-order-mark": "\ufeffZoë",
    "emoji-zwj-sequence": "👩\u200d👩\u200d👧",
    "private-use": "Zo\ue000ë",
    "unassigned": "Zo\U000e0fffë",
    "only-spaces": "   ",
    "empty": "",
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_invisible_or_control_characters_in_names_are_422(school: School, nothing_stored: Callable[[], None],
                                                         case: str) -> None:
    status, body, _ = school.enrol({**ZOE, "given_name": REFUSED[case]})
    assert_refused(status, body, 422, "validation_failed", secret=REFUSED[case].strip() or None)
    assert [f["field"] for f in body["error"]["fields"]] == ["given_name"]
    nothing_stored()


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\ud83d"])
def test_a_lone_surrogate_escaped_in_json_is_422(school: School, nothing_stored: Callable[[], None],
                                                 escape: str) -> None:
    raw = ('{"given_name": "Zo' + escape + '", "family_name": "B", "email": "s@example.org", '
           '"date_of_birth": "2011-04-09"}').encode()
    status, body, _ = school.enrol(raw)
    assert_refused(status, body, 422, "validation_failed")
    nothing_stored()


@pytest.mark.parametrize("bad", [b"\xed\xa0\x80", b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf8\x88\x80\x80\x80"],
                         ids=["encoded-surrogate", "ff", "bad-continuation", "truncated", "five-byte"])
def test_bytes_that_are_not_utf8_are_400(school: School, nothing_stored: Callable[[], None], bad: bytes) -> None:
    raw = b'{"given_name": "Zo' + bad + b'", "family_name": "B", "email": "u@example.org", ' \
          b'"date_of_birth": "2011-04-09"}'
    status, body, _ = school.enrol(raw)
    assert_refused(status, body, 400, "malformed_json")
    nothing_stored()


@pytest.mark.parametrize("name", ["Zo\u0000ë", "\u202eloohcS", "\u200bSchool", "School\u0007"])
def test_tenant_names_follow_the_same_rules(api: dict[str, RegionalApi], token: TokenFactory, name: str) -> None:
    status, body = api[REGION].call("POST", "/v1/tenants", token("platform_admin", region=REGION),
                                    {"name": name, "kind": "school", "jurisdiction": "UK"})
    assert_refused(status, body, 422, "validation_failed")
    assert [f["field"] for f in body["error"]["fields"]] == ["name"]


# --- JSON that is not what the route takes ------------------------------------------------------

@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b'"Zo\xc3\xab"', b"42", b"null", b"true"],
                         ids=["array", "array-of-object", "string", "number", "null", "true"])
def test_a_json_body_that_is_not_an_object_is_422(school: School, nothing_stored: Callable[[], None],
                                                  raw: bytes) -> None:
    status, body, _ = school.enrol(raw)
    assert_refused(status, body, 422, "validation_failed")
    assert body["error"]["fields"][0]["field"] == "(body)"
    nothing_stored()


@pytest.mark.parametrize("raw", [
    b"", b" ", b"{", b'{"given_name": "Zo\xc3\xab",}', b"{'given_name': 'x'}", b"\x00\x00\x00\x00",
    b'{"given_name": "A", "given_name": "B", "family_name": "C", "email": "d@example.org", '
    b'"date_of_birth": "2011-04-09"}',
    b'{"score": NaN}', b'{"score": Infinity}', b'{"score": -Infinity}',
    b'{"score": 1' + b"0" * 5000 + b"}",
], ids=["empty", "blank", "truncated", "trailing-comma", "single-quotes", "nul-bytes", "duplicate-keys",
        "nan", "infinity", "minus-infinity", "huge-integer"])
def test_malformed_json_is_400(school: School, nothing_stored: Callable[[], None], raw: bytes) -> None:
    status, body, _ = school.enrol(raw)
    assert_refused(status, body, 400)
    nothing_stored()


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/xml",
    "text/html", "application/octet-stream", "image/png",
])
def test_a_body_of_another_media_type_is_415(school: School, nothing_stored: Callable[[], None],
                                             content_type: str) -> None:
    status, body, _ = school.enrol({**ZOE, "email": "media@example.org"}, content_type=content_type)
    assert_refused(status, body, 415, "unsupported_media_type")
    nothing_stored()


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json", None,
])
def test_json_media_types_are_accepted(school: School, content_type: str | None) -> None:
    email = f"ok-{abs(hash(content_type)) % 10_000}@example.org"
    status, body, _ = school.enrol({**ZOE, "email": email}, content_type=content_type)
    assert status == 201, body


def test_a_get_ignores_the_content_type_it_has_no_body_for(school: School) -> None:
    status, body, _ = school.send("GET", f"{school.learners}?email=zoe%40example.org", content_type="text/plain")
    assert status == 410, body  # the withdrawn look-up, not a 415


# --- query strings, headers and path parameters -------------------------------------------------

@pytest.mark.parametrize("query", [
    "email=" + "a" * 100_000,
    "email=" + "%f0%9f%98%80" * 5_000,
    "&".join(f"p{i}=v" for i in range(5_000)),
    "email=%ff%fe",
    "email=%00",
    "email=",
])
def test_huge_or_odd_query_strings_are_clean(school: School, nothing_stored: Callable[[], None], query: str) -> None:
    status, body, _ = school.send("GET", f"{school.learners}?{query}")
    assert status in (200, 400, 410), body
    if status in (400, 410):
        assert_refused(status, body, status)
    else:  # no e-mail: the paged list, ids, status, dates and (for tenant users) each active learner's names
        assert set(body) == {"items", "next_cursor"}
        assert all(set(item) <= {"learner_id", "status", "created_at", "updated_at", "erased_at", "given_name",
                                 "family_name"} for item in body["items"])


@pytest.mark.parametrize("query", ["from=" + "9" * 50_000, "to=" + "x" * 10_000, "format=" + "csv" * 10_000,
                                   "from=2026-13-45T99:99:99Z", "from=%00"])
def test_odd_audit_ranges_are_422(school: School, token: TokenFactory, query: str) -> None:
    status, body, _ = school.send("GET", f"/v1/tenants/{school.tenant_id}/audit?{query}",
                                  token=token("compliance_officer", None, REGION))
    assert_refused(status, body, 422, "validation_failed")


@pytest.mark.parametrize("segment", ["t" * 10_000, "tnt_" + "a" * 5_000, "%00", "..", "%2e%2e", "ü" * 500,
                                     "tnt_ABCDEFGHIJKLMNOPQRSTUVWXYZ", "'%20OR%201=1--"])
def test_absurd_path_parameters_are_404(school: School, nothing_stored: Callable[[], None], segment: str) -> None:
    for path in (f"/v1/tenants/{segment}", f"/v1/tenants/{segment}/learners/{segment}",
                 f"{school.learners}/{segment}", f"{school.learners}/{segment}/results"):
        status, body, _ = school.send("GET", path)
        assert_refused(status, body, 404, "not_found")
    status, body, _ = school.send("PATCH", f"{school.learners}/{segment}", json.dumps({"family_name": "X"}).encode(),
                                  token=school.admin)
    assert_refused(status, body, 404, "not_found")
    nothing_stored()


def test_an_oversized_idempotency_key_is_400(school: School, nothing_stored: Callable[[], None]) -> None:
    status, body, _ = school.enrol({**ZOE, "email": "idem@example.org"}, headers={"Idempotency-Key": "k" * 10_000})
    assert_refused(status, body, 400)
    nothing_stored()
