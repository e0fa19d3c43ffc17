"""What the offline checks trust: ``--keys FILE`` (the region's published key set, ``GET /v1/audit/keys``
or an export's ``keys.json``), ``--key PEM_FILE`` (pinned keys), or, with neither, the document's own
``public_keys``, which proves only that the document is self-consistent: a loud warning says so."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from chalicelib.domain.audit.canonical import AuditFormatError
from chalicelib.domain.audit.keyset import PublishedKeys

MAX_KEYS_FILE = 4 * 1024 * 1024
SELF_TRUST_WARNING = (
    "WARNING: no --keys given: trusting the public key inside the document itself. A forger who rewrote the "
    "trail can sign with a key of their own. Check against the region's published keys: "
    "GET /v1/audit/keys > keys.json, then pass --keys keys.json.")


class KeysUnreadable(Exception):
    """The key set file cannot be read or is not a key set; the message says why."""


def add_arguments(parser: Any) -> None:
    """``--key`` (repeatable) and ``--keys`` on an ``audit`` subcommand."""
    parser.add_argument("--key", action="append", default=[], metavar="PEM_FILE",
                        help="trusted signing public key (PEM); repeat for several; pins the keys")
    parser.add_argument("--keys", metavar="KEYS_FILE",
                        help="the region's published signing keys (GET /v1/audit/keys, or an export's keys.json): "
                             "every signature must be by one of them, made while it was valid")


def read_published(path: str | None) -> PublishedKeys | None:
    """The key set in ``path`` (None: no ``--keys``); KeysUnreadable if it cannot be used."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.loads(handle.read(MAX_KEYS_FILE + 1))
    except OSError as exc:
        raise KeysUnreadable(f"{exc.filename or path}: {exc.strerror or type(exc).__name__}") from None
    except (ValueError, RecursionError):
        raise KeysUnreadable(f"{path}: not a JSON document") from None
    try:
        return PublishedKeys.parse(document)
    except AuditFormatError as exc:
        raise KeysUnreadable(f"{path}: {exc}") from None


def warn_self_trust(keys_file: str | None, key_files: object, stream: TextIO | None = None) -> None:
    """With neither ``--keys`` nor ``--key``, print the warning (on stderr)."""
    if keys_file is None and not key_files:
        print(SELF_TRUST_WARNING, file=stream or sys.stderr, flush=True)
