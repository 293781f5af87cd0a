"""A line's own route (provider, model, options): how a batch of mixed models rides one job.

The route is read by the one line rule (``core.jsonl``), carried by the prompt's task, and
gives the prompt its own rate key ``(provider, model, job credential)`` and options merged
over the job's; a batch format picks the provider from the model's name or the catalogue."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from promptforge.core.jsonl import LineError, RawLine, ValidPrompt, validate_line
from promptforge.core.models import GenerationParams, Job, LineRoute, PromptTask, RateKey
from promptforge.formats.common import job_id_of, provider_for_model
from promptforge.providers.catalogue import Catalogue


def _verdict(value: object) -> ValidPrompt | LineError | None:
    return validate_line(RawLine(1, json.dumps(value).encode()))


def test_a_route_is_read_with_the_line() -> None:
    route = {
        "provider": "anthropic",
        "model": "claude-3-5-haiku-20241022",
        "params": {"max_tokens": 9},
    }
    verdict = _verdict({"prompt_id": "a", "prompt": "hi", "route": route})
    assert isinstance(verdict, ValidPrompt)
    assert verdict.route == LineRoute("anthropic", "claude-3-5-haiku-20241022", {"max_tokens": 9})


@pytest.mark.parametrize(
    "route",
    [
        "gpt-4o",
        {"model": "gpt-4o"},
        {"provider": "openai", "model": ""},
        {"provider": "openai", "model": "gpt-4o", "params": {"tools": []}},
        {"provider": "openai", "model": "gpt-4o", "extra": 1},
    ],
)
def test_a_malformed_route_is_a_line_error(route: object) -> None:
    verdict = _verdict({"prompt_id": "a", "prompt": "hi", "route": route})
    assert isinstance(verdict, LineError) and verdict.code == "invalid_route"


def test_a_bad_prompt_is_reported_before_its_route() -> None:
    verdict = _verdict({"prompt_id": "a", "prompt": "", "route": "nonsense"})
    assert isinstance(verdict, LineError) and verdict.code == "empty_prompt"


def test_the_task_carries_the_route_and_the_job_gives_its_key() -> None:
    route = LineRoute("anthropic", "claude-x", {"max_tokens": 5})
    task = PromptTask("j", "p", 1, "hi", route=route)
    assert PromptTask.from_dict(json.loads(json.dumps(task.to_dict()))) == task
    now = datetime(2026, 1, 1, tzinfo=UTC)
    job = Job(
        "j", "t", "openai", "gpt-4o", 3, now, now, "t/j/prompts.jsonl",
        credential="team", params=GenerationParams(temperature=0.5, max_tokens=100),
    )  # fmt: skip
    key, params = job.route_of(route)
    assert key == RateKey("anthropic", "claude-x", "team")
    assert params == GenerationParams(temperature=0.5, max_tokens=5)
    assert job.route_of(None) == (job.rate_key, job.params)


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o-mini", "openai"),
        ("o3", "openai"),
        ("o4-mini", "openai"),
        ("claude-3-5-haiku-20241022", "anthropic"),
        ("gemini-2.5-flash", "gemini"),
        ("mistral-small-latest", "mistral"),
        ("codestral-latest", "mistral"),
        ("open-mistral-nemo", "mistral"),
        ("llama-3", None),
        ("omega", None),
    ],
)
def test_the_model_picks_the_provider(model: str, provider: str | None) -> None:
    assert provider_for_model(Catalogue.load(), model) == provider


def test_batch_ids_are_ascii_hex_only() -> None:
    hex_id = "0123456789abcdef0123456789abcdef"
    assert job_id_of("batch_" + hex_id, "batch_") == "01234567-89ab-cdef-0123-456789abcdef"
    assert job_id_of("batch_" + "\u0660" * 32, "batch_") is None
    assert job_id_of("msgbatch_" + hex_id, "batch_") is None
