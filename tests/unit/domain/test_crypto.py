"""Field encryption, key hierarchy, blind index and crypto-shredding (pure: a fake key provider, no AWS)."""

from __future__ import annotations

import ast
import base64
import hashlib
import os
import pickle
import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import crypto
from chalicelib.domain.cache import SWEEP_SECONDS
from chalicelib.domain.crypto import (
    FieldCipher,
    Keyring,
    LearnerKey,
    TenantKey,
    TenantKeys,
    TtlCache,
    WrappedLearnerKey,
    WrappedTenantKey,
    b64url_decode,
    b64url_encode,
    blind_index,
    derive_subkey,
    flatten_fields,
    parse_envelope,
    rewrap,
    tenant_key_context,
    unflatten_fields,
    verify_shredded,
)
from chalicelib.domain.errors import IntegrityError
from chalicelib.domain.ids import new_id

LEARNER: dict[str, Any] = {
    "given_name": "Maria Clara",
    "family_name": "Dela Cruz",
    "email": "Maria.DelaCruz@Example.edu.ph",
    "date_of_birth": "2009-04-17",
    "guardian": {"name": "Josefina Dela Cruz", "email": "j.delacruz@example.com"},
}
PLAINTEXTS = ["Maria Clara", "Dela Cruz", "Maria.DelaCruz@Example.edu.ph", "2009-04-17", "Josefina Dela Cruz",
              "j.delacruz@example.com"]


class FakeProvider:
    """A ``DataKeyProvider`` wrapping with a local AES key; counts calls and remembers what it issued."""

    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(256))
        self.generated: list[bytes] = []
        self.contexts: list[dict[str, str]] = []
        self.decrypts = 0

    @staticmethod
    def _aad(context: Mapping[str, str]) -> bytes:
        return repr(sorted(context.items())).encode()

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        key, nonce = AESGCM.generate_key(256), os.urandom(12)
        self.generated.append(key)
        self.contexts.append(dict(context))
        return key, nonce + self._aead.encrypt(nonce, key, self._aad(context))

    def decrypt_data_key(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        self.decrypts += 1
        self.contexts.append(dict(context))
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], self._aad(context))
        except Exception:
            raise IntegrityError("the key service refused to decrypt a stored key") from None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keyring(provider: FakeProvider, clock: Clock) -> Keyring:
    return Keyring(provider, max_entries=4, ttl_seconds=60, clock=clock)


@pytest.fixture
def tenant(keyring: Keyring) -> tuple[list[WrappedTenantKey], TenantKeys]:
    records = [keyring.create_tenant_key(new_id("tnt"))]
    return records, keyring.tenant_keys(records)


@pytest.fixture
def keys(tenant: tuple[list[WrappedTenantKey], TenantKeys]) -> TenantKeys:
    return tenant[1]


def assert_no_plaintext(exc: pytest.ExceptionInfo[IntegrityError], *secrets: str) -> None:
    text = str(exc.value) + repr(exc.value.body())
    assert not [s for s in (*PLAINTEXTS, *secrets) if s in text]


# --- round trip and envelope format -------------------------------------------------------------------

def test_a_record_round_trips_and_its_envelopes_hold_no_plaintext(keys: TenantKeys) -> None:
    learner_key, _ = keys.new_learner_key(new_id("lrn"))
    envelopes = learner_key.cipher.encrypt_record("learner", LEARNER)
    assert set(envelopes) == {"given_name", "family_name", "email", "date_of_birth", "guardian.name",
                              "guardian.email"}
    assert all(e.startswith("v1.1.") and e.count(".") == 2 for e in envelopes.values())
    assert not [p for p in PLAINTEXTS for e in envelopes.values() if p.lower() in e.lower()]
    assert learner_key.cipher.decrypt_record("learner", envelopes) == LEARNER


def test_the_same_plaintext_never_gives_the_same_envelope(keys: TenantKeys) -> None:
    cipher = keys.new_learner_key(new_id("lrn"))[0].cipher
    envelopes = {cipher.encrypt_field("learner", "email", "a@b.c") for _ in range(200)}
    assert len(envelopes) == 200
    assert len({parse_envelope(e)[1] for e in envelopes}) == 200  # distinct random nonces


@settings(max_examples=200, deadline=None)
@given(text=st.text(), field_name=st.text(min_size=1).filter(lambda n: "." not in n))
def test_any_text_round_trips(text: str, field_name: str) -> None:
    cipher = _STATIC_KEY.cipher
    envelope = cipher.encrypt_field("learner", field_name, text)
    version, nonce, ciphertext = parse_envelope(envelope)
    assert (version, len(nonce), len(ciphertext)) == (1, 12, len(text.encode()) + 16)
    assert cipher.decrypt_field("learner", field_name, envelope) == text


