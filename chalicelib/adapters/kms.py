"""The regional KMS key as the domain's ``DataKeyProvider``: tenant keys via GenerateDataKey/Decrypt.

Every KMS failure becomes a domain error whose message names only the operation and the AWS error
code, never a key, a blob or plaintext:

* throttling (ThrottlingException, LimitExceededException, ...): ``Throttled`` (429, Retry-After);
* a blob or context that does not match (InvalidCiphertextException, IncorrectKeyException):
  ``IntegrityError`` (500);
* access denied (AccessDeniedException: a revoked grant, the key policy, the kill switch):
  ``KeyAccessDenied`` (503 ``key_access_denied``) — the data is intact, this deployment may not open it;
* KMS failing or unreachable (KMSInternalException, DependencyTimeoutException, connection errors
  and timeouts), or the key disabled or missing: ``ServiceUnavailable`` (503, Retry-After);
* anything else (a bug, such as a ValidationException): ``EnclaveError`` (500).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NoReturn

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib.domain.errors import EnclaveError, IntegrityError, KeyAccessDenied, ServiceUnavailable, Throttled

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

THROTTLING_CODES = frozenset({
    "ThrottlingException", "Throttling", "LimitExceededException", "RequestLimitExceeded",
    "TooManyRequestsException",
})
INTEGRITY_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
UNAVAILABLE_CODES = frozenset({
    "KMSInternalException", "DependencyTimeoutException", "InternalFailure", "ServiceUnavailable",
    "ServiceUnavailableException", "KeyUnavailableException",
})
KEY_UNUSABLE_CODES = frozenset({"DisabledException", "KMSInvalidStateException", "NotFoundException"})
KEY_BYTES = 32


def _retry_after(exc: ClientError, default: int) -> int:
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    value = headers.get("retry-after", "")
    return int(value) if value.isdigit() and 0 < int(value) <= 300 else default


def raise_domain_error(exc: ClientError, operation: str) -> NoReturn:
    """Raise the domain error of a KMS ``ClientError`` (see the module docstring); AWS's message is dropped."""
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    if code in THROTTLING_CODES:
        raise Throttled(f"KMS {operation} is throttled ({code}); retry later",
                        retry_after=_retry_after(exc, 1)) from exc
    if code in ACCESS_DENIED_CODES:
        raise KeyAccessDenied(f"KMS {operation} denied this deployment the key ({code})", retry_after=60) from exc
    if code in INTEGRITY_CODES:
        raise IntegrityError(f"KMS {operation} refused the stored key or its context ({code})") from exc
    if code in UNAVAILABLE_CODES:
        raise ServiceUnavailable(f"KMS {operation} is unavailable ({code}); retry later",
                                 retry_after=_retry_after(exc, 2)) from exc
    if code in KEY_UNUSABLE_CODES:
        raise ServiceUnavailable(f"the regional KMS key is not usable ({code})", retry_after=30) from exc
    raise EnclaveError(f"KMS {operation} failed ({code})") from exc


class KmsDataKeyProvider:
    """``DataKeyProvider`` backed by one KMS key (id, ARN or alias) through an injected client.

    ``client`` is ``boto3.client("kms", region_name=...)`` of the deployment's own region.
    Decrypt names the key too, so a blob of another key is refused rather than silently accepted.
    """

    def __init__(self, client: KMSClient, key_id: str) -> None:
        self._client = client
        self.key_id = key_id

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        try:
            response = self._client.generate_data_key(
                KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=dict(context))
        except ClientError as exc:
            raise_domain_error(exc, "GenerateDataKey")
        except (BotoConnectionError, HTTPClientError) as exc:
            raise ServiceUnavailable("KMS cannot be reached; retry later") from exc
        plaintext, blob = response["Plaintext"], response["CiphertextBlob"]
        if not isinstance(plaintext, bytes) or len(plaintext) != KEY_BYTES or not isinstance(blob, bytes):
            raise EnclaveError("the key service returned an unexpected data key")
        return plaintext, blob

    def decrypt_data_key(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        try:
            response = self._client.decrypt(
                CiphertextBlob=wrapped, KeyId=self.key_id, EncryptionContext=dict(context))
        except ClientError as exc:
            raise_domain_error(exc, "Decrypt")
        except (BotoConnectionError, HTTPClientError) as exc:
            raise ServiceUnavailable("KMS cannot be reached; retry later") from exc
        plaintext = response["Plaintext"]
        if not isinstance(plaintext, bytes) or len(plaintext) != KEY_BYTES:
            raise IntegrityError("the key service returned a key of unexpected length")
        return plaintext

    def __repr__(self) -> str:
        return f"KmsDataKeyProvider(key_id={self.key_id!r})"
