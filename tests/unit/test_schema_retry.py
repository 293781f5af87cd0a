"""Answers that match the schema: the check, the re-ask, the final mismatch, and the
simulator's schema-built answers (which the check must accept, and its off-schema ones not)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from promptforge.core.messages import ChatMessage
from promptforge.core.models import GenerationParams, PromptTask
from promptforge.core.schema_retry import (
    MISMATCH,
    Mismatch,
    answer_problem,
    billed,
    judge,
    reask_prompt,
    schema_error,
)
from promptforge.sim.providers.structured import answers_off_schema, instance, schema_completion

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string", "minLength": 3}, "minItems": 2},
        "count": {"type": "integer", "exclusiveMinimum": 0, "maximum": 10},
        "note": {"type": ["string", "null"], "maxLength": 4},
        "nested": {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}, "kind": {"const": "x"}},
            "required": ["ok", "kind"],
            "additionalProperties": False,
        },
        "choice": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    },
    "required": ["label", "score", "tags", "count", "nested", "choice"],
    "additionalProperties": False,
}
PARAMS = GenerationParams(
    response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}}
)
TASK = PromptTask("job", "p1", 1, "Classify this review.")
GOOD = json.dumps(instance(SCHEMA, 0.3))


def test_an_answer_that_validates_is_kept() -> None:
    assert answer_problem(SCHEMA, GOOD) is None
    assert judge(PARAMS, TASK, GOOD, (10, 5), limit=1) is None


def test_no_json_schema_no_check() -> None:
    for params in (GenerationParams(), GenerationParams(response_format={"type": "json_object"})):
        assert judge(params, TASK, "not json at all", (1, 1), limit=1) is None


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("Sure! {}", "not JSON"),
        ('{"label": "great"}', "is not one of"),
        ("[1, 2]", "is not of type 'object'"),
    ],
)
def test_a_mismatch_says_what_is_wrong(answer: str, said: str) -> None:
    problem = answer_problem(SCHEMA, answer)
    assert problem is not None and said in problem


def test_a_mismatch_is_asked_again_with_the_answer_and_the_error() -> None:
    again = judge(PARAMS, TASK, "[1]", (10, 5), limit=1)
    assert isinstance(again, PromptTask)
    assert again.reask is not None
    assert (again.reask.count, again.reask.answer) == (1, "[1]")
    assert (again.reask.input_tokens, again.reask.output_tokens) == (10, 5)
    sent = reask_prompt(again)
    assert not isinstance(sent, str)
    assert [m.role for m in sent] == ["user", "assistant", "user"]
    assert sent[0].content == "Classify this review." and sent[1].content == "[1]"
    assert "is not of type 'object'" in sent[2].text
    # A chat line keeps its own messages in front.
    chat = PromptTask("job", "p2", 2, (ChatMessage("user", "hi"),))
    again_chat = judge(PARAMS, chat, "", (1, 1), limit=2)
    assert isinstance(again_chat, PromptTask)
    sent_chat = reask_prompt(again_chat)
    assert [m.content for m in sent_chat][:2] == ["hi", "(an empty answer)"]


def test_the_last_mismatch_is_the_prompts_error_carrying_the_answer() -> None:
    first = judge(PARAMS, TASK, "[1]", (10, 5), limit=1)
    assert isinstance(first, PromptTask)
    final = judge(PARAMS, first, '{"label": 3}', (12, 6), limit=1)
    assert isinstance(final, Mismatch)
    assert final.code == MISMATCH and final.answer == '{"label": 3}'
    assert "max_schema_retries=1" in final.message
    assert billed(first, (12, 6)) == (22, 11)  # both calls were billed
    assert isinstance(judge(PARAMS, TASK, "[1]", (1, 1), limit=0), Mismatch)


def test_a_re_ask_too_large_for_a_task_is_the_final_mismatch() -> None:
    near_the_line_limit = PromptTask("job", "p3", 3, "x" * 800_000)
    answer = json.dumps(["y" * 200_000])  # off-schema, and with the prompt over a task's 1 MB
    final = judge(PARAMS, near_the_line_limit, answer, (1, 1), limit=3)
    assert isinstance(final, Mismatch) and final.answer == answer
    assert "900,000 a re-ask's task may carry" in final.message
    assert isinstance(judge(PARAMS, near_the_line_limit, "[1]", (1, 1), limit=3), PromptTask)


def test_an_invalid_schema_is_refused_at_init() -> None:
    assert schema_error(SCHEMA) is None
    problem = schema_error({"type": "object", "properties": {"a": {"type": "bogus"}}})
    assert problem is not None and "not a valid JSON schema" in problem


@pytest.mark.parametrize(
    "schema",
    [
        SCHEMA,
        {"type": "array", "items": {"type": "integer", "minimum": 5}, "minItems": 3},
        {"type": "string", "minLength": 12},
        {"properties": {"a": {"type": "number", "exclusiveMaximum": 2}}, "required": ["a"]},
        {"oneOf": [{"type": "boolean"}, {"type": "string"}]},
    ],
)
def test_the_simulators_answers_follow_the_schema_and_its_misses_do_not(
    schema: dict[str, Any],
) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    for seed in range(20):
        good = schema_completion(seed, f"prompt {seed}", schema, off_schema=False)
        validator.validate(json.loads(good.text))
        assert answer_problem(schema, good.text) is None
        bad = schema_completion(seed, f"prompt {seed}", schema, off_schema=True)
        assert answer_problem(schema, bad.text) is not None, bad.text


def test_the_off_schema_share_is_the_rate_and_a_pure_function_of_the_prompt() -> None:
    hits = [answers_off_schema(3, f"p{i}", 0.1) for i in range(4000)]
    assert 0.085 < sum(hits) / len(hits) < 0.115
    assert hits == [answers_off_schema(3, f"p{i}", 0.1) for i in range(4000)]
    assert not any(answers_off_schema(3, f"p{i}", 0.0) for i in range(100))


def test_a_schema_that_cannot_be_checked_keeps_the_answer() -> None:
    for schema in (
        {"type": "bogus"},
        {"$ref": "https://example.com/schemas/review.json"},
    ):
        params = GenerationParams(
            response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
        )
        assert judge(params, TASK, "[1]", (1, 1), limit=1) is None
