"""Typed settings of one regional deployment, read once from the environment.

This is the only module that reads ``os.environ``. Chalice puts each stage's
``environment_variables`` (``.chalice/config.json``) into the environment; the local platform
adds the emulator's endpoint and the Cognito pool ids it created.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Folder holding app.py; in Lambda /var/task, where vendor/ puts policies/ too."""

REGIONS: tuple[str, ...] = ("ap-southeast-1", "ap-southeast-2", "eu-west-2", "us-east-1")
"""The four regional deployments, in the order of the local ports (base + 1 .. base + 4)."""


AUDIT_STREAM_PLACEHOLDER = "arn:aws:dynamodb:us-east-1:000000000000:table/enclave-audit/stream/set-by-the-stage"
"""Chalice needs a stream ARN when ``app.py`` is imported; the deployed value comes from the template."""


class SettingsError(RuntimeError):
    """The environment does not describe a usable deployment."""


# Plain frozen dataclasses, checked in ``__post_init__``, not pydantic models: the first request of a cold
# start (a tenant read) then needs no pydantic at all (its import and first model build were ~80-100 ms of
# CPU, the biggest share of a cold start beyond the bare app). The checks are the ones the models had.
# (The ~50 ms of self time ``-X importtime`` charged to this module was pydantic's first-model work done in
# its class bodies: building a validator, and the plugin loader scanning every installed distribution's
# entry points. Every stage also sets PYDANTIC_DISABLE_PLUGINS=__all__, which pydantic reads itself: Enclave
# uses no plugin, so the first body model built skips the scan.)

_Self = TypeVar("_Self")


class _Checked:
    """``model_copy(update=...)``: a copy with some fields replaced (and checked again), as pydantic's."""

    def model_copy(self: _Self, *, update: Mapping[str, Any] | None = None) -> _Self:
        return replace(self, **dict(update or {}))  # type: ignore[type-var]


def _invalid(what: str, name: str, message: str) -> SettingsError:
    return SettingsError(f"invalid {what}: {name}: {message}")


