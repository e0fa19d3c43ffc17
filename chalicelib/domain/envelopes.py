"""Field envelopes: AES-256-GCM per field of one learner, with associated data binding the field."""

from __future__ import annotations

import binascii
import os
from collections.abc import Mapping
from typing import cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.domain.crypto_primitives import (
    _AAD_CACHE_MAX,
    _CANONICAL_LAST,
    _FIELD_AAD,
    _FROM_URL,
    _PAD,
    _TO_URL,
    ENVELOPE_VERSION,
    NONCE_BYTES,
    _lp,
    _Secret,
    b64url_decode,
)
from chalicelib.domain.errors import IntegrityError

# ---------------------------------------------------------------------------------------------------
# Field envelopes


PersonalFields = Mapping[str, "str | Mapping[str, str]"]
"""Personal fields of a record: strings, or one level of nested strings (``guardian``)."""
PlainFields = dict[str, "str | dict[str, str]"]


def _integrity(record_type: str, field_name: str, problem: str) -> IntegrityError:
    return IntegrityError(f"field {field_name!r} of a {record_type!r} record {problem}",
                          record_type=record_type, field=field_name)


def parse_envelope(envelope: str) -> tuple[int, bytes, bytes]:
    """``(key version, nonce, ciphertext+tag)`` of ``v1.<key version>.<b64url(nonce + ciphertext)>``.

    ``ValueError`` if malformed. The 12-byte nonce is the first 16 characters of the last part.
    """
    try:
        head, version, body = envelope.encode("ascii").split(b".")
    except (AttributeError, UnicodeEncodeError):
        raise ValueError("not an envelope") from None
    if head != b"v1" or not version.isdigit() or version.startswith(b"0") or len(version) > 9:
        raise ValueError("not a v1 envelope")
    sealed = b64url_decode(body)
    if len(sealed) < NONCE_BYTES + 16:
        raise ValueError("ciphertext too short")
    return int(version), sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]


