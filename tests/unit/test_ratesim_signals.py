"""The simulation's shortcut agrees with the real path: simulator wire -> provider adapter.

For each provider the simulated limiter decides a call (admitted into a partly spent
budget, and refused); the simulator renders that decision as HTTP headers and body, the
real adapter parses them, and the ``RateSignals`` must equal what ``signals_for``
produces without HTTP.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from promptforge.providers.base import CallOutcome, RateSignals
from promptforge.providers.registry import get_adapter
from promptforge.sim.providers.anthropic import AnthropicWire
from promptforge.sim.providers.config import LimitSpec
from promptforge.sim.providers.gemini import GeminiWire
from promptforge.sim.providers.limits import Cost, LimitCheck, ProviderLimiter
from promptforge.sim.providers.mistral import MistralWire
from promptforge.sim.providers.openai import OpenAIWire
from promptforge.sim.providers.text import Completion
from promptforge.sim.providers.wire import CallContext, ProviderWire, SimRequest
from promptforge.sim.rates.signals import Style, signals_for

_FIELDS = (
    "limit_requests",
    "remaining_requests",
    "limit_tokens",
    "remaining_tokens",
    "limit_input_tokens",
    "remaining_input_tokens",
    "limit_output_tokens",
    "remaining_output_tokens",
    "retry_after",
    "daily_quota_exhausted",
)

_CASES = [
    (Style.OPENAI, OpenAIWire(), LimitSpec(rpm=60, tpm=10_000)),
    (
        Style.ANTHROPIC,
        AnthropicWire(),
        LimitSpec(rpm=60, tpm=90_000, input_tpm=60_000, output_tpm=30_000, burst_seconds=1.0),
    ),
    (Style.GEMINI, GeminiWire(), LimitSpec(rpm=60, tpm=100_000)),
    (Style.MISTRAL, MistralWire(), LimitSpec(rpm=60, tpm=50_000)),
]


def _decisions(wire: ProviderWire, spec: LimitSpec) -> tuple[LimitCheck, LimitCheck, SimRequest]:
    """One admitted call into a budget others have used, then one refused."""
    request = SimRequest("m", "hello there", ("hello there",), 500)
    completion = Completion("hi", 120, False)
    limiter = ProviderLimiter(spec, 0.0)
    cost = wire.cost(request, completion)
    for i in range(spec.rpm // 2):
        limiter.decide(Cost(tokens=137, input_tokens=37, output_tokens=100), 0.01 * i)
    admitted = limiter.decide(cost, 0.5)
    while (refused := limiter.decide(cost, 0.6)).admitted:
        pass
    return admitted, refused, request


def _parsed(
    style: Style, wire: ProviderWire, decision: LimitCheck, request: SimRequest
) -> RateSignals:
    ctx = CallContext("req-1", datetime(2026, 1, 1, tzinfo=UTC))
    completion = Completion("hi", 120, False)
    reply = (
        wire.success(request, completion, decision, ctx)
        if decision.admitted
        else wire.rate_limited(request, completion, decision, ctx)
    )
    headers = {k.lower(): v for k, v in reply.headers.items()}
    result = get_adapter(style.value).parse_response(
        reply.status, headers, json.dumps(reply.body).encode()
    )
    expected = CallOutcome.SUCCESS if decision.admitted else CallOutcome.RATE_LIMITED
    assert result.outcome is expected
    return result.signals


@pytest.mark.parametrize(("style", "wire", "spec"), _CASES, ids=[c[0].value for c in _CASES])
def test_simulated_signals_equal_what_the_adapter_parses(
    style: Style, wire: ProviderWire, spec: LimitSpec
) -> None:
    admitted, refused, request = _decisions(wire, spec)
    for decision in (admitted, refused):
        real = _parsed(style, wire, decision, request)
        fast = signals_for(style, decision)
        assert {f: getattr(fast, f) for f in _FIELDS} == {f: getattr(real, f) for f in _FIELDS}
    # The budgets are really stated (but for Gemini), and really partly spent.
    stated = signals_for(style, admitted)
    if style is not Style.GEMINI:
        assert stated.remaining_requests is not None and stated.limit_requests is not None
        assert stated.remaining_requests < stated.limit_requests


def test_headers_and_quota_details_can_be_withheld() -> None:
    wire, spec = OpenAIWire(), LimitSpec(rpm=60, tpm=10_000)
    admitted, refused, _ = _decisions(wire, spec)
    bare = signals_for(Style.OPENAI, admitted, headers=False)
    assert bare == RateSignals()
    assert signals_for(Style.OPENAI, refused, headers=False).retry_after is not None
    gemini, gspec = GeminiWire(), LimitSpec(rpm=60, tpm=100_000)
    _, refused, _ = _decisions(gemini, gspec)
    assert signals_for(Style.GEMINI, refused).limit_requests == 60
    only_retry = signals_for(Style.GEMINI, refused, quota_details=False)
    assert only_retry.limit_requests is None and only_retry.retry_after is not None
