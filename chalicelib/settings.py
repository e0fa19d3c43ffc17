"""Typed settings of one regional deployment, read once from the environment.

This is the only module that reads ``os.environ``. Chalice puts each stage's
``environment_variables`` (``.chalice/config.json``) into the environment; the local platform
adds the emulator's endpoint and the Cognito pool ids it created.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Folder holding app.py; in Lambda /var/task, where vendor/ puts policies/ too."""

REGIONS: tuple[str, ...] = ("ap-southeast-1", "ap-southeast-2", "eu-west-2", "us-east-1")
"""The four regional deployments, in the order of the local ports (base + 1 .. base + 4)."""


AUDIT_STREAM_PLACEHOLDER = "arn:aws:dynamodb:us-east-1:000000000000:table/enclave-audit/stream/set-by-the-stage"
"""Chalice needs a stream ARN when ``app.py`` is imported; the deployed value comes from the template."""


class SettingsError(RuntimeError):
    """The environment does not describe a usable deployment."""


class CognitoPool(BaseModel):
    """One regional user pool and the app client whose ID tokens the API accepts."""

    model_config = ConfigDict(frozen=True)

    pool_id: str
    client_id: str
    domain: str | None = Field(default=None, pattern=r"^https://[a-z0-9.-]+$")
    """The pool's hosted UI (``https://<prefix>.auth.<region>.amazoncognito.com`` or a custom domain): where the
    deployed console signs users in. Unset locally (the console signs in to the emulator's pools directly)."""


class Settings(BaseModel):
    """Everything a regional deployment needs to know about where it runs."""

    model_config = ConfigDict(frozen=True)

    stage: str = "dev"
    region: str
    directory_region: str
    directory_table: str = "enclave-directory"
    idempotency_table: str = "enclave-idempotency"
    data_table_prefix: str = "enclave-data"
    audit_table_prefix: str = "enclave-audit"
    key_table_prefix: str = "enclave-keys"
    kms_key_alias: str = "alias/enclave-data"
    signing_key_alias: str = "alias/enclave-audit-signing"
    export_bucket_prefix: str = "enclave-exports"
    witness_bucket_prefix: str = "enclave-witness"
    import_queue: str = Field(default="enclave-imports", pattern=r"^[A-Za-z0-9_-]{1,80}$")
    """The bulk-import worker's SQS queue in this region (the bucket's upload events and the chunks)."""
    """``<prefix>-<region>``: every signed tree head, under S3 Object Lock in compliance mode."""
    head_interval_seconds: int = Field(default=300, ge=1)
    """A tree head is signed at least this often while events arrive (and at every ``checkpoint_every``)."""
    checkpoint_every: int = Field(default=100, ge=1)
    offboarding_wait_days: int = Field(default=30, ge=0, le=366)
    """Days between requesting a tenant's offboarding and the first moment it can be confirmed."""
    key_rotation_days: int = Field(default=90, ge=1)
    """The daily schedule rotates a tenant's key when its newest version is this old."""
    recovery_window_days: int = Field(default=35, ge=1, le=35)
    """Point-in-time recovery period of the data tables (DynamoDB allows 1-35 days): an erased learner's
    ciphertexts may sit in a restorable backup this long (``backups_expire_by``)."""
    endpoints: dict[str, str] = Field(default_factory=dict)
    cognito_pools: dict[str, CognitoPool] = Field(default_factory=dict)
    jwks_url_template: str | None = None
    """Where to fetch a pool's JWKS; ``{issuer}`` and ``{pool_id}`` are filled in.
    Unset: ``{issuer}/.well-known/jwks.json`` as in AWS."""
    aws_endpoint_url: str | None = None
    policy_dir: Path = PROJECT_ROOT / "policies"
    log_level: str = "INFO"
    console_origin: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9.:\-]+$")
    """The console's origin (scheme://host[:port]): the one origin CORS allows. Unset: no CORS headers."""
    edge_kvs_arn: str | None = Field(default=None,
                                     pattern=r"^arn:aws[a-z-]*:cloudfront::[0-9]{12}:key-value-store/[A-Za-z0-9-]+$")
    """The global entry's CloudFront KeyValueStore (tenant id -> home region). Unset: no routing-table sync."""
    audit_stream_arn: str = Field(default=AUDIT_STREAM_PLACEHOLDER, pattern=r"^arn:aws[a-z-]*:dynamodb:")
    """The audit table stream the sequencer function reads (``on_dynamodb_record``). The stage template
    replaces the placeholder with each home audit table's ``StreamArn`` (deploy/sequencer.py)."""

    def data_table(self, jurisdiction: str) -> str:
        return f"{self.data_table_prefix}-{jurisdiction.lower()}"

    def key_table(self, jurisdiction: str) -> str:
        """The jurisdiction's key table (learner and tenant key records; no point-in-time recovery)."""
        return f"{self.key_table_prefix}-{jurisdiction.lower()}"

    def audit_table(self, jurisdiction: str) -> str:
        return f"{self.audit_table_prefix}-{jurisdiction.lower()}"

    @property
    def export_bucket(self) -> str:
        return f"{self.export_bucket_prefix}-{self.region}"

    @property
    def witness_bucket(self) -> str:
        return f"{self.witness_bucket_prefix}-{self.region}"

    def endpoint_of(self, region: str) -> str:
        """Public base URL of the deployment serving ``region``."""
        return self.endpoints.get(region, f"https://api.{region}.enclave.example")

    def issuer_of(self, region: str) -> str:
        return f"https://cognito-idp.{region}.amazonaws.com/{self.cognito_pools[region].pool_id}"

    def jwks_url(self, region: str) -> str:
        issuer = self.issuer_of(region)
        template = self.jwks_url_template or "{issuer}/.well-known/jwks.json"
        return template.format(issuer=issuer, pool_id=self.cognito_pools[region].pool_id)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``ENCLAVE_*`` variables; fail with the variable's name."""
        region = environ.get("ENCLAVE_REGION") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise SettingsError("ENCLAVE_REGION (or AWS_REGION) must name the deployment's region")
        values: dict[str, object] = {
            "region": region,
            "directory_region": environ.get("ENCLAVE_DIRECTORY_REGION") or region,
        }
        plain = {
            "stage": "ENCLAVE_STAGE",
            "directory_table": "ENCLAVE_DIRECTORY_TABLE",
            "idempotency_table": "ENCLAVE_IDEMPOTENCY_TABLE",
            "data_table_prefix": "ENCLAVE_DATA_TABLE_PREFIX",
            "key_table_prefix": "ENCLAVE_KEY_TABLE_PREFIX",
            "audit_table_prefix": "ENCLAVE_AUDIT_TABLE_PREFIX",
            "kms_key_alias": "ENCLAVE_KMS_KEY_ALIAS",
            "signing_key_alias": "ENCLAVE_SIGNING_KEY_ALIAS",
            "export_bucket_prefix": "ENCLAVE_EXPORT_BUCKET_PREFIX",
            "witness_bucket_prefix": "ENCLAVE_WITNESS_BUCKET_PREFIX",
            "import_queue": "ENCLAVE_IMPORT_QUEUE",
            "head_interval_seconds": "ENCLAVE_HEAD_INTERVAL_SECONDS",
            "jwks_url_template": "ENCLAVE_JWKS_URL_TEMPLATE",
            "aws_endpoint_url": "AWS_ENDPOINT_URL",
            "policy_dir": "ENCLAVE_POLICY_DIR",
            "log_level": "ENCLAVE_LOG_LEVEL",
            "checkpoint_every": "ENCLAVE_CHECKPOINT_EVERY",
            "offboarding_wait_days": "ENCLAVE_OFFBOARDING_WAIT_DAYS",
            "recovery_window_days": "ENCLAVE_RECOVERY_WINDOW_DAYS",
            "key_rotation_days": "ENCLAVE_KEY_ROTATION_DAYS",
            "console_origin": "ENCLAVE_CONSOLE_ORIGIN",
            "edge_kvs_arn": "ENCLAVE_EDGE_KVS_ARN",
            "audit_stream_arn": "ENCLAVE_AUDIT_STREAM_ARN",
        }
        values.update({field: environ[var] for field, var in plain.items() if environ.get(var)})
        for field, var in (("endpoints", "ENCLAVE_ENDPOINTS"), ("cognito_pools", "ENCLAVE_COGNITO_POOLS")):
            if environ.get(var):
                try:
                    values[field] = json.loads(environ[var])
                except ValueError as exc:
                    raise SettingsError(f"{var} is not valid JSON: {exc}") from None
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(f"invalid settings: {exc}") from None


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_environ(os.environ)


