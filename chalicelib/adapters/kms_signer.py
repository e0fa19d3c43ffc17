"""Signing audit checkpoints and tree heads with the regional KMS asymmetric key (ECC_NIST_P256, ECDSA_SHA_256).

The key is named by its alias; a key change points the alias at a new key. ``current_key`` says which
key the alias names now (so a payload can name its key id before it is signed, and the key history can
record it); public keys are fetched once per key id and cached.
"""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives import serialization

from chalicelib.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class KmsCheckpointSigner:
    """Signs payloads; each key's public half (PEM) is fetched once and cached by key id."""

    def __init__(self, client: KMSClient, key_alias: str) -> None:
        self._client = client
        self._alias = key_alias
        self._public: dict[str, str] = {}
        self._lock = threading.Lock()

    def sign(self, payload: bytes, key_id: str | None = None) -> tuple[str, str]:
        """``(key_id, base64 DER signature)`` of ``payload``, by ``key_id`` (default: the alias's key)."""
        try:
            response = self._client.sign(KeyId=key_id or self._alias, Message=payload, MessageType="RAW",
                                         SigningAlgorithm="ECDSA_SHA_256")
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the audit signing key is unavailable; retry later") from None
        return _key_name(response["KeyId"]), base64.b64encode(response["Signature"]).decode()

    def current_key(self) -> tuple[str, datetime]:
        """The key id the alias names now, and when that key was created."""
        try:
            metadata = self._client.describe_key(KeyId=self._alias)["KeyMetadata"]
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the audit signing key is unavailable; retry later") from None
        created = metadata.get("CreationDate") or datetime.now(UTC)
        return _key_name(metadata["KeyId"]), created if created.tzinfo else created.replace(tzinfo=UTC)

    def public_key(self, key_id: str | None = None) -> tuple[str, str]:
        """``(key_id, PEM SubjectPublicKeyInfo)`` of ``key_id`` (default: the key the alias names now)."""
        with self._lock:
            if key_id is not None and key_id in self._public:
                return key_id, self._public[key_id]
            try:
                response = self._client.get_public_key(KeyId=key_id or self._alias)
            except (ClientError, BotoCoreError):
                raise ServiceUnavailable("the audit signing key is unavailable; retry later") from None
            pem = serialization.load_der_public_key(response["PublicKey"]).public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            name = _key_name(response["KeyId"])
            self._public[name] = pem
            return name, pem


def _key_name(key_arn_or_id: str) -> str:
    """The key id alone (not the ARN with the account number)."""
    return key_arn_or_id.rsplit("/", 1)[-1]