class _AadTable(dict[str, bytes]):
    """AAD of each field of one record type, built on first use (at most ``_AAD_CACHE_MAX``)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: bytes) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, field_name: str) -> bytes:
        aad = self.prefix + _lp(field_name)
        if len(self) < _AAD_CACHE_MAX:
            self[field_name] = aad
        return aad


class FieldCipher(_Secret):
    """AES-256-GCM of one learner's fields, with AAD binding tenant, learner, record type and field.

    Get one from ``LearnerKey.cipher``. The envelope is ``v1.<key version>.<b64url(nonce ‖ ct+tag)>``
    (12-byte random nonce, 16-byte tag); the AAD also covers format and key version. The hot loops
    (``_seal_all``, ``_open_all``) reuse one ``AESGCM`` object, one ``os.urandom`` call per record and
    cached AADs, to stay close to raw AES-GCM.
    """

    __slots__ = ("_aads", "_aead", "_base", "_header", "key_version", "learner_id", "tenant_id")

    def __init__(self, aead: AESGCM, tenant_id: str, learner_id: str, version: int) -> None:
        self._bind(aead, tenant_id, learner_id, version)

    @classmethod
    def _bound(cls, aead: AESGCM, tenant_id: str, learner_id: str, version: int) -> FieldCipher:
        """A cipher with an arbitrary binding: only for ``verify_shredded``'s trial decryptions."""
        return cls(aead, tenant_id, learner_id, version)

    def _bind(self, aead: AESGCM, tenant_id: str, learner_id: str, version: int) -> None:
        self._aead = aead
        self.tenant_id, self.learner_id, self.key_version = tenant_id, learner_id, version
        self._header = f"{ENVELOPE_VERSION}.{version}.".encode()
        self._base = _FIELD_AAD + _lp(ENVELOPE_VERSION) + _lp(str(version)) + _lp(tenant_id) + _lp(learner_id)
        self._aads: dict[str, _AadTable] = {}

    def _aad_table(self, record_type: str) -> _AadTable:
        table = self._aads.get(record_type)
        if table is None:
            table = _AadTable(self._base + _lp(record_type))
            if len(self._aads) < _AAD_CACHE_MAX:
                self._aads[record_type] = table
        return table

    def _seal_all(self, record_type: str, flat: Mapping[str, str]) -> dict[str, str]:
        aads, encrypt, header = self._aad_table(record_type), self._aead.encrypt, self._header
        nonces, start, out = os.urandom(NONCE_BYTES * len(flat)), 0, {}
        for name, value in flat.items():
            nonce = nonces[start:start + NONCE_BYTES]
            start += NONCE_BYTES
            body = binascii.b2a_base64(nonce + encrypt(nonce, value.encode(), aads[name]), newline=False)
            out[name] = (header + body.translate(_TO_URL).rstrip(b"=")).decode("ascii")
        return out

    def _open_all(self, record_type: str, envelopes: Mapping[str, str], nest: bool) -> PlainFields:
        aads, decrypt, header = self._aad_table(record_type), self._aead.decrypt, self._header
        skip = len(header)
        out: PlainFields = {}
        for name, envelope in envelopes.items():
            try:
                body = envelope.encode("ascii").removeprefix(header)
                if len(body) + skip != len(envelope):
                    raise ValueError("other format or key version")
                rem = len(body) % 4
                if body[-1] not in _CANONICAL_LAST[rem]:
                    raise ValueError("not canonical base64url")
                sealed = binascii.a2b_base64(body.translate(_FROM_URL) + _PAD[rem], strict_mode=True)
                plain = decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aads[name]).decode()
            except (ValueError, AttributeError, IndexError, InvalidTag) as exc:
                raise self._failure(record_type, name, envelope, exc) from None
            if nest and "." in name:
                _nest(out, name, plain)
            else:
                out[name] = plain
        return out

    def _failure(self, record_type: str, name: str, envelope: str, exc: Exception) -> IntegrityError:
        if isinstance(exc, InvalidTag):
            return _integrity(record_type, name, "failed authentication")
        try:
            version = parse_envelope(envelope)[0]
        except ValueError:
            return _integrity(record_type, name, "is not a valid envelope")
        if version != self.key_version:
            return _integrity(record_type, name, f"was sealed with key version {version}, not {self.key_version}")
        return _integrity(record_type, name, "is not a valid envelope")

    def encrypt_field(self, record_type: str, field_name: str, plaintext: str) -> str:
        """The envelope of ``plaintext`` for this learner's ``record_type`` / ``field_name``."""
        return self._seal_all(record_type, {field_name: plaintext})[field_name]

    def decrypt_field(self, record_type: str, field_name: str, envelope: str) -> str:
        """The plaintext, or ``IntegrityError`` if the envelope was altered, moved or is not ours."""
        return cast(str, self._open_all(record_type, {field_name: envelope}, nest=False)[field_name])

    def encrypt_record(self, record_type: str, fields: PersonalFields) -> dict[str, str]:
        """Envelopes of every personal field, nested mappings flattened (``guardian.email``)."""
        return self._seal_all(record_type, flatten_fields(fields))

    def decrypt_record(self, record_type: str, envelopes: Mapping[str, str]) -> PlainFields:
        """Inverse of ``encrypt_record``: ``IntegrityError`` on the first field that fails."""
        return self._open_all(record_type, envelopes, nest=True)

    def __repr__(self) -> str:
        return f"FieldCipher(tenant_id={self.tenant_id!r}, learner_id={self.learner_id!r}, " \
               f"key_version={self.key_version})"


def _nest(out: PlainFields, name: str, value: str) -> None:
    head, _, sub = name.partition(".")
    group = out.setdefault(head, {})
    if not isinstance(group, dict) or "." in sub:
        raise ValueError(f"field {name!r} clashes with another field")
    group[sub] = value


def flatten_fields(fields: PersonalFields) -> dict[str, str]:
    """``{"guardian": {"name": n}}`` -> ``{"guardian.name": n}``; names must not contain dots."""
    flat: dict[str, str] = {}
    for name, value in fields.items():
        if "." in name or not name:
            raise ValueError(f"invalid field name {name!r}")
        if isinstance(value, str):
            flat[name] = value
            continue
        for sub, sub_value in value.items():
            if "." in sub or not sub or not isinstance(sub_value, str):
                raise ValueError(f"field {name}.{sub} must be a string with a dot-free name")
            flat[name + "." + sub] = sub_value
    return flat


def unflatten_fields(flat: Mapping[str, str]) -> PlainFields:
    """Inverse of ``flatten_fields``."""
    out: PlainFields = {}
    for name, value in flat.items():
        if "." in name:
            _nest(out, name, value)
        else:
            out[name] = value
    return out


