"""``audit prove FILE`` and ``audit consistency FILE``: check Merkle proofs offline, without boto3.

``FILE`` is the JSON document ``GET .../audit/proof?seq=N`` or ``GET .../audit/consistency?from=A&to=B``
answered, saved as is. ``--keys KEYS_FILE`` checks each head against the region's published key set
(``GET /v1/audit/keys``): its key published, its time within the key's validity. ``--key PEM_FILE``
pins the signing keys. With neither, the document's own ``public_keys`` are believed and a warning
on stderr says so.
``audit consistency --previous HEAD_FILE`` checks that the first head is the one the auditor already
holds (a tree head, an earlier proof document, or an export whose manifest has a ``tree_head``).
Exit status 0: valid (one summary line); 1: refused (the reason) or unreadable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from chalicelib.cli import trust
from chalicelib.cli.export_files import Unreadable as ExportUnreadable
from chalicelib.cli.export_files import last_line
from chalicelib.domain.audit.signing import fingerprints
from chalicelib.domain.audit.tree_heads import ProofResult, check_consistency, check_inclusion

MAX_DOCUMENT = 16 * 1024 * 1024


class Unreadable(Exception):
    """The file cannot be read as a proof document; the message says why."""


def add_parsers(actions: Any) -> None:
    """Add ``prove`` and ``consistency`` to the ``audit`` subcommands."""
    prove = actions.add_parser("prove", help="verify an inclusion proof of one event offline",
                               description="Verify the JSON document of GET .../audit/proof?seq=N: the event is "
                                           "intact, in the signed tree at its seq. Exit 0 valid, 1 refused.")
    prove.add_argument("file", help="the proof document (JSON)")
    trust.add_arguments(prove)
    prove.set_defaults(handler=lambda args: prove_file(args.file, trusted_key_files=args.key, keys_file=args.keys))
    consistency = actions.add_parser(
        "consistency", help="verify that a later signed tree head extends an earlier one, offline",
        description="Verify the JSON document of GET .../audit/consistency?from=A&to=B. Exit 0 valid, 1 refused.")
    consistency.add_argument("file", help="the consistency document (JSON)")
    trust.add_arguments(consistency)
    consistency.add_argument("--previous", metavar="HEAD_FILE",
                             help="a tree head you hold (or a proof document holding one): must be the first head")
    consistency.set_defaults(handler=lambda args: consistency_file(
        args.file, trusted_key_files=args.key, previous_file=args.previous, keys_file=args.keys))


def prove_file(path: str, out: TextIO | None = None, trusted_key_files: Sequence[str] = (),
               keys_file: str | None = None) -> int:
    """Verify the inclusion document at ``path``; report on ``out`` (default stderr); 0 valid, 1 not."""
    code = _prove(path, sys.stderr if out is None else out, trusted_key_files, keys_file)
    trust.warn_self_trust(keys_file, trusted_key_files)
    return code


def _prove(path: str, stream: TextIO, trusted_key_files: Sequence[str], keys_file: str | None) -> int:
    try:
        document, trusted = _read_json(path), _trusted(trusted_key_files)
        published = trust.read_published(keys_file)
    except (Unreadable, trust.KeysUnreadable) as exc:
        return _say(stream, f"unreadable: {exc}", 1)
    result = check_inclusion(document, trusted, published)
    if not result.valid:
        return _say(stream, f"REFUSED: {result.reason}", 1)
    head = document["tree_head"]
    return _say(stream, f"VALID: event seq {document['seq']} ({document['event'].get('action')}) of tenant "
                        f"{head['tenant_id']} is in the signed tree of size {head['tree_size']}, root_hash "
                        f"{head['root_hash']} (signed {head['at']}); keys: {_keys(result)}", 0)


def consistency_file(path: str, out: TextIO | None = None, trusted_key_files: Sequence[str] = (),
                     previous_file: str | None = None, keys_file: str | None = None) -> int:
    """Verify the consistency document at ``path`` (against a held head); 0 valid, 1 not."""
    code = _consistency(path, sys.stderr if out is None else out, trusted_key_files, previous_file, keys_file)
    trust.warn_self_trust(keys_file, trusted_key_files)
    return code


def _consistency(path: str, stream: TextIO, trusted_key_files: Sequence[str], previous_file: str | None,
                 keys_file: str | None) -> int:
    try:
        document, trusted = _read_json(path), _trusted(trusted_key_files)
        previous = None if previous_file is None else _held_head(_read_held(previous_file))
        published = trust.read_published(keys_file)
    except (Unreadable, trust.KeysUnreadable) as exc:
        return _say(stream, f"unreadable: {exc}", 1)
    result = check_consistency(document, trusted, previous, published)
    if not result.valid:
        return _say(stream, f"REFUSED: {result.reason}", 1)
    first, second = document["first_head"], document["second_head"]
    return _say(stream, f"VALID: the signed tree of size {second['tree_size']} (root_hash {second['root_hash']}) "
                        f"extends the one of size {first['tree_size']} (root_hash {first['root_hash']}) of tenant "
                        f"{first['tenant_id']}; keys: {_keys(result)}", 0)


def _say(stream: TextIO, message: str, code: int) -> int:
    print(message, file=stream, flush=True)
    return code


def _keys(result: ProofResult) -> str:
    return ", ".join(f"{key_id} sha256:{fingerprint}" for key_id, fingerprint in sorted(result.keys.items()))


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.loads(handle.read(MAX_DOCUMENT + 1))
    except OSError as exc:
        raise Unreadable(f"{exc.filename or path}: {exc.strerror or type(exc).__name__}") from None
    except (ValueError, RecursionError):
        raise Unreadable(f"{path}: not a JSON document") from None


def _trusted(files: Sequence[str]) -> list[str] | None:
    if not files:
        return None
    pems = []
    for name in files:
        try:
            with open(name, encoding="ascii") as handle:
                pems.append(handle.read(MAX_DOCUMENT))
        except (OSError, UnicodeDecodeError):
            raise Unreadable(f"{name}: cannot read the key file") from None
    try:
        fingerprints(pems)
    except ValueError as exc:
        raise Unreadable(str(exc)) from None
    return pems


def _read_held(path: str) -> Any:
    """A JSON document, or an NDJSON export's manifest line (read from the end: any size)."""
    if path.lower().endswith(".json"):
        return _read_json(path)
    try:
        with open(path, "rb") as handle:
            return json.loads(last_line(handle)[1])
    except OSError as exc:
        raise Unreadable(f"{exc.filename or path}: {exc.strerror or type(exc).__name__}") from None
    except (ExportUnreadable, ValueError, RecursionError):
        raise Unreadable(f"{path}: its last line is not a JSON document") from None


def _held_head(document: Any) -> dict[str, Any]:
    """The tree head in a file: a head itself, the head of an earlier proof document, or the tree head
    in an export's manifest (an NDJSON export, or a CSV export's manifest sidecar)."""
    if isinstance(document, dict) and isinstance(document.get("manifest"), dict):
        document = document["manifest"]
    if isinstance(document, dict):
        for name in ("second_head", "tree_head"):
            if isinstance(document.get(name), dict):
                return document[name]  # type: ignore[no-any-return]
        if "root_hash" in document:
            return document
    raise Unreadable("the previous head file holds no tree head")
