"""Pay once for duplicates: in a ``dedupe`` job, prompts with an identical request share one call.

A prompt's **request key** (:func:`request_key`, the one definition) is a hash of what the
provider would receive: provider, model, generation options and the prompt or messages.
In a job created with ``dedupe: true``, the worker asks the job store to claim the key
for the prompt it holds (``JobStore.claim_request``, an insert-if-absent):

- the first prompt to claim it is the **canonical** one: it is called as usual;
- every other prompt with that key is a **copy**: it is never called. If the canonical
  prompt already has its outcome, the copy records that outcome under its own
  ``prompt_id`` with ``deduplicated_from`` (a failed canonical call fails its copies with
  the same error). If not, the copy notes itself as a waiter of the key and its task
  comes back later; the canonical prompt's worker, right after recording its outcome,
  records the copy of every waiter (:func:`answer_waiters`).

Exactly once: every copy is written with the same insert-if-absent as any outcome, by
whichever comes first, the canonical worker or the copy's own task. A worker that dies
between the canonical call and the copies loses nothing: the copies' tasks are still
queued and read the stored outcome when they come back. No copy waits for nothing: a
copy notes itself *before* looking for the outcome a second time, and the canonical
worker records *before* reading the waiters, so one of the two always sees the other.
A copy carries no tokens (nothing was billed for it); ``deduplicated_count`` counts them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from promptforge.core.deps import Deps
from promptforge.core.models import Job, Outcome, OutcomeKind, PromptTask

COPY_WAIT_FIRST = 2.0
"""Seconds a waiting copy's task first comes back (doubling each time). Only a safety net:
the canonical worker writes the waiting copies as soon as it has the answer."""
COPY_WAIT_MAX = 60.0
"""The longest a waiting copy's task stays away before looking again."""
DEDUPLICATED_FROM = "deduplicated_from"
"""The field of a copied result or error line that names the prompt actually called."""


def request_key(job: Job, task: PromptTask) -> str:
    """The hash of the request a prompt makes: provider, model, options, prompt or messages."""
    rate_key, params = job.route_of(task.route)
    prompt: Any = (
        task.prompt
        if isinstance(task.prompt, str)
        else [message.to_dict() for message in task.prompt]
    )
    request = {
        "provider": rate_key.provider,
        "model": rate_key.model,
        "params": params.to_dict(),
        "prompt": prompt,
    }
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def copy_or_wait(deps: Deps, job: Job, task: PromptTask) -> Outcome | float | None:
    """For a claimed prompt of a ``dedupe`` job: None to call the provider (it is canonical),
    the copied outcome to record, or the seconds until its task looks again."""
    key = request_key(job, task)
    canonical = await deps.store.claim_request(job.job_id, key, task.prompt_id)
    if canonical == task.prompt_id:
        return None
    outcome_key = Outcome.prompt_key(canonical)
    stored = await deps.store.get_outcome(job.job_id, outcome_key)
    if stored is None:
        await deps.store.await_request(job.job_id, key, task.prompt_id, task.line)
        stored = await deps.store.get_outcome(job.job_id, outcome_key)  # see the docstring
    if stored is None:
        return min(COPY_WAIT_FIRST * float(1 << min(task.generation, 8)), COPY_WAIT_MAX)
    return copied(stored, task.prompt_id, task.line, canonical)


async def answer_waiters(deps: Deps, job: Job, task: PromptTask, outcome: Outcome) -> None:
    """Record the copy of ``outcome`` (the canonical prompt's, just recorded) for every prompt
    that waits for it; a copy already written is left as it is."""
    if DEDUPLICATED_FROM in outcome.record:
        return
    waiters = await deps.store.request_waiters(job.job_id, request_key(job, task))
    copies = [
        copied(outcome, prompt_id, line, task.prompt_id)
        for prompt_id, line in waiters
        if prompt_id != task.prompt_id
    ]
    if copies:
        await deps.store.record_outcomes(job.job_id, copies)


def copied(canonical: Outcome, prompt_id: str, line: int, canonical_id: str) -> Outcome:
    """``canonical``'s result or error line, written for ``prompt_id`` at input ``line``.

    The copy cost no call, so its token fields are zero: the called prompt's line (named
    by ``deduplicated_from``) carries the usage, and summing a results file counts it once.
    """
    record = {**canonical.record, "prompt_id": prompt_id, DEDUPLICATED_FROM: canonical_id}
    record.update({field: 0 for field in _TOKEN_FIELDS if field in record})
    if canonical.kind is OutcomeKind.ERROR:
        record["line"] = line
    return Outcome(Outcome.prompt_key(prompt_id), canonical.kind, line, record)


_TOKEN_FIELDS = ("tokens_used", "input_tokens", "output_tokens")
