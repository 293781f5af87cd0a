"""What the rate controller remembers per rate key, what it decides, and the user's ceilings."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from promptforge.ratecontrol.base import Reading
from promptforge.ratecontrol.measure import DEFAULT_CONFIG

__all__ = ["NO_CEILINGS", "Ceilings", "ControllerState", "Decision"]

_STATE_VERSION = 1


@dataclass(frozen=True)
class Ceilings:
    """User-given limits (the job's ``rpm``/``tpm``): the rate starts at them, never above."""

    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("rpm", self.rpm), ("tpm", self.tpm)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"ceiling {name} must be a positive number, got {value!r}")


NO_CEILINGS = Ceilings()
"""A key whose jobs gave no ``rpm``/``tpm``."""


@dataclass(frozen=True)
class ControllerState:
    """Everything the controller remembers about one rate key; persisted as JSON."""

    rate: float  # dispatches per second decided now (what may reach the provider)
    updated_at: float  # epoch seconds of the last step
    limit_estimate: float | None = None  # requests/s the provider accepted (429s, clean probes)
    probe_step: float = DEFAULT_CONFIG.probe_start  # next probe step, x limit_estimate
    held_since: float | None = None  # since when the rate has held the target
    quiet: float = DEFAULT_CONFIG.plateau  # seconds to hold the target before probing
    anchor: float | None = None  # the estimate at the last cut: probes stay near it
    capped_at: float | None = None  # since when the rate has been held at the probe cap
    credit: float = 0.0  # requests the provider may have banked while we ran under the estimate
    bank_seconds: float | None = None  # seconds of its limit the provider was seen to bank
    dry_at: float | None = None  # when slow start's first refused call started (bank dry)
    reset_at: float | None = None  # the reset instant of the last spent fixed window (429s)
    window_seconds: float | None = None  # the fixed window's length, from two reset instants
    gentle: bool = False  # a 429 came with stated budget left: grow gently
    burst_ok: bool = True  # stated budgets may be spent above the limit
    paused_until: float | None = None
    saw_429: bool = False  # the last step saw a 429: this step may not raise the rate
    decreased_at: float | None = None  # 429s on calls started soon after this are stale
    window_start: float = 0.0  # the measurement window: calls since this time
    window_calls: int = 0
    window_ok: int = 0
    window_transient: int = 0
    window_limited: int = 0  # fresh 429s
    tokens_per_request: float | None = None  # running averages over successful calls
    input_tokens_per_request: float | None = None
    output_tokens_per_request: float | None = None
    charge_tokens: float | None = None  # share of usage charged against each stated limit
    charge_input_tokens: float | None = None
    charge_output_tokens: float | None = None
    latency: float | None = None  # running average over every call, seconds
    delivered: float | None = None  # running average rate of successful calls, per second
    limit_requests: float | None = None  # provider-stated limits, per minute
    limit_tokens: float | None = None
    limit_input_tokens: float | None = None
    limit_output_tokens: float | None = None
    readings: tuple[Reading, ...] = ()  # what remained of each stated budget, and when
    named_at: float | None = None  # when a 429 last named a limit without stating its budget
    history: tuple[tuple[float, float], ...] = ()  # (since, rate): recent decided rates
    # (since, rate): what the queues were configured at (``headroom.py``: above the decided
    # rate while it may still rise); empty in states saved before it was kept: ``history``.
    configured: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (plain floats, ints, bools, lists and ``None``)."""
        data = dataclasses.asdict(self)
        data["history"] = [[since, rate] for since, rate in self.history]
        data["configured"] = [[since, rate] for since, rate in self.configured]
        data["readings"] = [[r.kind, r.remaining, r.at] for r in self.readings]
        data["version"] = _STATE_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControllerState:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing ones take defaults."""
        version = data.get("version", _STATE_VERSION)
        if version != _STATE_VERSION:
            raise ValueError(f"unsupported controller state version {version!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in names}
        values["history"] = tuple((float(s), float(r)) for s, r in data.get("history", ()))
        values["configured"] = tuple((float(s), float(r)) for s, r in data.get("configured", ()))
        values["readings"] = tuple(
            Reading(str(k), float(rem), float(at)) for k, rem, at in data.get("readings", ())
        )
        return cls(**values)


@dataclass(frozen=True)
class Decision:
    """What to configure on the queue now."""

    rate: float  # dispatches per second the controller wants to reach the provider
    paused_until: float | None  # no dispatch before this epoch time
    phase: str  # "slow_start" | "avoidance" | "paused" | "ceiling"
    rpm_estimate: float | None  # what the controller believes the limits are
    tpm_estimate: float | None
    # Dispatches per second to configure on the queue(s): ``rate``, or above it while the
    # rate may still rise and workers gate dispatches down to ``rate`` (``headroom.py``).
    queue_rate: float
