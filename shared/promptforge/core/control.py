"""The controller's tick: for each rate key with work, fold new observations into a new rate.

One step per key and period: drain the observations workers reported, run the pure
controller (``ratecontrol.controller.step``), save its state and decision, and apply
the decision's queue rate to the key's queue(s) through ``core.queues`` (a paused key
gets ``PAUSED_RATE``; a key spread over several queues gives each an equal share).
Where workers gate dispatches, the queue rate runs ahead of the decided rate while it
ramps (``ratecontrol.headroom``); the state remembers both. The queues are updated only
when the rate moved by the runtime's ``queue_rate_step`` from the rate they were last
sent (``sent_rate``, stored with the decision, so any controller instance knows it), and
before the decision is saved: a failed update is sent again by the next step.

The save is a compare-and-set on the state the step read (``ratestate.update_rate_state``):
a job registered meanwhile is merged in and the save tried again; another step saved
meanwhile (a tick delivered twice, at once) means this one lost: it saves nothing and
puts back the observations it drained, for the next step.
"""

from __future__ import annotations

import dataclasses
import logging

from promptforge.core.deps import Deps
from promptforge.core.finalize import finalize_if_ready
from promptforge.core.models import JobStatus
from promptforge.core.queues import (
    PAUSED_RATE,
    applied_rate,
    ceilings_of,
    dispatch_config,
    queue_cap,
    rate_moved,
    shard_queue,
    shard_rates,
)
from promptforge.core.ratestate import AppliedDecision, RateKeyState, update_rate_state
from promptforge.ratecontrol.controller import (
    Ceilings,
    ControllerConfig,
    initial_state,
    step,
)

__all__ = ["PAUSED_RATE", "configure_queues", "control_key"]

log = logging.getLogger(__name__)


async def control_key(
    deps: Deps,
    key: str,
    *,
    config: ControllerConfig | None = None,
    saved: RateKeyState | None = None,
) -> float | None:
    """One step for one rate key: drain observations, step, save, apply to the queue(s).

    ``config`` (default: ``deps.config.rate_control``) must say how the runtime's queues
    apply a rate (``apply_delay``, and ``gated`` when workers check
    ``ratecontrol.gate.admission``) and how often this runs (``control_period``).
    ``saved``: the key's state, if the caller has just read it. Returns the rate applied;
    None if the key has no queue, or another step of the key saved first.
    """
    config = config or deps.config.rate_control
    saved = saved or await deps.store.load_rate_state(key)
    if saved is None or saved.queue is None:
        return None
    known = saved.jobs
    jobs = await _active_jobs(deps, known)
    ceilings = ceilings_of(jobs)
    now = deps.clock.now().timestamp()
    state = saved.state or initial_state(
        now, ceilings, initial_rate=deps.config.initial_rate, config=config
    )
    observations = await deps.store.drain_observations(key)
    shards = saved.queue_count
    state, decision = step(
        state, observations, now, ceilings, config=config, queue_cap=queue_cap(shards)
    )
    rate = applied_rate(decision, now)
    sent = await configure_queues(deps, saved, rate)
    applied = AppliedDecision(
        rate=decision.rate,
        queue_rate=decision.queue_rate,
        applied_rate=rate,
        sent_rate=sent,  # what the queue(s) were last configured at
        phase=decision.phase,
        paused_until=decision.paused_until,
        rpm_estimate=decision.rpm_estimate,
        tpm_estimate=decision.tpm_estimate,
        at=now,
    )

    steps = saved.steps

    def fold(latest: RateKeyState) -> RateKeyState | None:
        if latest.steps != steps:
            return None  # another step saved since ``saved`` was read: it won
        return dataclasses.replace(
            latest,
            state=state,
            decision=applied,
            steps=steps + 1,
            jobs={
                # Keep the active jobs, and any job registered since ``saved`` was read.
                job_id: spec
                for job_id, spec in latest.jobs.items()
                if job_id in jobs or job_id not in known
            },
        )

    _, written = await update_rate_state(deps.store, key, fold, read=saved)
    if not written:
        if observations:
            await deps.store.append_observations(key, observations)
        log.info("rate key %s: another step saved first; its observations wait for the next", key)
        return None
    if observations:
        log.debug(
            "rate key %s: %d observations → %.2f/s (%s)",
            key,
            len(observations),
            rate,
            decision.phase,
        )
    return rate


async def configure_queues(deps: Deps, saved: RateKeyState, rate: float) -> float | None:
    """Configure the key's queue(s) at ``rate`` if it moved the runtime's ``queue_rate_step``
    from the rate they were last sent; the rate they are configured at now."""
    sent = saved.decision.sent_rate if saved.decision else None
    if saved.queue is None or not rate_moved(sent, rate, deps.config.queue_rate_step):
        return sent
    shards = saved.queue_count
    for shard, shard_rate in enumerate(shard_rates(rate, shards)):
        await deps.tasks.update_queue(
            shard_queue(saved.queue, shard), dispatch_config(deps, shard_rate, shards)
        )
    return rate


async def _active_jobs(deps: Deps, jobs: dict[str, Ceilings]) -> dict[str, Ceilings]:
    active: dict[str, Ceilings] = {}
    for job_id, spec in jobs.items():
        job = await deps.store.get_job(job_id)
        if job is not None and job.status is JobStatus.PROCESSING:
            active[job_id] = spec
            await finalize_if_ready(deps, job)  # once a period, not once per outcome
    return active
