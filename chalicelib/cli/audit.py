"""``python -m chalicelib.cli audit verify FILE``: check an exported audit trail offline.

(``audit prove`` and ``audit consistency``, for Merkle proofs, live in ``chalicelib.cli.audit_proofs``.)

Two export formats, told apart by the file name:

* NDJSON (any name not ending in ``.csv``): one event per line, the manifest ``{"manifest": {...}}``
  as the last line.
* CSV (``FILE.csv``): the header row, one row per event; the manifest lives in the sidecar file
  ``FILE.csv.manifest.json`` next to it (e.g. ``trail.csv`` + ``trail.csv.manifest.json``), holding
  the same ``{"manifest": {...}}`` document as an NDJSON export's last line.

Exit status 0: valid (one summary line); 1: invalid (the first bad event's seq and the reason) or
unreadable. ``--keys KEYS_FILE`` checks every signature against the region's published key set
(``GET /v1/audit/keys`` or the export's ``keys.json``); ``--key PEM_FILE`` pins the signing keys;
with neither, the manifest's own ``public_keys`` are believed and a warning says so. Needs nothing but
the files: no network, no AWS SDK. Progress goes to the same stream every 100,000 events.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, TextIO

from chalicelib.cli import audit_proofs, parallel_verify, trust
from chalicelib.cli.export_files import MAX_LINE, Unreadable, last_line
from chalicelib.domain.audit import (
    AuditFormatError,
    ChainVerifier,
    VerifyResult,
    csv_event,
    csv_header,
    csv_sidecar_path,
    parse_manifest_document,
)
from chalicelib.domain.audit.keyset import PublishedKeys

PROGRESS_EVERY = 100_000
PARALLEL_MIN_BYTES = parallel_verify.MIN_BYTES  # larger NDJSON files are verified on every core


def add_parser(subparsers: Any) -> Any:
    """Add ``audit`` (with ``verify``, ``prove`` and ``consistency``) to the top-level subparsers; its actions
    (``witness``, which reads S3, is added to them by ``cli/__main__.py``: these offline checks import no AWS)."""
    audit = subparsers.add_parser("audit", help="audit trail tools")
    actions = audit.add_subparsers(dest="audit_command", required=True,
                                   metavar="{verify,prove,consistency,witness}")
    verify = actions.add_parser(
        "verify", help="verify an exported audit trail offline",
        description="Verify an NDJSON export (manifest on its last line) or a CSV export FILE.csv "
                    "(manifest in FILE.csv.manifest.json). Exit 0 valid, 1 invalid or unreadable.",
    )
    verify.add_argument("file", help="the export: NDJSON, or .csv with its .csv.manifest.json sidecar")
    trust.add_arguments(verify)
    verify.set_defaults(handler=_run)
    audit_proofs.add_parsers(actions)
    return actions


def _run(args: argparse.Namespace) -> int:
    return verify_file(args.file, trusted_key_files=args.key, keys_file=args.keys)


def verify_file(path: str, out: TextIO | None = None, trusted_key_files: Sequence[str] = (),
                keys_file: str | None = None) -> int:
    """Verify the export at ``path``, report on ``out`` (default stderr); exit code 0 valid, 1 not.
    ``keys_file``: the published key set every signature is checked against (without it or ``--key``, a
    warning on stderr after the verdict says the document's own key was trusted)."""
    code = _verify_file(path, sys.stderr if out is None else out, trusted_key_files, keys_file)
    trust.warn_self_trust(keys_file, trusted_key_files)
    return code


def _verify_file(path: str, stream: TextIO, trusted_key_files: Sequence[str], keys_file: str | None) -> int:
    try:
        trusted = [_read_key(name) for name in trusted_key_files] if trusted_key_files else None
        published = trust.read_published(keys_file)
        verify = _verify_csv if path.lower().endswith(".csv") else _verify_ndjson
        manifest, result, where = verify(path, _Trust(trusted, published), _progress(stream))
    except trust.KeysUnreadable as exc:
        return _say(stream, f"unreadable: {exc}", 1)
    except Unreadable as exc:
        return _say(stream, f"unreadable: {path}: {exc}", 1)
    except OSError as exc:
        return _say(stream, f"unreadable: {exc.filename or path}: {exc.strerror or type(exc).__name__}", 1)
    except Exception as exc:  # the verifier never shows a traceback
        return _say(stream, f"unreadable: {path}: unexpected {type(exc).__name__}", 1)
    return _say(stream, _summary(manifest, result, where), 0 if result.valid else 1)


def _say(stream: TextIO, message: str, code: int) -> int:
    print(message, file=stream, flush=True)
    return code


def _progress(stream: TextIO) -> Callable[[int], None]:
    def report(count: int) -> None:
        print(f"... {count:,} events checked", file=stream, flush=True)
    return report


def _read_key(name: str) -> str:
    with open(name, encoding="ascii") as handle:
        return handle.read(MAX_LINE)


def _summary(manifest: dict[str, Any], result: VerifyResult, where: str | None) -> str:
    if not result.valid:
        problem = result.first_invalid or {}
        seq, reason = problem.get("seq"), problem.get("reason")
        place = "the manifest" if seq is None else f"first bad event: seq {seq}"
        return f"INVALID: {place}{f' ({where})' if where else ''}: {reason}"
    keys = ", ".join(f"{key_id} sha256:{fingerprint}" for key_id, fingerprint in sorted(result.keys.items()))
    span = f"seq {manifest.get('first_seq')}-{manifest.get('last_seq')}" if result.events else "no events"
    return (f"VALID: {result.events} events ({span}) of tenant {manifest.get('tenant_id')}, "
            f"head_hash {result.head_hash}, {result.checkpoints} signed checkpoint(s)"
            f"{'' if result.tree_head is None else f', signed tree head of size {result.tree_head}'}; "
            f"keys: {keys or 'none'}")


Outcome = tuple[dict[str, Any], VerifyResult, str | None]


def _manifest(text: str) -> dict[str, Any]:
    try:
        return parse_manifest_document(text)
    except AuditFormatError as exc:
        raise Unreadable(str(exc)) from None


@dataclass(frozen=True)
class _Trust:
    pems: list[str] | None
    published: PublishedKeys | None


def _verifier(manifest: dict[str, Any], trusted: _Trust) -> ChainVerifier:
    try:
        return ChainVerifier(manifest, trusted.pems, trusted.published)
    except AuditFormatError as exc:  # a --key file that is not a P-256 public key
        raise Unreadable(str(exc)) from None


def _verify_ndjson(path: str, trusted: _Trust, progress: Callable[[int], None]) -> Outcome:
    with open(path, "rb") as handle:
        start, last = last_line(handle)
        try:
            manifest = _manifest(last.decode("utf-8"))
        except UnicodeDecodeError:
            raise Unreadable("the last line (the manifest) is not UTF-8") from None
        verifier = _verifier(manifest, trusted)
        if start >= PARALLEL_MIN_BYTES and parallel_verify.workers() > 1:
            result = parallel_verify.verify_parallel(path, start, manifest, trusted.pems, progress, PROGRESS_EVERY,
                                                     published=trusted.published)
            if result is not None:  # valid; otherwise the sequential pass below says where and why
                return manifest, result, None
        handle.seek(0)
        bad_line = _feed_lines(handle, start, verifier, progress)
    return manifest, verifier.finish(), None if bad_line is None else f"line {bad_line}"


def _feed_lines(handle: IO[bytes], end: int, verifier: ChainVerifier, progress: Callable[[int], None]) -> int | None:
    """Feed the event lines before offset ``end``; the number of the first bad line, if any."""
    readline, feed, every = handle.readline, verifier.feed_line, PROGRESS_EVERY
    offset = number = 0
    while offset < end:
        line = readline(MAX_LINE)  # the line before ``end`` ends there, with its newline
        if not line:
            break
        number += 1
        offset += len(line)
        if not line.endswith(b"\n") or offset > end:  # too long, or the file changed while read
            verifier.reject("the line is too long or the file changed while read")
            return number
        if not feed(line):
            return number
        if number % every == 0:
            progress(number)
    return None


def _verify_csv(path: str, trusted: _Trust, progress: Callable[[int], None]) -> Outcome:
    sidecar = csv_sidecar_path(path)
    try:
        with open(sidecar, encoding="utf-8") as handle:
            text = handle.read(MAX_LINE + 1)
    except FileNotFoundError:
        raise Unreadable(f"its manifest {sidecar} is missing") from None
    except UnicodeDecodeError:
        raise Unreadable(f"its manifest {sidecar} is not UTF-8") from None
    manifest = _manifest(text)
    verifier = _verifier(manifest, trusted)
    with open(path, encoding="utf-8", newline="") as handle:
        bad_row = _feed_rows(csv.reader(handle, strict=True), verifier, progress)
    return manifest, verifier.finish(), None if bad_row is None else f"row {bad_row}"


def _feed_rows(rows: Any, verifier: ChainVerifier, progress: Callable[[int], None]) -> int | None:
    """Feed the rows after the header; the number (header = 1) of the first bad row, if any."""
    try:
        header = next(rows, None)
    except (csv.Error, UnicodeDecodeError):
        header = None
    if header != csv_header():
        raise Unreadable("the first row is not the audit CSV header")
    number = 1
    while True:
        number += 1
        try:
            row = next(rows, None)
            if row is None:
                return None
            ok = verifier.feed(csv_event(row))
        except (csv.Error, UnicodeDecodeError, AuditFormatError) as exc:
            verifier.reject(f"the row is malformed: {_short(exc)}")
            return number
        if not ok:
            return number
        if (number - 1) % PROGRESS_EVERY == 0:
            progress(number - 1)


def _short(exc: Exception) -> str:
    """The reason of a row error, without the row's content."""
    if isinstance(exc, AuditFormatError):
        return str(exc)
    return "not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else "not valid CSV"
