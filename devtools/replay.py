"""Which emulator requests change state, what the journal keeps of one, and how it is applied again.

A mutating request is journaled as it arrived (its WSGI environ and body) with what makes moto's
answer to it deterministic when it is replayed over the same state:

- moto draws every identifier it generates (KMS key ids, Cognito pool, client and user ids, tokens,
  S3 version ids) from one seedable generator: each request runs with a fresh seed, kept in its record;
- the time it ran at: moto's clocks are frozen at it while it runs, live and replayed (creation dates,
  token times, stream records);
- what neither covers, KMS key material (``os.urandom``, OpenSSL): the key as it stood after the request.

Mutating: every call of a persisted service (``devtools.persistence.SERVICES``) but the ones its API
defines as reads (Get*, Describe*, List*, Query, Scan, Encrypt, GenerateDataKey, ...); an unknown
action is journaled. Cognito's InitiateAuth is journaled (moto stores the tokens it issues).
"""

from __future__ import annotations

import datetime
import importlib
import io
import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import moto.core.utils
from moto.backends import get_backend
from moto.moto_api._internal import mock_random

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

TARGETS = {"DynamoDB_20120810": "dynamodb", "TrentService": "kms", "AWSCognitoIdentityProviderService": "cognito-idp"}
READS = {
    "dynamodb": re.compile(r"(Get|Describe|List|BatchGet|TransactGet).*|Query|Scan"),
    "kms": re.compile(r"(Get|Describe|List|GenerateDataKey).*|Encrypt|Decrypt|ReEncrypt|GenerateRandom|GenerateMac|"
                      r"VerifyMac|Sign|Verify"),
    "cognito-idp": re.compile(r"(Get|Describe|List|AdminList).*|AdminGetUser|AdminGetDevice"),
}
PACKAGES = ("dynamodb", "kms", "cognitoidp", "s3")  # moto's packages of devtools.persistence.SERVICES
KEY_MATERIAL = {"CreateKey", "RotateKeyOnDemand", "ReplicateKey", "ImportKeyMaterial", "DeleteImportedKeyMaterial"}
CREDENTIAL = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
S3_WRITES = {"PUT", "POST", "DELETE"}


def service_of(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service, action) of a request, or None when it is no call of a persisted service."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        prefix, _, action = target.partition(".")
        service = TARGETS.get(prefix)
        return (service, action) if service else None
    scope = CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")) + " Credential="
                              + str(environ.get("QUERY_STRING", "")).replace("%2F", "/"))
    if scope and scope.group(1) == "s3":
        return "s3", str(environ.get("REQUEST_METHOD", ""))
    return None


def mutation(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service, action) when the request may change persisted state (and is to be journaled)."""
    found = service_of(environ)
    if found is None:
        return None
    service, action = found
    if service == "s3":
        return found if action in S3_WRITES else None
    return None if READS[service].fullmatch(action) else found


def begin(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The record of a mutating request about to run; seeds moto's generator (call under the lock)."""
    seed = secrets.randbits(63)
    mock_random.seed(seed)
    CLOCK.install()
    CLOCK.at = _real_time()
    kept = {key: value for key, value in environ.items()
            if isinstance(value, str) and not key.startswith(("wsgi.", "werkzeug."))}
    return {"t": CLOCK.at, "seed": seed, "environ": kept, "body": body}


def finish(record: dict[str, Any], found: tuple[str, str], answer: bytes) -> None:
    """Add what the seed and the clock do not reproduce: KMS key material (as the key stands now)."""
    service, action = found
    if service != "kms" or action not in KEY_MATERIAL:
        return
    try:
        reply = json.loads(answer or b"{}")
        request = json.loads(record["body"] or b"{}")
    except ValueError:
        return
    metadata = reply.get("KeyMetadata") or reply.get("ReplicaKeyMetadata") or {}
    key_id = str(metadata.get("KeyId") or reply.get("KeyId") or request.get("KeyId") or "").rsplit("/", 1)[-1]
    keys = []
    for account, regions in get_backend("kms").items():
        for region, backend in regions.items():
            if key_id and key_id in backend.keys:
                keys.append((account, region, key_id, backend.keys[key_id]))
    record["keys"] = keys


