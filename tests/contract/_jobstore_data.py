"""Jobs and outcomes the job-store tests build (shared by the contract and SQLite tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from promptforge.core.models import Job, Outcome, OutcomeKind

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
RESULT, ERROR = OutcomeKind.RESULT, OutcomeKind.ERROR


def make_job(job_id: str = "job-1", **changes: Any) -> Job:
    """A job in WAITING_FOR_UPLOAD with defaults for everything else."""
    job = Job(
        job_id=job_id,
        tenant_id="tenant-a",
        provider="openai",
        model="gpt-4o-mini",
        max_retries=3,
        created_at=T0,
        upload_expires_at=T0 + timedelta(minutes=15),
        upload_object=f"uploads/{job_id}.jsonl",
    )
    return replace(job, **changes)


def result(key: str, line: int, tokens_in: int = 0, tokens_out: int = 0) -> Outcome:
    """A result outcome with a small record."""
    record = {"prompt_id": key, "result": f"answer {line}", "tokens_used": tokens_in + tokens_out}
    return Outcome(key, RESULT, line, record, tokens_in, tokens_out)


def error(key: str, line: int) -> Outcome:
    """An error outcome."""
    return Outcome(key, ERROR, line, {"line": line, "error": {"code": "invalid_json"}})
