"""A ``Job``'s fields as plain, checked values: what every job-store backend stores.

Each backend (SQLite columns, Firestore documents) takes these values and only changes
their representation (times as microseconds or timestamps, structures as JSON text or
maps); the checks live here once.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from promptforge.core.models import GenerationParams, Job, JobError, JobStatus

__all__ = [
    "COUNTER_FIELDS",
    "DATETIME_FIELDS",
    "JOB_FIELDS",
    "TRANSITION_FIELDS",
    "dumps",
    "plain_field",
    "to_utc",
]

JOB_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Job))

COUNTER_FIELDS = (
    "completed_count",
    "failed_count",
    "input_tokens",
    "output_tokens",
    "deduplicated_count",
)
"""The job's counters, written by ``record_outcomes`` only."""

# Counters belong to record_outcomes / update_ingest_progress: transition never sets them.
TRANSITION_FIELDS = frozenset(JOB_FIELDS) - {
    "job_id",
    "status",
    "prompt_count",
    "ingest_done",
    *COUNTER_FIELDS,
}
"""The fields a status transition may set."""

DATETIME_FIELDS = frozenset(
    {
        "created_at",
        "upload_expires_at",
        "started_processing_at",
        "completed_at",
        "cancel_requested_at",
    }
)
"""The fields holding a moment (timezone-aware, or None)."""


def dumps(value: Any) -> str:
    """Compact JSON for a stored text value."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def to_utc(moment: datetime) -> datetime:
    """A timezone-aware datetime in UTC; ValueError for a naive one."""
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: the job store takes timezone-aware times")
    return moment.astimezone(UTC)


def plain_field(name: str, value: Any) -> Any:
    """One ``Job`` field, checked: moments in UTC, ``params`` and ``error`` as dicts,
    ``result_files`` a list of names, ``status`` its value, ``ingest_done`` a bool,
    ``metadata`` a plain dict of strings.

    TypeError for a value of the wrong type, ValueError for a naive datetime.
    """
    if name in DATETIME_FIELDS:
        return None if value is None else to_utc(value)
    if name == "params":
        if not isinstance(value, GenerationParams):
            raise TypeError("params must be GenerationParams")
        return value.to_dict()
    if name == "result_files":
        if isinstance(value, str | bytes):
            raise TypeError("result_files must be a sequence of names, not one string")
        return [str(item) for item in value]
    if name == "error":
        if value is not None and not isinstance(value, JobError):
            raise TypeError("error must be a JobError or None")
        return None if value is None else value.to_dict()
    if name == "status":
        return JobStatus(value).value
    if name in {"ingest_done", "dedupe"}:
        return bool(value)
    if name == "metadata":
        return {str(key): str(item) for key, item in value.items()}
    return value