class _Clock:
    """moto's clocks (``utcnow``, ``time.time()``, ``datetime.now()`` as its modules call them), frozen on demand.

    ``at`` is set, under the emulator's lock, while a mutating request runs (live and replayed alike),
    so both see the same time; otherwise moto sees the real time."""

    def __init__(self) -> None:
        self.at: float | None = None
        self._modules = 0

    def time(self) -> float:
        return _real_time() if self.at is None else self.at

    def utcnow(self) -> datetime.datetime:
        return _real_utcnow() if self.at is None else _REAL_DATETIME.fromtimestamp(self.at, datetime.UTC).replace(
            tzinfo=None)

    def install(self) -> None:
        """Point every loaded moto module at this clock (again when modules were imported since)."""
        if len(sys.modules) == self._modules:
            return
        if not self._modules:  # import the persisted services now: their first request must see this clock too
            for package in PACKAGES:
                importlib.import_module(f"moto.{package}.models")
                importlib.import_module(f"moto.{package}.responses")
        for name, module in list(sys.modules.items()):
            if not name.startswith("moto"):
                continue
            for attribute, replacement in (("utcnow", (_real_utcnow, self.utcnow)), ("time", (time, _TIME_SHIM)),
                                           ("datetime", (datetime, _DATETIME_SHIM)),
                                           ("datetime", (_REAL_DATETIME, FrozenDatetime))):
                if getattr(module, attribute, None) is replacement[0]:
                    setattr(module, attribute, replacement[1])
        self._modules = len(sys.modules)


_real_time, _real_utcnow, _REAL_DATETIME = time.time, moto.core.utils.utcnow, datetime.datetime
CLOCK = _Clock()


class _FrozenMeta(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, _REAL_DATETIME)

    def __getattr__(cls, name: str) -> Any:
        return getattr(_REAL_DATETIME, name)


class FrozenDatetime(metaclass=_FrozenMeta):
    """``datetime.datetime`` for moto's modules: real instances, ``now`` and ``utcnow`` from ``CLOCK``."""

    def __new__(cls, *args: Any, **kwargs: Any) -> datetime.datetime:  # type: ignore[misc]
        return _REAL_DATETIME(*args, **kwargs)

    @staticmethod
    def now(tz: datetime.tzinfo | None = None) -> datetime.datetime:
        return _REAL_DATETIME.fromtimestamp(CLOCK.time(), tz)

    @staticmethod
    def utcnow() -> datetime.datetime:
        return CLOCK.utcnow()


class _Shim(ModuleType):
    def __init__(self, real: ModuleType, **overrides: Any) -> None:
        super().__init__(real.__name__)
        self.__dict__.update(real.__dict__)
        self.__dict__.update(overrides)


_TIME_SHIM = _Shim(time, time=CLOCK.time)
_DATETIME_SHIM = _Shim(datetime, datetime=FrozenDatetime)


def replay(app: WsgiApp, record: dict[str, Any]) -> None:
    """Apply one journaled request again, as it ran (same seed, same time, same key material)."""
    body = bytes(record["body"])
    environ: dict[str, Any] = {**record["environ"], "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
                               "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.multithread": False,
                               "wsgi.multiprocess": False, "wsgi.run_once": False}
    mock_random.seed(record["seed"])
    CLOCK.install()
    CLOCK.at = float(record["t"])
    try:
        for _ in app(environ, lambda *args, **kwargs: lambda data: None):
            pass
    finally:
        CLOCK.at = None
    for account, region, key_id, key in record.get("keys", ()):
        get_backend("kms")[account][region].keys[key_id] = key
