"""Worker: one prompt — claim it, call the provider, record the outcome exactly once.

``process_prompt`` is the unit: a one-prompt task (``handle_prompt``) runs it once, a
chunk task (``core.chunks``) runs it for each of its prompts, with a ``Settler`` that
says where observations and outcomes go (at once, or a checkpoint at a time).

The queue delivers at least once. A delivery first claims the prompt for its
generation; a stale, finished or busy prompt is answered without calling the
provider, so duplicated tasks cost nothing. Rate-limited and transient calls are
re-enqueued as the next generation with a delay chosen here, not by queue retries:
429s never count against ``max_retries`` and never slow the queue for other prompts.
The next generation goes back to the queue (the key's shard) the task came from.

Once the provider has answered, what follows (recording the outcome or enqueuing the
retry) runs to its end even if the handler is cancelled, and is retried on a store
error (``core.answers``): a shutdown or a storage hiccup never drops an answer that was
served and billed. A call that timed out is retried with a longer timeout
(``core.retry_policy``) and counted apart from other transient errors; a prompt that
gives up on a timeout is reported as ``timeout`` with the seconds waited.

Where the runtime's queues apply a new rate late (``CoreConfig.queue_apply_delay``),
a claimed prompt first passes the admission gate (``ratecontrol.gate``): a dispatch
above the rate the controller now wants, or during a pause, is re-enqueued for later
without calling the provider.

An answer that does not match the job's JSON schema is asked again, on purpose and
billed, up to ``max_schema_retries`` times, then recorded as ``schema_mismatch``
(``core.schema_retry``). A prompt holding an image its provider does not take ends with
the adapter's ``UnsupportedContent`` code, without a call.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from datetime import timedelta

from promptforge.core.answers import with_store_retries
from promptforge.core.brake import brake_key
from promptforge.core.dedupe import answer_waiters, copy_or_wait
from promptforge.core.deps import Deps
from promptforge.core.error_codes import (
    MISSING_CREDENTIAL,
    TIMEOUT,
)
from promptforge.core.ingest import prompt_task
from promptforge.core.models import ClaimResult, Job, Outcome, PromptTask
from promptforge.core.outcomes import (
    error_outcome,
    final_error,
    prompt_error,
    result_outcome,
    storable,
)
from promptforge.core.ratestate import RateKeyState
from promptforge.core.retry_policy import attempt_timeout, transient_delay
from promptforge.core.schema_retry import Mismatch, judge, reask_prompt
from promptforge.core.spend import BUDGET_EXCEEDED
from promptforge.core.spend_calls import reserve_call, settle_call
from promptforge.core.tasknames import queue_for
from promptforge.errors import MissingCredential, UnsupportedContent
from promptforge.providers.base import CallOutcome, CallResult, PromptCall
from promptforge.providers.http import send
from promptforge.providers.registry import get_adapter
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.controller import retry_delay
from promptforge.ratecontrol.gate import admission
from promptforge.tasks.base import Delivery, HandlerResult

log = logging.getLogger(__name__)


async def handle_prompt(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``worker``."""
    task = PromptTask.from_dict(delivery.payload)
    job = await deps.jobs.get(task.job_id, deps.store.get_job)
    if job is None or job.status.final or job.cancelling:
        return HandlerResult(200)  # a cancelled job's prompts are settled by its cancel sweep
    claim = await process_prompt(deps, job, task, delivery.queue, Settler(deps))
    # BUSY: another delivery is calling the provider for this prompt; come back after it.
    return HandlerResult(409 if claim is ClaimResult.BUSY else 200)


