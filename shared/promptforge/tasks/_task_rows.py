"""The rows the embedded dispatcher and its SQLite store hand each other.

``NewTask`` goes in, ``ClaimedTask`` comes out for a delivery, ``TaskOutcome`` says
what the delivery ended as, ``DeadLetter`` is a task given up on; queue configs are
stored as JSON (``config_to_json`` / ``config_from_json``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promptforge.tasks.base import QueueConfig, RetryConfig


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task row to insert: ``payload`` is already JSON, ``schedule_at`` epoch seconds."""

    queue: str
    target: str
    name: str | None
    payload: str
    schedule_at: float


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task just marked running; ``attempts`` counts this delivery."""

    id: int
    target: str
    name: str | None
    payload: dict[str, Any]
    attempts: int
    schedule_at: float

    @property
    def delivery_name(self) -> str:
        """The task's name, or a generated one for unnamed tasks (as Cloud Tasks does)."""
        return self.name if self.name is not None else f"task-{self.id}"


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """What to write for a finished delivery: done, retried at ``retry_at``, or dead."""

    id: int
    name: str | None
    status: int
    retry_at: float | None = None
    dead: bool = False


@dataclass(frozen=True)
class DeadLetter:
    """A task dropped after its last allowed attempt, with the last status it got."""

    queue: str
    target: str
    name: str
    payload: dict[str, Any]
    attempts: int
    last_status: int
    dead_at: datetime


def epoch_seconds(moment: datetime | None, now: float) -> float:
    """A task's ``schedule_at``: ``moment`` (naive means UTC) in epoch seconds, else ``now``."""
    if moment is None:
        return now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def config_to_json(config: QueueConfig) -> str:
    """Serialise a queue config (retry policy included)."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def config_from_json(text: str) -> QueueConfig:
    """Parse what ``config_to_json`` wrote."""
    raw = json.loads(text)
    retry = RetryConfig(**raw.pop("retry"))
    return QueueConfig(retry=retry, **raw)
