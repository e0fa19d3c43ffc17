"""The tenant's learner list with names: one page of profiles, decrypted for the tenant's own users.

A page is read in two round trips (the profile items with their envelopes, then one BatchGetItem of
the learners' wrapped keys); each live, unrestricted learner's profile is opened with its own key
(tag checked, as a read does) and only the two names are answered. A learner whose processing is
restricted is listed by status only (a restriction allows storage, not use); an erased one by its
tombstone. The names are sorted within the page (family name, then given name) unless the caller
asks for enrolment order; the service audits the page once, naming the learners shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.adapters.data_store import wrapped_learner_key
from chalicelib.domain.crypto import LearnerKey, WrappedLearnerKey
from chalicelib.domain.errors import BadRequest, IntegrityError
from chalicelib.domain.learners import name_key

STATUSES = ("active", "restricted", "erased")
SORTS = ("family_name", "enrolled")


def list_options(query: Mapping[str, str]) -> tuple[str | None, str]:
    """``status`` (active, restricted, erased; default all) and ``sort`` (family_name, enrolled)."""
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    sort = query.get("sort") or "family_name"
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}")
    return status, sort


def with_names(tenant_id: str, listed: list[dict[str, Any]], items: list[dict[str, Any]],
               key_items: dict[str, dict[str, Any]], unwrap: Callable[[WrappedLearnerKey], LearnerKey],
               open_profile: Callable[[LearnerKey, dict[str, Any]], Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``listed`` (the page's views, in order) with ``given_name``/``family_name`` of each active learner."""
    named = []
    for view, item in zip(listed, items, strict=True):
        key_item = key_items.get(view["learner_id"])
        if view["status"] != "active" or key_item is None or "fields" not in item:
            named.append(view)
            continue
        key = unwrap(wrapped_learner_key(tenant_id, view["learner_id"], key_item))
        try:
            plain = open_profile(key, item)
        except IntegrityError:
            named.append({**view, "integrity_error": True})
            continue
        named.append({**view, "given_name": plain["given_name"], "family_name": plain["family_name"]})
    return named


def sorted_page(items: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """The page in the order asked: by family then given name (learners without names last), or as read."""
    if sort == "enrolled":
        return items
    return sorted(items, key=lambda v: ("family_name" not in v, name_key(str(v.get("family_name", ""))),
                                        name_key(str(v.get("given_name", ""))), v["learner_id"]))


def names_of(tenant_id: str, profiles: dict[str, dict[str, Any]], key_items: dict[str, dict[str, Any]],
             unwrap: Callable[[WrappedLearnerKey], LearnerKey],
             open_profile: Callable[[LearnerKey, dict[str, Any]], Mapping[str, Any]]) -> dict[str, str]:
    """``{learner_id: "Given Family"}`` of the active learners among ``profiles`` (others left out)."""
    names: dict[str, str] = {}
    for learner_id, item in profiles.items():
        key_item = key_items.get(learner_id)
        if key_item is None or "erased_at" in item or "restricted_at" in item:
            continue
        try:
            plain = open_profile(unwrap(wrapped_learner_key(tenant_id, learner_id, key_item)), item)
        except IntegrityError:
            continue
        names[learner_id] = f"{plain['given_name']} {plain['family_name']}"
    return names
