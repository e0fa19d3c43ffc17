"""The emulator's write-ahead journal: every mutating request is on disk before its answer is sent.

A journal is a series of segment files ``<stem>.<generation>`` in the data folder. A record is
``length (4 bytes, big-endian) | CRC-32 of the payload (4 bytes) | payload`` (the payload is a pickle:
the user's own data folder, as the snapshot is). ``append`` writes a record (under the emulator's lock,
so the file's order is the order the requests were applied in) without waiting for the disk;
``wait_durable`` then returns once an ``fdatasync`` covered it. Concurrent requests share one
``fdatasync`` (group commit): the first waiter syncs everything written so far, the others wait for it.

A snapshot rotates the journal (``rotate``, under the lock, while the snapshot is taken): the current
segment is synced and closed and a new one begins; the snapshot records the new generation, and once
it is on disk the older segments are deleted (``discard_before``). A crash at any point leaves either
the old snapshot and every segment since it, or the new snapshot and possibly old segments that are
ignored. At start, ``records`` reads the segments from the snapshot's generation on; a torn or corrupt
record (a crash mid-write) ends its segment and is cut off, so appends continue after the last whole one.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HEADER = struct.Struct(">II")
MAX_RECORD = 1 << 30


def frame(record: Any) -> bytes:
    payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> tuple[list[Any], int]:
    """The whole records of one segment, and the offset where they end (a torn tail starts there)."""
    data = path.read_bytes()
    records, at = [], 0
    while at + HEADER.size <= len(data):
        length, checksum = HEADER.unpack_from(data, at)
        payload = data[at + HEADER.size:at + HEADER.size + length]
        if length > MAX_RECORD or len(payload) < length or zlib.crc32(payload) != checksum:
            break
        records.append(pickle.loads(payload))  # noqa: S301 - the user's own data folder
        at += HEADER.size + length
    return records, at


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Journal:
    """Segments ``<stem>.<generation>`` beside the snapshot; one writer (under the emulator's lock)."""

    def __init__(self, directory: Path, stem: str = "journal") -> None:
        self.directory, self.stem = directory, stem
        self.generation = 0
        self._fd: int | None = None
        self._written = 0  # records appended (a sequence number across segments)
        self._synced = 0   # records known to be on disk
        self._syncing = False
        self._cond = threading.Condition()
        self.syncs = 0     # fdatasync calls (group commit: at most one per batch of waiting requests)

    def segment(self, generation: int) -> Path:
        return self.directory / f"{self.stem}.{generation:08d}"

    def generations(self) -> list[int]:
        found = []
        for path in self.directory.glob(f"{self.stem}.*"):
            suffix = path.name.rsplit(".", 1)[1]
            if suffix.isdigit():
                found.append(int(suffix))
        return sorted(found)

    def records(self, since: int) -> Iterator[Any]:
        """Every whole record of the segments from generation ``since`` on, in order; torn tails are cut off."""
        for generation in self.generations():
            if generation < since:
                continue
            path = self.segment(generation)
            records, end = read_segment(path)
            if end < path.stat().st_size:
                print(f"emulator: ignored a torn record at the end of {path.name} ({path.stat().st_size - end} "
                      "bytes: a write the crash interrupted, never answered)", file=sys.stderr)
                with path.open("r+b") as file:
                    file.truncate(end)
                    os.fsync(file.fileno())
            yield from records

    def open(self, generation: int) -> None:
        """Append to the segment ``generation`` (created if missing), from now on."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.generation = generation
        path = self.segment(generation)
        existed = path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if not existed:
            _fsync_directory(self.directory)

    def append(self, record: Any) -> int:
        """Write ``record`` (not yet durable); its sequence number, for ``wait_durable``. Under the lock."""
        if self._fd is None:
            raise RuntimeError("the journal is not open")
        data = frame(record)
        written = os.write(self._fd, data)
        if written != len(data):
            raise OSError(f"short write to the journal ({written} of {len(data)} bytes)")
        self._written += 1
        return self._written

    @property
    def written(self) -> int:
        return self._written

    def wait_durable(self, sequence: int) -> None:
        """Return once record ``sequence`` (and every one before it) is on disk. Never under the lock."""
        with self._cond:
            while self._synced < sequence:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing, target, descriptor = True, self._written, self._fd
                self._cond.release()
                try:
                    if descriptor is not None:
                        os.fdatasync(descriptor)
                finally:
                    self._cond.acquire()
                    self._syncing = False
                    self.syncs += 1
                    self._synced = max(self._synced, target)
                    self._cond.notify_all()

    def rotate(self) -> int:
        """Sync and close the current segment and start the next; the new generation. Under the lock."""
        with self._cond:
            self._cond.wait_for(lambda: not self._syncing)  # no fdatasync may run on a closed descriptor
            if self._fd is not None:
                os.fdatasync(self._fd)
                os.close(self._fd)
                self._fd = None
            self._synced = self._written
            self._cond.notify_all()
        self.open(self.generation + 1)
        return self.generation

    def discard_before(self, generation: int) -> None:
        """Delete the segments a durable snapshot holds (generations before ``generation``)."""
        for old in self.generations():
            if old < generation:
                self.segment(old).unlink(missing_ok=True)

    def discard(self) -> None:
        for generation in self.generations():
            self.segment(generation).unlink(missing_ok=True)

    def close(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._syncing)
            if self._fd is not None:
                os.fdatasync(self._fd)
                os.close(self._fd)
                self._fd = None
            self._synced = self._written
            self._cond.notify_all()
