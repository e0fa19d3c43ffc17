"""AWS calls per request, route by route, on a warm container: counted through botocore's event hooks.

In process, on moto (``mock_aws``, with the test suite's faithful transactions): the eu-west-2
deployment (``Container`` as the tests build it: real Cognito ID tokens, the emulator's JWKS) serves
each route through the Chalice test client. Every botocore client the container creates gets a
``before-call`` hook that records ``(service, operation)``: one entry per API call (a retry would be
counted by ``before-send``; the emulator does not throttle). Each scenario makes its request twice
on fresh resources of one warm tenant (a second learner, a second hold, ...) and the table shows the
second: the warm path, directory entry, tenant keys and audit head cached by the first.

Writes that need the learner's key (or, for a rectification, the stored profile; for lifting a
restriction, when it was placed; for lifting a hold, the hold item) depend on one more cache, per
learner or hold: the container keeps a learner's *wrapped* key, profile item (ciphertext) and
restriction time for a minute after it read that learner, and the items of a hold listing as long.
Their main row is that warm case (the learner read, or the holds listed, on this container just before,
in set-up, as a console edit or a result entered after opening the learner would); a second row,
``(not read here within the minute)``, is the same write on something this container has not read
within the minute (enrolled long ago, or on another container): a bulk import or an exam-results day.
The cost section prices that second row, the conservative one.

Goals: a write is one DynamoDB round trip including its audit event; a read is one read plus one
audit event put (a PutItem, no transaction, no per-tenant head); no KMS call on a warm container.
Rows name the calls, so a miss says where it comes from.

Run ``python -m bench.bench_calls``.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.adapters.aws import AwsClients
from chalicelib.settings import REGIONS, Settings

REGION = "eu-west-2"
JURISDICTION = "UK"
DIRECTORY_REGION = "us-east-1"
DYNAMO_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
DYNAMO_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
LEARNER = {"given_name": "Ada", "family_name": "Byron", "email": "ada.byron@example.org",
           "date_of_birth": "2010-12-10", "guardian": {"name": "Anne Byron", "email": "anne@example.org"}}
RESULT = {"assessment": "Algebra", "score": 17, "max_score": 20, "taken_on": "2026-03-02"}
NOT_CACHED = " (not read here within the minute)"
"""Suffix of the rows of writes on a learner (or hold) this container has not read within the cache's minute."""


class CountingClients(AwsClients):
    """``AwsClients`` whose every client records its API calls in ``calls`` (and what each touched in
    ``details``: table, key range or transaction items, from the call's parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        self.details: list[str] = []
        self._pending = ""

    def _create(self, service: str, region: str) -> Any:
        client = super()._create(service, region)
        client.meta.events.register("before-parameter-build", self._describe)
        client.meta.events.register("before-call", self._record)
        return client

    def _describe(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self._pending = describe(model.name, params)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name))
        self.details.append(self._pending)

    def clear(self) -> None:
        self.calls.clear()
        self.details.clear()


ELIDED = ((re.compile(r"\b[a-z]{3}_[a-z2-7]{26}\b"), "*"),  # ids
          (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z"), "<time>"), (re.compile(r"\d{4}-\d\d-\d\d"), "<date>"),
          (re.compile(r"#\d{12}"), "#<seq>"), (re.compile(r"#[\w.-]{16,}"), "#<token>"))  # seqs, blind indexes


def _elide(value: str) -> str:
    for pattern, replacement in ELIDED:
        value = pattern.sub(replacement, value)
    return value


def _table(name: str) -> str:
    """``enclave-data-uk`` -> ``data``: the table's role, not its jurisdiction."""
    parts = name.split("-")
    return parts[1] if len(parts) > 1 and parts[0] == "enclave" else name


def describe(operation: str, params: dict[str, Any]) -> str:
    """A short account of what one DynamoDB call touched (ids elided), for the table's last column."""
    if operation == "TransactWriteItems":
        items = Counter(f"{kind}:{_table(op['TableName'])}" for item in params.get("TransactItems", [])
                        for kind, op in item.items())
        return "Transact[" + ", ".join(k + (f" x{n}" if n > 1 else "") for k, n in sorted(items.items())) + "]"
    table = _table(str(params.get("TableName", params.get("Bucket", ""))))
    if "IndexName" in params:
        table += "." + str(params["IndexName"])
    if operation == "Query":
        values = [v.get("S", "") for k, v in params.get("ExpressionAttributeValues", {}).items()
                  if k not in (":pk", ":t") and isinstance(v, dict)]
        span = "..".join(_elide(v) for v in values if v and not v.startswith("TENANT#"))
        return f"Query({table}{' ' + span if span else ''})"
    return f"{operation}({table})" if table else operation


@dataclass
class Request:
    method: str
    path: str
    role: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200


@dataclass
class Scenario:
    """A route, whether it is a read or a write of tenant data (or neither), and how to make a request."""

    method: str
    path: str
    kind: str  # "read", "write" or "platform"
    make: Callable[[Harness], Request]
    why: str = ""
    """Why this route has the budget of its kind (or needs the call beyond it): shown after the goal."""


