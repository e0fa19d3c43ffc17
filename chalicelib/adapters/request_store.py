"""Data-subject requests in the jurisdiction's personal-data table, and the restriction mark on a profile.

Items (``pk`` = ``TENANT#<tenant_id>``):
- ``Q#<request_id>``: the request as JSON (``doc``: identifiers, dates, outcomes; never a personal
  value) with ``status`` and ``learner_id`` as attributes. Under the tenant, not under the learner
  (``L#<learner_id>#...``), so erasing the learner leaves the request and its evidence in place.
  While open it carries ``lookup_pk`` = ``REQ#<region>`` and ``lookup_sk`` =
  ``<due_at>#<tenant_id>#<request_id>``: the ``by_lookup`` index then lists the region's open
  requests by due date, and only those (closing a request drops both attributes: a sparse index).
  A paused request (its clock stopped) carries ``paused_at`` instead and is out of that index until
  it resumes with its moved due date.

Every write is a transaction item for ``AuditStore.commit``; a request changes only from ``open``.
Tables come from ``DataStore.table``, which refuses regions the jurisdiction forbids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.data_store import DataStore, tenant_pk
from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.requests import DataSubjectRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

PREFIX = "Q#"


def request_sk(request_id: str) -> str:
    return f"{PREFIX}{request_id}"


def region_lookup_pk(region: str) -> str:
    return f"REQ#{region}"


class RequestStore:
    def __init__(self, client: DynamoDBClient, store: DataStore) -> None:
        self._client = client
        self._store = store

    def put(self, request: DataSubjectRequest, *, new: bool, was_paused: bool | None = None,
            expected_doc: str | None = None) -> TransactWriteItemTypeDef:
        """The request's item: a new one, or the replacement of a request that is still open (and, when
        ``was_paused`` is given, was paused, or was not, as read: two pauses or resumes cannot both win;
        ``expected_doc``: is still exactly the document a cached copy was written as)."""
        doc = request.to_json()
        item: dict[str, Any] = {
            "pk": {"S": tenant_pk(request.tenant_id)}, "sk": {"S": request_sk(request.request_id)},
            "record_type": {"S": "request"}, "status": {"S": request.status},
            "learner_id": {"S": request.learner_id},
            "doc": {"S": json.dumps(doc, separators=(",", ":"), sort_keys=True)},
        }
        if request.is_paused:
            item["paused_at"] = {"S": doc["pauses"][-1]["paused_at"]}
        elif request.is_open:
            item["lookup_pk"] = {"S": region_lookup_pk(request.region)}
            item["lookup_sk"] = {"S": f"{doc['due_at']}#{request.tenant_id}#{request.request_id}"}
        put: Any = {"TableName": self._store.table(request.jurisdiction), "Item": item}
        if new:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            paused = {None: "", True: " AND attribute_exists(paused_at)",
                      False: " AND attribute_not_exists(paused_at)"}
            put["ConditionExpression"] = "#s = :open" + paused[was_paused]
            put["ExpressionAttributeNames"] = {"#s": "status"}
            put["ExpressionAttributeValues"] = {":open": {"S": "open"}}
            if expected_doc is not None:
                put["ConditionExpression"] += " AND doc = :doc"
                put["ExpressionAttributeValues"][":doc"] = {"S": expected_doc}
        return {"Put": put}

    def get(self, jurisdiction: str, tenant_id: str, request_id: str) -> DataSubjectRequest | None:
        items = self._tenant_query(jurisdiction, tenant_id, {
            "KeyConditionExpression": "pk = :pk AND sk = :sk",
            "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)}, ":sk": {"S": request_sk(request_id)}},
        })
        found = next(items, None)
        return _request(found) if found else None

    def about_learner(self, jurisdiction: str, tenant_id: str, learner_id: str) -> list[DataSubjectRequest]:
        """Every request (any status) of the tenant about ``learner_id``."""
        items = self._tenant_query(jurisdiction, tenant_id, {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :q)",
            "FilterExpression": "learner_id = :l",
            "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)}, ":q": {"S": PREFIX},
                                          ":l": {"S": learner_id}},
        })
        return [_request(item) for item in items]

    def tenant_page(self, jurisdiction: str, tenant_id: str, after: str | None, limit: int,
                    keep: Callable[[DataSubjectRequest], bool]) -> tuple[list[DataSubjectRequest], str | None]:
        """Up to ``limit`` of the tenant's requests that ``keep`` accepts, after request ``after``, in id order;
        the second value is the last request id when more may follow."""
        low = f"{PREFIX}{after}~" if after else PREFIX
        found: list[DataSubjectRequest] = []
        for item in self._tenant_query(jurisdiction, tenant_id, {
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)}, ":lo": {"S": low},
                                              ":hi": {"S": PREFIX + "~"}}}):
            request = _request(item)
            if keep(request):
                found.append(request)
                if len(found) == limit:
                    return found, request.request_id
        return found, None

    def open_due_by(self, jurisdiction: str, region: str, until: str) -> list[DataSubjectRequest]:
        """Open requests of ``region`` due at or before ``until`` (a ``format_at`` time), earliest first.

        The index is eventually consistent: a request closed a moment ago may still be listed.
        """
        params: dict[str, Any] = {
            "TableName": self._store.table(jurisdiction), "IndexName": "by_lookup",
            "KeyConditionExpression": "lookup_pk = :r AND lookup_sk <= :until",
            "ExpressionAttributeValues": {":r": {"S": region_lookup_pk(region)}, ":until": {"S": until + "#~"}},
        }
        return [_request(item) for item in self._paged(params)]

    def restrict_profile(self, jurisdiction: str, profile: dict[str, Any], restricted_at: str,
                         request_id: str) -> TransactWriteItemTypeDef:
        """The profile item as read, marked restricted; only if it has not changed (or been erased) since."""
        item = {**profile, "restricted_at": {"S": restricted_at}, "restricted_by": {"S": request_id}}
        return {"Put": {
            "TableName": self._store.table(jurisdiction), "Item": item,
            "ConditionExpression": "#v = :v AND attribute_not_exists(erased_at)",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":v": profile["version"]},
        }}

    def _tenant_query(self, jurisdiction: str, tenant_id: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return self._paged({"TableName": self._store.table(jurisdiction), "ConsistentRead": True, **params})

    def _paged(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        start_key: dict[str, Any] | None = None
        while True:
            page_params = {**params, **({"ExclusiveStartKey": start_key} if start_key else {})}
            with translated("the data store"):
                page = self._client.query(**page_params)
            yield from page.get("Items", [])
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return


def _request(item: dict[str, Any]) -> DataSubjectRequest:
    return DataSubjectRequest.from_json(json.loads(item["doc"]["S"]))
