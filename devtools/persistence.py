"""The local emulator's data survives a restart: snapshots of moto's backends under the data folder.

What is kept: every account's and region's DynamoDB tables, KMS keys (their key material, so old
ciphertexts still decrypt), Cognito user pools (their signing keys, so the pools' JWKS still verify
tokens) and S3 buckets. A snapshot is written to a temporary file, flushed to disk, then renamed over
the previous one: a crash (even SIGKILL) mid-write leaves the previous snapshot whole. Snapshots are
taken every ``interval`` seconds when something changed (or, once the data is large, every
``BUSY_FACTOR`` times as long as the last snapshot took, so that snapshots never take more than a fifth
of the emulator's time), and on shutdown; a SIGKILL loses at most the writes since the last snapshot.
The file's modification time is the moment its state was taken (every
write answered before that moment is in it), which is how a test knows what a SIGKILL may have lost.
After the last snapshot of a shutdown the store is closed: the server refuses later requests (a
kept-alive connection may still send one), so no write is answered that the snapshot does not hold.

The file is a pickle: it is the user's own data folder, read by the user's own process (never load a
snapshot from elsewhere).
"""

from __future__ import annotations

import copyreg
import os
import pickle
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto.backends import get_backend

SERVICES = ("dynamodb", "kms", "cognito-idp", "s3")
FORMAT = 1
BUSY_FACTOR = 4.0  # the pause after a snapshot is at least this many times as long as the snapshot took


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
    """Saves and loads the emulator's state at ``path``; ``lock`` is held while a snapshot is taken."""

    def __init__(self, path: Path, lock: threading.RLock, interval: float) -> None:
        self.path, self.lock, self.interval = path, lock, interval
        self.changes = 0  # bumped by the server on each request; a snapshot is taken when it moved
        self.closed = False  # set, under the lock, by the last snapshot: the server refuses requests after it
        self._saved_at = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        _make_keys_picklable()

    def load(self) -> bool:
        """Restore the saved state, if any; True when something was loaded."""
        if not self.path.exists():
            return False
        with self.path.open("rb") as file:
            restore(pickle.load(file))  # noqa: S301 - the user's own data folder (see the module's docstring)
        return True

    def save(self, close: bool = False) -> None:
        with self.lock:
            changes, taken_at = self.changes, time.time()
            data = pickle.dumps(snapshot(), protocol=pickle.HIGHEST_PROTOCOL)
            self.closed = close
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.utime(temporary, (taken_at, taken_at))
        os.replace(temporary, self.path)
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
                # share of the time under 1/(1 + BUSY_FACTOR) so that a large store still serves.
                pause = max(self.interval, BUSY_FACTOR * (time.monotonic() - began))

    def stop(self) -> None:
        """Stop the periodic snapshots and take a last one, after which requests are refused."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.save(close=True)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
