"""Signing audit checkpoints with the regional KMS asymmetric key (ECC_NIST_P256, ECDSA_SHA_256)."""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives import serialization

from chalicelib.domain.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class KmsCheckpointSigner:
    """Signs checkpoint payloads; the key's public half (PEM) is fetched once and cached."""

    def __init__(self, client: KMSClient, key_alias: str) -> None:
        self._client = client
        self._alias = key_alias
        self._public: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def sign(self, payload: bytes) -> tuple[str, str]:
        """``(key_id, base64 DER signature)`` of ``payload``."""
        try:
            response = self._client.sign(KeyId=self._alias, Message=payload, MessageType="RAW",
                                         SigningAlgorithm="ECDSA_SHA_256")
        except (ClientError, BotoCoreError):
            raise ServiceUnavailable("the audit signing key is unavailable; retry later") from None
        return _key_name(response["KeyId"]), base64.b64encode(response["Signature"]).decode()

    def public_key(self) -> tuple[str, str]:
        """``(key_id, PEM SubjectPublicKeyInfo)`` of the signing key."""
        with self._lock:
            if self._public is None:
                try:
                    response = self._client.get_public_key(KeyId=self._alias)
                except (ClientError, BotoCoreError):
                    raise ServiceUnavailable("the audit signing key is unavailable; retry later") from None
                pem = serialization.load_der_public_key(response["PublicKey"]).public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
                self._public = (_key_name(response["KeyId"]), pem)
            return self._public


def _key_name(key_arn_or_id: str) -> str:
    """The key id alone (not the ARN with the account number)."""
    return key_arn_or_id.rsplit("/", 1)[-1]
