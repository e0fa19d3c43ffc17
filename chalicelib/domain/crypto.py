"""Field-level envelope encryption, the key hierarchy, blind indexes and crypto-shredding.

Pure domain code: no boto3, no chalice, no storage. The caller's repositories load and store the
*wrapped* keys; this module only ever returns plaintext keys as opaque handles held in memory.

Key hierarchy::

    regional KMS key  --GenerateDataKey(context)-->  tenant key (one per tenant and version)
    tenant key        --HKDF "learner-key-wrap"--->  wrap key  --AES-GCM(AAD)-->  learner key
    tenant key        --HKDF "blind-index"-------->  index key --HMAC-SHA256-->   blind index tokens
    learner key       --AES-256-GCM(AAD)---------->  field envelopes

* A tenant key is 32 bytes from ``DataKeyProvider.generate_data_key`` under the encryption context
  ``tenant_key_context(tenant_id, version)``; only its wrapped form (``WrappedTenantKey``) is stored.
  The root itself is used for nothing but HKDF and is dropped after derivation.
* A learner (subject) key is 32 random bytes, wrapped by its tenant key's wrap key with associated
  data binding tenant, learner, learner key version, tenant key version and the key's fingerprint;
  only its wrapped form (``WrappedLearnerKey``) is stored. Deleting that record shreds the learner.
* A field envelope is ``v1.<learner key version>.<b64url(nonce ‖ ciphertext+tag)>`` (unpadded,
  canonical; the 12-byte random nonce is the first 16 characters of the last part). Its AAD binds
  format version, key version, tenant, learner, record type and field name, so an envelope moved to
  another field, record, learner or tenant fails with ``IntegrityError`` (whose message holds no
  plaintext).
* A blind index token is ``<tenant key version>.<b64url(HMAC-SHA256(index key, field, value)[:16])>``
  over the normalised value (NFC, stripped; e-mail addresses lower-cased). Store the newest
  version's token; look up with every version's token (``blind_index_all``), so records indexed
  before a rotation are still found.
* Rotation adds a tenant key version (``Keyring.rotate``); new learner keys are wrapped by the newest,
  every loaded version still unwraps, ``rewrap`` moves a learner key record to the newest version
  (its field envelopes stay valid: the learner key itself does not change).
* Crypto-shredding: delete every copy of the learner's ``WrappedLearnerKey``; ``verify_shredded``
  then shows that no remaining key opens the learner's remaining ciphertexts (erasure receipt).

Typical use (the repository supplies the stored records)::

    keyring = Keyring(provider)                               # one per process (Lambda container)
    wrapped_tk = keyring.create_tenant_key(tenant_id)         # onboarding: store wrapped_tk
    keys = keyring.tenant_keys(stored_tenant_key_records)     # per request; warm: no KMS call
    learner_key, wrapped_lk = keys.new_learner_key(learner_id)  # enrolment: store wrapped_lk
    item = learner_key.cipher.encrypt_record("learner", {"email": ..., "guardian": {...}})
    learner_key = keys.unwrap(stored_wrapped_lk)              # later reads
    plain = learner_key.cipher.decrypt_record("learner", item)
    email_token = keys.blind_index("email", email)            # store next to the item
    keys.blind_index_all("email", email)                      # look-up: query each token

The implementation is split by responsibility; this module re-exports the public names:
``crypto_primitives`` (constants, encodings, HKDF, blind index, the provider protocol), ``cache``
(``TtlCache``), ``envelopes`` (``FieldCipher``), ``keys`` (wrapped records, key handles, ``Keyring``)
and ``shredding`` (``verify_shredded``).
"""

from __future__ import annotations

from chalicelib.domain.cache import TtlCache
from chalicelib.domain.crypto_primitives import (
    ENVELOPE_VERSION,
    INDEX_BYTES,
    KEY_BYTES,
    NONCE_BYTES,
    DataKeyProvider,
    b64url_decode,
    b64url_encode,
    blind_index,
    derive_subkey,
    key_fingerprint,
    normalise_for_index,
    tenant_key_context,
)
from chalicelib.domain.envelopes import (
    FieldCipher,
    PersonalFields,
    PlainFields,
    flatten_fields,
    parse_envelope,
    unflatten_fields,
)
from chalicelib.domain.keys import (
    Keyring,
    LearnerKey,
    TenantKey,
    TenantKeys,
    WrappedLearnerKey,
    WrappedTenantKey,
    rewrap,
)
from chalicelib.domain.shredding import ShredReport, StoredField, verify_shredded

__all__ = [
    "ENVELOPE_VERSION", "INDEX_BYTES", "KEY_BYTES", "NONCE_BYTES", "DataKeyProvider", "FieldCipher", "Keyring",
    "LearnerKey", "PersonalFields", "PlainFields", "ShredReport", "StoredField", "TenantKey", "TenantKeys",
    "TtlCache", "WrappedLearnerKey", "WrappedTenantKey", "b64url_decode", "b64url_encode", "blind_index",
    "derive_subkey", "flatten_fields", "key_fingerprint", "normalise_for_index", "parse_envelope", "rewrap",
    "tenant_key_context", "unflatten_fields", "verify_shredded",
]
