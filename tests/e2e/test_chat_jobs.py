"""A job of chat lines (``messages``) mixed with prompt lines, on `promptforge serve`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.jobs import assert_exactly_once, jsonl, run_job
from tests.e2e.processes import Process, anthropic_and_gemini_at, create_key, server, simulator

pytestmark = pytest.mark.e2e


def chat_rows(count: int) -> list[dict[str, object]]:
    """Chat lines with a system message and an earlier turn, every third one a prompt line."""
    rows: list[dict[str, object]] = []
    for i in range(count):
        if i % 3 == 2:
            rows.append({"prompt_id": f"t{i:03d}", "prompt": f"Plain question {i}?"})
            continue
        rows.append(
            {
                "prompt_id": f"c{i:03d}",
                "messages": [
                    {"role": "system", "content": "Answer in one word."},
                    {"role": "user", "content": f"Pick a colour for item {i}."},
                    {"role": "assistant", "content": "Blue."},
                    {"role": "user", "content": f"And a shape for item {i}?"},
                ],
            }
        )
    return rows


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process, str]]:
    """The simulator, a server reaching it for OpenAI, Anthropic and Gemini, and a key."""
    tmp = tmp_path_factory.mktemp("chat")
    data = tmp / "data"
    key = create_key(data, "tenant-chat")
    with simulator(tmp, "--rpm", "6000", "--latency", "0.02") as sim:
        proc = server(data, sim.url, **anthropic_and_gemini_at(sim.url))
        proc.start("/healthz")
        try:
            yield sim, proc, key
        finally:
            proc.stop()


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5-20251001"),
        ("gemini", "gemini-2.5-flash"),
    ],
)
def test_a_job_of_chat_lines_completes(
    stack: tuple[Process, Process, str], provider: str, model: str
) -> None:
    sim, proc, key = stack
    rows = chat_rows(30)
    bad = {"prompt_id": "bad", "messages": [{"role": "assistant", "content": "no user turn"}]}
    with httpx.Client(timeout=30) as client:
        before = client.get(f"{sim.url}/_sim/stats").json()[provider]["successes"]
        finished = run_job(
            client, proc.url, key, jsonl([*rows, bad]), provider=provider, model=model
        )
        after = client.get(f"{sim.url}/_sim/stats").json()[provider]["successes"]
    assert finished.status["status"] == "COMPLETED", finished.status
    assert_exactly_once(finished, [str(r["prompt_id"]) for r in rows], invalid_lines={31})
    assert len(finished.results) == 30
    assert [e["error"]["code"] for e in finished.errors] == ["invalid_message_order"]
    assert after - before == 30  # the simulator accepted every mapped request
