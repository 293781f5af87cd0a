"""Task names: hashed (Cloud Tasks dedupes by name and spreads hashed names best)."""

from __future__ import annotations

import hashlib

from promptforge.core.models import RateKey


def _digest(*parts: str) -> str:
    joined = "\x00".join(parts).encode("utf-8")
    return hashlib.sha256(joined).hexdigest()[:40]


def prompt_task_name(job_id: str, prompt_id: str, generation: int) -> str:
    """One name per (job, prompt, generation): a replayed enqueue creates nothing."""
    return f"p-{_digest('prompt', job_id, prompt_id, str(generation))}"


def ingest_task_name(bucket: str, name: str, generation: int) -> str:
    """One ingest per object generation: a replayed finalize event starts nothing twice."""
    return f"i-{_digest('ingest', bucket, name, str(generation))}"


def finalize_task_name(job_id: str) -> str:
    """One finalize per job."""
    return f"f-{_digest('finalize', job_id)}"


def expire_task_name(job_id: str) -> str:
    """One upload-expiry check per job."""
    return f"e-{_digest('expire', job_id)}"


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