class Harness:
    """The eu-west-2 deployment in process, one warm UK tenant, and the calls of the last request."""

    def __init__(self, settings: Settings, clients: CountingClients, setup: AwsClients, pools: dict[str, Any],
                 container: Any) -> None:
        from chalice.test import Client

        import app as app_module

        self.settings = settings
        self.clients = clients
        self._setup = setup
        self._pools = pools
        self.container = container
        self._client = Client(app_module.app)
        self.specs = app_module.api.specs
        self._tokens: dict[tuple[str, str | None], str] = {}
        self.tenant_id = self.call(Request("POST", "/v1/tenants", "platform_admin",
                                           {"name": "Bench School", "kind": "school", "jurisdiction": JURISDICTION},
                                           expect=201))["tenant_id"]

    def token(self, role: str) -> str:
        from chalicelib.adapters.cognito_admin import sign_in

        tenant = self.tenant_id if role in ("tenant_admin", "tenant_staff") else None
        key = (role, tenant)
        if key not in self._tokens:
            username = "-".join(p for p in ("bench", role, tenant) if p)
            self._tokens[key] = sign_in(self._setup.cognito(REGION), self._pools[REGION], username, role, tenant)
        return self._tokens[key]

    def call(self, request: Request) -> Any:
        from chalicelib import composition

        composition.use(self.container)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token(request.role)}",
                   **request.headers}
        body = json.dumps(request.body).encode() if request.body is not None else b""
        response = self._client.http.request(request.method, request.path, headers=headers, body=body)
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        if response.status_code != request.expect:
            raise RuntimeError(f"{request.method} {request.path} answered {response.status_code}: {text[:300]}")
        try:
            return json.loads(text) if text else None
        except ValueError:
            return text

    # -- fresh resources (set-up calls, not counted) --------------------------------------------

    @property
    def learners(self) -> str:
        return f"/v1/tenants/{self.tenant_id}/learners"

    def new_learner(self) -> str:
        return str(self.call(Request("POST", self.learners, "tenant_staff", LEARNER, expect=201))["learner_id"])

    def seen_learner(self) -> str:
        """A learner this container has just read (its wrapped key is in the short cache)."""
        learner_id = self.new_learner()
        self.call(Request("GET", f"{self.learners}/{learner_id}", "tenant_staff"))
        return learner_id

    def seen(self, learner_id: str) -> str:
        """``learner_id``, read by this container just now (its wrapped key and profile in the short caches)."""
        self.call(Request("GET", f"{self.learners}/{learner_id}", "tenant_staff"))
        return learner_id

    def new_learner_with_result(self) -> str:
        learner_id = self.new_learner()
        self.call(Request("POST", f"{self.learners}/{learner_id}/results", "tenant_staff", RESULT, expect=201))
        return learner_id

    def new_consenting_learner(self) -> str:
        learner_id = self.new_learner_with_result()
        self.call(Request("POST", f"{self.learners}/{learner_id}/consents", "tenant_staff",
                          {"purpose": "research", "decision": "granted", "given_by": "learner"}, expect=201))
        return learner_id

    def new_request(self, rectified: bool = False) -> str:
        """An open rectification request (``rectified``: the learner was rectified since, so it can be fulfilled)."""
        learner_id = self.new_learner()
        created = self.call(Request("POST", f"/v1/tenants/{self.tenant_id}/requests", "tenant_admin",
                                    {"learner_id": learner_id, "type": "rectification"}, expect=201))
        if rectified:
            self.call(Request("PATCH", f"{self.learners}/{learner_id}", "tenant_admin", {"family_name": "King"}))
        return str(created["request_id"])

    def new_paused_request(self) -> str:
        """An open rectification request whose clock is stopped (awaiting the requester's identity)."""
        request_id = self.new_request()
        self.call(Request("POST", f"/v1/tenants/{self.tenant_id}/requests/{request_id}/pause", "tenant_admin",
                          {"reason": "identity"}))
        return request_id

    def new_access_request(self) -> str:
        """An access request, fulfilled at once: its package waits in the bucket."""
        created = self.call(Request("POST", f"/v1/tenants/{self.tenant_id}/requests", "tenant_admin",
                                    {"learner_id": self.new_learner_with_result(), "type": "access"}, expect=201))
        return str(created["request_id"])

    def new_restricted_learner(self, seen: bool = False) -> str:
        """A restricted learner (``seen``: a read on this container was refused for it, 409, just now)."""
        learner_id = self.new_learner()
        self.call(Request("POST", f"/v1/tenants/{self.tenant_id}/requests", "tenant_admin",
                          {"learner_id": learner_id, "type": "restriction"}, expect=201))
        if seen:
            self.call(Request("GET", f"{self.learners}/{learner_id}", "tenant_staff", expect=409))
        return learner_id

    def new_hold(self, listed: bool = False) -> str:
        """A hold on a new learner (``listed``: this container then listed the tenant's holds, as a console does)."""
        created = self.call(Request("POST", f"/v1/tenants/{self.tenant_id}/legal-holds", "platform_admin",
                                    {"reason": "bench", "category": "other", "learner_id": self.new_learner()},
                                    expect=201))
        if listed:
            self.call(Request("GET", f"/v1/tenants/{self.tenant_id}/legal-holds", "platform_admin"))
        return str(created["hold_id"])

    def other_tenant(self) -> str:
        """A tenant of its own (offboarding one must not touch the benchmark's tenant)."""
        created = self.call(Request("POST", "/v1/tenants", "platform_admin",
                                    {"name": "Leaving School", "kind": "school", "jurisdiction": JURISDICTION},
                                    expect=201))
        return str(created["tenant_id"])

    def new_import(self) -> str:
        """An import awaiting its upload."""
        created = self.call(Request("POST", f"/v1/tenants/{self.tenant_id}/imports", "tenant_admin",
                                    {"kind": "learners"}, expect=201))
        return str(created["import_id"])

    def new_incident(self) -> str:
        created = self.call(Request("POST", "/v1/incidents", "platform_admin", {
            "discovered_at": datetime.now(UTC).isoformat(), "tenant_ids": [self.tenant_id], "summary": "bench"},
            expect=201))
        return str(created["incident_id"])


