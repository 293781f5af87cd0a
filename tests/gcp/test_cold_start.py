"""A function's cold start builds its clients and creates nothing: no queue, no call at all.

The control queue is Terraform's; a per-key queue is created by the controller when a
job's ingest needs it, never when an instance starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.cloud import tasks_v2

from promptforge.gcp.settings import GcpSettings
from promptforge.gcp.wiring import build_deps, close_deps
from tests.gcp.stand_ins import make_signing_key

pytestmark = pytest.mark.anyio


async def test_building_a_functions_clients_creates_no_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_calls: list[str] = []

    async def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        admin_calls.append(str(kwargs.get("parent") or kwargs.get("request") or args))
        raise AssertionError("a queue was created at cold start")

    monkeypatch.setattr(tasks_v2.CloudTasksAsyncClient, "create_queue", refuse)
    monkeypatch.setattr(tasks_v2.CloudTasksAsyncClient, "get_queue", refuse)
    # Nothing listens on these: a cold start that called out would fail, not hang.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    settings = GcpSettings.model_validate(
        {
            "gcp_project": "pf-test",
            "input_bucket": "pf-in",
            "output_bucket": "pf-out",
            "worker_url": "https://worker.example",
            "controller_url": "https://controller.example",
            "tasks_emulator_host": "127.0.0.1:9",
            "signing_key_file": str(make_signing_key(tmp_path).key_file),
            "K_SERVICE": "pf-dev-controller",
            "tasks_service_account": "pf-tasks@pf-test.iam.gserviceaccount.com",
        }
    )
    deps = await build_deps(settings)
    await close_deps(deps)
    assert admin_calls == []