_STATIC_KEY = LearnerKey("tnt_static", "lrn_static", 1, bytes(range(32)))


@given(data=st.binary(max_size=64))
def test_b64url_round_trips_and_rejects_non_canonical_text(data: bytes) -> None:
    text = b64url_encode(data)
    assert b"=" not in text
    assert b64url_decode(text) == data
    assert text == base64.urlsafe_b64encode(data).rstrip(b"=")


@pytest.mark.parametrize("text", [b"QR", b"QUJ", b"Q", b"Q+E", b"Q/E", b"QU=", b"QU J"])
def test_b64url_decode_refuses(text: bytes) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_flatten_and_unflatten_are_inverse_and_strict() -> None:
    flat = flatten_fields(LEARNER)
    assert flat["guardian.email"] == "j.delacruz@example.com"
    assert unflatten_fields(flat) == LEARNER
    for bad in ({"a.b": "x"}, {"": "x"}, {"g": {"a.b": "x"}}, {"g": {"a": {"b": "x"}}}, {"g": {"a": 1}}):
        with pytest.raises(ValueError, match="field"):
            flatten_fields(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clashes"):
        unflatten_fields({"guardian": "x", "guardian.name": "y"})


# --- associated data: a ciphertext moved anywhere else fails ----------------------------------------

def _twin(key: LearnerKey, keys: TenantKeys, record: WrappedLearnerKey, *, tenant_id: str | None = None,
          learner_id: str | None = None, version: int | None = None) -> LearnerKey:
    """The same key bytes under another binding: proves the AAD (not only the key) refuses a move."""
    secret = keys.get(record.tenant_key_version).unwrap_secret(record)
    return LearnerKey(tenant_id or key.tenant_id, learner_id or key.learner_id, version or key.version, secret)


def test_a_ciphertext_moved_to_another_field_fails(keys: TenantKeys) -> None:
    cipher = keys.new_learner_key(new_id("lrn"))[0].cipher
    envelopes = cipher.encrypt_record("learner", LEARNER)
    envelopes["email"], envelopes["guardian.email"] = envelopes["guardian.email"], envelopes["email"]
    with pytest.raises(IntegrityError, match="'email'") as exc:
        cipher.decrypt_record("learner", envelopes)
    assert_no_plaintext(exc)
    assert exc.value.details == {"record_type": "learner", "field": "email"}


def test_a_ciphertext_moved_to_another_record_type_fails(keys: TenantKeys) -> None:
    cipher = keys.new_learner_key(new_id("lrn"))[0].cipher
    envelope = cipher.encrypt_field("result:res_1", "score", "97")
    with pytest.raises(IntegrityError) as exc:
        cipher.decrypt_field("result:res_2", "score", envelope)
    assert_no_plaintext(exc, "97")


def test_a_ciphertext_moved_to_another_learner_fails_even_under_the_same_key_bytes(keys: TenantKeys) -> None:
    key, record = keys.new_learner_key(new_id("lrn"))
    envelope = key.cipher.encrypt_field("learner", "email", PLAINTEXTS[2])
    other_learner = keys.new_learner_key(new_id("lrn"))[0]
    same_bytes_other_learner = _twin(key, keys, record, learner_id=other_learner.learner_id)
    assert _twin(key, keys, record).cipher.decrypt_field("learner", "email", envelope) == PLAINTEXTS[2]
    for cipher in (other_learner.cipher, same_bytes_other_learner.cipher):
        with pytest.raises(IntegrityError, match="failed authentication") as exc:
            cipher.decrypt_field("learner", "email", envelope)
        assert_no_plaintext(exc)


def test_a_ciphertext_moved_to_another_tenant_fails(keyring: Keyring, keys: TenantKeys) -> None:
    key, record = keys.new_learner_key(new_id("lrn"))
    envelope = key.cipher.encrypt_field("learner", "email", PLAINTEXTS[2])
    other_tenant = keyring.tenant_keys([keyring.create_tenant_key(new_id("tnt"))])
    for cipher in (other_tenant.new_learner_key(key.learner_id)[0].cipher,
                   _twin(key, keys, record, tenant_id=other_tenant.tenant_id).cipher):
        with pytest.raises(IntegrityError) as exc:
            cipher.decrypt_field("learner", "email", envelope)
        assert_no_plaintext(exc)


def _flip(envelope: str, index: int) -> str:
    head, version, body = envelope.split(".")
    sealed = bytearray(b64url_decode(body.encode()))
    sealed[index] ^= 0x01
    return f"{head}.{version}.{b64url_encode(bytes(sealed)).decode()}"


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda e: _flip(e, 0), id="nonce-byte"),
    pytest.param(lambda e: _flip(e, 14), id="ciphertext-byte"),
    pytest.param(lambda e: _flip(e, -1), id="tag-byte"),
    pytest.param(lambda e: e[:-4], id="truncated"),
    pytest.param(lambda e: e + "A", id="extended"),
    pytest.param(lambda e: e[:-1] + ("B" if e[-1] == "A" else "A"), id="last-char"),
    pytest.param(lambda e: e[:20] + "!" + e[21:], id="bad-char"),
    pytest.param(lambda e: e[:20] + "é" + e[21:], id="non-ascii"),
    pytest.param(lambda e: "v2" + e[2:], id="format-version"),
    pytest.param(lambda e: e.replace("v1.1.", "v1.01.", 1), id="padded-key-version"),
    pytest.param(lambda e: e.replace(".", "", 1), id="no-separator"),
    pytest.param(lambda e: "", id="empty"),
])
def test_a_tampered_envelope_fails(keys: TenantKeys, tamper: Callable[[str], str]) -> None:
    cipher = keys.new_learner_key(new_id("lrn"))[0].cipher
    envelope = cipher.encrypt_field("learner", "email", PLAINTEXTS[2])
    with pytest.raises(IntegrityError) as exc:
        cipher.decrypt_field("learner", "email", tamper(envelope))
    assert_no_plaintext(exc)