def _scenarios() -> list[Scenario]:
    def tenant(h: Harness) -> str:
        return f"/v1/tenants/{h.tenant_id}"

    today = datetime.now(UTC).date()
    return [
        Scenario("GET", "/v1/health", "platform", lambda h: Request("GET", "/v1/health", "platform_admin")),
        Scenario("GET", "/v1/openapi.json", "platform", lambda h: Request("GET", "/v1/openapi.json", "platform_admin")),
        Scenario("GET", "/v1/jurisdictions", "platform",
                 lambda h: Request("GET", "/v1/jurisdictions", "tenant_staff")),
        Scenario("GET", "/v1/jurisdictions/{code}", "platform",
                 lambda h: Request("GET", "/v1/jurisdictions/UK", "tenant_staff")),
        Scenario("POST", "/v1/tenants", "onboarding", lambda h: Request(
            "POST", "/v1/tenants", "platform_admin", {"name": "Other School", "kind": "school", "jurisdiction": "UK"},
            expect=201),
            why="a new tenant needs a new key, and only KMS makes one (GenerateDataKey: the plaintext never leaves "
                "unwrapped); the key and its audit event are one transaction in the home region, and the directory "
                "entry is in the directory region's table, which no transaction can span (written last: no "
                "tenant is reachable without its key)"),
        Scenario("GET", "/v1/tenants/{tenant_id}", "directory",
                 lambda h: Request("GET", tenant(h), "tenant_admin")),
        Scenario("DELETE", "/v1/tenants/{tenant_id} (request offboarding)", "batch", lambda h: Request(
            "DELETE", f"/v1/tenants/{h.other_tenant()}", "platform_admin", expect=202)),
        Scenario("GET", "/v1/tenants", "batch", lambda h: Request("GET", "/v1/tenants?limit=50", "regional_admin")),
        Scenario("GET", "/v1/tenants/{tenant_id}/learners (paged list)", "read", lambda h: Request(
            "GET", f"{h.learners}?limit=50", "tenant_staff")),
        Scenario("POST", "/v1/tenants/{tenant_id}/learners", "write",
                 lambda h: Request("POST", h.learners, "tenant_staff", LEARNER, expect=201)),
        Scenario("POST", "/v1/tenants/{tenant_id}/learners (Idempotency-Key)", "write", lambda h: Request(
            "POST", h.learners, "tenant_staff", LEARNER, {"Idempotency-Key": os.urandom(8).hex()}, expect=201)),
        Scenario("GET", "/v1/tenants/{tenant_id}/learners/{learner_id}", "read",
                 lambda h: Request("GET", f"{h.learners}/{h.new_learner()}", "tenant_staff")),
        Scenario("GET", "/v1/tenants/{tenant_id}/learners (?email=, withdrawn: 410)", "directory", lambda h: Request(
            "GET", f"{h.learners}?email=find%40example.org", "tenant_staff", expect=410)),
        Scenario("POST", "/v1/tenants/{tenant_id}/learners/search", "search", lambda h: Request(
            "POST", f"{h.learners}/search", "tenant_staff", {"email": _unique_email(h)}),
            why="a search looks up a blind index, then reads what it points to: the index is eventually "
                "consistent, and a lagging copy could still show an erased learner (whose key a cache here "
                "could open) or a superseded e-mail, so the profiles and keys are read consistently (one "
                "BatchGetItem for every match)"),
        Scenario("PATCH", "/v1/tenants/{tenant_id}/learners/{learner_id}", "write", lambda h: Request(
            "PATCH", f"{h.learners}/{h.seen_learner()}", "tenant_admin", {"programme": "Year 10"})),
        Scenario("PATCH", f"/v1/tenants/{{tenant_id}}/learners/{{learner_id}}{NOT_CACHED}", "write-cold",
                 lambda h: Request("PATCH", f"{h.learners}/{h.new_learner()}", "tenant_admin",
                                   {"programme": "Year 10"})),
        Scenario("DELETE", "/v1/tenants/{tenant_id}/learners/{learner_id}", "write",
                 lambda h: Request("DELETE", f"{h.learners}/{h.seen_learner()}", "tenant_admin")),
        Scenario("DELETE", f"/v1/tenants/{{tenant_id}}/learners/{{learner_id}}{NOT_CACHED}", "write-cold",
                 lambda h: Request("DELETE", f"{h.learners}/{h.new_learner()}", "tenant_admin")),
        Scenario("POST", "/v1/tenants/{tenant_id}/learners/{learner_id}/results", "write",
                 lambda h: Request("POST", f"{h.learners}/{h.seen_learner()}/results", "tenant_staff", RESULT,
                                   expect=201)),
        Scenario("POST", f"/v1/tenants/{{tenant_id}}/learners/{{learner_id}}/results{NOT_CACHED}", "write-cold",
                 lambda h: Request("POST", f"{h.learners}/{h.new_learner()}/results", "tenant_staff", RESULT,
                                   expect=201)),
        Scenario("GET", "/v1/tenants/{tenant_id}/learners/{learner_id}/results", "read",
                 lambda h: Request("GET", f"{h.learners}/{h.new_learner_with_result()}/results", "tenant_staff")),
        Scenario("POST", "/v1/tenants/{tenant_id}/learners/{learner_id}/consents", "write", lambda h: Request(
            "POST", f"{h.learners}/{h.seen_learner()}/consents", "tenant_staff",
            {"purpose": "analytics", "decision": "granted", "given_by": "learner"}, expect=201)),
        Scenario("POST", f"/v1/tenants/{{tenant_id}}/learners/{{learner_id}}/consents{NOT_CACHED}", "write-cold",
                 lambda h: Request("POST", f"{h.learners}/{h.new_learner()}/consents", "tenant_staff",
                                   {"purpose": "analytics", "decision": "granted", "given_by": "learner"},
                                   expect=201),
                 why="the consent age needs the decrypted date of birth before the decision is written: one read "
                     "of profile and key (the decisions so far are summarised on the profile, which the "
                     "transaction conditions on: the coverage counts move from the decision really in force)"),
        Scenario("GET", "/v1/tenants/{tenant_id}/learners/{learner_id}/consents", "read",
                 lambda h: Request("GET", f"{h.learners}/{h.new_consenting_learner()}/consents", "tenant_staff")),
        Scenario("POST", "/v1/tenants/{tenant_id}/learners/{learner_id}/results/research-share", "read-checked",
                 lambda h: Request("POST", f"{h.learners}/{h.seen(h.new_consenting_learner())}/results/research-share",
                                   "tenant_staff"),
                 why="its audit event is a transaction with a check that the learner still exists, not a bare put: "
                     "the pseudonym is the learner key's, and none may be issued for a learner erased meanwhile "
                     "(the same two round trips as a read)"),
        Scenario("DELETE", "/v1/tenants/{tenant_id}/learners/{learner_id}/restriction", "write", lambda h: Request(
            "DELETE", f"{h.learners}/{h.new_restricted_learner(seen=True)}/restriction", "tenant_admin")),
        Scenario("DELETE", f"/v1/tenants/{{tenant_id}}/learners/{{learner_id}}/restriction{NOT_CACHED}",
                 "write-cold", lambda h: Request(
                     "DELETE", f"{h.learners}/{h.new_restricted_learner()}/restriction", "tenant_admin")),
        Scenario("PUT", "/v1/tenants/{tenant_id}/learners/{learner_id}/departure", "write", lambda h: Request(
            "PUT", f"{h.learners}/{h.new_learner()}/departure", "tenant_admin",
            {"left_on": (today - timedelta(days=30)).isoformat()})),
        Scenario("POST", "/v1/tenants/{tenant_id}/requests", "write", lambda h: Request(
            "POST", f"{tenant(h)}/requests", "tenant_admin", {"learner_id": h.new_learner(), "type": "rectification"},
            expect=201)),
        Scenario("POST", "/v1/tenants/{tenant_id}/requests (access: fulfilled at once)", "package", lambda h: Request(
            "POST", f"{tenant(h)}/requests", "tenant_admin", {"learner_id": h.new_learner_with_result(),
                                                              "type": "access"}, expect=201),
            why="recording an access request is one transaction like any write, but fulfilling it at once builds "
                "the package the law asks for: everything held on the learner (1 query; the key from the "
                "minute's cache), the requests about them (1 query) and every audit event that names them (the "
                "tenant's trail, its pending events sealed first: the audit routes' budget, whose reads are "
                "spread over the audit keys' partitions, one Query each, side by side, so that one tenant's "
                "trail stays under DynamoDB's per-partition caps), sealed into the bucket; the request is then "
                "closed in its own transaction, checking the sealing key still exists"),
        Scenario("GET", "/v1/tenants/{tenant_id}/requests/{request_id}/package", "download",
                 lambda h: Request("GET", f"{tenant(h)}/requests/{h.new_access_request()}/package", "tenant_admin"),
                 why="the package is an object in the bucket, sealed with the learner's key: reading it is the "
                     "read; the request (closed: it never changes) and the wrapped key come from the minute's "
                     "cache of the fulfilment here, and the audit event's transaction checks the key item still "
                     "exists, so an erasure elsewhere still shreds the package"),
        Scenario("GET", "/v1/tenants/{tenant_id}/requests/{request_id}", "read",
                 lambda h: Request("GET", f"{tenant(h)}/requests/{h.new_request()}", "tenant_admin")),
        Scenario("POST", "/v1/tenants/{tenant_id}/requests/{request_id}/fulfil", "write",
                 lambda h: Request("POST", f"{tenant(h)}/requests/{h.new_request(rectified=True)}/fulfil",
                                   "tenant_admin", {})),
        Scenario("GET", "/v1/requests", "batch",
                 lambda h: Request("GET", "/v1/requests?overdue=true", "regional_admin")),
        Scenario("GET", "/v1/tenants/{tenant_id}/requests", "named-list",
                 lambda h: Request("GET", f"{tenant(h)}/requests?limit=50", "tenant_admin"),
                 why="the page is of requests, but the tenant's own users see each learner's name, which is in "
                     "the learner's profile, encrypted with the learner's key: one BatchGetItem over the data "
                     "and key tables for the page's learners"),
        Scenario("POST", "/v1/tenants/{tenant_id}/requests/{request_id}/pause", "write-cold",
                 lambda h: Request("POST", f"{tenant(h)}/requests/{h.new_request()}/pause", "tenant_admin",
                                   {"reason": "identity"})),
        Scenario("POST", "/v1/tenants/{tenant_id}/requests/{request_id}/resume", "write-cold",
                 lambda h: Request("POST", f"{tenant(h)}/requests/{h.new_paused_request()}/resume", "tenant_admin")),
        Scenario("GET", "/v1/tenants/{tenant_id}/obligations", "read",
                 lambda h: Request("GET", f"{tenant(h)}/obligations", "tenant_admin")),
        Scenario("POST", "/v1/tenants/{tenant_id}/obligations/{key}/evidence", "write-cold",
                 lambda h: Request("POST", f"{tenant(h)}/obligations/uk-breach-log/evidence", "tenant_admin",
                                   {"evidenced_on": today.isoformat()}, expect=201)),
        Scenario("GET", "/v1/tenants/{tenant_id}/consents/coverage", "batch",
                 lambda h: Request("GET", f"{tenant(h)}/consents/coverage", "compliance_officer")),
        Scenario("POST", "/v1/tenants/{tenant_id}/legal-holds", "write", lambda h: Request(
            "POST", f"{tenant(h)}/legal-holds", "platform_admin",
            {"reason": "bench", "category": "other", "learner_id": h.new_learner()}, expect=201)),
        Scenario("GET", "/v1/tenants/{tenant_id}/legal-holds", "read",
                 lambda h: Request("GET", f"{tenant(h)}/legal-holds", "platform_admin")),
        Scenario("DELETE", "/v1/tenants/{tenant_id}/legal-holds/{hold_id}", "write",
                 lambda h: Request("DELETE", f"{tenant(h)}/legal-holds/{h.new_hold(listed=True)}", "platform_admin")),
        Scenario("DELETE", f"/v1/tenants/{{tenant_id}}/legal-holds/{{hold_id}}{NOT_CACHED}", "write-cold",
                 lambda h: Request("DELETE", f"{tenant(h)}/legal-holds/{h.new_hold()}", "platform_admin")),
        Scenario("POST", "/v1/retention/sweep", "batch",
                 lambda h: Request("POST", "/v1/retention/sweep?dry_run=true", "platform_admin")),
        Scenario("POST", "/v1/tenants/{tenant_id}/keys/rotate", "batch",
                 lambda h: Request("POST", f"{tenant(h)}/keys/rotate", "platform_admin")),
        Scenario("POST", "/v1/incidents", "batch", lambda h: Request(
            "POST", "/v1/incidents", "platform_admin",
            {"discovered_at": datetime.now(UTC).isoformat(), "tenant_ids": [h.tenant_id], "summary": "bench"},
            expect=201)),
        Scenario("POST", "/v1/incidents (Idempotency-Key)", "batch", lambda h: Request(
            "POST", "/v1/incidents", "platform_admin",
            {"discovered_at": datetime.now(UTC).isoformat(), "tenant_ids": [h.tenant_id], "summary": "bench"},
            {"Idempotency-Key": os.urandom(8).hex()}, expect=201)),
        Scenario("GET", "/v1/incidents", "batch",
                 lambda h: Request("GET", "/v1/incidents?limit=50", "platform_admin")),
        Scenario("GET", "/v1/incidents/{incident_id}", "read",
                 lambda h: Request("GET", f"/v1/incidents/{h.new_incident()}", "platform_admin"),
                 why="a read, not a directory entry: who looked at a breach record is evidence, so the read is "
                     "audited in the trail of each tenant it names (one tenant here: one event put)"),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit", "audit",
                 lambda h: Request("GET", f"{tenant(h)}/audit", "compliance_officer")),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit/events", "audit",
                 lambda h: Request("GET", f"{tenant(h)}/audit/events?action=learner.read&limit=50",
                                   "compliance_officer")),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit/verify", "audit",
                 lambda h: Request("GET", f"{tenant(h)}/audit/verify", "compliance_officer")),
        Scenario("POST", "/v1/tenants/{tenant_id}/audit/exports", "audit",
                 lambda h: Request("POST", f"{tenant(h)}/audit/exports", "compliance_officer", {}, expect=201)),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit/proof", "audit",
                 lambda h: Request("GET", f"{tenant(h)}/audit/proof?seq=1", "compliance_officer")),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit/consistency", "audit",
                 lambda h: Request("GET", f"{tenant(h)}/audit/consistency?from=1", "compliance_officer")),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit/heads", "audit",
                 lambda h: Request("GET", f"{tenant(h)}/audit/heads", "compliance_officer")),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit/status", "batch",
                 lambda h: Request("GET", f"{tenant(h)}/audit/status", "compliance_officer")),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit/stream", "audit",
                 lambda h: Request("GET", f"{tenant(h)}/audit/stream", "compliance_officer")),
        Scenario("PUT", "/v1/tenants/{tenant_id}/audit/stream", "config",
                 lambda h: Request("PUT", f"{tenant(h)}/audit/stream", "compliance_officer", {"enabled": False}),
                 why="the answer shows where delivery stands (the cursor the sequencer moves, not this switch): "
                     "read after the switch's transaction, which returns nothing"),
        Scenario("GET", "/v1/tenants/{tenant_id}/audit/activity", "batch",
                 lambda h: Request("GET", f"{tenant(h)}/audit/activity", "compliance_officer")),
        Scenario("GET", "/v1/audit/keys", "batch", lambda h: Request("GET", "/v1/audit/keys", "tenant_staff")),
        Scenario("GET", "/v1/me/notifications", "batch",
                 lambda h: Request("GET", "/v1/me/notifications", "compliance_officer")),
        Scenario("PUT", "/v1/me/notifications", "batch", lambda h: Request(
            "PUT", "/v1/me/notifications", "compliance_officer", {"alerts": {"request.due_soon": {"email": True}}})),
        Scenario("GET", "/v1/me/inbox", "batch", lambda h: Request("GET", "/v1/me/inbox", "compliance_officer")),
        Scenario("GET", "/v1/me/inbox/unread", "batch",
                 lambda h: Request("GET", "/v1/me/inbox/unread", "compliance_officer")),
        Scenario("POST", "/v1/me/inbox/read (no such item)", "batch", lambda h: Request(
            "POST", "/v1/me/inbox/read", "compliance_officer", {"ids": ["SSMyMDI2LTAxLTAxI2Fscl9ub25l"]}, expect=404)),
        Scenario("POST", "/v1/tenants/{tenant_id}/webhooks", "config",
                 lambda h: Request("POST", _fresh_webhooks(h), "tenant_admin", WEBHOOK, expect=201),
                 why="a tenant has at most a few endpoints, counted (one query) before the write; the signing "
                     "secret is sealed with a data key of its own from KMS, bound to tenant and endpoint "
                     "(GenerateDataKey: a leaked table alone opens no secret)"),
        Scenario("GET", "/v1/tenants/{tenant_id}/webhooks", "read",
                 lambda h: Request("GET", f"{tenant(h)}/webhooks", "tenant_admin")),
        Scenario("GET", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}", "read",
                 lambda h: Request("GET", _new_webhook(h), "tenant_admin")),
        Scenario("DELETE", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}", "write",
                 lambda h: Request("DELETE", _new_webhook(h), "tenant_admin")),
        Scenario("POST", "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/rotate", "config",
                 lambda h: Request("POST", _new_webhook(h) + "/rotate", "tenant_admin"),
                 why="the current secret keeps signing beside the new one through the overlap, so the endpoint "
                     "is read first (one GetItem); the new secret gets its own KMS data key, as at creation"),
        Scenario("GET", "/v1/tenants/{tenant_id}/webhook-dead-letters", "read",
                 lambda h: Request("GET", f"{tenant(h)}/webhook-dead-letters", "tenant_admin")),
        Scenario("POST", "/v1/tenants/{tenant_id}/webhook-dead-letters/{delivery_id}/replay", "write",
                 lambda h: Request("POST", f"{tenant(h)}/webhook-dead-letters/msg_{'0' * 32}/replay", "tenant_admin",
                                   expect=404)),
        Scenario("POST", "/v1/tenants/{tenant_id}/imports", "write",
                 lambda h: Request("POST", f"{tenant(h)}/imports", "tenant_admin", {"kind": "learners"}, expect=201)),
        Scenario("GET", "/v1/tenants/{tenant_id}/imports/{import_id}", "read",
                 lambda h: Request("GET", f"{tenant(h)}/imports/{h.new_import()}", "tenant_admin")),
    ]


