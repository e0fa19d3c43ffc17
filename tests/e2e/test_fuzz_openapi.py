"""Fuzzing every route of ``/v1/openapi.json`` with schemathesis against the running local platform.

For each operation of the document the platform serves, hypothesis draws requests that fit the
document (positive) and requests that break it (negative: wrong types, missing fields, extra
members, odd strings), sends each with a token of one of the roles the route names, and checks what
a client relies on:

* never a 5xx (``not_a_server_error``);
* the status code, the content type and the body conform to the document (schemathesis's
  ``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance``);
* every 4xx is in the error shape of API.md, 429/503 carry ``Retry-After``.

Path parameters are the real tenant's and learners' ids about half the time, so requests get past
the directory look-up to the services (random ids stop at a 404). Examples per operation are
bounded so the whole file runs in seconds; ``derandomize`` keeps a run reproducible.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.adapters.cognito_admin import find_user_pool, sign_in
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

REGION = "eu-west-2"  # UK tenants live here, so tenant-scoped requests reach the services
# Requests in all, shared among the operations (about 45 ms each against the local platform), so the
# file's time stays bounded as routes are added; ENCLAVE_FUZZ_REQUESTS=5000 for a deeper local run.
BUDGET = int(os.environ.get("ENCLAVE_FUZZ_REQUESTS", "450"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
LEARNER = {"given_name": "Zoë", "family_name": "Okafor", "email": "zoe.fuzz@example.org", "date_of_birth": "2010-05-04"}


@dataclass
class Target:
    """The platform's document as schemathesis reads it, and real ids to aim requests at."""

    base_url: str
    schema: Any
    tenant_id: str
    learner_ids: list[str]
    victim_ids: list[str]  # learners DELETE may erase (the others stay readable for the other routes)
    tokens: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    statuses: dict[str, set[int]] = field(default_factory=dict)


def _sign_in(platform: Platform, role: str, tenant: str | None = None) -> str:
    cognito = platform.emulator().cognito(REGION)
    pool = find_user_pool(cognito, REGION)
    assert pool is not None
    return sign_in(cognito, pool, f"fuzz-{role}-{tenant or REGION}", role, tenant)


@pytest.fixture(scope="module")
def target(platform: Platform) -> Target:
    base_url = platform.url(REGION)
    admin = _sign_in(platform, "platform_admin")
    status, tenant = platform.call(REGION, "POST", "/v1/tenants", admin,
                                   body={"name": "Fuzz School", "kind": "school", "jurisdiction": "UK"})
    assert status == 201, tenant
    tenant_id = tenant["tenant_id"]
    tokens = {"platform_admin": admin}
    for role in ("regional_admin", "compliance_officer"):
        tokens[role] = _sign_in(platform, role)
    for role in ("tenant_admin", "tenant_staff"):
        tokens[role] = _sign_in(platform, role, tenant_id)
    learners = []
    for n in range(4):
        status, learner = platform.call(REGION, "POST", f"/v1/tenants/{tenant_id}/learners", tokens["tenant_admin"],
                                        body={**LEARNER, "email": f"fuzz{n}@example.org"})
        assert status == 201, learner
        learners.append(learner["learner_id"])
    schema = schemathesis.openapi.from_url(base_url + "/v1/openapi.json")
    return Target(base_url, schema, tenant_id, learners[:2], learners[2:], tokens)


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every route the app registers (the document is generated from the same list)."""
    import app

    return [(spec.method, spec.path) for spec in app.api.specs]


OPERATIONS = _operations()
EXAMPLES = max(8, BUDGET // len(OPERATIONS))


def _token_for(target: Target, roles: list[str], choice: int) -> str | None:
    """Mostly a token of one of the route's roles (``any``: every role); now and then none or a bad one."""
    known = [role for role in roles if role in target.tokens]
    if "any" in roles or not known:
        known = list(target.tokens)
    if choice == 0:
        return None
    if choice == 1:
        return "not-a-jwt"
    if choice == 2:  # a role the route may not name: 403 or 404, never more
        return target.tokens[sorted(target.tokens)[choice % len(target.tokens)]]
    return target.tokens[known[choice % len(known)]]


def assert_error_shape(response: requests.Response) -> None:
    body = response.json()
    assert isinstance(body, dict), body
    error = body.get("error")
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str), body
    assert error["code"] == error["code"].lower(), body
    assert isinstance(error.get("message"), str), body
    if response.status_code == 422:
        assert isinstance(error.get("fields"), list), body
        assert all(isinstance(f, dict) and {"field", "message"} <= set(f) for f in error["fields"]), body
    if response.status_code in (429, 503):
        assert response.headers.get("Retry-After", "").isdigit(), response.headers


