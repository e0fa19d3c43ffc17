"""Lazily created AWS clients, one per (service, region), reused across invocations.

The SDK is imported on first use, not at import time: it is the largest part of a cold start and
``/v1/health`` does not need it. Clients come from a botocore session: they are the very clients
boto3 would hand out (boto3's ``client()`` delegates to botocore), without importing boto3 itself
and s3transfer (~17 ms of a cold start) for resources and transfer helpers Enclave does not use.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

    from chalicelib.adapters.edge_routes import KeyValueStoreClient


class AwsClients:
    """Builds each client once; thread-safe (chalice local serves requests on threads)."""

    def __init__(self, endpoint_url: str | None = None, max_attempts: int = 3, *,
                 emulator_credentials: bool = False) -> None:
        """``emulator_credentials``: sign with dummy keys (the local emulator checks none)."""
        self._endpoint_url = endpoint_url
        self._emulator_credentials = emulator_credentials
        self._max_attempts = max_attempts
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._session: Any = None

    def _client(self, service: str, region: str) -> Any:
        key = (service, region)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._create(service, region)
                    self._clients[key] = client
        return client

    def _create(self, service: str, region: str) -> Any:
        import botocore.session
        from botocore.config import Config

        if self._session is None:
            self._session = botocore.session.get_session()
            if self._emulator_credentials:
                self._session.set_credentials("testing", "testing")
        config = Config(
            retries={"max_attempts": self._max_attempts, "mode": "standard"},
            connect_timeout=3,
            read_timeout=10,
            tcp_keepalive=True,
            # the service validates every request anyway; botocore's client-side pass over each
            # parameter tree was ~8% of the server's CPU per request (bench/bench_profile.py)
            parameter_validation=False,
        )
        return self._session.create_client(service, region_name=region, endpoint_url=self._endpoint_url,
                                           config=config)

    def dynamodb(self, region: str) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb", region)
        return client

    def kms(self, region: str) -> KMSClient:
        client: KMSClient = self._client("kms", region)
        return client

    def s3(self, region: str) -> S3Client:
        client: S3Client = self._client("s3", region)
        return client

    def events(self, region: str) -> Any:
        """The EventBridge client (no type stubs are installed for it)."""
        return self._client("events", region)
    def sqs(self, region: str) -> Any:
        """The SQS client (bulk imports' queue; untyped: no stubs for SQS are installed)."""
        return self._client("sqs", region)

    def edge_routes(self) -> KeyValueStoreClient:
        """The CloudFront KeyValueStore data-plane client (global; SigV4A, which needs ``awscrt``)."""
        client: KeyValueStoreClient = self._client("cloudfront-keyvaluestore", "us-east-1")
        return client

    def ses(self, region: str) -> Any:
        """Amazon SES (v1 API: alert e-mails); untyped, no stubs are installed for it."""
        return self._client("ses", region)

    def cognito(self, region: str) -> CognitoIdentityProviderClient:
        client: CognitoIdentityProviderClient = self._client("cognito-idp", region)
        return client