def _text(what: str, name: str, value: object, pattern: str | None = None, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _invalid(what, name, "must be a string")
    if pattern is not None and not re.search(pattern, value):
        raise _invalid(what, name, f"must match {pattern}")
    return value


def _integer(what: str, name: str, value: object, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(what, name, "must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise _invalid(what, name, "must be an integer") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise _invalid(what, name, f"must be between {low} and {high}")
    return number


def _number(what: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid(what, name, "must be a number")
    try:
        return float(value)
    except ValueError:
        raise _invalid(what, name, "must be a number") from None


_TRUE, _FALSE = {"1", "true", "yes", "on", "t", "y"}, {"0", "false", "no", "off", "f", "n"}


def _flag(what: str, name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _invalid(what, name, "must be a boolean (1/0, true/false)")


@dataclass(frozen=True)
class CognitoPool(_Checked):
    """One regional user pool and the app client whose ID tokens the API accepts."""

    pool_id: str
    client_id: str
    domain: str | None = None
    """The pool's hosted UI (``https://<prefix>.auth.<region>.amazoncognito.com`` or a custom domain): where the
    deployed console signs users in. Unset locally (the console signs in to the emulator's pools directly)."""

    def __post_init__(self) -> None:
        _text("settings", "cognito_pools.pool_id", self.pool_id)
        _text("settings", "cognito_pools.client_id", self.client_id)
        _text("settings", "cognito_pools.domain", self.domain, r"^https://[a-z0-9.-]+$", optional=True)

    @classmethod
    def of(cls, value: object) -> CognitoPool:
        """A pool from its JSON form (or the pool itself)."""
        if isinstance(value, CognitoPool):
            return value
        if not isinstance(value, Mapping) or set(value) - {"pool_id", "client_id", "domain"}:
            raise _invalid("settings", "cognito_pools", "each pool is {pool_id, client_id[, domain]}")
        try:
            return cls(**value)
        except TypeError:
            raise _invalid("settings", "cognito_pools", "each pool needs pool_id and client_id") from None

    def model_dump(self) -> dict[str, str | None]:
        return {"pool_id": self.pool_id, "client_id": self.client_id, "domain": self.domain}


@dataclass(frozen=True)
class Settings(_Checked):
    """Everything a regional deployment needs to know about where it runs."""

    region: str
    directory_region: str
    stage: str = "dev"
    directory_table: str = "enclave-directory"
    idempotency_table: str = "enclave-idempotency"
    data_table_prefix: str = "enclave-data"
    audit_table_prefix: str = "enclave-audit"
    key_table_prefix: str = "enclave-keys"
    kms_key_alias: str = "alias/enclave-data"
    signing_key_alias: str = "alias/enclave-audit-signing"
    export_bucket_prefix: str = "enclave-exports"
    witness_bucket_prefix: str = "enclave-witness"
    """``<prefix>-<region>``: every signed tree head, under S3 Object Lock in compliance mode."""
    import_queue: str = "enclave-imports"
    """The bulk-import worker's SQS queue in this region (the bucket's upload events and the chunks)."""
    siem_bucket_prefix: str = "enclave-siem"
    """``<prefix>-<region>``: the OCSF stream of sealed audit events (docs/siem.md)."""
    siem_account_id: str = "000000000000"
    """The ``accountId=`` partition of the stream's Security Lake layout: the deployment's AWS account."""
    event_bus_prefix: str = "enclave-events"
    """``<prefix>-<region>``: the region's EventBridge bus of domain events (docs/events.md)."""
    webhooks_allow_local_http: bool = False
    """Webhook endpoints may be ``http://`` to a loopback address (the local platform's receiver only)."""
    head_interval_seconds: int = 300
    """A tree head is signed at least this often while events arrive (and at every ``checkpoint_every``)."""
    checkpoint_every: int = 100
    offboarding_wait_days: int = 30
    """Days between requesting a tenant's offboarding and the first moment it can be confirmed (0-366)."""
    key_rotation_days: int = 90
    """The daily schedule rotates a tenant's key when its newest version is this old."""
    recovery_window_days: int = 35
    """Point-in-time recovery period of the data tables (DynamoDB allows 1-35 days): an erased learner's
    ciphertexts may sit in a restorable backup this long (``backups_expire_by``)."""
    endpoints: dict[str, str] = field(default_factory=dict)
    cognito_pools: dict[str, CognitoPool] = field(default_factory=dict)
    jwks_url_template: str | None = None
    """Where to fetch a pool's JWKS; ``{issuer}`` and ``{pool_id}`` are filled in.
    Unset: ``{issuer}/.well-known/jwks.json`` as in AWS."""
    aws_endpoint_url: str | None = None
    policy_dir: Path = PROJECT_ROOT / "policies"
    log_level: str = "INFO"
    console_origin: str | None = None
    """The console's origin (scheme://host[:port]): the one origin CORS allows. Unset: no CORS headers."""
    edge_kvs_arn: str | None = None
    """The global entry's CloudFront KeyValueStore (tenant id -> home region). Unset: no routing-table sync."""
    alert_sender: str = "alerts@enclave.example"
    """The From address of alert e-mails; its domain is the stage's SES identity."""
    audit_stream_arn: str = AUDIT_STREAM_PLACEHOLDER
    """The audit table stream the sequencer function reads (``on_dynamodb_record``). The stage template
    replaces the placeholder with each home audit table's ``StreamArn`` (deploy/sequencer.py)."""

    _TEXT = ("region", "directory_region", "stage", "directory_table", "idempotency_table", "data_table_prefix",
             "audit_table_prefix", "key_table_prefix", "kms_key_alias", "signing_key_alias",
             "export_bucket_prefix", "witness_bucket_prefix", "siem_bucket_prefix", "event_bus_prefix", "log_level")
    _OPTIONAL = {"jwks_url_template": None, "aws_endpoint_url": None,
                 "console_origin": r"^https?://[A-Za-z0-9.:\-]+$",
                 "edge_kvs_arn": r"^arn:aws[a-z-]*:cloudfront::[0-9]{12}:key-value-store/[A-Za-z0-9-]+$"}
    _BOUNDS = {"head_interval_seconds": (1, None), "checkpoint_every": (1, None), "offboarding_wait_days": (0, 366),
               "key_rotation_days": (1, None), "recovery_window_days": (1, 35)}

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        for name in self._TEXT:
            _text("settings", name, getattr(self, name))
        for name, pattern in self._OPTIONAL.items():
            _text("settings", name, getattr(self, name), pattern, optional=True)
        _text("settings", "audit_stream_arn", self.audit_stream_arn, r"^arn:aws[a-z-]*:dynamodb:")
        _text("settings", "siem_account_id", self.siem_account_id, r"^[0-9]{12}$")
        _text("settings", "import_queue", self.import_queue, r"^[A-Za-z0-9_-]{1,80}$")
        _text("settings", "alert_sender", self.alert_sender, r"^[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+\.[a-z]{2,}$")
        for name, (low, high) in self._BOUNDS.items():
            put(name, _integer("settings", name, getattr(self, name), low, high))
        put("webhooks_allow_local_http", _flag("settings", "webhooks_allow_local_http", self.webhooks_allow_local_http))
        if not isinstance(self.endpoints, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.endpoints.items()):
            raise _invalid("settings", "endpoints", "must map regions to URLs")
        put("endpoints", dict(self.endpoints))
        if not isinstance(self.cognito_pools, Mapping):
            raise _invalid("settings", "cognito_pools", "must map regions to pools")
        put("cognito_pools", {str(region): CognitoPool.of(pool) for region, pool in self.cognito_pools.items()})
        if not isinstance(self.policy_dir, str | Path):
            raise _invalid("settings", "policy_dir", "must be a path")
        put("policy_dir", Path(self.policy_dir))

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

    @property
    def siem_bucket(self) -> str:
        return f"{self.siem_bucket_prefix}-{self.region}"

    @property
    def alert_domain(self) -> str:
        """The SES identity alerts are sent from (the sender's domain)."""
        return self.alert_sender.rsplit("@", 1)[1]

    @property
    def event_bus(self) -> str:
        return f"{self.event_bus_prefix}-{self.region}"

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
            "siem_bucket_prefix": "ENCLAVE_SIEM_BUCKET_PREFIX",
            "siem_account_id": "ENCLAVE_SIEM_ACCOUNT_ID",
            "event_bus_prefix": "ENCLAVE_EVENT_BUS_PREFIX",
            "webhooks_allow_local_http": "ENCLAVE_WEBHOOKS_ALLOW_LOCAL_HTTP",
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
            "alert_sender": "ENCLAVE_ALERT_SENDER",
        }
        values.update({name: environ[var] for name, var in plain.items() if environ.get(var)})
        for name, var in (("endpoints", "ENCLAVE_ENDPOINTS"), ("cognito_pools", "ENCLAVE_COGNITO_POOLS")):
            if environ.get(var):
                try:
                    values[name] = json.loads(environ[var])
                except ValueError as exc:
                    raise SettingsError(f"{var} is not valid JSON: {exc}") from None
        return cls(**values)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_environ(os.environ)


@dataclass(frozen=True)
class LocalPlatformSettings(_Checked):
    """Ports and paths of the local development platform (``make run``) and its CLI."""

    moto_port: int = 5000
    port_base: int = 8000
    host: str = "127.0.0.1"
    state_dir: Path = PROJECT_ROOT / ".enclave"
    fresh: bool = False  # start the emulator empty (ENCLAVE_FRESH=1), overwriting the saved state
    snapshot_seconds: float = 5.0  # how often the emulator saves a snapshot (bounds the journal it replays)
    journal: bool = True  # every mutating call on disk before its answer (ENCLAVE_JOURNAL=0: snapshots only)

    def __post_init__(self) -> None:
        what = "local platform settings"
        object.__setattr__(self, "moto_port", _integer(what, "moto_port", self.moto_port))
        object.__setattr__(self, "port_base", _integer(what, "port_base", self.port_base))
        _text(what, "host", self.host)
        if not isinstance(self.state_dir, str | Path):
            raise _invalid(what, "state_dir", "must be a path")
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        object.__setattr__(self, "fresh", _flag(what, "fresh", self.fresh))
        object.__setattr__(self, "snapshot_seconds", _number(what, "snapshot_seconds", self.snapshot_seconds))
        object.__setattr__(self, "journal", _flag(what, "journal", self.journal))

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
        for name, var in (("moto_port", "ENCLAVE_MOTO_PORT"), ("port_base", "ENCLAVE_PORT_BASE"),
                           ("state_dir", "ENCLAVE_STATE_DIR"), ("fresh", "ENCLAVE_FRESH"),
                           ("snapshot_seconds", "ENCLAVE_SNAPSHOT_SECONDS"), ("journal", "ENCLAVE_JOURNAL")):
            if environ.get(var):
                values[name] = environ[var]
        return cls(**values)  # type: ignore[arg-type]


def load_local_settings() -> LocalPlatformSettings:
    return LocalPlatformSettings.from_environ(os.environ)
