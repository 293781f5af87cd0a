"""Fixtures of the emulator-backed Google Cloud tests."""

from __future__ import annotations

from tests.gcp.emulators import firestore_emulator

__all__ = ["firestore_emulator"]