def test_a_wrong_key_version_fails(keys: TenantKeys) -> None:
    key, record = keys.new_learner_key(new_id("lrn"))
    envelope = key.cipher.encrypt_field("learner", "email", PLAINTEXTS[2])
    version_2 = _twin(key, keys, record, version=2)
    with pytest.raises(IntegrityError, match="key version 1, not 2"):
        version_2.cipher.decrypt_field("learner", "email", envelope)
    relabelled = envelope.replace("v1.1.", "v1.2.", 1)  # the header is covered by the AAD too
    with pytest.raises(IntegrityError, match="failed authentication"):
        version_2.cipher.decrypt_field("learner", "email", relabelled)
    with pytest.raises(IntegrityError, match="key version 2, not 1"):
        key.cipher.decrypt_field("learner", "email", relabelled)


# --- learner key records --------------------------------------------------------------------------

def test_a_learner_key_record_is_bound_to_its_tenant_learner_and_versions(keyring: Keyring, keys: TenantKeys) -> None:
    key, record = keys.new_learner_key(new_id("lrn"))
    assert keys.unwrap(record).fingerprint == key.fingerprint == record.fingerprint
    other_keys = keyring.tenant_keys([keyring.create_tenant_key(new_id("tnt"))])
    forged = [replace(record, learner_id=new_id("lrn")), replace(record, key_version=2),
              replace(record, fingerprint="0" * 32), replace(record, blob=record.blob[:-1] + b"\x00")]
    for bad in forged:
        with pytest.raises(IntegrityError):
            keys.unwrap(bad)
    with pytest.raises(IntegrityError, match="not available"):
        keys.unwrap(replace(record, tenant_key_version=2))
    with pytest.raises(IntegrityError):
        other_keys.unwrap(replace(record, tenant_id=other_keys.tenant_id))
    with pytest.raises(IntegrityError, match="another tenant"):
        other_keys.newest.unwrap(record)


def test_tenant_keys_are_generated_with_a_context_naming_tenant_purpose_and_version(
        provider: FakeProvider, keyring: Keyring) -> None:
    tenant_id = new_id("tnt")
    record = keyring.create_tenant_key(tenant_id)
    assert provider.contexts == [{"tenant_id": tenant_id, "purpose": "tenant-key", "key_version": "1"}]
    assert tenant_key_context(tenant_id, 3)["key_version"] == "3"
    Keyring(provider).tenant_key(record)
    assert provider.contexts[-1] == provider.contexts[0]
    with pytest.raises(IntegrityError):
        Keyring(provider).tenant_key(replace(record, tenant_id=new_id("tnt")))


# --- cache ------------------------------------------------------------------------------------------

