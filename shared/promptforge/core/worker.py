"""Worker: one prompt per task — claim it, call the provider, record the outcome exactly once.

The queue delivers at least once. A delivery first claims the prompt for its
generation; a stale, finished or busy prompt is answered without calling the
provider, so duplicated tasks cost nothing. Rate-limited and transient calls are
re-enqueued as the next generation with a delay chosen here, not by queue retries:
429s never count against ``max_retries`` and never slow the queue for other prompts.
The next generation goes back to the queue (the key's shard) the task came from.

Where the runtime's queues apply a new rate late (``CoreConfig.queue_apply_delay``),
a claimed prompt first passes the admission gate (``ratecontrol.gate``): a dispatch
above the rate the controller now wants, or during a pause, is re-enqueued for later
without calling the provider.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from datetime import timedelta

from promptforge.core.deps import Deps
from promptforge.core.ingest import prompt_task
from promptforge.core.models import ClaimResult, Job, Outcome, OutcomeKind, PromptTask
from promptforge.core.tasknames import queue_for
from promptforge.errors import MissingCredential
from promptforge.providers.base import CallOutcome, CallResult, PromptCall
from promptforge.providers.http import send
from promptforge.providers.registry import get_adapter
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.controller import ControllerState, retry_delay
from promptforge.ratecontrol.gate import admission
from promptforge.tasks.base import Delivery, HandlerResult

log = logging.getLogger(__name__)

MAX_OUTCOME_BYTES = 900_000
"""The largest result record kept: under Firestore's 1 MiB per document, with room for the
item's other fields."""
TRANSIENT_BACKOFF_BASE = 2.0
TRANSIENT_BACKOFF_MAX = 120.0


