"""Lazily created boto3 clients, one per (service, region), reused across invocations.

boto3 is imported on first use, not at import time: it is the largest part of a cold start and
``/v1/health`` does not need it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client


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
        import boto3
        from botocore.config import Config

        if self._session is None:
            dummy = "testing" if self._emulator_credentials else None
            self._session = boto3.session.Session(aws_access_key_id=dummy, aws_secret_access_key=dummy)
        config = Config(
            retries={"max_attempts": self._max_attempts, "mode": "standard"},
            connect_timeout=3,
            read_timeout=10,
            tcp_keepalive=True,
        )
        return self._session.client(service, region_name=region, endpoint_url=self._endpoint_url, config=config)

    def dynamodb(self, region: str) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb", region)
        return client

    def kms(self, region: str) -> KMSClient:
        client: KMSClient = self._client("kms", region)
        return client

    def s3(self, region: str) -> S3Client:
        client: S3Client = self._client("s3", region)
        return client

    def cognito(self, region: str) -> CognitoIdentityProviderClient:
        client: CognitoIdentityProviderClient = self._client("cognito-idp", region)
        return client
