"""Fixtures of the emulator-backed Google Cloud tests."""

from __future__ import annotations

import pytest

from tests.gcp.emulators import firestore_emulator

__all__ = ["firestore_emulator"]


@pytest.fixture(scope="module")
def simulator_args() -> tuple[str, ...]:
    """The provider simulator options of ``test_google_path.stack``; a module that reuses
    the stack may define its own ``simulator_args`` (faults, a seed) to override them."""
    return ("--rpm", "6000", "--latency", "0.02", "--limit", "anthropic:rpm=90")
