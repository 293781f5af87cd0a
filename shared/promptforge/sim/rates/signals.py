"""What each provider's responses tell the client, as the real adapters parse them.

The simulated provider decides with the simulator's own limiter; this module turns
that decision straight into the ``RateSignals`` the provider adapter would have parsed
from the simulator's headers and bodies (``tests/unit/test_ratesim_signals.py`` checks
the two paths agree), without rendering and re-parsing HTTP for every call.
"""

from __future__ import annotations

import enum
import math

from promptforge.providers.base import RateSignals
from promptforge.providers.durations import parse_go_duration
from promptforge.sim.providers.limits import LimitCheck, LimitKind
from promptforge.sim.providers.wire import go_duration


class Style(enum.StrEnum):
    """Which provider's limits and signals a simulated provider copies."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    MISTRAL = "mistral"


def _round_thousand(value: int) -> int:
    return round(value / 1000) * 1000


def _go(seconds: float) -> float | None:
    return parse_go_duration(go_duration(seconds))


def _openai(decision: LimitCheck, limited: bool) -> RateSignals:
    views = decision.views
    req = views.get(LimitKind.REQUESTS)
    tok = views.get(LimitKind.TOKENS)
    retry = None
    daily = False
    if limited:
        retry = _go(decision.retry_after)
        daily = decision.refusal is not None and decision.refusal.kind in (
            LimitKind.REQUESTS_PER_DAY,
        )
    return RateSignals(
        limit_requests=req.limit if req else None,
        remaining_requests=req.remaining if req else None,
        reset_requests=_go(req.reset) if req else None,
        limit_tokens=tok.limit if tok else None,
        remaining_tokens=tok.remaining if tok else None,
        reset_tokens=_go(tok.reset) if tok else None,
        retry_after=retry,
        daily_quota_exhausted=daily,
    )


def _anthropic(decision: LimitCheck, limited: bool) -> RateSignals:
    views = decision.views
    req = views.get(LimitKind.REQUESTS)
    split = [views[k] for k in (LimitKind.INPUT_TOKENS, LimitKind.OUTPUT_TOKENS) if k in views]
    combined = views.get(LimitKind.TOKENS)
    tokens = [v for v in (combined, *split) if v is not None]
    tightest = min(tokens, key=lambda v: v.remaining / v.limit) if tokens else None
    inp = views.get(LimitKind.INPUT_TOKENS)
    out = views.get(LimitKind.OUTPUT_TOKENS)
    return RateSignals(
        limit_requests=req.limit if req else None,
        remaining_requests=req.remaining if req else None,
        limit_tokens=tightest.limit if tightest else None,
        remaining_tokens=_round_thousand(tightest.remaining) if tightest else None,
        limit_input_tokens=inp.limit if inp else None,
        remaining_input_tokens=_round_thousand(inp.remaining) if inp else None,
        limit_output_tokens=out.limit if out else None,
        remaining_output_tokens=_round_thousand(out.remaining) if out else None,
        retry_after=float(max(1, math.ceil(decision.retry_after))) if limited else None,
    )


def _gemini(decision: LimitCheck, limited: bool, quota_details: bool) -> RateSignals:
    if not limited:
        return RateSignals()
    refusal = decision.refusal
    kind = refusal.kind if refusal is not None else LimitKind.REQUESTS
    limit_requests = limit_tokens = None
    if quota_details and refusal is not None:
        if kind in (LimitKind.REQUESTS, LimitKind.ACCELERATION):
            limit_requests = refusal.limit
        elif kind in (LimitKind.TOKENS, LimitKind.INPUT_TOKENS):
            limit_tokens = refusal.limit
    return RateSignals(
        retry_after=float(math.floor(decision.retry_after)),
        limit_requests=limit_requests,
        limit_tokens=limit_tokens,
        daily_quota_exhausted=quota_details and kind is LimitKind.REQUESTS_PER_DAY,
    )


def _mistral(decision: LimitCheck) -> RateSignals:
    views = decision.views
    req = views.get(LimitKind.REQUESTS)
    tok = views.get(LimitKind.TOKENS)
    return RateSignals(
        limit_requests=req.limit if req else None,
        remaining_requests=req.remaining if req else None,
        limit_tokens=tok.limit if tok else None,
        remaining_tokens=tok.remaining if tok else None,
    )


def signals_for(
    style: Style, decision: LimitCheck, *, headers: bool = True, quota_details: bool = True
) -> RateSignals:
    """The signals of a response to ``decision``; ``headers=False`` drops limit headers.

    ``quota_details`` (Gemini) says whether a 429 carries ``QuotaFailure`` (which states
    the limit) besides ``RetryInfo``.
    """
    limited = not decision.admitted
    if style is Style.GEMINI:
        return _gemini(decision, limited, quota_details)
    if style is Style.OPENAI:
        signals = _openai(decision, limited)
    elif style is Style.ANTHROPIC:
        signals = _anthropic(decision, limited)
    else:
        signals = _mistral(decision)
    if headers:
        return signals
    return RateSignals(
        retry_after=signals.retry_after, daily_quota_exhausted=signals.daily_quota_exhausted
    )
