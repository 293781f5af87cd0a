"""Answers that match the schema: check each answer, ask again when it does not.

A job (or a batch line) with ``response_format: {"type": "json_schema", ...}`` wants every
answer to be JSON that validates against that schema. Providers mostly comply, not always
(no strict mode, a truncated answer, a model that wraps the JSON in prose). The worker
checks each successful answer here with the ``jsonschema`` library (the schema's own
``$schema`` draft, else 2020-12):

- it matches: the result line is written as usual;
- it does not, and the prompt has been asked again fewer than ``max_schema_retries``
  times (an init option, default 1): the prompt is asked again, as the next generation,
  with the conversation extended by the answer (``assistant``) and the validation error
  (``user``). **Each re-ask is a billed call made on purpose**: this is the documented
  reason under the invariant that a billed call is never made again without one. Its
  tokens, and those of the calls before it, count in the prompt's usage;
- it does not, and no re-ask is left: the prompt ends in ``errors.jsonl`` as
  ``schema_mismatch``, the error carrying the validation message and the last answer.

The job counts re-asks in ``schema_retries`` (status). Only the last answer and its
error are appended (not every earlier one), so a re-ask's task stays the size of the
line plus one answer. An invalid schema (init refuses one, a batch line's route may
carry one) checks nothing; one with a ``$ref`` to another document (never fetched)
checks only that the answer is JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError, ValidationError, relevance
from referencing.exceptions import Unresolvable

from promptforge.core.messages import ChatMessage, Prompt
from promptforge.core.models import GenerationParams, PromptTask, Reask

log = logging.getLogger(__name__)

MISMATCH = "schema_mismatch"
"""The error code of a prompt whose last answer did not match the schema."""

MAX_ERROR_CHARS = 1000
"""A validation message is cut to this length (it is sent back to the model)."""

_CACHED_SCHEMAS = 64
_ERRORS_SAID = 3

MAX_REASK_TASK_BYTES = 900_000
"""The largest task body a re-ask is sent as: under Cloud Tasks' 1 MB with room for the rest."""


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """The final verdict on a prompt whose answers never matched: code, message, answer."""

    message: str
    answer: str
    code: str = MISMATCH


def answer_schema(params: GenerationParams) -> dict[str, Any] | None:
    """The JSON schema the answers must match, or None (no ``json_schema`` response format)."""
    response_format = params.response_format
    if response_format is None or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None


def schema_error(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON schema (checked at init), or None."""
    try:
        _validator(_key(schema))
    except SchemaError as exc:
        return f"not a valid JSON schema: {exc.message}"
    return None


def answer_problem(schema: dict[str, Any], text: str) -> str | None:
    """Why ``text`` is not JSON matching ``schema``, or None when it is."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return _clip(f"the answer is not JSON ({exc}); answer with only the JSON value")
    try:
        errors: list[ValidationError] = sorted(
            _validator(_key(schema)).iter_errors(value), key=relevance
        )
    except (Unresolvable, RecursionError) as exc:  # a $ref it cannot follow: keep the answer
        log.warning("cannot check an answer against its schema: %s", exc)
        return None
    if not errors:
        return None
    said = "; ".join(f"{e.message} (at {e.json_path})" for e in errors[:_ERRORS_SAID])
    more = len(errors) - _ERRORS_SAID
    return _clip(said + (f"; and {more} more problem(s)" if more > 0 else ""))


def judge(
    params: GenerationParams, task: PromptTask, text: str | None, usage: tuple[int, int], limit: int
) -> PromptTask | Mismatch | None:
    """After a successful call: None if the answer may be recorded, the task that asks again,
    or the ``Mismatch`` to record. ``usage`` is the call's (input, output) tokens."""
    schema = answer_schema(params)
    if schema is None or text is None or schema_error(schema) is not None:
        return None  # no schema, no text, or a schema nothing can be checked against
    problem = answer_problem(schema, text)
    if problem is None:
        return None
    done = task.reask.count if task.reask is not None else 0
    if done >= limit:
        return Mismatch(
            f"the answer did not match the response_format schema after {done} re-ask(s) "
            f"(max_schema_retries={limit}): {problem}",
            text,
        )
    earlier_in, earlier_out = billed(task, (0, 0))
    reask = Reask(done + 1, text, problem, earlier_in + usage[0], earlier_out + usage[1])
    again = dataclasses.replace(task, reask=reask)
    size = len(json.dumps(again.to_dict()).encode())
    if size > MAX_REASK_TASK_BYTES:
        return Mismatch(
            f"the answer did not match the response_format schema ({problem}), and the prompt "
            f"with that answer is {size:,} bytes, over the {MAX_REASK_TASK_BYTES:,} a re-ask's "
            "task may carry (Cloud Tasks takes at most 1 MB); lower max_tokens or shorten the "
            "prompt",
            text,
        )
    return again


def billed(task: PromptTask, usage: tuple[int, int]) -> tuple[int, int]:
    """A call's (input, output) tokens plus those of the prompt's earlier, re-asked calls."""
    if task.reask is None:
        return usage
    return usage[0] + task.reask.input_tokens, usage[1] + task.reask.output_tokens


def reask_prompt(task: PromptTask) -> Prompt:
    """What to send: the prompt, and after a mismatch the last answer and why it failed."""
    if task.reask is None:
        return task.prompt
    prompt = task.prompt
    turns = (ChatMessage("user", prompt),) if isinstance(prompt, str) else prompt
    feedback = (
        f"Your answer does not match the required JSON schema: {task.reask.error}. "
        "Answer again with only a JSON value that matches the schema."
    )
    answer = task.reask.answer if task.reask.answer.strip() else "(an empty answer)"
    return (*turns, ChatMessage("assistant", answer), ChatMessage("user", feedback))


def _key(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=_CACHED_SCHEMAS)
def _validator(schema_json: str) -> Any:
    """A checked validator per schema, built once (a job's prompts share one schema)."""
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def _clip(message: str) -> str:
    return message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS] + "..."
