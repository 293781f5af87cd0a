"""The clients PromptForge is measured against, as people run them today.

``TokenBucketClient`` is the widely copied cookbook parallel processor: it is *told*
the limits (at 100 %, or at the 75 % it advises), keeps one-minute request and token
buckets that start full, estimates a call's tokens once (prompt plus ``max_tokens``,
15 when unset) and never reconciles that with usage, pauses all dispatch 15 s after a
429 and ignores ``retry-after``; it times out at aiohttp's 300 s. Its ``max_attempts``
would drop prompts; here 429s are retried until they succeed so every run finishes
(transient errors still give up after 5 attempts).

``OracleClient`` is no client anyone runs: it reads the provider's own buckets and
sends each call the moment it would be admitted, so no client can finish sooner. Its
makespan is the floor under every other one: T* less the burst the provider banks,
plus the ramp an acceleration limit imposes and the latency of the last calls.

``FixedConcurrencyClient`` is a thread pool: ``concurrency`` workers, each retrying
its prompt with full-jitter exponential backoff (1 s doubling, at most 60 s), no
``retry-after``, the OpenAI SDK's 600 s timeout.
"""

from __future__ import annotations

import math
import random
from collections import deque

from promptforge.providers.base import CallOutcome
from promptforge.sim.rates.engine import EventLoop
from promptforge.sim.rates.provider import Response, SimulatedProvider
from promptforge.sim.rates.recorder import Recorder
from promptforge.sim.rates.workload import Prompt

__all__ = ["FixedConcurrencyClient", "OracleClient", "TokenBucketClient"]

_COOKBOOK_PAUSE = 15.0
_COOKBOOK_ATTEMPTS = 5
_COOKBOOK_DEFAULT_COMPLETION = 15
_POOL_ATTEMPTS = 6
_COOKBOOK_TIMEOUT = 300.0  # aiohttp's default total timeout
_POOL_TIMEOUT = 600.0  # the OpenAI SDK's default
_ORACLE_TIMEOUT = 300.0  # PromptForge's provider timeout: the same tail for both
_ORACLE_SLACK = 1e-6  # wake this much after a bucket refills, past rounding


class TokenBucketClient:
    """The cookbook processor, told ``rpm``/``tpm`` and running at ``fraction`` of them."""

    def __init__(
        self,
        loop: EventLoop,
        provider: SimulatedProvider,
        prompts: list[Prompt],
        recorder: Recorder,
        *,
        rpm: float,
        tpm: float,
        fraction: float,
    ) -> None:
        self.name = f"token bucket {fraction:.0%}"
        self._loop = loop
        self._provider = provider
        self._recorder = recorder
        self._rpm = rpm * fraction
        self._tpm = tpm * fraction
        self._requests = self._rpm
        self._tokens = self._tpm
        self._updated = loop.now
        self._fresh = deque(prompts)
        self._retries: deque[tuple[Prompt, int]] = deque()
        self._last_429 = -math.inf
        self._wake: float | None = None

    def start(self) -> None:
        """Start the dispatch loop."""
        self._pump()

    @staticmethod
    def _estimate(prompt: Prompt) -> int:
        completion = prompt.max_tokens if prompt.max_tokens is not None else 15
        return prompt.input_tokens + completion

    def _refill(self) -> None:
        now = self._loop.now
        elapsed = now - self._updated
        self._requests = min(self._rpm, self._requests + self._rpm * elapsed / 60.0)
        self._tokens = min(self._tpm, self._tokens + self._tpm * elapsed / 60.0)
        self._updated = now

    def _pump(self) -> None:
        self._wake = None
        now = self._loop.now
        while self._retries or self._fresh:
            pause_end = self._last_429 + _COOKBOOK_PAUSE
            if now < pause_end:
                self._sleep(pause_end)
                return
            prompt, attempts = self._retries[0] if self._retries else (self._fresh[0], 0)
            need = min(self._estimate(prompt), self._tpm)
            self._refill()
            if self._requests < 1 or self._tokens < need:
                wait = max(
                    (1 - self._requests) * 60.0 / self._rpm,
                    (need - self._tokens) * 60.0 / self._tpm,
                )
                self._sleep(now + max(wait, 1e-3))
                return
            self._requests -= 1
            self._tokens -= need
            if self._retries:
                self._retries.popleft()
            else:
                self._fresh.popleft()
            self._send(prompt, attempts)

    def _sleep(self, until: float) -> None:
        if self._wake is None or until < self._wake:
            self._wake = until
            self._loop.at(until, self._pump)

    def _send(self, prompt: Prompt, attempts: int) -> None:
        response = self._provider.call(prompt, _COOKBOOK_TIMEOUT)
        self._loop.after(response.latency, lambda: self._settle(prompt, attempts, response))

    def _settle(self, prompt: Prompt, attempts: int, response: Response) -> None:
        outcome = response.outcome
        self._recorder.call(outcome)
        if outcome is CallOutcome.SUCCESS:
            self._recorder.finish()
            return
        if outcome is CallOutcome.RATE_LIMITED:
            self._last_429 = self._loop.now
            self._retries.append((prompt, attempts))
        elif outcome is CallOutcome.TRANSIENT and attempts + 1 < _COOKBOOK_ATTEMPTS:
            self._retries.append((prompt, attempts + 1))
        else:
            self._recorder.finish(failed=True)
            return
        if self._wake is None:
            self._pump()