def test_the_cache_is_bounded_and_evicts_the_least_recently_used(clock: Clock) -> None:
    cache: TtlCache[str, int] = TtlCache(3, 60, clock)
    for n, key in enumerate("abc"):
        cache.put(key, n)
    assert cache.get("a") == 0          # a is now the most recently used
    cache.put("d", 3)
    assert (cache.get("b"), len(cache)) == (None, 3)
    assert [cache.get(k) for k in "acd"] == [0, 2, 3]
    assert (cache.hits, cache.misses) == (4, 1)


def test_cache_entries_expire_after_the_ttl_counted_from_insertion(clock: Clock) -> None:
    cache: TtlCache[str, str] = TtlCache(10, 60, clock)
    cache.put("k", "v")
    clock.now += 59
    assert cache.get("k") == "v"        # a hit does not extend the life of the entry
    clock.now += 1
    assert cache.get("k") is None
    assert len(cache) == 0
    calls: list[int] = []
    assert cache.get_or_create("k", lambda: calls.append(1) or "w") == "w"
    assert cache.get_or_create("k", lambda: calls.append(1) or "x") == "w"
    assert calls == [1]
    with pytest.raises(ValueError, match="max_entries"):
        TtlCache(0, 60)


def test_discarding_one_key_leaves_the_others(clock: Clock) -> None:
    cache: TtlCache[tuple[str, str], int] = TtlCache(10, 60, clock)
    cache.put(("t", "a"), 1)
    cache.put(("t", "b"), 2)
    assert cache.discard(("t", "a")) is True
    assert cache.discard(("t", "a")) is False
    assert (cache.get(("t", "a")), cache.get(("t", "b")), len(cache)) == (None, 2, 1)


def test_expired_entries_leave_memory_within_a_second_of_their_deadline_without_a_scan_per_put() -> None:
    def after(puts_after_expiry: int) -> TtlCache[str, str]:
        clock = Clock()
        cache: TtlCache[str, str] = TtlCache(100, 60, clock)
        cache.put("old", "plaintext key")  # a sweep; the next one is due a second later
        clock.now += 59.5
        cache.put("a", "1")                # a sweep: "old" still has half a second
        clock.now += 0.7
        cache.put("b", "2")                # "old" has expired; no sweep is due: no scan of the cache
        for n in range(puts_after_expiry):
            clock.now += SWEEP_SECONDS
            cache.put(f"c{n}", "3")        # a sweep is due again: it drops "old"
        return cache

    assert after(0).discard_if(lambda key: key == "old") == 1   # still held (never answered: get refuses it)
    assert after(1).discard_if(lambda key: key == "old") == 0   # swept from memory
    assert after(0).get("old") is None


def test_the_cache_is_thread_safe() -> None:
    cache: TtlCache[int, int] = TtlCache(50, 60)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(2000):
                cache.put((n + offset) % 80, n)
                cache.get((n * 7) % 80)
                if n % 500 == 0:
                    cache.discard_if(lambda k: k % 2 == 0)
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 50


def test_the_warm_path_makes_one_provider_call_per_tenant_key(
        provider: FakeProvider, clock: Clock, tenant: tuple[list[WrappedTenantKey], TenantKeys]) -> None:
    records = tenant[0]
    cold = Keyring(provider, max_entries=4, ttl_seconds=60, clock=clock)  # another process: empty cache
    learners = [cold.tenant_keys(records).new_learner_key(new_id("lrn")) for _ in range(20)]
    envelopes = [key.cipher.encrypt_record("learner", LEARNER) for key, _ in learners]
    for _ in range(10):
        for (_, record), sealed in zip(learners, envelopes, strict=True):
            assert cold.tenant_keys(records).unwrap(record).cipher.decrypt_record("learner", sealed) == LEARNER
    assert provider.decrypts == 1
    clock.now += 61                     # TTL over: one more call, then warm again
    cold.tenant_keys(records)
    cold.tenant_keys(records)
    assert provider.decrypts == 2


def test_the_keyring_holds_at_most_max_entries_tenant_keys(provider: FakeProvider, keyring: Keyring) -> None:
    records = [keyring.create_tenant_key(new_id("tnt")) for _ in range(6)]
    assert len(keyring.cache) == 4
    keyring.tenant_key(records[0])      # evicted: unwrapped again through the provider
    assert provider.decrypts == 1
    assert keyring.evict(records[0].tenant_id) == 1
    assert keyring.evict(records[0].tenant_id) == 0


# --- rotation --------------------------------------------------------------------------------------

