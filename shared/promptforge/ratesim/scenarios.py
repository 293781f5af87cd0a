"""The ten benchmark scenarios: providers, limits, workloads, and what the baselines are told.

Each is sized so the ideal run (T*) lasts at least ten minutes (the tiny limit an hour:
see ``_tiny``). ``scale`` shrinks the prompt count (for tests and quick looks) without
changing the limits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from promptforge.ratesim.provider import Background, ProviderModel
from promptforge.ratesim.signals import Style
from promptforge.ratesim.workload import WorkloadSpec
from promptforge.simulator.config import LimitSpec

__all__ = ["SCENARIOS", "Scenario", "get_scenario"]


@dataclass(frozen=True)
class Scenario:
    """A provider, a job, and the limits a user would tell a token-bucket client."""

    name: str
    title: str
    provider: ProviderModel
    workload: WorkloadSpec
    told_rpm: float
    told_tpm: float
    change_at: float | None = None  # when the limit moves, for the recovery figure
    peak_rate: float = 450.0  # the operator's PROMPTFORGE_KEY_PEAK_RATE: sizes the key's queues

    @property
    def headers(self) -> bool:
        """Whether the provider states its limits (the 1.05 goal) or not (1.10)."""
        return self.provider.has_headers

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with ``factor`` times the prompts (and changes moved to match)."""
        count = max(1, round(self.workload.count * factor))
        changes = tuple((at * factor, spec) for at, spec in self.provider.changes)
        background = tuple(
            replace(b, start=b.start * factor, end=b.end * factor) for b in self.provider.background
        )
        provider = replace(self.provider, changes=changes, background=background)
        return replace(
            self,
            workload=replace(self.workload, count=count),
            provider=provider,
            change_at=None if self.change_at is None else self.change_at * factor,
        )


def _openai_rpm() -> Scenario:
    limits = LimitSpec(rpm=500, tpm=200_000)
    return Scenario(
        name="openai-rpm",
        title="1. OpenAI-like, limit headers, RPM-bound",
        provider=ProviderModel(Style.OPENAI, limits, latency_median=1.0, latency_sigma=0.5),
        workload=WorkloadSpec(count=6_000),
        told_rpm=500,
        told_tpm=200_000,
    )


def _gemini() -> Scenario:
    limits = LimitSpec(rpm=1_000, tpm=1_000_000)
    provider = ProviderModel(
        Style.GEMINI, limits, latency_median=1.5, latency_sigma=0.5, quota_details=False
    )
    return Scenario(
        name="gemini-no-headers",
        title="2. Gemini-like, no headers, RetryInfo only",
        provider=provider,
        workload=WorkloadSpec(count=12_000),
        told_rpm=1_000,
        told_tpm=1_000_000,
    )


def _tpm_bound() -> Scenario:
    limits = LimitSpec(rpm=2_000, tpm=500_000)
    workload = WorkloadSpec(
        count=2_600,
        input_median=1_500,
        input_sigma=0.7,
        output_mean=400,
        output_shape=1.5,
        max_tokens=1_000,
    )
    return Scenario(
        name="tpm-bound",
        title="3. TPM-bound, long prompts, varied output lengths (Mistral-like)",
        provider=ProviderModel(Style.MISTRAL, limits, latency_median=3.0, latency_sigma=0.6),
        workload=workload,
        told_rpm=2_000,
        told_tpm=500_000,
    )


def _halves() -> Scenario:
    limits = LimitSpec(rpm=1_000, tpm=1_000_000)
    neighbour = Background(start=240.0, rpm=500)
    provider = ProviderModel(
        Style.OPENAI, limits, background=(neighbour,), latency_median=1.0, latency_sigma=0.5
    )
    return Scenario(
        name="limit-halves",
        title="4. Limit halves mid-run: a second client on the same key (OpenAI-like)",
        provider=provider,
        workload=WorkloadSpec(count=8_000),
        told_rpm=1_000,
        told_tpm=1_000_000,
        change_at=240.0,
    )


