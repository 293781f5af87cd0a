"""What the job store keeps per rate key: its queues, its jobs' ceilings, the controller's
state and its last decision (``JobStore.load_rate_state`` / ``save_rate_state``).

One typed record read by both runtimes (``core.queues``, ``core.control``,
``core.control_chain``, the worker's gate and the status body). It is saved as JSON; the
dictionary form is :meth:`RateKeyState.to_dict`, the one every store persists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptforge.ratecontrol.state import Ceilings, ControllerState

__all__ = ["AppliedDecision", "RateKeyState", "Tombstone"]


@dataclass(frozen=True)
class AppliedDecision:
    """The controller's last decision as applied to the key's queue(s)."""

    rate: float  # dispatches per second decided (what may reach the provider)
    queue_rate: float  # what the queue(s) should dispatch at (``ratecontrol.headroom``)
    applied_rate: float  # ``queue_rate``, or ``PAUSED_RATE`` while paused
    sent_rate: float | None  # what the queue(s) were last configured at
    phase: str
    paused_until: float | None
    rpm_estimate: float | None
    tpm_estimate: float | None
    at: float  # epoch seconds of the step

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppliedDecision:
        """Inverse of :meth:`to_dict`."""
        return cls(
            rate=float(data["rate"]),
            queue_rate=float(data.get("queue_rate", data["rate"])),
            applied_rate=float(data.get("applied_rate", data["rate"])),
            sent_rate=_float(data.get("sent_rate")),
            phase=str(data.get("phase", "")),
            paused_until=_float(data.get("paused_until")),
            rpm_estimate=_float(data.get("rpm_estimate")),
            tpm_estimate=_float(data.get("tpm_estimate")),
            at=float(data.get("at") or 0.0),
        )


@dataclass(frozen=True)
class Tombstone:
    """Queues of a key that were deleted (their names are refused for 7 days)."""

    base: str
    shards: int
    at: float


@dataclass(frozen=True)
class RateKeyState:
    """Everything stored for one rate key."""

    queue: str | None = None  # the key's first queue; None: no queues (never, or retired)
    shards: int | None = None  # how many queues the key spreads over
    epoch: int = 0  # bumped when the queues are retired: names are never reused
    jobs: dict[str, Ceilings] = field(default_factory=dict)  # registered jobs' ceilings
    state: ControllerState | None = None
    decision: AppliedDecision | None = None
    idle_since: float | None = None  # since when no registered job is processing
    retired: tuple[Tombstone, ...] = ()

    @property
    def queue_count(self) -> int:
        """How many queues the key has (one when it never chose)."""
        return self.shards or 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; fields that are unset are left out."""
        data: dict[str, Any] = {
            "epoch": self.epoch,
            "jobs": {job: {"rpm": c.rpm, "tpm": c.tpm} for job, c in self.jobs.items()},
        }
        if self.queue is not None:
            data["queue"] = self.queue
        if self.shards is not None:
            data["shards"] = self.shards
        if self.state is not None:
            data["state"] = self.state.to_dict()
        if self.decision is not None:
            data["decision"] = self.decision.to_dict()
        if self.idle_since is not None:
            data["idle_since"] = self.idle_since
        if self.retired:
            data["retired"] = [
                {"base": t.base, "shards": t.shards, "at": t.at} for t in self.retired
            ]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RateKeyState:
        """Inverse of :meth:`to_dict`; missing fields take their defaults."""
        jobs = data.get("jobs") or {}
        return cls(
            queue=None if data.get("queue") is None else str(data["queue"]),
            shards=None if data.get("shards") is None else int(data["shards"]),
            epoch=int(data.get("epoch") or 0),
            jobs={
                str(job): Ceilings(
                    rpm=_float(spec.get("rpm") or None), tpm=_float(spec.get("tpm") or None)
                )
                for job, spec in jobs.items()
            },
            state=ControllerState.from_dict(data["state"]) if data.get("state") else None,
            decision=AppliedDecision.from_dict(data["decision"]) if data.get("decision") else None,
            idle_since=_float(data.get("idle_since")),
            retired=tuple(
                Tombstone(str(t["base"]), int(t["shards"]), float(t["at"]))
                for t in data.get("retired") or ()
            ),
        )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
