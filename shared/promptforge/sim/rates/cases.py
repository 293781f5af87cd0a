"""The wall-clock cases: a provider style, its hidden limits, latency and a prompt count.

``openai`` and ``gemini`` are scenarios 1 and 2 for a few minutes. The short cases of
issue 21 (a minute or two each, 0.5 s latency) put every style behind one limiter the
controller is not told about: a bucket of five seconds of the limit (100 calls at 1,200
RPM, as the stand-in's "100 calls per 5 s"), refilled continuously; Gemini's 429s carry
``RetryInfo`` only. ``gemini-window`` counts the same 100 calls in fixed five-second
windows instead, its ``RetryInfo`` the time until the next one ("this window is spent").
``case_scenario`` turns a case into a bench scenario (for its plot).
"""

from __future__ import annotations

from dataclasses import dataclass

from promptforge.sim.providers.config import LimitSpec
from promptforge.sim.rates.provider import ProviderModel
from promptforge.sim.rates.scenarios import Scenario
from promptforge.sim.rates.signals import Style
from promptforge.sim.rates.workload import WorkloadSpec

__all__ = [
    "CASES",
    "LATENCY_SIGMA",
    "SHORT_CASES",
    "STAND_IN_REFUSAL_LATENCY",
    "Case",
    "case_model",
    "case_scenario",
]

LATENCY_SIGMA = 0.5
_BIG_TPM = 100_000_000  # the short cases are bound by requests only
_SHORT_LATENCY = 0.5
# The stand-in (``promptforge simulate``) answers a 429 as soon as its limiter refuses the
# call, without the latency it sleeps for an answer: what remains is HTTP on 127.0.0.1,
# 2 ms (median; 6 ms at most under a load of 4) from the worker's send to its answer in
# issue 21's round 9 traces. It decides whether the last refusals of a spent window reach
# the controller before its step or after it (``ProviderModel.reject_latency``'s default,
# 50 ms, put the last 50 ms of refusals after it).
STAND_IN_REFUSAL_LATENCY = 0.002


@dataclass(frozen=True)
class Case:
    """One wall-clock comparison: a provider, its limits, latency and the prompt count."""

    name: str
    style: Style
    model: str
    limits: LimitSpec
    latency_median: float
    prompts: int
    title: str
    changes: tuple[tuple[float, LimitSpec], ...] = ()  # (at, limits): a tier upgrade
    quota_failure: bool = True  # Gemini 429s name the limit (False: RetryInfo only)


def _five_seconds(rpm: int) -> LimitSpec:
    """``rpm`` enforced as a bucket of five seconds of it (the stand-in's window)."""
    return LimitSpec(rpm=rpm, tpm=_BIG_TPM, burst_seconds=5.0)


def _short(style: Style, model: str, rpm: int, prompts: int, title: str) -> Case:
    """A short case: ``rpm`` in five-second buckets; Gemini's 429s with RetryInfo only."""
    limits = _five_seconds(rpm)
    headerless = style is Style.GEMINI
    return Case(
        f"{style.value}-{rpm}",
        style,
        model,
        limits,
        _SHORT_LATENCY,
        prompts,
        title,
        (),
        not headerless,
    )


_GEMINI = "gemini-2.5-flash"
_DOUBLING = Case(
    "gemini-doubling",
    Style.GEMINI,
    _GEMINI,
    _five_seconds(600),
    _SHORT_LATENCY,
    1_200,
    "Gemini, 600 RPM doubling to 1,200 at 60 s",
    changes=((60.0, _five_seconds(1_200)),),
    quota_failure=False,
)
_WINDOW = Case(
    "gemini-window",
    Style.GEMINI,
    _GEMINI,
    LimitSpec(rpm=1_200, tpm=_BIG_TPM, window_seconds=5.0),
    _SHORT_LATENCY,
    1_200,
    "Gemini, 1,200 RPM in fixed 5 s windows, cold",
    quota_failure=False,
)
SHORT_CASES = {
    case.name: case
    for case in (
        _short(Style.GEMINI, _GEMINI, 1_200, 1_200, "Gemini, 1,200 RPM, cold"),
        _DOUBLING,
        _WINDOW,
        _short(Style.GEMINI, _GEMINI, 60, 60, "Gemini, a 60 RPM key"),
        _short(Style.OPENAI, "gpt-4o-mini", 1_200, 1_200, "OpenAI, 1,200 RPM"),
        _short(Style.ANTHROPIC, "claude-haiku-4-5-20251001", 1_200, 1_200, "Anthropic, 1,200 RPM"),
        _short(Style.MISTRAL, "mistral-small-latest", 1_200, 1_200, "Mistral, 1,200 RPM"),
    )
}
CASES = {
    "openai": Case(
        "openai",
        Style.OPENAI,
        "gpt-4o-mini",
        LimitSpec(rpm=500, tpm=200_000),
        1.0,
        2_400,  # T* = 4.8 min
        "scenario 1 (OpenAI-like, limit headers, RPM-bound)",
    ),
    "gemini": Case(
        "gemini",
        Style.GEMINI,
        "gemini-2.5-flash",
        LimitSpec(rpm=300, tpm=1_000_000),
        1.5,
        1_200,  # T* = 4 min
        "scenario 2's provider (Gemini-like, no limit headers)",
    ),
    **SHORT_CASES,
}


def case_model(case: Case) -> ProviderModel:
    """The simulated provider of ``case``."""
    return ProviderModel(
        case.style,
        case.limits,
        changes=case.changes,
        latency_median=case.latency_median,
        latency_sigma=LATENCY_SIGMA,
        reject_latency=STAND_IN_REFUSAL_LATENCY,
        quota_details=case.quota_failure,
    )


def case_scenario(case: Case) -> Scenario:
    """``case`` as a bench scenario: synthetic prompts of the same count (the short cases
    are bound by requests, so their token counts do not matter)."""
    return Scenario(
        name=f"short-{case.name}",
        title=f"{case.title}: {case.prompts:,} prompts, simulated (embedded queue)",
        provider=case_model(case),
        workload=WorkloadSpec(count=case.prompts),
        told_rpm=case.limits.rpm,
        told_tpm=case.limits.tpm,
        change_at=case.changes[0][0] if case.changes else None,
    )
