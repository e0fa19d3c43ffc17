"""Replay reproduces the emulator's state exactly: run in a fresh interpreter (moto's backends are global).

``python -m tests.integration.devtools.replay_check DIR`` serves a journaled emulator in this process, runs calls
of every persisted service through it over HTTP (DynamoDB writes and a transaction, KMS keys symmetric and
asymmetric, an alias, a deletion scheduled, Cognito pools, users, groups and a sign-in, S3 puts and a
delete), with a snapshot in the middle; flattens the live state; empties moto; loads the snapshot and
replays the journal; flattens again; and prints, as JSON, the paths that differ and whether a ciphertext
made before still decrypts and a token issued before is still known.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
import threading
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import serialization
from moto.backends import get_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from devtools.emulator import EMULATOR_LOCK, EmulatorServer, KeepAliveHandler, install, serialised
from devtools.persistence import SERVICES, Store
from devtools.replay import replay

REGION = "eu-west-2"
LAZY = re.compile(r"/[^/]+/[^/]+/[^/]+<\w+Backend>/'(account_id|partition|region_name)'")  # made empty by a read
LEAVES = (str, bytes, int, float, bool, type(None), datetime.datetime, datetime.date, Decimal)


def flatten(value: Any, path: str = "", out: dict[str, str] | None = None, depth: int = 0,
            seen: frozenset[int] = frozenset()) -> dict[str, str]:
    out = {} if out is None else out
    if isinstance(value, LEAVES):
        out[path] = repr(value)
    elif hasattr(value, "private_bytes"):
        out[path] = value.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).hex()
    elif id(value) in seen or depth > 40 or (callable(value) and not hasattr(value, "__dict__")):
        out[path] = type(value).__name__
    elif isinstance(value, dict):
        for key in sorted(value, key=repr):
            flatten(value[key], f"{path}/{key!r}", out, depth + 1, seen | {id(value)})
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            flatten(item, f"{path}[{index}]", out, depth + 1, seen | {id(value)})
    elif isinstance(value, (set, frozenset)):
        out[path] = repr(sorted(repr(sorted(flatten(item, depth=depth + 1, seen=seen).items())) for item in value))
    elif hasattr(value, "__dict__") and type(value).__module__.startswith(("moto", "collections", "devtools")):
        flatten(vars(value), f"{path}<{type(value).__name__}>", out, depth + 1, seen | {id(value)})
    else:
        out[path] = type(value).__name__
    return out


def state() -> dict[str, str]:
    return flatten({service: {account: dict(regions) for account, regions in get_backend(service).items()}  # type: ignore[call-overload]
                    for service in SERVICES})


def workload(url: str, store: Store) -> dict[str, Any]:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    config = Config(retries={"max_attempts": 1})
    dynamodb = session.client("dynamodb", endpoint_url=url, config=config)
    kms = session.client("kms", endpoint_url=url, config=config)
    cognito = session.client("cognito-idp", endpoint_url=url, config=config)
    s3 = session.client("s3", endpoint_url=url, config=config)
    dynamodb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                {"AttributeName": "sk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST",
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/enclave-check", TargetKeyId=key)
    for n in range(5):
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": f"{n:03d}"}, "n": {"N": str(n)}})
    store.save()  # a snapshot in the middle: the rest is replayed from the journal
    ciphertext = kms.encrypt(KeyId="alias/enclave-check", Plaintext=b"secret")["CiphertextBlob"]
    dynamodb.update_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "001"}},
                         UpdateExpression="SET n = n + :one", ExpressionAttributeValues={":one": {"N": "1"}})
    dynamodb.delete_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "002"}})
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "x"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"S": "000"}},
                    "UpdateExpression": "SET m = :m", "ExpressionAttributeValues": {":m": {"S": "m"}}}}])
    with suppress(dynamodb.exceptions.ConditionalCheckFailedException):  # journaled too; changes nothing
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "b"}, "sk": {"S": "x"}},
                          ConditionExpression="attribute_not_exists(pk)")
    late = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=late, PendingWindowInDays=7)
    pool = cognito.create_user_pool(PoolName="check")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="c",
                                             ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                                "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]
    cognito.create_group(UserPoolId=pool, GroupName="staff")
    cognito.admin_create_user(UserPoolId=pool, Username="ada", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username="ada", Password="Secret-pass-1", Permanent=True)
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="ada", GroupName="staff")
    tokens = cognito.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": "ada", "PASSWORD": "Secret-pass-1"})
    s3.create_bucket(Bucket="check", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="check", Key="kept", Body=b"kept")
    s3.put_object(Bucket="check", Key="gone", Body=b"gone")
    s3.delete_object(Bucket="check", Key="gone")
    return {"ciphertext": ciphertext, "signing": signing, "pool": pool, "client": client["ClientId"],
            "refresh": tokens["AuthenticationResult"]["RefreshToken"]}


def serve(store: Store, app: Any) -> tuple[EmulatorServer, str]:
    server = EmulatorServer("127.0.0.1", 0, serialised(app, store), handler=KeepAliveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def main(folder: Path) -> None:
    install()
    app = DomainDispatcherApplication(create_backend_app)
    store = Store(folder / "emulator.pickle", EMULATOR_LOCK, 3600.0)
    store.load(lambda record: replay(app, record))
    server, url = serve(store, app)
    made = workload(url, store)
    server.shutdown()
    live = state()
    for service in SERVICES:
        get_backend(service).reset()  # type: ignore[call-overload]
    assert state() != live
    again = Store(folder / "emulator.pickle", EMULATOR_LOCK, 3600.0)
    with EMULATOR_LOCK:
        again.load(lambda record: replay(app, record))
    replayed = state()
    differ = sorted(path for path in live.keys() | replayed.keys() if live.get(path) != replayed.get(path)
                    and not LAZY.fullmatch(path))
    server, url = serve(again, app)
    kms = boto3.client("kms", endpoint_url=url, region_name=REGION, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    cognito = boto3.client("cognito-idp", endpoint_url=url, region_name=REGION, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
    plaintext = kms.decrypt(CiphertextBlob=made["ciphertext"])["Plaintext"]
    refreshed = cognito.initiate_auth(ClientId=made["client"], AuthFlow="REFRESH_TOKEN_AUTH",
                                      AuthParameters={"REFRESH_TOKEN": made["refresh"]})
    server.shutdown()
    print(json.dumps({"paths": len(live), "replayed_records": again.replayed, "differ": differ[:50],
                      "decrypts": plaintext == b"secret",
                      "refresh_token_known": "IdToken" in refreshed["AuthenticationResult"]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
