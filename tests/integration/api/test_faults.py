"""Faults of KMS and DynamoDB injected through botocore's event system, seen through the API.

Each fault is a handler on the emulated clients' event system, removed after its test:

* ``before-call.<service>.<Operation>`` answering an error response (or raising) stands for a
  dependency that fails at once; botocore does not retry what a before-call handler answers, so the
  API sees the failure as it would after botocore's retries ran out;
* ``before-send.<service>.<Operation>`` answering an error once stands for a transient failure:
  botocore's standard retry mode retries it and the caller never notices;
* ``after-call.dynamodb.TransactWriteItems`` raising a timeout stands for the ambiguous case: the
  transaction was applied, the response was lost.

What a user may rely on, whatever fails: an answer of 429 or 503 with ``Retry-After`` in the error
shape (or a success after a clean retry), never personal data without its audit event, never half a
write (the raw tables are scanned: no learner item without its key item, no item without its audit
event and no event without its item), and a chain that verifies afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from tests.conftest import moto_jwks
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory, regional_settings
from tests.support.audit_keys import tenant_items

REGION = "eu-west-2"
DATA, KEYS, AUDIT = "enclave-data-uk", "enclave-keys-uk", "enclave-audit-uk"
LEARNER = {"given_name": "Zoë", "family_name": "Brontë", "email": "zoe.faults@example.org",
           "date_of_birth": "2011-04-09"}
RESULT = {"assessment": "Algebra 1", "score": 17, "max_score": 20, "taken_on": "2025-03-14"}
Handler = Callable[..., Any]


# --- injecting faults ---------------------------------------------------------------------------

@contextmanager
def injected(client: Any, event: str, handler: Handler) -> Iterator[Handler]:
    """``handler`` on ``event`` of ``client`` for the duration of the block, then removed."""
    client.meta.events.register(event, handler)
    try:
        yield handler
    finally:
        client.meta.events.unregister(event, handler)


def error_answer(code: str, status: int = 400, **extra: Any) -> tuple[AWSResponse, dict[str, Any]]:
    """What a before-call handler returns to make the call fail with ``code`` (parsed as botocore would)."""
    parsed = {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status},
              **extra}
    return AWSResponse("https://aws.invalid", status, {}, None), parsed


class Fault:
    """A before-call handler failing the first ``times`` calls (``None``: every call) with ``make()``.

    ``make`` returns an error answer or an exception to raise; ``calls`` counts the calls it failed.
    """

    def __init__(self, make: Callable[[dict[str, Any]], Any], times: int | None = None) -> None:
        self._make = make
        self._times = times
        self.calls = 0

    def __call__(self, params: dict[str, Any] | None = None, **_: Any) -> Any:
        if self._times is not None and self.calls >= self._times:
            return None
        self.calls += 1
        answer = self._make(params or {})
        if isinstance(answer, BaseException):
            raise answer
        return answer


def fails_with(code: str, status: int = 400, times: int | None = None) -> Fault:
    return Fault(lambda _: error_answer(code, status), times)


def raises(exc: BaseException, times: int | None = None) -> Fault:
    return Fault(lambda _: exc, times)


def transaction_canceled(reason: str, at: str = "changes", times: int | None = None) -> Fault:
    """TransactionCanceledException with ``reason`` on the caller's changes (items after the landed
    event), or on the event itself (``at="head"``), as DynamoDB reports a cancelled transaction."""

    def answer(params: dict[str, Any]) -> Any:
        count = len(json.loads(params["body"])["TransactItems"])
        reasons = [{"Code": "None"} for _ in range(count)]
        for index in ([0] if at == "head" else range(1, count)):
            reasons[index] = {"Code": reason, "Message": "injected"}
        return error_answer("TransactionCanceledException", 400, CancellationReasons=reasons)

    return Fault(answer, times)


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def send_fails_once(failure: str | BaseException, status: int = 400, *, applied: bool = False) -> Handler:
    """A before-send handler: the first request gets the error code ``failure`` back over the wire (or
    raises it, as a timed-out connection does), later ones go through to the emulator.

    ``applied``: the emulator still receives the first request and applies it (its answer is lost);
    otherwise the request is pointed away from the emulator first, so nothing of it happens. (Every
    before-send handler is called, the emulator's included; the most specific, this one, answers.)
    """
    sent = {"n": 0}

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        sent["n"] += 1
        if sent["n"] > 1:
            return None
        if not applied:
            request.url = "https://nowhere.invalid/"
        if isinstance(failure, BaseException):
            raise failure
        body = json.dumps({"__type": failure, "message": "injected"}).encode()
        return AWSResponse(request.url, status, {"content-type": "application/x-amz-json-1.0"}, _RawBody(body))

    handler.sent = sent  # type: ignore[attr-defined]
    return handler


def timeout(endpoint: str = "https://aws.invalid/") -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url=endpoint, error="injected")


@pytest.fixture(scope="module", autouse=True)
def idempotent_transactions() -> Iterator[None]:
    """The emulator made to honour TransactWriteItems' ClientRequestToken as DynamoDB does (moto 5.2.5
    ignores it): a repeat of a token it applied, with the same items, is answered with success and
    applies nothing; with other items it is IdempotentParameterMismatchException."""
    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    applied: dict[str, str] = {}

    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        items = json.dumps(self.body["TransactItems"], sort_keys=True, default=repr)  # binary values too
        if token in applied:
            if applied[token] != items:
                raise JsonRESTError("IdempotentParameterMismatchException", "another request used this token")
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        result = original(self)
        if token:
            applied[token] = items
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoHandler, "transact_write_items", transact_write_items)
        yield


# --- the platform under test --------------------------------------------------------------------

class Uk:
    """A fresh UK tenant, its users, and views of its raw tables."""

    def __init__(self, emulated: Emulated, api: RegionalApi, token: TokenFactory, tenant_id: str) -> None:
        self.emulated = emulated
        self.api = api
        self.tenant_id = tenant_id
        self.admin = token("tenant_admin", tenant_id, REGION)
        self.staff = token("tenant_staff", tenant_id, REGION)
        self.auditor = token("compliance_officer", None, REGION)
        self.dynamodb = emulated.clients.dynamodb(REGION)
        self.kms = emulated.clients.kms(REGION)

    @property
    def learners(self) -> str:
        return f"/v1/tenants/{self.tenant_id}/learners"

    def create(self, api: RegionalApi | None = None, **headers: str) -> tuple[int, Any]:
        return (api or self.api).call("POST", self.learners, self.staff, LEARNER, headers=headers)

    def created(self) -> str:
        status, body = self.create()
        assert status == 201, body
        return str(body["learner_id"])

    def _query(self, table: str, prefix: str = "") -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=table, KeyConditionExpression="pk = :p", ConsistentRead=True,
            ExpressionAttributeValues={":p": {"S": f"TENANT#{self.tenant_id}"}})
        return [item for page in pages for item in page["Items"] if item["sk"]["S"].startswith(prefix)]

    def items(self) -> list[dict[str, Any]]:
        """The tenant's learner items (profile, results, consents) in the raw data table, keys in the key table."""
        return self._query(DATA, "L#") + self._query(KEYS, "L#")

    def events(self) -> list[dict[str, Any]]:
        """Every event the tenant's requests landed: sealed (``EVT#``) or not yet sequenced (``PND#``)."""
        sealed, pending = (tenant_items(self.dynamodb, AUDIT, self.tenant_id, prefix) for prefix in ("EVT#", "PND#"))
        return ([json.loads(item["event"]["S"]) for item in sealed]
                + [json.loads(item["pending"]["S"]) for item in pending if "pending" in item])

    def snapshot(self) -> tuple[list[Any], list[Any]]:
        return self.items() + self._query(KEYS, "TKEY#"), self._query(AUDIT)

    def assert_consistent(self) -> None:
        """Every learner item has its key item and its audit event, every event its item; the chain verifies."""
        items, events = self.items(), self.events()
        kinds: dict[str, dict[str, Any]] = {}
        for item in items:
            _, learner_id, kind, *rest = item["sk"]["S"].split("#")
            kinds.setdefault(learner_id, {}).setdefault(kind, []).append((rest, item))
        profiles = {lid for lid, by_kind in kinds.items() if "P" in by_kind}
        live = {lid for lid in profiles if "erased_at" not in kinds[lid]["P"][0][1]}
        erased = profiles - live
        keyed = {lid for lid, by_kind in kinds.items() if "K" in by_kind}
        assert live == keyed, "a live learner without its key, or a key without its learner"
        assert set(kinds) == profiles, "items of a learner that has no profile"
        results = {rest[0] for by_kind in kinds.values() for rest, _ in by_kind.get("R", [])}

        def audited(action: str, detail: str) -> set[str]:
            return {e["details"][detail] for e in events if e["action"] == action and e["outcome"] == "success"}

        assert audited("learner.create", "learner_id") == profiles, "a learner without its event, or vice versa"
        assert audited("result.create", "result_id") == results, "a result without its event, or vice versa"
        assert audited("learner.erase", "learner_id") == erased, "an erasure without its event, or vice versa"
        status, body = self.api.call("GET", f"/v1/tenants/{self.tenant_id}/audit/verify", self.auditor)
        assert status == 200, body
        assert body["valid"] is True, body
        assert body["events"] == len(events), body
        sealed = [e["seq"] for e in self.events() if "seq" in e]  # verify sealed everything landed before it
        assert sealed[:len(events)] == list(range(1, len(events) + 1)), "a gap in the chain"