class Settler:
    """What the prompts of one delivery share: the rate state they read and where their
    observations and outcomes go.

    This one writes each observation and outcome at once (a one-prompt task);
    ``core.chunks.Checkpoints`` keeps a chunk's and writes them a few at a time. The rate
    state is read once and reused for one control period.
    """

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._states: dict[str, tuple[float, RateKeyState | None]] = {}

    async def rate_state(self, key: str) -> RateKeyState | None:
        """The saved rate state of ``key`` (None if none), at most one control period old."""
        now = time.monotonic()
        cached = self._states.get(key)
        if cached is not None and now - cached[0] < self.deps.config.rate_control.control_period:
            return cached[1]
        saved = await self.deps.store.load_rate_state(key)
        self._states[key] = (now, saved)
        return saved

    async def claim(self, task: PromptTask) -> ClaimResult:
        """Claim the prompt for its task's generation: its own lease, in its own item."""
        now = self.deps.clock.now()
        return await self.deps.store.claim(
            task.job_id,
            task.prompt_id,
            task.generation,
            uuid.uuid4().hex,
            now + timedelta(seconds=self.deps.config.lease_seconds),
            now,
        )

    async def requeue(self, queue: str, task: PromptTask, delay: float, *, attempt: int) -> None:
        """Send the prompt's next generation back to ``queue`` after ``delay`` seconds: its
        task enqueued first, then the prompt advanced (a crash in between loses nothing)."""
        following = dataclasses.replace(task, generation=task.generation + 1, attempt=attempt)
        when = self.deps.clock.now() + timedelta(seconds=delay)
        await self.deps.tasks.enqueue([prompt_task(queue, following, schedule_time=when)])
        await self.deps.store.advance(task.job_id, task.prompt_id, task.generation)

    async def answered(self, job: Job, task: PromptTask, outcome: Outcome) -> None:
        """After a ``dedupe`` job's called prompt is recorded: record its waiters' copies."""
        await answer_waiters(self.deps, job, task, outcome)

    async def wait(self, seconds: float) -> bool:
        """Whether a call the admission gate deferred waits here (True, after waiting) or
        goes back to the queue as the prompt's next generation (False: a one-prompt task
        has nothing else to do; waiting would only hold a queue slot)."""
        return False

    async def observe(self, key: str, observation: Observation) -> None:
        """Queue a call's observation for the key's controller."""
        await self.deps.store.append_observations(key, [observation])

    async def record(self, job_id: str, outcome: Outcome) -> None:
        """Record a prompt's outcome (exactly once per prompt: the store's rule).

        Whether the job is ready to finalize is the controller's tick's to see.
        """
        await self.deps.store.record_outcomes(job_id, [outcome])

    async def record_now(self, job_id: str, outcome: Outcome) -> None:
        """Record the outcome before returning, even where outcomes wait for a checkpoint."""
        await self.record(job_id, outcome)


async def process_prompt(
    deps: Deps, job: Job, task: PromptTask, delivered_from: str, settler: Settler
) -> ClaimResult:
    """Claim one prompt, call the provider for it and settle the answer; the claim's result.

    The unit of work of both a one-prompt task and a chunk (``core.chunks``).
    """
    claim = await settler.claim(task)
    if claim is not ClaimResult.CLAIMED:
        return claim
    queue = _own_queue(job, task, delivered_from)
    if job.dedupe and await _answered_as_copy(deps, job, task, queue, settler):
        return claim
    deferred = await _admission(deps, job, task, settler)
    if deferred is not None and not await settler.wait(deferred):
        await settler.requeue(queue, task, deferred, attempt=task.attempt)
        return claim
    refused = await reserve_call(deps, job, task)  # the cost cap (core.spend)
    if refused is not None:
        error: dict[str, object] = {"code": BUDGET_EXCEEDED, "message": refused}
        failed = prompt_error(task.prompt_id, task.line, error, attempts=task.attempt)
        await _record(deps, job, task, failed, settler)
        return claim
    timeout = attempt_timeout(
        deps.config.provider_timeout, task.timeouts, deps.config.lease_seconds
    )
    result, latency = await _call_provider(deps, job, task, timeout)
    answer = _Answer(result, latency, timeout)
    await deps.answers.keep(_after_answer(deps, job, task, answer, queue, settler))
    return claim


async def _answered_as_copy(
    deps: Deps, job: Job, task: PromptTask, queue: str, settler: Settler
) -> bool:
    """Whether the prompt needs no call of its own: it copied its request's answer, or waits
    for it (``core.dedupe``). Before the admission gate: a copy never takes a call's slot."""
    copy = await copy_or_wait(deps, job, task)
    if copy is None:
        return False
    if isinstance(copy, Outcome):
        await _record(deps, job, task, copy, settler)
    else:
        await settler.requeue(queue, task, copy, attempt=task.attempt)
    return True


def _own_queue(job: Job, task: PromptTask, delivered_from: str) -> str:
    """The queue that delivered the task if it is one of the key's, else the key's first."""
    base = queue_for(job.route_of(task.route)[0])
    return delivered_from if delivered_from.startswith(base) else base


async def _admission(deps: Deps, job: Job, task: PromptTask, settler: Settler) -> float | None:
    """Seconds to defer this dispatch, or None to call the provider (see ``ratecontrol.gate``)."""
    config = deps.config.rate_control
    if not config.gated:
        return None
    saved = await settler.rate_state(job.route_of(task.route)[0].id)
    if saved is None or saved.state is None:
        return None
    state = saved.state
    salt = f"{task.job_id}|{task.prompt_id}|{task.generation}"
    return admission(state, deps.clock.now().timestamp(), salt=salt, config=config)


