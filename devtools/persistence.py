"""The local emulator's data survives a restart: snapshots of moto's backends plus a journal of writes.

What is kept: every account's and region's DynamoDB tables, KMS keys (their key material, so old
ciphertexts still decrypt), Cognito user pools (their signing keys, so the pools' JWKS still verify
tokens) and S3 buckets. Every mutating request is in the journal (``devtools.journal``), on disk, before
it is answered; a snapshot is taken every ``interval`` seconds when something changed (or, once the data
is large, every ``JOURNALED_BUSY_FACTOR`` times as long as the last snapshot took) and on shutdown, and only
bounds how much journal a start replays. A snapshot is written to a temporary file, flushed to disk,
then renamed over the previous one: a crash (even SIGKILL) mid-write leaves the previous snapshot whole,
and the journal segments since it. The snapshot names the first journal generation it does not hold;
a start loads it and replays the segments from there (``devtools.replay``), so a SIGKILL loses
nothing that was answered. After the last snapshot of a shutdown the store is closed: the server
refuses later requests (a kept-alive connection may still send one).

The files are pickles: it is the user's own data folder, read by the user's own process (never load a
snapshot or a journal from elsewhere).
"""

from __future__ import annotations

import copyreg
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto.backends import get_backend

from devtools.journal import Journal, _fsync_directory

SERVICES = ("dynamodb", "kms", "cognito-idp", "s3")
FORMAT = 1
BUSY_FACTOR = 4.0  # the pause after a snapshot is at least this many times as long as the snapshot took
JOURNALED_BUSY_FACTOR = 20.0  # with the journal, snapshots only bound the replay at start: under 5% of the time


def _load_private_key(der: bytes) -> Any:
    return serialization.load_der_private_key(der, None)


def _reduce_private_key(key: Any) -> tuple[Any, tuple[bytes]]:
    return _load_private_key, (key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()),)


def _make_keys_picklable() -> None:
    """cryptography's private keys (KMS asymmetric keys, Cognito signing keys) pickle as DER."""
    copyreg.pickle(type(rsa.generate_private_key(65537, 2048)), _reduce_private_key)
    copyreg.pickle(type(ec.generate_private_key(ec.SECP256R1())), _reduce_private_key)


def _backends(service: str) -> Any:
    return get_backend(service)  # type: ignore[call-overload]  # moto types each service's name as a literal


def snapshot() -> dict[str, Any]:
    """Every kept service's backends, as {service: {account: {region: backend}}}; call under the emulator's lock."""
    return {"format": FORMAT,
            "services": {service: {account: dict(regions) for account, regions in _backends(service).items()}
                         for service in SERVICES}}


def restore(state: dict[str, Any]) -> None:
    for service, accounts in state["services"].items():
        backends = _backends(service)
        for account, regions in accounts.items():
            for region, backend in regions.items():
                backends[account][region] = backend


class Store:
    """Saves and loads the emulator's state at ``path``; ``lock`` is held while a snapshot is taken.

    With ``journaled``, every mutating request is appended to ``journal`` (by the server) and a start
    replays what the snapshot does not hold."""

    def __init__(self, path: Path, lock: threading.RLock, interval: float, journaled: bool = True) -> None:
        self.path, self.lock, self.interval = path, lock, interval
        self.journal = Journal(path.parent, path.stem + ".journal") if journaled else None
        self.changes = 0  # bumped by the server on each mutating request; a snapshot is taken when it moved
        self.closed = False  # set, under the lock, by the last snapshot: the server refuses requests after it
        self.replayed = 0
        self._saved_at = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        _make_keys_picklable()

    def load(self, replay: Callable[[dict[str, Any]], None] | None = None) -> bool:
        """Restore the saved state and replay the journal since it; True when something was loaded.

        ``replay`` applies one journaled request; then the journal is opened for appending."""
        generation, loaded = 0, False
        if self.path.exists():
            with self.path.open("rb") as file:
                state = pickle.load(file)  # noqa: S301 - the user's own data folder (see the module's docstring)
            restore(state)
            generation, loaded = int(state.get("journal", 0)), True
        if self.journal is None:
            return loaded
        for record in self.journal.records(since=generation):
            if replay is not None:
                replay(record)
            self.replayed += 1
        self.journal.discard_before(generation)
        self.journal.open(max([generation, *self.journal.generations()]))  # appends follow the replayed records
        return loaded or self.replayed > 0

    def save(self, close: bool = False) -> None:
        with self.lock:
            changes, taken_at = self.changes, time.time()
            state = snapshot()
            if self.journal is not None:
                state["journal"] = self.journal.rotate()  # this snapshot holds every earlier segment
            data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
            self.closed = close
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.utime(temporary, (taken_at, taken_at))
        os.replace(temporary, self.path)
        _fsync_directory(self.path.parent)
        if self.journal is not None:
            self.journal.discard_before(int(state["journal"]))
            if close:
                self.journal.close()
        self._saved_at = changes
    def start(self) -> None:
        """Save every ``interval`` seconds while something changed, until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="emulator-snapshots", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            if self.changes != self._saved_at:
                began = time.monotonic()
                try:
                    self.save()
                except Exception as exc:  # keep serving; the last good snapshot stays whole
                    print(f"emulator: could not save the state ({type(exc).__name__}: {exc})", file=sys.stderr)
                # A snapshot holds the lock while it pickles, and pickling grows with the data: keep its
                # share of the time under 1/(1 + factor) so that a large store still serves.
                factor = BUSY_FACTOR if self.journal is None else JOURNALED_BUSY_FACTOR
                pause = max(self.interval, factor * (time.monotonic() - began))

    def stop(self) -> None:
        """Stop the periodic snapshots and take a last one, after which requests are refused."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.save(close=True)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        if self.journal is not None:
            self.journal.discard()
