"""Rate-key queues: created on demand, configured from the controller's state."""

from __future__ import annotations

from typing import Any

from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.models import Job
from promptforge.core.tasknames import queue_for
from promptforge.ratecontrol.controller import Ceilings, initial_state
from promptforge.tasks.base import QueueConfig, RetryConfig

CONTROL_QUEUE_CONFIG = QueueConfig(
    max_dispatches_per_second=500.0,
    max_burst_size=100,
    max_concurrent_dispatches=50,
    retry=RetryConfig(min_backoff=1.0, max_backoff=60.0, max_doublings=5),
)
"""Ingest, finalize and expiry tasks: fast, few, retried for as long as it takes."""

PROMPT_RETRY = RetryConfig(min_backoff=1.0, max_backoff=300.0, max_doublings=8)
"""Queue-level retries only happen for crashes and busy leases: workers re-enqueue on purpose."""


def prompt_queue_config(rate: float, max_concurrent: int) -> QueueConfig:
    """The queue settings for a dispatch rate (burst: about one second's worth)."""
    return QueueConfig(
        max_dispatches_per_second=rate,
        max_burst_size=max(1, round(rate)),
        max_concurrent_dispatches=max_concurrent,
        retry=PROMPT_RETRY,
    )


async def ensure_control_queue(deps: Deps) -> None:
    """Create the control queue if it does not exist."""
    await deps.tasks.ensure_queue(CONTROL_QUEUE, CONTROL_QUEUE_CONFIG)


async def ensure_rate_queue(deps: Deps, job: Job) -> str:
    """Register the job's ceilings with its rate key and make sure the key's queue exists."""
    key = job.rate_key.id
    saved: dict[str, Any] = await deps.store.load_rate_state(key) or {}
    jobs: dict[str, Any] = dict(saved.get("jobs") or {})
    jobs[job.job_id] = {"rpm": job.rpm, "tpm": job.tpm}
    ceilings = ceilings_of(jobs)
    if "state" not in saved:
        now = deps.clock.now().timestamp()
        state = initial_state(now, ceilings, initial_rate=deps.config.initial_rate)
        saved["state"] = state.to_dict()
    saved["jobs"] = jobs
    saved["queue"] = queue_for(job.rate_key)
    await deps.store.save_rate_state(key, saved)
    rate = float((saved.get("decision") or {}).get("rate") or _start_rate(deps, ceilings))
    queue = queue_for(job.rate_key)
    await deps.tasks.ensure_queue(
        queue, prompt_queue_config(rate, deps.config.max_concurrent_dispatches)
    )
    return queue


def ceilings_of(jobs: dict[str, Any]) -> Ceilings:
    """The tightest user-given rpm/tpm among a key's active jobs."""
    rpms = [float(j["rpm"]) for j in jobs.values() if j.get("rpm")]
    tpms = [float(j["tpm"]) for j in jobs.values() if j.get("tpm")]
    return Ceilings(rpm=min(rpms) if rpms else None, tpm=min(tpms) if tpms else None)


def _start_rate(deps: Deps, ceilings: Ceilings) -> float:
    if ceilings.rpm is not None:
        return ceilings.rpm / 60.0
    return deps.config.initial_rate