# Values that pass the validators the document cannot express (an e-mail's shape, a date in the past,
# a law pack's enumerations): drawn in place of generated ones now and then, so bodies get past
# validation to the services instead of always stopping at 422.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "email": st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8})?@(example|school)\.(org|uk)", fullmatch=True),
    "date_of_birth": st.dates(date(2006, 1, 1), date(2016, 12, 31)).map(date.isoformat),
    "taken_on": st.dates(date(2024, 1, 1), date(2025, 12, 31)).map(date.isoformat),
    "given_name": st.sampled_from(["Zoë", "José", "李雷", "Ngozi", "Siobhán", "محمد"]),
    "family_name": st.sampled_from(["Nguyễn", "O'Brien", "van der Berg", "Okafor"]),
    "jurisdiction": st.sampled_from(["UK", "US", "PH", "AU"]),
    "purpose": st.sampled_from(["analytics", "marketing", "research", "core_education"]),
    "verification": st.sampled_from(["signed_form", "school_official", "video_call"]),
    "from": st.sampled_from(["2020-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00"]),
    "to": st.sampled_from(["2030-01-01T00:00:00Z", "2021-01-01"]),
    "score": st.integers(0, 50),
    "max_score": st.integers(50, 100),
}


def plausible(value: Any, data: st.DataObject, known: dict[str, st.SearchStrategy[Any]]) -> Any:
    """``value`` with some of its ``known`` fields (at any depth) replaced by values that validate."""
    if isinstance(value, dict):
        return {key: data.draw(known[key], label=key)
                if key in known and data.draw(st.booleans(), label=f"plausible {key}")
                else plausible(item, data, known) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=str)
def test_every_operation_answers_as_documented(target: Target, method: str, path: str) -> None:
    operation = target.schema[path][method]
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    roles = operation.definition.raw.get("x-enclave-roles", [])
    real = {"tenant_id": [target.tenant_id],
            "learner_id": target.victim_ids if method == "DELETE" else target.learner_ids,
            "code": ["UK", "ph"]}
    seen = target.statuses.setdefault(f"{method} {path}", set())
    # a learner named in a body (data-subject requests) may be erased: one of the disposable ones
    known = {**PLAUSIBLE, "learner_id": st.sampled_from(target.victim_ids)}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy, data=st.data())
    def exchange(case: Any, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            if name in real and data.draw(st.integers(0, 5), label=f"real {name}"):  # 5 in 6
                case.path_parameters[name] = data.draw(st.sampled_from(real[name]), label=name)
        if isinstance(case.body, dict):
            case.body = plausible(case.body, data, known)
        if case.query:
            case.query = plausible(case.query, data, known)
        token = _token_for(target, roles, data.draw(st.integers(0, 11), label="token"))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if method == "POST" and data.draw(st.booleans(), label="idempotent"):
            headers["Idempotency-Key"] = str(uuid.uuid4())
        response = case.call(base_url=target.base_url, session=target.session, headers=headers, timeout=30)
        seen.add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if response.status_code >= 400:
            assert_error_shape(response)

    exchange()
    assert seen, "no request was sent"
    print(f"{method} {path}: {sorted(seen)}")


RAW_BODIES = {
    "not-utf8": (b'{"given_name": "Zo\xff", "family_name": "B", "email": "r@example.org"}', "application/json", 400),
    "encoded-surrogate": (b'{"given_name": "\xed\xa0\x80"}', "application/json", 400),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    "two-mebibytes": (b'{"programme": "' + b"x" * (2 * 1024 * 1024) + b'"}', "application/json", 413),
    "form": (b"given_name=Zoe&family_name=B", "application/x-www-form-urlencoded", 415),
    "not-an-object": (b"[1, 2, 3]", "application/json", 422),
}


@pytest.mark.parametrize("case", list(RAW_BODIES))
def test_raw_bytes_over_http_get_a_clean_4xx(target: Target, case: str) -> None:
    """What the fuzzer cannot send (it only sends what serialises): the same answers over real HTTP."""
    raw, content_type, expected = RAW_BODIES[case]
    response = target.session.post(f"{target.base_url}/v1/tenants/{target.tenant_id}/learners", data=raw,
                                   headers={"Authorization": f"Bearer {target.tokens['tenant_staff']}",
                                            "Content-Type": content_type}, timeout=30)
    assert response.status_code == expected, response.text
    assert_error_shape(response)
