"""One job per provider on `promptforge serve` against `promptforge simulate`, over real HTTP.

The simulator's answers are deterministic in (seed, prompt), so every result line can be
checked exactly: its text, its input and output tokens, ``tokens_used`` as their sum, the
finish reason in the provider's own words; and the status's token totals and estimated
cost against the model catalogue's prices.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptforge.providers.catalogue import Catalogue
from promptforge.sim.providers.text import complete, prompt_tokens
from tests.e2e.jobs import assert_exactly_once, jsonl, make_prompts, run_job
from tests.e2e.processes import Process, create_key, server, simulator

pytestmark = pytest.mark.e2e

SEED = 5  # the simulator's; its generated text depends on it
OUTPUT_MEAN = 40  # mean generated tokens: short answers, some cut by MAX_TOKENS
MAX_TOKENS = 48
SYSTEM = "Answer in one plain sentence."
PROMPTS = 36
# A ceiling that skips slow-start discovery (it is not what these tests are about) and is
# above Mistral's and Anthropic's per-second limits, so their 429s still have to be handled.
RPM_CEILING = 900

# provider -> (model, finish reason when cut by max tokens, when finished)
JOBS: dict[str, tuple[str, str, str]] = {
    "openai": ("gpt-4o-mini", "length", "stop"),
    "anthropic": ("claude-haiku-4-5-20251001", "max_tokens", "end_turn"),
    "gemini": ("gemini-2.5-flash", "MAX_TOKENS", "STOP"),
    "mistral": ("mistral-small-latest", "length", "stop"),
}
# OpenAI's key and base URL come from ``processes.server_env``.
PROVIDER_KEYS = {
    "anthropic": "sk-ant-e2e-0123456789",
    "gemini": "AIza-e2e-gemini-0123456789",
    "mistral": "e2e-mistral-0123456789",
}


def provider_env(simulator_url: str) -> dict[str, str]:
    """The other providers' keys and base URLs, all pointing at the same simulator."""
    env: dict[str, str] = {}
    for provider, key in PROVIDER_KEYS.items():
        base = f"{simulator_url}/mistral" if provider == "mistral" else simulator_url
        env[f"PROMPTFORGE_{provider.upper()}_API_KEY"] = key
        env[f"PROMPTFORGE_{provider.upper()}_BASE_URL"] = base
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process, str]]:
    """A simulator speaking all four APIs, a server with a key for each, a tenant key."""
    tmp = tmp_path_factory.mktemp("providers")
    data = tmp / "data"
    key = create_key(data, "tenant")
    sim_options = (
        "--seed", str(SEED),
        "--latency", "0.02",
        "--output-tokens", str(OUTPUT_MEAN),
        "--limit", "mistral:rpm=300",  # 5 requests a second, each second its own bucket
    )  # fmt: skip
    with simulator(tmp, *sim_options) as sim:
        proc = server(data, sim.url, **provider_env(sim.url))
        proc.start("/healthz")
        try:
            yield sim, proc, key
        finally:
            proc.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def _expected(prompt: str) -> tuple[str, int, int, bool]:
    """What the simulator answers: text, input tokens, output tokens, cut by max tokens."""
    completion = complete(SEED, prompt, MAX_TOKENS, OUTPUT_MEAN)
    return (
        completion.text,
        prompt_tokens([SYSTEM, prompt]),
        completion.tokens,
        completion.truncated,
    )


