"""Pay once for duplicates: in a ``dedupe`` job, prompts with an identical request share one call.

A prompt's **request key** (:func:`request_key`, the one definition) is a hash of what the
provider would receive: provider, model, generation options and the prompt or messages.
In a job created with ``dedupe: true``, the worker asks the job store to claim the key
for the prompt it holds (``JobStore.claim_request``, an insert-if-absent):

- the first prompt to claim it is the **canonical** one: it is called as usual;
- every other prompt with that key is a **copy**: it is never called. Once the canonical
  prompt has its outcome, the copy records that outcome under its own ``prompt_id``
  with ``deduplicated_from`` (a failed canonical call fails its copies with the same
  error); until then its task comes back later, without calling anything.

Exactly once: each copy is written by its own task, through the same insert-if-absent
as every outcome, from the canonical outcome already stored. A worker that dies
between the canonical call and the copies therefore loses nothing: the copies' tasks
are still queued and read the stored outcome when they run. A copy carries no tokens
(nothing was billed for it); the job's ``deduplicated_count`` counts them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from promptforge.core.deps import Deps
from promptforge.core.models import Job, Outcome, OutcomeKind, PromptTask

COPY_WAIT_FIRST = 0.5
"""Seconds a copy first waits for its canonical prompt's outcome (doubling each time)."""
COPY_WAIT_MAX = 15.0
"""The longest a copy waits before looking again."""
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
    the copied outcome to record, or the seconds to wait for the canonical outcome."""
    canonical = await deps.store.claim_request(job.job_id, request_key(job, task), task.prompt_id)
    if canonical == task.prompt_id:
        return None
    stored = await deps.store.get_outcome(job.job_id, Outcome.prompt_key(canonical))
    if stored is None:
        return min(COPY_WAIT_FIRST * float(1 << min(task.generation, 8)), COPY_WAIT_MAX)
    return copied(stored, task, canonical)


def copied(canonical: Outcome, task: PromptTask, canonical_id: str) -> Outcome:
    """``canonical``'s result or error line, written for ``task``'s prompt and line."""
    record = {**canonical.record, "prompt_id": task.prompt_id, DEDUPLICATED_FROM: canonical_id}
    if canonical.kind is OutcomeKind.ERROR:
        record["line"] = task.line
    return Outcome(Outcome.prompt_key(task.prompt_id), canonical.kind, task.line, record)
