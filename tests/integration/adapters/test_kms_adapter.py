"""``KmsDataKeyProvider`` against moto's KMS (one key for the session) and its error mapping (Stubber)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from chalicelib.adapters.kms import KmsDataKeyProvider
from chalicelib.domain.crypto import Keyring, tenant_key_context
from chalicelib.domain.errors import EnclaveError, IntegrityError, KeyAccessDenied, ServiceUnavailable, Throttled
from chalicelib.domain.ids import new_id
from tests.integration.conftest import Emulated

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

REGION = "eu-west-2"
ALIAS = "alias/enclave-test-kms-adapter"
LEARNER = {"given_name": "Ana", "email": "ana@example.org", "guardian": {"email": "g@example.org"}}


@dataclass
class Kms:
    client: KMSClient
    """A client of the emulated KMS, which holds the session's one key (alias ``ALIAS``)."""
    offline: KMSClient
    """A client for Stubber and fault injection: no retries, never reaches the emulator."""
    key_id: str


@pytest.fixture(scope="session")
def kms(emulated: Emulated) -> Kms:
    """One more key in the session's emulator (CreateKey costs ~50 ms: once per session)."""
    client = emulated.clients.kms(REGION)
    key_id = client.create_key(Description="kms adapter tests")["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName=ALIAS, TargetKeyId=key_id)
    offline = boto3.client("kms", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
    return Kms(client, offline, key_id)


@pytest.fixture
def kms_calls(kms: Kms) -> Iterator[list[str]]:
    """Names of the KMS operations called during the test, counted through botocore's event system."""
    calls: list[str] = []

    def count(**kwargs: Any) -> None:
        calls.append(kwargs["model"].name)

    kms.client.meta.events.register("before-call.kms", count)
    yield calls
    kms.client.meta.events.unregister("before-call.kms", count)


@pytest.fixture
def provider(kms: Kms) -> KmsDataKeyProvider:
    return KmsDataKeyProvider(kms.client, ALIAS)


def test_a_data_key_round_trips_under_its_encryption_context(provider: KmsDataKeyProvider) -> None:
    context = tenant_key_context(new_id("tnt"), 1)
    plaintext, blob = provider.generate_data_key(context)
    assert len(plaintext) == 32
    assert plaintext not in blob
    assert provider.decrypt_data_key(blob, context) == plaintext


def test_another_tenant_or_version_in_the_context_is_an_integrity_error(provider: KmsDataKeyProvider) -> None:
    tenant_id = new_id("tnt")
    plaintext, blob = provider.generate_data_key(tenant_key_context(tenant_id, 1))
    for context in (tenant_key_context(new_id("tnt"), 1), tenant_key_context(tenant_id, 2), {}):
        with pytest.raises(IntegrityError, match="InvalidCiphertextException") as exc:
            provider.decrypt_data_key(blob, context)
        assert not [r for r in (plaintext.hex(), blob.hex(), base64.b64encode(blob).decode()) if r in str(exc.value)]


def test_a_warm_keyring_calls_kms_once_for_many_decrypts(provider: KmsDataKeyProvider, kms_calls: list[str]) -> None:
    record = Keyring(provider).create_tenant_key(new_id("tnt"))
    assert kms_calls == ["GenerateDataKey"]
    cold = Keyring(provider)                                # another process: nothing cached yet
    learners = [cold.tenant_keys([record]).new_learner_key(new_id("lrn")) for _ in range(25)]
    sealed = [key.cipher.encrypt_record("learner", LEARNER) for key, _ in learners]
    for _ in range(4):
        for (_, wrapped), envelopes in zip(learners, sealed, strict=True):
            key = cold.tenant_keys([record]).unwrap(wrapped)
            assert key.cipher.decrypt_record("learner", envelopes) == LEARNER
    assert kms_calls == ["GenerateDataKey", "Decrypt"]


def test_a_tenant_key_record_relabelled_to_another_tenant_or_version_fails(provider: KmsDataKeyProvider) -> None:
    record = Keyring(provider).create_tenant_key(new_id("tnt"))
    for forged in (replace(record, tenant_id=new_id("tnt")), replace(record, version=2)):
        with pytest.raises(IntegrityError):
            Keyring(provider).tenant_key(forged)


@pytest.mark.parametrize(("code", "expected", "status"), [
    ("ThrottlingException", Throttled, 429),
    ("LimitExceededException", Throttled, 429),
    ("InvalidCiphertextException", IntegrityError, 500),
    ("IncorrectKeyException", IntegrityError, 500),
    ("AccessDeniedException", KeyAccessDenied, 503),
    ("KMSInternalException", ServiceUnavailable, 503),
    ("DependencyTimeoutException", ServiceUnavailable, 503),
    ("DisabledException", ServiceUnavailable, 503),
    ("ValidationException", EnclaveError, 500),
])
@pytest.mark.parametrize("operation", ["decrypt", "generate_data_key"])
def test_kms_errors_become_domain_errors(kms: Kms, code: str, expected: type[EnclaveError], status: int,
                                         operation: str) -> None:
    provider = KmsDataKeyProvider(kms.offline, ALIAS)
    blob, context = b"\x01wrapped-tenant-key-blob\xff", tenant_key_context("tnt_x", 1)
    with Stubber(kms.offline) as stubber:
        stubber.add_client_error(operation, service_error_code=code, service_message=f"blob {blob.hex()}")
        call = (lambda: provider.decrypt_data_key(blob, context)) if operation == "decrypt" else \
            (lambda: provider.generate_data_key(context))
        with pytest.raises(expected) as exc:
            call()
        stubber.assert_no_pending_responses()
    assert type(exc.value) is expected
    assert exc.value.status == status
    assert code in exc.value.message
    assert blob.hex() not in exc.value.message  # AWS's own message is never passed on
    if isinstance(exc.value, Throttled | ServiceUnavailable):
        assert exc.value.retry_after >= 1


def test_a_retry_after_header_from_kms_is_passed_on(kms: Kms) -> None:
    provider = KmsDataKeyProvider(kms.offline, ALIAS)
    with Stubber(kms.offline) as stubber:
        stubber.add_client_error("decrypt", service_error_code="ThrottlingException", http_status_code=400,
                                 response_meta={"HTTPHeaders": {"retry-after": "7"}})
        with pytest.raises(Throttled) as exc:
            provider.decrypt_data_key(b"blob", tenant_key_context("tnt_x", 1))
    assert exc.value.retry_after == 7


@pytest.mark.parametrize("fault", [
    EndpointConnectionError(endpoint_url="https://kms.eu-west-2.amazonaws.com/"),
    ReadTimeoutError(endpoint_url="https://kms.eu-west-2.amazonaws.com/"),
])
def test_an_unreachable_kms_is_service_unavailable(kms: Kms, fault: Exception) -> None:
    def fail(**_: Any) -> None:
        raise fault

    kms.offline.meta.events.register_first("before-send.kms", fail)
    try:
        with pytest.raises(ServiceUnavailable, match="cannot be reached") as exc:
            KmsDataKeyProvider(kms.offline, ALIAS).decrypt_data_key(b"blob", tenant_key_context("tnt_x", 1))
    finally:
        kms.offline.meta.events.unregister("before-send.kms", fail)
    assert exc.value.retry_after >= 1


def test_the_provider_repr_names_only_the_key(provider: KmsDataKeyProvider) -> None:
    assert repr(provider) == f"KmsDataKeyProvider(key_id={ALIAS!r})"