def test_rotation_wraps_new_learners_with_the_newest_version_and_rewrap_moves_old_ones(
        keyring: Keyring, tenant: tuple[list[WrappedTenantKey], TenantKeys]) -> None:
    records, keys_v1 = tenant
    old_key, old_record = keys_v1.new_learner_key(new_id("lrn"))
    sealed = old_key.cipher.encrypt_record("learner", LEARNER)

    records.append(keyring.rotate(keys_v1))
    keys = keyring.tenant_keys(records)
    assert (keys.versions, keys.newest.version) == ([2, 1], 2)
    _, new_record = keys.new_learner_key(new_id("lrn"))
    assert (new_record.tenant_key_version, old_record.tenant_key_version) == (2, 1)
    assert keys.unwrap(old_record).cipher.decrypt_record("learner", sealed) == LEARNER   # old still unwraps
    assert keys.needs_rewrap(old_record)
    assert not keys.needs_rewrap(new_record)

    moved = rewrap(old_record, keys)
    assert (moved.tenant_key_version, moved.fingerprint, moved.learner_id) == \
        (2, old_record.fingerprint, old_record.learner_id)
    assert moved.blob != old_record.blob
    assert keys.rewrap(moved) is moved
    only_v2 = keyring.tenant_keys(records[1:])
    assert only_v2.unwrap(moved).cipher.decrypt_record("learner", sealed) == LEARNER  # ciphertexts untouched
    with pytest.raises(IntegrityError, match="version 1 is not available"):
        only_v2.unwrap(old_record)


def test_tenant_keys_refuse_an_empty_or_mixed_set(keyring: Keyring) -> None:
    with pytest.raises(ValueError, match="at least one key"):
        keyring.tenant_keys([])
    with pytest.raises(ValueError, match="one tenant"):
        keyring.tenant_keys([keyring.create_tenant_key(new_id("tnt")), keyring.create_tenant_key(new_id("tnt"))])


# --- blind index ----------------------------------------------------------------------------------

def test_the_blind_index_is_deterministic_per_tenant_and_differs_across_tenants(
        provider: FakeProvider, keyring: Keyring, tenant: tuple[list[WrappedTenantKey], TenantKeys]) -> None:
    records, keys = tenant
    token = keys.blind_index("email", "maria@example.org")
    assert token == Keyring(provider).tenant_keys(records).blind_index("email", "maria@example.org")
    assert token.startswith("1.")
    assert len(token) == 2 + 22
    other = keyring.tenant_keys([keyring.create_tenant_key(new_id("tnt"))])
    assert other.blind_index("email", "maria@example.org") != token
    assert keys.blind_index("email", "other@example.org") != token
    assert keys.blind_index("guardian.email", "maria@example.org") != token   # bound to the field


def test_the_email_blind_index_ignores_case_whitespace_and_unicode_form(keys: TenantKeys) -> None:
    token = keys.blind_index("email", "josé@example.org")
    decomposed = unicodedata.normalize("NFD", "  JOSÉ@Example.ORG \n")
    assert decomposed != "josé@example.org"
    assert keys.blind_index("email", decomposed) == token
    assert keys.blind_index("given_name", "Maria") != keys.blind_index("given_name", "maria")
    with pytest.raises(ValueError, match="cannot be indexed"):
        keys.blind_index("email", "   ")


def test_the_blind_index_is_no_unkeyed_hash(keys: TenantKeys) -> None:
    email = "maria@example.org"
    token = keys.blind_index("email", email).split(".", 1)[1]
    digest = hashlib.sha256(email.encode()).digest()
    unkeyed = {digest.hex(), digest[:16].hex(), b64url_encode(digest).decode(), b64url_encode(digest[:16]).decode()}
    assert token not in unkeyed
    assert email not in token
    assert blind_index(bytes(32), "email", email) != blind_index(bytes([1]) * 32, "email", email)


def test_after_rotation_look_ups_try_every_version_newest_first(
        keyring: Keyring, tenant: tuple[list[WrappedTenantKey], TenantKeys]) -> None:
    records, keys_v1 = tenant
    stored_token = keys_v1.blind_index("email", "maria@example.org")
    keys = keyring.tenant_keys([*records, keyring.rotate(keys_v1)])
    tokens = keys.blind_index_all("email", "Maria@Example.org")
    assert tokens[0].startswith("2.")
    assert tokens[1] == stored_token
    assert keys.blind_index("email", "maria@example.org") == tokens[0]


