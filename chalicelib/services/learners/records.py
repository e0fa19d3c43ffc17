"""A learner's stored items as the API shows them: profiles opened, results decrypted, list rows, and the
rectifications a profile remembers (for ``services/learners/service.py`` and the services built on it)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.data_store import envelopes_of
from chalicelib.domain.crypto import LearnerKey, PlainFields
from chalicelib.domain.learners import result_view

PROFILE = "learner"


def open_profile(key: LearnerKey, profile: dict[str, Any]) -> PlainFields:
    """The decrypted profile, after checking its tag binds these fields to its version.

    Profiles written before the tag existed have none: they still open (their v1 field envelopes are
    unchanged) and get a tag on their next write."""
    envelopes = envelopes_of(profile)
    if "tag" in profile:
        key.check_record_tag(PROFILE, int(profile["version"]["N"]), envelopes, profile["tag"]["S"])
    return key.cipher.decrypt_record(PROFILE, envelopes)


def oldest_first(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Result views in the order they were taken (then recorded)."""
    return sorted(results, key=lambda r: (r["taken_on"], r["recorded_at"]))


def decrypted_result(key: LearnerKey, item: dict[str, Any]) -> dict[str, Any]:
    """A result item decrypted with the learner's key."""
    result_id = item["sk"]["S"].rsplit("#", 1)[-1]  # the record type comes from the key, never an attribute
    plain = key.cipher.decrypt_record(f"result:{result_id}", envelopes_of(item))
    return result_view(result_id, dict(plain), item["recorded_at"]["S"])


def listed_learner(item: dict[str, Any]) -> dict[str, Any]:
    """A profile item as the paged list shows it: ``status`` is active, restricted or erased."""
    learner_id = item["sk"]["S"].split("#")[1]
    if "erased_at" in item:
        return {"learner_id": learner_id, "status": "erased", "erased_at": item["erased_at"]["S"]}
    view = {"learner_id": learner_id, "status": "restricted" if "restricted_at" in item else "active",
            "created_at": item["created_at"]["S"], "updated_at": item["updated_at"]["S"]}
    return view


RECTIFICATIONS_KEPT = 50
"""How many rectifications a profile remembers (version and time): a request's evidence needs those since
its receipt; longer histories are in the audit trail."""


def rectifications_of(profile: dict[str, Any]) -> list[tuple[int, str]] | None:
    """The (version, time) of each rectification the profile remembers, oldest first; None for a profile
    written before it remembered them."""
    if "rectifications" not in profile:
        return None
    return [(int(version), str(at)) for version, at in json.loads(profile["rectifications"]["S"])]


def rectified(profile: dict[str, Any], version: int, at: str) -> list[tuple[int, str]] | None:
    """The profile's rectifications with this one added (None while it predates the list: unknown history)."""
    known = rectifications_of(profile)
    if known is None and int(profile["version"]["N"]) > 1:
        return None
    return [*(known or []), (version, at)][-RECTIFICATIONS_KEPT:]


def meta_of(profile: dict[str, Any]) -> dict[str, Any]:
    return {"version": int(profile["version"]["N"]), "created_at": profile["created_at"]["S"],
            "updated_at": profile["updated_at"]["S"]}


def learner_view(learner_id: str, plain: PlainFields | dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    return {"learner_id": learner_id, **plain, **meta}