async def handle_prompt(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``worker``."""
    task = PromptTask.from_dict(delivery.payload)
    job = await deps.jobs.get(task.job_id, deps.store.get_job)
    if job is None or job.status.final or job.cancelling:
        return HandlerResult(200)  # a cancelled job's prompts are settled by its cancel sweep
    now = deps.clock.now()
    holder = uuid.uuid4().hex
    claim = await deps.store.claim(
        task.job_id,
        task.prompt_id,
        task.generation,
        holder,
        now + timedelta(seconds=deps.config.lease_seconds),
        now,
    )
    if claim is ClaimResult.BUSY:
        # Another delivery is calling the provider for this prompt; come back after it.
        return HandlerResult(409)
    if claim is not ClaimResult.CLAIMED:
        return HandlerResult(200)
    queue = _own_queue(job, task, delivery.queue)
    deferred = await _admission(deps, job, task)
    if deferred is not None:
        await _requeue(deps, queue, task, deferred, attempt=task.attempt)
        return HandlerResult(200)
    result = await _call_provider(deps, job, task)
    await _settle(deps, job, task, result, queue)
    return HandlerResult(200)


def _own_queue(job: Job, task: PromptTask, delivered_from: str) -> str:
    """The queue that delivered the task if it is one of the key's, else the key's first."""
    base = queue_for(job.route_of(task.route)[0])
    return delivered_from if delivered_from.startswith(base) else base


async def _admission(deps: Deps, job: Job, task: PromptTask) -> float | None:
    """Seconds to defer this dispatch, or None to call the provider (see ``ratecontrol.gate``)."""
    config = deps.config.rate_control
    if not config.gated:
        return None
    saved = await deps.store.load_rate_state(job.route_of(task.route)[0].id) or {}
    if "state" not in saved:
        return None
    state = ControllerState.from_dict(saved["state"])
    salt = f"{task.job_id}|{task.prompt_id}|{task.generation}"
    return admission(state, deps.clock.now().timestamp(), salt=salt, config=config)


async def _call_provider(deps: Deps, job: Job, task: PromptTask) -> CallResult:
    key, params = job.route_of(task.route)
    adapter = get_adapter(key.provider)
    try:
        endpoint = deps.credentials.resolve(key.provider, job.credential)
    except MissingCredential as exc:
        return CallResult(
            CallOutcome.PERMANENT, error_code="missing_credential", error_message=str(exc)
        )
    request = adapter.build_request(
        PromptCall(
            base_url=endpoint.base_url or adapter.default_base_url,
            api_key=endpoint.api_key.get_secret_value(),
            model=key.model,
            prompt=task.prompt,
            params=params,
        )
    )
    started = time.monotonic()
    result = await send(deps.http, adapter, request, timeout=deps.config.provider_timeout)
    latency = time.monotonic() - started
    observation = Observation.from_call(deps.clock.now().timestamp(), result, latency)
    await deps.store.append_observations(key.id, [observation])
    return result


async def _settle(deps: Deps, job: Job, task: PromptTask, result: CallResult, queue: str) -> None:
    if result.outcome is CallOutcome.SUCCESS:
        await _record(deps, job, task, _storable(task, _result_outcome(job, task, result), result))
    elif result.outcome is CallOutcome.RATE_LIMITED:
        delay = await _rate_limit_delay(deps, job.route_of(task.route)[0].id, result)
        await _requeue(deps, queue, task, delay, attempt=task.attempt)
    elif result.outcome is CallOutcome.TRANSIENT and task.attempt < job.max_retries:
        delay = _transient_delay(task.attempt, result.signals.retry_after)
        await _requeue(deps, queue, task, delay, attempt=task.attempt + 1)
    else:
        code = result.error_code or "provider_error"
        if result.outcome is CallOutcome.TRANSIENT:
            message = (
                f"gave up after {task.attempt + 1} attempts (max_retries={job.max_retries}); "
                f"last error: {result.error_message or code}"
            )
            code = "retries_exhausted"
        else:
            message = result.error_message or f"the provider refused the prompt ({code})"
        await _record(deps, job, task, _error_outcome(task, code, message, result))


async def _requeue(deps: Deps, queue: str, task: PromptTask, delay: float, *, attempt: int) -> None:
    """Enqueue the next generation first, then advance: a crash in between loses nothing."""
    following = PromptTask(
        task.job_id,
        task.prompt_id,
        task.line,
        task.prompt,
        task.generation + 1,
        attempt,
        task.route,
    )
    when = deps.clock.now() + timedelta(seconds=delay)
    await deps.tasks.enqueue([prompt_task(queue, following, schedule_time=when)])
    await deps.store.advance(task.job_id, task.prompt_id, task.generation)


async def _record(deps: Deps, job: Job, task: PromptTask, outcome: Outcome) -> None:
    # Whether the job is ready to finalize is the controller's tick's to see (core.control).
    await deps.store.record_outcomes(job.job_id, [outcome])


async def _rate_limit_delay(deps: Deps, key: str, result: CallResult) -> float:
    saved = await deps.store.load_rate_state(key) or {}
    if "state" not in saved:
        return result.signals.retry_after or 1.0
    state = ControllerState.from_dict(saved["state"])
    return retry_delay(state, deps.clock.now().timestamp(), result.signals.retry_after)


def _transient_delay(attempt: int, retry_after: float | None) -> float:
    backoff = min(TRANSIENT_BACKOFF_MAX, TRANSIENT_BACKOFF_BASE * 2.0**attempt)
    jittered = backoff * (0.5 + random.random() / 2)
    return max(jittered, retry_after or 0.0)


def _result_outcome(job: Job, task: PromptTask, result: CallResult) -> Outcome:
    return Outcome(
        key=Outcome.prompt_key(task.prompt_id),
        kind=OutcomeKind.RESULT,
        line=task.line,
        record={
            "prompt_id": task.prompt_id,
            "result": result.text or "",
            "model": job.route_of(task.route)[0].model,
            "tokens_used": result.tokens_used,
            "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "finish_reason": result.finish_reason,
            **({"tool_calls": list(result.tool_calls)} if result.tool_calls else {}),
        },
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
    )


def _storable(task: PromptTask, outcome: Outcome, result: CallResult) -> Outcome:
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
    return _error_outcome(task, "answer_too_large", message, result)


def _error_outcome(task: PromptTask, code: str, message: str, result: CallResult) -> Outcome:
    error: dict[str, object] = {
        "code": code,
        "message": message,
        "provider_status": result.status,
        "provider_code": result.error_code,
    }
    return prompt_error(
        task.prompt_id,
        task.line,
        error,
        attempts=task.attempt + 1,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
    )


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
