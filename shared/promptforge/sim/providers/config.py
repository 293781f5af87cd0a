"""What the provider simulator enforces and injects: limits, latency, faults, schedule.

Limits are stated the way providers state them (per minute, per day) and enforced as
continuously refilled token buckets (see ``limits.py``). ``time_scale`` speeds the
simulated clock up: at ``time_scale=10`` a real second holds ten simulated seconds, so
buckets refill ten times faster; every duration the simulator reports (headers, bodies)
is in real seconds, so a client that honours them waits the right real time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from promptforge.providers.registry import SUPPORTED_PROVIDERS

PROVIDERS = SUPPORTED_PROVIDERS
"""The providers the simulator copies: every provider PromptForge speaks."""


@dataclass(frozen=True)
class LimitSpec:
    """One provider's limits, shared by all its models.

    ``tpm`` is one bucket for all tokens a request is charged (OpenAI, Mistral; Gemini
    charges input tokens only). ``input_tpm``/``output_tpm`` add separate input and
    output buckets; when both are set there is no combined bucket (Anthropic).
    ``burst_seconds`` sizes the request bucket: ``rpm / 60 * burst_seconds`` requests
    (at least one), so 60 RPM with ``burst_seconds=1`` is enforced as one request per
    second. Token buckets always hold one minute of tokens. ``rpd`` is a fixed daily
    window. ``acceleration_floor_rpm`` turns on the acceleration limit: from idle only
    this rate is admitted, and the admitted rate may then grow with sustained traffic.
    ``window_seconds`` counts requests in fixed windows of that length instead (aligned to
    the limiter's start, ``rpm / 60 * window_seconds`` each, all back at once when the
    next window starts; a refusal's retry delay is that start): a provider whose
    ``RetryInfo`` says "this window is spent", not "wait this long per request".
    """

    rpm: int
    tpm: int
    input_tpm: int | None = None
    output_tpm: int | None = None
    rpd: int | None = None
    burst_seconds: float = 60.0
    acceleration_floor_rpm: int | None = None
    window_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm", "input_tpm", "output_tpm", "rpd", "acceleration_floor_rpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"LimitSpec.{name} must be positive, got {value}")
        for name in ("burst_seconds", "window_seconds"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"LimitSpec.{name} must be positive, got {value}")

    @property
    def split_tokens(self) -> bool:
        """True when input and output tokens have separate buckets and no combined one."""
        return self.input_tpm is not None and self.output_tpm is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LimitSpec:
        """Build from JSON-like data (the keys are the field names)."""
        return cls(**data)


@dataclass(frozen=True)
class LimitChange:
    """From ``at`` simulated seconds after start (or reset), ``provider`` has ``limits``."""

    at: float
    provider: str
    limits: LimitSpec

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown provider {self.provider!r}; expected one of {PROVIDERS}")
        if self.at < 0:
            raise ValueError(f"LimitChange.at must be >= 0, got {self.at}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LimitChange:
        """Build from ``{"at", "provider", "limits": {...}}``."""
        return cls(
            at=float(data["at"]),
            provider=str(data["provider"]),
            limits=LimitSpec.from_dict(dict(data["limits"])),
        )


def default_limits() -> dict[str, LimitSpec]:
    """Limits like a paying customer's first tiers (2026), one per provider."""
    return {
        # gpt-4o-mini, tier 1.
        "openai": LimitSpec(rpm=500, tpm=200_000),
        # Tier 2: requests enforced per second, separate input/output buckets, and an
        # acceleration limit that refuses a sudden ramp from idle.
        "anthropic": LimitSpec(
            rpm=1_000,
            tpm=540_000,
            input_tpm=450_000,
            output_tpm=90_000,
            burst_seconds=1.0,
            acceleration_floor_rpm=240,
        ),
        # gemini-2.5-flash, tier 1: RPM and input TPM. Its 10k requests per day are left
        # out: a long load test would stall for a day (set ``rpd`` to exercise it).
        "gemini": LimitSpec(rpm=1_000, tpm=1_000_000),
        # One request per second, 500k tokens per minute.
        "mistral": LimitSpec(rpm=60, tpm=500_000, burst_seconds=1.0),
    }


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"SimulatorConfig.{name} must be within [0, 1], got {value}")


@dataclass
class SimulatorConfig:
    """Everything the simulator does; the defaults give a fast, fault-free provider.

    Providers missing from ``limits`` get :func:`default_limits`. Latency is lognormal
    (``latency_median`` seconds, ``latency_sigma`` spread: a heavy tail). Fault rates are
    probabilities per admitted request, drawn from an RNG seeded with ``seed``:
    ``error_rate`` answers 5xx, ``overloaded_rate`` answers Anthropic's 529,
    ``timeout_rate`` hangs ``hang_seconds`` (real seconds) before answering,
    ``drop_rate`` closes the connection without a response. ``api_keys`` (when set)
    is the set of keys accepted; otherwise any non-empty key is. ``quota_failure=False``
    leaves Gemini's 429s with ``RetryInfo`` only (no ``QuotaFailure`` naming the limit),
    as many keys answer: the limit is then learnt from refusals alone.
    ``off_schema_rate`` is the share of prompts whose first answer to a JSON-schema request
    misses the schema (``structured.py``; a re-ask is answered on-schema).
    """

    limits: dict[str, LimitSpec] = field(default_factory=default_limits)
    latency_median: float = 0.05
    latency_sigma: float = 0.5
    seed: int = 0
    error_rate: float = 0.0
    overloaded_rate: float = 0.0
    timeout_rate: float = 0.0
    drop_rate: float = 0.0
    hang_seconds: float = 30.0
    schedule: list[LimitChange] = field(default_factory=list)
    output_tokens_mean: int = 120
    time_scale: float = 1.0
    api_keys: frozenset[str] | None = None
    quota_failure: bool = True
    off_schema_rate: float = 0.0

    def __post_init__(self) -> None:
        unknown = set(self.limits) - set(PROVIDERS)
        if unknown:
            raise ValueError(f"unknown providers in limits: {sorted(unknown)}")
        self.limits = {**default_limits(), **self.limits}
        for name in (
            "error_rate",
            "overloaded_rate",
            "timeout_rate",
            "drop_rate",
            "off_schema_rate",
        ):
            _check_rate(name, getattr(self, name))
        if self.latency_median < 0 or self.latency_sigma < 0 or self.hang_seconds < 0:
            raise ValueError("latency_median, latency_sigma and hang_seconds must be >= 0")
        if self.output_tokens_mean <= 0:
            raise ValueError("output_tokens_mean must be positive")
        if not math.isfinite(self.time_scale) or self.time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {self.time_scale}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorConfig:
        """Build from JSON-like data, e.g. a config file given to ``promptforge simulate``."""
        values = dict(data)
        if "limits" in values:
            values["limits"] = {
                name: LimitSpec.from_dict(dict(spec)) for name, spec in values["limits"].items()
            }
        if "schedule" in values:
            values["schedule"] = [LimitChange.from_dict(dict(c)) for c in values["schedule"]]
        if values.get("api_keys") is not None:
            values["api_keys"] = frozenset(values["api_keys"])
        return cls(**values)
