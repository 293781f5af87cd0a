"""Fixtures of the fault suite: the Firestore emulator the Google path runs on."""

from __future__ import annotations

from tests.gcp.emulators import firestore_emulator

__all__ = ["firestore_emulator"]
