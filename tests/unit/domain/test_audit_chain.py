"""The audit hash chain, its checkpoints, its exports and the streaming verifier (no AWS).

Checkpoints are signed with a local EC P-256 key standing in for the regional KMS key. The
helpers at the top (``chain``, ``manifest_for``, ``write_ndjson``, ``write_csv``, ``TAMPERS``) are
shared with ``tests/unit/cli/test_audit_cli.py``.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import audit
from chalicelib.domain.audit import (
    GENESIS_HASH,
    AuditEventDraft,
    AuditFormatError,
    ChainVerifier,
    ExportTally,
    build_manifest,
    canonical_bytes,
    checkpoint_payload,
    checkpoint_record,
    csv_event,
    csv_header,
    csv_lines,
    csv_row,
    csv_sidecar_path,
    event_hash,
    event_line,
    manifest_line,
    ndjson_lines,
    parse_manifest_document,
    read_csv_events,
    seal,
    verify_chain,
    verify_checkpoint_signature,
)
from chalicelib.domain.audit import canonical as audit_canonical
from chalicelib.domain.audit import verify as audit_verify

TENANT = "tnt_" + "a" * 26
OTHER_TENANT = "tnt_" + "b" * 26
KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER_KEY = ec.generate_private_key(ec.SECP256R1())
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
T0 = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)

Events = list[dict[str, Any]]
Manifest = dict[str, Any]


def pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(key: ec.EllipticCurvePrivateKey, key_id: str, tenant_id: str, seq: int, head_hash: str) -> dict[str, Any]:
    at = audit.format_at(T0 + timedelta(days=1, seconds=seq))
    signature = key.sign(checkpoint_payload(tenant_id, seq, head_hash, at), ec.ECDSA(hashes.SHA256()))
    return checkpoint_record(tenant_id=tenant_id, seq=seq, head_hash=head_hash, at=at, key_id=key_id,
                             signature=signature)


def draft(i: int) -> AuditEventDraft:
    return AuditEventDraft(
        actor_sub=f"user-{i % 3}", actor_role="tenant_admin", action=("learner.read", "learner.write")[i % 2],
        resource=f"tenants/{TENANT}/learners/lrn_{i:026d}", outcome="allowed", request_id=f"req-{i}",
        details={"fields": ["email", "name"], "count": i, "note": 'quote " comma , newline \n tab \t', "ok": True},
    )


def chain(n: int, tenant_id: str = TENANT, start: int = 1, prev_hash: str = GENESIS_HASH) -> Events:
    events: Events = []
    for seq in range(start, start + n):
        event = seal(draft(seq), tenant_id=tenant_id, seq=seq, prev_hash=prev_hash,
                     at=T0 + timedelta(seconds=seq), region="eu-west-2")
        events.append(event)
        prev_hash = event["hash"]
    return events


def manifest_for(events: Events, every: int = 4, key: ec.EllipticCurvePrivateKey = KEY,
                 key_id: str = KEY_ID, tenant_id: str = TENANT) -> Manifest:
    """A manifest with checkpoints at every ``every``-th seq and at the last event."""
    first, last = events[0]["seq"], events[-1]["seq"]
    signed = [e for e in events if e["seq"] % every == 0 or e["seq"] == last]
    return build_manifest(
        tenant_id=tenant_id, from_=events[0]["at"], to=audit.format_at(T0 + timedelta(days=1)),
        events=len(events), first_seq=first, last_seq=last, head_hash=events[-1]["hash"],
        checkpoints=[sign(key, key_id, tenant_id, e["seq"], e["hash"]) for e in signed],
        public_keys={key_id: pem(key)}, anchor_prev_hash=events[0]["prev_hash"] if first > 1 else None,
    )


def write_ndjson(path: Path, events: Events, manifest: Manifest) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.writelines(ndjson_lines(events, manifest))
    return path


def write_csv(path: Path, events: Events, manifest: Manifest) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.writelines(csv_lines(events))
    Path(csv_sidecar_path(str(path))).write_text(manifest_line(manifest), encoding="utf-8")
    return path


def rehash_from(events: Events, index: int) -> None:
    """What a forger with write access does: recompute hashes and links from ``index`` on."""
    for i in range(index, len(events)):
        if i:
            events[i]["prev_hash"] = events[i - 1]["hash"]
        events[i]["hash"] = event_hash(events[i])


# --- tamper kinds: (events, manifest) -> expected first bad seq, and a word of the reason ---------

def _edit(events: Events, manifest: Manifest) -> tuple[int, str]:
    events[4]["details"]["count"] = 999
    return 5, "hash does not match"


def _edit_rehashed(events: Events, manifest: Manifest) -> tuple[int, str]:
    events[5]["outcome"] = "denied"
    rehash_from(events, 5)  # the chain is consistent again; the signed checkpoint at seq 8 is not
    manifest["head_hash"] = events[-1]["hash"]
    return 8, "checkpoint at seq 8 does not match"


def _delete(events: Events, manifest: Manifest) -> tuple[int, str]:
    del events[4]
    return 6, "seq 5 is missing"


def _reorder(events: Events, manifest: Manifest) -> tuple[int, str]:
    events[4], events[5] = events[5], events[4]
    return 6, "seq 5 is missing"


def _insert(events: Events, manifest: Manifest) -> tuple[int, str]:
    forged = seal(draft(77), tenant_id=TENANT, seq=6, prev_hash=events[4]["hash"], at=T0, region="eu-west-2")
    events.insert(5, forged)  # chains onto seq 5 perfectly; the genuine seq 6 then repeats
    return 6, "comes again"


def _wrong_tenant(events: Events, manifest: Manifest) -> tuple[int, str]:
    events[2]["tenant_id"] = OTHER_TENANT
    return 3, "another tenant"


def _cut_tail(events: Events, manifest: Manifest) -> tuple[int, str]:
    del events[-3:]
    return 8, "cut from the end"


def _cut_tail_fixed_manifest(events: Events, manifest: Manifest) -> tuple[int, str]:
    del events[-1]  # and the forger rewrites the counts and drops the last checkpoint
    manifest.update(events=len(events), last_seq=events[-1]["seq"], head_hash=events[-1]["hash"])
    manifest["checkpoints"] = [c for c in manifest["checkpoints"] if c["seq"] <= events[-1]["seq"]]
    return events[-1]["seq"], "no signed checkpoint at the last event"


def _forged_checkpoint(events: Events, manifest: Manifest) -> tuple[int, str]:
    events[-1]["outcome"] = "denied"
    rehash_from(events, len(events) - 1)
    manifest["head_hash"] = events[-1]["hash"]
    manifest["checkpoints"][-1]["head_hash"] = events[-1]["hash"]  # cannot re-sign without the key
    return events[-1]["seq"], "signature does not verify"


def _wrong_key(events: Events, manifest: Manifest) -> tuple[int, str]:
    last = events[-1]
    manifest["checkpoints"][-1] = sign(ATTACKER_KEY, KEY_ID, TENANT, last["seq"], last["hash"])
    return last["seq"], "signature does not verify"


def _unknown_key(events: Events, manifest: Manifest) -> tuple[int, str]:
    last = events[-1]
    manifest["checkpoints"][-1] = sign(KEY, "some-other-key", TENANT, last["seq"], last["hash"])
    return last["seq"], "not in public_keys"


TAMPERS: dict[str, Callable[[Events, Manifest], tuple[int, str]]] = {
    "edit": _edit, "edit_rehashed": _edit_rehashed, "delete": _delete, "reorder": _reorder,
    "insert": _insert, "wrong_tenant": _wrong_tenant, "cut_tail": _cut_tail,
    "cut_tail_fixed_manifest": _cut_tail_fixed_manifest, "forged_checkpoint": _forged_checkpoint,
    "wrong_key": _wrong_key, "unknown_key": _unknown_key,
}


def tampered(kind: str, n: int = 10) -> tuple[Events, Manifest, int, str]:
    events = chain(n)
    manifest = manifest_for(events)
    seq, words = TAMPERS[kind](events, manifest)
    return events, manifest, seq, words


# --- sealing and hashing ------------------------------------------------------------------------

def test_seal_produces_the_exported_shape() -> None:
    event = chain(1)[0]
    assert list(event) == list(audit.EVENT_FIELDS)
    assert event["prev_hash"] == GENESIS_HASH
    assert event["seq"] == 1
    assert event["at"] == "2026-11-25T16:30:01.000000Z"
    assert event["actor"] == {"sub": "user-1", "role": "tenant_admin"}
    body = {k: v for k, v in event.items() if k != "hash"}
    assert event["hash"] == event_hash(event) == __import__("hashlib").sha256(rfc8785.dumps(body)).hexdigest()


def test_format_at_converts_to_utc_and_refuses_naive_times() -> None:
    manila = timezone(timedelta(hours=8))
    assert audit.format_at(datetime(2026, 11, 26, 0, 30, 0, 123456, tzinfo=manila)) == "2026-11-25T16:30:00.123456Z"
    with pytest.raises(AuditFormatError):
        audit.format_at(datetime(2026, 11, 25))


@pytest.mark.parametrize(("change", "kwargs"), [
    ({}, {"seq": 0}),
    ({}, {"prev_hash": "f" * 64}),
    ({}, {"prev_hash": "XYZ"}),
    ({"action": None}, {}),
    ({"details": {"ratio": float("nan")}}, {}),
    ({"details": {"big": 2**60}}, {}),
    ({"details": {"obj": object()}}, {}),
])
def test_seal_refuses_what_cannot_be_chained(change: dict[str, Any], kwargs: dict[str, Any]) -> None:
    params: dict[str, Any] = {"tenant_id": TENANT, "seq": 1, "prev_hash": GENESIS_HASH, "at": T0,
                              "region": "eu-west-2", **kwargs}
    with pytest.raises(AuditFormatError):
        seal(dataclasses.replace(draft(1), **change), **params)


def test_seal_copies_details() -> None:
    details: dict[str, Any] = {"ids": ["a"]}
    event = seal(AuditEventDraft("s", "r", "a", "x", "allowed", "q", details), tenant_id=TENANT, seq=1,
                 prev_hash=GENESIS_HASH, at=T0, region="eu-west-2")
    details["ids"].append("b")
    assert event["details"] == {"ids": ["a"]}
    assert event["hash"] == event_hash(event)


# --- canonical JSON: the fast path writes exactly what rfc8785 writes ----------------------------

_ASCII = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=12)
_ANY_TEXT = st.text(max_size=8)
_SCALARS = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False) | _ASCII | _ANY_TEXT)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_ASCII | _ANY_TEXT, inner, max_size=4), max_leaves=20)
_PLAIN_ASCII = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _ASCII,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ASCII, inner, max_size=5), max_leaves=25)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return rfc8785.CanonicalizationError


def _ours(value: Any, plain: bool | None = None) -> bytes | type[Exception]:
    try:
        return audit_canonical._canonical_bytes(value, plain)
    except rfc8785.CanonicalizationError:
        return rfc8785.CanonicalizationError


@settings(max_examples=800, deadline=None)
@given(_VALUES)
def test_canonical_bytes_equal_rfc8785(value: Any) -> None:
    assert _ours(value) == _reference(value)
    assert _ours({"tenant_id": TENANT, "seq": 3, "details": value}) == _reference(
        {"tenant_id": TENANT, "seq": 3, "details": value})


@settings(max_examples=800, deadline=None)
@given(_PLAIN_ASCII)
def test_fast_path_is_taken_and_equal_for_plain_ascii_values(value: Any) -> None:
    assert audit_canonical._is_plain(value)
    fast = audit_canonical._ENCODER.encode(value)
    assert fast.isascii()
    assert fast.encode() == rfc8785.dumps(value)


@settings(max_examples=600, deadline=None)
@given(_VALUES, st.booleans())
def test_parsed_lines_hash_like_rfc8785(value: Any, ascii_only: bool) -> None:
    """What ``feed_line`` does: parse with the plain-detecting decoder, then canonicalize."""
    try:
        text = json.dumps({"seq": 1, "details": value}, ensure_ascii=ascii_only)
    except ValueError:
        return
    parsed, plain = audit_canonical._parse_json(text)
    assert _ours(parsed, plain) == _reference(parsed)


def test_every_ascii_character_escapes_like_rfc8785() -> None:
    every = "".join(chr(c) for c in range(128))
    assert audit_canonical._ENCODER.encode({every: every}).encode() == rfc8785.dumps({every: every})


def test_utf16_key_order_differs_from_code_point_order_and_is_respected() -> None:
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert canonical_bytes(value) == rfc8785.dumps(value)
    assert canonical_bytes(value).index("\U0001f600".encode()) < canonical_bytes(value).index("\ue000".encode())


def test_non_json_values_are_refused() -> None:
    for value in ({"x": float("inf")}, {"x": 2**53}, {1: "int key"}, {"x": {1, 2}}):
        with pytest.raises((rfc8785.CanonicalizationError, ValueError, TypeError)):
            canonical_bytes(value)


# --- the fast path for lines in the exported form ----------------------------------------------

def _reference_fields(text: str) -> tuple[object, ...] | None:
    """What the spec says of a line: its chain fields and SHA-256 of RFC 8785 of the rest (pure rfc8785)."""
    try:
        event = json.loads(text)
        if type(event) is not dict:
            return None
        claimed = event.pop("hash", None)
        digest = __import__("hashlib").sha256(rfc8785.dumps(event)).hexdigest()
    except (ValueError, rfc8785.CanonicalizationError):
        return None
    return event.get("tenant_id"), event.get("seq"), event.get("prev_hash"), claimed, digest


def test_exported_lines_take_the_fast_path() -> None:
    for line in list(ndjson_lines(chain(5), {}))[:-1]:
        fast = audit.fast_line(line.encode(), set())
        assert fast is not None
        assert fast == _reference_fields(line)


_FIELD = (st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7F), max_size=10)
          | st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=10))
_EDIT = st.sampled_from('"{}[]:,\\ 0123456789abcdef-.eEu') | st.characters(max_codepoint=0x7F)


@settings(max_examples=1500, deadline=None)
@given(_FIELD, _FIELD, st.dictionaries(_FIELD, _PLAIN_ASCII, max_size=3), st.integers(1, 2**53 - 1),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2), _EDIT), max_size=2))
def test_fast_path_agrees_with_rfc8785_on_mutated_lines(
    text: str, tenant: str, details: dict[str, Any], seq: int, edits: list[tuple[int, int, str]]
) -> None:
    """Lines near the exported form, edited a character at a time: the fast path either declines or
    says exactly what the reference says (and then the line is its own RFC 8785 form)."""
    event = {"tenant_id": tenant, "seq": seq, "prev_hash": "0" * 64, "hash": "a" * 64, "at": text,
             "region": text, "actor": {"sub": text, "role": "r"}, "action": "a", "resource": text,
             "outcome": "allowed", "request_id": text, "details": details}
    line = event_line(event)
    for position, kind, char in edits:
        at = position % (len(line) + 1)
        line = (line[:at] + char + line[at:], line[:at] + line[at + 1:], line[:at] + char + line[at + 1:])[kind]
    fast = audit.fast_line(line.encode(), set())
    if fast is not None:
        assert fast == _reference_fields(line)
        parsed = json.loads(line)
        assert rfc8785.dumps(parsed) + b"\n" == line.encode() or rfc8785.dumps(parsed) == line.encode()


@settings(max_examples=300, deadline=None)
@given(st.from_regex(audit_verify._FAST_EVENT.pattern.decode(), fullmatch=True,
                     alphabet=st.characters(max_codepoint=0x7F)))
def test_fast_path_agrees_with_rfc8785_on_any_line_of_its_pattern(line: str) -> None:
    fast = audit.fast_line(line.encode(), set())
    if fast is not None:
        assert fast == _reference_fields(line)
        assert rfc8785.dumps(json.loads(line)) == line.encode()


def test_fast_path_declines_non_canonical_details() -> None:
    line = event_line(chain(1)[0])
    for details in ('{"b":1,"a":2}', '{"a":1,"a":2}', '{"a":1.0}', '{"a":"\\u0041"}', '{"a" :1}', '{"a":01}'):
        start = line.index('"details":') + len('"details":')
        end = line.index(',"hash":"')
        assert audit.fast_line((line[:start] + details + line[end:]).encode(), set()) is None


# --- checkpoints --------------------------------------------------------------------------------

def test_checkpoint_payload_is_canonical_json_of_four_members() -> None:
    assert checkpoint_payload(TENANT, 7, "a" * 64, "2026-11-25T16:30:00.000000Z") == (
        b'{"at":"2026-11-25T16:30:00.000000Z","head_hash":"' + b"a" * 64 + b'","seq":7,"tenant_id":"'
        + TENANT.encode() + b'"}')


def test_checkpoint_signature_verification() -> None:
    checkpoint = sign(KEY, KEY_ID, TENANT, 4, "c" * 64)
    assert verify_checkpoint_signature(checkpoint, pem(KEY))
    assert not verify_checkpoint_signature(checkpoint, pem(ATTACKER_KEY))
    assert not verify_checkpoint_signature({**checkpoint, "seq": 5}, pem(KEY))
    assert not verify_checkpoint_signature({**checkpoint, "signature": "not base64!"}, pem(KEY))
    assert not verify_checkpoint_signature({**checkpoint, "seq": "4"}, pem(KEY))
    assert not verify_checkpoint_signature(checkpoint, "garbage")
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert not verify_checkpoint_signature(checkpoint, rsa_pem)


def test_public_key_pem_from_kms_der() -> None:
    der = KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert audit.public_key_pem(der) == pem(KEY)


# --- the verifier -------------------------------------------------------------------------------

def test_valid_chain_verifies() -> None:
    events = chain(10)
    result = verify_chain(events, manifest_for(events))
    assert result.valid
    assert result.first_invalid is None
    assert (result.events, result.head_hash, result.checkpoints) == (10, events[-1]["hash"], 3)
    assert result.as_dict() == {"valid": True, "events": 10, "head_hash": events[-1]["hash"], "checkpoints": 3}
    assert set(result.keys) == {KEY_ID}


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_each_tamper_kind_is_detected_at_the_first_bad_event(kind: str) -> None:
    events, manifest, seq, words = tampered(kind)
    result = verify_chain(events, manifest)
    assert not result.valid
    assert result.first_invalid is not None
    assert result.first_invalid["seq"] == seq, result.first_invalid
    assert words in result.first_invalid["reason"]
    assert result.as_dict()["first_invalid"] == result.first_invalid


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_each_tamper_kind_is_detected_in_ndjson_lines(kind: str) -> None:
    events, manifest, seq, _ = tampered(kind)
    verifier = ChainVerifier(manifest)
    for line in list(ndjson_lines(events, manifest))[:-1]:
        verifier.feed_line(line.encode())
    result = verifier.finish()
    assert not result.valid
    assert result.first_invalid is not None
    assert result.first_invalid["seq"] == seq


def test_reasons_carry_no_event_content() -> None:
    for kind in TAMPERS:
        events, manifest, _, _ = tampered(kind)
        reason = verify_chain(events, manifest).first_invalid["reason"]  # type: ignore[index]
        assert "user-" not in reason
        assert "learner" not in reason
        assert TENANT not in reason


def test_a_resigned_export_passes_only_unless_keys_are_pinned() -> None:
    """A forger who re-signs with their own key and lists it fools a verifier that trusts the manifest."""
    events = chain(6)
    events[1]["outcome"] = "denied"
    rehash_from(events, 1)
    forged = manifest_for(events, key=ATTACKER_KEY, key_id="attacker")
    assert verify_chain(events, forged).valid
    genuine = chain(6)
    assert verify_chain(genuine, manifest_for(genuine), trusted_keys=[pem(KEY)]).valid
    pinned = verify_chain(events, forged, trusted_keys=[pem(KEY)])
    assert not pinned.valid
    assert "untrusted key" in pinned.first_invalid["reason"]


def test_partial_range_export_with_anchor_verifies() -> None:
    events = chain(20)[7:15]  # seq 8..15
    manifest = manifest_for(events, every=5)
    assert manifest["anchor_prev_hash"] == events[0]["prev_hash"]
    result = verify_chain(events, manifest)
    assert result.valid, result.first_invalid
    assert (result.events, result.checkpoints) == (8, 2)  # seq 10 and 15


def test_partial_range_with_a_wrong_or_missing_anchor_fails() -> None:
    events = chain(20)[7:15]
    manifest = manifest_for(events)
    result = verify_chain(events, {**manifest, "anchor_prev_hash": "e" * 64})
    assert result.first_invalid == {"seq": 8, "reason": "prev_hash does not match the manifest's anchor"}
    missing = {k: v for k, v in manifest.items() if k != "anchor_prev_hash"}
    assert verify_chain(events, missing).first_invalid["seq"] is None  # type: ignore[index]
    with pytest.raises(AuditFormatError):
        build_manifest(tenant_id=TENANT, from_=None, to=None, events=8, first_seq=8, last_seq=15,
                       head_hash=events[-1]["hash"], checkpoints=[], public_keys={})


def test_export_not_matching_manifest_first_seq() -> None:
    events = chain(10)
    manifest = manifest_for(events)
    result = verify_chain(events[1:], manifest)
    assert result.first_invalid is not None
    assert result.first_invalid["seq"] == 2
    assert "first_seq 1" in result.first_invalid["reason"]


def test_events_beyond_the_manifest_are_refused() -> None:
    events = chain(10)
    result = verify_chain(events, manifest_for(events[:8]))
    assert result.first_invalid is not None
    assert result.first_invalid["seq"] == 9


def test_manifest_of_another_tenant() -> None:
    events = chain(4)
    manifest = manifest_for(events)
    result = verify_chain(events, {**manifest, "tenant_id": OTHER_TENANT})
    assert result.first_invalid == {"seq": 1, "reason": "the event belongs to another tenant"}


def test_checkpoint_outside_the_range_is_refused() -> None:
    events = chain(10)
    manifest = manifest_for(events)
    manifest["checkpoints"].append(sign(KEY, KEY_ID, TENANT, 12, "d" * 64))
    result = verify_chain(events, manifest)
    assert result.first_invalid is not None
    assert result.first_invalid["seq"] == 12


def test_checkpoint_of_another_tenant_is_refused() -> None:
    events = chain(4)
    manifest = manifest_for(events)
    manifest["checkpoints"][-1] = sign(KEY, KEY_ID, OTHER_TENANT, 4, events[-1]["hash"])
    result = verify_chain(events, manifest)
    assert result.first_invalid == {"seq": 4, "reason": "the checkpoint at seq 4 is for another tenant"}


@pytest.mark.parametrize("manifest", [
    [], {}, {"tenant_id": TENANT}, {"tenant_id": TENANT, "events": 2, "first_seq": 1, "last_seq": 3},
])
def test_malformed_manifest_is_named(manifest: Any) -> None:
    result = verify_chain(chain(2), manifest)
    assert not result.valid
    assert result.first_invalid is not None
    assert result.first_invalid["seq"] is None
    assert result.first_invalid["reason"].startswith(("the manifest", "manifest"))


def test_empty_export() -> None:
    manifest = build_manifest(tenant_id=TENANT, from_=None, to=None, events=0, first_seq=None, last_seq=None,
                              head_hash=None, checkpoints=[], public_keys={KEY_ID: pem(KEY)})
    assert verify_chain([], manifest).valid
    assert not verify_chain(chain(1), manifest).valid


def test_garbled_lines_and_objects_are_invalid_not_errors() -> None:
    events = chain(3)
    for bad in (b"{not json", b"\xff\xfe", b"[1, 2]", b'{"seq": "2"}', b'{"seq": 2, "x": NaN}'):
        verifier = ChainVerifier(manifest_for(events))
        verifier.feed_line(event_line(events[0]))
        assert not verifier.feed_line(bad)
        assert not verifier.feed_line(event_line(events[2]))  # later events only count
        result = verifier.finish()
        assert result.first_invalid is not None
        assert result.first_invalid["seq"] == 2
        assert (result.events, result.head_hash) == (3, events[0]["hash"])
    assert not verify_chain([events[0], "nope", events[1]], manifest_for(events)).valid  # type: ignore[list-item]


def test_lines_need_not_be_canonical_the_values_are_hashed() -> None:
    events = chain(5)
    manifest = manifest_for(events)
    verifier = ChainVerifier(manifest)
    for event in events:
        assert verifier.feed_line(json.dumps(dict(reversed(event.items())), indent=1, ensure_ascii=True))
    assert verifier.finish().valid


def test_non_ascii_and_float_details_take_the_reference_path() -> None:
    events = []
    prev = GENESIS_HASH
    for seq, details in enumerate([{"\U0001f600": "x", "\ue000": "y"}, {"ratio": 0.5, "n": 1e21}, {}], start=1):
        base = draft(seq)
        event = seal(AuditEventDraft(base.actor_sub, base.actor_role, base.action, base.resource, base.outcome,
                                     base.request_id, details), tenant_id=TENANT, seq=seq, prev_hash=prev, at=T0,
                     region="eu-west-2")
        events.append(event)
        prev = event["hash"]
    manifest = manifest_for(events)
    assert verify_chain(events, manifest).valid
    verifier = ChainVerifier(manifest)
    assert all(verifier.feed_line(line) for line in list(ndjson_lines(events, manifest))[:-1])
    assert verifier.finish().valid


# --- exports ------------------------------------------------------------------------------------

def test_ndjson_lines_are_canonical_and_end_with_the_manifest() -> None:
    events = chain(5)
    manifest = manifest_for(events)
    lines = list(ndjson_lines(iter(events), manifest))
    assert len(lines) == 6
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    for line, event in zip(lines, events, strict=False):
        assert line.encode() == rfc8785.dumps(event) + b"\n"
    assert parse_manifest_document(lines[-1]) == manifest


def test_ndjson_lines_build_the_manifest_after_the_last_event() -> None:
    events = chain(20)[4:9]
    seen: list[ExportTally] = []

    def finish(tally: ExportTally) -> dict[str, Any]:
        seen.append(copy.copy(tally))
        return manifest_for(events)

    lines = list(ndjson_lines((e for e in events), finish))
    tally = seen[0]
    assert (tally.events, tally.first_seq, tally.last_seq) == (5, 5, 9)
    assert (tally.head_hash, tally.anchor_prev_hash) == (events[-1]["hash"], events[0]["prev_hash"])
    assert json.loads(lines[-1])["manifest"]["last_seq"] == 9


def test_build_manifest_keeps_checkpoints_in_range_sorted() -> None:
    events = chain(10)[2:8]
    checkpoints = [sign(KEY, KEY_ID, TENANT, s, "a" * 64) for s in (8, 2, 4, 9)]
    manifest = build_manifest(tenant_id=TENANT, from_=None, to=None, events=6, first_seq=3, last_seq=8,
                              head_hash=events[-1]["hash"], checkpoints=checkpoints, public_keys={},
                              anchor_prev_hash=events[0]["prev_hash"])
    assert [c["seq"] for c in manifest["checkpoints"]] == [4, 8]
    with pytest.raises(AuditFormatError):
        build_manifest(tenant_id=TENANT, from_=None, to=None, events=5, first_seq=3, last_seq=8,
                       head_hash=None, checkpoints=[], public_keys={}, anchor_prev_hash=GENESIS_HASH)


def test_csv_round_trip_is_exact() -> None:
    events = chain(6)
    text = "".join(csv_lines(events))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == csv_header()
    assert rows[1][csv_header().index("actor")] == '{"role":"tenant_admin","sub":"user-1"}'
    assert list(read_csv_events(rows)) == events
    assert verify_chain(read_csv_events(rows), manifest_for(events)).valid


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_ANY_TEXT | _ASCII, _VALUES, max_size=4), _ANY_TEXT, st.integers(1, 2**53 - 1))
def test_csv_round_trip_of_any_values(details: dict[str, Any], text: str, seq: int) -> None:
    prev = "1" * 64
    try:
        event = seal(AuditEventDraft(text, "role", "a,b", '"x"\r\n', text, text, details), tenant_id=TENANT,
                     seq=seq, prev_hash=GENESIS_HASH if seq == 1 else prev, at=T0, region="eu-west-2")
    except AuditFormatError:
        return  # not canonicalizable (e.g. an unsafe integer): never sealed, never exported
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerow(csv_row(event))
    (row,) = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    back = csv_event(row)
    assert back == event
    assert event_hash(back) == event["hash"]


@pytest.mark.parametrize("row_change", [
    {"seq": "07"}, {"seq": "7.0"}, {"seq": ""}, {"actor": "[]"}, {"details": "{bad"},
])
def test_csv_rows_not_as_exported_are_refused(row_change: dict[str, str]) -> None:
    row = dict(zip(csv_header(), csv_row(chain(1)[0]), strict=True)) | row_change
    with pytest.raises(AuditFormatError):
        csv_event([row[c] for c in csv_header()])
    with pytest.raises(AuditFormatError):
        csv_event(["too", "few"])


def test_csv_row_refuses_events_it_cannot_carry() -> None:
    event = chain(1)[0]
    for change in ({"request_id": None}, {"seq": "1"}, {"extra": "x"}, {"details": []}):
        with pytest.raises(AuditFormatError):
            csv_row({**event, **change})


def test_csv_sidecar_name() -> None:
    assert csv_sidecar_path("/tmp/trail.csv") == "/tmp/trail.csv.manifest.json"


def test_files_written_by_the_helpers(tmp_path: Path) -> None:
    events = chain(3)
    manifest = manifest_for(events)
    ndjson = write_ndjson(tmp_path / "t.ndjson", events, manifest).read_text(encoding="utf-8").splitlines()
    assert parse_manifest_document(ndjson[-1]) == manifest
    write_csv(tmp_path / "t.csv", events, manifest)
    assert (tmp_path / "t.csv.manifest.json").read_text(encoding="utf-8") == manifest_line(manifest)
