"""PromptForge in the simulation: the real controller, the worker's retry policy, the queue side.

Every ``control_period`` the controller folds the observations reported since the
last step into a new decision (``ratecontrol.controller.step``, the function the
runtime's ``control_key`` calls); the decision reaches the queues through the same
helpers the runtime uses (``core.queues.applied_rate``, ``shard_rates``) and the
simulated Cloud Tasks applies it ``apply_delay`` later. The worker answers the queue
200 for every prompt it settles: a rate-limited prompt is re-enqueued as the next
generation after ``retry_delay`` (never a queue retry, never counted against
``max_retries``); a transient failure is re-enqueued with backoff until ``max_retries``.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from promptforge.core.queues import (
    SHARD_RATE,
    applied_rate,
    key_shards,
    queue_cap,
    shard_of,
    shard_rates,
)
from promptforge.providers.base import CallOutcome
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.brake import brake
from promptforge.ratecontrol.controller import (
    DEFAULT_CONFIG,
    Ceilings,
    ControllerConfig,
    ControllerState,
    initial_state,
    retry_delay,
    step,
)
from promptforge.ratecontrol.gate import admission
from promptforge.ratecontrol.headroom import queue_history
from promptforge.ratecontrol.state import NO_CEILINGS
from promptforge.sim.rates.cloudtasks import CloudTasksSpec, Done, QueueGroup, SimTask
from promptforge.sim.rates.engine import EventLoop
from promptforge.sim.rates.provider import Response, SimulatedProvider
from promptforge.sim.rates.recorder import Recorder
from promptforge.sim.rates.workload import Prompt

__all__ = ["ForgeClient", "ForgeOptions"]

# The worker's backoff for transient errors (``core.worker``): 2 s doubling, at most 120 s.
_TRANSIENT_BASE = 2.0
_TRANSIENT_MAX = 120.0


@dataclass(frozen=True)
class ForgeOptions:
    """How PromptForge runs: controller tunables, the queue, the job's settings."""

    config: ControllerConfig = DEFAULT_CONFIG
    queue: CloudTasksSpec = field(default_factory=CloudTasksSpec)
    peak_rate: float = SHARD_RATE  # the operator's PROMPTFORGE_KEY_PEAK_RATE (default: one queue)
    gate: bool = True  # workers thin out dispatches the controller no longer wants
    max_concurrent: int = 1000
    initial_rate: float = 1.0
    ceilings: Ceilings = NO_CEILINGS
    max_retries: int = 3
    timeout: float = 300.0  # the worker's provider timeout (settings.provider_timeout)
    # When the first controller step comes, in periods after the first dispatch: a
    # runtime's controller ticks on its own clock (the embedded loop since the server
    # started, Google's chain at multiples of the period), not from the job's first call.
    tick_phase: float = 1.0


@dataclass(slots=True)
class _Attempt:
    prompt: Prompt
    generation: int = 0
    attempt: int = 0


class ForgeClient:
    """One job of ``prompts`` on one rate key, run by PromptForge's controller."""

    name = "promptforge"

    def __init__(
        self,
        loop: EventLoop,
        provider: SimulatedProvider,
        prompts: list[Prompt],
        recorder: Recorder,
        *,
        options: ForgeOptions,
        seed: int,
    ) -> None:
        self._loop = loop
        self._provider = provider
        self._prompts = prompts
        self._recorder = recorder
        self._options = options
        self._rng = random.Random(f"forge|{seed}")
        self._observations: list[Observation] = []
        # The controller knows how long the queue takes to apply a rate.
        self._config = dataclasses.replace(
            options.config, apply_delay=options.queue.apply_delay, gated=options.gate
        )
        self.deferred = 0
        self.state: ControllerState = initial_state(
            loop.now, options.ceilings, initial_rate=options.initial_rate, config=self._config
        )
        # The runtime's rule (``core.queues.key_shards``): queues for the key's peak rate.
        self._shards = key_shards(options.ceilings, options.peak_rate, self._config.max_rate)
        self.queues = QueueGroup(
            loop,
            self._handle,
            shards=self._shards,
            rate=queue_history(self.state)[-1][1],
            concurrency=options.max_concurrent,
            spec=options.queue,
        )

    def start(self) -> None:
        """Enqueue every prompt (ingest) and start the controller's ticks."""
        for prompt in self._prompts:
            self._enqueue(_Attempt(prompt), 0.0)
        self._recorder.rate(self.state.rate)
        self._loop.after(self._config.control_period * self._options.tick_phase, self._tick)

    def _enqueue(self, item: _Attempt, delay: float) -> None:
        key = shard_of(str(item.prompt.index), item.generation, self._shards)
        self.queues.enqueue(item, key, delay)

    def _tick(self) -> None:
        now = self._loop.now
        observations, self._observations = self._observations, []
        options = self._options
        self.state, decision = step(
            self.state,
            observations,
            now,
            options.ceilings,
            config=self._config,
            queue_cap=queue_cap(self._shards),
        )
        rate = applied_rate(decision, now)
        self.queues.update(shard_rates(rate, self._shards), options.max_concurrent)
        self._recorder.rate(rate)
        self._loop.after(self._config.control_period, self._tick)

    def _brake(self, observation: Observation, now: float) -> None:
        """A worker's refusal at slow start's cliff brakes the key at once (``core.brake``)."""
        braked = brake(self.state, observation, now, self._config)
        if braked is None:
            return
        self.state = braked
        rates = shard_rates(queue_history(braked)[-1][1], self._shards)
        self.queues.update(rates, self._options.max_concurrent)
        self._recorder.rate(braked.rate)

    def _handle(self, task: SimTask, done: Done) -> None:
        item: _Attempt = task.payload
        if self._options.gate:
            salt = f"{item.prompt.index}|{item.generation}|{task.attempt}"
            deferred = admission(self.state, self._loop.now, salt=salt, config=self._config)
            if deferred is not None:
                self.deferred += 1
                self._enqueue(_Attempt(item.prompt, item.generation + 1, item.attempt), deferred)
                done(200, None)
                return
        response = self._provider.call(item.prompt, self._options.timeout)
        self._loop.after(response.latency, lambda: self._settle(item, response, done))

    def _settle(self, item: _Attempt, response: Response, done: Done) -> None:
        now = self._loop.now
        outcome = response.outcome
        self._observations.append(
            Observation(
                at=now,
                outcome=outcome,
                input_tokens=response.input_tokens,
                output_tokens=response.output_tokens,
                latency=response.latency,
                signals=response.signals,
            )
        )
        self._recorder.call(outcome)
        self._brake(self._observations[-1], now)
        if outcome is CallOutcome.SUCCESS:
            self._recorder.finish()
        elif outcome is CallOutcome.RATE_LIMITED:
            salt = f"{item.prompt.index}|{item.generation}"
            delay = retry_delay(
                self.state,
                now,
                response.signals.retry_after,
                salt=salt,
                config=self._options.config,
            )
            self._enqueue(_Attempt(item.prompt, item.generation + 1, item.attempt), delay)
        elif outcome is CallOutcome.TRANSIENT and item.attempt < self._options.max_retries:
            backoff = min(_TRANSIENT_MAX, _TRANSIENT_BASE * 2.0**item.attempt)
            delay = max(backoff * (0.5 + self._rng.random() / 2), response.signals.retry_after or 0)
            self._enqueue(_Attempt(item.prompt, item.generation + 1, item.attempt + 1), delay)
        else:
            self._recorder.finish(failed=True)
        done(200, None)
