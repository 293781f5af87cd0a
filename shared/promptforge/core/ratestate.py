"""What the job store keeps per rate key: its queues, its jobs' ceilings, the controller's
state and its last decision (``JobStore.load_rate_state`` / ``save_rate_state``), and the
one rule for changing it (``update_rate_state``).

One typed record read by both runtimes (``core.queues``, ``core.control``,
``core.control_chain``, the worker's gate and the status body). It is saved as JSON; the
dictionary form is :meth:`RateKeyState.to_dict`, the one every store persists.

Every save is a compare-and-set on the record's ``version``: a store writes version
``n + 1`` only while ``n`` is the current one, so a writer that read an older state (a tick
delivered twice, the retiring tick racing an ingest) writes nothing and reads again.
Firestore keeps each version in a document of its own, created once (the rate key's
record takes one write per control period, more than any document should take per 1,000
prompts when prompts are slow: ``docs/scale.md``, "Hottest documents"); SQLite keeps one
row and its version number. Which state is current is the same rule in both: the highest
version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from promptforge.errors import StoreContention
from promptforge.ratecontrol.state import Ceilings, ControllerState

__all__ = [
    "AppliedDecision",
    "RateKeyState",
    "RateStateStore",
    "RateUpdate",
    "Tombstone",
    "update_rate_state",
]

UPDATE_ATTEMPTS = 20
"""Reads and compare-and-sets one update makes before giving up (its writers are a tick
per control period and an ingest per job: more than a few conflicts in a row is a fault)."""


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
    steps: int = 0  # controller steps saved (``core.control``: a step that lost sees it move)
    # The stored version this was read at (0: nothing stored). Kept by the store beside
    # the record, not in it; a save writes version + 1 if this is still the current one.
    version: int = field(default=0, compare=False)

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
        if self.steps:
            data["steps"] = self.steps
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
            steps=int(data.get("steps") or 0),
            retired=tuple(
                Tombstone(str(t["base"]), int(t["shards"]), float(t["at"]))
                for t in data.get("retired") or ()
            ),
        )


class RateStateStore(Protocol):
    """The two job-store calls every reader and writer of a rate key's state goes through."""

    async def load_rate_state(self, rate_key: str) -> RateKeyState | None:
        """The current state (the highest version), its ``version`` set; None if none."""
        ...

    async def save_rate_state(self, rate_key: str, state: RateKeyState) -> bool:
        """Store ``state`` as version ``state.version + 1`` if ``state.version`` is still
        the current one; False (nothing written) if another write came first."""
        ...


class RateUpdate(NamedTuple):
    """What ``update_rate_state`` left current, and whether it wrote it."""

    state: RateKeyState  # the state written (its new version), or the one declined on
    written: bool


async def update_rate_state(
    store: RateStateStore,
    rate_key: str,
    change: Callable[[RateKeyState], RateKeyState | None],
    *,
    read: RateKeyState | None = None,
) -> RateUpdate:
    """Apply ``change`` to the key's current state and save it with a compare-and-set.

    ``change`` gets the current state (``RateKeyState()`` if none) and returns the new one,
    or None to write nothing. When another write lands first, the state is read again and
    ``change`` runs again on it, so ``change`` must be a pure function of what it is given.
    ``read``: a state the caller has just read (saves the first read).
    """
    current = read if read is not None else await _load(store, rate_key)
    for _ in range(UPDATE_ATTEMPTS):
        new = change(current)
        if new is None:
            return RateUpdate(current, written=False)
        new = dataclasses.replace(new, version=current.version)
        if await store.save_rate_state(rate_key, new):
            return RateUpdate(dataclasses.replace(new, version=current.version + 1), True)
        current = await _load(store, rate_key)
    raise StoreContention(
        f"rate key {rate_key}: {UPDATE_ATTEMPTS} writes in a row found its state changed "
        "since they read it; retry the task (its writers are a tick per period and an "
        "ingest per job, so this points at a store that loses or repeats writes)"
    )


async def _load(store: RateStateStore, rate_key: str) -> RateKeyState:
    return await store.load_rate_state(rate_key) or RateKeyState()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