@pytest.mark.parametrize("provider", list(JOBS))
def test_a_job_per_provider_gives_exact_results_tokens_and_cost(
    stack: tuple[Process, Process, str], client: httpx.Client, provider: str
) -> None:
    sim, proc, key = stack
    model, cut, finished_reason = JOBS[provider]
    prompts = make_prompts(PROMPTS, prefix=f"{provider}-")
    before = client.get(f"{sim.url}/_sim/stats").json()[provider]
    started = time.monotonic()
    finished = run_job(
        client,
        proc.url,
        key,
        jsonl(prompts),
        provider=provider,
        model=model,
        system=SYSTEM,
        max_tokens=MAX_TOKENS,
        rpm=RPM_CEILING,
    )
    elapsed = time.monotonic() - started
    assert finished.status["status"] == "COMPLETED", finished.status
    assert_exactly_once(finished, [p["prompt_id"] for p in prompts])
    assert finished.errors == []

    by_id = {p["prompt_id"]: p["prompt"] for p in prompts}
    reasons: set[str] = set()
    for row in finished.results:
        text, input_tokens, output_tokens, truncated = _expected(by_id[row["prompt_id"]])
        assert row["model"] == model
        assert row["result"] == text
        assert (row["input_tokens"], row["output_tokens"]) == (input_tokens, output_tokens)
        assert row["tokens_used"] == input_tokens + output_tokens
        assert row["finish_reason"] == (cut if truncated else finished_reason)
        reasons.add(row["finish_reason"])
    assert reasons == {cut, finished_reason}, "the prompts should exercise both endings"

    status = finished.status
    total_in = sum(_expected(p["prompt"])[1] for p in prompts)
    total_out = sum(_expected(p["prompt"])[2] for p in prompts)
    assert (status["input_tokens"], status["output_tokens"]) == (total_in, total_out)
    assert status["tokens_used"] == total_in + total_out
    assert status["tokens_used"] == sum(row["tokens_used"] for row in finished.results)
    info = Catalogue.load().find(provider, model)
    assert info is not None
    cost = (total_in * info.input_usd_per_mtok + total_out * info.output_usd_per_mtok) / 1e6
    assert status["estimated_cost_usd"] == pytest.approx(round(cost, 6), abs=1e-9)
    assert status["estimated_cost_usd"] > 0

    # The simulator billed each prompt once and counted the same tokens.
    after = client.get(f"{sim.url}/_sim/stats").json()[provider]
    assert after["successes"] - before["successes"] == PROMPTS
    assert after["input_tokens"] - before["input_tokens"] == total_in
    assert after["output_tokens"] - before["output_tokens"] == total_out
    print(f"{provider}: {elapsed:.1f}s, {after['rate_limited'] - before['rate_limited']} 429s")
    assert elapsed < 20, f"{provider} job took {elapsed:.1f}s"


def _init(client: httpx.Client, url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"{url}/v1/jobs/init", headers={"X-API-Key": key}, json=body)


# (provider, extra init fields) -> the options init refuses (empty: accepted)
INIT_OPTIONS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("anthropic", {"seed": 1}, ["seed"]),
    ("anthropic", {"response_format": {"type": "json_object"}}, ["response_format"]),
    ("anthropic", {"temperature": 1.5, "seed": 3}, ["temperature", "seed"]),
    ("anthropic", {"temperature": 0.5, "top_p": 0.9, "stop": ["END"], "system": "s"}, []),
    ("openai", {"seed": 1, "response_format": {"type": "json_object"}}, []),
    ("gemini", {"seed": 1, "temperature": 1.5, "stop": ["a", "b", "c", "d"]}, []),
    (
        "gemini",
        {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}},
        [],
    ),
    ("mistral", {"seed": 1, "response_format": {"type": "json_object"}}, []),
]


@pytest.mark.parametrize(("provider", "options", "refused"), INIT_OPTIONS)
def test_init_refuses_exactly_the_options_a_provider_cannot_honour(
    stack: tuple[Process, Process, str],
    client: httpx.Client,
    provider: str,
    options: dict[str, Any],
    refused: list[str],
) -> None:
    _, proc, key = stack
    response = _init(
        client, proc.url, key, {"provider": provider, "model": JOBS[provider][0]} | options
    )
    if not refused:
        assert response.status_code == 202, response.text
        return
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_option"
    assert error["details"]["options"] == refused
    assert all(name in error["message"] for name in refused)


@pytest.mark.parametrize("provider", list(JOBS))
def test_an_unknown_model_lists_that_providers_models(
    stack: tuple[Process, Process, str], client: httpx.Client, provider: str
) -> None:
    _, proc, key = stack
    response = _init(client, proc.url, key, {"provider": provider, "model": "no-such-model"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unsupported_model"
    known = Catalogue.load().models_for(provider)
    assert error["details"]["supported"] == known
    assert JOBS[provider][0] in error["message"]


def test_the_simulator_log_names_its_limits(stack: tuple[Process, Process, str]) -> None:
    sim, _, _ = stack
    log = Path(sim.log_path).read_text(encoding="utf-8")
    assert "anthropic: rpm=" in log and "acceleration_floor_rpm=" in log