@pytest.fixture
def uk(emulated: Emulated, api: dict[str, RegionalApi], token: TokenFactory,
       onboard: Callable[..., dict[str, Any]]) -> Uk:
    return Uk(emulated, api[REGION], token, onboard("UK")["tenant_id"])


@pytest.fixture
def cold_api(emulated: Emulated) -> RegionalApi:
    """The region's app in a new container: empty key, directory and audit-head caches (a cold Lambda)."""
    container = composition.Container(regional_settings(REGION, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions)
    return RegionalApi(container)


def assert_retry_later(status: int, body: Any, expected: int | tuple[int, ...] = (429, 503)) -> None:
    """429/503 in the error shape, with nothing personal in it (Retry-After is checked by the callers)."""
    assert status in (expected if isinstance(expected, tuple) else (expected,)), body
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    assert "Zo" not in json.dumps(body, ensure_ascii=False), "personal data in an error"


def call_with_headers(api: RegionalApi, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any, Any]:
    """Like ``RegionalApi.call`` but also returns the response headers (for Retry-After)."""
    composition.use(api.container)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    response = api._client.http.request(method, path, headers=headers,
                                        body=json.dumps(body).encode() if body is not None else b"")
    return response.status_code, json.loads(response.body), response.headers


# --- KMS ------------------------------------------------------------------------------------------

KMS_FAULTS = {
    "throttling": (lambda: fails_with("ThrottlingException"), 429),
    "kms-internal": (lambda: fails_with("KMSInternalException", 500), 503),
    "endpoint-connection": (lambda: raises(EndpointConnectionError(endpoint_url="https://kms.invalid")), 503),
    "read-timeout": (lambda: raises(timeout("https://kms.invalid")), 503),
}


@pytest.mark.parametrize("fault", list(KMS_FAULTS))
def test_kms_failure_on_a_cold_key_cache_answers_retry_later_and_writes_nothing(
        uk: Uk, cold_api: RegionalApi, fault: str) -> None:
    make, expected = KMS_FAULTS[fault]
    # a cold container enrolling a learner needs the tenant key (made at onboarding) unwrapped: Decrypt
    before = uk.snapshot()
    with injected(uk.kms, "before-call.kms.Decrypt", make()) as handler:
        status, body, headers = call_with_headers(cold_api, "POST", uk.learners, uk.staff, LEARNER)
    assert handler.calls >= 1
    assert_retry_later(status, body, expected)
    assert int(headers["Retry-After"]) >= 1
    assert uk.snapshot() == before, "something was written during the outage"
    learner_id = uk.created()  # KMS is back: the same request succeeds

    # a cold container reading that learner unwraps the tenant key: Decrypt
    before = uk.snapshot()
    with injected(uk.kms, "before-call.kms.Decrypt", make()) as handler:
        status, body, headers = call_with_headers(cold_api, "GET", f"{uk.learners}/{learner_id}", uk.staff)
    assert handler.calls >= 1
    assert_retry_later(status, body, expected)
    assert int(headers["Retry-After"]) >= 1
    assert uk.snapshot() == before, "a read that answered nothing left an event, or wrote data"
    status, body = cold_api.call("GET", f"{uk.learners}/{learner_id}", uk.staff)
    assert status == 200, body
    assert body["given_name"] == "Zoë"
    uk.assert_consistent()


def test_a_transient_kms_throttle_is_retried_by_botocore_unnoticed(uk: Uk, cold_api: RegionalApi) -> None:
    learner_id = uk.created()
    handler = send_fails_once("ThrottlingException")
    with injected(uk.kms, "before-send.kms.Decrypt", handler):
        status, body = cold_api.call("GET", f"{uk.learners}/{learner_id}", uk.staff)
    assert handler.sent["n"] == 2, "botocore retried the throttled Decrypt once"  # type: ignore[attr-defined]
    assert status == 200, body
    assert sum(e["action"] == "learner.read" for e in uk.events()) == 1
    uk.assert_consistent()


@pytest.mark.parametrize("failure", ["ProvisionedThroughputExceededException", "timeout"])
def test_a_transient_dynamodb_failure_is_retried_by_botocore_unnoticed(uk: Uk, failure: str) -> None:
    handler = send_fails_once(timeout() if failure == "timeout" else failure)
    with injected(uk.dynamodb, "before-send.dynamodb.TransactWriteItems", handler):
        status, body = uk.create()
    assert handler.sent["n"] == 2  # type: ignore[attr-defined]
    assert status == 201, body
    assert len(uk.items()) == 2  # one learner: its profile and its key
    uk.assert_consistent()


def test_an_unusable_signing_key_makes_verify_retry_later(uk: Uk) -> None:
    uk.created()
    with injected(uk.kms, "before-call.kms.Sign", fails_with("KMSInternalException", 500)):
        status, body, headers = call_with_headers(uk.api, "GET", f"/v1/tenants/{uk.tenant_id}/audit/verify",
                                                  uk.auditor)
    assert_retry_later(status, body, 503)
    assert headers["Retry-After"].isdigit()
    uk.assert_consistent()


# --- DynamoDB -------------------------------------------------------------------------------------

def _operations(uk: Uk, learner_id: str) -> dict[str, tuple[str, str, str, Any]]:
    learner = f"{uk.learners}/{learner_id}"
    return {
        "create": ("POST", uk.learners, uk.staff, LEARNER),
        "read": ("GET", learner, uk.staff, None),
        "find": ("POST", f"{uk.learners}/search", uk.staff, {"email": "zoe.faults@example.org"}),
        "rectify": ("PATCH", learner, uk.admin, {"family_name": "Bronte"}),
        "erase": ("DELETE", learner, uk.admin, None),
        "add-result": ("POST", f"{learner}/results", uk.staff, RESULT),
        "results": ("GET", f"{learner}/results", uk.staff, None),
    }


OPERATIONS = ["create", "read", "find", "rectify", "erase", "add-result", "results"]
SUCCESS = {"create": 201, "add-result": 201}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("dynamo_op", ["TransactWriteItems", "Query"])
def test_dynamodb_throttling_is_429_and_nothing_is_half_written(uk: Uk, operation: str, dynamo_op: str) -> None:
    learner_id = uk.created()
    method, path, token, body = _operations(uk, learner_id)[operation]
    before = uk.snapshot()
    fault = fails_with("ProvisionedThroughputExceededException")
    with injected(uk.dynamodb, f"before-call.dynamodb.{dynamo_op}", fault):
        status, answer, headers = call_with_headers(uk.api, method, path, token, body)
    if fault.calls:
        assert_retry_later(status, answer, 429)
        assert headers["Retry-After"] == "1"
        assert uk.snapshot() == before
    else:  # this operation makes no such call (e.g. a create issues no Query)
        assert status == SUCCESS.get(operation, 200), answer
    status, answer = uk.api.call(method, path, token, body)
    assert status == SUCCESS.get(operation, 200), answer
    uk.assert_consistent()


@pytest.mark.parametrize("reason", ["ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"])
@pytest.mark.parametrize("operation", ["create", "rectify", "erase", "add-result"])  # a read's event: PutItem
def test_a_transaction_cancelled_for_capacity_is_never_reported_as_a_conflict(
        uk: Uk, operation: str, reason: str) -> None:
    """DynamoDB cancels a transaction for throttling or a conflicting transaction on any of its items:
    transient, so 429/503 (or a clean retry), never "conflict" or "erased"."""
    learner_id = uk.created()
    method, path, token, body = _operations(uk, learner_id)[operation]
    before = uk.snapshot()
    fault = transaction_canceled(reason)
    with injected(uk.dynamodb, "before-call.dynamodb.TransactWriteItems", fault):
        status, answer, headers = call_with_headers(uk.api, method, path, token, body)
    assert fault.calls >= 1
    assert_retry_later(status, answer)
    assert headers["Retry-After"].isdigit()
    assert uk.snapshot() == before
    status, answer = uk.api.call(method, path, token, body)
    assert status == SUCCESS.get(operation, 200), answer
    uk.assert_consistent()


@pytest.mark.parametrize("at", ["head", "changes"])
def test_a_transaction_cancelled_once_for_a_conflict_is_retried_cleanly(uk: Uk, at: str) -> None:
    fault = transaction_canceled("TransactionConflict" if at == "changes" else "ConditionalCheckFailed", at,
                                 times=1)
    with injected(uk.dynamodb, "before-call.dynamodb.TransactWriteItems", fault):
        status, body = uk.create()
    assert fault.calls == 1
    assert status == 201, body
    assert len({i["sk"]["S"] for i in uk.items()}) == 2  # the profile and the key, once
    uk.assert_consistent()


def test_a_change_whose_condition_fails_is_a_conflict_with_nothing_written(uk: Uk) -> None:
    """The other side of the rule above: a failed condition on the caller's own change is no fault."""
    learner_id = uk.created()
    before = uk.snapshot()
    fault = transaction_canceled("ConditionalCheckFailed", "changes")
    with injected(uk.dynamodb, "before-call.dynamodb.TransactWriteItems", fault):
        status, body = uk.api.call("PATCH", f"{uk.learners}/{learner_id}", uk.admin, {"family_name": "Bell"})
    assert status == 409, body
    assert uk.snapshot() == before
    uk.assert_consistent()


def test_an_endless_conflict_on_the_chain_head_gives_up_with_503(uk: Uk) -> None:
    fault = transaction_canceled("TransactionConflict", "head")
    with injected(uk.dynamodb, "before-call.dynamodb.TransactWriteItems", fault):
        status, body, headers = call_with_headers(uk.api, "POST", uk.learners, uk.staff, LEARNER)
    assert_retry_later(status, body, 503)
    assert headers["Retry-After"].isdigit()
    assert fault.calls > 1  # retried, then gave up
    assert uk.items() == []
    uk.assert_consistent()


# --- timeouts -------------------------------------------------------------------------------------

def test_a_timeout_before_the_write_is_503_with_nothing_written(uk: Uk) -> None:
    before = uk.snapshot()
    with injected(uk.dynamodb, "before-call.dynamodb.TransactWriteItems", raises(timeout())):
        status, body, headers = call_with_headers(uk.api, "POST", uk.learners, uk.staff, LEARNER)
    assert_retry_later(status, body, 503)
    assert headers["Retry-After"].isdigit()
    assert uk.snapshot() == before
    uk.assert_consistent()


def _timeout_after_applying(**_: Any) -> None:
    raise timeout()


def test_a_write_that_timed_out_after_applying_is_whole_and_its_retry_returns_it(uk: Uk) -> None:
    """The ambiguous timeout: DynamoDB applied the transaction, the answer was lost. The learner and
    its event are both there (one transaction); the client's retry with its Idempotency-Key gets
    the same learner, not a second one."""
    key = {"Idempotency-Key": "enrol-zoe-1"}
    with injected(uk.dynamodb, "after-call.dynamodb.TransactWriteItems", _timeout_after_applying):
        status, body = uk.create(**key)
    assert status == 503, body
    assert len(uk.items()) == 2  # applied: profile and key
    status, body = uk.create(**key)
    assert status == 201, body
    assert len(uk.items()) == 2
    assert body["learner_id"] in uk.items()[0]["sk"]["S"]
    uk.assert_consistent()


@pytest.mark.parametrize(("operation", "action"), [
    ("create", "learner.create"), ("add-result", "result.create"), ("erase", "learner.erase"), ("read", "learner.read"),
])
def test_a_write_whose_answer_was_lost_is_retried_by_botocore_without_a_second_write(
        uk: Uk, operation: str, action: str) -> None:
    """DynamoDB applied the transaction, then the answer was a 500: botocore retries the same request
    with the same ClientRequestToken (botocore fills one in for every TransactWriteItems call), DynamoDB
    answers it with success, and the change and its event exist once. (Without the token the retry
    would fail its conditions and the caller would hear "conflict" for a write that happened.)"""
    learner_id = uk.created()
    method, path, token, body = _operations(uk, learner_id)[operation]
    before = sum(e["action"] == action for e in uk.events())
    handler = send_fails_once("InternalServerError", 500, applied=True)
    call = "PutItem" if operation == "read" else "TransactWriteItems"  # a read's event is a plain PutItem
    with injected(uk.dynamodb, f"before-send.dynamodb.{call}", handler):
        status, answer = uk.api.call(method, path, token, body)
    assert handler.sent["n"] == 2  # type: ignore[attr-defined]
    assert status == SUCCESS.get(operation, 200), answer
    assert sum(e["action"] == action for e in uk.events()) == before + 1
    uk.assert_consistent()


def test_a_read_whose_event_timed_out_answers_no_data(uk: Uk) -> None:
    learner_id = uk.created()
    with injected(uk.dynamodb, "before-call.dynamodb.PutItem", raises(timeout())):  # a read's event: PutItem
        status, body = uk.api.call("GET", f"{uk.learners}/{learner_id}", uk.staff)
    assert_retry_later(status, body, 503)
    assert not any(e["action"] == "learner.read" for e in uk.events())
    with injected(uk.dynamodb, "after-call.dynamodb.PutItem", _timeout_after_applying):
        status, body = uk.api.call("GET", f"{uk.learners}/{learner_id}", uk.staff)
    assert_retry_later(status, body, 503)  # the event is stored, but the answer is withheld all the same
    status, body = uk.api.call("GET", f"{uk.learners}/{learner_id}", uk.staff)
    assert status == 200, body
    assert sum(e["action"] == "learner.read" for e in uk.events()) == 2  # over-audited, never under
    uk.assert_consistent()
