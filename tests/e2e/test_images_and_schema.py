"""Images in messages and answers that match the schema, on `promptforge serve` and the
simulator (issue 17): image lines run on OpenAI, Anthropic and Gemini, each in its own wire
form; a schema job where 10% of the first answers miss the schema ends with every result
line valid and ``schema_retries`` equal to exactly those prompts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from promptforge.sim.providers.images import SimImage, image_tokens
from promptforge.sim.providers.structured import answers_off_schema
from promptforge.sim.providers.text import prompt_tokens
from tests.e2e.jobs import assert_exactly_once, jsonl, run_job
from tests.e2e.processes import Process, anthropic_and_gemini_at, create_key, server, simulator
from tests.images import data_uri, image_line, png

pytestmark = pytest.mark.e2e

SEED = 5
OFF_SCHEMA_RATE = 0.1
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "keywords": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["sentiment", "score", "keywords"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "review", "schema": SCHEMA}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process, str]]:
    """A simulator that misses the schema on 10% of first answers, a server, and a key."""
    tmp = tmp_path_factory.mktemp("images")
    data = tmp / "data"
    key = create_key(data, "tenant-images")
    options = ("--rpm", "6000", "--latency", "0.02", "--seed", str(SEED))
    with simulator(tmp, *options, "--off-schema-rate", str(OFF_SCHEMA_RATE)) as sim:
        proc = server(data, sim.url, **anthropic_and_gemini_at(sim.url))
        proc.start("/healthz")
        try:
            yield sim, proc, key
        finally:
            proc.stop()


def _sim(client: httpx.Client, sim: Process, path: str) -> Any:
    return client.get(f"{sim.url}/_sim/{path}").json()


@pytest.mark.parametrize(
    ("provider", "model", "inline_key"),
    [
        ("openai", "gpt-4o-mini", "image_url"),
        ("anthropic", "claude-haiku-4-5-20251001", "source"),
        ("gemini", "gemini-2.5-flash", "inline_data"),
    ],
)
def test_an_image_job_reaches_each_provider_in_its_wire_form(
    stack: tuple[Process, Process, str], provider: str, model: str, inline_key: str
) -> None:
    sim, proc, key = stack
    picture = data_uri(png(64, 48))
    rows = [image_line(f"{provider}-i{i}", picture, f"Describe picture {i}.") for i in range(6)]
    rows.append(image_line(f"{provider}-url", "https://example.com/photos/cat.png"))
    bad = image_line(f"{provider}-svg", data_uri(b"<svg/>", "image/svg+xml"))
    with httpx.Client(timeout=30) as client:
        before = _sim(client, sim, "stats")[provider]
        finished = run_job(
            client, proc.url, key, jsonl([*rows, bad]), provider=provider, model=model
        )
        after = _sim(client, sim, "stats")[provider]
        logged = [r["body"] for r in _sim(client, sim, "requests") if r["provider"] == provider]
    assert finished.status["status"] == "COMPLETED", finished.status
    assert_exactly_once(finished, [str(r["prompt_id"]) for r in [*rows, bad]])
    assert len(finished.results) == 7
    assert after["successes"] - before["successes"] == 7  # the svg line was never sent
    (error,) = finished.errors
    assert (error["prompt_id"], error["error"]["code"]) == (
        bad["prompt_id"],
        "unsupported_image_type",
    )
    assert "image/svg+xml" in error["error"]["message"]
    assert after["image_tokens"] > before["image_tokens"]
    # Usage counts the images, by the provider's rule (sim.providers.images).
    tokens = {row["prompt_id"]: row["input_tokens"] for row in finished.results}
    inline = image_tokens(provider, SimImage(64, 48))
    by_url = image_tokens(provider, SimImage(1024, 1024))
    assert tokens[f"{provider}-i3"] == prompt_tokens(["Describe picture 3."]) + inline
    assert tokens[f"{provider}-url"] == prompt_tokens(["What is in this image?"]) + by_url
    assert any(inline_key in json.dumps(body) for body in logged[-7:])
    assert picture.split(",")[1] in json.dumps(logged[-7:])


def _reviews(count: int, prefix: str) -> list[dict[str, str]]:
    return [
        {"prompt_id": f"{prefix}{i:04d}", "prompt": f"Review {prefix}{i}: the product was fine."}
        for i in range(count)
    ]


def test_a_schema_job_ends_with_every_answer_valid_and_counts_its_re_asks(
    stack: tuple[Process, Process, str],
) -> None:
    sim, proc, key = stack
    rows = _reviews(300, "s")
    missed = [r for r in rows if answers_off_schema(SEED, r["prompt"], OFF_SCHEMA_RATE)]
    with httpx.Client(timeout=30) as client:
        before = _sim(client, sim, "stats")["openai"]
        finished = run_job(client, proc.url, key, jsonl(rows), response_format=RESPONSE_FORMAT)
        after = _sim(client, sim, "stats")["openai"]
    assert finished.status["status"] == "COMPLETED", finished.status
    assert_exactly_once(finished, [r["prompt_id"] for r in rows])
    assert finished.errors == []
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for row in finished.results:
        validator.validate(json.loads(row["result"]))
    # The re-asks are exactly the prompts the simulator missed on the first try (~10%).
    assert 0.05 * len(rows) <= len(missed) <= 0.15 * len(rows)
    assert finished.status["schema_retries"] == len(missed)
    assert after["off_schema"] - before["off_schema"] == len(missed)
    assert after["successes"] - before["successes"] == len(rows) + len(missed)
    retried = {row["prompt_id"] for row in finished.results if row.get("schema_retries")}
    assert retried == {r["prompt_id"] for r in missed}
    # A re-asked prompt's usage counts both billed calls.
    total_in = sum(row["input_tokens"] for row in finished.results)
    assert finished.status["input_tokens"] == total_in


def test_with_no_re_ask_left_a_miss_is_schema_mismatch_carrying_the_answer(
    stack: tuple[Process, Process, str],
) -> None:
    _, proc, key = stack
    rows = _reviews(60, "m")
    missed = {r["prompt_id"] for r in rows if answers_off_schema(SEED, r["prompt"], 0.1)}
    assert missed
    with httpx.Client(timeout=30) as client:
        finished = run_job(
            client,
            proc.url,
            key,
            jsonl(rows),
            response_format=RESPONSE_FORMAT,
            max_schema_retries=0,
        )
    assert finished.status["status"] == "COMPLETED", finished.status
    assert_exactly_once(finished, [r["prompt_id"] for r in rows])
    assert {e["prompt_id"] for e in finished.errors} == missed
    for error in finished.errors:
        assert error["error"]["code"] == "schema_mismatch"
        assert error["error"]["answer"]  # the last answer, to inspect or salvage
        assert "max_schema_retries=0" in error["error"]["message"]
    assert finished.status["schema_retries"] == 0


def test_init_refuses_a_schema_that_is_not_one_and_too_many_re_asks(
    stack: tuple[Process, Process, str],
) -> None:
    _, proc, key = stack
    bad_schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}
    with httpx.Client(timeout=30) as client:
        refused = client.post(
            f"{proc.url}/v1/jobs/init",
            headers={"X-API-Key": key},
            json={"provider": "openai", "model": "gpt-4o-mini", "response_format": bad_schema},
        )
        too_many = client.post(
            f"{proc.url}/v1/jobs/init",
            headers={"X-API-Key": key},
            json={"provider": "openai", "model": "gpt-4o-mini", "max_schema_retries": 6},
        )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_response_format"
    assert "not a valid JSON schema" in refused.json()["error"]["message"]
    assert too_many.status_code == 400, too_many.text
    assert too_many.json()["error"]["details"] == {"field": "max_schema_retries"}