WEBHOOK = {"url": "https://hooks.bench.example/enclave", "event_types": ["request.created", "request.fulfilled"]}


def _fresh_webhooks(h: Harness) -> str:
    """The bench tenant's webhooks path, with room for one more endpoint (the older ones removed)."""
    path = f"/v1/tenants/{h.tenant_id}/webhooks"
    for hook in h.call(Request("GET", path, "tenant_admin"))["webhooks"]:
        h.call(Request("DELETE", f"{path}/{hook['webhook_id']}", "tenant_admin"))
    return path


def _new_webhook(h: Harness) -> str:
    """A freshly registered endpoint's path."""
    path = _fresh_webhooks(h)
    created = h.call(Request("POST", path, "tenant_admin", WEBHOOK, expect=201))
    return f"{path}/{created['webhook_id']}"


def _unique_email(h: Harness) -> str:
    """A learner with an e-mail of its own, so the look-up finds exactly one."""
    email = f"find.{os.urandom(4).hex()}@example.org"
    h.call(Request("POST", h.learners, "tenant_staff", {**LEARNER, "email": email}, expect=201))
    return email


def _route_key(method: str, path: str) -> tuple[str, str]:
    return method, path.split(" (", maxsplit=1)[0].split("?", maxsplit=1)[0]


GOALS = {
    "write": "1 DynamoDB call (change + audit event), 0 KMS",
    "write-cold": "what the write needs read (key, profile, hold) + 1 transaction (change + audit event), 0 KMS",
    "read": "1 read + 1 audit event put (a PutItem: no transaction, no head), 0 KMS",
    "named-list": "1 page query + 1 BatchGetItem (the listed learners' profiles and keys: their names) + 1 audit "
                  "event put, 0 KMS",
    "package": "1 transaction (the request) + the package's reads: the learner's items and the requests about "
               "them (<= 2 data-table queries) and every audit event naming them (the audit routes' reads: the "
               "pending markers' partitions, what is pending sealed first in <= 1 transaction, then the event "
               "shards over the trail) + 1 S3 put + 1 transaction (closed), 0 KMS",
    "download": "1 S3 GetObject (the sealed package) + 1 transaction (the audit event and a check that the "
                "learner's key still exists), 0 KMS",
    "search": "1 index query + 1 consistent read of what it found + 1 audit event put, 0 KMS",
    "read-checked": "1 read + 1 transaction (the audit event and a check on what was read), 0 KMS",
    "directory": "<= 1 DynamoDB call, 0 KMS (directory entry: no personal data, no audit event)",
    "onboarding": "1 transaction in the home region (tenant key + audit event) + 1 directory put + 1 KMS "
                  "GenerateDataKey",
    "audit": "chain reads + sealing what is pending (<= 1 transaction here) + 1 audit event put; <= 1 KMS Sign "
             "(the signed checkpoint an export carries)",
    "config": "<= 1 read of the setting + 1 transaction (change + audit event); <= 1 KMS GenerateDataKey (a new "
              "secret's own data key)",
    "batch": "none: proportional to what it scans (admin operation)",
    "platform": "0 AWS calls",
}


