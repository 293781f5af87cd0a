"""Task targets and task names, for both runtimes.

``TaskTarget`` is the one table of targets (the handler a task is addressed to); each
runtime routes these values to handlers. Names are hashed: Cloud Tasks dedupes by
name and spreads hashed names best, and the embedded queue dedupes by name the same
way, so every named task is named here.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence

from promptforge.core.models import RateKey


class TaskTarget(enum.StrEnum):
    """What a task asks for: the handler each runtime routes it to."""

    INGEST = "ingest"
    """Read an upload: validate its lines and enqueue one ``WORKER`` task per prompt."""
    SLICE = "slice"
    """One byte range of an upload (Google: ingest fans a large file out into slices)."""
    WORKER = "worker"
    """Call the provider for one prompt and settle its outcome."""
    CHUNK = "chunk"
    """Run ``WORKER``'s unit for each prompt of a chunk (``core.chunks``)."""
    FINALIZE = "finalize"
    """Write a finished job's result files and mark it ``COMPLETED`` (a job of several
    parts: enqueue the ``FINALIZE_STEP`` tasks of its parts)."""
    FINALIZE_STEP = "finalize_step"
    """One step of a fanned-out finalize: a part, a merge of error files, or the end."""
    EXPIRE = "expire"
    """Fail a job whose upload never arrived."""
    CANCEL = "cancel"
    """One round of a cancelled job's sweep: settle its prompts that have not run."""
    CONTROL = "control"
    """One controller tick for a rate key (Google; the embedded runtime loops instead)."""
    WEBHOOK = "webhook"
    """One delivery attempt of a job's end event to its webhook."""


def _digest(*parts: str) -> str:
    joined = "\x00".join(parts).encode("utf-8")
    return hashlib.sha256(joined).hexdigest()[:40]


def prompt_task_name(job_id: str, prompt_id: str, generation: int) -> str:
    """One name per (job, prompt, generation): a replayed enqueue creates nothing."""
    return f"p-{_digest('prompt', job_id, prompt_id, str(generation))}"


def chunk_task_name(job_id: str, prompts: Sequence[tuple[str, int]], parent: str = "") -> str:
    """One name per (job, its prompts and their generations, the chunk that handed them
    on if any): a replayed enqueue creates nothing."""
    pairs = (f"{prompt_id}\x01{generation}" for prompt_id, generation in prompts)
    handed = (f"\x02{parent}",) if parent else ()
    return f"k-{_digest('chunk', job_id, *pairs, *handed)}"


def ingest_task_name(bucket: str, name: str, generation: int) -> str:
    """One ingest per object generation: a replayed finalize event starts nothing twice."""
    return f"i-{_digest('ingest', bucket, name, str(generation))}"


def finalize_task_name(job_id: str) -> str:
    """One finalize per job."""
    return f"f-{_digest('finalize', job_id)}"


def finalize_step_task_name(job_id: str, step: str) -> str:
    """One task per (job, finalize step): a step delivered twice enqueues its successor once."""
    return f"f-{_digest('finalize-step', job_id, step)}"


def expire_task_name(job_id: str, *, again: bool = False) -> str:
    """One upload-expiry check per job, and one second look if the first came early."""
    name = f"e-{_digest('expire', job_id)}"
    return f"{name}-again" if again else name


def slice_task_name(bucket: str, name: str, generation: int, index: int) -> str:
    """One task per slice of an object generation: a replayed fan-out adds nothing."""
    return f"s-{_digest('slice', bucket, name, str(generation), str(index))}"


def control_task_name(rate_key: str, tick: int) -> str:
    """One controller tick per (rate key, period index): chains that meet merge into one."""
    return f"c-{_digest('control', rate_key, str(tick))}"


def queue_for(key: RateKey, epoch: int = 0) -> str:
    """The queue of a rate key in its ``epoch``: letters, digits and hyphens, as Cloud Tasks allows.

    The epoch rises each time the key's queues are deleted (``core.control_chain``): Cloud
    Tasks refuses a deleted queue's name for 7 days, so a name is never used twice.
    """
    base = f"pf-rk-{_digest('queue', key.id)[:24]}"
    return base if epoch == 0 else f"{base}-e{epoch}"


def cancel_task_name(job_id: str, round_: int) -> str:
    """One cancel sweep per job and round (a sweep that finds calls in flight runs again)."""
    return f"c-{_digest('cancel', job_id, str(round_))}"


def webhook_task_name(webhook_id: str, attempt: int) -> str:
    """One task per delivery attempt of a webhook event."""
    return f"w-{_digest('webhook', webhook_id, str(attempt))}"
