"""The cost cap at the API: init's 422 for an unpriced model, status's budget block."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from promptforge.clock import SystemClock
from promptforge.core.auth import create_api_key
from promptforge.embedded.runtime import EmbeddedRuntime
from promptforge.settings import Settings

pytestmark = pytest.mark.anyio

FREE = {
    "provider": "openai",
    "model": "house-model",
    "context_window": 8192,
    "max_output_tokens": 1024,
    "input_usd_per_mtok": 0,
    "output_usd_per_mtok": 0,
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"models": [FREE]}))
    settings = Settings(data_dir=tmp_path / "data", models_file=models)
    async with EmbeddedRuntime(settings) as runtime:
        key, _ = await create_api_key(runtime.store, SystemClock(), "tenant")
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pf") as client:
            yield client, key


async def _init(client: httpx.AsyncClient, key: str, **body: object) -> httpx.Response:
    return await client.post("/v1/jobs/init", json=body, headers={"Authorization": f"Bearer {key}"})


async def test_a_cap_on_a_model_without_a_price_is_a_422(
    api: tuple[httpx.AsyncClient, str],
) -> None:
    client, key = api
    refused = await _init(client, key, provider="openai", model="house-model", max_cost_usd=5)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "unpriced_model"
    uncapped = await _init(client, key, provider="openai", model="house-model")
    assert uncapped.status_code == 202, uncapped.text


async def test_status_shows_the_cap_and_an_empty_ledger(
    api: tuple[httpx.AsyncClient, str],
) -> None:
    client, key = api
    created = await _init(client, key, provider="openai", model="gpt-4o-mini", max_cost_usd=2)
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    status = await client.get(
        f"/v1/jobs/{job_id}/status", headers={"Authorization": f"Bearer {key}"}
    )
    body = status.json()
    assert (body["max_cost_usd"], body["spent_usd"], body["reserved_usd"]) == (2.0, 0.0, 0.0)
    assert body["stopped_reason"] is None
    for bad in (0, -1, "5"):
        refused = await _init(client, key, provider="openai", model="gpt-4o-mini", max_cost_usd=bad)
        assert refused.status_code == 400, refused.text


def test_the_cli_prints_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    from promptforge.cli.jobs_commands import _print_estimate

    _print_estimate(
        {"input_tokens": 187303, "output_tokens_max": 768000, "usd_low": 0.0166, "usd_high": 0.56}
    )
    _print_estimate(None)  # a model without a price: nothing printed
    out = " ".join(capsys.readouterr().err.split())  # the CLI's console writes to stderr
    assert "0.0166 to 0.5600 USD" in out
    assert "187,303 input tokens, approximate" in out
    assert out.count("estimate:") == 1