@dataclass(frozen=True)
class Tally:
    """One request's calls, summed the ways the goals need."""

    counts: Counter[tuple[str, str]]
    details: Counter[str] = field(default_factory=Counter)  # DynamoDB calls described with their table

    @property
    def data_queries(self) -> int:
        """Queries of the personal-data table (not of the audit table or the keys)."""
        return sum(n for detail, n in self.details.items() if detail.startswith("Query(data "))

    def __getitem__(self, name: str) -> int:
        """``t["PutItem"]``: DynamoDB calls of that operation; ``t["s3.GetObject"]``: another service's."""
        service, _, operation = name.rpartition(".")
        return self.counts[(service or "dynamodb", operation)]

    def _sum(self, service: str, operations: set[str] | None = None) -> int:
        return sum(n for (s, op), n in self.counts.items() if s == service and (operations is None or op in operations))

    @property
    def reads(self) -> int:
        return self._sum("dynamodb", DYNAMO_READS)

    @property
    def writes(self) -> int:
        return self._sum("dynamodb", DYNAMO_WRITES)

    @property
    def kms(self) -> int:
        return self._sum("kms")

    @property
    def other(self) -> int:
        return sum(self.counts.values()) - self.reads - self.writes - self.kms


MET: dict[str, Callable[[Tally], bool]] = {
    "write": lambda t: t.reads + t.writes == 1 and t.kms == 0 and not t.other,
    "write-cold": lambda t: t.reads <= 1 and t.writes == t["TransactWriteItems"] == 1 and t.kms == 0 and not t.other,
    "read": lambda t: t.reads <= 1 and t.writes == t["PutItem"] == 1 and t.kms == 0 and not t.other,
    "onboarding": lambda t: (t.reads == 0 and t["TransactWriteItems"] == t["PutItem"] == 1 and t.writes == 2
                             and t["kms.GenerateDataKey"] == t.kms == 1 and not t.other),
    "named-list": lambda t: (t["Query"] == 1 and t["BatchGetItem"] <= 1 and t.reads <= 2
                             and t.writes == t["PutItem"] == 1 and t.kms == 0 and not t.other),
    "package": lambda t: (t.reads == t["Query"] and t.data_queries <= 2 and 2 <= t["TransactWriteItems"] <= 3
                          and t.writes == t["TransactWriteItems"] and t.kms == 0
                          and t.other == t["s3.PutObject"] == 1),
    "download": lambda t: (t.reads == 0 and t.writes == t["TransactWriteItems"] == 1 and t.kms == 0
                           and t.other == t["s3.GetObject"] == 1),
    "search": lambda t: t.reads <= 2 and t.writes == t["PutItem"] == 1 and t.kms == 0 and not t.other,
    "read-checked": lambda t: t.reads <= 1 and t.writes == t["TransactWriteItems"] == 1 and t.kms == 0 and not t.other,
    "directory": lambda t: t.reads + t.writes <= 1 and t.kms == 0 and not t.other,
    "config": lambda t: (t.reads <= 1 and t.writes == t["TransactWriteItems"] == 1
                         and t.kms == t["kms.GenerateDataKey"] <= 1 and not t.other),
    # PutItems: the request's own event, and the signed checkpoint when it writes one
    "audit": lambda t: 1 <= t["PutItem"] <= 2 and t["TransactWriteItems"] <= 1 and t.kms <= t["kms.Sign"] <= 1,
    "platform": lambda t: sum(t.counts.values()) == 0,
}


