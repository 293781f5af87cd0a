"""A queue client that records each queue update, for the controller's unit tests."""

from __future__ import annotations

from promptforge.tasks.base import QueueConfig


class RecordingQueues:
    """Stands in for the runtime's task queue: keeps every ``update_queue`` in order."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, QueueConfig]] = []

    async def update_queue(self, queue: str, config: QueueConfig) -> None:
        """Record that ``queue`` was configured with ``config``."""
        self.updates.append((queue, config))
