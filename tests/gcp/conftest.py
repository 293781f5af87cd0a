"""Fixtures of the emulator-backed Google Cloud tests."""

from __future__ import annotations

import pytest

from tests.gcp.emulators import firestore_emulator

__all__ = ["firestore_emulator"]


@pytest.fixture(scope="module")
def simulator_args() -> tuple[str, ...]:
    """The provider simulator options of ``test_google_path.stack`` (its ``SIMULATOR_ARGS``);
    a module that reuses the stack may define its own ``simulator_args`` to override them."""
    from tests.gcp.test_google_path import SIMULATOR_ARGS  # defined beside the tests using it

    return SIMULATOR_ARGS
