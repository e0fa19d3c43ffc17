"""Helpers shared by more than one level of tests (the local platform, audit item keys) and their paths."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"  # files every level may read: old audit exports that must still verify