def _goal(kind: str, counts: Counter[tuple[str, str]], details: Counter[str] | None = None) -> tuple[str, str]:
    """(goal, verdict) for a request of ``kind`` that made ``counts`` calls (``details``: its DynamoDB calls)."""
    if kind == "batch":
        return GOALS[kind], "n/a"
    return GOALS[kind], "met" if MET[kind](Tally(counts, details or Counter())) else "MISSED"


@contextmanager
def _deployment() -> Iterator[Harness]:
    """The eu-west-2 deployment on a freshly provisioned in-process emulator."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("ENCLAVE_REGION", REGION)
    import moto
    import moto.cognitoidp

    from chalicelib.adapters.cognito_jwt import StaticKeySource
    from chalicelib.adapters.policy_files import load_jurisdictions
    from chalicelib.composition import Container
    from chalicelib.settings import PROJECT_ROOT
    from devtools.provision import provision

    importlib.import_module("devtools.emulator").install()  # the faithful emulator (one module for all)
    saved = {name: os.environ.pop(name, None) for name in ("AWS_ENDPOINT_URL",)}
    try:
        with moto.mock_aws():
            setup = AwsClients()
            jurisdictions = load_jurisdictions(PROJECT_ROOT / "policies" / "jurisdictions")
            provisioned = provision(setup, Settings(region=DIRECTORY_REGION, directory_region=DIRECTORY_REGION),
                                    jurisdictions, (REGION,))
            settings = Settings(stage="bench", region=REGION, directory_region=DIRECTORY_REGION,
                                endpoints={r: f"https://{r}.enclave.test" for r in REGIONS},
                                cognito_pools=provisioned.cognito_pools)
            jwks_file = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-public.json.gz"
            with gzip.open(jwks_file, "rt") as handle:
                keys = StaticKeySource(json.load(handle))
            clients = CountingClients()
            container = Container(settings, clients=clients, key_source=keys, jurisdictions=jurisdictions)
            yield Harness(settings, clients, setup, provisioned.cognito_pools, container)
    finally:
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value


def _sustained(harness: Harness, reads: int = 200) -> dict[str, object]:
    """``reads`` warm learner reads in a row: the signed checkpoints every ``checkpoint_every`` events show."""
    path = f"{harness.learners}/{harness.new_learner()}"
    harness.call(Request("GET", path, "tenant_staff"))
    harness.clients.clear()
    for _ in range(reads):
        harness.call(Request("GET", path, "tenant_staff"))
    counts = Counter(harness.clients.calls)
    kms = sum(n for (s, _), n in counts.items() if s == "kms")
    dynamodb = sum(n for (s, _), n in counts.items() if s == "dynamodb")
    return {"route": f"GET /v1/tenants/{{tenant_id}}/learners/{{learner_id}} x{reads} in a row", "kind": "sustained",
            "dynamodb": dynamodb, "kms": kms, "s3": 0, "calls": _format_calls(counts),
            "goal": f"per read: 2 DynamoDB, 0 KMS (plus a signed checkpoint every "
                    f"{harness.settings.checkpoint_every} events)",
            "verdict": f"{dynamodb / reads:.2f} DynamoDB and {kms / reads:.3f} KMS calls per read"}


def _format_calls(counts: Counter[tuple[str, str]]) -> str:
    names = {"dynamodb": "ddb", "kms": "kms", "s3": "s3"}
    return ", ".join(f"{names.get(s, s)}.{op}" + (f" x{n}" if n > 1 else "") for (s, op), n in sorted(counts.items())
                     ) or "-"


def run() -> list[dict[str, object]]:
    """One row per route: the warm request's calls by service, the goal for its kind, met or missed."""
    rows: list[dict[str, object]] = []
    with _deployment() as harness:
        routes = {(spec.method, spec.path) for spec in harness.specs}
        covered: set[tuple[str, str]] = set()
        for scenario in _scenarios():
            key = _route_key(scenario.method, scenario.path)
            if key not in routes:
                continue  # a route of another version of the API
            covered.add(key)
            try:
                harness.call(scenario.make(harness))  # the first of its kind
                request = scenario.make(harness)  # set-up calls of the second happen here, uncounted
                harness.clients.clear()
                harness.call(request)
            except Exception as exc:  # a scenario out of date with its route: say so, keep the table
                rows.append({"route": f"{scenario.method} {scenario.path}", "kind": scenario.kind,
                             "dynamodb": "", "kms": "", "s3": "", "calls": f"scenario failed: {exc}"[:160],
                             "goal": "", "verdict": "not measured"})
                continue
            counts = Counter(harness.clients.calls)
            details = Counter(d for (service, _), d in zip(harness.clients.calls, harness.clients.details,
                                                           strict=True) if service == "dynamodb")
            goal, verdict = _goal(scenario.kind, counts, details)
            if scenario.why:
                goal += f"; why: {scenario.why}"
            rows.append({
                "route": f"{scenario.method} {scenario.path}", "kind": scenario.kind,
                "dynamodb": sum(n for (s, _), n in counts.items() if s == "dynamodb"),
                "kms": sum(n for (s, _), n in counts.items() if s == "kms"),
                "s3": sum(n for (s, _), n in counts.items() if s == "s3"),
                "calls": _format_calls(counts), "goal": goal, "verdict": verdict,
                "dynamodb_detail": ", ".join(d + (f" x{n}" if n > 1 else "") for d, n in details.items()),
            })
        for method, path in sorted(routes - covered):
            rows.append({"route": f"{method} {path}", "kind": "?", "dynamodb": "", "kms": "", "s3": "",
                         "calls": "no scenario in bench_calls", "goal": "", "verdict": "not measured"})
        rows.append(_sustained(harness))
    return rows


if __name__ == "__main__":
    from bench.common import markdown_table

    print(markdown_table(run()))
