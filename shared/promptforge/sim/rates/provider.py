"""A simulated provider in virtual time: the simulator's limiter, latency, faults, neighbours.

``SimulatedProvider`` admits or refuses each call with the provider simulator's own
``ProviderLimiter`` (the same token buckets, acceleration limit and daily window that
``promptforge simulate`` enforces over HTTP), charges it the way the copied provider
does, draws a lognormal latency and injected faults from a seeded RNG, and answers
with the ``RateSignals`` the real adapter would have parsed. Limit changes and other
clients on the same key (``Background``) make the limit move during a run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.sim.providers.config import LimitSpec
from promptforge.sim.providers.limits import Cost, LimitKind, ProviderLimiter
from promptforge.sim.rates.engine import EventLoop
from promptforge.sim.rates.signals import Style, signals_for
from promptforge.sim.rates.workload import Prompt

__all__ = ["Background", "ProviderModel", "Response", "SimulatedProvider", "charges"]


@dataclass(frozen=True)
class Background:
    """Another client on the same key: ``rpm`` calls of ``tokens`` from ``start`` to ``end``."""

    start: float
    rpm: float
    end: float = math.inf
    input_tokens: int = 60
    output_tokens: int = 120


@dataclass(frozen=True)
class ProviderModel:
    """What a simulated provider enforces and how it behaves.

    ``changes`` switch the limits at given times (a tier upgrade); ``background``
    clients share the limits (a second client on the same key). Latency is lognormal
    (``latency_median`` seconds, ``latency_sigma`` spread); a refused call is answered
    after ``reject_latency``. ``error_rate`` answers 5xx and ``overloaded_rate`` 529,
    after the full latency. ``headers=False`` drops the limit headers; for Gemini,
    ``quota_details=False`` leaves only ``RetryInfo`` in a 429.
    """

    style: Style
    limits: LimitSpec
    changes: tuple[tuple[float, LimitSpec], ...] = ()
    background: tuple[Background, ...] = ()
    latency_median: float = 1.0
    latency_sigma: float = 0.3
    reject_latency: float = 0.05
    error_rate: float = 0.0
    overloaded_rate: float = 0.0
    headers: bool = True
    quota_details: bool = True

    @property
    def has_headers(self) -> bool:
        """Whether successful responses state the limits."""
        return self.headers and self.style is not Style.GEMINI


@dataclass(frozen=True, slots=True)
class Response:
    """One simulated call: classified outcome, time to answer, signals, usage."""

    outcome: CallOutcome
    latency: float
    signals: RateSignals
    input_tokens: int = 0
    output_tokens: int = 0


def _cost(style: Style, prompt: Prompt, split: bool) -> Cost:
    """What the copied provider charges when the call starts."""
    tokens_in, tokens_out = prompt.input_tokens, prompt.output_tokens
    if style is Style.OPENAI:
        return Cost(tokens=max(prompt.max_tokens or 0, tokens_in))
    if style is Style.ANTHROPIC:
        reserved = prompt.max_tokens or tokens_out
        return Cost(
            tokens=0 if split else tokens_in + reserved,
            input_tokens=tokens_in,
            output_tokens=reserved,
        )
    if style is Style.GEMINI:
        return Cost(tokens=tokens_in, input_tokens=tokens_in)
    return Cost(tokens=tokens_in + tokens_out)


def charges(style: Style, prompt: Prompt, limits: LimitSpec) -> dict[LimitKind, float]:
    """What one successful call finally costs against each limit (after refunds)."""
    cost = _cost(style, prompt, limits.split_tokens)
    out: dict[LimitKind, float] = {LimitKind.REQUESTS: 1.0}
    refund = 0
    if style is Style.ANTHROPIC:
        refund = max(0, cost.output_tokens - prompt.output_tokens)
    if not limits.split_tokens:
        out[LimitKind.TOKENS] = float(cost.tokens - refund)
    if limits.input_tpm is not None:
        out[LimitKind.INPUT_TOKENS] = float(cost.input_tokens)
    if limits.output_tpm is not None:
        out[LimitKind.OUTPUT_TOKENS] = float(cost.output_tokens - refund)
    return out


class SimulatedProvider:
    """One rate key's provider in virtual time."""

    def __init__(self, model: ProviderModel, loop: EventLoop, seed: int) -> None:
        self.model = model
        self._loop = loop
        self._rng = random.Random(f"provider|{seed}")
        self.limiter = ProviderLimiter(model.limits, loop.now)
        self.spec = model.limits
        for moment, spec in model.changes:
            loop.at(moment, self._change(spec))
        for neighbour in model.background:
            loop.at(neighbour.start, self._neighbour(neighbour))

    def _change(self, spec: LimitSpec) -> Callable[[], None]:
        def apply() -> None:
            self.spec = spec
            self.limiter.apply(spec, self._loop.now)

        return apply

    def _neighbour(self, neighbour: Background) -> Callable[[], None]:
        prompt = Prompt(-1, neighbour.input_tokens, neighbour.output_tokens, None)
        cost = _cost(self.model.style, prompt, self.spec.split_tokens)
        gap = 60.0 / neighbour.rpm

        def call() -> None:
            now = self._loop.now
            if now >= neighbour.end:
                return
            self.limiter.decide(cost, now)
            self._loop.at(now + gap, call)

        return call

    def _draws(self) -> tuple[float, float, float]:
        """An admitted call's random draws: the 5xx fault, the 529 fault, the latency's
        standard normal."""
        rng = self._rng
        return rng.random(), rng.random(), rng.gauss()

    def admission_wait(self, prompt: Prompt) -> float:
        """Seconds until ``prompt`` would be admitted now (the oracle's knowledge)."""
        cost = _cost(self.model.style, prompt, self.spec.split_tokens)
        return self.limiter.wait(cost, self._loop.now)

    def call(self, prompt: Prompt, timeout: float = math.inf) -> Response:
        """Admit or refuse ``prompt`` now; the caller learns the answer ``latency`` later.

        A call still running after the client's ``timeout`` fails then as transient
        (the provider has charged it all the same).
        """
        model = self.model
        now = self._loop.now
        cost = _cost(model.style, prompt, self.spec.split_tokens)
        decision = self.limiter.decide(cost, now)
        signals = signals_for(
            model.style, decision, headers=model.headers, quota_details=model.quota_details
        )
        if not decision.admitted:
            too_large = decision.refusal is not None and decision.refusal.too_large
            outcome = CallOutcome.PERMANENT if too_large else CallOutcome.RATE_LIMITED
            return Response(outcome, model.reject_latency, signals)
        fault, overload, draw = self._draws()
        latency = model.latency_median * math.exp(model.latency_sigma * draw)
        if model.style is Style.ANTHROPIC:
            spare = max(0, cost.output_tokens - prompt.output_tokens)
            if spare:
                refund = Cost(tokens=0 if self.spec.split_tokens else spare, output_tokens=spare)
                self._loop.after(latency, lambda: self.limiter.refund(refund, self._loop.now))
        if latency > timeout:
            return Response(CallOutcome.TRANSIENT, timeout, RateSignals())
        if fault < model.error_rate or overload < model.overloaded_rate:
            return Response(CallOutcome.TRANSIENT, latency, RateSignals())
        return Response(
            CallOutcome.SUCCESS, latency, signals, prompt.input_tokens, prompt.output_tokens
        )

    def request_limit(self, tokens_per_request: dict[LimitKind, float]) -> float:
        """The request rate (per minute) the limits in force allow, for average charges."""
        spec = self.spec
        per_minute = {
            LimitKind.REQUESTS: float(spec.rpm),
            LimitKind.TOKENS: float(spec.tpm),
            LimitKind.INPUT_TOKENS: float(spec.input_tpm or math.inf),
            LimitKind.OUTPUT_TOKENS: float(spec.output_tpm or math.inf),
        }
        return min(per_minute[kind] / per for kind, per in tokens_per_request.items() if per > 0)
