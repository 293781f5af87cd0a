"""The records a prompt ends with: its result line, or its ``errors.jsonl`` line.

Built here for the worker (``core.worker``) and for cancel (``core.cancel``): what a
result or error line holds, the code and message of a prompt that gives up, and the
size check that keeps a record storable as one item on both runtimes.
"""

from __future__ import annotations

import dataclasses
import json

from promptforge.core.error_codes import ANSWER_TOO_LARGE, RETRIES_EXHAUSTED, TIMEOUT
from promptforge.core.models import Job, Outcome, OutcomeKind, PromptTask
from promptforge.core.schema_retry import billed
from promptforge.providers.base import CallOutcome, CallResult

MAX_OUTCOME_BYTES = 900_000
"""The largest result record kept: under Firestore's 1 MiB per document, with room for the
item's other fields."""


def final_error(job: Job, task: PromptTask, result: CallResult) -> tuple[str, str]:
    """The code and message of a prompt that ends in errors.jsonl."""
    code = result.error_code or "provider_error"
    if result.outcome is not CallOutcome.TRANSIENT:
        return code, result.error_message or f"the provider refused the prompt ({code})"
    tries = f"{task.attempt + 1} attempt(s), max_retries={job.max_retries}"
    if code == TIMEOUT:
        return TIMEOUT, (
            f"the provider did not answer in time: {task.timeouts} of {tries} timed out, "
            f"{task.waited:g} s of waiting in all (each retry waits twice as long); a "
            "timed-out call may still have been served and billed by the provider"
        )
    return RETRIES_EXHAUSTED, (f"gave up after {tries}; last error: {result.error_message or code}")


def result_outcome(job: Job, task: PromptTask, result: CallResult) -> Outcome:
    """The result line of a prompt the provider answered, with the tokens it billed."""
    tokens_in, tokens_out = billed(task, (result.input_tokens, result.output_tokens))
    reasks = task.reask.count if task.reask is not None else 0
    return Outcome(
        key=Outcome.prompt_key(task.prompt_id),
        kind=OutcomeKind.RESULT,
        line=task.line,
        record={
            "prompt_id": task.prompt_id,
            "result": result.text or "",
            "model": job.route_of(task.route)[0].model,
            "tokens_used": tokens_in + tokens_out,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "finish_reason": result.finish_reason,
            **({"timeouts": task.timeouts} if task.timeouts else {}),
            **({"tool_calls": list(result.tool_calls)} if result.tool_calls else {}),
            **({"schema_retries": reasks} if reasks else {}),
        },
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        schema_retries=reasks,
    )


def storable(task: PromptTask, outcome: Outcome, result: CallResult) -> Outcome:
    """The outcome, or ``answer_too_large`` if its record cannot be stored as one item.

    Checked before the write, on both runtimes: a Firestore item is at most 1 MiB, and a
    write that fails would be retried, re-claimed and the provider called (and billed)
    again, for ever. The tokens the answer cost are still counted.
    """
    size = len(json.dumps(outcome.record, ensure_ascii=False).encode())
    if size <= MAX_OUTCOME_BYTES:
        return outcome
    message = (
        f"the answer is {size:,} bytes, over the {MAX_OUTCOME_BYTES:,} a result line may hold; "
        "lower max_tokens or split the prompt"
    )
    return error_outcome(task, ANSWER_TOO_LARGE, message, result)


def error_outcome(task: PromptTask, code: str, message: str, result: CallResult) -> Outcome:
    """The error line of a prompt that ends on this call, with what the call billed."""
    error: dict[str, object] = {
        "code": code,
        "message": message,
        "provider_status": result.status,
        "provider_code": result.error_code,
    }
    if code == TIMEOUT:
        error["waited_seconds"] = task.waited
    tokens_in, tokens_out = billed(task, (result.input_tokens, result.output_tokens))
    outcome = prompt_error(
        task.prompt_id,
        task.line,
        error,
        attempts=task.attempt + 1,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
    )
    outcome.record["timeouts"] = task.timeouts  # each may have been served and billed
    if task.reask is not None:
        outcome.record["schema_retries"] = task.reask.count
        outcome = dataclasses.replace(outcome, schema_retries=task.reask.count)
    return outcome


def prompt_error(
    prompt_id: str,
    line: int,
    error: dict[str, object],
    *,
    attempts: int,
    input_tokens: int = 0,
    output_tokens: int = 0,
) -> Outcome:
    """A prompt's ``errors.jsonl`` outcome: ``{prompt_id, line, error, attempts}``."""
    return Outcome(
        key=Outcome.prompt_key(prompt_id),
        kind=OutcomeKind.ERROR,
        line=line,
        record={"prompt_id": prompt_id, "line": line, "error": error, "attempts": attempts},
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
