"""The test suite's emulator fixes: the platform's own (``devtools.emulator``), re-exported for the tests."""

from devtools.emulator import EMULATOR_LOCK, install, serialise_requests, two_phase_transact_write_items

__all__ = ["EMULATOR_LOCK", "install", "serialise_requests", "two_phase_transact_write_items"]