def _doubles() -> Scenario:
    limits = LimitSpec(rpm=500, tpm=1_000_000)
    upgraded = LimitSpec(rpm=1_000, tpm=2_000_000)
    provider = ProviderModel(
        Style.GEMINI,
        limits,
        changes=((240.0, upgraded),),
        latency_median=1.0,
        latency_sigma=0.5,
        quota_details=False,
    )
    return Scenario(
        name="limit-doubles",
        title="5. Limit doubles mid-run: a tier upgrade (Gemini-like, no headers)",
        provider=provider,
        workload=WorkloadSpec(count=10_000),
        told_rpm=500,
        told_tpm=1_000_000,
        change_at=240.0,
    )


def _slow() -> Scenario:
    limits = LimitSpec(rpm=1_000, tpm=1_000_000)
    provider = ProviderModel(Style.OPENAI, limits, latency_median=10.0, latency_sigma=0.8)
    return Scenario(
        name="slow-provider",
        title="6. Slow provider: 10 s median latency, heavy tail (OpenAI-like)",
        provider=provider,
        workload=WorkloadSpec(count=12_000, output_mean=600),
        told_rpm=1_000,
        told_tpm=1_000_000,
    )


def _faults() -> Scenario:
    limits = LimitSpec(
        rpm=1_000, tpm=2_000_000, input_tpm=1_000_000, output_tpm=400_000, burst_seconds=1.0
    )
    provider = ProviderModel(
        Style.ANTHROPIC,
        limits,
        latency_median=2.0,
        latency_sigma=0.5,
        error_rate=0.01,
        overloaded_rate=0.01,
    )
    return Scenario(
        name="transient-faults",
        title="7. 2% transient 5xx and 529s (Anthropic-like)",
        provider=provider,
        workload=WorkloadSpec(count=12_000, max_tokens=1_024),
        told_rpm=1_000,
        told_tpm=1_400_000,
    )


def _tiny() -> Scenario:
    limits = LimitSpec(rpm=3, tpm=250_000)
    provider = ProviderModel(Style.GEMINI, limits, latency_median=2.0, latency_sigma=0.5)
    return Scenario(
        name="tiny-limit",
        title="8. Tiny limit: 3 RPM, a free tier (Gemini-like)",
        provider=provider,
        # An hour at 3 RPM. Without limit headers a limit is only found by a 429, so one
        # is the least any client that is not told the limit pays; at 36 prompts (twelve
        # minutes) that one would be 2.7 % of the calls by itself.
        workload=WorkloadSpec(count=180),
        told_rpm=3,
        told_tpm=250_000,
    )


def _huge() -> Scenario:
    limits = LimitSpec(rpm=30_000, tpm=150_000_000)
    provider = ProviderModel(Style.OPENAI, limits, latency_median=1.0, latency_sigma=0.5)
    return Scenario(
        name="huge-limit",
        title="9. Huge limit: 30,000 RPM, beyond one queue (OpenAI-like)",
        provider=provider,
        workload=WorkloadSpec(count=300_000),
        told_rpm=30_000,
        told_tpm=150_000_000,
        peak_rate=1_000.0,
    )


def _anthropic() -> Scenario:
    limits = LimitSpec(
        rpm=4_000,
        tpm=2_800_000,
        input_tpm=2_000_000,
        output_tpm=800_000,
        burst_seconds=1.0,
        acceleration_floor_rpm=1_000,
    )
    provider = ProviderModel(Style.ANTHROPIC, limits, latency_median=2.0, latency_sigma=0.5)
    return Scenario(
        name="anthropic-accel",
        title="10. Anthropic-like: per-second enforcement and acceleration limits",
        provider=provider,
        workload=WorkloadSpec(count=48_000, max_tokens=1_024, output_mean=150),
        told_rpm=4_000,
        told_tpm=2_800_000,
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _openai_rpm(),
        _gemini(),
        _tpm_bound(),
        _halves(),
        _doubles(),
        _slow(),
        _faults(),
        _tiny(),
        _huge(),
        _anthropic(),
    )
}


def get_scenario(name: str) -> Scenario:
    """A scenario by name (``ValueError`` listing the names otherwise)."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"unknown scenario {name!r}; expected one of {sorted(SCENARIOS)}"
        ) from None
