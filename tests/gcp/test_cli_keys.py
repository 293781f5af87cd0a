"""`promptforge keys create/revoke --firestore-project` manage a deployment's keys (emulator)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from promptforge.core.auth import hash_key
from promptforge.gcp.firestore_store import FirestoreJobStore
from tests.gcp.emulators import FirestoreEmulator


def _cli(emulator: FirestoreEmulator, project: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "promptforge.cli.main",
            "keys",
            *args,
            "--firestore-project",
            project,
        ],
        env={**os.environ, **emulator.env(project)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.anyio
async def test_keys_are_created_hashed_and_revoked_in_firestore(
    firestore_emulator: FirestoreEmulator,
) -> None:
    project = firestore_emulator.project()
    created = _cli(firestore_emulator, project, "create", "--tenant", "acme")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("pf_") and "\n" not in key  # stdout carries the key alone
    async with firestore_emulator.connect(project) as client:
        record = await FirestoreJobStore(client).find_api_key(hash_key(key))
        assert record is not None
        assert (record.tenant_id, record.revoked) == ("acme", False)
        assert record.key_id in created.stderr

        revoked = _cli(firestore_emulator, project, "revoke", record.key_id)
        assert revoked.returncode == 0, revoked.stderr
        again = await FirestoreJobStore(client).find_api_key(hash_key(key))
        assert again is not None and again.revoked

    unknown = _cli(firestore_emulator, project, "revoke", "no-such-id")
    assert unknown.returncode == 1
    assert "no key with id no-such-id" in unknown.stderr
