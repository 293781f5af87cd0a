"""The simulator's latency: lognormal around the median, a heavy tail, repeatable by seed."""

from __future__ import annotations

import math
import random
import statistics
import time

import httpx
import pytest

from promptforge.embedded.server import BackgroundServer
from promptforge.sim.providers.config import SimulatorConfig
from promptforge.sim.providers.latency import draw_latency
from promptforge.sim.providers.server import create_app


def _draws(
    seed: int, median: float, sigma: float, n: int = 20_000, scale: float = 1.0
) -> list[float]:
    rng = random.Random(seed)
    return [draw_latency(rng, median, sigma, scale) for _ in range(n)]


def _quantile(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))]


@pytest.mark.parametrize("sigma", [0.5, 1.2])
def test_median_and_heavy_tail_follow_the_lognormal(sigma: float) -> None:
    draws = _draws(1, 0.2, sigma)
    assert statistics.median(draws) == pytest.approx(0.2, rel=0.05)
    # p99 / median of a lognormal is exp(2.326 sigma): 3.2x at 0.5, 16x at 1.2.
    assert _quantile(draws, 0.99) / 0.2 == pytest.approx(math.exp(2.326 * sigma), rel=0.15)
    assert statistics.fmean(draws) > statistics.median(draws)  # skewed right
    assert min(draws) > 0


def test_the_same_seed_gives_the_same_latencies() -> None:
    assert _draws(7, 0.1, 0.8, n=50) == _draws(7, 0.1, 0.8, n=50)
    assert _draws(7, 0.1, 0.8, n=50) != _draws(8, 0.1, 0.8, n=50)


def test_time_scale_shortens_real_latency_and_zero_median_is_instant() -> None:
    assert _draws(3, 0.4, 0.5, n=10, scale=4.0) == [d / 4.0 for d in _draws(3, 0.4, 0.5, n=10)]
    rng = random.Random(3)
    assert [draw_latency(rng, 0.0, 0.5) for _ in range(5)] == [0.0] * 5
    # A zero median still consumes the draw: the fault sequence does not shift with it.
    assert rng.random() == _rng_after(3, 5).random()


def _rng_after(seed: int, gauss_draws: int) -> random.Random:
    rng = random.Random(seed)
    for _ in range(gauss_draws):
        rng.gauss(0.0, 1.0)
    return rng


@pytest.mark.anyio
async def test_the_server_answers_after_the_drawn_latency() -> None:
    config = SimulatorConfig(latency_median=0.15, latency_sigma=0.0)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        BackgroundServer(create_app(config)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=5.0) as client,
    ):
        started = time.monotonic()
        response = await client.post(
            "/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"}
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert 0.15 <= elapsed < 1.0
    assert response.headers["openai-processing-ms"] == "150"
