"""Records/s of field encryption through ``FieldCipher.encrypt_record``/``decrypt_record`` vs raw AES-GCM.

A learner has six short personal fields. Rows, each encrypt + decrypt of the whole learner:

* ``raw_aesgcm``: one reused ``AESGCM`` object, a random nonce per field, no envelope, no AAD;
* ``record_helper``: the learner's ``FieldCipher`` (cache warm), envelopes with AAD binding;
* ``record_helper_with_unwrap``: also the per-request path before it: tenant keys from the keyring's
  cache (no KMS call) and the learner key unwrapped from its stored record.

Run ``python -m bench.bench_encryption``. Goal: ``record_helper`` at least 50 % of ``raw_aesgcm``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.domain.crypto import Keyring, WrappedTenantKey

LEARNER: dict[str, str | dict[str, str]] = {
    "given_name": "Maria Clara",
    "family_name": "Dela Cruz",
    "email": "maria.delacruz@example.edu.ph",
    "date_of_birth": "2009-04-17",
    "guardian": {"name": "Josefina Dela Cruz", "email": "j.delacruz@example.com"},
}
FLAT = [("given_name", "Maria Clara"), ("family_name", "Dela Cruz"),
        ("email", "maria.delacruz@example.edu.ph"), ("date_of_birth", "2009-04-17"),
        ("guardian.name", "Josefina Dela Cruz"), ("guardian.email", "j.delacruz@example.com")]


class LocalProvider:
    """A ``DataKeyProvider`` wrapping with a local AES key: the bench measures the warm path only."""

    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(256))

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        key, nonce = os.urandom(32), os.urandom(12)
        return key, nonce + self._aead.encrypt(nonce, key, repr(sorted(context.items())).encode())

    def decrypt_data_key(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        return self._aead.decrypt(wrapped[:12], wrapped[12:], repr(sorted(context.items())).encode())


def _seconds(bodies: Mapping[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """Times of each body over ``repeats`` rounds, run in turn so load changes hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in bodies}
    for _ in range(repeats):
        for name, body in bodies.items():
            start = time.perf_counter()
            body()
            times[name].append(time.perf_counter() - start)
    return times


def _raw(records: int) -> Callable[[], None]:
    aead = AESGCM(AESGCM.generate_key(256))
    values = [value.encode() for _, value in FLAT]

    def body() -> None:
        for _ in range(records):
            sealed = []
            for value in values:
                nonce = os.urandom(12)
                sealed.append((nonce, aead.encrypt(nonce, value, None)))
            for nonce, ciphertext in sealed:
                aead.decrypt(nonce, ciphertext, None)
    return body


def _helper(records: int, with_unwrap: bool) -> Callable[[], None]:
    keyring = Keyring(LocalProvider())
    stored: list[WrappedTenantKey] = [keyring.create_tenant_key("tnt_bench")]
    learner_key, wrapped = keyring.tenant_keys(stored).new_learner_key("lrn_bench")
    cipher = learner_key.cipher

    def body() -> None:
        for _ in range(records):
            envelopes = cipher.encrypt_record("learner", LEARNER)
            cipher.decrypt_record("learner", envelopes)

    def body_with_unwrap() -> None:
        for _ in range(records):
            own = keyring.tenant_keys(stored).unwrap(wrapped).cipher
            own.decrypt_record("learner", own.encrypt_record("learner", LEARNER))
    return body_with_unwrap if with_unwrap else body


def run(records: int = 5_000, repeats: int = 15) -> list[dict[str, object]]:
    """One row per variant: records/s (encrypt + decrypt of six fields; median and min-max over
    ``repeats`` rounds) and the ratio of medians to raw AES-GCM."""
    variants = {
        "raw_aesgcm": _raw(records),
        "record_helper": _helper(records, with_unwrap=False),
        "record_helper_with_unwrap": _helper(records, with_unwrap=True),
    }
    rates = {name: sorted(records / t for t in times) for name, times in _seconds(variants, repeats).items()}
    raw = statistics.median(rates["raw_aesgcm"])
    return [{"variant": name, "fields": len(FLAT), "records_per_s": round(statistics.median(rate)),
             "records_per_s_min_max": f"{rate[0]:,.0f}-{rate[-1]:,.0f}",
             "ratio_to_raw": round(statistics.median(rate) / raw, 3), "goal_ratio": 0.5}
            for name, rate in rates.items()]


if __name__ == "__main__":
    for row in run():
        print(f"{row['variant']:<28} {row['records_per_s']:>9,} records/s  "
              f"{row['ratio_to_raw']:.0%} of raw ({row['fields']} fields, encrypt+decrypt)")
