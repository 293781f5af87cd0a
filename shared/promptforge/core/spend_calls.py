"""The worker's two budget hooks: reserve a call's worst case before it, settle after it.

A job without ``max_cost_usd`` passes straight through: no ledger is read or written.
The rule itself is ``core.spend``; the job store applies it in its own transaction.
"""

from __future__ import annotations

from promptforge.core.deps import Deps
from promptforge.core.error_codes import TIMEOUT
from promptforge.core.models import Job, PromptTask
from promptforge.core.spend import call_cost, to_nano, to_usd, worst_case
from promptforge.providers.base import CallResult


async def reserve_call(deps: Deps, job: Job, task: PromptTask) -> str | None:
    """None when the call may go ahead (its worst case is reserved), else why it may not."""
    if job.max_cost_usd is None:
        return None
    key = job.route_of(task.route)[0]
    info = deps.catalogue.find(key.provider, key.model)
    if info is None:
        return (
            f"max_cost_usd is set and the catalogue has no price for {key.provider}/"
            f"{key.model}, so this call could not be priced"
        )
    amount = worst_case(info, job, task)
    cap = to_nano(job.max_cost_usd)
    granted = await deps.store.reserve_spend(
        job.job_id, task.prompt_id, task.generation, amount, cap, deps.clock.now()
    )
    if granted:
        return None
    return (
        f"the job's max_cost_usd ({job.max_cost_usd:g} USD) was reached: this prompt was not "
        f"sent (its worst case was {to_usd(amount):.6f} USD); raise the cap and rerun it"
    )


async def settle_call(deps: Deps, job: Job, task: PromptTask, result: CallResult) -> None:
    """Release the call's reservation and charge its price from the usage it reported.

    A call that reported no usage and timed out may still have been billed: it is charged
    its whole reservation. Idempotent: a second settle of the same generation does nothing.
    """
    if job.max_cost_usd is None:
        return
    key = job.route_of(task.route)[0]
    info = deps.catalogue.find(key.provider, key.model)
    used = result.input_tokens or result.output_tokens
    if info is None or (not used and result.error_code == TIMEOUT):
        cost = None
    else:
        cost = call_cost(info, result.input_tokens, result.output_tokens)
    await deps.store.settle_spend(job.job_id, task.prompt_id, task.generation, cost)