class LocalPlatformSettings(BaseModel):
    """Ports and paths of the local development platform (``make run``) and its CLI."""

    model_config = ConfigDict(frozen=True)

    moto_port: int = 5000
    port_base: int = 8000
    host: str = "127.0.0.1"
    state_dir: Path = PROJECT_ROOT / ".enclave"
    fresh: bool = False  # start the emulator empty (ENCLAVE_FRESH=1), overwriting the saved state
    snapshot_seconds: float = 5.0  # how often the emulator saves a snapshot (bounds the journal it replays)
    journal: bool = True  # every mutating call on disk before its answer (ENCLAVE_JOURNAL=0: snapshots only)

    @property
    def emulator_state_file(self) -> Path:
        """The emulator's saved state (DynamoDB, KMS, Cognito, S3): loaded by ``make run``."""
        return self.state_dir / "emulator.pickle"

    @property
    def emulator_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    def port_of(self, region: str) -> int:
        return self.port_base + 1 + REGIONS.index(region)

    def endpoint_of(self, region: str) -> str:
        return f"http://{self.host}:{self.port_of(region)}"

    @property
    def console_url(self) -> str:
        """Where ``make run`` serves the console (the one origin the local APIs allow)."""
        return f"http://{self.host}:{self.port_base + 8}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> LocalPlatformSettings:
        values: dict[str, object] = {}
        for field, var in (("moto_port", "ENCLAVE_MOTO_PORT"), ("port_base", "ENCLAVE_PORT_BASE"),
                           ("state_dir", "ENCLAVE_STATE_DIR"), ("fresh", "ENCLAVE_FRESH"),
                           ("snapshot_seconds", "ENCLAVE_SNAPSHOT_SECONDS"), ("journal", "ENCLAVE_JOURNAL")):
            if environ.get(var):
                values[field] = environ[var]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(f"invalid local platform settings: {exc}") from None


def load_local_settings() -> LocalPlatformSettings:
    return LocalPlatformSettings.from_environ(os.environ)
