"""Export formats: NDJSON lines (manifest last) and CSV rows (manifest in a sidecar file), and reading CSV back."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.audit.canonical import EVENT_FIELDS, AuditFormatError, _canonical_text, _parse_json
from chalicelib.domain.audit.manifest import manifest_line

CSV_COLUMNS = EVENT_FIELDS
_NESTED_COLUMNS = frozenset({"actor", "details"})
_SEQ_TEXT = re.compile(r"[1-9][0-9]{0,15}")


@dataclass(slots=True)
class ExportTally:
    """What an export wrote so far: the figures its manifest needs."""

    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str | None = None
    anchor_prev_hash: str | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        if self.first_seq is None:
            self.first_seq, self.anchor_prev_hash = event["seq"], event["prev_hash"]
        self.events += 1
        self.last_seq, self.head_hash = event["seq"], event["hash"]


ManifestSource = Mapping[str, Any] | Callable[[ExportTally], Mapping[str, Any]]


def event_line(event: Mapping[str, Any]) -> str:
    """One NDJSON line: the event's canonical JSON (``hash`` included) and a newline."""
    return _canonical_text(event if type(event) is dict else dict(event)) + "\n"


def ndjson_lines(events: Iterable[Mapping[str, Any]], manifest: ManifestSource) -> Iterator[str]:
    """Stream an NDJSON export: one line per event, then the manifest line.

    ``manifest`` is the manifest, or a function called after the last event with the export's
    ``ExportTally`` (to sign the final checkpoint and build the manifest once the figures are known).
    """
    tally = ExportTally()
    for event in events:
        tally.add(event)
        yield event_line(event)
    yield manifest_line(manifest(tally) if callable(manifest) else manifest)


def csv_header() -> list[str]:
    """The CSV export's header row (the event's members, in exported order)."""
    return list(CSV_COLUMNS)


def csv_row(event: Mapping[str, Any]) -> list[str]:
    """One CSV row: strings as is, ``seq`` in decimal, ``actor`` and ``details`` as canonical JSON."""
    if set(event) != set(CSV_COLUMNS):
        raise AuditFormatError("the event's members do not match the CSV columns")
    row = []
    for column in CSV_COLUMNS:
        value = event[column]
        if column == "seq" and type(value) is int:
            row.append(str(value))
        elif column in _NESTED_COLUMNS and type(value) is dict:
            row.append(_canonical_text(value))
        elif column != "seq" and column not in _NESTED_COLUMNS and type(value) is str:
            row.append(value)
        else:
            raise AuditFormatError(f"the event's {column} cannot be written to CSV")
    return row


def csv_lines(events: Iterable[Mapping[str, Any]], tally: ExportTally | None = None) -> Iterator[str]:
    """Stream a CSV export (RFC 4180, CRLF): the header, then a row per event; fills ``tally``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _header_then_rows(events, tally):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        yield buffer.getvalue()


def _header_then_rows(events: Iterable[Mapping[str, Any]], tally: ExportTally | None) -> Iterator[list[str]]:
    yield csv_header()
    for event in events:
        if tally is not None:
            tally.add(event)
        yield csv_row(event)


def csv_event(row: Sequence[str]) -> dict[str, Any]:
    """The event a CSV row was written from, value for value (so its hash still verifies)."""
    if len(row) != len(CSV_COLUMNS):
        raise AuditFormatError(f"the row has {len(row)} cells, not {len(CSV_COLUMNS)}")
    event: dict[str, Any] = dict(zip(CSV_COLUMNS, row, strict=True))
    if _SEQ_TEXT.fullmatch(event["seq"]) is None:
        raise AuditFormatError("seq is not a positive integer")
    event["seq"] = int(event["seq"])
    for column in _NESTED_COLUMNS:
        try:
            value, _ = _parse_json(event[column])
        except (ValueError, RecursionError) as exc:
            raise AuditFormatError(f"{column} is not valid JSON") from exc
        if type(value) is not dict:
            raise AuditFormatError(f"{column} is not a JSON object")
        event[column] = value
    return event


def read_csv_events(rows: Iterable[Sequence[str]]) -> Iterator[dict[str, Any]]:
    """The events of a CSV export's rows (``csv.reader`` output), header first."""
    iterator = iter(rows)
    if list(next(iterator, [])) != csv_header():
        raise AuditFormatError("the first row is not the audit CSV header")
    for row in iterator:
        yield csv_event(row)


def csv_sidecar_path(csv_path: str) -> str:
    """Where a CSV export's manifest lives: ``trail.csv`` -> ``trail.csv.manifest.json``."""
    return csv_path + ".manifest.json"
