"""The drop-in batch APIs on the Google path: the official SDKs against the api function, with
Firestore, the GCS stand-in (its finalize event and the api's own ingest task are one named
task), Cloud Tasks and the four functions, as in test_google_path.py.

An OpenAI-format batch and an Anthropic-format batch, each mixing GPT and Claude lines: the
lines run under their own rate keys and answer in the batch's format."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.e2e.test_batch_formats import (
    CLAUDE,
    GPT,
    create,
    finished,
    lines_of,
    request_line,
    wait_for,
)
from tests.gcp.test_google_path import GoogleStack, stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["stack"]  # the Google stack fixture, one per module


@pytest.fixture
def oai(stack: GoogleStack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=stack.api_key, base_url=f"{stack.api}/v1") as client:
        yield client


@pytest.fixture
def claude(stack: GoogleStack) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=stack.api_key, base_url=stack.api) as client:
        yield client


def test_openai_batch_of_two_providers_on_the_google_path(
    oai: openai.OpenAI, stack: GoogleStack
) -> None:
    lines = [request_line(f"g-{n}", max_tokens=10) for n in range(12)]
    lines += [request_line(f"c-{n}", CLAUDE, max_tokens=10) for n in range(3)]
    batch = create(oai, lines)
    done = finished(oai, batch.id)
    assert done.status == "completed", stack.logs()
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (15, 15)
    out = lines_of(oai, done.output_file_id)
    assert Counter(line["custom_id"] for line in out) == Counter(x["custom_id"] for x in lines)
    models = {ChatCompletion.model_validate(x["response"]["body"]).model for x in out}
    assert models == {GPT, CLAUDE}
    assert json.loads(oai.files.content(batch.input_file_id).text.splitlines()[0]) == lines[0]


def test_anthropic_batch_with_a_gpt_line_on_the_google_path(
    claude: anthropic.Anthropic, stack: GoogleStack
) -> None:
    requests: list[anthropic.types.messages.batch_create_params.Request] = [
        {
            "custom_id": f"c{n}",
            "params": {
                "model": model,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": f"Hello {n}"}],
            },
        }
        for n, model in enumerate([CLAUDE] * 5 + [GPT])
    ]
    batch = claude.messages.batches.create(requests=requests)

    def ended() -> anthropic.types.messages.MessageBatch | None:
        found = claude.messages.batches.retrieve(batch.id)
        return found if found.processing_status == "ended" else None

    done = wait_for("the message batch to end", ended)
    assert done.request_counts.succeeded == 6, stack.logs()
    results = list(claude.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == [f"c{n}" for n in range(6)]
    models = {r.result.message.model for r in results if r.result.type == "succeeded"}
    assert models == {CLAUDE, GPT}