class FixedConcurrencyClient:
    """``concurrency`` workers with exponential backoff and jitter on every error."""

    def __init__(
        self,
        loop: EventLoop,
        provider: SimulatedProvider,
        prompts: list[Prompt],
        recorder: Recorder,
        *,
        concurrency: int,
        seed: int,
        base: float = 1.0,
        cap: float = 60.0,
    ) -> None:
        self.name = f"{concurrency} workers + backoff"
        self._loop = loop
        self._provider = provider
        self._recorder = recorder
        self._concurrency = concurrency
        self._fresh = deque(prompts)
        self._rng = random.Random(f"pool|{seed}")
        self._base = base
        self._cap = cap

    def start(self) -> None:
        """Start the workers."""
        for _ in range(self._concurrency):
            self._next()

    def _next(self) -> None:
        if self._fresh:
            self._send(self._fresh.popleft(), 0, 0)

    def _send(self, prompt: Prompt, tries: int, errors: int) -> None:
        response = self._provider.call(prompt, _POOL_TIMEOUT)
        self._loop.after(response.latency, lambda: self._settle(prompt, tries, errors, response))

    def _settle(self, prompt: Prompt, tries: int, errors: int, response: Response) -> None:
        outcome = response.outcome
        self._recorder.call(outcome)
        if outcome is CallOutcome.SUCCESS:
            self._recorder.finish()
            self._next()
            return
        transient = outcome is CallOutcome.TRANSIENT
        if outcome is CallOutcome.PERMANENT or (transient and errors + 1 >= _POOL_ATTEMPTS):
            self._recorder.finish(failed=True)
            self._next()
            return
        wait = self._rng.uniform(0.0, min(self._cap, self._base * 2.0**tries))
        self._loop.after(wait, lambda: self._send(prompt, tries + 1, errors + transient))


class OracleClient:
    """Sends each call the moment the provider would admit it: the floor under makespans.

    Retries transient failures at once (never gives up) and has PromptForge's provider
    timeout; a 429 (another client took the room first) sends the call again when
    there is room.
    """

    def __init__(
        self,
        loop: EventLoop,
        provider: SimulatedProvider,
        prompts: list[Prompt],
        recorder: Recorder,
    ) -> None:
        self.name = "oracle"
        self._loop = loop
        self._provider = provider
        self._recorder = recorder
        self._queue = deque(prompts)
        self._wake: float | None = None

    def start(self) -> None:
        """Start the dispatch loop."""
        self._pump()

    def _pump(self) -> None:
        self._wake = None
        while self._queue:
            wait = self._provider.admission_wait(self._queue[0])
            # Larger than a budget (an infinite wait): sent, for the provider to refuse.
            if 0 < wait < math.inf:
                self._wake = self._loop.now + wait + _ORACLE_SLACK
                self._loop.at(self._wake, self._pump)
                return
            self._send(self._queue.popleft())

    def _send(self, prompt: Prompt) -> None:
        response = self._provider.call(prompt, _ORACLE_TIMEOUT)
        self._loop.after(response.latency, lambda: self._settle(prompt, response))

    def _settle(self, prompt: Prompt, response: Response) -> None:
        outcome = response.outcome
        self._recorder.call(outcome)
        if outcome is CallOutcome.SUCCESS:
            self._recorder.finish()
            return
        if outcome is CallOutcome.PERMANENT:
            self._recorder.finish(failed=True)
            return
        self._queue.appendleft(prompt)
        if self._wake is None:
            self._pump()
