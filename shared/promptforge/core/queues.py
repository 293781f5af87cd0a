"""Rate-key queues: created on demand, configured from the controller's decisions.

How a decided rate reaches the dispatcher (pure helpers, shared by the runtime and the
rate-control simulation in ``promptforge.sim.rates``):

- a paused key gets ``PAUSED_RATE`` (Cloud Tasks has no rate 0);
- the burst is about one second of the rate (Cloud Tasks picks it from the rate);
- Cloud Tasks caps a queue at 500 dispatches/s, so a key whose rate may go above
  ``SHARD_RATE`` spreads its prompts over several queues by a hash of the prompt and
  gives each queue an equal share of the rate (``shard_count``, ``shard_of``,
  ``shard_rates``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass

from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.models import Job, RateKey
from promptforge.core.ratestate import RateKeyState, update_rate_state
from promptforge.core.tasknames import queue_for
from promptforge.ratecontrol.controller import Ceilings, ControllerState, Decision, initial_state
from promptforge.ratecontrol.headroom import queue_history
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


PAUSED_RATE = 0.001
"""The dispatch rate of a paused key (Cloud Tasks has no rate 0; pausing is done by rate)."""

MAX_QUEUE_RATE = 500.0
"""Cloud Tasks' cap on one queue's ``max_dispatches_per_second``."""

SHARD_RATE = 450.0
"""The most a shard is asked to dispatch: headroom under the cap."""


def applied_rate(decision: Decision, now: float) -> float:
    """The dispatch rate to configure for ``decision``: its queue rate, or ``PAUSED_RATE``.

    The queue rate is the decided rate, or above it while the rate may still rise and
    workers gate dispatches down to the decided one (``ratecontrol.headroom``).
    """
    if decision.paused_until is not None and decision.paused_until > now:
        return PAUSED_RATE
    return decision.queue_rate


def rate_moved(sent: float | None, rate: float, step: float) -> bool:
    """Whether a queue last configured at ``sent`` must be updated to ``rate``.

    Only when it moved by at least ``step`` of the rate it has (0: on every change).
    Cloud Tasks rate-limits admin calls and applies a new rate seconds late, so small
    moves, such as congestion avoidance's additive steps, wait until they add up.
    """
    if sent is None or sent <= 0:
        return True
    return abs(rate - sent) >= step * sent and rate != sent


def queue_cap(shards: int) -> float:
    """The most a key spread over ``shards`` queues can dispatch per second."""
    return max(1, shards) * MAX_QUEUE_RATE


def shard_count(peak_rate: float, per_queue: float = SHARD_RATE) -> int:
    """How many queues a key needs to dispatch ``peak_rate`` per second."""
    if not (math.isfinite(peak_rate) and peak_rate > 0):
        return 1
    return max(1, math.ceil(peak_rate / per_queue))


def key_shards(ceilings: Ceilings, peak_rate: float, max_rate: float) -> int:
    """How many queues a rate key gets: enough for the most it may be asked to dispatch.

    That is the user's ``rpm`` ceiling when a job gives one (up to the controller's
    ``max_rate``), else the operator's ``peak_rate`` for a key whose limit is unknown
    (``PROMPTFORGE_KEY_PEAK_RATE``; one queue's worth by default). Fixed while the key
    has jobs: a task stays in the queue it was created in.
    """
    peak = peak_rate if ceilings.rpm is None else ceilings.rpm / 60.0
    return shard_count(min(peak, max_rate))


def shard_rates(rate: float, shards: int) -> list[float]:
    """Each shard's rate: an equal share of ``rate`` (prompts are spread evenly by hash)."""
    count = max(1, shards)
    return [min(rate / count, MAX_QUEUE_RATE)] * count


def shard_of(prompt_id: str, generation: int, shards: int) -> int:
    """The shard a prompt's task goes to: a hash, so shards fill evenly."""
    if shards <= 1:
        return 0
    digest = hashlib.blake2b(f"{prompt_id}\x00{generation}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def shard_queue(base: str, shard: int) -> str:
    """The queue id of shard ``shard`` of a key whose first queue is ``base``."""
    return base if shard == 0 else f"{base}-s{shard}"


def prompt_queue_config(rate: float, max_concurrent: int) -> QueueConfig:
    """The queue settings for a dispatch rate (burst: about one second's worth)."""
    return QueueConfig(
        max_dispatches_per_second=rate,
        max_burst_size=max(1, round(rate)),
        max_concurrent_dispatches=max_concurrent,
        retry=PROMPT_RETRY,
    )


def dispatch_config(deps: Deps, shard_rate: float, shards: int) -> QueueConfig:
    """A rate-key queue's settings for ``shard_rate`` prompts/s: it dispatches tasks of
    ``chunk_prompts`` prompts each (``core.chunks``), so ``shard_rate / chunk_prompts``
    tasks/s."""
    tasks_rate = shard_rate / max(1, deps.config.chunk_prompts)
    return prompt_queue_config(tasks_rate, shard_concurrency(deps, shards))


async def ensure_control_queue(deps: Deps) -> None:
    """Create the control queue if it does not exist."""
    await deps.tasks.ensure_queue(CONTROL_QUEUE, CONTROL_QUEUE_CONFIG)


@dataclass(frozen=True)
class KeyQueues:
    """The queues of one rate key: ``base`` and its shards ``base-s1`` … (``shards`` in all)."""

    base: str
    shards: int = 1

    @property
    def names(self) -> list[str]:
        """Every queue of the key, shard 0 first."""
        return [shard_queue(self.base, shard) for shard in range(self.shards)]

    def for_prompt(self, prompt_id: str, generation: int = 0) -> str:
        """The queue a prompt's task goes to (by hash: shards fill evenly)."""
        return shard_queue(self.base, shard_of(prompt_id, generation, self.shards))


def shard_concurrency(deps: Deps, shards: int) -> int:
    """Each shard's share of the key's ``max_concurrent_dispatches``."""
    return max(1, math.ceil(deps.config.max_concurrent_dispatches / max(1, shards)))


async def key_queues(deps: Deps, key: RateKey) -> KeyQueues:
    """The queues ``ensure_rate_queue`` set up for ``key`` (one, if it never ran)."""
    saved = await deps.store.load_rate_state(key.id) or RateKeyState()
    return KeyQueues(_base(key, saved), saved.queue_count)


def _base(key: RateKey, saved: RateKeyState) -> str:
    """The key's first queue: the one stored, else the name of its current epoch."""
    return saved.queue or queue_for(key, saved.epoch)


async def ensure_rate_queue(deps: Deps, job: Job, rate_key: RateKey | None = None) -> KeyQueues:
    """Register the job's ceilings with its rate key (or ``rate_key``, a line's own: see
    ``Job.route_of``) and make sure the key's queues exist.

    The number of queues (``key_shards``) is chosen when the key has no other job
    registered and kept while it has: tasks already queued stay in their shard. A key
    whose queues were retired gets queues of its next epoch (names are never reused).
    """
    own_key = rate_key or job.rate_key
    now = deps.clock.now().timestamp()
    config = deps.config.rate_control

    def controller_state(saved: RateKeyState, ceilings: Ceilings) -> ControllerState:
        return saved.state or initial_state(
            now, ceilings, initial_rate=deps.config.initial_rate, config=config
        )

    def register(saved: RateKeyState) -> RateKeyState:
        jobs = dict(saved.jobs)
        fresh = not (set(jobs) - {job.job_id}) or saved.shards is None
        jobs[job.job_id] = Ceilings(rpm=job.rpm or None, tpm=job.tpm or None)
        ceilings = ceilings_of(jobs)
        state = controller_state(saved, ceilings)
        shards = (
            key_shards(ceilings, deps.config.key_peak_rate, config.max_rate)
            if fresh or saved.shards is None
            else saved.shards
        )
        return dataclasses.replace(
            saved,
            jobs=jobs,
            state=state,
            shards=shards,
            queue=_base(own_key, saved),
            idle_since=None,  # work again: the key's queues stay (core.control_chain)
        )

    # A compare-and-set: a tick retiring the key's queues meanwhile makes this read again
    # and register with the queues of the next epoch.
    saved, _ = await update_rate_state(deps.store, own_key.id, register)
    queues = KeyQueues(_base(own_key, saved), saved.queue_count)
    decided = saved.decision
    ceilings = ceilings_of(saved.jobs)
    rate = (
        decided.applied_rate
        if decided is not None and decided.applied_rate
        else _start_rate(controller_state(saved, ceilings), ceilings)
    )
    for name, shard_rate in zip(queues.names, shard_rates(rate, queues.shards), strict=True):
        await deps.tasks.ensure_queue(name, dispatch_config(deps, shard_rate, queues.shards))
    return queues


def ceilings_of(jobs: dict[str, Ceilings]) -> Ceilings:
    """The tightest user-given rpm/tpm among a key's active jobs."""
    rpms = [j.rpm for j in jobs.values() if j.rpm]
    tpms = [j.tpm for j in jobs.values() if j.tpm]
    return Ceilings(rpm=min(rpms) if rpms else None, tpm=min(tpms) if tpms else None)


def _start_rate(state: ControllerState, ceilings: Ceilings) -> float:
    """What a key no step has decided for yet is configured at: its initial state's queue
    rate (the initial rate or the user's ceiling, with headroom until a call answers),
    never above the ceiling of a job registered since."""
    rate = queue_history(state)[-1][1]
    return rate if ceilings.rpm is None else min(rate, ceilings.rpm / 60.0)
