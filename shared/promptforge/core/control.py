"""The controller's tick: for each rate key with work, fold new observations into a new rate."""

from __future__ import annotations

import logging
from typing import Any

from promptforge.core.deps import Deps
from promptforge.core.models import JobStatus
from promptforge.core.queues import ceilings_of, prompt_queue_config
from promptforge.ratecontrol.controller import ControllerState, initial_state, step

log = logging.getLogger(__name__)

PAUSED_RATE = 0.001
"""The dispatch rate of a paused key (Cloud Tasks has no rate 0; pausing is done by rate)."""


async def control_tick(deps: Deps, rate_keys: list[str]) -> dict[str, float]:
    """Run one controller step for every key; returns the rate applied per key."""
    applied: dict[str, float] = {}
    for key in rate_keys:
        rate = await control_key(deps, key)
        if rate is not None:
            applied[key] = rate
    return applied


async def control_key(deps: Deps, key: str) -> float | None:
    """One step for one rate key: drain observations, step, save, apply to the queue."""
    saved: dict[str, Any] | None = await deps.store.load_rate_state(key)
    if not saved or "queue" not in saved:
        return None
    jobs = await _active_jobs(deps, saved.get("jobs") or {})
    ceilings = ceilings_of(jobs)
    now = deps.clock.now().timestamp()
    state = (
        ControllerState.from_dict(saved["state"])
        if "state" in saved
        else initial_state(now, ceilings, initial_rate=deps.config.initial_rate)
    )
    observations = await deps.store.drain_observations(key)
    state, decision = step(state, observations, now, ceilings)
    paused = decision.paused_until is not None and decision.paused_until > now
    rate = PAUSED_RATE if paused else decision.rate
    latest = await deps.store.load_rate_state(key) or saved
    latest.update(
        state=state.to_dict(),
        decision={
            "rate": decision.rate,
            "applied_rate": rate,
            "phase": decision.phase,
            "paused_until": decision.paused_until,
            "rpm_estimate": decision.rpm_estimate,
            "tpm_estimate": decision.tpm_estimate,
            "at": now,
        },
        jobs={
            job_id: spec for job_id, spec in (latest.get("jobs") or {}).items() if job_id in jobs
        },
    )
    await deps.store.save_rate_state(key, latest)
    await deps.tasks.update_queue(
        str(saved["queue"]), prompt_queue_config(rate, deps.config.max_concurrent_dispatches)
    )
    if observations:
        log.debug(
            "rate key %s: %d observations → %.2f/s (%s)",
            key,
            len(observations),
            rate,
            decision.phase,
        )
    return rate


async def _active_jobs(deps: Deps, jobs: dict[str, Any]) -> dict[str, Any]:
    active: dict[str, Any] = {}
    for job_id, spec in jobs.items():
        job = await deps.store.get_job(job_id)
        if job is not None and job.status is JobStatus.PROCESSING:
            active[job_id] = spec
    return active
