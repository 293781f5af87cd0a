"""The tasks of chunks of prompts (handled by ``core.chunks``), apart so ingest can build them."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from promptforge.core.chunk_records import ChunkSpec
from promptforge.core.models import PromptTask
from promptforge.core.tasknames import TaskTarget, chunk_task_name
from promptforge.tasks.base import Task

__all__ = ["CHUNK_BYTES", "chunk_groups", "chunk_task", "chunk_tasks", "spec_task"]

CHUNK_BYTES = 700_000
"""About the most prompt bytes one chunk task carries (Cloud Tasks takes bodies up to 1 MB)."""


def chunk_task(queue: str, prompts: Sequence[PromptTask]) -> Task:
    """The named task of one chunk (the name hashes its prompts and their generations)."""
    return Task(
        queue=queue,
        target=TaskTarget.CHUNK,
        payload={"job_id": prompts[0].job_id, "prompts": [p.to_dict() for p in prompts]},
        name=chunk_task_name(prompts[0].job_id, [(p.prompt_id, p.generation) for p in prompts]),
    )


def chunk_tasks(routed: Sequence[tuple[str, PromptTask]], size: int) -> list[Task]:
    """Tasks for ``(queue, prompt)`` pairs (``chunk_groups``), named by their prompts."""
    return [chunk_task(queue, chunk) for queue, chunk in chunk_groups(routed, size)]


def chunk_groups(
    routed: Sequence[tuple[str, PromptTask]], size: int
) -> list[tuple[str, list[PromptTask]]]:
    """``(queue, prompts)`` chunks: each queue's prompts in input order, at most ``size``
    prompts and about ``CHUNK_BYTES`` of body a chunk (a longer prompt goes alone)."""
    by_queue: dict[str, list[list[PromptTask]]] = defaultdict(lambda: [[]])
    weight: dict[str, int] = defaultdict(int)
    for queue, prompt in routed:
        chunks = by_queue[queue]
        body = len(json.dumps(prompt.to_dict(), ensure_ascii=False).encode())
        if chunks[-1] and (len(chunks[-1]) >= size or weight[queue] + body > CHUNK_BYTES):
            chunks.append([])
            weight[queue] = 0
        chunks[-1].append(prompt)
        weight[queue] += body
    return [(queue, chunk) for queue, chunks in by_queue.items() for chunk in chunks]


def spec_task(spec: ChunkSpec) -> Task:
    """The task of a chunk that has a record (``core.chunk_records``): named by the record's
    id, which its body carries, and not delivered before the chunk's start."""
    return Task(
        queue=spec.queue,
        target=TaskTarget.CHUNK,
        payload={
            "job_id": spec.tasks[0].job_id,
            "chunk_id": spec.chunk_id,
            "prompts": [task.to_dict() for task in spec.tasks],
        },
        name=spec.chunk_id,
        schedule_time=spec.not_before,
    )