async def _call_provider(
    deps: Deps,
    job: Job,
    task: PromptTask,
    timeout: float,  # noqa: ASYNC109 (a budget passed on to ``send``, which enforces it)
) -> tuple[CallResult, float]:
    """The provider's answer (or the failure that stood for one) and the call's latency."""
    key, params = job.route_of(task.route)
    adapter = get_adapter(key.provider)
    try:
        endpoint = deps.credentials.resolve(key.provider, job.credential)
    except MissingCredential as exc:
        failure = CallResult(
            CallOutcome.PERMANENT, error_code=MISSING_CREDENTIAL, error_message=str(exc)
        )
        return failure, 0.0
    try:
        request = adapter.build_request(
            PromptCall(
                base_url=endpoint.base_url or adapter.default_base_url,
                api_key=endpoint.api_key.get_secret_value(),
                model=key.model,
                prompt=reask_prompt(task),
                params=params,
            )
        )
    except UnsupportedContent as exc:  # an image type the provider does not take: no call
        return CallResult(
            CallOutcome.PERMANENT, error_code=exc.code, error_message=exc.message
        ), 0.0
    started = time.monotonic()
    result = await send(deps.http, adapter, request, timeout=timeout)
    return result, time.monotonic() - started


@dataclasses.dataclass(frozen=True)
class _Answer:
    """What one call gave: its result, how long it took, the timeout it had."""

    result: CallResult
    latency: float
    timeout: float


async def _after_answer(  # noqa: PLR0917 (the answer and everything it settles into)
    deps: Deps, job: Job, task: PromptTask, answer: _Answer, queue: str, settler: Settler
) -> None:
    """Everything after the call: run shielded by ``deps.answers``, settled despite store errors."""
    result = answer.result
    observation = Observation.from_call(deps.clock.now().timestamp(), result, answer.latency)
    key = job.route_of(task.route)[0].id
    try:
        await settler.observe(key, observation)
        if result.outcome is CallOutcome.RATE_LIMITED:
            # Slow start's cliff: brake at once (core.brake); the cached state says whether
            # the rule can apply before the store is read.
            await brake_key(deps, key, observation, await settler.rate_state(key))
    except Exception:  # the controller misses one reading; the answer must not be lost
        log.exception("could not store a rate observation for %s", task.prompt_id)
    await with_store_retries(
        f"settling the spend of prompt {task.prompt_id!r}",
        lambda: settle_call(deps, job, task, result),
    )
    if result.error_code == TIMEOUT:
        waited = task.waited + answer.timeout
        task = dataclasses.replace(task, timeouts=task.timeouts + 1, waited=waited)
    await with_store_retries(
        f"recording prompt {task.prompt_id!r}",
        lambda: _settle(deps, job, task, result, queue, settler),
    )


async def _settle(  # noqa: PLR0917
    deps: Deps, job: Job, task: PromptTask, result: CallResult, queue: str, settler: Settler
) -> None:
    if result.outcome is CallOutcome.SUCCESS:
        await _settle_answer(deps, job, task, result, queue, settler)
    elif result.outcome is CallOutcome.RATE_LIMITED:
        saved = await settler.rate_state(job.route_of(task.route)[0].id)
        delay = _rate_limit_delay(deps, saved, result)
        await settler.requeue(queue, task, delay, attempt=task.attempt)
    elif result.outcome is CallOutcome.TRANSIENT and task.attempt < job.max_retries:
        delay = transient_delay(task.attempt, result.signals.retry_after)
        await settler.requeue(queue, task, delay, attempt=task.attempt + 1)
    else:
        code, message = final_error(job, task, result)
        await _record(deps, job, task, error_outcome(task, code, message, result), settler)


async def _settle_answer(  # noqa: PLR0917
    deps: Deps, job: Job, task: PromptTask, result: CallResult, queue: str, settler: Settler
) -> None:
    """Record an answer, or ask again when it does not match the schema (core.schema_retry)."""
    text = None if result.tool_calls else result.text
    usage = (result.input_tokens, result.output_tokens)
    verdict = judge(job.route_of(task.route)[1], task, text, usage, job.max_schema_retries)
    if isinstance(verdict, PromptTask):  # a billed call made on purpose: see schema_retry
        await settler.requeue(queue, verdict, 0.0, attempt=task.attempt)
    elif isinstance(verdict, Mismatch):
        outcome = error_outcome(task, verdict.code, verdict.message, result)
        outcome.record["error"]["answer"] = verdict.answer
        await _record(deps, job, task, storable(task, outcome, result), settler)
    else:
        outcome = storable(task, result_outcome(job, task, result), result)
        await _record(deps, job, task, outcome, settler)


async def _record(
    deps: Deps, job: Job, task: PromptTask, outcome: Outcome, settler: Settler
) -> None:
    # Whether the job is ready to finalize is the controller's tick's to see (core.control).
    if not job.dedupe:
        await settler.record(job.job_id, outcome)
        return
    # The copies follow the called prompt's answer only once that answer is stored: written
    # first, it is what every copy and every later delivery of this prompt sees.
    await settler.record_now(job.job_id, outcome)
    await settler.answered(job, task, outcome)


def _rate_limit_delay(deps: Deps, saved: RateKeyState | None, result: CallResult) -> float:
    if saved is None or saved.state is None:
        return result.signals.retry_after or 1.0
    return retry_delay(saved.state, deps.clock.now().timestamp(), result.signals.retry_after)
