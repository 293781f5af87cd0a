"""What the rate controller learns from each provider call, and the budget readings it keeps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from promptforge.providers.base import CallOutcome, CallResult, RateSignals


@dataclass(frozen=True)
class Observation:
    """One provider call's outcome, tokens and rate signals, at time ``at`` (epoch seconds)."""

    at: float
    outcome: CallOutcome
    input_tokens: int = 0
    output_tokens: int = 0
    latency: float = 0.0
    signals: RateSignals = field(default_factory=RateSignals)

    @classmethod
    def from_call(cls, at: float, result: CallResult, latency: float) -> Observation:
        """The observation a worker reports for one call."""
        return cls(
            at=at,
            outcome=result.outcome,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            latency=latency,
            signals=result.signals,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form for storage."""
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Observation:
        """Inverse of :meth:`to_dict`."""
        return cls(
            at=float(data["at"]),
            outcome=CallOutcome(data["outcome"]),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            latency=float(data.get("latency", 0.0)),
            signals=RateSignals(**data.get("signals", {})),
        )


@dataclass(frozen=True)
class Reading:
    """What remained of a stated budget, reported by the call that started at ``at``."""

    kind: str
    remaining: float
    at: float