def test_index_and_wrap_keys_are_distinct_derivations_of_the_tenant_key(
        provider: FakeProvider, keyring: Keyring) -> None:
    tenant_id = new_id("tnt")
    keys = keyring.tenant_keys([keyring.create_tenant_key(tenant_id)])
    root = provider.generated[-1]
    index_key = derive_subkey(root, b"enclave/v1/blind-index", tenant_id, 1)
    wrap_key = derive_subkey(root, b"enclave/v1/learner-key-wrap", tenant_id, 1)
    assert len({root, index_key, wrap_key, derive_subkey(root, b"enclave/v1/blind-index", tenant_id, 2)}) == 4
    assert keys.blind_index("email", "a@b.c") == "1." + blind_index(index_key, "email", "a@b.c")


# --- crypto-shredding -----------------------------------------------------------------------------

def test_after_the_learner_key_record_is_deleted_nothing_left_decrypts(keys: TenantKeys) -> None:
    store: dict[str, WrappedLearnerKey] = {}
    victim_key, victim_record = keys.new_learner_key(new_id("lrn"))
    store[victim_key.learner_id] = victim_record
    for _ in range(3):
        key, record = keys.new_learner_key(new_id("lrn"))
        store[key.learner_id] = record
    stored = [("learner", name, env) for name, env in victim_key.cipher.encrypt_record("learner", LEARNER).items()]
    stored.append(("result:res_1", "score", victim_key.cipher.encrypt_field("result:res_1", "score", "97")))

    before = verify_shredded(victim_record, stored, store.values(), keys)
    assert not before.shredded
    assert (before.key_copies_left, len(before.readable_fields)) == (1, 7)

    del store[victim_key.learner_id]                       # erasure: the only copy of the wrapped key
    report = verify_shredded(victim_record, stored, store.values(), keys)
    assert report.shredded
    assert (report.keys_tried, report.fields_tried, report.key_copies_left, report.readable_fields) == (3, 7, 0, ())
    assert report.destroyed_fingerprint == victim_record.fingerprint
    for record in store.values():                          # every other key, tried by hand
        cipher = FieldCipher._bound(keys.unwrap(record)._aead, keys.tenant_id, victim_key.learner_id, 1)
        for record_type, name, envelope in stored:
            with pytest.raises(IntegrityError):
                cipher.decrypt_field(record_type, name, envelope)


# --- no key material in repr, logs or pickles -----------------------------------------------------

def _renderings(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(),
            b64url_encode(secret).decode(), repr(secret)[2:-1], str(list(secret))[1:-1]]


def test_no_key_material_appears_in_any_repr(provider: FakeProvider, keyring: Keyring) -> None:
    tenant_id = new_id("tnt")
    tenant_record = keyring.create_tenant_key(tenant_id)
    keys = keyring.tenant_keys([tenant_record])
    learner_key, learner_record = keys.new_learner_key(new_id("lrn"))
    root = provider.generated[-1]
    secrets = [root, keys.newest.unwrap_secret(learner_record),
               derive_subkey(root, b"enclave/v1/blind-index", tenant_id, 1),
               derive_subkey(root, b"enclave/v1/learner-key-wrap", tenant_id, 1)]
    objects: list[object] = [keyring, keyring.cache, keys, keys.newest, learner_key, learner_key.cipher,
                             tenant_record, learner_record]
    text = " ".join(repr(o) + str(o) for o in objects)
    assert [r for s in secrets for r in _renderings(s) if r in text] == []
    assert tenant_id in repr(keys.newest)
    assert learner_key.learner_id in repr(learner_key)
    assert not hasattr(keys.newest, "__dict__")
    assert not hasattr(learner_key, "__dict__")
    assert root not in [getattr(keys.newest, name) for name in TenantKey.__slots__]  # the root is dropped


@pytest.mark.parametrize("make", [
    pytest.param(lambda keys: keys.newest, id="tenant-key"),
    pytest.param(lambda keys: keys.new_learner_key("lrn_x")[0], id="learner-key"),
    pytest.param(lambda keys: keys.new_learner_key("lrn_x")[0].cipher, id="field-cipher"),
])
def test_plaintext_keys_cannot_be_serialised(keys: TenantKeys, make: Callable[[TenantKeys], object]) -> None:
    with pytest.raises(TypeError, match="cannot be serialised"):
        pickle.dumps(make(keys))


def test_the_domain_module_imports_no_aws_or_web_framework() -> None:
    with open(crypto.__file__, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not [m for m in imported if m.split(".")[0] in {"boto3", "botocore", "chalice", "moto"}]
